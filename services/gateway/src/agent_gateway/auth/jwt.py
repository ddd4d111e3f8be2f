"""JWTs from an identity provider: signature (keys from its JWKS), expiry,
issuer and audience checked with PyJWT."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import jwt

from agent_common.auth import Scope, known_scopes
from agent_gateway.settings import AuthSettings


class TokenInvalid(Exception):
    """Bad signature, wrong issuer or audience, unknown key, missing claim, or not a JWT."""


class TokenExpired(TokenInvalid):
    pass


@dataclass(frozen=True)
class TokenIdentity:
    user_id: str
    tenant: str | None
    scopes: frozenset[Scope] = field(default_factory=frozenset)


def scopes_of(claim: object) -> frozenset[Scope]:
    """OAuth 2.0's `scope` is one space-separated string (RFC 8693); some providers send a list (`scp`)."""
    if isinstance(claim, str):
        return known_scopes(claim.split())
    if isinstance(claim, list):
        return known_scopes(item for item in claim if isinstance(item, str))
    return frozenset()


class JwtVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        if settings.jwt_jwks_url is None or settings.jwt_issuer is None or settings.jwt_audience is None:
            raise ValueError("a JWT verifier needs a JWKS URL, an issuer and an audience")
        self._settings = settings
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        # Keys are cached and refetched when a token names a key id not seen yet (key rotation).
        self._jwks = jwt.PyJWKClient(str(settings.jwt_jwks_url), cache_keys=True, lifespan=300, timeout=5)

    async def verify(self, token: str) -> TokenIdentity:
        s = self._settings
        try:
            # PyJWKClient fetches over blocking urllib: keep it off the event loop.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=s.jwt_algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=s.jwt_leeway_s,
                options={"require": ["exp", "iss", "aud", s.jwt_user_claim]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the token has expired") from None
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise TokenInvalid(str(exc)) from None
        user = claims.get(s.jwt_user_claim)
        tenant = claims.get(s.jwt_tenant_claim)
        if not isinstance(user, str) or not user:
            raise TokenInvalid(f"claim {s.jwt_user_claim} is not a non-empty string")
        return TokenIdentity(
            user_id=user,
            tenant=tenant if isinstance(tenant, str) and tenant else None,
            scopes=scopes_of(claims.get(s.jwt_scope_claim)),
        )
