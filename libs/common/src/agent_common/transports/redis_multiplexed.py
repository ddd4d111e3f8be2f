"""A process's Redis commands from every task on one connection, in batches (auto-pipelining).

The stores each send one command at a time, from many tasks at once. Through the pool each
command was a round trip of its own: a connection checked out and back in, a write, a read,
a timer for each (85 µs of CPU a command here, 45 of them the socket's). Here one command
goes at once; the commands issued while it is out go next, together, in one write, and their
replies are read in order. No timer: a quiet process sends each command alone and at once, a
busy one fewer, larger writes. Commands go in the order they are issued, whichever task issues
them, and a task's next command waits for its last, so nothing a task sends is reordered (an
orchestrator sends a run's first reads right behind its claim on this).

One round trip is out at a time. Redis answering a command with an error fails that command
alone. A lost connection or a timeout (the pool's socket timeout, one timer a round trip)
fails the commands not yet answered, and riding through an outage sends those again, in
order, as the pool's commands are (`redis_ride_through.py`); the commands answered keep
their answers.

Commands that wait on the server or hold their connection's state (blocking reads,
transactions, pub/sub, `SELECT`, `CLIENT`...) go through the pool as before, as do a
transaction's pipeline and pub/sub, which take connections of their own. A pipeline without
a transaction sends its commands together, in one write, on the process's connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Sent through the pool: they block the connection, or change what its next commands mean.
ON_THE_POOL = frozenset(
    {
        "AUTH", "BLMOVE", "BLMPOP", "BLPOP", "BRPOP", "BRPOPLPUSH", "BZMPOP", "BZPOPMAX", "BZPOPMIN",
        "CLIENT", "DISCARD", "EXEC", "HELLO", "MONITOR", "MULTI", "PSUBSCRIBE", "PUNSUBSCRIBE",
        "READONLY", "READWRITE", "RESET", "SELECT", "SSUBSCRIBE", "SUBSCRIBE", "SUNSUBSCRIBE",
        "UNSUBSCRIBE", "UNWATCH", "WAIT", "WAITAOF", "WATCH", "XREAD", "XREADGROUP",
    }
)  # fmt: skip


@dataclass(slots=True)
class _Command:
    args: tuple[Any, ...]
    options: dict[str, Any]
    done: asyncio.Future[Any] | None = field(default=None)  # None: its caller sends it itself

    def settle(self, answer: Any) -> None:
        if self.done is None or self.done.done():  # its caller was cancelled meanwhile
            return
        if isinstance(answer, BaseException):
            self.done.set_exception(answer)
        else:
            self.done.set_result(answer)


class MultiplexedRedis(Redis):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._conn: AbstractConnection | None = None  # taken from the pool at the first command, kept
        self._sending = False  # a round trip is out
        self._queued: list[_Command] = []
        self._sender: asyncio.Task[None] | None = None  # held, so the running task is not collected

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.single_connection_client or str(args[0]).split(" ", 1)[0].upper() in ON_THE_POOL:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        if self._sending:  # ride the next round trip
            command = _Command(args, options, asyncio.get_running_loop().create_future())
            self._queued.append(command)
            return await command.done  # type: ignore[misc]  # made with a future just above
        (answer,) = await self._now([_Command(args, options)])
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        """A transaction's pipeline holds a connection of the pool; one without sends its commands
        together with what the process's other tasks send."""
        if transaction:
            return super().pipeline(transaction, shard_hint)
        return _PipelineOfTheProcess(self, shard_hint)

    async def execute_together(self, commands: Sequence[tuple[tuple[Any, ...], Mapping[str, Any]]]) -> list[Any]:
        """`commands` (each its arguments and redis-py's options) in one write, in this order: their
        answers, an error Redis answered one with among them. A failed round trip raises."""
        if self._sending:  # ride the next round trip
            loop = asyncio.get_running_loop()
            queued = [_Command(args, dict(options), loop.create_future()) for args, options in commands]
            self._queued.extend(queued)
            answers = await asyncio.gather(*(c.done for c in queued if c.done is not None), return_exceptions=True)
            for answer in answers:
                if isinstance(answer, BaseException) and not isinstance(answer, ResponseError):
                    raise answer  # the round trip failed: every command in it
            return answers
        return await self._now([_Command(args, dict(options)) for args, options in commands])

    async def _now(self, commands: list[_Command]) -> list[Any]:
        """`commands` sent at once, in the caller's task: nothing else is out."""
        self._sending = True
        try:
            return await self._round_trip(commands)
        finally:
            if self._queued:
                self._sender = asyncio.create_task(self._send_queued(), name="redis-batches")
            else:
                self._sending = False

    async def _send_queued(self) -> None:
        try:
            while self._queued:
                # A command whose caller was cancelled while it waited is not sent.
                batch = [c for c in self._queued if c.done is None or not c.done.done()]
                self._queued = []
                if batch:
                    await self._send_batch(batch)
        finally:
            self._sending = False

    async def _send_batch(self, batch: list[_Command]) -> None:
        try:
            for command, answer in zip(batch, await self._round_trip(batch), strict=True):
                command.settle(answer)
        except Exception as exc:
            for command in batch:
                command.settle(exc)
        except asyncio.CancelledError:
            for command in batch:
                if command.done is not None:
                    command.done.cancel()
            raise

    async def _round_trip(self, commands: list[_Command]) -> list[Any]:
        """Each command's answer, or the error Redis answered it with."""
        if self._conn is None:
            self._conn = await self.connection_pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        conn = self._conn
        answers: list[Any] = []

        async def unanswered() -> list[Any]:
            await self._write_and_read(conn, commands[len(answers) :], answers)
            return answers

        result: list[Any] = await conn.retry.call_with_retry(unanswered, lambda _: conn.disconnect())
        return result

    async def _write_and_read(self, conn: AbstractConnection, commands: list[_Command], answers: list[Any]) -> None:
        packed = _packed(conn, [command.args for command in commands])
        bound_s = conn.socket_timeout
        conn.socket_timeout = None  # one timer for the round trip, not one per write and read
        try:
            async with asyncio.timeout(bound_s):
                await conn.send_packed_command(packed, check_health=False)
                for command in commands:
                    try:
                        answers.append(await self.parse_response(conn, command.args[0], **dict(command.options)))  # type: ignore[arg-type]
                    except ResponseError as exc:  # this command's answer; the next reply is the next one's
                        answers.append(exc)
        except TimeoutError:
            await conn.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout on a round trip to Redis") from None
        finally:
            conn.socket_timeout = bound_s


