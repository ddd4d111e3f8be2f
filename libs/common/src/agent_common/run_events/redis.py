"""Run events over Redis: a replay buffer plus pub/sub, one channel per request.

The keys of one request share a hash tag, so they sit on one Redis Cluster slot:

- `run:{<request_id>}:seq`     the last sequence number given out (INCR);
- `run:{<request_id>}:events`  the replay buffer: frames `"<seq> <json>"`, capped, with a TTL;
- `run:{<request_id>}:live`    the pub/sub channel the same frames are published on.

Publishing is ONE Lua script (INCR, RPUSH, LTRIM, EXPIRE, PUBLISH), so seq order,
buffer order and publish order are the same, even when two orchestrator replicas
publish for one request. It returns the seq and PUBLISH's count of subscribers,
which is how the publisher learns whether anybody still hears the run (`audience`).
Its calls are group-committed (`group_commit.py`):
what the process's runs publish while one call is out goes next as one pipeline.
Each run has one publish at a time in flight (its `TokenStream`), so batching
never reorders a run's events.

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
import logging
import math
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
from agent_common.events import RunEvent, is_terminal, parse_run_event
from agent_common.run_events.base import RunEventChannel, SequenceTracker
from agent_common.run_events.group_commit import GroupCommittedScript
from agent_common.tasks import stop_task

log = logging.getLogger("agent.run_events")

# KEYS: seq, events. ARGV: json, cap, ttl_s, floor, channel.
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[4])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
end
local frame = seq .. ' ' .. ARGV[1]
redis.call('RPUSH', KEYS[2], frame)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local heard = redis.call('PUBLISH', ARGV[5], frame)
return {seq, heard}
"""

