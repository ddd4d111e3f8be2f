"""Keep-alive comments on a stream that waits, so proxies with idle timeouts do not cut it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import platform_env
from tests.support.platform import Platform, embedded_platform


@pytest.fixture(scope="module")
def pinging(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    env = {**platform_env(pages_url, tmp_path_factory.mktemp("keepalive") / "keys.json"), "GATEWAY_SSE_PING_S": "0.3"}
    with embedded_platform(env) as platform:
        yield platform


async def test_a_stream_waiting_for_the_model_gets_keep_alive_comments_then_its_answer(pinging: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        queued = await client.post(f"{pinging.base_url}/offline/admin/faults", json={"kind": "stall", "delay_ms": 1500})
        assert queued.status_code == 201
        lines: list[str] = []
        async with client.stream("POST", f"{pinging.base_url}/api/chat/stream", json={"message": "wait for me"}) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                lines.append(line)
    first_event = next(i for i, line in enumerate(lines) if line.startswith("event:"))
    comments = [line for line in lines[:first_event] if line.startswith(":")]
    assert len(comments) >= 2, lines[:first_event]  # while the model stalled, the line stayed alive
    assert "event: done" in lines


async def test_a_busy_stream_gets_no_keep_alive_comments_between_its_events(pinging: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        # A token every 0.1 s for well over the 0.3 s ping interval: the stream is never quiet.
        slow = await client.post(f"{pinging.base_url}/offline/admin/faults", json={"kind": "slow", "delay_ms": 100})
        assert slow.status_code == 201
        lines: list[str] = []
        started = time.monotonic()
        body = {"message": "keep talking to me for a while please"}
        async with client.stream("POST", f"{pinging.base_url}/api/chat/stream", json=body) as r:
            async for line in r.aiter_lines():
                lines.append(line)
        took = time.monotonic() - started
    first_token = next(i for i, line in enumerate(lines) if line == "event: token")
    done = lines.index("event: done")
    assert took > 1.0  # busy for more than three ping intervals
    assert [line for line in lines[first_token:done] if line.startswith(":")] == []
