"""One chaos scenario: load in every phase, an outage begun and ended, and what came of it.

`run_scenario` places the clients (`load.py`), begins the outage once each phase is
where it should be, holds it, ends it, waits for every client, then reads what
reached `dead.letters` meanwhile. `tally` turns that into one row per phase.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer

from agent_common.messages import DeadLetter
from tests.chaos.load import PER_PHASE, Client, Seen, message_for, queue_stalls, stalls_taken, wait_reached
from tests.support.platform import Platform

# How long the held orchestrators wait for the gateway to admit the `before_claim` requests.
ADMITTED_WITHIN_S = 5.0
HELD_INTO_BEGIN_S = 1.0


@dataclass
class Outage:
    """A fault: `begin()` starts it, `end()` ends it `hold_s` later (both may block: run in a thread)."""

    name: str
    begin: Callable[[], None]
    end: Callable[[], None]
    hold_s: float


@dataclass
class ScenarioRun:
    name: str
    seen: list[Seen]
    began: float  # monotonic: when the outage began
    ended: float  # ...and when it was over (a restarted server serving again)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def outage_s(self) -> float:
        return self.ended - self.began


async def run_scenario(platform: Platform, outage: Outage, pages_url: str, kafka_bootstrap: str) -> ScenarioRun:
    since_ms = int(time.time() * 1000)

    def clients(phase: str, milestone: str | None = None) -> list[Client]:
        return [Client(platform, phase, message_for(phase, n, pages_url), milestone) for n in range(PER_PHASE)]

    # Streaming and tools first: by the time the stalls are queued their model calls are made,
    # so no stall meant for the model phase lands on them.
    streaming, tools = clients("streaming", "token"), clients("tools", "tool_start")
    await wait_reached(streaming + tools, 15)
    await queue_stalls(platform, PER_PHASE)
    model_call = clients("model_call")
    await stalls_taken(platform)
    # The orchestrators are held while these are admitted and until the outage has begun, so it
    # finds them admitted and not yet claimed. Sent unheld, with the outage begun once the first
    # was admitted, a busy machine let the orchestrators claim all ten first: nothing felt it.
    orchestrators = [p for name, p in platform.processes.items() if name.startswith("orchestrator")]
    for orchestrator in orchestrators:
        orchestrator.pause()
    try:
        before_claim = clients("before_claim", "accepted")
        await wait_reached(before_claim, ADMITTED_WITHIN_S)
        began = time.monotonic()
        beginning = asyncio.create_task(asyncio.to_thread(outage.begin))
        # A begin that blocks (a broker's controlled shutdown) lets them go after a second: held
        # longer, their runs in flight would miss renewing their leases.
        await asyncio.wait([beginning], timeout=HELD_INTO_BEGIN_S)
    finally:
        for orchestrator in orchestrators:
            orchestrator.resume()
    await beginning
    await asyncio.sleep(max(0.0, outage.hold_s - (time.monotonic() - began)))
    await asyncio.to_thread(outage.end)
    ended = time.monotonic()
    seen = list(await asyncio.gather(*(c.task for c in streaming + tools + model_call + before_claim)))
    letters = await dead_letters_since(kafka_bootstrap, since_ms)
    return ScenarioRun(outage.name, seen, began, ended, letters)


async def dead_letters_since(bootstrap: str, since_ms: int) -> list[DeadLetter]:
    """Every letter parked on `dead.letters` since `since_ms`, read by a plain consumer (no group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", metadata_max_age_ms=500
    )
    await consumer.start()
    try:
        if "dead.letters" not in await consumer.topics():
            return []
        consumer.subscribe(["dead.letters"])  # without a group: every partition is assigned to it
        async with asyncio.timeout(20):
            while not consumer.assignment():
                await asyncio.sleep(0.05)
                await consumer.getmany(timeout_ms=100)
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: list[DeadLetter] = []
        async with asyncio.timeout(20):
            while any([await consumer.position(p) < ends[p] for p in partitions]):
                batches = await consumer.getmany(timeout_ms=500)
                letters += [
                    DeadLetter.model_validate_json(record.value)
                    for records in batches.values()
                    for record in records
                    if record.timestamp >= since_ms and record.value
                ]
        return letters
    finally:
        await consumer.stop()


# ---- the outcome, per phase ----


def tally(run: ScenarioRun, expected: dict[str, Seen] | None) -> dict[str, dict[str, Any]]:
    """Per phase: accepted, refused, done, errors by code/reason, lost, doubled, text mismatches
    (against `expected`, when given), dead letters (a letter counts for the phase whose request
    it carries; `other` otherwise), and when the last terminal event came, after the outage began."""
    rows: dict[str, dict[str, Any]] = {}
    for seen in run.seen:
        row = rows.setdefault(seen.phase, _empty_row())
        if not seen.accepted:
            row["refused"][seen.refusal or seen.failure or f"HTTP {seen.status}"] += 1
            continue
        row["accepted"] += 1
        outcome = seen.outcome
        if outcome == "done":
            row["done"] += 1
        elif outcome == "lost":
            row["lost"] += 1
        else:
            row["errors"][outcome] += 1
        if len(seen.terminals) > 1:
            row["doubled"] += 1
        if expected is not None and outcome == "done" and not text_matches(seen, expected):
            row["text_mismatch"] += 1
        if seen.ended_at is not None:
            row["last_end_s"] = round(max(row["last_end_s"], seen.ended_at - run.began), 1)
    for letter in run.dead_letters:
        owner = next((s for s in run.seen if s.request_id and s.request_id in letter.payload), None)
        rows.setdefault(owner.phase if owner else "other", _empty_row())["dead_letters"] += 1
    return {phase: {k: dict(v) if isinstance(v, Counter) else v for k, v in row.items()} for phase, row in rows.items()}


def text_matches(seen: Seen, expected: dict[str, Seen]) -> bool:
    """The `done` answer and the streamed tokens are those of a fault-free run of the same message."""
    want = expected.get(seen.message)
    return want is not None and seen.answer == want.answer and seen.streamed == want.streamed


def _empty_row() -> dict[str, Any]:
    return {
        "accepted": 0,
        "refused": Counter(),
        "done": 0,
        "errors": Counter(),
        "lost": 0,
        "doubled": 0,
        "text_mismatch": 0,
        "dead_letters": 0,
        "last_end_s": 0.0,
    }
