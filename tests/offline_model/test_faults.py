"""The fault queue and the in-message directives, before any HTTP."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent_offline_model.faults import Fault, FaultKind, FaultQueue, FaultSpec, directive_fault, strip_directives


def test_queued_faults_apply_in_order_each_count_times() -> None:
    queue = FaultQueue()
    queue.add(FaultSpec(kind=FaultKind.RATE_LIMIT, count=2, retry_after_s=7))
    queue.add(FaultSpec(kind=FaultKind.STALL, delay_ms=50))
    assert queue.pending() == [
        {"kind": "rate_limit", "remaining": 2, "retry_after_s": 7, "delay_ms": None},
        {"kind": "stall", "remaining": 1, "retry_after_s": 1, "delay_ms": 50},
    ]
    assert queue.take() == Fault(FaultKind.RATE_LIMIT, 7, None)
    assert queue.pending()[0]["remaining"] == 1
    assert queue.take() == Fault(FaultKind.RATE_LIMIT, 7, None)
    assert queue.take() == Fault(FaultKind.STALL, 1, 50)
    assert queue.take() is None and queue.pending() == []


def test_clearing_reports_the_requests_spared() -> None:
    queue = FaultQueue()
    queue.add(FaultSpec(kind=FaultKind.SERVER_ERROR, count=3))
    queue.add(FaultSpec(kind=FaultKind.SLOW))
    assert queue.clear() == 4
    assert queue.take() is None


def test_delays_default_per_kind() -> None:
    assert Fault(FaultKind.STALL).delay_s == 30.0
    assert Fault(FaultKind.SLOW).delay_s == 1.0
    assert Fault(FaultKind.SLOW, delay_ms=20).delay_s == 0.02
    assert Fault(FaultKind.RATE_LIMIT).delay_s == 0.0


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "explode"},
        {"kind": "stall", "count": 0},
        {"kind": "stall", "delay_ms": -1},
        {"kind": "slow", "x": 1},
        {},
    ],
)
def test_bad_fault_specs_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FaultSpec.model_validate(body)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[[offline:rate_limit]]", FaultKind.RATE_LIMIT),
        ("please [[offline:server_error]] now", FaultKind.SERVER_ERROR),
        ("[[offline:stall]] hello", FaultKind.STALL),
        ("x [[offline:drop_mid_stream]]", FaultKind.DROP_MID_STREAM),
        ("[[offline:slow]]", FaultKind.SLOW),
        ("[[offline:unknown]] [[offline:slow]]", FaultKind.SLOW),
        ("[[offline:unknown]]", None),
        ("[offline:slow]", None),
        ("no directive", None),
    ],
)
def test_directives_name_a_fault(text: str, kind: FaultKind | None) -> None:
    fault = directive_fault(text)
    assert (fault.kind if fault else None) == kind


def test_directives_are_stripped_from_the_text() -> None:
    assert strip_directives("a [[offline:slow]]b") == "a b"
