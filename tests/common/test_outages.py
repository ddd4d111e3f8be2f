"""Telling an outage of Redis or the broker from a failure of the work, and riding through it."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError, RecordTooLargeError
from redis.exceptions import BusyLoadingError, ReadOnlyError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent_common.errors import ErrorCode, PlatformError
from agent_common.resilience import Outage, OutageTooLong, outage_error, outage_of, ride_through


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (RedisConnectionError("Connection refused"), Outage.REDIS),
        (RedisTimeoutError("Timeout reading from socket"), Outage.REDIS),
        (BusyLoadingError("Redis is loading the dataset in memory"), Outage.REDIS),
        (ReadOnlyError("You can't write against a read only replica."), Outage.REDIS),
        (KafkaConnectionError("Unable to connect"), Outage.BUS),
        (KafkaTimeoutError(), Outage.BUS),
        (NotLeaderForPartitionError(), Outage.BUS),
        (PlatformError(ErrorCode.INFRA_UNAVAILABLE, "gone", reason="redis_unavailable"), Outage.REDIS),
        # A poison message, a bug, a refusal of the request's own content: no outage.
        (ValueError("bad payload"), None),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), None),
        (RecordTooLargeError(), None),
        (PlatformError(ErrorCode.INFRA_UNAVAILABLE, "gone", reason="worker_lost"), None),
    ],
)
def test_an_outage_is_told_from_a_failure_of_the_work(exc: BaseException, outage: Outage | None) -> None:
    assert outage_of(exc) is outage


def test_an_outage_is_found_behind_the_error_it_caused() -> None:
    wrapped = RuntimeError("could not save the run")
    wrapped.__cause__ = RedisConnectionError("Connection reset by peer")
    assert outage_of(wrapped) is Outage.REDIS


def test_the_error_names_the_outage_and_its_bound() -> None:
    info = outage_error(Outage.BUS, 5.0)
    assert info.code is ErrorCode.INFRA_UNAVAILABLE
    assert info.details == {"reason": "bus_unavailable"}
    assert "5 s" in info.message


async def test_a_blip_shorter_than_the_bound_costs_nothing() -> None:
    failures = iter([RedisConnectionError("refused")] * 3)
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        exc = next(failures, None)
        if exc is not None:
            raise exc
        return "saved"

    seen: list[Outage] = []
    assert await ride_through(call, 5.0, on_retry=lambda outage, _: seen.append(outage)) == "saved"
    assert calls == 4
    assert seen == [Outage.REDIS] * 3


async def test_an_outage_longer_than_the_bound_ends_with_an_error_that_names_it() -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise KafkaConnectionError("broker away")

    with pytest.raises(OutageTooLong) as raised:
        await ride_through(call, 0.3)
    assert raised.value.outage is Outage.BUS
    assert raised.value.info.details["reason"] == "bus_unavailable"
    assert isinstance(raised.value.__cause__, KafkaConnectionError)
    assert calls >= 2  # it was retried before giving up


async def test_a_failure_that_is_no_outage_is_not_retried() -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("the message itself is wrong")

    with pytest.raises(ValueError, match="itself is wrong"):
        await ride_through(call, 5.0)
    assert calls == 1


async def test_only_the_named_outage_is_ridden_through() -> None:
    async def call() -> None:
        raise KafkaConnectionError("broker away")

    with pytest.raises(KafkaConnectionError):
        await ride_through(call, 5.0, only=Outage.REDIS)


async def test_a_lambda_returning_a_coroutine_is_awaited_on_every_attempt() -> None:
    outcomes = iter([RedisConnectionError("refused")])

    async def save() -> str:
        exc = next(outcomes, None)
        if exc is not None:
            raise exc
        return "saved"

    assert await ride_through(lambda: save(), 5.0) == "saved"  # a plain callable returning a coroutine
