"""Running a service's ASGI app as its own process under uvicorn: the same way for every service."""

from __future__ import annotations

from typing import Any

import uvicorn

from agent_common.logs import configure_logging
from agent_common.settings import ObservabilitySettings, TracingSettings
from agent_common.tracing import configure_tracing


def serve_app(service: str, app: Any, *, host: str, port: int, log: ObservabilitySettings) -> None:
    """Serve `app` until SIGTERM/SIGINT, then drain: stop accepting, finish in-flight work."""
    configure_logging(service, log.level, log.format)
    configure_tracing(service, TracingSettings())
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,  # our JSON logging, configured above
        access_log=False,  # request metrics come from HttpMetricsMiddleware
        # uvicorn would otherwise rewrite the client address from X-Forwarded-For whenever the
        # peer is 127.0.0.1 (a sidecar proxy, say): the gateway's own setting decides instead.
        proxy_headers=False,
        timeout_graceful_shutdown=20,
    )
