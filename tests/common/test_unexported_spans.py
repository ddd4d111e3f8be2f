"""Spans with nowhere to go are not recorded, yet every log line still carries a trace id and
a trace still crosses services; an exporter, or an operator's `OTEL_TRACES_SAMPLER`, records them."""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from agent_common.logs import current_trace_ids
from agent_common.tracing import spans_recorded, unexported_sampler


def test_without_an_exporter_nothing_is_recorded_but_ids_are_made_and_passed_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    sampler = unexported_sampler(None)
    assert sampler is ALWAYS_OFF
    tracer = TracerProvider(sampler=sampler).get_tracer("t")
    with tracer.start_as_current_span("process chat.requests") as span:
        assert not span.is_recording()
        ids = current_trace_ids()
        assert len(ids["trace_id"]) == 32 and int(ids["trace_id"], 16) != 0  # the log line's
        headers: dict[str, str] = {}
        propagate.inject(headers)
        with tracer.start_as_current_span("chat offline-model"):
            assert current_trace_ids()["trace_id"] == ids["trace_id"]
    assert headers["traceparent"].split("-")[1] == ids["trace_id"]  # the next service joins it


def test_an_exporter_or_the_operators_sampler_decides_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    assert unexported_sampler(InMemorySpanExporter()) is None
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    assert unexported_sampler(None) is None
    with TracerProvider(sampler=unexported_sampler(None)).get_tracer("t").start_as_current_span("s") as span:
        assert span.is_recording()


@pytest.mark.parametrize(
    ("provider", "recorded"),
    [
        (trace.ProxyTracerProvider(), False),  # nothing installed
        (TracerProvider(sampler=ALWAYS_OFF), False),  # no exporter
        (TracerProvider(), True),  # the SDK's own sampler: an exporter, or the operator's choice
        (trace.NoOpTracerProvider(), False),
    ],
)
def test_whether_spans_are_recorded_is_the_installed_providers_say(
    monkeypatch: pytest.MonkeyPatch, provider: trace.TracerProvider, recorded: bool
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert spans_recorded() is recorded
