"""`errors.py`: every failure leaves the gateway as a classified JSON error, never a bare 500 page."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.logs import bind_ids
from agent_gateway.errors import Refused, error_response, install_error_handlers


class Body(BaseModel):
    n: int


def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, int]:
        return {"n": body.n}

    @app.get("/refused")
    async def refused() -> None:
        raise Refused(ErrorCode.AUTH_INVALID, "no", headers={"WWW-Authenticate": "Bearer"}, reason="test")

    @app.get("/redis")
    async def redis_down() -> None:
        raise RedisConnectionError("connection refused")

    @app.get("/bug")
    async def bug() -> None:
        raise ZeroDivisionError

    return TestClient(app, raise_server_exceptions=False)


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_error_response_carries_class_code_ids_and_leaves_out_what_is_unset() -> None:
    info = ErrorInfo.of(ErrorCode.INPUT_TOO_LARGE, "too long", limit=5)
    response = error_response(info, request_id="req_1", partial_answer="half")
    assert response.status_code == 413
    assert response.body == (
        b'{"error":{"class":"user_input","code":"INPUT_TOO_LARGE","message":"too long","details":{"limit":5}},'
        b'"request_id":"req_1","partial_answer":"half"}'
    )


def test_error_response_takes_the_request_id_of_the_context_when_none_is_given() -> None:
    with bind_ids(request_id="req_from_context"):
        response = error_response(ErrorInfo.of(ErrorCode.NOT_FOUND, "gone"))
    assert b'"request_id":"req_from_context"' in response.body
    assert response.status_code == 404


def test_an_invalid_body_is_a_422_input_invalid_naming_each_field() -> None:
    response = client().post("/echo", json={"n": "many"})
    assert response.status_code == 422
    error = error_of(response)
    assert (error["class"], error["code"]) == ("user_input", "INPUT_INVALID")
    assert [f["field"] for f in error["details"]["fields"]] == ["n"]


def test_malformed_json_is_input_invalid_for_the_body() -> None:
    response = client().post("/echo", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and error_of(response)["code"] == "INPUT_INVALID"


def test_a_refusal_keeps_its_headers() -> None:
    response = client().get("/refused")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_of(response)["details"] == {"reason": "test"}


def test_an_unknown_path_is_not_found_and_a_wrong_method_keeps_allow() -> None:
    assert error_of(client().get("/nowhere"))["code"] == "NOT_FOUND"
    response = client().get("/echo")
    assert response.status_code == 405
    # Its own code: the path exists (tests/gateway/test_error_bodies.py walks every route).
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "POST"


def test_redis_failing_is_a_503_infra_unavailable() -> None:
    response = client().get("/redis")
    assert response.status_code == 503
    assert (error_of(response)["class"], error_of(response)["code"]) == ("infra", "INFRA_UNAVAILABLE")


def test_a_bug_is_a_classified_internal_error_that_tells_nothing_of_the_cause() -> None:
    response = client().get("/bug")
    assert response.status_code == 503
    assert error_of(response) == {
        "class": "infra",
        "code": "INTERNAL",
        "message": "Something went wrong on our side.",
        "details": {},
    }


def test_an_error_that_is_not_the_callers_own_carries_a_fallback_in_the_callers_language() -> None:
    # The web page shows `fallback ?? message`: a Korean caller must not read the platform's trouble in English.
    for path in ("/redis", "/bug"):
        korean = client().get(path, headers={"accept-language": "ko-KR,ko;q=0.9"}).json()
        english = client().get(path, headers={"accept-language": "en"}).json()
        assert korean["fallback"] == "잠시 후 다시 시도해 주세요. 지금은 답변을 드릴 수 없습니다.", korean
        assert english["fallback"].startswith("Please try again in a moment"), english
        assert korean["error"]["code"] == english["error"]["code"] != "INPUT_INVALID"
    # A caller's own mistake has no fallback: its message says what to change.
    assert "fallback" not in client().post("/echo", json={"n": "many"}, headers={"accept-language": "ko"}).json()
