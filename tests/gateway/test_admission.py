"""Admission's reads overlap where nothing is decided by them: the presented key's record is read
while the client IP's request is counted, and still judged only after the IP limit."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from fastapi.testclient import TestClient

from agent_common.auth import ApiKeyRecord
from agent_gateway.rate_limits import LimitExceeded

UNKNOWN_KEY = f"agk_{'0' * 12}_{secrets.token_urlsafe(32)}"


def test_the_key_is_read_while_the_ip_is_counted(
    anonymous_gateway: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admission = anonymous_gateway.app.state.admission  # type: ignore[attr-defined]
    key_read = asyncio.Event()
    overlapped: list[bool] = []

    async def hit_ip(client_ip: str) -> LimitExceeded | None:
        try:
            await asyncio.wait_for(key_read.wait(), 2)  # a read in turn would come only after this returns
            overlapped.append(True)
        except TimeoutError:
            overlapped.append(False)
        return None

    async def lookup(key: str) -> ApiKeyRecord | None:
        key_read.set()
        return None

    monkeypatch.setattr(admission.limits, "hit_ip", hit_ip)
    monkeypatch.setattr(admission.authenticator.keys, "lookup", lookup)
    answer = anonymous_gateway.get("/api/sessions", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "AUTH_INVALID"
    assert overlapped == [True]


def test_a_throttled_ip_is_refused_before_its_key_is_judged(
    anonymous_gateway: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admission = anonymous_gateway.app.state.admission  # type: ignore[attr-defined]

    async def hit_ip(client_ip: str) -> LimitExceeded | None:
        return LimitExceeded(limit=3, remaining=0, reset_after_s=30)

    monkeypatch.setattr(admission.limits, "hit_ip", hit_ip)
    answer = anonymous_gateway.get("/api/sessions", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    # An unknown key behind a throttled IP: told 429, never whether the key was any good.
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "RATE_LIMITED"
    assert answer.headers["Retry-After"] == "30"
