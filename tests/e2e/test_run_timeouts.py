"""One timeout, one class: the one who knows why a run ran out of time reports it, and the
client sees the same code the metrics count."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import platform_env
from tests.support.platform import Platform, embedded_platform


@pytest.fixture(scope="module")
def hurried(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    env = {
        **platform_env(pages_url, tmp_path_factory.mktemp("timeouts") / "keys.json"),
        "GATEWAY_REQUEST_TIMEOUT_S": "3",
        "GATEWAY_RUN_ENDING_GRACE_S": "0.5",
    }
    with embedded_platform(env) as platform:
        yield platform


def run_errors(platform: Platform) -> dict[str, float]:
    """`platform_errors_total{origin="run"}` by code, as the platform exports it."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(platform.metrics_url()).text):
        for sample in family.samples:
            if sample.name == "platform_errors_total" and sample.labels.get("origin") == "run":
                counts[sample.labels["code"]] = sample.value
    return counts


async def test_a_model_too_slow_for_the_deadline_is_a_model_timeout_for_the_client_and_the_metrics(
    hurried: Platform,
) -> None:
    before = run_errors(hurried)
    async with httpx.AsyncClient(timeout=30) as client:
        stall = {"kind": "stall", "delay_ms": 10_000, "count": 5}
        assert (await client.post(f"{hurried.base_url}/offline/admin/faults", json=stall)).status_code == 201
        try:
            response = await client.post(f"{hurried.base_url}/api/chat", json={"message": "take your time"})
        finally:
            await client.delete(f"{hurried.base_url}/offline/admin/faults")
    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "MODEL_TIMEOUT"
    after = run_errors(hurried)
    assert after.get("MODEL_TIMEOUT", 0) - before.get("MODEL_TIMEOUT", 0) == 1
    assert after.get("INFRA_TIMEOUT", 0) == before.get("INFRA_TIMEOUT", 0)
