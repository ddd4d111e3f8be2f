"""`auth/jwt.py`: a token's claims checked against the identity provider's keys, one claim at a time.

The end-to-end tests (tests/e2e/test_jwt.py) cover a good token, wrong claims and a wrong
key through the platform; these cover the verifier's own edges: leeway, missing or
malformed user, tenant and scope claims."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent_common.auth import Scope
from agent_gateway.auth.jwt import JwtVerifier, TokenExpired, TokenInvalid, scopes_of
from agent_gateway.settings import AuthSettings
from tests.support.web import serve_in_thread

ISSUER = "https://idp.example.test/"
AUDIENCE = "agent-platform"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    public = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))

    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    with serve_in_thread(Starlette(routes=[Route("/jwks.json", jwks)])) as url:
        yield f"{url}/jwks.json"


def verifier(jwks_url: str, **settings: Any) -> JwtVerifier:
    return JwtVerifier(
        AuthSettings(jwt_jwks_url=jwks_url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_leeway_s=30, **settings)
    )


def token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": "jwt-user", "tenant": "acme", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, **overrides}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, KEY, algorithm="RS256", headers={"kid": "k1"})


@pytest.mark.parametrize(
    ("claim", "scopes"),
    [
        ("reindex openid", {Scope.REINDEX}),
        (["reindex", 7, None], {Scope.REINDEX}),
        ("openid profile", set()),
        (None, set()),
        ({"reindex": True}, set()),
    ],
)
def test_scopes_come_from_a_space_separated_string_or_a_list(claim: object, scopes: set[Scope]) -> None:
    assert scopes_of(claim) == scopes


def test_a_verifier_needs_a_jwks_url_an_issuer_and_an_audience() -> None:
    with pytest.raises(ValueError, match="JWKS URL, an issuer and an audience"):
        JwtVerifier(AuthSettings())


async def test_a_token_just_expired_is_accepted_within_the_leeway(jwks_url: str) -> None:
    identity = await verifier(jwks_url).verify(token(exp=int(time.time()) - 10))
    assert (identity.user_id, identity.tenant) == ("jwt-user", "acme")


async def test_a_token_expired_past_the_leeway_is_expired(jwks_url: str) -> None:
    with pytest.raises(TokenExpired):
        await verifier(jwks_url).verify(token(exp=int(time.time()) - 60))


@pytest.mark.parametrize("sub", [None, "", 42])
async def test_a_token_without_a_usable_user_is_invalid(jwks_url: str, sub: object) -> None:
    with pytest.raises(TokenInvalid) as caught:
        await verifier(jwks_url).verify(token(sub=sub))
    assert not isinstance(caught.value, TokenExpired)


async def test_a_tenant_that_is_not_a_non_empty_string_is_no_tenant(jwks_url: str) -> None:
    assert (await verifier(jwks_url).verify(token(tenant=""))).tenant is None
    assert (await verifier(jwks_url).verify(token(tenant=["acme"]))).tenant is None


async def test_the_user_tenant_and_scope_claims_are_the_configured_ones(jwks_url: str) -> None:
    configured = verifier(jwks_url, jwt_user_claim="email", jwt_tenant_claim="org", jwt_scope_claim="scp")
    identity = await configured.verify(token(sub=None, email="mina@acme.test", org="acme", scp=["reindex"]))
    assert (identity.user_id, identity.tenant, identity.scopes) == (
        "mina@acme.test",
        "acme",
        frozenset({Scope.REINDEX}),
    )


async def test_an_unknown_key_id_is_invalid(jwks_url: str) -> None:
    other = jwt.encode({"sub": "x"}, KEY, algorithm="RS256", headers={"kid": "k-unknown"})
    with pytest.raises(TokenInvalid):
        await verifier(jwks_url).verify(other)
