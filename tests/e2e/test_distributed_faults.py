"""Faults in the distributed mode, against real Kafka and Redis of this module's
own (they are restarted here): a poison message, a duplicated message, an
orchestrator killed mid-run, Redis and the Kafka broker restarted while traffic
flows. Each test asserts what the client saw: every accepted request ends with
`done` or a classified `error`, within its deadline, and never twice."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from httpx_sse import aconnect_sse
from redis.asyncio import Redis

from agent_common.events import is_terminal
from agent_common.messages import ChatRequested, DeadLetter
from agent_common.run_events.redis import RedisRunEventChannel
from tests.e2e.conftest import platform_env
from tests.support.platform import Platform, bearer, create_api_key, distributed_platform
from tests.support.services import (
    KafkaServer,
    RedisServer,
    kafka_of_its_own,
    redis_of_its_own,
)

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

REQUEST_TIMEOUT_S = 40  # the gateway's deadline for a whole run, here
TERMINAL = ("done", "error")


@pytest.fixture(scope="module")
def own_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaServer, RedisServer]]:
    with (
        kafka_of_its_own(tmp_path_factory.mktemp("faults-kafka")) as kafka,
        redis_of_its_own(tmp_path_factory.mktemp("faults-redis")) as redis,
    ):
        yield kafka, redis


@pytest.fixture(scope="module")
def faulty(
    own_services: tuple[KafkaServer, RedisServer], pages_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    kafka, redis = own_services
    env = {
        **platform_env(pages_url, tmp_path_factory.mktemp("faults-keys") / "unused-keys.json"),
        "GATEWAY_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        "ORCHESTRATOR_RUN_LEASE_S": "4",  # under the group's session timeout (20 s): a dead replica's lease goes first
    }
    log_dir: Path = tmp_path_factory.mktemp("faults-logs")
    with distributed_platform(env, kafka=kafka.bootstrap, redis_url=redis.url, log_dir=log_dir) as platform:
        yield platform


def queue_fault(platform: Platform, kind: str, **spec: Any) -> None:
    response = httpx.post(f"{platform.services['offline-model']}/admin/faults", json={"kind": kind, **spec})
    assert response.status_code == 201, response.text


async def stall_taken(platform: Platform) -> None:
    """Until the offline model has applied every queued fault (within 10 s)."""
    async with httpx.AsyncClient() as client, asyncio.timeout(10):
        while (await client.get(f"{platform.services['offline-model']}/admin/faults")).json()["faults"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def stream(platform: Platform, message: str, started: asyncio.Queue[str] | None = None) -> dict[str, Any]:
    """One client: what it saw (event types, the terminal event, its request id)."""
    types: list[str] = []
    last: dict[str, Any] = {}
    async with (
        httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S + 20, headers=platform.headers) as client,
        aconnect_sse(client, "POST", f"{platform.base_url}/api/chat/stream", json={"message": message}) as source,
    ):
        assert source.response.status_code == 200, (source.response.status_code, await source.response.aread())
        request_id = source.response.headers["x-request-id"]
        if started is not None:
            started.put_nowait(request_id)
        async for event in source.aiter_sse():
            if not event.data:
                # A keep-alive comment: httpx-sse reports one as an empty event (a browser does not).
                continue
            types.append(event.event)
            last = json.loads(event.data)
    return {"request_id": request_id, "types": types, "last": last}


def assert_ended_once(seen: dict[str, Any]) -> None:
    ends = [t for t in seen["types"] if t in TERMINAL]
    assert len(ends) == 1 and seen["types"][-1] == ends[0], seen["types"]
    if ends[0] == "error":
        assert seen["last"]["error"]["class"] in ("model", "infra") and seen["last"]["error"]["code"], seen["last"]


def log_lines(platform: Platform, name: str) -> list[dict[str, Any]]:
    text = platform.logs[name].read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def wait_for_log(platform: Platform, names: list[str], predicate: Any) -> str:
    """The first of `names` whose log has a line matching `predicate` (within 30 s)."""
    async with asyncio.timeout(30):
        while True:
            for name in names:
                if any(predicate(entry) for entry in log_lines(platform, name)):
                    return name
            await asyncio.sleep(0.1)


async def test_a_poison_message_lands_in_the_dead_letter_topic_and_the_next_one_is_answered(
    faulty: Platform, own_services: tuple[KafkaServer, RedisServer]
) -> None:
    kafka, _ = own_services
    marker = f"poison-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("chat.requests", f'{{"{marker}": true'.encode(), key=b"ses_poison")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "dead.letters", bootstrap_servers=kafka.bootstrap, group_id=f"test-{marker}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            async for record in consumer:
                letter = DeadLetter.model_validate_json(record.value or b"")
                if marker in letter.payload:
                    break
    finally:
        await consumer.stop()
    assert letter.source_topic == "chat.requests" and letter.reason == "undecodable"
    assert_ended_once(seen := await stream(faulty, "still answering after the poison?"))
    assert seen["types"][-1] == "done"


async def test_a_chat_request_delivered_twice_is_answered_once(
    faulty: Platform, own_services: tuple[KafkaServer, RedisServer]
) -> None:
    kafka, redis_server = own_services
    request = ChatRequested(
        request_id=f"req_dup{uuid.uuid4().hex[:20]}",
        session_id=f"ses_dup{uuid.uuid4().hex[:20]}",
        user_id="u-dup",
        message="only one answer, please",
        deadline_at=time.time() + REQUEST_TIMEOUT_S,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for _ in range(2):  # what a producer retry or a consumer dying before its commit does
            await producer.send_and_wait("chat.requests", request.to_bytes(), key=request.session_id.encode())
    finally:
        await producer.stop()
    orchestrators = [n for n in faulty.services if n.startswith("orchestrator")]
    await wait_for_log(
        faulty,
        orchestrators,
        lambda e: e.get("request_id") == request.request_id and e.get("event") == "duplicate chat request ignored",
    )
    client = Redis.from_url(redis_server.url)
    try:
        # The duplicate can be seen while the first delivery's run is still going: wait for its end,
        # then a moment more, by which a second answer would have started.
        channel = RedisRunEventChannel(client)
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            while not any(is_terminal(e) for e in await channel.replay(request.request_id)):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        events = await channel.replay(request.request_id)
    finally:
        await client.aclose()
    types = [e.type for e in events]
    assert types.count("done") == 1 and types[-1] == "done" and "error" not in types
    tokens = "".join(getattr(e, "text", "") for e in events if e.type == "token")
    assert tokens.count("(offline model)") == 1  # one answer's tokens, not two interleaved


async def test_an_orchestrator_killed_mid_run_leaves_the_run_to_the_others_sweep(faulty: Platform) -> None:
    queue_fault(faulty, "stall", count=1, delay_ms=60_000)  # the first model call hangs: the replica dies in it
    started: asyncio.Queue[str] = asyncio.Queue()
    client = asyncio.create_task(stream(faulty, "survive a crash, please", started))
    request_id = await asyncio.wait_for(started.get(), 10)
    orchestrators = [n for n in faulty.services if n.startswith("orchestrator")]
    victim = await wait_for_log(
        faulty, orchestrators, lambda e: e.get("request_id") == request_id and e.get("event") == "run started"
    )
    await stall_taken(faulty)  # the victim's model call is in the stall, not on its way to it
    faulty.processes[victim].kill()
    try:
        seen = await asyncio.wait_for(client, REQUEST_TIMEOUT_S + 10)
    finally:
        faulty.processes[victim].respawn()
    assert_ended_once(seen)
    assert seen["types"][-1] == "done", seen  # nothing had been streamed: the other replica answered it whole
    assert '"survive a crash, please"' in seen["last"]["answer"]
    survivor = next(n for n in orchestrators if n != victim)
    # It logs "run done" just after it publishes `done`: the line may still be on its way to the file.
    await wait_for_log(faulty, [survivor], lambda e: e.get("request_id") == request_id and e.get("event") == "run done")
    survivor_log = [e for e in log_lines(faulty, survivor) if e.get("request_id") == request_id]
    # The request was committed when its run was handed off, so no redelivery came: the
    # survivor's sweep found the lease nobody renewed and took the run over, once.
    events = [e.get("event") for e in survivor_log]
    assert events.count("run taken over from a replica that stopped renewing its lease") == 1, events
    assert events.count("run done") == 1, events


async def traffic(platform: Platform, count: int, label: str) -> asyncio.Future[list[dict[str, Any]]]:
    """`count` streams, started and each admitted (a loaded machine can take seconds): the fault
    that follows meets them in flight, never at the door, where their credential may be gone."""
    admitted: asyncio.Queue[str] = asyncio.Queue()
    flowing = asyncio.gather(*(stream(platform, f"{label} {n}: stream me along", admitted) for n in range(count)))
    async with asyncio.timeout(30):
        for _ in range(count):
            await admitted.get()
    return flowing


async def test_a_redis_restart_while_traffic_flows_ends_every_request(
    faulty: Platform, own_services: tuple[KafkaServer, RedisServer]
) -> None:
    _, redis_server = own_services
    queue_fault(faulty, "slow", count=8, delay_ms=150)  # answers take a few seconds to stream
    flowing = await traffic(faulty, 8, "redis")
    await asyncio.sleep(0.5)  # into their answers
    await asyncio.to_thread(redis_server.restart)  # SIGKILL, nothing on disk: every key is gone
    results = await asyncio.wait_for(flowing, REQUEST_TIMEOUT_S + 20)
    for seen in results:
        assert_ended_once(seen)
    # This Redis keeps nothing on disk, so its API keys went with it; a production Redis persists
    # them (docs/security.md). Made again, as an operator's restored Redis would have them.
    faulty.headers = bearer(create_api_key({"REDIS_URL": redis_server.url}, "e2e-user"))
    after = await stream(faulty, "and after the restart?")
    assert after["types"][-1] == "done"


async def test_a_kafka_restart_while_traffic_flows_ends_every_request(
    faulty: Platform, own_services: tuple[KafkaServer, RedisServer]
) -> None:
    kafka, _ = own_services
    queue_fault(faulty, "slow", count=8, delay_ms=150)
    flowing = await traffic(faulty, 8, "kafka")
    await asyncio.sleep(0.5)  # into their answers
    await asyncio.to_thread(kafka.restart)
    results = await asyncio.wait_for(flowing, REQUEST_TIMEOUT_S + 20)
    for seen in results:
        assert_ended_once(seen)
    async with asyncio.timeout(60):
        # The services reconnect on their own; until then a request gets a classified error.
        while (after := await stream(faulty, "and after the broker came back?"))["types"][-1] != "done":  # noqa: ASYNC110
            await asyncio.sleep(1)
    assert after["types"][-1] == "done"


async def test_a_request_the_broker_cannot_take_for_longer_than_the_bound_ends_with_bus_unavailable(
    faulty: Platform, own_services: tuple[KafkaServer, RedisServer]
) -> None:
    kafka, _ = own_services
    await asyncio.to_thread(kafka.stop)
    try:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, headers=faulty.headers) as client:
            started = time.monotonic()
            answer = await client.post(f"{faulty.base_url}/api/chat", json={"message": "is the bus there?"})
            took = time.monotonic() - started
        streamed = await stream(faulty, "is the bus there, streaming?")
    finally:
        await asyncio.to_thread(kafka.restart)
    # At the bus's ride-through bound (BUS_RIDE_THROUGH_S, 5 s), not at the request's 40 s deadline.
    assert answer.status_code == 503 and took < 15, (answer.status_code, took)
    assert answer.headers["retry-after"] == "5"
    error = answer.json()["error"]
    assert (error["code"], error["details"]["reason"]) == ("INFRA_UNAVAILABLE", "bus_unavailable")
    assert_ended_once(streamed)
    assert streamed["types"] == ["error"] and streamed["last"]["error"]["details"]["reason"] == "bus_unavailable"
    async with asyncio.timeout(60):
        while (await stream(faulty, "and once the broker is back?"))["types"][-1] != "done":  # noqa: ASYNC110
            await asyncio.sleep(1)


@pytest.fixture(autouse=True)
def _faults_cleared(faulty: Platform) -> Iterator[None]:
    yield
    httpx.delete(f"{faulty.services['offline-model']}/admin/faults")


async def test_an_orchestrator_stopped_mid_run_finishes_it_before_it_exits(faulty: Platform) -> None:
    queue_fault(faulty, "slow", count=1, delay_ms=100)  # a few seconds of streaming
    started: asyncio.Queue[str] = asyncio.Queue()
    client = asyncio.create_task(stream(faulty, "finish what you started, please", started))
    request_id = await asyncio.wait_for(started.get(), 10)
    orchestrators = [n for n in faulty.services if n.startswith("orchestrator")]
    worker = await wait_for_log(
        faulty, orchestrators, lambda e: e.get("request_id") == request_id and e.get("event") == "run started"
    )
    faulty.processes[worker].terminate()  # SIGTERM: what Kubernetes sends on a rollout
    try:
        seen = await asyncio.wait_for(client, REQUEST_TIMEOUT_S + 10)
        await asyncio.to_thread(faulty.processes[worker].proc.wait, 30)
    finally:
        faulty.processes[worker].respawn()
    assert_ended_once(seen)
    assert seen["types"][-1] == "done", seen  # the run in flight was finished, not cut
    # ... by the replica that was stopping: it finished its work before it exited.
    assert any(e.get("request_id") == request_id and e.get("event") == "run done" for e in log_lines(faulty, worker))
