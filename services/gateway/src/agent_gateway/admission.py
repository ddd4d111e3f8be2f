"""Letting a request in, in this order: the client IP's rate, the caller's
credential, the caller's own rate. The IP limit comes first so that guessing
keys is throttled like anything else. The presented key's record is asked for
with the IP's count, and judged after it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent_common.auth import Scope
from agent_common.budgets import BudgetStore, BudgetUse, seconds_until_reset, standing
from agent_common.errors import ErrorCode
from agent_common.logs import bind_ids
from agent_common.rate_limits import StreamSlots
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.auth import Authenticator, Caller
from agent_gateway.errors import Refused
from agent_gateway.localized import Localized, first_language
from agent_gateway.rate_limits import LimitExceeded, RequestLimits
from agent_gateway.request_context import request_context

RATE_LIMITED = Localized(
    "Too many requests; try again in {after} s.",
    "요청이 너무 많습니다. {after}초 후에 다시 시도해 주세요.",
)
PERMISSION_DENIED = Localized(
    "This credential may not do that: it needs the `{scope}` scope (`agent keys create --scope {scope}`).",
    "이 인증 정보로는 할 수 없는 작업입니다: `{scope}` 권한이 필요합니다 (`agent keys create --scope {scope}`).",
)
BUDGET_EXCEEDED = Localized(
    "The monthly budget of {whom} is spent ({used} of {limit} {unit}); it resets at {resets_at} UTC.",
    "{whom}의 월 예산을 모두 사용했습니다 ({limit} {unit} 중 {used}). {resets_at} UTC에 초기화됩니다.",
)
BUDGET_WHOM = {
    "tenant": Localized("tenant {tenant}", "테넌트 {tenant}"),
    "key": Localized("this API key", "이 API 키"),
}
BUDGET_UNITS = {"usd": Localized("USD", "달러"), "tokens": Localized("tokens", "토큰")}
TOO_MANY_STREAMS = Localized(
    "Too many open streams ({limit}); close one and try again.",
    "열린 스트림이 너무 많습니다 (최대 {limit}개). 하나를 닫고 다시 시도해 주세요.",
)


# Declares the credential in the OpenAPI schema (`components.securitySchemes`, and `security` on
# every route that depends on `admitted_caller`); the header itself is read by `Authenticator`.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="API key or JWT",
    description="`Authorization: Bearer <key>`: an API key (`agent keys create`) or, where the gateway "
    "trusts an identity provider, its JWT.",
    auto_error=False,
)


@dataclass(frozen=True)
class Admission:
    authenticator: Authenticator
    limits: RequestLimits
    streams: StreamSlots
    budgets: BudgetStore


def _admission(request: Request) -> Admission:
    admission: Admission = request.app.state.admission
    return admission


def _refuse_rate(verdict: LimitExceeded, reason: SecurityReason, locale: str | None) -> Refused:
    record_security_event(SecurityEvent.RATE_LIMITED, reason)
    return Refused(
        ErrorCode.RATE_LIMITED,
        RATE_LIMITED.for_locale(locale).format(after=verdict.reset_after_s),
        headers=verdict.headers(),
        limit=verdict.limit,
        retry_after=verdict.reset_after_s,
    )


async def admitted_caller(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None
) -> Caller:
    """The FastAPI dependency of every `/api` route: the caller, or a 401/429 refusal."""
    admission = _admission(request)
    context = request_context(request.scope)
    locale = first_language(request.headers.get("accept-language"))
    authorization = request.headers.get("authorization")
    # The key's record is asked for with the IP's count: a busy gateway sends both in one write, a
    # quiet one in two round trips, one out at a time (`transports/redis_multiplexed.py`). It is
    # judged only once the IP limit has let the request in, so a throttled guesser learns nothing.
    by_ip, looked_up = await asyncio.gather(
        admission.limits.hit_ip(context.client_ip),
        admission.authenticator.look_up_key(authorization),
        return_exceptions=True,
    )
    if isinstance(by_ip, BaseException):
        raise by_ip
    if by_ip:
        raise _refuse_rate(by_ip, SecurityReason.IP_RATE, locale)
    if isinstance(looked_up, BaseException):
        raise looked_up
    caller = await admission.authenticator.authenticate(authorization, locale, looked_up=looked_up)
    with bind_ids(user_id=caller.user_id):
        if by_user := await admission.limits.hit_user(caller.tenant, caller.user_id):
            raise _refuse_rate(by_user, SecurityReason.USER_RATE, locale)
    request.state.caller = caller
    return caller


async def acquire_stream(request: Request, caller: Caller, stream_id: str) -> StreamSlots:
    """Hold one of the caller's stream slots (release it when the stream ends), or refuse 429."""
    slots = _admission(request).streams
    if not await slots.acquire(user_key(caller), stream_id):
        record_security_event(SecurityEvent.RATE_LIMITED, SecurityReason.USER_STREAMS, user_id=caller.user_id)
        locale = first_language(request.headers.get("accept-language"))
        raise Refused(
            ErrorCode.TOO_MANY_STREAMS,
            TOO_MANY_STREAMS.for_locale(locale).format(limit=slots.limit),
            headers={"Retry-After": "1"},
            limit=slots.limit,
        )
    return slots


