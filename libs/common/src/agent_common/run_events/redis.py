"""Run events over Redis: a replay buffer plus pub/sub, one channel per request.

How the events lie in Redis (keys, scripts, frames) is `redis_wire.py`.

Publishing is ONE Lua script (INCR, RPUSH, LTRIM, EXPIRE, PUBLISH), so seq order,
buffer order and publish order are the same, even when two orchestrator replicas
publish for one request. It returns the seq and PUBLISH's count of subscribers,
which is how the publisher learns whether anybody still hears the run (`audience`).

A publish is safe to send twice (riding through an outage of Redis does), and a run has
exactly one ending (`redis_wire.py`). On the process's client, publishes are batched with
its other commands (`transports/redis_multiplexed.py`); each run has one in flight at a time
(its `TokenStream`), so batching never reorders it.

Listening shares ONE pub/sub connection per channel object. A reader task owns
it, hands each frame to the queues of that request's listeners, pings it when it
is quiet, and reconnects with backoff when it drops. Every SUBSCRIBE the server
confirms after a reconnect makes that request's listeners read the buffer again,
so what pub/sub dropped in between is filled from the buffer; a gap in the live
seqs does the same.

A Redis that restarts with nothing on disk also forgets the seq counter. So the
channel remembers the highest seq it published or received for recent requests:
its publishes never let the counter restart below that, and after a reconnect it
puts back the counters of the requests it listens to, so the numbering clients
resume from (`Last-Event-ID`) stays monotonic and listeners do not discard the
new events as repeats. (The buffered events themselves are gone with the restart.)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from agent_common.errors import ErrorCode, PlatformError
from agent_common.events import RunEvent, is_terminal
from agent_common.resilience.outages import Outage, OutageTooLong
from agent_common.run_events.base import RunEventChannel
from agent_common.run_events.redis_listeners import Listener, Subscription, events_of
from agent_common.run_events.redis_wire import (
    PUBLISH,
    RESTORE_SEQ,
    events_key,
    live_key,
    parse_frame,
    publishes_key,
    seq_key,
    text_of,
)
from agent_common.tasks import stop_task

log = logging.getLogger("agent.run_events")

_FLOORS_KEPT = 10_000  # requests whose highest seq this process remembers
# Reconnecting every quarter second at most: a Redis back at 4.1 s of a 5 s bound must be heard
# before the bound, and once back after a longer outage, at once (a refused connect costs nothing).
_MIN_BACKOFF_S, _RIDING_BACKOFF_S = 0.05, 0.25


class _Heard:
    """Whether the subscriber connection has had a message since the watch last looked."""

    __slots__ = ("yes",)

    def __init__(self) -> None:
        self.yes = False


class RedisRunEventChannel(RunEventChannel):
    def __init__(
        self,
        redis: Redis,
        *,
        buffer_size: int = 10_000,
        ttl_s: float = 600,
        subscribe_timeout_s: float = 10.0,
        health_check_s: float = 5.0,
        max_in_flight: int = 64,
        outage_bound_s: float | None = None,
    ) -> None:
        """`outage_bound_s`: how long listeners wait for a lost subscriber connection to come
        back before their iteration raises `OutageTooLong` (None: as long as it takes)."""
        self._redis = redis
        self._buffer_size = buffer_size
        self._ttl_s = max(1, math.ceil(ttl_s))
        self._subscribe_timeout_s = subscribe_timeout_s
        self._health_check_s = health_check_s
        # redis-py's pool refuses (MaxConnectionsError) rather than waits beyond its
        # size (100 by default): 1,000 listeners re-reading at once must queue here.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._publish = redis.register_script(PUBLISH)
        self._publisher = uuid.uuid4().hex[:12]  # this process, to the publish script
        self._publish_numbers = itertools.count(1)
        self._restore = redis.register_script(RESTORE_SEQ)
        self._floors: OrderedDict[str, int] = OrderedDict()
        # Subscribers the latest publish of each recent request reached (PUBLISH's count).
        self._heard: OrderedDict[str, int] = OrderedDict()
        self._subs: dict[str, Subscription] = {}  # live channel name -> subscription
        self._pending: dict[str, deque[Subscription]] = {}  # SUBSCRIBEs sent, not yet confirmed, in order
        self._conn: AbstractConnection | None = None  # the reader's, while it is usable
        self._lock = asyncio.Lock()  # orders every write on the reader's connection
        self._task: asyncio.Task[None] | None = None
        self._outage_bound_s = outage_bound_s
        self._down_since: float | None = None  # since when the reader has had no usable connection
        self._give_up: asyncio.TimerHandle | None = None
        self._gave_up = False  # down longer than the bound: listeners raise `OutageTooLong`
        self._back_again = asyncio.Event()  # set when the subscriber is back after giving up

    # -- publishing and reading the buffer ---------------------------------

    async def publish(self, event: RunEvent) -> RunEvent:
        rid = event.request_id
        keys = [seq_key(rid), events_key(rid), publishes_key(rid)]
        args: list[str | int] = [
            event.sse_data(),
            self._buffer_size,
            self._ttl_s,
            self._floors.get(rid, 0),
            live_key(rid),
            self._publisher,
            next(self._publish_numbers),  # numbered as called, and a run awaits each
            1 if is_terminal(event) else 0,
        ]
        seq, heard = (int(value) for value in await self._publish(keys=keys, args=args))
        self._note(rid, seq)
        self._heard[rid] = heard
        self._heard.move_to_end(rid)
        if len(self._heard) > _FLOORS_KEPT:
            self._heard.popitem(last=False)
        return event.model_copy(update={"seq": seq})

    async def audience(self, request_id: str) -> int:
        heard = self._heard.get(request_id)
        if heard is not None:
            return heard
        # Published elsewhere (another replica ran the step before): ask who is subscribed now.
        async with self._in_flight:
            counts = await self._redis.pubsub_numsub(live_key(request_id))
        return int(counts[0][1]) if counts else 0

    async def replay(self, request_id: str, after_seq: int = 0) -> list[RunEvent]:
        events: list[RunEvent] = []
        async with self._in_flight:
            frames = await self._redis.lrange(events_key(request_id), 0, -1)
        for raw in frames:
            try:
                event = parse_frame(raw)
            except ValueError:
                log.warning("skipping an unreadable run-event frame", extra={"request_id": request_id})
                continue
            if event.seq > after_seq:
                events.append(event)
        if events:
            self._note(request_id, events[-1].seq)
        return events

    def _note(self, request_id: str, seq: int) -> None:
        if seq > self._floors.get(request_id, 0):
            self._floors[request_id] = seq
            self._floors.move_to_end(request_id)
            if len(self._floors) > _FLOORS_KEPT:
                self._floors.popitem(last=False)

    async def ping(self) -> bool:
        try:
            ok = bool(await self._redis.ping())
        except (RedisError, OSError, OutageTooLong):
            return False
        # A started channel also needs its subscriber connection to hear events.
        return ok and (self._task is None or self._conn is not None)

    # -- listening ----------------------------------------------------------

    @asynccontextmanager
    async def listen(
        self, request_id: str, after_seq: int = 0, *, fresh: bool = False
    ) -> AsyncIterator[AsyncIterator[RunEvent]]:
        if self._task is None:
            raise RuntimeError("RedisRunEventChannel.listen() needs start() first")
        if self._gave_up:
            # Redis may be back already, the subscriber a reconnect away (a quarter second at most).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_RIDING_BACKOFF_S + 0.05):
                    await self._back_again.wait()
        self._raise_if_gave_up()
        listener = Listener()
        listener.resync = not fresh  # a fresh run's buffer is empty: one round trip saved a request
        channel = live_key(request_id)
        sub = self._subs.get(channel)
        if sub is None:
            sub = self._subs[channel] = Subscription(request_id)
        sub.listeners.add(listener)
        try:
            # Shielded, as is leaving: a caller cancelled halfway through a write would
            # make redis-py drop the connection every listener shares.
            await asyncio.shield(self._subscribe(channel, sub))
            try:
                async with asyncio.timeout(self._subscribe_timeout_s):
                    await sub.confirmed.wait()
            except TimeoutError:
                raise PlatformError(
                    ErrorCode.INFRA_UNAVAILABLE, "Run events are unavailable: Redis did not confirm the subscription."
                ) from None
            self._raise_if_gave_up()
            yield self._events(request_id, listener, after_seq)
        finally:
            await asyncio.shield(self._leave(sub, listener))

    async def _subscribe(self, channel: str, sub: Subscription) -> None:
        async with self._lock:
            conn = self._conn
            # Without a usable connection the reader subscribes it when it reconnects.
            if self._subs.get(channel) is sub and conn is not None and conn.is_connected and sub.sent_on is not conn:
                sub.sent_on = conn
                self._pending.setdefault(channel, deque()).append(sub)
                await self._send(conn, "SUBSCRIBE", channel)

    async def _leave(self, sub: Subscription, listener: Listener) -> None:
        sub.listeners.discard(listener)
        channel = live_key(sub.request_id)
        if sub.listeners or self._subs.get(channel) is not sub:
            return
        del self._subs[channel]
        async with self._lock:
            conn = self._conn
            if conn is not None and conn.is_connected and sub.sent_on is conn:
                await self._send(conn, "UNSUBSCRIBE", channel)

    async def _send(self, conn: AbstractConnection, *args: Any) -> None:
        """Write on the reader's connection (holding the lock); a failure is the reader's to handle."""
        try:
            await conn.send_command(*args, check_health=False)
        except (RedisError, OSError) as exc:
            log.debug("run-event subscriber write failed: %s", exc)

    def _raise_if_gave_up(self) -> None:
        if self._gave_up and self._outage_bound_s is not None:
            raise OutageTooLong(Outage.REDIS, self._outage_bound_s)

    def _events(self, request_id: str, listener: Listener, after_seq: int) -> AsyncIterator[RunEvent]:
        return events_of(listener, request_id, after_seq, self.replay, lambda: self._gave_up, self._raise_if_gave_up)

    # -- the reader ----------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._read_forever(), name="run-events-subscriber")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        self._back()
        for sub in self._subs.values():
            sub.confirmed.set()
            for listener in sub.listeners:
                listener.poke(closed=True)

    async def _read_forever(self) -> None:
        backoff = _MIN_BACKOFF_S
        outage = False
        while True:
            # A connection of our own, without redis-py's hidden retries: a silent
            # reconnect would re-subscribe behind our back and hide lost events.
            conn = self._redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            conn.retry = Retry(NoBackoff(), 0)
            conn.health_check_interval = 0
            try:
                await conn.connect()
                if outage:
                    await self._after_outage()
                outage = True
                await self._subscribe_all(conn)
                self._back()
                backoff = _MIN_BACKOFF_S
                await self._read(conn)
            except Exception as exc:
                expected = isinstance(exc, (RedisError, OSError))
                # Said once per outage (and once when it is over, `_back`): retried every quarter
                # second, a partition would otherwise fill the logs.
                log.log(
                    logging.WARNING if self._down_since is None or not expected else logging.DEBUG,
                    "run-event subscriber lost Redis (%s); reconnecting in %.2fs",
                    exc,
                    backoff,
                    exc_info=not expected,
                )
            finally:
                self._lost(conn)
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RIDING_BACKOFF_S)

    async def _after_outage(self) -> None:
        """Redis may have restarted: drop idle pooled connections that predate it (each
        would fail once), and put back the seq counters of the requests we follow."""
        await self._redis.connection_pool.disconnect(inuse_connections=False)
        floors = [(s.request_id, f) for s in self._subs.values() if (f := self._floors.get(s.request_id, 0))]
        if not floors:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for rid, floor in floors:
                    await self._restore(keys=[seq_key(rid)], args=[floor, self._ttl_s], client=pipe)
                await pipe.execute()
        except (RedisError, OSError, OutageTooLong) as exc:
            log.warning("could not restore run-event seq counters: %s", exc)

    async def _subscribe_all(self, conn: AbstractConnection) -> None:
        async with self._lock:
            self._conn = conn
            self._pending.clear()
            for channel, sub in self._subs.items():
                sub.sent_on = conn
                sub.confirmed.clear()  # set while the channel had given up
                self._pending[channel] = deque([sub])
            if self._subs:
                await conn.send_command("SUBSCRIBE", *self._subs, check_health=False)

    def _lost(self, conn: AbstractConnection, *, since: float | None = None) -> None:
        if self._conn is conn:
            self._conn = None
        self._pending.clear()
        for sub in self._subs.values():
            sub.confirmed.clear()  # new listeners wait for the next confirmation
        if self._down_since is None:
            loop = asyncio.get_running_loop()
            self._down_since = since if since is not None else loop.time()
            if self._outage_bound_s is not None:
                delay = max(0.0, self._down_since + self._outage_bound_s - loop.time())
                self._give_up = loop.call_later(delay, self._giving_up)

    def _back(self) -> None:
        """Subscribed again: Redis is back, whatever the listeners that gave up were told."""
        if self._down_since is not None:
            away_s = asyncio.get_running_loop().time() - self._down_since
            log.info("run-event subscriber has Redis back after %.1fs", away_s, extra={"away_s": round(away_s, 3)})
        self._down_since = None
        self._gave_up = False
        self._back_again.set()
        if self._give_up is not None:
            self._give_up.cancel()
            self._give_up = None

    def _giving_up(self) -> None:
        """Redis has been away for the bound: every listener's iteration raises `OutageTooLong`
        now, rather than wait for the client's deadline; listeners waiting for their subscription
        to be confirmed wake up to raise it too. The reader goes on reconnecting."""
        self._give_up = None
        self._gave_up = True
        self._back_again.clear()
        log.warning("run-event subscriber lost Redis for longer than %gs; ending its listeners", self._outage_bound_s)
        for sub in self._subs.values():
            sub.confirmed.set()
            for listener in sub.listeners:
                listener.poke(outage=True)

    async def _read(self, conn: AbstractConnection) -> None:
        """Read the connection's messages until it is lost: broken, or silent past a PING.

        The silence is watched by a task of its own, not by a timeout on each read: a timeout
        a message was a timer made and cancelled per token of every stream (3.5 % of the
        gateway's CPU under load)."""
        heard = _Heard()
        reading = asyncio.create_task(self._read_messages(conn, heard), name="run-events-read")
        watching = asyncio.create_task(self._watch(conn, heard), name="run-events-watch")
        try:
            done, _ = await asyncio.wait((reading, watching), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reading, watching):
                task.cancel()
            await asyncio.gather(reading, watching, return_exceptions=True)
        for task in done:
            task.result()  # the reason it ended: raised

    async def _read_messages(self, conn: AbstractConnection, heard: _Heard) -> None:
        while True:
            message = await conn.read_response(timeout=math.inf, push_request=True)
            heard.yes = True
            if isinstance(message, list) and len(message) >= 2:
                self._dispatch(text_of(message[0]), text_of(message[1]), message)

    async def _watch(self, conn: AbstractConnection, heard: _Heard) -> None:
        """A connection quiet for a health-check interval is sent a PING; nothing read by the
        next one (a paused or unreachable Redis): lost since the PING went."""
        loop = asyncio.get_running_loop()
        pinged_at: float | None = None
        while True:
            heard.yes = False
            await asyncio.sleep(self._health_check_s)
            if heard.yes:
                pinged_at = None
                continue
            if pinged_at is not None:
                self._lost(conn, since=pinged_at)
                raise RedisConnectionError("no answer to PING on the subscriber connection")
            pinged_at = loop.time()
            async with self._lock:
                await conn.send_command("PING", check_health=False)

    def _dispatch(self, kind: str, channel: str, message: list[Any]) -> None:
        if kind == "message":
            sub = self._subs.get(channel)
            if sub is None:
                return
            try:
                event = parse_frame(message[2])
            except ValueError:
                log.warning("skipping an unreadable run-event frame", extra={"channel": channel})
                return
            self._note(sub.request_id, event.seq)
            for listener in sub.listeners:
                listener.put(event)
        elif kind == "subscribe":
            pending = self._pending.get(channel)
            owner = pending.popleft() if pending else None
            if pending is not None and not pending:
                del self._pending[channel]
            sub = self._subs.get(channel)
            if owner is None or owner is not sub:
                return  # confirms a subscription since left
            if sub.ever_confirmed:  # re-subscribed after a reconnect: events may have been lost
                for listener in sub.listeners:
                    listener.poke()
            sub.ever_confirmed = True
            sub.confirmed.set()
