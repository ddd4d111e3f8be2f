"""`GET /api/sessions` (`routes/session_list.py`): a caller's own sessions, newest first, and nobody else's."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from agent_common.sessions.base import Turn
from agent_gateway.auth import Caller
from agent_gateway.auth.callers import ANONYMOUS_USER, DEFAULT_TENANT

ANONYMOUS = Caller(user_id=ANONYMOUS_USER, tenant=DEFAULT_TENANT, method="anonymous")
SOMEONE_ELSE = Caller(user_id="bob", tenant=DEFAULT_TENANT, method="api_key")


def start_session(client: TestClient, session_id: str, caller: Caller, *messages: str) -> None:
    state = client.app.state  # type: ignore[attr-defined]

    async def run() -> None:
        assert await state.ownership.claim_session(session_id, caller)
        for i, message in enumerate(messages):
            await state.sessions.append(session_id, Turn.of(f"req_{session_id}_{i}", message, f"answer {i}"))

    client.portal.call(run)  # type: ignore[union-attr]


def test_the_callers_sessions_are_listed_newest_first_with_a_title_and_turn_count(
    anonymous_gateway: TestClient,
) -> None:
    start_session(anonymous_gateway, "ses_older_000001", ANONYMOUS, "Where do I park?")
    time.sleep(0.01)
    start_session(anonymous_gateway, "ses_newer_000002", ANONYMOUS, "  Lunch\n hours   please " + "x" * 100)
    start_session(anonymous_gateway, "ses_bobs_0000003", SOMEONE_ELSE, "Bob's own question")
    start_session(anonymous_gateway, "ses_empty_000004", ANONYMOUS)  # claimed, but no turn kept: not listed

    listed = anonymous_gateway.get("/api/sessions")
    assert listed.status_code == 200
    sessions = listed.json()["sessions"]
    assert [s["session_id"] for s in sessions] == ["ses_newer_000002", "ses_older_000001"]
    newest, older = sessions
    assert newest["title"].startswith("Lunch hours please x") and len(newest["title"]) == 80
    assert newest["title"].endswith("…")
    assert (older["title"], older["turns"]) == ("Where do I park?", 1)
    assert newest["updated_at"] >= older["updated_at"] and newest["updated_at"].endswith("+00:00")
    assert anonymous_gateway.get("/api/sessions", params={"limit": 1}).json()["sessions"][0]["title"] == newest["title"]


def test_an_unknown_caller_is_refused_before_anything_is_listed(anonymous_gateway: TestClient) -> None:
    refused = anonymous_gateway.get("/api/sessions", headers={"Authorization": "Bearer not-a-key"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "AUTH_INVALID"
