"""Who gets in: API keys, 401s with a classified body, and sessions that belong
to their creator, in the embedded and the distributed mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.e2e.conftest import Secured
from tests.e2e.sse import stream_chat
from tests.support.platform import Platform, bearer, create_api_key, embedded_platform


def chat(platform: Platform, headers: dict[str, str], **body: object) -> httpx.Response:
    return httpx.post(f"{platform.base_url}/api/chat", json={"message": "hello", **body}, headers=headers, timeout=30)


def assert_401(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert (error["class"], error["code"]) == ("user_input", code)


def security_events(platform: Platform, event: str, reason: str) -> float:
    text = httpx.get(platform.metrics_url()).text
    pattern = rf'^security_events_total\{{event="{event}",reason="{reason}"\}} ([0-9.e+]+)$'
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_call_without_a_key_is_refused_with_401(secured: Secured) -> None:
    before = security_events(secured.platform, "auth_failed", "missing_credentials")
    assert_401(chat(secured.platform, {}), "AUTH_REQUIRED")
    assert security_events(secured.platform, "auth_failed", "missing_credentials") == before + 1


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer agk_000000000000_" + "A" * 43,  # the right shape, but no such key
        "Bearer not-a-key",
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer",
    ],
)
def test_a_wrong_credential_is_refused_with_401(secured: Secured, authorization: str) -> None:
    assert_401(chat(secured.platform, {"authorization": authorization}), "AUTH_INVALID")


def test_a_korean_caller_is_told_in_korean(secured: Secured) -> None:
    response = chat(secured.platform, {"accept-language": "ko-KR,ko;q=0.9"})
    assert_401(response, "AUTH_REQUIRED")
    assert "API 키가 필요합니다" in response.json()["error"]["message"]


def test_a_valid_key_is_let_in_as_its_user(secured: Secured) -> None:
    response = chat(secured.platform, secured.alice)
    assert response.status_code == 200, response.text
    assert response.json()["answer"].startswith("(offline model)")


def test_a_revoked_key_stops_working_at_once(secured: Secured) -> None:
    key = create_api_key(secured.key_env, "carol")
    assert chat(secured.platform, bearer(key)).status_code == 200
    key_id = key.split("_")[1]
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "keys", "revoke", key_id],
        env={**os.environ, **secured.key_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_401(chat(secured.platform, bearer(key)), "AUTH_INVALID")


def test_keys_are_listed_without_their_secret(secured: Secured) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "keys", "list"],
        env={**os.environ, **secured.key_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert {"alice", "bob"} <= {row[2] for row in rows}
    secret = secured.alice["authorization"].removeprefix("Bearer ")
    assert secret not in done.stdout and secret.split("_", 2)[2] not in done.stdout


# ---- sessions belong to their creator --------------------------------------------------------


def test_another_user_cannot_read_a_session(secured: Secured) -> None:
    first = chat(secured.platform, secured.alice, message="My secret is Quokka").json()
    url = f"{secured.platform.base_url}/api/sessions/{first['session_id']}"
    mine = httpx.get(url, headers=secured.alice)
    assert mine.status_code == 200, mine.text
    assert [t["user"] for t in mine.json()["turns"]] == ["My secret is Quokka"]
    theirs = httpx.get(url, headers=secured.bob)
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "NOT_FOUND"
    assert "Quokka" not in theirs.text
    # ...exactly like a session that never existed.
    unknown = httpx.get(f"{secured.platform.base_url}/api/sessions/ses_neverexisted00", headers=secured.bob)
    assert unknown.status_code == 404 and unknown.json()["error"] == theirs.json()["error"]


def test_another_user_cannot_continue_a_session(secured: Secured) -> None:
    first = chat(secured.platform, secured.alice, message="My name is Alice").json()
    hijack = chat(secured.platform, secured.bob, message="What did I say earlier?", session_id=first["session_id"])
    assert hijack.status_code == 404
    assert hijack.json()["error"]["code"] == "NOT_FOUND" and "Alice" not in hijack.text
    again = chat(secured.platform, secured.alice, message="What did I say earlier?", session_id=first["session_id"])
    assert 'Earlier you said: "My name is Alice"' in again.json()["answer"]
    turns = httpx.get(f"{secured.platform.base_url}/api/sessions/{first['session_id']}", headers=secured.alice)
    assert len(turns.json()["turns"]) == 2  # bob's attempt left no trace


def test_a_session_id_chosen_by_a_client_cannot_be_squatted(secured: Secured) -> None:
    # Two users race for one id: neither can create it (only the gateway mints session ids),
    # so neither can block the other, and a mistyped id is never a silent new conversation.
    chosen = "ses_alicesnextsession"
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda who: chat(secured.platform, who, session_id=chosen), [secured.bob, secured.alice])
        )
    for answer in answers:
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "NOT_FOUND", answer.text
    mine = chat(secured.platform, secured.alice).json()
    assert mine["session_id"] != chosen and mine["session_id"].startswith("ses_")
    again = chat(secured.platform, secured.alice, session_id=mine["session_id"])
    assert again.status_code == 200, again.text


async def test_another_user_cannot_stream_a_session(secured: Secured) -> None:
    first = await stream_chat(secured.platform.base_url, {"message": "stream of mine"}, headers=secured.alice)
    session_id = json.loads(first[-1].data)["session_id"]
    request_id = json.loads(first[0].data)["request_id"]
    url = f"{secured.platform.base_url}/api/chat/stream/{request_id}"
    async with httpx.AsyncClient(timeout=30, headers=secured.bob) as client:
        theirs = await client.get(url)
        assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "NOT_FOUND"
        hijack = await client.post(
            f"{secured.platform.base_url}/api/chat/stream", json={"message": "more", "session_id": session_id}
        )
    assert hijack.status_code == 404
    async with (
        httpx.AsyncClient(timeout=30, headers=secured.alice) as client,
        aconnect_sse(client, "GET", url) as source,
    ):
        assert source.response.status_code == 200
        replayed = [event async for event in source.aiter_sse()]
    assert [e.data for e in replayed] == [e.data for e in first]


@pytest.mark.kafka
@pytest.mark.redis
def test_the_user_id_travels_with_the_run(distributed: Platform, redis_url: str) -> None:
    # The orchestrators are processes of their own here: their log files show what the bus carried.
    response = chat(distributed, bearer(create_api_key({"REDIS_URL": redis_url}, "olga")), message="whose run")
    assert response.status_code == 200
    request_id = response.json()["request_id"]
    lines = [
        json.loads(line)
        for name in ("orchestrator-1", "orchestrator-2")
        for line in distributed.logs[name].read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]
    users = {line.get("user_id") for line in lines if line.get("request_id") == request_id}
    assert users == {"olga"}


# ---- the embedded default: anonymous only while no key exists ----------------------------------


def test_the_first_key_ends_anonymous_access(tmp_path_factory: pytest.TempPathFactory) -> None:
    keys_file = tmp_path_factory.mktemp("first-key") / "api-keys.json"
    with embedded_platform({"AUTH_KEYS_FILE": str(keys_file)}) as platform:
        assert chat(platform, {}).status_code == 200  # no key: anonymous, as `agent run` announced
        key = create_api_key({"AUTH_KEYS_FILE": str(keys_file)}, "dana")
        assert_401(chat(platform, {}), "AUTH_REQUIRED")
        assert chat(platform, bearer(key)).status_code == 200


def test_an_auth_failure_is_one_structured_security_log_line(
    embedded_secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="agent.security"):
        chat(embedded_secured.platform, {"authorization": "Bearer agk_000000000000_" + "B" * 43})
    events = [r for r in caplog.records if r.getMessage() == "security_event"]
    assert len(events) == 1
    event = events[0].__dict__
    assert (event["security_event"], event["reason"]) == ("auth_failed", "unknown_key")
    assert event["client_ip"] == "127.0.0.1" and event["request_id"].startswith("req_")
