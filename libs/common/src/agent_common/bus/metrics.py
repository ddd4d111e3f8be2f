"""The bus's own metrics: messages dead-lettered, handlers held by an outage, Kafka clients found dead.

Every topic a process consumes has its dead-letter series from start-up, at 0
(`export_at_start`), so the first message parked after a start raises the alert.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import Counter

from agent_common.messages import DeadLetterReason

DEAD_LETTERS = Counter(
    "bus_dead_letters_total",
    "Messages parked on dead.letters, by the topic they came from and why (undecodable, invalid, handler_failed).",
    ["topic", "reason"],
)
OUTAGE_RETRIES = Counter(
    "bus_handler_outage_retries_total",
    "Handler attempts (or dead letters' publishes) that failed because Redis or the broker was unreachable, "
    "each retried: the message is held, never dead-lettered for it.",
    ["topic", "outage"],
)
OUTAGES_PAST_BOUND = Counter(
    "bus_handler_outages_past_bound_total",
    "Messages still held by an outage at the ride-through bound (BUS_RIDE_THROUGH_S): retried until it ends.",
    ["topic", "outage"],
)

CLIENT_FAULTS = Counter(
    "bus_client_faults_total",
    "Kafka clients found dead of an error inside the client (not a broker's answer) and replaced, "
    "by client (producer, consumer).",
    ["client"],
)
for _client in ("producer", "consumer"):  # at 0 from start-up: the first death raises the alert
    CLIENT_FAULTS.labels(_client)


def export_at_start(topic: str) -> None:
    """The dead-letter series of `topic`, at 0, before any message is parked."""
    for reason in get_args(DeadLetterReason):
        DEAD_LETTERS.labels(topic, reason)
