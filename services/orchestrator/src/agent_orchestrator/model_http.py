"""The model's endpoint over HTTP: OpenAI's chat-completions wire protocol, spoken with aiohttp.

What this path needs of the protocol is small: a bearer key, a JSON body, an error
answer's status and body, and a `text/event-stream` of `data:` events (decoded by the
WHATWG event-stream rules: CR, LF or CRLF line ends, comments, multi-line data) that
ends at `[DONE]`, with an `{"error": ...}` event standing for a failure inside it.
The `openai` SDK did this before: its request path (its options and httpx2's request
and response objects, over an httpx-to-aiohttp adapter) cost 1.1 ms of CPU a call
against the same aiohttp underneath, about a sixth of what an embedded request costs
at 50 streams (docs/benchmarks.md, 2026-12-06, fifth). Its retries were off already:
retrying is the resilience layer's. The SDK stays what checks the platform's own
protocol from a client's side (tests/offline_model, tests/e2e).

Failures come out as three exceptions, whatever aiohttp raised underneath, and
`model_errors.py` says what each means: `ModelErrorAnswer` (an error status, or an
error event in the stream), `ModelUnreachable` (no connection, or one lost), and
`ModelBadStream` (a stream the platform cannot read). Redirects are not followed: a
base URL that redirects is not the API's, and the key would go where it redirects.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp
import httpx
import orjson
from aiohttp.http_exceptions import LineTooLong

# The longest line of the stream read: a chunk is a few hundred bytes; one of 8 MiB is no answer.
MAX_LINE_BYTES = 8 * 1024 * 1024
# The longest error answer read: an error object is small, a proxy's HTML page need not be.
MAX_ERROR_BODY_BYTES = 64 * 1024
# The longest JSON answer read (`/models`, `/props`): a long model list is a few hundred KiB.
MAX_JSON_BYTES = 16 * 1024 * 1024
# After `[DONE]`, how long the body's last bytes are waited for: a connection is kept for the next
# call only once its body is read to the end (the blank line and the last chunk, there at once).
DRAIN_S = 0.1
USER_AGENT = "agent-orchestrator"


class ModelErrorAnswer(Exception):
    """The model answered with an error: an HTTP status of 300 or more, or (`status` None) an
    error event inside its stream. `body` is the error object (`{"error": body}`'s), or the
    whole body when it has none."""

    def __init__(self, status: int | None, body: object, retry_after: str | None = None) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after
        fields = body if isinstance(body, dict) else {}
        # As strings, whatever the provider wrote (vLLM writes `"code": 400`): a log field keeps one type.
        self.code = _text(fields.get("code"))
        self.type = _text(fields.get("type"))
        message = fields.get("message")
        self.message = message if isinstance(message, str) else str(body)[:500]
        super().__init__(f"status {status}" if status is not None else "an error event in the stream")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class ModelUnreachable(Exception):
    """No answer: the connection could not be made, or broke while the answer came."""


class ModelBadStream(Exception):
    """The stream is not one the platform can read: an event that is not JSON, or a line too long."""


class ModelEndpoint:
    """One OpenAI-compatible base URL, its key and its pool of connections."""

    def __init__(self, base_url: str, api_key: str, *, keepalive_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made at the first call, inside the event loop that will use it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # The trust the `openai` SDK had: `SSL_CERT_FILE` or `SSL_CERT_DIR` when set (a
                # private CA), else certifi's roots, the same in every image.
                connector=aiohttp.TCPConnector(
                    limit=1000, keepalive_timeout=self._keepalive_s, ssl=httpx.create_ssl_context()
                ),
                headers=self._headers,
                # No per-read timer: the caller's deadlines bound every read (model_client.py).
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def stream_chat(self, body: dict[str, Any]) -> EventStream:
        """`POST /chat/completions` with `body`, its answer open as a stream of decoded events."""
        try:
            response = await self._client().post(
                f"{self.base_url}/chat/completions",
                data=_encoded(body),
                headers={"Content-Type": "application/json"},
                allow_redirects=False,
            )
        except aiohttp.ClientError as exc:
            raise ModelUnreachable(str(exc)) from exc
        if response.status >= 300:
            raise await _error_answer(response)
        return EventStream(response)

    async def get_json(self, url: str, *, timeout_s: float) -> object:
        """`GET url` (absolute, or a path under the base URL), its JSON body decoded."""
        target = url if "://" in url else f"{self.base_url}/{url.lstrip('/')}"
        try:
            async with self._client().get(
                target, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                if response.status >= 300:
                    raise await _error_answer(response)
                payload = await _body(response, MAX_JSON_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ModelUnreachable(str(exc) or type(exc).__name__) from exc
        if payload is None:
            raise ModelBadStream(f"{target} answered more than {MAX_JSON_BYTES} bytes")
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ModelBadStream(f"{target} did not answer JSON") from exc


class EventStream:
    """The answer's events, each `data:` decoded from JSON, until `[DONE]` or the end of the body.
    Use it as an async context manager: leaving it gives the connection back (read to the end)
    or closes it (left early)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._events = self._decoded()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._events.aclose()
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()

    def __aiter__(self) -> AsyncIterator[object]:
        return self._events

    async def __anext__(self) -> object:
        return await anext(self._events)

    async def _decoded(self) -> AsyncGenerator[object]:
        data: list[bytes] = []
        content = self._response.content
        while True:
            try:
                raw = await content.readuntil(b"\n", max_size=MAX_LINE_BYTES)
            except LineTooLong as exc:
                raise ModelBadStream(f"a line of the stream is over {MAX_LINE_BYTES} bytes") from exc
            except aiohttp.ClientError as exc:
                raise ModelUnreachable(str(exc) or type(exc).__name__) from exc
            if not raw:
                return  # the body ended; an event not closed by a blank line is dropped, as the spec says
            for line in _lines(raw):
                if line:
                    field, _, value = line.partition(b":")
                    if field == b"data":
                        data.append(value[1:] if value.startswith(b" ") else value)
                    continue  # `event`, `id`, `retry` and comments: nothing the chat stream uses
                if not data:
                    continue
                event = b"\n".join(data)
                data.clear()
                if event.startswith(b"[DONE]"):
                    await self._drain()
                    return
                yield _event(event)

    async def _drain(self) -> None:
        content = self._response.content
        try:
            async with asyncio.timeout(DRAIN_S):
                while not content.at_eof() and await content.readany():
                    pass
        except (TimeoutError, aiohttp.ClientError):
            pass  # then the connection is closed, not kept: the answer is whole all the same


def _lines(raw: bytes) -> list[bytes]:
    """The lines in `raw`, which ends at a LF (or the body's end): a CR alone ends a line too."""
    if raw.endswith(b"\n"):
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    elif raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.split(b"\r") if b"\r" in raw else [raw]


def _event(data: bytes) -> object:
    try:
        decoded = orjson.loads(data)
    except orjson.JSONDecodeError:
        # orjson refuses a lone surrogate escaped into valid JSON (`"\ud800"`); the standard
        # library reads it (model_chunks.py makes it U+FFFD).
        try:
            decoded = json.loads(data)
        except ValueError as exc:
            raise ModelBadStream("an event of the stream is not JSON") from exc
    if isinstance(decoded, dict) and decoded.get("error"):
        raise ModelErrorAnswer(None, decoded["error"])
    return decoded


def _encoded(body: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:
        # A lone surrogate in the conversation, which no UTF-8 can carry: escaped, as JSON allows.
        return json.dumps(body, ensure_ascii=True).encode()


async def _body(response: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The whole body, however many pieces it comes in; None when it is longer than `cap`."""
    pieces: list[bytes] = []
    size = 0
    while piece := await response.content.readany():
        size += len(piece)
        if size > cap:
            return None
        pieces.append(piece)
    return b"".join(pieces)


async def _error_answer(response: aiohttp.ClientResponse) -> ModelErrorAnswer:
    """The error answer's status and body; of a body over the cap, nothing (its status still says)."""
    try:
        payload = await _body(response, MAX_ERROR_BODY_BYTES) or b""
    except aiohttp.ClientError:
        payload = b""
    finally:
        response.close()
    try:
        body: object = orjson.loads(payload)
    except orjson.JSONDecodeError:
        body = payload.decode("utf-8", "replace")
    if isinstance(body, dict) and "error" in body:
        body = body["error"]
    return ModelErrorAnswer(response.status, body, response.headers.get("retry-after"))