def _packed(conn: AbstractConnection, commands: list[tuple[Any, ...]]) -> list[bytes]:
    """The commands in Redis's protocol, each packed by hiredis in C: redis-py's own packer checks
    and encodes every argument in Python first (a third of the `isinstance` calls an orchestrator
    made). The same bytes for what hiredis takes (str in UTF-8, bytes, int, float); anything else
    (a bool, a memoryview), or another encoding, goes redis-py's way, and fails as it fails there."""
    encoder = conn.encoder
    if encoder.encoding == "utf-8" and encoder.encoding_errors == "strict":
        try:
            return [b"".join(hiredis.pack_command(_named(args)) for args in commands)]
        except TypeError:
            pass
    return conn.pack_commands(commands)


def _named(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A command named in words (`PUBSUB NUMSUB`) as its words, as redis-py sends it."""
    name = args[0]
    if isinstance(name, str) and " " in name:
        return (*name.split(), *args[1:])
    if isinstance(name, bytes) and b" " in name:
        return (*name.split(), *args[1:])
    return args


class _PipelineOfTheProcess(Pipeline):
    """A pipeline without a transaction: its commands go together, in one write, on the process's
    connection. Watching keys, a transaction begun with MULTI, or `Script` objects queued (which
    it would load first) take the pool's way."""

    def __init__(self, client: MultiplexedRedis, shard_hint: str | None) -> None:
        super().__init__(client.connection_pool, client.response_callbacks, False, shard_hint)
        self._client = client

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.watching or self.explicit_transaction or self.scripts:
            result: list[Any] = await super().execute(raise_on_error)
            return result
        stack = list(self.command_stack)
        try:
            answers = await self._client.execute_together(stack) if stack else []
        finally:
            await self.reset()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        if raise_on_error:
            self.raise_first_error(stack, answers)
        return answers
