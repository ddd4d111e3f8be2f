"""Streaming clients placed in every phase of a run at the moment a fault begins, and what each saw.

Four phases, ten clients each (40 streams at once):

- `before_claim`: admitted while the orchestrators are held (SIGSTOP), so they are
  between the gateway's admission and an orchestrator's claim when the fault begins;
- `model_call`: held in the model's call by a queued `stall` of the offline model;
- `tools`: waiting on a tool whose page answers slowly (`/slow` of `slow_pages_app`);
- `streaming`: streaming their answer (every token comes `TOKEN_DELAY_MS` apart).

A client is a browser's EventSource: it parses frames, keeps every event, and
gives up only past the gateway's deadline (then the run is "lost").
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.support.platform import Platform

PHASES = ("before_claim", "model_call", "tools", "streaming")
PER_PHASE = 10
TOKEN_DELAY_MS = 200  # the offline model's pace: a 19-token answer streams for about 4 s
STALL_MS = 3000  # a model-phase request's call hangs this long before its first token
SLOW_PAGE_S = 3.0  # a tools-phase request's page takes this long
GATEWAY_DEADLINE_S = 50  # GATEWAY_REQUEST_TIMEOUT_S of the chaos platforms: above the tool-result timeout
TERMINAL = ("done", "error")


def slow_pages_app() -> Starlette:
    """The tool upstream: `/slow?n=...` answers a short page after `SLOW_PAGE_S`."""

    async def slow(request: Request) -> Response:
        await asyncio.sleep(SLOW_PAGE_S)
        return PlainTextResponse(f"Slow page {request.query_params.get('n', '')}: the answer is 42.")

    return Starlette(routes=[Route("/slow", slow)])


def message_for(phase: str, n: int, pages_url: str) -> str:
    """Distinct per phase and index, the same in every scenario: one fault-free pass gives every answer."""
    if phase == "tools":
        return f"chaos tools {n}: read {pages_url}/slow?n={n} please"
    return f"chaos {phase} {n}: stream me along"


@dataclass
class Seen:
    """What one client saw of its request."""

    phase: str
    message: str
    status: int | None = None  # of the POST; None: no answer at all
    refusal: str = ""  # a refused request's error code (or body)
    request_id: str = ""
    types: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    terminals: list[dict[str, Any]] = field(default_factory=list)
    ended_at: float | None = None  # monotonic time of the first terminal event
    failure: str = ""  # the client's own error: the connection dropped, or the deadline passed

    @property
    def accepted(self) -> bool:
        return self.status == 200

    @property
    def outcome(self) -> str:
        """`done`, `<CODE>/<reason>` for an error, or `lost` (no terminal event)."""
        if not self.terminals:
            return "lost"
        last = self.terminals[0]
        if last["__type"] == "done":
            return "done"
        error = last.get("error", {})
        reason = error.get("details", {}).get("reason")
        return f"{error.get('code', '?')}/{reason}" if reason else str(error.get("code", "?"))

    @property
    def answer(self) -> str | None:
        done = [t for t in self.terminals if t["__type"] == "done"]
        return str(done[0].get("answer")) if done else None

    @property
    def streamed(self) -> str:
        return "".join(self.tokens)


class Client:
    """Streams one request and records what it saw; `reached` is set at its milestone
    (`accepted`: the response headers came; `tool_start`; `token`: the first token), if any."""

    def __init__(self, platform: Platform, phase: str, message: str, milestone: str | None = None) -> None:
        self.seen = Seen(phase, message)
        self.reached = asyncio.Event()
        self._platform = platform
        self._milestone = milestone
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> Seen:
        try:
            async with asyncio.timeout(GATEWAY_DEADLINE_S + 20):
                await self._stream()
        except TimeoutError:
            self.seen.failure = "no end within the gateway's deadline + 20 s"
        except (httpx.HTTPError, ValueError) as exc:
            self.seen.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.reached.set()  # whatever happened, nobody waits for it any more
        return self.seen

    async def _stream(self) -> None:
        seen, platform = self.seen, self._platform
        async with (
            httpx.AsyncClient(timeout=GATEWAY_DEADLINE_S + 10, headers=platform.headers) as client,
            aconnect_sse(client, "POST", f"{platform.base_url}/api/chat/stream", json={"message": seen.message}) as src,
        ):
            seen.status = src.response.status_code
            if seen.status != 200:
                body = (await src.response.aread()).decode(errors="replace")
                try:
                    seen.refusal = str(json.loads(body)["error"]["code"])
                except (ValueError, KeyError, TypeError):
                    seen.refusal = body[:200]
                return
            seen.request_id = src.response.headers.get("x-request-id", "")
            if self._milestone == "accepted":
                self.reached.set()
            async for event in src.aiter_sse():
                if not event.data:
                    continue  # a keep-alive comment
                seen.types.append(event.event)
                data = json.loads(event.data)
                if event.event == "token":
                    seen.tokens.append(str(data.get("text", "")))
                if event.event in TERMINAL:
                    seen.terminals.append({"__type": event.event, **data})
                    if seen.ended_at is None:
                        seen.ended_at = time.monotonic()
                if event.event == self._milestone:
                    self.reached.set()


async def wait_reached(clients: list[Client], timeout_s: float) -> None:
    """Until every client reached its milestone, or `timeout_s` passed (a slow one is no failure here)."""
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(c.reached.wait() for c in clients))
    except TimeoutError:
        pass


async def queue_stalls(platform: Platform, count: int) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{platform.services['offline-model']}/admin/faults",
            json={"kind": "stall", "count": count, "delay_ms": STALL_MS},
        )
        assert response.status_code == 201, response.text


async def stalls_taken(platform: Platform, timeout_s: float = 10) -> None:
    """Until the offline model applied every queued stall: those calls are now hanging."""
    async with httpx.AsyncClient() as client:
        try:
            async with asyncio.timeout(timeout_s):
                while (await client.get(f"{platform.services['offline-model']}/admin/faults")).json()["faults"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            await client.delete(f"{platform.services['offline-model']}/admin/faults")  # never leak into the next pass
