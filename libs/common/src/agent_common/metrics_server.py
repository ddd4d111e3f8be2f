"""The metrics port: `/metrics` on a port of its own, for Prometheus only.

Metrics name tenants and show the platform's inner workings, so the port a
service's clients and probes reach answers 404 for `/metrics`; the metrics port
is reached by the scraper alone (docker compose publishes it nowhere, the
Kubernetes NetworkPolicies let only Prometheus in). prometheus_client's own
server runs it, in a thread of the process, for as long as the lifespan that
enters `serving_metrics` lasts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

__all__ = ["MetricsPortInUseError", "serving_metrics"]

log = logging.getLogger(__name__)


class MetricsPortInUseError(OSError):
    """The metrics port cannot be bound: the process must not run without its metrics."""


@asynccontextmanager
async def serving_metrics(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> AsyncIterator[int]:
    """Serve `registry` on `host:port` (`0`: a free port); yields the port bound."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsPortInUseError(exc.errno, f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
    bound = int(server.server_port)
    log.info("metrics served on %s:%d/metrics", host, bound)
    try:
        yield bound
    finally:
        # shutdown() waits for the serving loop to notice, up to its poll interval: off the event loop.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        thread.join(timeout=5)
