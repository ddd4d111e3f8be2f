"""`request_context.py`: every request gets an id (the caller's own when well formed) and a client IP."""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive, Scope, Send

from agent_gateway.request_context import RequestContextMiddleware, incoming_request_id, request_context


def http_scope(*headers: tuple[bytes, bytes], path: str = "/api/chat") -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": list(headers), "client": ("10.0.0.9", 5000)}


async def call(app: Any, scope: dict[str, Any], *, ip_header: str | None = None) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await RequestContextMiddleware(app, ip_header=ip_header, trusted_hops=1)(scope, receive, send)
    return sent


def answering(*headers: tuple[bytes, bytes], seen: list[Any] | None = None) -> Any:
    async def app(scope: Scope, _: Receive, send: Send) -> None:
        if seen is not None:
            seen.append(request_context(scope))
        await send({"type": "http.response.start", "status": 204, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b""})

    return app


def response_headers(sent: list[Message]) -> dict[bytes, bytes]:
    return dict(sent[0]["headers"])


def test_incoming_request_id_is_taken_only_when_well_formed() -> None:
    assert incoming_request_id(http_scope((b"x-request-id", b"my-trace_0001"))) == "my-trace_0001"
    assert incoming_request_id(http_scope((b"x-request-id", b"short"))) is None  # under 8 characters
    assert incoming_request_id(http_scope((b"x-request-id", b"has space in it"))) is None
    assert incoming_request_id(http_scope((b"x-request-id", b"x" * 65))) is None
    assert incoming_request_id(http_scope()) is None


async def test_a_callers_id_is_used_echoed_and_marked_as_supplied() -> None:
    seen: list[Any] = []
    sent = await call(answering(seen=seen), http_scope((b"x-request-id", b"my-trace_0001")))
    assert response_headers(sent)[b"x-request-id"] == b"my-trace_0001"
    assert seen[0].request_id == "my-trace_0001" and seen[0].supplied is True


async def test_without_a_usable_id_a_fresh_one_is_minted_and_not_marked_as_supplied() -> None:
    seen: list[Any] = []
    sent = await call(answering(seen=seen), http_scope((b"x-request-id", b"bad id")))
    minted = response_headers(sent)[b"x-request-id"].decode()
    assert minted.startswith("req_") and minted == seen[0].request_id
    assert seen[0].supplied is False


async def test_an_id_the_app_already_set_is_not_overwritten() -> None:
    sent = await call(answering((b"x-request-id", b"run_owned_id")), http_scope())
    assert [v for k, v in sent[0]["headers"] if k.lower() == b"x-request-id"] == [b"run_owned_id"]


async def test_the_client_ip_follows_the_configured_header() -> None:
    seen: list[Any] = []
    await call(answering(seen=seen), http_scope((b"x-real-ip", b"203.0.113.7")), ip_header="X-Real-IP")
    assert seen[0].client_ip == "203.0.113.7"


async def test_other_connection_types_pass_through_untouched() -> None:
    calls: list[str] = []

    async def app(scope: Scope, _: Receive, __: Send) -> None:
        calls.append(scope["type"])
        assert "state" not in scope

    assert await call(app, {"type": "lifespan"}) == []
    assert calls == ["lifespan"]
