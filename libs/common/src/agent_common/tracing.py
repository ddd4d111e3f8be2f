"""OpenTelemetry traces: one trace per request, across HTTP, the bus and every service.

The trace context rides in W3C `traceparent` headers: HTTP in (the gateway's
instrumented app), then each bus message's headers, Kafka's and the embedded
bus's alike, so one trace runs gateway -> orchestrator -> model call -> tool
runner -> orchestrator. Spans follow the OpenTelemetry semantic conventions for
messaging (`send {topic}` / `process {topic}`) and generative AI (`chat {model}`,
`execute_tool {tool}`).

Spans leave the process only when an OTLP endpoint is configured
(`OTEL_EXPORTER_OTLP_ENDPOINT`); without one they are not recorded (nothing would read
them), but their trace and span ids are still made and passed on, so every log line
carries its `trace_id` and a downstream service's spans join the caller's trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler
from opentelemetry.trace import Span, SpanKind

from agent_common.settings import TracingSettings

log = logging.getLogger("agent.tracing")

tracer = trace.get_tracer("agent_platform")

# `messaging.system` of each transport: Kafka's is the convention's; the embedded bus names itself.
MessagingSystem = Literal["kafka", "memory"]

_configured = False


def configure_tracing(service: str, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
    """Install this process's tracer provider, once; later calls (the embedded runner's) keep the first.

    `exporter` replaces the OTLP one (tests). The sampler is the SDK's, so `OTEL_TRACES_SAMPLER`
    works as everywhere else (default: keep what the caller's context keeps, and every new trace).
    """
    global _configured
    if _configured or settings.sdk_disabled:
        return
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    if exporter is None and (endpoint := settings.traces_endpoint()):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint)
        log.info("exporting traces over OTLP/HTTP", extra={"endpoint": endpoint})
    provider = TracerProvider(resource=Resource.create(attributes), sampler=unexported_sampler(exporter))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def unexported_sampler(exporter: SpanExporter | None) -> Sampler | None:
    """With nowhere to send spans, record none (2-3 % of a service's CPU at 50 streams went to
    spans then dropped); ids are made all the same. None: the SDK's own choice, from
    `OTEL_TRACES_SAMPLER` when set (an operator's setting wins) or its default."""
    if exporter is None and not os.environ.get("OTEL_TRACES_SAMPLER"):
        return ALWAYS_OFF
    return None


def spans_recorded() -> bool:
    """Whether this process's spans are recorded: not when no provider is installed, nor when
    the installed one drops every span (`unexported_sampler`). A provider of another make is
    taken to record."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        return provider.sampler is not ALWAYS_OFF
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


@contextmanager
def producing(topic: str, message_id: str, key: str, system: MessagingSystem) -> Iterator[dict[str, str]]:
    """The `send {topic}` span of one publish; yields the headers that carry its context."""
    attributes = {
        "messaging.system": system,
        "messaging.operation.type": "send",
        "messaging.destination.name": topic,
        "messaging.message.id": message_id,
    }
    if system == "kafka":
        attributes["messaging.kafka.message.key"] = key
    with tracer.start_as_current_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


@contextmanager
def consuming(topic: str, group: str, headers: Mapping[str, str], system: MessagingSystem) -> Iterator[Span]:
    """The `process {topic}` span of one delivery, a child of the span that sent the message."""
    parent = propagate.extract(dict(headers))
    attributes = {
        "messaging.system": system,
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": group,
    }
    with tracer.start_as_current_span(
        f"process {topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span
