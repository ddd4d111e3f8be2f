"""Where the tests read traces from, in memory.

- Services in their own processes export with the real OTLP exporter over HTTP
  (protobuf), exactly as they would to an OpenTelemetry Collector, Tempo or
  Jaeger; `TraceCollector` decodes each export request and keeps its spans.
- Apps built in the test process (the embedded platform) share this process's
  tracer provider, whose spans go to `IN_PROCESS_SPANS`, the SDK's in-memory exporter.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_common.settings import TracingSettings
from agent_common.tracing import configure_tracing
from tests.support.web import serve_in_thread

IN_PROCESS_SPANS = InMemorySpanExporter()


def trace_this_process() -> None:
    """Before any app is built: the first provider installed is the one a process keeps."""
    configure_tracing("tests", TracingSettings(), exporter=IN_PROCESS_SPANS)


KINDS = {
    ProtoSpan.SPAN_KIND_INTERNAL: "internal",
    ProtoSpan.SPAN_KIND_SERVER: "server",
    ProtoSpan.SPAN_KIND_CLIENT: "client",
    ProtoSpan.SPAN_KIND_PRODUCER: "producer",
    ProtoSpan.SPAN_KIND_CONSUMER: "consumer",
}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    error: bool


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


class TraceCollector:
    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self.url = ""

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=service,
                            name=span.name,
                            kind=KINDS.get(span.kind, "unspecified"),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=_attributes(span.attributes),
                            error=span.status.code == span.status.STATUS_CODE_ERROR,
                        )
                    )
        with self._lock:
            self._spans.extend(received)

    def spans(self, trace_id: str | None) -> list[ReceivedSpan]:
        """The spans of one trace, or every span received (`None`)."""
        with self._lock:
            return [s for s in self._spans if trace_id in (None, s.trace_id)]


def in_process_spans(trace_id: str | None) -> list[ReceivedSpan]:
    """The spans of one trace, or every span finished in this process (`None`)."""
    return [_from_sdk(s) for s in IN_PROCESS_SPANS.get_finished_spans() if trace_id in (None, _hex_trace_id(s))]


def _hex_trace_id(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x") if span.context else ""


def _from_sdk(span: ReadableSpan) -> ReceivedSpan:
    return ReceivedSpan(
        service=str(span.resource.attributes.get("service.name", "")),
        name=span.name,
        kind=span.kind.name.lower() if isinstance(span.kind, SpanKind) else "unspecified",
        trace_id=_hex_trace_id(span),
        span_id=format(span.context.span_id, "016x") if span.context else "",
        parent_span_id=format(span.parent.span_id, "016x") if span.parent else "",
        attributes={k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()},
        error=span.status.status_code == StatusCode.ERROR,
    )


def wait_for_spans(
    read: Callable[[str | None], list[ReceivedSpan]],
    trace_id: str | None,
    done: Callable[[list[ReceivedSpan]], bool],
    timeout: float = 20,
) -> list[ReceivedSpan]:
    """The trace's spans once `done` says they are all in (exports come in batches, per service)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = read(trace_id)
        if done(spans):
            return spans
        time.sleep(0.1)
    names = sorted(f"{s.service}: {s.name}" for s in read(trace_id))
    raise AssertionError(f"trace {trace_id} incomplete after {timeout}s; received: {names}")


def collector_app(collector: TraceCollector) -> Starlette:
    async def traces(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        collector.receive(body)
        return Response(
            ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf", status_code=200
        )

    return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])


@contextmanager
def trace_collector() -> Iterator[TraceCollector]:
    collector = TraceCollector()
    with serve_in_thread(collector_app(collector)) as url:
        collector.url = url
        yield collector


def exporting_to(collector: TraceCollector) -> dict[str, str]:
    """The environment that makes a service export its spans to `collector`, promptly."""
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
