"""The gateway's HTTP server span. While spans are recorded, every request goes through the
instrumentation (its spans across services: tests/e2e/test_traces.py). While none is (no exporter
configured), a request skips it and gets the span's context all the same: the caller's trace, or a
new one, which its log lines and bus messages carry on."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace

from agent_common.logs import current_trace_ids
from agent_gateway import http_tracing
from tests.support.traces import in_process_spans


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI(telemetry=http_tracing.FASTAPI_TELEMETRY)  # as the gateway's

    @app.get("/ids/{name}")
    async def ids(name: str) -> dict[str, str]:
        return current_trace_ids()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return current_trace_ids()

    http_tracing.trace_requests(app)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def unrecorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_tracing, "spans_recorded", lambda: False)


def caller_trace() -> tuple[str, str, dict[str, str]]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, {"traceparent": f"00-{trace_id}-{span_id}-01"}


def spans_of(trace_id: str) -> list[dict[str, object]]:
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush()
    return [s.attributes for s in in_process_spans(trace_id) if s.kind == "server"]


@pytest.mark.usefixtures("unrecorded")
def test_unrecorded_a_callers_trace_is_carried_on(client: TestClient) -> None:
    trace_id, span_id, headers = caller_trace()
    got = client.get("/ids/안녕", headers=headers).json()
    assert got["trace_id"] == trace_id and got["span_id"] != span_id  # the gateway's own span, in the caller's trace


@pytest.mark.usefixtures("unrecorded")
def test_unrecorded_a_request_without_a_trace_starts_its_own(client: TestClient) -> None:
    first, second = (client.get("/ids/x").json()["trace_id"] for _ in range(2))
    assert int(first, 16) and int(second, 16) and first != second


@pytest.mark.usefixtures("unrecorded")
def test_unrecorded_probes_have_no_span(client: TestClient) -> None:
    assert client.get("/health").json() == {}


@pytest.mark.usefixtures("unrecorded")
def test_unrecorded_the_instrumentation_gathers_nothing(client: TestClient) -> None:
    # This test process records (an in-memory exporter), so the span taken in its place shows what was done.
    trace_id, _, headers = caller_trace()
    client.get("/ids/x", headers=headers)
    assert spans_of(trace_id) == [{}]


def test_recorded_a_request_goes_through_the_instrumentation(client: TestClient) -> None:
    trace_id, _, headers = caller_trace()
    assert client.get("/ids/x", headers=headers).json()["trace_id"] == trace_id
    (attributes,) = spans_of(trace_id)
    assert attributes["http.route"] == "/ids/{name}" and attributes["http.response.status_code"] == 200
