"""JWTs from an identity provider as the second way in: signature checked
against the provider's JWKS (served over real HTTP), expiry, issuer, audience."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.e2e.conftest import GENEROUS_LIMITS
from tests.support.platform import Platform, embedded_platform
from tests.support.web import serve_in_thread

ISSUER = "https://idp.example.test/"
AUDIENCE = "agent-platform"


@dataclass
class Provider:
    key: rsa.RSAPrivateKey
    kid: str

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"sub": "jwt-user", "tenant": "acme", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[Provider, str]]:
    idp = Provider(rsa.generate_private_key(public_exponent=65537, key_size=2048), "key-1")
    public = json.loads(RSAAlgorithm.to_jwk(idp.key.public_key()))

    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse({"keys": [{**public, "kid": idp.kid, "use": "sig", "alg": "RS256"}]})

    with serve_in_thread(Starlette(routes=[Route("/.well-known/jwks.json", jwks)])) as url:
        yield idp, f"{url}/.well-known/jwks.json"


@pytest.fixture(scope="module")
def platform(provider: tuple[Provider, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    keys_file: Path = tmp_path_factory.mktemp("jwt-keys") / "api-keys.json"
    env = {
        **GENEROUS_LIMITS,
        "AUTH_KEYS_FILE": str(keys_file),
        "AUTH_JWT_JWKS_URL": provider[1],
        "AUTH_JWT_ISSUER": ISSUER,
        "AUTH_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_REINDEX_STATUS_WAIT_S": "0.2",  # the scope tests' unknown command: 404 at once
    }
    with embedded_platform(env) as served:
        yield served


def read_session(platform: Platform, token: str) -> httpx.Response:
    return httpx.get(
        f"{platform.base_url}/api/sessions/ses_nosuchsession0", headers={"authorization": f"Bearer {token}"}
    )


def test_a_valid_token_is_let_in(platform: Platform, provider: tuple[Provider, str]) -> None:
    token = provider[0].token()
    response = httpx.post(
        f"{platform.base_url}/api/chat",
        json={"message": "hello"},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_an_identity_provider_means_no_anonymous_access(platform: Platform) -> None:
    response = httpx.get(f"{platform.base_url}/api/sessions/ses_nosuchsession0")
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_REQUIRED"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"aud": "someone-else"}, id="wrong-audience"),
        pytest.param({"iss": "https://evil.example.test/"}, id="wrong-issuer"),
        pytest.param({"exp": None}, id="no-expiry"),
        pytest.param({"sub": None}, id="no-user"),
    ],
)
def test_a_token_with_wrong_claims_is_refused(
    platform: Platform, provider: tuple[Provider, str], overrides: dict[str, Any]
) -> None:
    response = read_session(platform, provider[0].token(**overrides))
    assert response.status_code == 401
    assert response.json()["error"] == {
        "class": "user_input",
        "code": "AUTH_INVALID",
        "message": response.json()["error"]["message"],
        "details": {},
    }


def test_a_token_signed_by_another_key_is_refused(platform: Platform, provider: tuple[Provider, str]) -> None:
    forger = Provider(rsa.generate_private_key(public_exponent=65537, key_size=2048), provider[0].kid)
    assert read_session(platform, forger.token()).status_code == 401


def test_an_unsigned_token_is_refused(platform: Platform) -> None:
    now = int(time.time())
    claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300}
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": "key-1"})  # type: ignore[arg-type]
    assert read_session(platform, unsigned).status_code == 401


def test_sessions_of_a_token_user_are_theirs(platform: Platform, provider: tuple[Provider, str]) -> None:
    idp = provider[0]
    mine = {"authorization": f"Bearer {idp.token()}"}
    other = {"authorization": f"Bearer {idp.token(sub='someone-else')}"}
    first = httpx.post(f"{platform.base_url}/api/chat", json={"message": "hi"}, headers=mine, timeout=30).json()
    url = f"{platform.base_url}/api/sessions/{first['session_id']}"
    assert httpx.get(url, headers=mine).status_code == 200
    assert httpx.get(url, headers=other).status_code == 404


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        pytest.param(None, 403, id="no-scope-claim"),
        pytest.param("openid profile", 403, id="other-scopes"),
        pytest.param("reindexer", 403, id="no-prefix-match"),
        pytest.param("openid reindex", 404, id="space-separated"),
        pytest.param(["reindex"], 404, id="a-list"),
    ],
)
def test_the_reindex_api_takes_a_token_with_the_reindex_scope(
    platform: Platform, provider: tuple[Provider, str], scope: object, status: int
) -> None:
    """404 is the admitted answer: the command does not exist; 403 is the refusal."""
    token = provider[0].token(scope=scope)
    response = httpx.get(
        f"{platform.base_url}/api/reindex/rdx_0123456789ab", headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"]["code"] == "PERMISSION_DENIED"
