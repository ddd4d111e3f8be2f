"""Resolving `Authorization: Bearer <credential>` to a `Caller`.

The user id of the caller travels with the run into the bus, the logs and the
metrics. Anonymous callers exist only where the gateway was built to allow
them (the embedded default) and only while no API key exists and no identity
provider is configured: the first key created closes the door to anonymous calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from agent_common.auth import ApiKeyRecord, ApiKeyStore, Scope, looks_like_key
from agent_common.errors import ErrorCode
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.auth.jwt import JwtVerifier, TokenExpired, TokenInvalid
from agent_gateway.errors import Refused
from agent_gateway.localized import Localized

ANONYMOUS_USER = "anonymous"
DEFAULT_TENANT = "default"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="agent-platform"'}

AUTH_REQUIRED = Localized(
    "An API key is required: send `Authorization: Bearer <key>`.",
    "API 키가 필요합니다: `Authorization: Bearer <키>` 헤더를 보내 주세요.",
)
AUTH_INVALID = Localized(
    "The credential is not valid (unknown or revoked key, or a bad token).",
    "인증 정보가 올바르지 않습니다 (알 수 없거나 폐기된 키, 또는 잘못된 토큰).",
)


@dataclass(frozen=True)
class Caller:
    user_id: str
    tenant: str
    method: Literal["api_key", "jwt", "anonymous"]
    # Privileges beyond chatting: the key's, or the token's `AUTH_JWT_SCOPE_CLAIM`.
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    # The API key's id, for the key's own budget; None for a JWT or anonymous caller.
    key_id: str | None = None


class KeyLookup(Enum):
    NOT_DONE = "not_done"  # `authenticate` reads the key's record itself


class Authenticator:
    def __init__(self, keys: ApiKeyStore, jwt: JwtVerifier | None, *, allow_anonymous_without_keys: bool) -> None:
        self.keys = keys
        self._jwt = jwt
        self._allow_anonymous = allow_anonymous_without_keys

    async def anonymous_allowed(self) -> bool:
        # An identity provider configured counts as keys existing: its users must sign in.
        return self._allow_anonymous and self._jwt is None and not await self.keys.any_exist()

    async def look_up_key(self, authorization: str | None) -> ApiKeyRecord | None:
        """The record of the API key `authorization` holds, if it holds one: a read that judges
        nothing and records nothing, so it may be asked for with the client IP's count;
        `authenticate(looked_up=...)` judges it."""
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not looks_like_key(credential):
            return None
        return await self.keys.lookup(credential)

    async def authenticate(
        self,
        authorization: str | None,
        locale: str | None,
        *,
        looked_up: ApiKeyRecord | KeyLookup | None = KeyLookup.NOT_DONE,
    ) -> Caller:
        """The caller, or `Refused` with 401 `AUTH_REQUIRED` / `AUTH_INVALID`. `looked_up`: what
        `look_up_key` found for the same header, when it was read already."""
        if not authorization:
            if await self.anonymous_allowed():
                # A first look on one machine, before any key exists: nobody to tell apart, all allowed.
                return Caller(
                    user_id=ANONYMOUS_USER, tenant=DEFAULT_TENANT, method="anonymous", scopes=frozenset(Scope)
                )
            raise self._refuse(ErrorCode.AUTH_REQUIRED, SecurityReason.MISSING_CREDENTIALS, AUTH_REQUIRED, locale)
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise self._refuse(ErrorCode.AUTH_INVALID, SecurityReason.MALFORMED_CREDENTIALS, AUTH_INVALID, locale)
        if looks_like_key(credential):
            record = await self.keys.lookup(credential) if looked_up is KeyLookup.NOT_DONE else looked_up
            if record is None:
                raise self._refuse(ErrorCode.AUTH_INVALID, SecurityReason.UNKNOWN_KEY, AUTH_INVALID, locale)
            return Caller(
                user_id=record.user_id,
                tenant=record.tenant,
                method="api_key",
                scopes=frozenset(record.scopes),
                key_id=record.key_id,
            )
        if self._jwt is not None and credential.count(".") == 2:
            try:
                identity = await self._jwt.verify(credential)
            except TokenExpired:
                raise self._refuse(ErrorCode.AUTH_INVALID, SecurityReason.EXPIRED_TOKEN, AUTH_INVALID, locale) from None
            except TokenInvalid:
                raise self._refuse(ErrorCode.AUTH_INVALID, SecurityReason.INVALID_TOKEN, AUTH_INVALID, locale) from None
            return Caller(
                user_id=identity.user_id, tenant=identity.tenant or DEFAULT_TENANT, method="jwt", scopes=identity.scopes
            )
        raise self._refuse(ErrorCode.AUTH_INVALID, SecurityReason.MALFORMED_CREDENTIALS, AUTH_INVALID, locale)

    @staticmethod
    def _refuse(code: ErrorCode, reason: SecurityReason, message: Localized, locale: str | None) -> Refused:
        record_security_event(SecurityEvent.AUTH_FAILED, reason)
        return Refused(code, message.for_locale(locale), headers=_CHALLENGE)