# KEYS: seq. ARGV: floor, ttl_s. Puts back a counter a restart without persistence lost.
_RESTORE_SEQ = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return current
"""

_QUEUE_SIZE = 1024  # per listener; beyond it the listener re-reads the buffer instead
_FLOORS_KEPT = 10_000  # requests whose highest seq this process remembers
_MIN_BACKOFF_S, _MAX_BACKOFF_S = 0.05, 2.0
_RETRY_READ_S = 0.5  # a listener whose buffer read failed tries again after this
_WAKE = object()  # queue item: look at the listener's flags


def _seq_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:seq"


def _events_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:events"


def _live_key(request_id: str) -> str:
    return f"run:{{{request_id}}}:live"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_frame(raw: bytes | str) -> RunEvent:
    data = raw.encode() if isinstance(raw, str) else raw
    head, sep, body = data.partition(b" ")
    if not sep or not head.isdigit():
        raise ValueError("not a run-event frame")
    return parse_run_event(body).model_copy(update={"seq": int(head)})


class _Listener:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(_QUEUE_SIZE)
        self.resync = True  # read the buffer (again) before going on: first what came before us
        self.closed = False

    def put(self, event: RunEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.resync = True  # the buffer has what did not fit

    def poke(self, *, closed: bool = False) -> None:
        self.resync = True
        self.closed = self.closed or closed
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(_WAKE)


class _Sub:
    """One request's subscription, shared by every listener of that request."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.listeners: set[_Listener] = set()
        self.confirmed = asyncio.Event()
        self.ever_confirmed = False
        self.sent_on: AbstractConnection | None = None


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
    ) -> None:
        self._redis = redis
        self._buffer_size = buffer_size
        self._ttl_s = max(1, math.ceil(ttl_s))
        self._subscribe_timeout_s = subscribe_timeout_s
        self._health_check_s = health_check_s
        # redis-py's pool refuses (MaxConnectionsError) rather than waits beyond its
        # size (100 by default): 1,000 listeners re-reading at once must queue here.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._publish = GroupCommittedScript(redis, _PUBLISH, self._in_flight)
        self._restore = redis.register_script(_RESTORE_SEQ)
        self._floors: OrderedDict[str, int] = OrderedDict()
        # Subscribers the latest publish of each recent request reached (PUBLISH's count).
        self._heard: OrderedDict[str, int] = OrderedDict()
        self._subs: dict[str, _Sub] = {}  # live channel name -> subscription
        self._pending: dict[str, deque[_Sub]] = {}  # SUBSCRIBEs sent, not yet confirmed, in order
        self._conn: AbstractConnection | None = None  # the reader's, while it is usable
        self._lock = asyncio.Lock()  # orders every write on the reader's connection
        self._task: asyncio.Task[None] | None = None

    # -- publishing and reading the buffer ---------------------------------

    async def publish(self, event: RunEvent) -> RunEvent:
        rid = event.request_id
        keys = [_seq_key(rid), _events_key(rid)]
        args: list[str | int] = [
            event.sse_data(),
            self._buffer_size,
            self._ttl_s,
            self._floors.get(rid, 0),
            _live_key(rid),
        ]
        seq, heard = (int(value) for value in await self._publish(keys, args))
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
            counts = await self._redis.pubsub_numsub(_live_key(request_id))
        return int(counts[0][1]) if counts else 0

    async def replay(self, request_id: str, after_seq: int = 0) -> list[RunEvent]:
        events: list[RunEvent] = []
        async with self._in_flight:
            frames = await self._redis.lrange(_events_key(request_id), 0, -1)
        for raw in frames:
            try:
                event = _parse_frame(raw)
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
        except (RedisError, OSError):
            return False
        # A started channel also needs its subscriber connection to hear events.
        return ok and (self._task is None or self._conn is not None)

    # -- listening ----------------------------------------------------------

    @asynccontextmanager
    async def listen(self, request_id: str, after_seq: int = 0) -> AsyncIterator[AsyncIterator[RunEvent]]:
        if self._task is None:
            raise RuntimeError("RedisRunEventChannel.listen() needs start() first")
        listener = _Listener()
        channel = _live_key(request_id)
        sub = self._subs.get(channel)
        if sub is None:
            sub = self._subs[channel] = _Sub(request_id)
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
            yield self._events(request_id, listener, after_seq)
        finally:
            await asyncio.shield(self._leave(sub, listener))

    async def _subscribe(self, channel: str, sub: _Sub) -> None:
        async with self._lock:
            conn = self._conn
            # Without a usable connection the reader subscribes it when it reconnects.
            if self._subs.get(channel) is sub and conn is not None and conn.is_connected and sub.sent_on is not conn:
                sub.sent_on = conn
                self._pending.setdefault(channel, deque()).append(sub)
                await self._send(conn, "SUBSCRIBE", channel)

    async def _leave(self, sub: _Sub, listener: _Listener) -> None:
        sub.listeners.discard(listener)
        channel = _live_key(sub.request_id)
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

    async def _events(self, request_id: str, listener: _Listener, after_seq: int) -> AsyncIterator[RunEvent]:
        tracker = SequenceTracker(after_seq)
        held: RunEvent | None = None  # a live event that showed a gap, kept until the buffer is read
        while True:
            if listener.closed:
                return
            if listener.resync:
                listener.resync = False
                try:
                    buffered = await self.replay(request_id, tracker.last)
                except (RedisError, OSError) as exc:
                    log.warning(
                        "could not read the run-event buffer (%s); retrying", exc, extra={"request_id": request_id}
                    )
                    listener.resync = True
                    await asyncio.sleep(_RETRY_READ_S)
                    continue
                if held is not None:
                    buffered.append(held)  # lost from the buffer too (a restart): take it as it is
                    held = None
                for event in buffered:
                    if tracker.accept(event):
                        yield event
                        if is_terminal(event):
                            return
                continue
            item = await listener.queue.get()
            if item is _WAKE:
                continue
            if tracker.is_gap(item):
                held = item
                listener.resync = True
                continue
            if tracker.accept(item):
                yield item
                if is_terminal(item):
                    return

    # -- the reader ----------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._read_forever(), name="run-events-subscriber")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
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
                backoff = _MIN_BACKOFF_S
                await self._read(conn)
            except Exception as exc:
                log.warning(
                    "run-event subscriber lost Redis (%s); reconnecting in %.2fs",
                    exc,
                    backoff,
                    exc_info=not isinstance(exc, (RedisError, OSError)),
                )
            finally:
                self._lost(conn)
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

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
                    await self._restore(keys=[_seq_key(rid)], args=[floor, self._ttl_s], client=pipe)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not restore run-event seq counters: %s", exc)

    async def _subscribe_all(self, conn: AbstractConnection) -> None:
        async with self._lock:
            self._conn = conn
            self._pending.clear()
            for channel, sub in self._subs.items():
                sub.sent_on = conn
                self._pending[channel] = deque([sub])
            if self._subs:
                await conn.send_command("SUBSCRIBE", *self._subs, check_health=False)

    def _lost(self, conn: AbstractConnection) -> None:
        if self._conn is conn:
            self._conn = None
        self._pending.clear()
        for sub in self._subs.values():
            sub.confirmed.clear()  # new listeners wait for the next confirmation

    async def _read(self, conn: AbstractConnection) -> None:
        pinged = False
        while True:
            message = await conn.read_response(timeout=self._health_check_s, push_request=True)
            if message is None:  # quiet: make sure the connection is still there
                if pinged:
                    raise RedisConnectionError("no answer to PING on the subscriber connection")
                pinged = True
                async with self._lock:
                    await conn.send_command("PING", check_health=False)
                continue
            pinged = False
            if isinstance(message, list) and len(message) >= 2:
                self._dispatch(_text(message[0]), _text(message[1]), message)

    def _dispatch(self, kind: str, channel: str, message: list[Any]) -> None:
        if kind == "message":
            sub = self._subs.get(channel)
            if sub is None:
                return
            try:
                event = _parse_frame(message[2])
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
