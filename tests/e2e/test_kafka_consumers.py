"""Kafka consumers sized to what can be assigned, no group left behind, no noise on a fresh broker.

What an operator checks with `kafka-consumer-groups --list/--describe` (here aiokafka's
admin client) and by reading a service's first log lines.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from agent_common.bus.kafka import KafkaBus
from agent_common.messages import ChatRequested, ToolCallCompleted
from agent_common.topics import CHAT_REQUESTS, TOOL_CALLS, TOOL_RESULTS
from agent_tool_runner.service import ToolRunner
from agent_tool_runner.settings import ToolRunnerSettings, ToolSettings
from tests.support.kafka_groups import joined
from tests.support.platform import ServiceProcess, wait_ready
from tests.support.services import ServiceUnavailable, require_service, start_kafka
from tests.support.web import free_tcp_port

pytestmark = [pytest.mark.kafka]


async def test_one_consumer_per_process_and_topic_whatever_the_concurrency(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient
) -> None:
    client_id = f"sizing-{secrets.token_hex(3)}"
    bus = KafkaBus(kafka_bootstrap, client_id=client_id)
    # The tool runner as it registers itself (32 calls at once by default), and the orchestrator's
    # two subscriptions at its default concurrency (12).
    ToolRunner(bus, ToolSettings(), ToolRunnerSettings().concurrency).register()

    async def ignore(_: object) -> None:
        return None

    bus.subscribe(ChatRequested, ignore, group=CHAT_REQUESTS.consumer_group, concurrency=12)
    bus.subscribe(ToolCallCompleted, ignore, group=TOOL_RESULTS.consumer_group, concurrency=12)
    await bus.start()
    try:
        for group in (TOOL_CALLS.consumer_group, CHAT_REQUESTS.consumer_group, TOOL_RESULTS.consumer_group):
            members = await joined(kafka_admin, group, client_id)
            assert members == 1, f"{group}: {members} consumers in one process"
    finally:
        await bus.stop()


def gateway_process(name: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    port = free_tcp_port()
    own = {**env, "GATEWAY_PORT": str(port), "METRICS_PORT": str(free_tcp_port())}
    process = ServiceProcess(name, "agent_gateway", own, log_dir)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
    except RuntimeError as exc:
        process.stop()
        raise AssertionError(f"{exc}\n{process.tail()}") from None
    return process


async def test_gateway_starts_leave_no_consumer_group_behind(
    kafka_bootstrap: str, redis_url: str, kafka_admin: AIOKafkaAdminClient, tmp_path: Path
) -> None:
    env = {"BUS_BACKEND": "kafka", "BUS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "REDIS_URL": redis_url}
    before = {group for group, _type in await kafka_admin.list_consumer_groups()}
    for n in range(2):
        gateway_process(f"gateway-{n}", env, tmp_path).stop()
    after = {group for group, _type in await kafka_admin.list_consumer_groups()}
    assert after - before == set()


def problems(log: Path) -> list[str]:
    """Lines at ERROR, and Kafka client lines at WARNING, of a JSON log."""
    found = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            found.append(line)  # not a log record: a traceback or a stray print
            continue
        level, logger = record.get("level", ""), record.get("logger", "")
        if level in ("error", "critical") or (level == "warning" and logger.startswith(("aiokafka", "faststream"))):
            found.append(line)
    return found


async def test_a_fresh_broker_start_logs_no_error(redis_url: str, tmp_path: Path) -> None:
    """On a broker with no topics and no `__consumer_offsets` yet, where a group's coordinator
    takes a moment to exist: every consumer of the platform joins without an ERROR line."""
    try:
        broker = await asyncio.to_thread(start_kafka, tmp_path / "kafka")
    except ServiceUnavailable as exc:
        require_service("Kafka", str(exc))
    env = {
        "BUS_BACKEND": "kafka",
        "BUS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "REDIS_URL": redis_url,
        "LOG_FORMAT": "json",
        "RAG_ENABLED": "false",
        "MODEL_BASE_URL": f"http://127.0.0.1:{free_tcp_port()}/v1",
    }
    specs = [
        ("tool-runner", "agent_tool_runner", "TOOL_RUNNER_PORT"),
        ("orchestrator", "agent_orchestrator", "ORCHESTRATOR_PORT"),
    ]
    processes: list[ServiceProcess] = []
    try:
        for name, module, port_setting in specs:
            port = free_tcp_port()
            own = {**env, port_setting: str(port), "METRICS_PORT": str(free_tcp_port())}
            process = ServiceProcess(name, module, own, tmp_path)
            processes.append(process)
            await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", process)
        processes.append(await asyncio.to_thread(gateway_process, "gateway", env, tmp_path))
        await asyncio.sleep(8)  # the groups' joins and the rebalances as each member arrives
    finally:
        for process in processes:
            process.stop()
        await asyncio.to_thread(broker.stop)
    for process in processes:
        assert process.proc.returncode == 0, process.tail()
        assert problems(process.log_path) == [], process.name
