"""The core API as a client uses it, in the embedded and the distributed mode."""

from __future__ import annotations

import json

import httpx
import pytest
from httpx_sse import aconnect_sse

from agent_common.events import DoneEvent, parse_run_event
from tests.e2e.sse import stream_chat
from tests.support.platform import Platform


def test_health_answers_while_the_process_serves(platform: Platform) -> None:
    response = httpx.get(f"{platform.base_url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_reports_each_dependency(platform: Platform) -> None:
    response = httpx.get(f"{platform.base_url}/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert {"bus", "events"} <= set(body["checks"])
    assert set(body["checks"].values()) == {"ok"}


def test_chat_returns_the_whole_answer_as_json(platform: Platform) -> None:
    response = httpx.post(
        f"{platform.base_url}/api/chat", json={"message": "Hello there"}, timeout=30, headers=platform.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"].startswith("req_")
    assert body["session_id"].startswith("ses_")
    assert body["answer"].startswith("(offline model)")
    assert '"Hello there"' in body["answer"]
    assert body["tool_calls"] == []
    assert body["usage"]["completion_tokens"] > 0
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_korean_message_gets_a_korean_answer(platform: Platform) -> None:
    response = httpx.post(
        f"{platform.base_url}/api/chat", json={"message": "안녕하세요, 반가워요"}, timeout=30, headers=platform.headers
    )
    assert response.status_code == 200, response.text
    answer = response.json()["answer"]
    assert answer.startswith("(오프라인 모델)")
    assert "안녕하세요, 반가워요" in answer


async def test_stream_sends_tokens_then_exactly_one_done(platform: Platform) -> None:
    events = await stream_chat(platform.base_url, {"message": "Tell me something"}, headers=platform.headers)
    types = [e.event for e in events]
    assert types[-1] == "done"
    assert types.count("done") + types.count("error") == 1
    assert set(types[:-1]) == {"token"} and len(types) > 2
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
    parsed = [parse_run_event(e.data) for e in events]
    assert all(p.type == e.event for p, e in zip(parsed, events, strict=True))
    done = parsed[-1]
    assert isinstance(done, DoneEvent)
    assert "".join(p.text for p in parsed[:-1]) == done.answer  # type: ignore[union-attr]


async def test_a_url_on_the_allowlist_is_fetched_with_http_get(platform: Platform, pages_url: str) -> None:
    url = f"{pages_url}/page"
    events = await stream_chat(platform.base_url, {"message": f"What does {url} say?"}, headers=platform.headers)
    types = [e.event for e in events]
    assert types[0] == "tool_start"
    start = parse_run_event(events[0].data)
    assert start.tool == "http_get" and start.arguments == {"url": url}  # type: ignore[union-attr]
    end = parse_run_event(events[types.index("tool_end")].data)
    assert end.ok is True and end.error is None  # type: ignore[union-attr]
    assert types[-1] == "done"
    done = parse_run_event(events[-1].data)
    assert isinstance(done, DoneEvent)
    assert "pineapple" in done.answer
    assert [(c.tool, c.ok) for c in done.tool_calls] == [("http_get", True)]


async def test_a_url_off_the_allowlist_is_refused_with_a_classified_error(platform: Platform, pages_url: str) -> None:
    url = pages_url.replace("127.0.0.1", "localhost") + "/page"
    events = await stream_chat(platform.base_url, {"message": f"What does {url} say?"}, headers=platform.headers)
    types = [e.event for e in events]
    end = parse_run_event(events[types.index("tool_end")].data)
    assert end.ok is False  # type: ignore[union-attr]
    assert end.error is not None and end.error.code == "TOOL_URL_NOT_ALLOWED"  # type: ignore[union-attr]
    assert end.error.error_class == "tool"  # type: ignore[union-attr]
    assert types[-1] == "done"
    done = parse_run_event(events[-1].data)
    assert isinstance(done, DoneEvent)
    assert "TOOL_URL_NOT_ALLOWED" in done.answer and "pineapple" not in done.answer


def test_a_second_turn_in_the_same_session_sees_the_first(platform: Platform) -> None:
    first = httpx.post(
        f"{platform.base_url}/api/chat", json={"message": "My name is Mina"}, timeout=30, headers=platform.headers
    ).json()
    second = httpx.post(
        f"{platform.base_url}/api/chat",
        json={"message": "What did I say earlier?", "session_id": first["session_id"]},
        timeout=30,
        headers=platform.headers,
    ).json()
    assert second["session_id"] == first["session_id"]
    assert 'Earlier you said: "My name is Mina"' in second["answer"]
    fresh = httpx.post(
        f"{platform.base_url}/api/chat",
        json={"message": "What did I say earlier?"},
        timeout=30,
        headers=platform.headers,
    ).json()
    assert "Mina" not in fresh["answer"]


def test_metrics_are_prometheus_text(platform: Platform) -> None:
    httpx.post(f"{platform.base_url}/api/chat", json={"message": "count me"}, timeout=30, headers=platform.headers)
    response = httpx.get(platform.metrics_url())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="POST",route="/api/chat",status="200"}' in response.text


def test_the_public_port_does_not_serve_metrics(platform: Platform) -> None:
    """Metrics name tenants: only the metrics port, which the scraper alone reaches, serves them."""
    for url in {platform.base_url, *platform.services.values()} - {platform.services.get("offline-model")}:
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 404, url
    assert "tenant" in httpx.get(platform.metrics_url(), timeout=10).text


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": ""}, 422, "INPUT_INVALID"),
        ({"text": "wrong field"}, 422, "INPUT_INVALID"),
        ({"message": 42}, 422, "INPUT_INVALID"),
        ({"message": "hi", "session_id": "../../etc"}, 422, "INPUT_INVALID"),
        ({"message": "x" * 5000}, 413, "INPUT_TOO_LARGE"),
    ],
)
def test_bad_input_gets_a_classified_error(platform: Platform, body: object, status: int, code: str) -> None:
    response = httpx.post(f"{platform.base_url}/api/chat", json=body, timeout=30, headers=platform.headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["class"] == "user_input" and error["code"] == code


async def test_a_client_that_reconnects_with_last_event_id_gets_exactly_what_it_missed(platform: Platform) -> None:
    first = await stream_chat(
        platform.base_url, {"message": "resume me, please, from the middle"}, headers=platform.headers
    )
    request_id = json.loads(first[0].data)["request_id"]
    async with (
        httpx.AsyncClient(timeout=30, headers=platform.headers) as client,
        aconnect_sse(
            client, "GET", f"{platform.base_url}/api/chat/stream/{request_id}", headers={"Last-Event-ID": "2"}
        ) as source,
    ):
        replayed = [event async for event in source.aiter_sse()]
    assert [(e.id, e.event, e.data) for e in replayed] == [(e.id, e.event, e.data) for e in first[2:]]


def test_rejoining_an_unknown_run_is_not_found(platform: Platform) -> None:
    response = httpx.get(f"{platform.base_url}/api/chat/stream/req_doesnotexist0000", headers=platform.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_a_long_conversation_still_reaches_the_model(platform: Platform) -> None:
    # The model request carries the whole history: far past the gateway's body limit (one chat
    # message's worth), which must not apply to the embedded model mounted beside the API.
    session_id = None
    for turn in range(5):
        body = {"message": f"turn {turn}: " + "a fairly long line of text " * 70, "session_id": session_id}
        response = httpx.post(f"{platform.base_url}/api/chat", json=body, headers=platform.headers, timeout=30)
        assert response.status_code == 200, response.text
        session_id = response.json()["session_id"]
