"""aiokafka's log lines: the routine of a consumer group is quiet, and a broker away is said
once per window rather than every 100 ms for every connection."""

from __future__ import annotations

import logging

import pytest

from agent_common.bus.kafka_logs import ExpectedTransients, RepeatedOutageLines


def record(message: str, name: str = "aiokafka", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_a_rebalance_in_progress_is_not_news() -> None:
    line = record("Heartbeat failed for group agent-orchestrator because it is rebalancing")
    assert not ExpectedTransients().filter(line)
    assert line.levelno == logging.DEBUG


@pytest.mark.parametrize(
    "message",
    [
        "Unable connect to node with id 1: [Errno 104] Connect call failed ('127.0.0.1', 37079)",
        "Unable to update metadata from [1]",
        "Failed fetch messages from 1: KafkaConnectionError: Connection at 127.0.0.1:37079 closed",
    ],
)
def test_a_broker_away_is_said_once_per_window_and_again_after_it(message: str) -> None:
    now = [0.0]
    log_filter = RepeatedOutageLines(every_s=30.0, clock=lambda: now[0])
    first = record(message)
    assert log_filter.filter(first)
    assert first.levelno == logging.ERROR  # the first keeps its level: the outage is news
    for _ in range(100):  # ten seconds of retries, every 100 ms
        now[0] += 0.1
        repeat = record(message)
        assert not log_filter.filter(repeat)
        assert repeat.levelno == logging.DEBUG
    now[0] += 30.0
    assert log_filter.filter(record(message))  # still away a window later: said again


def test_each_logger_says_it_once() -> None:
    log_filter = RepeatedOutageLines(clock=lambda: 0.0)
    message = "Unable to update metadata from [1]"
    assert log_filter.filter(record(message, "aiokafka.cluster"))
    assert log_filter.filter(record(message, "aiokafka.consumer.fetcher"))
    assert not log_filter.filter(record(message, "aiokafka.cluster"))


def test_other_lines_keep_their_level() -> None:
    line = record("Unexpected error in the fetcher: KeyError('x')")
    assert RepeatedOutageLines(clock=lambda: 0.0).filter(line)
    assert line.levelno == logging.ERROR
