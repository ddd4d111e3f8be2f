"""The releases the rollout analysis judges: a never-ready canary really fails its probes, and
the game day asks every orchestrator's `/ready` at the period the Deployment's probe has, as the
kubelet does, so the readiness criterion has answers to count."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gameday.analysis import Decision
from gameday.platform import GameDayPlatform
from gameday.release import RELEASES, Release, ReleaseKind, kubelet_probes, probe_period_s
from gameday.run import ALL_SCENARIOS
from tests.support.web import serve_in_thread


def test_every_release_is_a_scenario_and_only_the_healthy_one_promotes(tmp_path: Any) -> None:
    assert set(RELEASES) <= set(ALL_SCENARIOS)
    decisions = {kind: Release(tmp_path, {}, kind).expected for kind in ReleaseKind}
    assert decisions == {
        ReleaseKind.BAD: Decision.ROLL_BACK,
        ReleaseKind.UNREADY: Decision.ROLL_BACK,
        ReleaseKind.HEALTHY: Decision.PROMOTE,
    }


def test_the_unready_release_names_a_redis_nobody_answers_at(tmp_path: Any) -> None:
    settings = Release(tmp_path, {}, ReleaseKind.UNREADY).settings(cast(GameDayPlatform, None))
    address = urlsplit(settings["REDIS_URL"])
    with socket.socket() as probe:
        assert probe.connect_ex((address.hostname, address.port)) != 0  # refused: the canary's checks fail


def test_the_probe_period_is_the_deployment_s() -> None:
    assert probe_period_s() == 5  # deploy/k8s/orchestrator.yaml's readinessProbe.periodSeconds


def _counting_app(hits: list[str], name: str) -> Starlette:
    async def ready(_: Request) -> JSONResponse:
        hits.append(name)
        return JSONResponse({"status": "ready"})

    return Starlette(routes=[Route("/ready", ready)])


async def test_every_orchestrator_and_the_canary_are_probed_each_period() -> None:
    hits: list[str] = []
    with (
        serve_in_thread(_counting_app(hits, "orchestrator-1")) as stable,
        serve_in_thread(_counting_app(hits, "canary")) as canary,
    ):
        day = SimpleNamespace(
            platform=SimpleNamespace(services={"orchestrator-1": stable, "gateway": "http://127.0.0.1:9"}),
            extra_urls={"orchestrator-canary": canary},
        )
        async with kubelet_probes(cast(GameDayPlatform, day), period_s=0.2):
            await asyncio.sleep(1.1)
    assert hits.count("orchestrator-1") >= 3
    assert hits.count("canary") >= 3
