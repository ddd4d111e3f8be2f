"""Submitting a chat turn and following its run's events.

The order matters: subscribe to the run's events, then publish the request, so
no event can be sent before anyone listens. The run itself never depends on
the client: if the client goes away, the run still finishes and is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from agent_common.bus import Bus
from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import RunEvent, is_terminal
from agent_common.fallback import Language, language_of
from agent_common.ids import new_id
from agent_common.messages import ChatRequested
from agent_common.run_events import RunEventChannel, end_run, failure
from agent_gateway.auth import Caller

log = logging.getLogger("agent.gateway")


class RunClient:
    def __init__(self, bus: Bus, events: RunEventChannel, timeout_s: float) -> None:
        self._bus = bus
        self._events = events
        self._timeout_s = timeout_s

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
            deadline_at=time.time() + self._timeout_s,
            tenant=caller.tenant,
        )

    async def submit(self, request: ChatRequested) -> AsyncGenerator[RunEvent, None]:
        """Publish `request` and yield its run's events, ending with `done` or `error`."""
        language = language_of(request.message, request.locale)
        async for event in self._ending_guaranteed(request.request_id, self._submit(request, language), language):
            yield event

    async def _submit(self, request: ChatRequested, language: Language) -> AsyncGenerator[RunEvent, None]:
        async with self._events.listen(request.request_id) as events:
            try:
                await self._bus.publish(request)
            except Exception:
                log.exception("could not publish the chat request")
                unavailable = ErrorInfo.of(
                    ErrorCode.INFRA_UNAVAILABLE, "The platform is not accepting requests right now."
                )
                yield await self._end_with(request.request_id, unavailable, language)
                return
            async for event in self._until_deadline(request.request_id, events, request.deadline_at, language):
                yield event

    async def follow(
        self, request_id: str, after_seq: int, locale: str | None = None
    ) -> AsyncGenerator[RunEvent, None]:
        """Rejoin a run's events after `after_seq` (a reconnect with Last-Event-ID)."""
        language = language_of(None, locale)
        async for event in self._ending_guaranteed(request_id, self._follow(request_id, after_seq, language), language):
            yield event

    async def _follow(self, request_id: str, after_seq: int, language: Language) -> AsyncGenerator[RunEvent, None]:
        async with self._events.listen(request_id, after_seq) as events:
            async for event in self._until_deadline(request_id, events, time.time() + self._timeout_s, language):
                yield event

    async def _ending_guaranteed(
        self, request_id: str, events: AsyncGenerator[RunEvent, None], language: Language
    ) -> AsyncGenerator[RunEvent, None]:
        """Whatever fails underneath (Redis gone while subscribing, say), the stream ends
        with exactly one terminal event, never a response cut off in the middle."""
        ended = partial = False
        try:
            async with aclosing(events):
                async for event in events:
                    ended = ended or is_terminal(event)
                    partial = partial or event.type == "token"
                    yield event
        except Exception:
            if ended:  # the client has its ending; only the clean-up failed
                log.warning("could not close the run's event stream", exc_info=True)
                return
            log.exception("lost the run's events")
            lost = ErrorInfo.of(ErrorCode.INFRA_UNAVAILABLE, "The answer's stream was lost; please try again.")
            yield await self._end_with(request_id, lost, language, partial=partial)

    async def exists(self, request_id: str) -> bool:
        return bool(await self._events.replay(request_id))

    async def _until_deadline(
        self, request_id: str, events: AsyncIterator[RunEvent], deadline_at: float, language: Language
    ) -> AsyncIterator[RunEvent]:
        saw_tokens = False
        iterator = aiter(events)
        while True:
            remaining = deadline_at - time.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                # A timeout, not `wait_for`: on Python 3.11 that starts a task for every event.
                async with asyncio.timeout(remaining):
                    event = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                yield await self._end_with(
                    request_id,
                    ErrorInfo.of(ErrorCode.INFRA_TIMEOUT, "The answer took too long; please try again in a moment."),
                    language,
                    partial=saw_tokens,
                )
                return
            except Exception:  # the event channel failed (Redis gone): the client still gets an ending
                log.exception("lost the run's events")
                yield await self._end_with(
                    request_id,
                    ErrorInfo.of(ErrorCode.INFRA_UNAVAILABLE, "The answer's stream was lost; please try again."),
                    language,
                    partial=saw_tokens,
                )
                return
            saw_tokens = saw_tokens or event.type == "token"
            yield event
            if is_terminal(event):
                return

    async def _end_with(self, request_id: str, error: ErrorInfo, language: Language, partial: bool = False) -> RunEvent:
        """End the client's stream with an error (and its fallback message), recorded in
        the run's buffer too so a client that reconnects sees the same ending
        (`agent_common.run_events.endings`, as the orchestrator ends runs)."""
        ending = failure(request_id, error, language, partial=partial)
        try:
            return await end_run(self._events, ending)
        except Exception:
            log.warning("could not record the error event", exc_info=True)
            return ending
