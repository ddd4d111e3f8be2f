"""The dead-letter topic as `agent dead-letters` reads and replays it, over Kafka.

What is waiting is what the operators' group has not recorded as replayed: its committed
offset on `dead.letters`, and, in that commit's metadata, the offsets replayed past it
(`replayed:3-5,9`), so letters a filter left out keep waiting while those after them are
replayed once. The command line is `dead_letters.py`; this module is imported when a
command runs (it brings the Kafka client).
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from agent_common.messages import (
    BusMessage,
    ChatRequested,
    DeadLetter,
    ReindexRequested,
    ReindexStatus,
    ToolCallCompleted,
    ToolCallRequested,
)
from agent_common.resilience import Outage, ride_through
from agent_common.settings import BusSettings
from agent_common.topics import DEAD_LETTERS

MESSAGES: dict[str, type[BusMessage]] = {
    m.topic: m for m in (ChatRequested, ToolCallRequested, ToolCallCompleted, ReindexRequested, ReindexStatus)
}
# Kafka keeps at most 4096 bytes of metadata with a committed offset (`offset.metadata.max.bytes`).
MAX_METADATA_CHARS = 4000
METADATA_PREFIX = "replayed:"
READ_TIMEOUT_MS = 1000
# How long the broker is waited for when it says it is not ready yet.
BROKER_WAIT_S = 15.0
# The source topic shown for a record on the topic that is not a `DeadLetter`: listed, never replayed.
UNREADABLE = "?"


class DeadLettersError(Exception):
    """Something the operator must fix before the command can run; its text says what."""


@dataclass
class Waiting:
    """The letters of one partition not replayed yet, and what the group has recorded."""

    tp: TopicPartition
    committed: int
    """The group's offset: every letter before it is replayed."""
    replayed: set[int]
    """Offsets at or past `committed` already replayed (the commit's metadata)."""
    letters: list[tuple[int, DeadLetter]] = field(default_factory=list)

    def commit_point(self) -> tuple[int, str]:
        """The offset and metadata that record what is replayed now."""
        waiting = [offset for offset, _ in self.letters if offset not in self.replayed]
        end = max([self.committed, *(o + 1 for o, _ in self.letters), *(o + 1 for o in self.replayed)])
        offset = min(waiting, default=end)
        metadata = encode_offsets(o for o in self.replayed if o >= offset)
        if len(metadata) > MAX_METADATA_CHARS:
            raise DeadLettersError(
                "Too many letters would be left waiting between replayed ones to record; "
                "replay the earlier ones first (or all of them, without filters)."
            )
        return offset, metadata


def encode_offsets(offsets: Iterable[int]) -> str:
    """`replayed:3-5,9`: the offsets as ranges, small enough for a commit's metadata."""
    ranges: list[list[int]] = []
    for offset in sorted(set(offsets)):
        if ranges and offset == ranges[-1][1] + 1:
            ranges[-1][1] = offset
        else:
            ranges.append([offset, offset])
    return METADATA_PREFIX + ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges) if ranges else ""


def decode_offsets(metadata: str) -> set[int]:
    if not metadata.startswith(METADATA_PREFIX):
        return set()
    offsets: set[int] = set()
    for part in filter(None, metadata.removeprefix(METADATA_PREFIX).split(",")):
        first, _, last = part.partition("-")
        offsets.update(range(int(first), int(last or first) + 1))
    return offsets


def selected(letter: DeadLetter, args: argparse.Namespace) -> bool:
    return (
        letter.source_topic != UNREADABLE
        and (args.source_topic is None or letter.source_topic == args.source_topic)
        and (args.reason is None or letter.reason == args.reason)
        and (args.request_id is None or letter.request_id == args.request_id)
    )


def payload_bytes(letter: DeadLetter) -> bytes:
    if letter.payload_encoding == "base64":
        return base64.b64decode(letter.payload)
    return letter.payload.encode("utf-8")


def source_message(letter: DeadLetter) -> BusMessage | None:
    """The parked message as its source topic's model, when it reads as one (not an undecodable one)."""
    model = MESSAGES.get(letter.source_topic)
    if model is None:
        return None
    try:
        return model.model_validate_json(payload_bytes(letter))
    except ValidationError:
        return None


