"""The ledger loses nothing and counts nothing twice over the distributed mode's real pieces:
Kafka and PostgreSQL. A writer process killed (SIGKILL) between its write and its commit
leaves its entry to be delivered again; the next writer of the group finds it stored, counts
it once, and an entry sent twice is stored and counted once."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from agent_common.bus.kafka import KafkaBus
from agent_common.usage import ModelCallUsage, UsageEntry, UsageRecorded, load_prices
from agent_common.usage.ledger.postgres import PostgresLedger
from agent_common.usage.writer import LedgerWriter
from tests.support.services import database_of_its_own

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).parents[2]
WAIT_S = 90  # past the killed member's session timeout, when the group gives its partitions away


def entry(request_id: str) -> UsageEntry:
    return UsageEntry(
        request_id=request_id,
        tenant="kafka-tenant",
        user_id="u1",
        session_id=f"ses_{request_id}",
        at=datetime.datetime.now(datetime.UTC),
        model_calls=[ModelCallUsage(model="offline-1", prompt_tokens=100, completion_tokens=40)],
    )


async def read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), WAIT_S)
    assert line, "the writer process ended early"
    return line.decode().strip()


async def test_a_writer_killed_after_its_write_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap: str, postgres_url: str
) -> None:
    run = uuid.uuid4().hex[:8]
    group, prefix = f"ledger-{run}", f"req_crash_{run}"
    crashed, twice = entry(f"{prefix}_a"), entry(f"req_twice_{run}")
    told: list[str] = []
    handled: asyncio.Queue[str] = asyncio.Queue()

    async def spend(
        *, request_id: str, tenant: str, key_id: str | None, tokens: int, cost: decimal.Decimal, at: datetime.datetime
    ) -> None:
        told.append(request_id)

    with database_of_its_own(postgres_url, prefix="ledger") as url:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.usage.crashing_writer",
            kafka_bootstrap,
            url,
            group,
            prefix,
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        producer = KafkaBus(kafka_bootstrap, client_id=f"ledger-test-{run}")
        await producer.start()
        try:
            assert await read_line(proc) == "ready"
            await producer.publish(UsageRecorded.of(crashed))
            assert await read_line(proc) == f"stored {crashed.request_id}"
        finally:
            proc.kill()
            await proc.wait()

        async with PostgresLedger(url) as ledger:
            writer = LedgerWriter(ledger, load_prices(), spend)

            async def handle(message: UsageRecorded) -> None:
                await writer.on_usage_recorded(message)
                handled.put_nowait(message.request_id)

            consumer = KafkaBus(kafka_bootstrap, client_id=f"ledger-writer-{run}")
            consumer.subscribe(UsageRecorded, handle, group=group)
            await consumer.start()
            try:
                await producer.publish(UsageRecorded.of(twice))
                await producer.publish(UsageRecorded.of(twice))  # a producer's retry: the same run again
                mine = {crashed.request_id, twice.request_id}
                seen: list[str] = []
                async with asyncio.timeout(WAIT_S):
                    while len(seen) < 3:  # the crashed entry's redelivery, and the other twice
                        if (request_id := await handled.get()) in mine:
                            seen.append(request_id)
            finally:
                await consumer.stop()
                await producer.stop()
            stored = await ledger.entries(
                crashed.at - datetime.timedelta(minutes=1), twice.at + datetime.timedelta(minutes=1)
            )

    assert sorted(seen) == sorted([crashed.request_id, twice.request_id, twice.request_id])
    assert sorted(e.request_id for e in stored if e.request_id in mine) == sorted(mine)  # each once
    # The crashed writer stored its entry but never counted it: the redelivery did, once. (The topic
    # is the session broker's: its new group also reads other tests' platforms' entries; not ours.)
    assert sorted(request_id for request_id in told if request_id in mine) == sorted(mine)
