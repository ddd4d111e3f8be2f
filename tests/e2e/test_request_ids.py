"""Request ids as operators use them: a caller's well-formed `X-Request-ID` is
honoured and echoed, names its run, and one search for it in the JSON logs of
every service shows the request's whole path (gateway, orchestrator, tool runner)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import httpx

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
