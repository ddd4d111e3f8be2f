"""A Kafka client's requests failing inside the client, as uvloop's transport failed them on a
connection the broker had closed (aio-libs/aiokafka#1038), and the notes a bus handled.

Used by tests/common/test_bus_client_faults.py (the producer) and test_bus_consumer_faults.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.conn import AIOKafkaConnection

from tests.contracts.bus import Note

# What uvloop's transport raised on a write to a connection the broker had closed.
CLOSED_TRANSPORT = "unable to perform operation on <TCPTransport closed=True>; the handler is closed"


class Deaths:
    """The next `left` requests of kind `kind` written on any connection raise what uvloop's
    transport raised on a closed connection; everything else is let through. `spent` is set
    once the last of them has."""

    def __init__(self, kind: str = "ProduceRequest") -> None:
        self.kind = kind
        self.left = 0
        self.spent = asyncio.Event()

    def arm(self, kind: str, times: int = 1) -> None:
        self.kind, self.left = kind, times
        self.spent.clear()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Deaths:
        send = AIOKafkaConnection.send

        def faulty_send(conn: AIOKafkaConnection, request: Any, expect_response: bool = True) -> Any:
            if self.left > 0 and type(request).__name__.startswith(self.kind):
                self.left -= 1
                if not self.left:
                    self.spent.set()
                raise RuntimeError(CLOSED_TRANSPORT)
            return send(conn, request, expect_response)

        monkeypatch.setattr(AIOKafkaConnection, "send", faulty_send)
        return self


def kill_metadata_refresh(consumer: AIOKafkaConsumer) -> None:
    """End `consumer`'s metadata refresh now, whether or not the broker can be reached, as
    uvloop's transport ended it when a broker cut dropped the connection it was writing on."""
    client = consumer._client

    async def dies(*_: Any) -> None:
        del client._metadata_update  # once
        raise RuntimeError(CLOSED_TRANSPORT)

    client._metadata_update = dies
    client.force_metadata_update()


class Received:
    """A handler keeping the texts of one session's notes."""

    def __init__(self, session: str) -> None:
        self.session, self.texts = session, []  # type: tuple[str, list[str]]
        self.changed = asyncio.Event()

    async def __call__(self, msg: Note) -> None:
        if msg.session_id == self.session:
            self.texts.append(msg.text)
            self.changed.set()

    async def at_least(self, n: int, timeout_s: float = 40.0) -> list[str]:
        """The distinct texts, in order, once there are `n` of them."""
        async with asyncio.timeout(timeout_s):
            while len(set(self.texts)) < n:
                self.changed.clear()
                await self.changed.wait()
        return sorted(set(self.texts), key=int)
