"""Submitting a chat turn and following its run's events.

The order matters: subscribe to the run's events, then publish the request, so
no event can be sent before anyone listens; and both before a streamed response's
head and first frames are written, so the run is on its way meanwhile (a lone
distributed request's first token about a millisecond sooner). The run itself
never depends on the client: if the client goes away, the run still finishes and
is kept.

One timeout, one cause: the run's deadline (`ChatRequested.deadline_at`) ends a
grace before the client's, so a run that ran out of time ends itself and says
why (`MODEL_TIMEOUT`, say), and the client sees that code. The gateway's own
`INFRA_TIMEOUT` comes only after the grace: the run really never answered.

An outage ends a run as soon as it outlasts its ride-through bound, with the error
that names it: a publish that fails past `BUS_RIDE_THROUGH_S`, or a run accepted
whose events never start while the bus stays unreachable that long (`BusHealth`)
and which no replica has claimed, ends with `bus_unavailable` (a claimed run is past
the bus: its events come over the event channel, and its replica ends it if it meets
the outage itself); the event channel failing ends it with the error it
raised (`redis_unavailable`). The ending is recorded in the run's buffer, so an
orchestrator that takes the request late finds the run ended and leaves it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from agent_common.bus import Bus, BusHealth
from agent_common.error_metrics import record_error
from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.events import RunEvent, is_terminal
from agent_common.fallback import Language, language_of
from agent_common.ids import new_id
from agent_common.messages import ChatRequested
from agent_common.resilience import Outage, OutageTooLong, outage_of
from agent_common.run_events import RunEventChannel, end_run, failure
from agent_common.run_store import RunClaims, chat_run_key
from agent_common.stream_deadline import StreamDeadline
from agent_gateway.auth import Caller

log = logging.getLogger("agent.gateway")

# How often a run waiting for its first event looks at the bus's health.
BUS_CHECK_S = 0.5


class RunClient:
    def __init__(
        self,
        bus: Bus,
        events: RunEventChannel,
        timeout_s: float,
        *,
        grace_s: float = 0.0,
        bus_health: BusHealth | None = None,
        bus_ride_through_s: float = 5.0,
        claims: RunClaims | None = None,
    ) -> None:
        self._bus = bus
        self._claims = claims
        self._events = events
        self._bus_health = bus_health
        self._bus_ride_through_s = bus_ride_through_s
        self._timeout_s = timeout_s
        # The run's ending has this long to arrive after its deadline; bounded so a short
        # request timeout still leaves the run most of it.
        self._grace_s = min(grace_s, timeout_s / 4)

    @property
    def retry_after_s(self) -> int:
        """What a client refused for an outage is told to wait (`Retry-After`): the bound it outlasted."""
        return max(1, math.ceil(self._bus_ride_through_s))

    def new_request(
        self,
        caller: Caller,
        message: str,
        session_id: str | None,
        locale: str | None,
        *,
        request_id: str | None = None,
    ) -> ChatRequested:
        return ChatRequested(
            request_id=request_id or new_id("req_"),
            session_id=session_id or new_id("ses_"),
            user_id=caller.user_id,
            message=message,
            locale=locale,
            deadline_at=time.time() + self._timeout_s - self._grace_s,
            tenant=caller.tenant,
            key_id=caller.key_id,
        )

    async def submit(self, request: ChatRequested) -> AsyncGenerator[RunEvent, None]:
        """Publish `request` now and return its run's events, ending with `done` or `error`.

        When this returns, the request is on the bus, or the ending that says why it is not is the
        first event. The events' subscription is closed with the generator returned, or, if that is
        never read, when it is dropped (asyncio closes an async generator it finalizes)."""
        language = language_of(request.message, request.locale)
        events = self._ending_guaranteed(request.request_id, self._submit(request, language), language)
        try:
            first = await anext(events)  # the subscription, the publish: `PUBLISHED`, or the ending
        except BaseException:
            await events.aclose()
            raise
        return _resumed(first, events)

    async def _submit(self, request: ChatRequested, language: Language) -> AsyncGenerator[RunEvent | Published, None]:
        # Fresh: the request is published only once the subscription is live, so no event precedes it.
        async with self._events.listen(request.request_id, fresh=True) as events:
            try:
                await self._bus.publish(request)
            except Exception as exc:
                log.exception("could not publish the chat request")
                unavailable = _ending_for(exc, "The platform is not accepting requests right now.")
                yield await self._end_with(request.request_id, unavailable, language)
                return
            yield PUBLISHED
            waits_until = request.deadline_at + self._grace_s
            claim_key = chat_run_key(request.message_id)
            async for event in self._until_deadline(
                request.request_id, events, waits_until, language, claim_key=claim_key
            ):
                yield event

    async def follow(
        self, request_id: str, after_seq: int, locale: str | None = None
    ) -> AsyncGenerator[RunEvent, None]:
        """Rejoin a run's events after `after_seq` (a reconnect with Last-Event-ID)."""
        language = language_of(None, locale)
        async for event in self._ending_guaranteed(request_id, self._follow(request_id, after_seq, language), language):
            if not isinstance(event, Published):  # none: only a submission publishes
                yield event

    async def _follow(self, request_id: str, after_seq: int, language: Language) -> AsyncGenerator[RunEvent, None]:
        async with self._events.listen(request_id, after_seq) as events:
            async for event in self._until_deadline(request_id, events, time.time() + self._timeout_s, language):
                yield event

    async def _ending_guaranteed(
        self, request_id: str, events: AsyncGenerator[RunEvent | Published, None], language: Language
    ) -> AsyncGenerator[RunEvent | Published, None]:
        """Whatever fails underneath (Redis gone while subscribing, say), the stream ends
        with exactly one terminal event, never a response cut off in the middle."""
        ended = partial = False
        try:
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, Published):
                        yield event
                        continue
                    ended = ended or is_terminal(event)
                    partial = partial or event.type == "token"
                    yield event
        except Exception as exc:
            if ended:  # the client has its ending; only the clean-up failed
                log.warning("could not close the run's event stream", exc_info=True)
                return
            log.exception("lost the run's events")
            yield await self._end_with(request_id, _ending_for(exc, STREAM_LOST), language, partial=partial)

    async def exists(self, request_id: str) -> bool:
        return bool(await self._events.replay(request_id))

    async def _until_deadline(
        self,
        request_id: str,
        events: AsyncIterator[RunEvent],
        deadline_at: float,
        language: Language,
        *,
        claim_key: str | None = None,
    ) -> AsyncIterator[RunEvent]:
        """`claim_key`: the run's, while its request may still be waiting on the bus (until its first event)."""
        saw_tokens = False
        iterator = aiter(events)
        waiting_on_bus = claim_key is not None and self._bus_health is not None
        # One timer for the stream's deadline, not a timeout per event (`stream_deadline.py`).
        with StreamDeadline(asyncio.get_running_loop().time() + deadline_at - time.time()) as deadline:
            while True:
                try:
                    if waiting_on_bus and claim_key is not None:
                        event = await self._first_event(iterator, deadline_at, claim_key)
                        waiting_on_bus = False
                    else:
                        event = await deadline.read(iterator)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    yield await self._end_with(
                        request_id,
                        ErrorInfo.of(
                            ErrorCode.INFRA_TIMEOUT, "The answer took too long; please try again in a moment."
                        ),
                        language,
                        partial=saw_tokens,
                    )
                    return
                except Exception as exc:  # the event channel failed (Redis gone), or the bus stayed away
                    log.warning("lost the run's events", exc_info=not isinstance(exc, OutageTooLong))
                    yield await self._end_with(request_id, _ending_for(exc, STREAM_LOST), language, partial=saw_tokens)
                    return
                saw_tokens = saw_tokens or event.type == "token"
                yield event
                if is_terminal(event):
                    return

    async def _first_event(self, iterator: AsyncIterator[RunEvent], deadline_at: float, claim_key: str) -> RunEvent:
        """The run's first event; `OutageTooLong` (bus) if the bus is unreachable for longer than it
        rides through before one comes and no replica has claimed the request: nothing can take it
        until the broker is back. A claimed one is left to its deadline (a replica holds it, in a
        slow model call say; the outage is its replica's to meet)."""
        health = self._bus_health
        if health is None:
            raise RuntimeError("the run's first event is watched only with the bus's health")
        nxt: asyncio.Future[RunEvent] = asyncio.ensure_future(anext(iterator))
        claimed = False
        try:
            with health.watching():
                while True:
                    remaining = deadline_at - time.time()
                    if remaining <= 0:
                        raise TimeoutError
                    # `asyncio.wait`, not a timeout: the wait for the event must go on, uncancelled.
                    done, _ = await asyncio.wait({nxt}, timeout=min(remaining, BUS_CHECK_S))
                    if done:
                        return nxt.result()
                    if not claimed and health.unreachable_for() > self._bus_ride_through_s:
                        claimed = await self._claimed(claim_key)
                        if not claimed:
                            raise OutageTooLong(Outage.BUS, self._bus_ride_through_s)
        finally:
            if not nxt.done():
                nxt.cancel()
                await asyncio.wait({nxt})  # its generator is closed before the listener is

    async def _claimed(self, claim_key: str) -> bool:
        if self._claims is None:
            return False
        try:
            return await self._claims.claimed(claim_key)
        except Exception:  # the run store away too: nothing says a replica has it
            log.warning("could not ask whether the run was claimed", exc_info=True)
            return False

    async def _end_with(self, request_id: str, error: ErrorInfo, language: Language, partial: bool = False) -> RunEvent:
        """End the client's stream with an error (and its fallback message), recorded in
        the run's buffer too so a client that reconnects sees the same ending
        (`agent_common.run_events.endings`, as the orchestrator ends runs)."""
        ending = failure(request_id, error, language, partial=partial)
        # No orchestrator ends this run (none took it, or none is heard): counted here, or an outage
        # that keeps requests from the orchestrators would be invisible to the run error alerts.
        record_error(error, "run")
        try:
            return await end_run(self._events, ending)
        except Exception:
            log.warning("could not record the error event", exc_info=True)
            return ending


STREAM_LOST = "The answer's stream was lost; please try again."


class Published:
    """The point in a submission's events where its request is on the bus."""


PUBLISHED = Published()


async def _resumed(
    first: RunEvent | Published, events: AsyncGenerator[RunEvent | Published, None]
) -> AsyncGenerator[RunEvent, None]:
    """A submission's events after its start: `first` unless it marked the publish, then the rest."""
    async with aclosing(events):
        if not isinstance(first, Published):
            yield first
        async for event in events:
            if not isinstance(event, Published):
                yield event


def _ending_for(exc: BaseException, otherwise: str) -> ErrorInfo:
    """The error a run ends with after `exc`: its own when it has one (`redis_unavailable`
    from the event channel, `bus_unavailable` from a publish), else `INFRA_UNAVAILABLE`."""
    if isinstance(exc, PlatformError):
        return exc.info
    if (outage := outage_of(exc)) is not None:
        return ErrorInfo.of(ErrorCode.INFRA_UNAVAILABLE, otherwise, reason=outage.reason)
    return ErrorInfo.of(ErrorCode.INFRA_UNAVAILABLE, otherwise)
