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
import sys
from typing import get_args

from agent_common.messages import DeadLetterReason
from agent_common.settings import BusSettings
from agent_common.topics import DEAD_LETTERS


def _run(command: str, args: argparse.Namespace) -> int:
    # Imported here: the Kafka client is heavy, and `agent` starts without it (tests/cli/test_startup.py).
    from aiokafka.errors import KafkaError

    from agent_cli.dead_letter_topic import DeadLettersError, list_letters, replay_letters

    try:
        return asyncio.run(list_letters(args) if command == "list" else replay_letters(args))
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
