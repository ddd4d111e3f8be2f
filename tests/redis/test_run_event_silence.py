"""The Redis run-event channel when Redis goes silent (a half-open connection, a paused
server) rather than away: publishes and listeners fail within their bounds, as an outage
of Redis, instead of waiting on a connection that will never answer."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from agent_common.resilience import Outage, OutageTooLong
from agent_common.run_events.redis import RedisRunEventChannel
from agent_common.settings import RedisSettings
from agent_common.transports.redis import redis_client
from tests.redis.channel_helpers import WAIT_S, new_rid, token

pytestmark = pytest.mark.redis


class SilentProxy:
    """Redis behind a relay that, once `silent` is set, stops passing its answers on (a
    half-open connection, a paused server); what clients send still reaches Redis."""

    def __init__(self, redis_url: str) -> None:
        self.upstream = httpx.URL(redis_url)
        self.silent = asyncio.Event()
        self.sent = bytearray()  # what clients sent while Redis was silent
        self.url = ""
        self._pipes: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SilentProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"
        return self

    async def __aexit__(self, *_: object) -> None:
        for writer in self._pipes:
            writer.close()
        if self._server is not None:
            self._server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answers: bool) -> None:
        while data := await reader.read(65536):
            if self.silent.is_set():
                if answers:
                    continue  # swallowed: the client waits for an answer that never comes
                self.sent += data
            writer.write(data)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        redis_reader, redis_writer = await asyncio.open_connection(self.upstream.host, self.upstream.port)
        self._pipes.extend((client_writer, redis_writer))
        await asyncio.gather(
            self._pipe(client_reader, redis_writer, answers=False),
            self._pipe(redis_reader, client_writer, answers=True),
            return_exceptions=True,
        )


async def test_a_redis_that_goes_silent_fails_every_waiting_publish_within_its_bound(redis_url: str) -> None:
    """The publish out and those queued behind it fail within a bound set by
    REDIS_SOCKET_TIMEOUT_S and REDIS_RIDE_THROUGH_S, as an outage of Redis, rather than hold
    every run of the process for ever."""
    async with SilentProxy(redis_url) as proxy:
        settings = RedisSettings(url=proxy.url, socket_timeout_s=0.3, ride_through_s=0.5)
        client = redis_client(settings)
        assert client is not None
        channel = RedisRunEventChannel(client)
        try:
            assert (await channel.publish(token(new_rid(), "before"))).seq == 1
            proxy.silent.set()
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(channel.publish(token(new_rid(), "x")) for _ in range(10)), return_exceptions=True),
                WAIT_S,
            )
            assert all(isinstance(o, OutageTooLong) and o.outage is Outage.REDIS for o in outcomes), outcomes
        finally:
            await client.aclose()


async def test_a_listener_whose_subscriber_connection_goes_silent_is_ended_within_its_bound(
    redis_url: str, publisher: RedisRunEventChannel
) -> None:
    """The subscriber connection quiet for a health-check interval is sent a PING; unanswered
    by the next one, it is lost since the PING, and the listeners end with `redis_unavailable`
    once the outage bound has passed since then: never left waiting on a dead connection."""
    health_s, bound_s = 0.3, 0.5
    async with SilentProxy(redis_url) as proxy:
        # The platform's client: a listener re-reading the buffer when its connection is lost
        # waits for that read as long as any command does (the socket timeout, ridden through).
        settings = RedisSettings(url=proxy.url, socket_timeout_s=0.3, ride_through_s=bound_s)
        client = redis_client(settings)
        assert client is not None
        channel = RedisRunEventChannel(client, health_check_s=health_s, outage_bound_s=bound_s)
        await channel.start()
        try:
            rid = new_rid()
            async with channel.listen(rid) as events:
                stream = aiter(events)
                await publisher.publish(token(rid, "live"))  # past the buffer's read: waiting on live events
                assert (await asyncio.wait_for(anext(stream), WAIT_S)).seq == 1
                proxy.silent.set()
                started = asyncio.get_running_loop().time()
                with pytest.raises(OutageTooLong) as caught:
                    await asyncio.wait_for(anext(stream), WAIT_S)
                took = asyncio.get_running_loop().time() - started
            assert caught.value.outage is Outage.REDIS
            assert b"PING" in bytes(proxy.sent).upper()  # asked before it was given up on
            detected_s = 2 * health_s  # quiet for an interval, then the PING's
            assert took <= detected_s + bound_s + settings.socket_timeout_s + settings.ride_through_s + 1.0, took
        finally:
            await channel.stop()
            await client.aclose()
