"""Which Kafka client log lines are news, and which are the expected weather of a group.

aiokafka logs at ERROR or WARNING what is routine for a consumer group: the group
coordinator not known yet on a fresh broker (the `__consumer_offsets` topic is being
created), a heartbeat or commit refused because a rebalance has started, a member
re-joining, a topic's metadata not there yet. Each resolves itself within seconds and
the client retries it. They go to DEBUG here; anything else keeps its level, so a
broker that stays away still shows (the readiness probe and `kafka_consumer_lag_messages`
say so too).

A broker that is unreachable (restarting, partitioned) is news, but aiokafka says so for
every connection every 100 ms: a few seconds' outage made over a thousand ERROR lines per
service. Those lines (`OUTAGE_LINES`) go out once per kind and logger per
`OUTAGE_LINE_EVERY_S`; the repeats in between go to DEBUG.
"""

from __future__ import annotations

import logging
import pkgutil
import re
import time
from collections.abc import Callable

import aiokafka

# Messages (their format strings, as aiokafka writes them) that describe a join or a rebalance in progress.
EXPECTED_TRANSIENTS = re.compile(
    "|".join(
        (
            r"Group Coordinator (Request failed|Unavailable|Not Available)",
            r"[Cc]oordinator .*(not available|dead|unknown)",
            r"GroupCoordinatorNotAvailable",
            r"NotCoordinator",
            r"CoordinatorLoadInProgress",
            r"Heartbeat failed",
            r"RebalanceInProgress",
            r"rebalanc",
            r"OffsetCommit failed for group .* (rebalanc|Unknown member|Illegal generation)",
            r"UnknownMemberId",
            r"IllegalGeneration",
            r"LeaderNotAvailable",
            r"UnknownTopicOrPartition",
            r"Topic .* not found in cluster metadata",
            r"no partitions? (assigned|available)",
            r"Failed fetch messages from \d+: NodeNotReady",
        )
    ),
    re.IGNORECASE,
)


# The broker unreachable: one line of each per logger and window tells the story.
OUTAGE_LINES = re.compile(
    r"Unable connect to node|Unable to update metadata|Failed fetch messages from \d+: KafkaConnectionError"
    r"|Heartbeat send request failed|Connection at .* closed|Unable to request metadata"
)
OUTAGE_LINE_EVERY_S = 30.0


def kafka_loggers() -> list[str]:
    """aiokafka's loggers, one per module (`getLogger(__name__)`): a logger's filters see only
    the records logged on it, not those its children propagate, so each gets the filter."""
    modules = pkgutil.walk_packages(aiokafka.__path__, "aiokafka.")
    return ["aiokafka", *(module.name for module in modules)]


class ExpectedTransients(logging.Filter):
    """Lowers the lines `EXPECTED_TRANSIENTS` matches to DEBUG (dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING and EXPECTED_TRANSIENTS.search(_text(record)):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


class RepeatedOutageLines(logging.Filter):
    """Lets the first line of each `OUTAGE_LINES` kind through per logger and window, as it was;
    lowers the repeats in the window to DEBUG."""

    def __init__(self, every_s: float = OUTAGE_LINE_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every_s = every_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or (kind := OUTAGE_LINES.search(_text(record))) is None:
            return True
        key, now = (record.name, kind.group(0)), self._clock()
        last = self._last.get(key)
        if last is None or now - last >= self._every_s:
            self._last[key] = now
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _text(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a record whose arguments do not fit its format: judge the format alone
        return str(record.msg)


_FILTERS: tuple[logging.Filter, ...] = (ExpectedTransients(), RepeatedOutageLines())


def quiet_expected_transients() -> None:
    """Install the filters on the Kafka clients' loggers (idempotent)."""
    for name in kafka_loggers():
        logger = logging.getLogger(name)
        for log_filter in _FILTERS:
            if log_filter not in logger.filters:
                logger.addFilter(log_filter)
