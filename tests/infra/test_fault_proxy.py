"""The fault proxy the chaos tier puts in front of Redis and Kafka: it forwards, cuts,
holds (blackhole), delays and heals, as its tests and its users rely on."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest

from tests.support.fault_proxy import FaultProxy, ProxyMode, running_in_thread


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A server that sends back every byte it gets."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
async def proxy(echo_port: int) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", echo_port) as running:
        yield running


async def connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), 2)


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True when the connection ends (EOF or reset) within 2 s."""
    try:
        return await asyncio.wait_for(reader.read(1), 2) == b""
    except (ConnectionError, asyncio.IncompleteReadError):
        return True


async def test_bytes_flow_both_ways_through_the_proxy(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    assert await roundtrip(reader, writer, b"hello") == b"hello"
    assert proxy.open_connections == 1
    writer.close()


async def test_a_cut_drops_open_connections_and_every_new_one_until_healed(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    assert await roundtrip(reader, writer, b"before") == b"before"
    proxy.cut()
    assert proxy.mode is ProxyMode.CUT
    assert await closed_by_peer(reader)
    new_reader, _ = await connect(proxy)  # accepted by the kernel, then reset by the proxy
    assert await closed_by_peer(new_reader)
    proxy.heal()
    reader, writer = await connect(proxy)
    assert await roundtrip(reader, writer, b"after") == b"after"
    writer.close()


async def test_a_blackhole_holds_bytes_and_connections_and_delivers_them_when_healed(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    proxy.blackhole()
    writer.write(b"lost?")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(5), 0.5)
    held_reader, held_writer = await connect(proxy)  # a new connection is accepted, and held too
    held_writer.write(b"held")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(held_reader.readexactly(4), 0.3)
    proxy.heal()
    # Like TCP after a partition heals: nothing was lost, only late.
    assert await asyncio.wait_for(reader.readexactly(5), 2) == b"lost?"
    assert await asyncio.wait_for(held_reader.readexactly(4), 2) == b"held"
    writer.close()
    held_writer.close()


async def test_latency_delays_each_way_and_heal_keeps_it(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    proxy.latency(150)
    started = time.monotonic()
    assert await roundtrip(reader, writer, b"slow") == b"slow"
    assert time.monotonic() - started >= 0.3  # 150 ms there, 150 ms back
    proxy.latency(0)
    assert await roundtrip(reader, writer, b"fast") == b"fast"
    writer.close()


async def test_a_dead_upstream_drops_the_client_connection(proxy: FaultProxy) -> None:
    proxy.upstream = ("127.0.0.1", 1)  # nothing listens there
    reader, _ = await connect(proxy)
    assert await closed_by_peer(reader)


async def test_in_a_thread_of_its_own_it_is_controlled_from_another_thread(echo_port: int) -> None:
    def client(proxy: FaultProxy) -> None:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
            sock.sendall(b"ping")
            assert sock.recv(4) == b"ping"
            proxy.cut()  # from this thread, applied on the proxy's
            with contextlib.suppress(ConnectionResetError):  # a reset, or an EOF: either way, closed
                assert sock.recv(4) == b""
        proxy.heal()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
            sock.sendall(b"pong")
            assert sock.recv(4) == b"pong"

    with running_in_thread(FaultProxy("127.0.0.1", echo_port)) as proxy:
        # A blocking client in a worker thread: this test's loop keeps serving the echo upstream.
        await asyncio.to_thread(client, proxy)
