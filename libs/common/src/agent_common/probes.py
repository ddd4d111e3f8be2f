"""Liveness and readiness endpoints, the same on every service.

`/health` answers while the process serves HTTP (liveness: restart me if not).
`/ready` answers 200 only when every dependency answers, else 503 naming the
failing ones (readiness: send me no traffic until then).
`/metrics` is not among them: it has a port of its own (`metrics_server.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ReadinessCheck = Callable[[], Awaitable[bool]]

_CHECK_TIMEOUT_S = 2.0


async def _run_check(check: ReadinessCheck) -> bool:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S):
            return await check()
    except Exception:
        return False


async def readiness(checks: Mapping[str, ReadinessCheck]) -> dict[str, bool]:
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


def probe_routes(
    service: str,
    checks: Callable[[], Mapping[str, ReadinessCheck]],
) -> list[Route]:
    """`checks` is called per request, so components built in a lifespan are seen."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": service})

    async def ready(_: Request) -> Response:
        results = await readiness(checks())
        failing = sorted(name for name, ok in results.items() if not ok)
        body: dict[str, object] = {
            "status": "ready" if not failing else "not_ready",
            "service": service,
            "checks": {n: "ok" if ok else "failing" for n, ok in results.items()},
        }
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ]
