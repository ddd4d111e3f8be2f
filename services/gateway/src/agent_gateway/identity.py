"""Who is calling. Every request resolves to a `Caller` whose user id travels
with the run into the bus, the logs and the metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

ANONYMOUS_USER = "anonymous"


@dataclass(frozen=True)
class Caller:
    user_id: str
    client_ip: str


async def current_caller(request: Request) -> Caller:
    """Without configured API keys every caller is the anonymous user."""
    client_ip = request.client.host if request.client else "unknown"
    return Caller(user_id=ANONYMOUS_USER, client_ip=client_ip)
