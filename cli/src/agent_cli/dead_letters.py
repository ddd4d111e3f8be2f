"""`agent dead-letters list|replay`: the messages parked on `dead.letters`, and sending them back.

Reads `dead.letters` from the broker at `BUS_KAFKA_BOOTSTRAP_SERVERS` as the `operators`
consumer group (`--group` for another). A letter waits until it is replayed: `list` shows
the letters waiting, `replay` sends each selected one's payload, as it came (UTF-8 text,
or decoded from base64), to its source topic, keyed as its message is when it can be
read, then records it as replayed in the group's committed offset: the offset moves past
every letter replayed up to the first one still waiting, and letters replayed beyond that
one are named in the commit's metadata. So each letter is replayed once, and those left
out by `--source-topic`, `--reason` or `--request-id` keep waiting. A replay interrupted
between a send and its commit sends that letter again next time: handlers take a message
id once, so that is harmless.

The embedded default keeps its dead letters in memory (and logs each one): there is
nothing to replay there once the process has gone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import get_args

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from agent_common.messages import (
    BusMessage,
    ChatRequested,
    DeadLetter,
    DeadLetterReason,
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


async def _list(args: argparse.Namespace) -> int:
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


async def _replay(args: argparse.Namespace) -> int:
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


def _run(command: str, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_list(args) if command == "list" else _replay(args))
    except DeadLettersError as problem:
        print(f"agent dead-letters: {problem}", file=sys.stderr)
        return 1
    except KafkaError as exc:
        print(
            f"agent dead-letters: the broker at {BusSettings().kafka_bootstrap_servers} did not answer ({exc!r}); "
            "set BUS_KAFKA_BOOTSTRAP_SERVERS to the platform's Kafka.",
            file=sys.stderr,
        )
        return 1


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source-topic", help="Only letters parked from this topic (e.g. chat.requests).")
    parser.add_argument("--reason", choices=get_args(DeadLetterReason), help="Only letters parked for this reason.")
    parser.add_argument("--request-id", help="Only the letters of this request.")
    parser.add_argument(
        "--group",
        default=DEAD_LETTERS.consumer_group,
        help=f"The consumer group that records what is replayed (default: {DEAD_LETTERS.consumer_group}).",
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    letters = commands.add_parser(
        "dead-letters", help="List the messages parked on dead.letters, and replay them to their topics."
    )
    sub = letters.add_subparsers(dest="dead_letters_command", required=True)
    listing = sub.add_parser(
        "list", help="The letters waiting: offset, time, source topic, reason, attempts, request id, error."
    )
    _filters(listing)
    listing.set_defaults(handler=lambda a: _run("list", a))
    replay = sub.add_parser("replay", help="Send the selected letters back to their source topics, each once.")
    _filters(replay)
    replay.add_argument("--dry-run", action="store_true", help="Show what would be replayed; send nothing.")
    replay.set_defaults(handler=lambda a: _run("replay", a))
