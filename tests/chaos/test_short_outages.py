"""Outages shorter than the ride-through bound cost nothing (a one-second Redis blip
costs nothing): Redis killed and restarted after 1 s and 4 s, paused, partitioned;
the broker restarted and partitioned. Each under 40 concurrent streams placed in every
phase of a run. No request refused; for every one: exactly one terminal event, `done`,
the same text as a fault-free run of the same message; and nothing in `dead.letters`.

One platform for the module (gateway, two orchestrators, tool runner, offline model as
processes), over the tier's proxied Kafka and Redis; the scenarios run one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosKafka, ChaosRedis, chaos_env, expected_answers
from tests.chaos.load import Seen
from tests.chaos.outages import (
    kafka_partitioned,
    kafka_restarted,
    redis_killed,
    redis_partitioned,
    redis_paused,
)
from tests.chaos.results import Results
from tests.chaos.scenario import Outage, ScenarioRun, run_scenario, tally, text_matches
from tests.support.platform import Platform, distributed_platform

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.timeout(240)]

REDIS_BOUND_S = 5.0  # the default: a 4 s restart is under it
# A broker's controlled restart took 8-14 s under this load on a 2-core machine (shutdown,
# then the JVM's start): the bound covers it, as production's must cover a rolling restart.
BUS_BOUND_S = 30.0
PARTITION_S = 2.5


@pytest.fixture(scope="module")
def platform(
    chaos_kafka: ChaosKafka, chaos_redis: ChaosRedis, slow_pages_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("chaos-short-logs")
    env = chaos_env(slow_pages_url, log_dir, redis_bound_s=REDIS_BOUND_S, bus_bound_s=BUS_BOUND_S)
    with distributed_platform(env, kafka=chaos_kafka.bootstrap, redis_url=chaos_redis.url, log_dir=log_dir) as running:
        yield running


@pytest.fixture(scope="module")
async def expected(
    platform: Platform, chaos_kafka: ChaosKafka, slow_pages_url: str, chaos_results: Results
) -> dict[str, Seen]:
    """Every message's fault-free run: the same load, with an outage that does nothing."""
    calm = Outage("no_fault", lambda: None, lambda: None, 0.0)
    run = await run_scenario(platform, calm, slow_pages_url, chaos_kafka.server.bootstrap)
    answers = expected_answers(run.seen)
    chaos_results.record(run.name, tally(run, answers), outage_s=0.0, bound_s=REDIS_BOUND_S)
    return answers


SCENARIOS: dict[str, Callable[[ChaosRedis, ChaosKafka], Outage]] = {
    "redis_killed_1s": lambda r, k: redis_killed(r, 1.0, "redis_killed_1s"),
    "redis_killed_4s": lambda r, k: redis_killed(r, 4.0, "redis_killed_4s"),
    "redis_paused": lambda r, k: redis_paused(r, PARTITION_S),
    "redis_blackholed": lambda r, k: redis_partitioned(r, PARTITION_S, blackhole=True),
    "kafka_restarted": lambda r, k: kafka_restarted(k),
    "kafka_cut": lambda r, k: kafka_partitioned(k, PARTITION_S, blackhole=False),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_an_outage_under_the_bound_fails_no_run_and_dead_letters_nothing(
    scenario: str,
    platform: Platform,
    expected: dict[str, Seen],
    chaos_kafka: ChaosKafka,
    chaos_redis: ChaosRedis,
    slow_pages_url: str,
    chaos_results: Results,
) -> None:
    outage = SCENARIOS[scenario](chaos_redis, chaos_kafka)
    run = await run_scenario(platform, outage, slow_pages_url, chaos_kafka.server.bootstrap)
    rows = tally(run, expected)
    bound = BUS_BOUND_S if scenario.startswith("kafka") else REDIS_BOUND_S
    chaos_results.record(scenario, rows, outage_s=round(run.outage_s, 1), bound_s=bound)
    assert run.outage_s < bound, f"the outage lasted {run.outage_s:.1f} s: not under the bound this test is about"
    assert_every_accepted_run_done_as_without_fault(run, expected, rows)


def assert_every_accepted_run_done_as_without_fault(
    run: ScenarioRun, expected: dict[str, Seen], rows: dict[str, dict[str, object]]
) -> None:
    accepted = [s for s in run.seen if s.accepted]
    assert accepted, f"no request was accepted: {rows}"
    # A blip under the bound costs a client nothing, a refusal at the door included.
    refused = [(s.phase, s.status, s.refusal or s.failure) for s in run.seen if not s.accepted]
    wrong = [
        (s.phase, s.request_id, s.outcome, len(s.terminals), s.failure)
        for s in accepted
        if s.outcome != "done" or len(s.terminals) != 1
    ]
    mismatched = [
        (s.phase, s.request_id, (s.answer or "")[:160])
        for s in accepted
        if s.outcome == "done" and not text_matches(s, expected)
    ]
    letters = [(letter.source_topic, letter.reason, letter.error[:120]) for letter in run.dead_letters]
    assert not wrong and not mismatched and not letters and not refused, (
        f"per phase: {rows}\nnot done once: {wrong}\ntext unlike the fault-free run: {mismatched}\n"
        f"dead letters: {letters}\nrefused: {refused}"
    )
