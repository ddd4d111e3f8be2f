"""The model's wire protocol as the platform speaks it (`model_http.py`), byte by byte: every way
the event-stream rules let a server write the same events, what no server should send, a
redirect, an error page, the key and the connection. Served over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_common.errors import ErrorCode, PlatformError
from agent_common.settings import ModelSettings
from agent_orchestrator import model_http
from agent_orchestrator.model_client import ModelClient
from tests.support.tls import private_ca_certificate
from tests.support.web import serve_in_thread


def _chunk(text: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]})


_END = json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})

# The same answer ("a", "b", "c", then the end), written as the event-stream rules allow.
_EVENTS = [_chunk("a"), _chunk("b"), _chunk("c"), _END]


def _written(line_end: str, *, last: str = "data: [DONE]\n\n") -> bytes:
    return ("".join(f"data: {e}{line_end}{line_end}" for e in _EVENTS) + last).encode()


WRITINGS: dict[str, bytes] = {
    "lf": _written("\n"),
    "crlf": _written("\r\n", last="data: [DONE]\r\n\r\n"),
    # CR alone ends a line too; the last line ends with LF, as a body's last bytes do.
    "cr": _written("\r"),
    # Comments (keep-alives), fields the chat stream does not use, no space after the colon,
    # an event's JSON split over two data lines (joined by a newline: whitespace in JSON).
    "fields": (
        f": keep-alive\n\nevent: message\nid: 1\nretry: 100\ndata:{_chunk('a')}\n\n"
        f'data: {{"choices": [{{"index": 0,\ndata: "delta": {{"content": "b"}}}}]}}\n\n'
        f": ping\ndata: {_chunk('c')}\n\ndata: {_END}\n\ndata: [DONE]\n\n"
    ).encode(),
    # No [DONE]: the body's end ends the stream; an event not closed by a blank line is dropped.
    "no-done": _written("\n", last=f"data: {_chunk('x')}"),
    # Whatever follows [DONE] is not read.
    "after-done": _written("\n", last=f"data: [DONE]\n\ndata: {_chunk('x')}\n\n"),
}

BROKEN: dict[str, bytes] = {
    "not-json-first": b"data: <html>busy</html>\n\n",
    "not-json-later": f"data: {_chunk('a')}\n\ndata: {{oops\n\n".encode(),
    "long-line": f"data: {_chunk('a')}\n\ndata: {_chunk('b' * 5000)}\n\n".encode(),
}


async def _pieces(written: bytes) -> AsyncIterator[bytes]:
    """`written` in pieces of 7 bytes, each its own chunk on the wire: a line spans reads."""
    for start in range(0, len(written), 7):
        yield written[start : start + 7]
        await asyncio.sleep(0)


class Provider:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.keys: list[str | None] = []
        self.peers: list[int] = []
        self.redirected: list[str | None] = []

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            raw = await request.body()
            self.bodies.append(raw)
            self.keys.append(request.headers.get("authorization"))
            self.peers.append(request.client.port if request.client else 0)
            model = json.loads(raw)["model"]
            if model == "redirect":
                return RedirectResponse("/elsewhere", status_code=307)
            if model == "html-502":
                return PlainTextResponse("<html><body>Bad gateway</body></html>", status_code=502)
            if model == "429-in-pieces":  # a spent quota: only the body tells it from a busy model
                error = json.dumps(
                    {
                        "error": {
                            "message": "You exceeded your quota.",
                            "type": "insufficient_quota",
                            "code": "insufficient_quota",
                        }
                    }
                ).encode()
                return StreamingResponse(
                    _pieces(error), status_code=429, headers={"retry-after": "7"}, media_type="application/json"
                )
            return StreamingResponse(_pieces(WRITINGS.get(model) or BROKEN[model]), media_type="text/event-stream")

        async def elsewhere(request: Request) -> Response:
            self.redirected.append(request.headers.get("authorization"))
            return JSONResponse({"error": {"message": "not here"}}, status_code=404)

        async def models(_: Request) -> Response:
            return JSONResponse(
                {"object": "list", "data": [{"id": f"model-{i}", "object": "model"} for i in range(40)]}
            )

        return Starlette(
            routes=[
                Route("/v1/models", models),
                Route("/v1/chat/completions", completions, methods=["POST"]),
                Route("/elsewhere", elsewhere, methods=["GET", "POST"]),
            ]
        )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Provider, str]]:
    provider = Provider()
    with serve_in_thread(provider.app()) as url:
        yield provider, f"{url}/v1"


async def _answer(client: ModelClient, content: str = "hi") -> tuple[list[str], Any]:
    tokens: list[str] = []
    async with client.stream([{"role": "user", "content": content}], [], time.time() + 30) as response:
        async for delta in response:
            tokens.append(delta.text)
    return tokens, response.turn()


async def _turn(url: str, model: str, **settings: Any) -> tuple[list[str], Any]:
    client = ModelClient(ModelSettings(base_url=url, name=model, **settings))
    try:
        return await _answer(client)
    finally:
        await client.close()


@pytest.mark.parametrize("writing", sorted(WRITINGS))
async def test_every_way_the_event_stream_rules_allow_reads_the_same_answer(
    served: tuple[Provider, str], writing: str
) -> None:
    tokens, turn = await _turn(served[1], writing)
    assert tokens == ["a", "b", "c"]
    assert (turn.text, turn.finish_reason) == ("abc", "stop")


@pytest.mark.parametrize("case", ["not-json-first", "not-json-later"])
async def test_an_event_that_is_not_json_is_a_bad_response(served: tuple[Provider, str], case: str) -> None:
    with pytest.raises(PlatformError) as caught:
        await _turn(served[1], case)
    assert caught.value.code is ErrorCode.MODEL_BAD_RESPONSE


async def test_a_line_longer_than_the_cap_is_a_bad_response_not_memory(
    served: tuple[Provider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_http, "MAX_LINE_BYTES", 4096)
    with pytest.raises(PlatformError) as caught:
        await _turn(served[1], "long-line")
    assert caught.value.code is ErrorCode.MODEL_BAD_RESPONSE


async def test_a_redirect_is_a_misconfigured_base_url_and_the_key_does_not_follow_it(
    served: tuple[Provider, str],
) -> None:
    provider, url = served
    with pytest.raises(PlatformError) as caught:
        await _turn(url, "redirect", api_key="sk-secret")
    assert caught.value.code is ErrorCode.MODEL_MISCONFIGURED
    assert caught.value.info.details["status"] == 307
    assert provider.redirected == []


async def test_an_error_page_that_is_not_json_is_read_by_its_status(served: tuple[Provider, str]) -> None:
    with pytest.raises(PlatformError) as caught:
        await _turn(served[1], "html-502")
    assert caught.value.code is ErrorCode.MODEL_UNAVAILABLE
    assert caught.value.info.details["status"] == 502


async def test_an_error_answer_in_pieces_is_read_whole(served: tuple[Provider, str]) -> None:
    with pytest.raises(PlatformError) as caught:
        await _turn(served[1], "429-in-pieces")
    assert caught.value.code is ErrorCode.MODEL_MISCONFIGURED
    assert caught.value.info.details["reason"] == "insufficient_quota"


async def test_the_key_and_the_conversation_reach_the_model_a_lone_surrogate_escaped(
    served: tuple[Provider, str],
) -> None:
    provider, url = served
    client = ModelClient(ModelSettings(base_url=url, name="lf", api_key="sk-secret"))
    try:
        await _answer(client, "안녕 \ud800 hello")
    finally:
        await client.close()
    assert provider.keys[-1] == "Bearer sk-secret"
    sent = json.loads(provider.bodies[-1])
    assert sent["messages"] == [{"role": "user", "content": "안녕 \ud800 hello"}]
    assert (sent["stream"], sent["stream_options"]) == (True, {"include_usage": True})


async def test_answers_read_to_their_end_share_one_connection_and_one_left_early_does_not(
    served: tuple[Provider, str],
) -> None:
    provider, url = served
    client = ModelClient(ModelSettings(base_url=url, name="lf"))
    try:
        first = len(provider.peers)
        for _ in range(4):
            await _answer(client)
        assert len(set(provider.peers[first:])) == 1  # kept alive and reused
        async with client.stream([{"role": "user", "content": "hi"}], [], time.time() + 30) as response:
            async for _ in response:
                break  # left with the body unread: that connection is closed, not reused
        await _answer(client)
        assert provider.peers[-1] != provider.peers[-2]
    finally:
        await client.close()


async def test_an_endpoint_with_a_private_ca_s_certificate_is_trusted_through_ssl_cert_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate = private_ca_certificate(tmp_path)
    with serve_in_thread(Provider().app(), tls=certificate) as url:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        with pytest.raises(PlatformError) as untrusted:
            await _turn(f"{url}/v1", "lf")
        assert untrusted.value.code is ErrorCode.MODEL_UNAVAILABLE

        monkeypatch.setenv("SSL_CERT_FILE", str(certificate.ca_file))
        tokens, _ = await _turn(f"{url}/v1", "lf")
        assert tokens == ["a", "b", "c"]


async def test_a_json_answer_over_the_cap_is_refused_not_held(
    served: tuple[Provider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = model_http.ModelEndpoint(served[1], "k", keepalive_s=1)
    try:
        listed = await endpoint.get_json("models", timeout_s=5)
        assert isinstance(listed, dict) and len(listed["data"]) == 40
        monkeypatch.setattr(model_http, "MAX_JSON_BYTES", 512)
        with pytest.raises(model_http.ModelBadStream):
            await endpoint.get_json("models", timeout_s=5)
    finally:
        await endpoint.close()
