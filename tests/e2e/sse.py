"""An SSE client as a browser would be: it parses frames, it does not grep bytes."""

from __future__ import annotations

from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse


async def stream_chat(
    base_url: str, body: dict[str, Any], read_timeout_s: float = 30, *, headers: dict[str, str] | None = None
) -> list[ServerSentEvent]:
    async with (
        httpx.AsyncClient(timeout=read_timeout_s, headers=headers) as client,
        aconnect_sse(client, "POST", f"{base_url}/api/chat/stream", json=body) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        # A keep-alive comment reaches httpx-sse as an empty event (a browser's EventSource drops it).
        return [event async for event in source.aiter_sse() if event.data]
