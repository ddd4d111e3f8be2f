"""Request ids as operators use them: a caller's well-formed `X-Request-ID` is
honoured and echoed, names its run, and one search for it in the JSON logs of
every service shows the request's whole path (gateway, orchestrator, tool runner).
An id another user holds blocks nobody: that run goes by an id of the server's."""

from __future__ import annotations

import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Secured
from tests.support.platform import Platform


def fresh_id() -> str:
    return f"client-{secrets.token_hex(8)}"


def log_lines_with(path: Path, request_id: str) -> list[dict[str, object]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if request_id in raw and raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_a_well_formed_request_id_is_honoured_and_echoed(platform: Platform) -> None:
    request_id = fresh_id()
    response = httpx.post(
        f"{platform.base_url}/api/chat",
        json={"message": "hello"},
        headers={**platform.headers, "X-Request-ID": request_id},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id
    assert response.json()["request_id"] == request_id


def test_a_malformed_request_id_is_replaced_by_a_fresh_one(platform: Platform) -> None:
    response = httpx.post(
        f"{platform.base_url}/api/chat",
        json={"message": "hello"},
        headers={**platform.headers, "X-Request-ID": "no spaces; or <tags> allowed"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"].startswith("req_")
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_a_request_id_names_one_run_only(platform: Platform) -> None:
    request_id = fresh_id()
    headers = {**platform.headers, "X-Request-ID": request_id}
    first = httpx.post(f"{platform.base_url}/api/chat", json={"message": "hello"}, headers=headers, timeout=60)
    again = httpx.post(f"{platform.base_url}/api/chat", json={"message": "hello"}, headers=headers, timeout=60)
    assert first.status_code == 200
    assert again.status_code == 422, again.text
    assert again.json()["error"]["code"] == "INPUT_INVALID"
    assert again.headers["x-request-id"] == request_id


def chat_as(secured: Secured, who: dict[str, str], request_id: str) -> httpx.Response:
    headers = {**who, "X-Request-ID": request_id}
    return httpx.post(f"{secured.platform.base_url}/api/chat", json={"message": "hello"}, headers=headers, timeout=60)


def test_a_request_id_cannot_be_squatted_by_another_user(secured: Secured) -> None:
    # Two users race for one id: whoever is first, both get an answer, each under an id of its own.
    chosen = fresh_id()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda who: chat_as(secured, who, chosen), [secured.bob, secured.alice]))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-request-id"] == answer.json()["request_id"]
    ids = [answer.json()["request_id"] for answer in answers]
    assert chosen in ids  # the first keeps it
    other = next(i for i in ids if i != chosen)
    assert other.startswith("req_")  # the second's run goes by an id of the server's
    # Each reaches only its own run; the id's holder still has it for one run only.
    holder, late = (secured.bob, secured.alice) if ids[0] == chosen else (secured.alice, secured.bob)
    assert chat_as(secured, holder, chosen).status_code == 422
    base = f"{secured.platform.base_url}/api/chat/stream"
    assert httpx.get(f"{base}/{other}", headers=holder, timeout=30).status_code == 404
    assert httpx.get(f"{base}/{chosen}", headers=late, timeout=30).status_code == 404


def test_a_squatted_request_id_stays_beside_the_runs_own_in_the_gateways_log(
    embedded_secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    chosen = fresh_id()
    assert chat_as(embedded_secured, embedded_secured.bob, chosen).json()["request_id"] == chosen
    with caplog.at_level(logging.INFO, logger="agent.gateway"):
        own = chat_as(embedded_secured, embedded_secured.alice, chosen).json()["request_id"]
        # The access line is written once the answer has been sent, so it may follow the reply.
        deadline = time.monotonic() + 10
        while True:
            beside = [vars(r) for r in caplog.records if getattr(r, "client_request_id", None) == chosen]
            if len(beside) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert own != chosen
    # The line saying why, and the request's access line, both under the run's own id.
    assert {r["request_id"] for r in beside} == {own} and len(beside) >= 2, caplog.text


def test_one_search_for_a_request_id_shows_its_path_through_every_service(
    distributed: Platform, pages_url: str
) -> None:
    request_id = fresh_id()
    response = httpx.post(
        f"{distributed.base_url}/api/chat",
        json={"message": f"What does {pages_url}/page say?"},
        headers={**distributed.headers, "X-Request-ID": request_id},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    wanted = {"gateway", "orchestrator", "tool-runner"}
    deadline = time.monotonic() + 20
    while True:  # log files are flushed by each process on its own schedule
        seen = {
            str(line["service"])
            for path in distributed.logs.values()
            for line in log_lines_with(path, request_id)
            if line.get("request_id") == request_id
        }
        if wanted <= seen or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert wanted <= seen, seen
    for path in distributed.logs.values():
        for line in log_lines_with(path, request_id):
            assert {"ts", "level", "service", "event", "request_id"} <= set(line), line
            if line["service"] != "gateway":
                assert line.get("session_id") and line.get("user_id"), line
