"""Liveness and readiness endpoints, the same on every service.

`/health` answers while the process serves HTTP (liveness: restart me if not).
`/ready` answers 200 only when every dependency answers, else 503 naming the
failing ones (readiness: send me no traffic until then).
`/metrics` is not among them: it has a port of its own (`metrics_server.py`).

Every `/ready` answer is counted (`readiness_probes_total` by outcome, and
`readiness_check_failures_total` by the check that failed): the kubelet asks
every few seconds, so the share of `not_ready` answers is the readiness-failure
rate the rollout analysis and the runbook read (deploy/rollouts/).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_common.build_info import record_build_info

ReadinessCheck = Callable[[], Awaitable[bool]]

_CHECK_TIMEOUT_S = 2.0

READINESS_PROBES = Counter(
    "readiness_probes", "Answers to /ready, by outcome: ready (200) or not_ready (503).", ["outcome"]
)
READINESS_CHECK_FAILURES = Counter(
    "readiness_check_failures", "Readiness checks that failed, by check (bus, events, state, store...).", ["check"]
)


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


def all_pass(checks: Mapping[str, ReadinessCheck]) -> ReadinessCheck:
    """The checks as one, each bounded as `/ready` bounds it: what `Bus.consume_when` waits for."""

    async def ready() -> bool:
        return all((await readiness(checks)).values())

    return ready


def probe_routes(
    service: str,
    checks: Callable[[], Mapping[str, ReadinessCheck]],
) -> list[Route]:
    """`checks` is called per request, so components built in a lifespan are seen."""
    record_build_info(service)
    # Both outcomes from start-up: a pod that is never ready shows as a rise, not a new series.
    for outcome in ("ready", "not_ready"):
        READINESS_PROBES.labels(outcome)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": service})

    async def ready(_: Request) -> Response:
        results = await readiness(checks())
        failing = sorted(name for name, ok in results.items() if not ok)
        READINESS_PROBES.labels("not_ready" if failing else "ready").inc()
        for name, ok in results.items():
            # Every check's series from its first probe on, failing or not, for `rate()`.
            failures = READINESS_CHECK_FAILURES.labels(name)
            if not ok:
                failures.inc()
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
