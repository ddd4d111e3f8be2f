"""One trace per request, as an operator opens it in Tempo or Jaeger: the gateway's
HTTP span, the bus hops, the model calls with their GenAI attributes, the tool
execution in the tool runner and the way back, each span the child of the one
that caused it.

Distributed: every service in its own process over the real Kafka, exporting
over OTLP/HTTP to an in-memory receiver. Embedded: the same chain over the
in-process bus, read from the SDK's in-memory exporter.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.test_request_ids import log_lines_with
from tests.support.platform import Platform
from tests.support.traces import ReceivedSpan, TraceCollector, in_process_spans, wait_for_spans

SERVICES = {"gateway", "orchestrator", "tool-runner"}


@pytest.fixture
def read_spans(platform: Platform, request: pytest.FixtureRequest) -> Callable[[str | None], list[ReceivedSpan]]:
    if platform.mode == "embedded":
        return in_process_spans
    collector: TraceCollector = request.getfixturevalue("traces")
    return collector.spans


def traceparent() -> tuple[str, str, str]:
    """A caller's own trace context: (trace id, its span id, the W3C header)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def chat(platform: Platform, message: str, headers: dict[str, str] | None = None, status: int = 200) -> httpx.Response:
    response = httpx.post(
        f"{platform.base_url}/api/chat",
        json={"message": message},
        headers={**platform.headers, **(headers or {})},
        timeout=60,
    )
    assert response.status_code == status, response.text
    return response


def named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def child(spans: list[ReceivedSpan], parent: ReceivedSpan, name: str, kind: str) -> ReceivedSpan:
    """The one span called `name` whose parent is `parent`."""
    children = [s for s in spans if s.parent_span_id == parent.span_id and s.name == name]
    assert len(children) == 1, (name, parent.name, sorted(s.name for s in spans if s.parent_span_id == parent.span_id))
    assert children[0].kind == kind, children[0]
    return children[0]


def whole_tool_trace(spans: list[ReceivedSpan]) -> bool:
    return len(named(spans, "chat offline-1")) >= 2 and bool(named(spans, "POST /api/chat"))


def test_a_tool_run_is_one_trace_from_the_http_request_through_the_bus_to_the_tool_and_back(
    platform: Platform, pages_url: str, read_spans: Callable[[str | None], list[ReceivedSpan]]
) -> None:
    trace_id, caller_span, header = traceparent()
    chat(platform, f"What does {pages_url}/page say?", {"traceparent": header})
    spans = wait_for_spans(read_spans, trace_id, whole_tool_trace)

    http = child(spans, ReceivedSpan("", "", "", trace_id, caller_span, "", {}, False), "POST /api/chat", "server")
    assert http.attributes["http.route"] == "/api/chat"
    assert http.attributes["http.response.status_code"] == 200
    assert http.attributes["agent.request_id"]
    sent = child(spans, http, "send chat.requests", "producer")
    run = child(spans, sent, "process chat.requests", "consumer")
    assert run.attributes["messaging.consumer.group.name"] == "orchestrator-chat"

    first_call = child(spans, run, "chat offline-1", "client")
    assert first_call.attributes["gen_ai.operation.name"] == "chat"
    assert first_call.attributes["gen_ai.provider.name"] == "openai"
    assert first_call.attributes["gen_ai.request.model"] == "offline-1"
    assert first_call.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert first_call.attributes["gen_ai.usage.input_tokens"] > 0

    tool_call = child(spans, child(spans, run, "send tool.calls", "producer"), "process tool.calls", "consumer")
    execution = child(spans, tool_call, "execute_tool http_get", "internal")
    assert execution.attributes["gen_ai.tool.name"] == "http_get"
    assert execution.attributes["tool.outcome"] == "ok"
    assert not execution.error

    back = child(spans, child(spans, tool_call, "send tool.results", "producer"), "process tool.results", "consumer")
    answer = child(spans, back, "chat offline-1", "client")
    assert answer.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert answer.attributes["gen_ai.usage.output_tokens"] > 0

    if platform.mode == "distributed":
        assert (http.service, run.service, execution.service, back.service) == (
            "gateway",
            "orchestrator",
            "tool-runner",
            "orchestrator",
        )


def test_a_request_without_a_trace_starts_its_own_found_by_its_request_id(
    platform: Platform, read_spans: Callable[[str | None], list[ReceivedSpan]]
) -> None:
    request_id = chat(platform, "Hello!").headers["x-request-id"]

    def server_span(spans: list[ReceivedSpan]) -> bool:
        return any(s.attributes.get("agent.request_id") == request_id for s in named(spans, "POST /api/chat"))

    (http,) = [
        s for s in wait_for_spans(read_spans, None, server_span) if s.attributes.get("agent.request_id") == request_id
    ]
    assert http.parent_span_id == ""  # a root: nobody's trace was joined
    spans = wait_for_spans(read_spans, http.trace_id, lambda spans: bool(named(spans, "chat offline-1")))
    run = child(spans, child(spans, http, "send chat.requests", "producer"), "process chat.requests", "consumer")
    child(spans, run, "chat offline-1", "client")


def queue_model_fault(platform: Platform, kind: str) -> None:
    """The offline model's next call fails once (a fault of the whole run would open the shared breaker)."""
    model = platform.services.get("offline-model", f"{platform.base_url}/offline")
    queued = httpx.post(f"{model}/admin/faults", json={"kind": kind, "count": 1}, timeout=10)
    assert queued.status_code == 201, queued.text


def test_a_retried_model_call_shows_the_failed_attempt_as_an_error_span_with_its_code(
    platform: Platform, read_spans: Callable[[str | None], list[ReceivedSpan]]
) -> None:
    trace_id, _, header = traceparent()
    queue_model_fault(platform, "server_error")
    chat(platform, "Hello?", {"traceparent": header})

    def complete(spans: list[ReceivedSpan]) -> bool:  # the run's span ends after its last attempt's
        return bool(named(spans, "POST /api/chat")) and bool(named(spans, "process chat.requests"))

    spans = wait_for_spans(read_spans, trace_id, complete)
    (run,) = named(spans, "process chat.requests")
    attempts = [s for s in named(spans, "chat offline-1") if s.parent_span_id == run.span_id]
    failed = [a for a in attempts if a.error]
    assert len(attempts) == 2 and len(failed) == 1, attempts
    assert failed[0].attributes["error.type"] == "MODEL_UNAVAILABLE"
    assert "gen_ai.usage.output_tokens" not in failed[0].attributes
    (answered,) = [a for a in attempts if not a.error]
    assert answered.attributes["gen_ai.response.finish_reasons"] == ["stop"]


def test_log_lines_carry_the_trace_id_of_their_request(distributed: Platform, pages_url: str) -> None:
    trace_id, _, header = traceparent()
    request_id = chat(distributed, f"What does {pages_url}/page say?", {"traceparent": header}).headers["x-request-id"]
    deadline = time.monotonic() + 20
    while True:  # log files are flushed by each process on its own schedule
        seen: dict[str, set[str]] = {}
        for path in distributed.logs.values():
            for line in log_lines_with(path, request_id):
                if line.get("request_id") == request_id:
                    seen.setdefault(str(line["service"]), set()).add(str(line.get("trace_id")))
        if set(seen) >= SERVICES or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(seen) >= SERVICES, seen
    for service, trace_ids in seen.items():
        assert trace_ids == {trace_id}, (service, trace_ids)
