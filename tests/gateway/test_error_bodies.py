"""Every error body the gateway answers carries a code from the catalogue (`ErrorCode`)
with its class, whatever is sent: every route is walked with the methods it does not
take and the content types it does not read. A wrong method on a path that exists is
405 `METHOD_NOT_ALLOWED` with `Allow` (never `NOT_FOUND`), a body that is not declared
JSON is 415 `CONTENT_TYPE_UNSUPPORTED`, in the caller's language."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount

from agent_common.errors import ERROR_CLASS_OF, HTTP_STATUS_OF, ErrorCode

PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
A_VALID_ID = "req_0123456789abcdef"
NOT_JSON = {
    "no content type": {},
    "text": {"content-type": "text/plain"},
    "form": {"content-type": "application/x-www-form-urlencoded"},
    "multipart": {"content-type": "multipart/form-data; boundary=x"},
}


def flattened(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        yield from flattened(inner) if inner is not None else [route]


def served_paths(client: TestClient) -> dict[str, set[str]]:
    """Every path the gateway serves (a template's parameters filled in) and the methods it takes."""
    paths: dict[str, set[str]] = {}
    for route in flattened(client.app.router.routes):  # type: ignore[attr-defined]
        if isinstance(route, Mount):  # static files: GET and HEAD only
            paths[f"{route.path}/favicon.png"] = {"GET", "HEAD"}
        elif methods := getattr(route, "methods", None):
            path = re.sub(r"\{[^}]+\}", A_VALID_ID, route.path)  # type: ignore[attr-defined]
            paths.setdefault(path, set()).update(methods)
    return paths


def assert_catalogued(response: httpx.Response) -> dict[str, object]:
    """The body is a classified error whose code is in the catalogue, with its class and status."""
    assert response.status_code >= 400, response.text
    error: dict[str, object] = response.json()["error"]
    code = ErrorCode(error["code"])
    assert error["class"] == ERROR_CLASS_OF[code]
    expected = HTTP_STATUS_OF.get(code, response.status_code)
    if response.request.url.path.startswith("/v1/") and expected == 422:
        expected = 400  # OpenAI's API answers a body of the wrong shape 400 (docs/openai.md)
    assert response.status_code == expected, (response.request.url.path, response.status_code)
    return error


def test_every_route_is_walked(anonymous_gateway: TestClient) -> None:
    paths = served_paths(anonymous_gateway)
    assert {"/api/chat", "/api/chat/stream", "/api/reindex", "/health", "/docs", "/docs/assets/favicon.png"} <= set(
        paths
    )


def test_a_method_a_path_does_not_take_is_405_with_allow(anonymous_gateway: TestClient) -> None:
    for path, methods in served_paths(anonymous_gateway).items():
        for method in sorted(set(PROBED_METHODS) - methods):
            response = anonymous_gateway.request(method, path, headers={"accept-language": "ko"})
            assert response.status_code == 405, (method, path, response.text)
            error = assert_catalogued(response)
            assert error["code"] == "METHOD_NOT_ALLOWED", (method, path)
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed == methods, (method, path)
            assert error["details"] == {"allow": response.headers["allow"].split(", ")}
            assert "받지 않습니다" in str(error["message"])


def body_routes(client: TestClient) -> list[APIRoute]:
    routes = [r for r in flattened(client.app.router.routes) if isinstance(r, APIRoute) and r.body_field]  # type: ignore[attr-defined]
    assert {r.path for r in routes} >= {"/api/chat", "/api/chat/stream", "/api/reindex"}
    return routes


@pytest.mark.parametrize("headers", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_body_not_declared_json_is_415_in_english_and_korean(
    anonymous_gateway: TestClient, headers: dict[str, str]
) -> None:
    for route in body_routes(anonymous_gateway):
        for language, words in (("en", "Content-Type: application/json"), ("ko", "헤더와 함께 보내 주세요")):
            response = anonymous_gateway.post(
                route.path, content=b'{"message": "hello"}', headers={**headers, "accept-language": language}
            )
            error = assert_catalogued(response)
            assert (response.status_code, error["code"]) == (415, "CONTENT_TYPE_UNSUPPORTED"), route.path
            assert error["details"] == {"expected": "application/json"}
            assert words in str(error["message"])


def test_a_json_body_of_the_wrong_shape_is_still_input_invalid(anonymous_gateway: TestClient) -> None:
    for route in body_routes(anonymous_gateway):
        for content in (b"{not json", b'"a string"', b"[]", b""):
            response = anonymous_gateway.post(route.path, content=content, headers={"content-type": "application/json"})
            assert assert_catalogued(response)["code"] == "INPUT_INVALID", (route.path, content)


def test_an_unknown_path_is_not_found_whatever_the_method(anonymous_gateway: TestClient) -> None:
    for method in PROBED_METHODS:
        response = anonymous_gateway.request(method, "/api/no-such-route")
        assert assert_catalogued(response)["code"] == "NOT_FOUND", method