@asynccontextmanager
async def dead_letter_consumer(bootstrap: str, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, client_id="agent-dead-letters"
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def read_waiting(consumer: AIOKafkaConsumer, bootstrap: str, group: str) -> list[Waiting]:
    """Every partition's letters after the group's offset up to the end as of now, replayed ones left out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="agent-dead-letters")
    await admin.start()
    try:
        (topic,) = await admin.describe_topics([DEAD_LETTERS.name])
        tps = [TopicPartition(DEAD_LETTERS.name, p["partition"]) for p in topic["partitions"]]
        if topic["error_code"] or not tps:  # no letter was ever parked: the topic is not there
            return []

        async def offsets() -> dict[TopicPartition, OffsetAndMetadata]:
            found: dict[TopicPartition, OffsetAndMetadata] = await admin.list_consumer_group_offsets(
                group, partitions=tps
            )
            return found

        # A broker that never had a group yet answers "coordinator not available" for a moment.
        recorded = await ride_through(offsets, BROKER_WAIT_S, only=Outage.BUS)
    finally:
        await admin.close()
    consumer.assign(tps)
    starts = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    found: list[Waiting] = []
    for tp in tps:
        mark = recorded.get(tp)
        committed = mark.offset if mark is not None and mark.offset >= 0 else starts[tp]
        waiting = Waiting(tp, max(committed, starts[tp]), decode_offsets(mark.metadata if mark else ""))
        consumer.seek(tp, waiting.committed)
        while await consumer.position(tp) < ends[tp]:
            batch = await consumer.getmany(tp, timeout_ms=READ_TIMEOUT_MS)
            for record in batch.get(tp, []):
                if record.offset < ends[tp] and record.offset not in waiting.replayed:
                    waiting.letters.append((record.offset, _letter(record.value)))
        found.append(waiting)
    return found


def _letter(raw: bytes | None) -> DeadLetter:
    try:
        return DeadLetter.model_validate_json(raw or b"")
    except ValidationError:  # not one of ours: shown as it is, never replayed by a filter on reason
        text = (raw or b"").decode("utf-8", errors="replace")
        return DeadLetter(
            source_topic=UNREADABLE, reason="undecodable", error="not a DeadLetter", attempts=0, payload=text
        )


def describe(offset: int, letter: DeadLetter) -> str:
    failed = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(letter.failed_at))
    error = letter.error.replace("\n", " ")[:120]
    return (
        f"{offset}\t{failed}\t{letter.source_topic}\t{letter.reason}\t{letter.attempts}\t"
        f"{letter.request_id or '-'}\t{error}"
    )


async def list_letters(args: argparse.Namespace) -> int:
    bootstrap = BusSettings().kafka_bootstrap_servers
    async with dead_letter_consumer(bootstrap, args.group) as consumer:
        waiting = await read_waiting(consumer, bootstrap, args.group)
    shown = [(o, letter) for w in waiting for o, letter in w.letters if selected(letter, args)]
    print(
        f"{len(shown)} dead letter(s) waiting on {DEAD_LETTERS.name} at {bootstrap} (group {args.group})",
        file=sys.stderr,
    )
    for offset, letter in shown:
        print(describe(offset, letter))
    return 0


async def replay_letters(args: argparse.Namespace) -> int:
    bootstrap = BusSettings().kafka_bootstrap_servers
    async with dead_letter_consumer(bootstrap, args.group) as consumer:
        waiting = await read_waiting(consumer, bootstrap, args.group)
        chosen = [(w, o, letter) for w in waiting for o, letter in w.letters if selected(letter, args)]
        if args.dry_run:
            for _, offset, letter in chosen:
                print(f"would replay\t{describe(offset, letter)}")
            print(f"{len(chosen)} dead letter(s) would be replayed; nothing sent (--dry-run)", file=sys.stderr)
            return 0
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="agent-dead-letters", acks="all")
        await producer.start()
        try:
            for partition, offset, letter in chosen:
                await _send(producer, letter)
                partition.replayed.add(offset)
                # Recorded at once: an interruption re-sends one letter at most.
                await consumer.commit({partition.tp: partition.commit_point()})
                print(f"replayed\t{describe(offset, letter)}")
        finally:
            await producer.stop()
    print(f"{len(chosen)} dead letter(s) replayed", file=sys.stderr)
    return 0


async def _send(producer: AIOKafkaProducer, letter: DeadLetter) -> None:
    message = source_message(letter)
    headers = [("replayed-from", letter.message_id.encode())]
    if message is not None:
        headers += [("message-id", message.message_id.encode()), ("request-id", message.request_id.encode())]
    key = message.partition_key().encode() if message is not None else None
    await producer.send_and_wait(letter.source_topic, payload_bytes(letter), key=key, headers=headers)
