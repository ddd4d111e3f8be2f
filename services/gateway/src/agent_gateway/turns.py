"""Admitting a chat turn, whichever API it came by (`/api/chat`, `/v1/chat/completions`):
the message's checks, in the caller's language, its budget, and the claims on its session and run."""

from __future__ import annotations

import logging

from fastapi import Request

from agent_common.errors import ErrorCode, PlatformError
from agent_common.ids import new_id
from agent_common.messages import ChatRequested
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.admission import check_budget
from agent_gateway.auth import Caller
from agent_gateway.localized import Localized
from agent_gateway.metrics import CHAT_REQUESTS
from agent_gateway.ownership import NOT_FOUND, NamedRun, Ownership
from agent_gateway.request_context import request_context
from agent_gateway.run_client import RunClient
from agent_gateway.schemas import ChatBody

log = logging.getLogger("agent.gateway")

MESSAGE_TOO_LONG = Localized(
    "The message is longer than {limit} characters.",
    "메시지가 {limit}자보다 깁니다.",
)
REQUEST_ID_USED = Localized(
    "This X-Request-ID was already used; send a new one, or none.",
    "이 X-Request-ID는 이미 사용되었습니다. 새 값을 보내거나 보내지 마세요.",
)
MESSAGE_BLANK = Localized(
    "The message is empty: it has only spaces or line breaks.",
    "메시지가 비어 있습니다: 공백이나 줄바꿈만 있습니다.",
)


def _check_not_blank(body: ChatBody, locale: str | None) -> None:
    # Enforced here rather than by the schema's validator, for a message in the caller's language.
    if body.message.isspace():
        record_security_event(SecurityEvent.INPUT_REJECTED, SecurityReason.INVALID_FIELDS)
        problem = MESSAGE_BLANK.for_locale(locale)
        raise PlatformError(ErrorCode.INPUT_INVALID, problem, fields=[{"field": "message", "problem": problem}])


def _check_length(body: ChatBody, request: Request, locale: str | None) -> None:
    limit: int = request.app.state.settings.max_message_chars
    if len(body.message) > limit:
        record_security_event(SecurityEvent.INPUT_REJECTED, SecurityReason.MESSAGE_TOO_LONG)
        raise PlatformError(
            ErrorCode.INPUT_TOO_LARGE, MESSAGE_TOO_LONG.for_locale(locale).format(limit=limit), limit=limit
        )


async def admit_turn(
    body: ChatBody, request: Request, caller: Caller, runs: RunClient, owners: Ownership, locale: str | None
) -> ChatRequested:
    """Checks a turn may start and claims its session and run for the caller."""
    _check_not_blank(body, locale)
    _check_length(body, request, locale)
    await check_budget(request, caller, locale)  # before any claim: a refused turn leaves nothing behind
    CHAT_REQUESTS.labels(caller.tenant, caller.method).inc()
    submitted = runs.new_request(
        caller, body.message, body.session_id, locale, request_id=request_context(request.scope).request_id
    )
    if not await owners.claim_session(submitted.session_id, caller, new=body.session_id is None):
        record_security_event(SecurityEvent.ACCESS_DENIED, SecurityReason.SESSION_NOT_OWNED, user_id=caller.user_id)
        raise PlatformError(ErrorCode.NOT_FOUND, NOT_FOUND.for_locale(locale))
    context = request_context(request.scope)
    if not context.supplied:
        await owners.claim_run(submitted.request_id, caller)
        return submitted
    named = await owners.claim_named_run(submitted.request_id, caller)
    if named is NamedRun.USED_BY_CALLER:
        # A caller's own X-Request-ID names one run only: a second run under it would share its events.
        raise PlatformError(ErrorCode.INPUT_INVALID, REQUEST_ID_USED.for_locale(locale), field="X-Request-ID")
    if named is NamedRun.HELD_BY_ANOTHER:
        # Nobody can block a caller by using its id first: the run goes by an id of the server's,
        # which the answer echoes; the caller's own id stays findable in the logs beside it.
        context.replace_request_id(new_id("req_"))
        log.info(
            "X-Request-ID held by another caller: the run has an id of its own",
            extra={"request_id": context.request_id, "client_request_id": context.client_request_id},
        )
        submitted = submitted.model_copy(update={"request_id": context.request_id})
        await owners.claim_run(submitted.request_id, caller)
    return submitted
