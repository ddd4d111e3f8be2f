"""`auth/callers.py`: a bearer credential resolved to a caller, or a 401 in the caller's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_common.auth import Scope
from agent_common.auth.file_store import FileApiKeyStore
from agent_gateway.auth import Authenticator
from agent_gateway.auth.jwt import TokenExpired, TokenIdentity, TokenInvalid
from agent_gateway.errors import Refused

A_JWT = "header.claims.signature"


class FakeVerifier:
    """Stands in for `JwtVerifier`: answers with an identity or raises what it was given."""

    def __init__(self, outcome: TokenIdentity | Exception) -> None:
        self.outcome = outcome

    async def verify(self, token: str) -> TokenIdentity:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def authenticator(tmp_path: Path, jwt: FakeVerifier | None = None, *, anonymous: bool = True) -> Authenticator:
    return Authenticator(FileApiKeyStore(tmp_path / "keys.json"), jwt, allow_anonymous_without_keys=anonymous)  # type: ignore[arg-type]


async def refusal(auth: Authenticator, authorization: str | None, locale: str | None = None) -> Refused:
    with pytest.raises(Refused) as caught:
        await auth.authenticate(authorization, locale)
    assert caught.value.info.http_status == 401
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="agent-platform"'}
    return caught.value


async def test_anonymous_is_everyone_and_may_do_everything_while_no_key_exists(tmp_path: Path) -> None:
    caller = await authenticator(tmp_path).authenticate(None, None)
    assert (caller.user_id, caller.tenant, caller.method) == ("anonymous", "default", "anonymous")
    assert caller.scopes == frozenset(Scope)


async def test_no_anonymous_where_the_gateway_was_not_built_for_it(tmp_path: Path) -> None:
    refused = await refusal(authenticator(tmp_path, anonymous=False), None)
    assert refused.info.code == "AUTH_REQUIRED"


async def test_an_identity_provider_closes_anonymous_access_even_without_keys(tmp_path: Path) -> None:
    refused = await refusal(authenticator(tmp_path, FakeVerifier(TokenInvalid())), None, "ko-KR")
    assert refused.info.code == "AUTH_REQUIRED"
    assert refused.info.message == "API 키가 필요합니다: `Authorization: Bearer <키>` 헤더를 보내 주세요."


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc"])
async def test_anything_but_a_bearer_credential_is_invalid(tmp_path: Path, authorization: str) -> None:
    refused = await refusal(authenticator(tmp_path), authorization)
    assert refused.info.code == "AUTH_INVALID"
    assert refused.info.message == "The credential is not valid (unknown or revoked key, or a bad token)."


async def test_the_scheme_is_case_insensitive_and_a_key_keeps_its_scopes(tmp_path: Path) -> None:
    auth = authenticator(tmp_path)
    created = await auth.keys.create("mina", "acme", "laptop", scopes=[Scope.REINDEX])
    caller = await auth.authenticate(f"bearer {created.key}", None)
    assert (caller.user_id, caller.tenant, caller.method, caller.scopes) == (
        "mina",
        "acme",
        "api_key",
        frozenset({Scope.REINDEX}),
    )


async def test_a_token_without_an_identity_provider_is_invalid(tmp_path: Path) -> None:
    assert (await refusal(authenticator(tmp_path), f"Bearer {A_JWT}")).info.code == "AUTH_INVALID"


async def test_a_token_user_without_a_tenant_claim_is_in_the_default_tenant(tmp_path: Path) -> None:
    verifier = FakeVerifier(TokenIdentity(user_id="jwt-user", tenant=None, scopes=frozenset({Scope.REINDEX})))
    caller = await authenticator(tmp_path, verifier).authenticate(f"Bearer {A_JWT}", None)
    assert (caller.user_id, caller.tenant, caller.method, caller.scopes) == (
        "jwt-user",
        "default",
        "jwt",
        frozenset({Scope.REINDEX}),
    )


@pytest.mark.parametrize("error", [TokenExpired("expired"), TokenInvalid("bad signature")])
async def test_an_expired_or_bad_token_is_invalid_in_korean_too(tmp_path: Path, error: Exception) -> None:
    refused = await refusal(authenticator(tmp_path, FakeVerifier(error)), f"Bearer {A_JWT}", "ko")
    assert refused.info.code == "AUTH_INVALID"
    assert refused.info.message == "인증 정보가 올바르지 않습니다 (알 수 없거나 폐기된 키, 또는 잘못된 토큰)."