async def check_budget(request: Request, caller: Caller, locale: str | None) -> None:
    """Refuse a chat turn with 429 `BUDGET_EXCEEDED` once the caller's tenant or key has spent its month."""
    now = dt.datetime.now(dt.UTC)
    uses = await standing(_admission(request).budgets, caller.tenant, caller.key_id, now)
    spent = [use for use in uses if use.exceeded]
    if spent:
        record_security_event(SecurityEvent.BUDGET, SecurityReason.BUDGET_SPENT, user_id=caller.user_id)
        raise _refuse_budget(spent[0], locale, seconds_until_reset(now))


def _refuse_budget(use: BudgetUse, locale: str | None, retry_after: int) -> Refused:
    budget = use.budget
    scope = "tenant" if budget.key_id is None else "key"
    resets_at = use.resets_at.strftime("%Y-%m-%d %H:%M")
    message = BUDGET_EXCEEDED.for_locale(locale).format(
        whom=BUDGET_WHOM[scope].for_locale(locale).format(tenant=budget.tenant),
        used=use.used,
        limit=budget.limit,
        unit=BUDGET_UNITS[budget.unit].for_locale(locale),
        resets_at=resets_at,
    )
    return Refused(
        ErrorCode.BUDGET_EXCEEDED,
        message,
        headers={"Retry-After": str(retry_after)},
        scope=scope,
        tenant=budget.tenant,
        key_id=budget.key_id,
        unit=budget.unit,
        limit=str(budget.limit),
        used=str(use.used),
        resets_at=use.resets_at.isoformat().replace("+00:00", "Z"),
        retry_after=retry_after,
    )


def user_key(caller: Caller) -> str:
    """Users are unique within a tenant: everything per user is keyed by both."""
    return f"{caller.tenant}/{caller.user_id}"


def caller_with(scope: Scope) -> Callable[..., Awaitable[Caller]]:
    """The dependency of a route that needs `scope` besides admission: the caller, or 403 `PERMISSION_DENIED`."""

    async def scoped(request: Request, caller: Annotated[Caller, Depends(admitted_caller)]) -> Caller:
        if scope not in caller.scopes:
            record_security_event(SecurityEvent.ACCESS_DENIED, SecurityReason.MISSING_SCOPE, user_id=caller.user_id)
            locale = first_language(request.headers.get("accept-language"))
            raise Refused(
                ErrorCode.PERMISSION_DENIED, PERMISSION_DENIED.for_locale(locale).format(scope=scope), scope=scope.value
            )
        return caller

    return scoped
