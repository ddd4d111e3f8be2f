"""A ledger writer process that dies right after its first write: run by
`test_ledger_over_kafka.py` as `python -m tests.usage.crashing_writer BOOTSTRAP DB_URL GROUP PREFIX`.

It stores the first entry whose request id starts with PREFIX, prints `stored <request id>`
and waits, never returning from the handler (so its offset is not committed), until the
test kills it with SIGKILL: a writer that died between its write and its commit."""

from __future__ import annotations

import asyncio
import sys

from agent_common.bus.kafka import KafkaBus
from agent_common.usage import UsageRecorded, load_prices
from agent_common.usage.ledger.postgres import PostgresLedger
from agent_common.usage.writer import LedgerWriter


async def main(bootstrap: str, url: str, group: str, prefix: str) -> None:
    async with PostgresLedger(url) as ledger:
        writer = LedgerWriter(ledger, load_prices())
        original = ledger.record

        async def record_then_hang(entry: object) -> bool:
            stored = await original(entry)  # type: ignore[arg-type]
            if str(getattr(entry, "request_id", "")).startswith(prefix):
                print(f"stored {getattr(entry, 'request_id', '')}", flush=True)
                await asyncio.Event().wait()  # killed here
            return stored

        ledger.record = record_then_hang  # type: ignore[method-assign]
        bus = KafkaBus(bootstrap, client_id="crashing-ledger-writer")
        bus.subscribe(UsageRecorded, writer.on_usage_recorded, group=group)
        await bus.start()
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
