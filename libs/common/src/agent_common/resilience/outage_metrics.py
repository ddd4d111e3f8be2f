"""`infra_outage_retries_total`: how often a call to Redis or the broker was tried again
because it was unreachable, and rode through instead of failing.

One counter for both kinds of infrastructure, labelled by `outage` (`redis`, `bus`);
`count_retry` is the `on_retry` hook `ride_through` (and Redis's pool) call. A steady
rate is a flapping network or an overloaded Redis; a burst is a restart or a failover
that cost nothing. Both series exist from start-up, so the first outage after a start
shows in `increase()`.

`redis_client_faults_total` counts the other way a Redis call is tried again: the client
itself failed inside a command with an error that is none of Redis's own (a library
defect on a broken connection; its type and traceback are in the log). Any increase is
worth a look.
"""

from __future__ import annotations

from prometheus_client import Counter

from agent_common.resilience.outages import Outage

OUTAGE_RETRIES = Counter(
    "infra_outage_retries_total",
    "Calls to Redis or the message bus tried again because it was unreachable (riding through an outage).",
    ["outage"],
)
for _outage in Outage:
    OUTAGE_RETRIES.labels(_outage.value)


def count_retry(outage: Outage, _exc: BaseException) -> None:
    """The `on_retry` hook: one more call tried again during `outage`."""
    OUTAGE_RETRIES.labels(outage.value).inc()


CLIENT_FAULTS = Counter(
    "redis_client_faults_total",
    "Redis commands tried again on a fresh connection because the client failed inside one"
    " with an error that is none of Redis's own.",
)


def count_client_fault(_exc: BaseException) -> None:
    CLIENT_FAULTS.inc()
