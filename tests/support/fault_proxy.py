"""A fault-injecting TCP proxy: one listening port in front of one upstream, whose
faults are switched at run time, to put Redis or a Kafka broker "behind a bad network".

    async with FaultProxy("127.0.0.1", redis_port) as proxy:   # clients use proxy.port
        proxy.cut()          # every open connection is reset, new ones are reset on accept
        proxy.heal()
        proxy.blackhole()    # connections stay open and new ones are accepted, but no byte moves
        proxy.heal()         # ...until now: what was held is delivered, as TCP does after a partition
        proxy.latency(200)   # every chunk, each way, is delivered 200 ms late

`running_in_thread(proxy)` serves it on an event loop of its own, for synchronous
fixtures and for processes that outlive one test's loop; the controls may be called
from any thread. Why our own: toxiproxy does this and more, but it is a Go server to
build and run beside the suite; this is the little the chaos tests need.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType

__all__ = ["FaultProxy", "ProxyMode", "running_in_thread"]

CHUNK = 64 * 1024


class ProxyMode(StrEnum):
    PASS = "pass"
    """Bytes flow both ways (after `latency`, if set)."""
    CUT = "cut"
    """Connections are reset: the open ones at once, new ones as they are accepted."""
    BLACKHOLE = "blackhole"
    """Nothing moves and nothing closes: a partition where packets vanish."""


@dataclass(eq=False)  # each connection is itself, kept in a set
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        """Close both sides with a TCP reset (not a FIN): what a dropped connection looks like."""
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)
        for task in self.tasks:
            task.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards every connection made to `port` to `upstream_host:upstream_port`."""

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[_Connection] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.mode = ProxyMode.PASS
        self.delay_s = 0.0

    @property
    def port(self) -> int:
        """The port clients connect to (known once started)."""
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # ---- life cycle ----

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port, reuse_address=True)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.reset()
        self._connections.clear()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ---- faults (callable from any thread) ----

    def cut(self) -> None:
        """Reset every open connection, and each new one as it comes, until `heal()`."""
        self._control(self._cut)

    def blackhole(self) -> None:
        """Hold every connection, open and new, forwarding nothing, until `heal()`."""
        self._control(self._blackhole)

    def latency(self, ms: float) -> None:
        """Deliver each chunk `ms` late, each way (0: no added latency). Independent of the mode."""
        self._control(lambda: setattr(self, "delay_s", ms / 1000))

    def heal(self) -> None:
        """Back to passing bytes: what a blackhole held is delivered; the added latency stays as set."""
        self._control(self._heal)

    def _control(self, change: Callable[[], None]) -> None:
        """Apply `change` on the proxy's own loop: inline there, else handed over and waited for."""
        loop = self._loop
        if loop is None or not loop.is_running():
            change()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            change()
            return
        done = threading.Event()

        def apply() -> None:
            try:
                change()
            finally:
                done.set()

        loop.call_soon_threadsafe(apply)
        if not done.wait(10):
            raise TimeoutError("the proxy's event loop did not apply the change")

    def _cut(self) -> None:
        self.mode = ProxyMode.CUT
        self._flowing.set()  # the pipes are gone anyway; nothing should sit waiting on a partition
        for connection in list(self._connections):
            connection.reset()
        self._connections.clear()

    def _blackhole(self) -> None:
        self.mode = ProxyMode.BLACKHOLE
        self._flowing.clear()

    def _heal(self) -> None:
        self.mode = ProxyMode.PASS
        self._flowing.set()

    # ---- forwarding ----

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode is ProxyMode.CUT:
            _reset(writer)
            return
        connection = _Connection(writer)
        self._connections.add(connection)
        try:
            await self._flowing.wait()  # a blackholed connection is accepted, then held here
            if connection not in self._connections:  # cut while it was held
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                return  # the upstream is down: the client sees its connection dropped
            connection.upstream = up_writer
            if connection not in self._connections:  # cut while we were connecting
                return
            connection.tasks = [
                asyncio.create_task(self._pipe(reader, up_writer)),
                asyncio.create_task(self._pipe(up_reader, writer)),
            ]
            # When one side closes, the other one is closed too: the proxy keeps no half-open pairs.
            await asyncio.wait(connection.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if connection in self._connections:
                self._connections.discard(connection)
                connection.reset()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                await self._flowing.wait()  # during a blackhole nothing is read: TCP's own buffers fill
                data = await reader.read(CHUNK)
                if not data:
                    return
                if self.delay_s > 0:
                    await asyncio.sleep(self.delay_s)
                await self._flowing.wait()  # read just before the partition began: held until it heals
                writer.write(data)
                await writer.drain()


@contextlib.contextmanager
def running_in_thread(proxy: FaultProxy) -> Iterator[FaultProxy]:
    """Serve `proxy` on a daemon thread's own event loop; yields it started, closes it on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"fault-proxy->{proxy.upstream[1]}", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        yield proxy
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
