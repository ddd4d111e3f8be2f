"""`body_limit.py`: a body past the limit is refused while it is read; one within it reaches the app whole."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from agent_gateway.body_limit import BodyLimitMiddleware

LIMIT = 10


class Recorder:
    """The app behind the middleware: what it was handed, if it was called."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def post(
    chunks: list[bytes], *, content_length: int | str | None = None, method: str = "POST", **scope_extra: Any
) -> tuple[Recorder, list[Message], int]:
    """Sends `chunks` as the body; returns the app, what was answered and how many chunks were read."""
    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    scope = {"type": "http", "method": method, "path": "/api/chat", "headers": headers, **scope_extra}
    queue: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    app = Recorder()
    await BodyLimitMiddleware(app, max_bytes=LIMIT)(scope, receive, send)
    return app, sent, read


def refusal(sent: list[Message]) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    start, body = sent
    return start["status"], dict(start["headers"]), json.loads(body["body"])


async def test_a_body_of_exactly_the_limit_reaches_the_app_whole() -> None:
    app, sent, _ = await post([b"12345", b"67890"])
    assert app.bodies == [b"1234567890"]
    assert sent[0]["status"] == 200


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    app, sent, read = await post([b"x" * 11], content_length=11)
    status, headers, body = refusal(sent)
    assert (status, body["error"]["code"], body["error"]["details"]) == (413, "BODY_TOO_LARGE", {"limit": LIMIT})
    assert body["error"]["message"] == "The request body is larger than 10 bytes."
    assert headers[b"connection"] == b"close"  # the unread rest makes the connection unusable
    assert int(headers[b"content-length"]) == len(sent[1]["body"])
    assert read == 0 and app.bodies == []


async def test_a_lying_content_length_is_caught_by_counting() -> None:
    app, sent, read = await post([b"12345", b"678901"], content_length=3)
    assert refusal(sent)[0] == 413
    assert read == 2 and app.bodies == []


async def test_an_unreadable_content_length_is_not_trusted_either_way() -> None:
    app, _, _ = await post([b"small"], content_length="lots")
    assert app.bodies == [b"small"]
    _, sent, _ = await post([b"x" * 11], content_length="lots")
    assert refusal(sent)[0] == 413


async def test_the_refusal_names_the_request_id_when_the_context_has_one() -> None:
    class Context:
        request_id = "req_body_limit_1"

    _, sent, _ = await post([b"x" * 11], state={"context": Context()})
    assert refusal(sent)[2]["request_id"] == "req_body_limit_1"
    _, sent, _ = await post([b"x" * 11])
    assert "request_id" not in refusal(sent)[2]


async def test_a_client_gone_before_the_body_ended_gets_no_answer_and_the_app_is_not_called() -> None:
    app, sent, _ = await post([])  # the first receive() is already a disconnect
    assert sent == [] and app.bodies == []


async def test_reads_are_not_counted() -> None:
    # GET, HEAD and OPTIONS pass straight through, whatever they claim to carry.
    app, sent, _ = await post([b"x" * 50], content_length=50, method="GET")
    assert app.bodies == [b"x" * 50] and sent[0]["status"] == 200
