"""Every refusal under `/v1` is in OpenAI's error shape with the platform's error inside
(`openai_errors.py`), whoever makes it: the route, validation, the router (404, 405) or the
body limit, which runs before any route. Elsewhere the platform's own shape is untouched."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from agent_common.errors import ERROR_CLASS_OF, ErrorCode

OPENAI_FIELDS = {"message", "type", "param", "code"}
HELLO = {"model": "agent", "messages": [{"role": "user", "content": "Hello"}]}


def openai_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= OPENAI_FIELDS, error
    assert error["class"] == ERROR_CLASS_OF[ErrorCode(error["code"])]
    return error


def test_the_routes_own_refusals(anonymous_gateway: TestClient) -> None:
    refused = anonymous_gateway.post("/v1/chat/completions", json={**HELLO, "n": 2})
    assert refused.status_code == 400
    error = openai_error(refused)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "PARAMETER_UNSUPPORTED", "n")
    unknown = anonymous_gateway.get("/v1/models/gpt-4o")
    assert unknown.status_code == 404 and openai_error(unknown)["code"] == "NOT_FOUND"


def test_validation_names_the_field_as_the_client_wrote_it(anonymous_gateway: TestClient) -> None:
    refused = anonymous_gateway.post(
        "/v1/chat/completions", json={"model": "agent", "messages": [{"role": "user", "content": " "}]}
    )
    assert refused.status_code == 400
    error = openai_error(refused)
    assert (error["type"], error["param"]) == ("invalid_request_error", "messages.0.content")
    header = anonymous_gateway.post("/v1/chat/completions", json=HELLO, headers={"X-Session-ID": "null"})
    assert (header.status_code, openai_error(header)["param"]) == (400, "X-Session-ID")


def test_the_router_and_the_body_limit_refusals(anonymous_gateway: TestClient) -> None:
    wrong_method = anonymous_gateway.get("/v1/chat/completions")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert openai_error(wrong_method)["code"] == "METHOD_NOT_ALLOWED"
    no_route = anonymous_gateway.post("/v1/embeddings", json={})
    assert no_route.status_code == 404 and openai_error(no_route)["type"] == "invalid_request_error"
    too_big = anonymous_gateway.post(
        "/v1/chat/completions", content=b"x" * 20_000, headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413
    assert openai_error(too_big)["code"] == "BODY_TOO_LARGE"
    assert int(too_big.headers["content-length"]) == len(too_big.content)


def test_an_authentication_refusal(anonymous_gateway: TestClient) -> None:
    refused = anonymous_gateway.get("/v1/models", headers={"authorization": "Bearer agk_000000000000_" + "C" * 43})
    assert refused.status_code == 401
    assert openai_error(refused)["type"] == "authentication_error"


def test_the_platforms_own_api_keeps_its_shape(anonymous_gateway: TestClient) -> None:
    refused = anonymous_gateway.get("/api/chat")
    assert set(refused.json()["error"]) == {"class", "code", "message", "details"}
