"""An outage longer than the ride-through bound ends the runs it hits with an accurate
error as soon as the bound has passed: `INFRA_UNAVAILABLE` with `details.reason`
`redis_unavailable` or `bus_unavailable`, within the bound and a few seconds, while
the outage still lasts. Never `worker_lost` (no worker was lost), never `INFRA_TIMEOUT`
(the client's deadline), never silence; and every accepted request still ends once.

Its own platform, with a 2 s bound, over the tier's proxied Kafka and Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosKafka, ChaosRedis, chaos_env
from tests.chaos.outages import kafka_partitioned, redis_killed
from tests.chaos.results import Results
from tests.chaos.scenario import Outage, run_scenario, tally
from tests.support.platform import Platform, distributed_platform

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.timeout(240)]

BOUND_S = 2.0
OUTAGE_S = 8.0  # far past the bound: every error must come while it still lasts
REPORTED_WITHIN_S = BOUND_S + 5  # after the outage began: the bound, then backoff, a step's lag, delivery


@pytest.fixture(scope="module")
def platform(
    chaos_kafka: ChaosKafka, chaos_redis: ChaosRedis, slow_pages_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("chaos-long-logs")
    env = chaos_env(slow_pages_url, log_dir, redis_bound_s=BOUND_S, bus_bound_s=BOUND_S)
    with distributed_platform(env, kafka=chaos_kafka.bootstrap, redis_url=chaos_redis.url, log_dir=log_dir) as running:
        yield running


def outage_of(scenario: str, redis: ChaosRedis, kafka: ChaosKafka) -> tuple[Outage, str]:
    """The outage, and the reason its errors must give."""
    if scenario == "redis_down_past_bound":
        return redis_killed(redis, OUTAGE_S, scenario), "redis_unavailable"
    outage = kafka_partitioned(kafka, OUTAGE_S, blackhole=False)
    outage.name = scenario
    return outage, "bus_unavailable"


@pytest.mark.parametrize("scenario", ["redis_down_past_bound", "kafka_cut_past_bound"])
async def test_an_outage_past_the_bound_ends_the_runs_it_hits_with_its_reason_while_it_lasts(
    scenario: str,
    platform: Platform,
    chaos_kafka: ChaosKafka,
    chaos_redis: ChaosRedis,
    slow_pages_url: str,
    chaos_results: Results,
) -> None:
    outage, reason = outage_of(scenario, chaos_redis, chaos_kafka)
    run = await run_scenario(platform, outage, slow_pages_url, chaos_kafka.server.bootstrap)
    rows = tally(run, None)
    chaos_results.record(scenario, rows, outage_s=round(run.outage_s, 1), bound_s=BOUND_S)

    accepted = [s for s in run.seen if s.accepted]
    allowed = {"done", f"INFRA_UNAVAILABLE/{reason}"}
    wrong = [
        (s.phase, s.request_id, s.outcome, len(s.terminals), s.failure)
        for s in accepted
        if s.outcome not in allowed or len(s.terminals) != 1
    ]
    errors = [s for s in accepted if s.outcome != "done"]
    late = [
        (s.phase, s.request_id, round(s.ended_at - run.began, 1))
        for s in errors
        if s.ended_at is not None and s.ended_at - run.began > REPORTED_WITHIN_S
    ]
    # Every step of a run streams through Redis: a run still going a second into a Redis outage
    # cannot end `done` before Redis is back, and must not wait for it past the bound.
    unreported = [
        (s.phase, s.request_id, s.outcome)
        for s in accepted
        if scenario.startswith("redis")
        and s.outcome == "done"
        and s.ended_at is not None
        and s.ended_at - run.began > 1
    ]
    assert accepted and errors, f"the outage was not felt: {rows}"
    assert not wrong and not late and not unreported, (
        f"per phase: {rows}\nnot ended once with done or {reason}: {wrong}\n"
        f"reported later than {REPORTED_WITHIN_S} s into the outage: {late}\ndone despite the outage: {unreported}"
    )
