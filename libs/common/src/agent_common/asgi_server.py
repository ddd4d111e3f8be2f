"""Running a service's ASGI app as its own process under uvicorn: the same way for every service.

The port is taken first: a process that cannot serve its probes (and metrics) exits
non-zero at once, before it consumes any work. It runs on uvloop wherever uvloop is installed
(`serving_loop`). SIGTERM/SIGINT stop it in every state:
during start-up the start-up is cancelled; while serving it stops accepting and drains;
a second signal, or a drain past its bound, ends it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

from agent_common.logs import configure_logging
from agent_common.settings import ObservabilitySettings, TracingSettings
from agent_common.slow_clients import HEADER_TIMEOUT_S, header_deadline_protocol
from agent_common.tracing import configure_tracing
from agent_common.transports.base import ConfigurationError

__all__ = ["EXIT_PORT_UNAVAILABLE", "PortUnavailable", "bind_listener", "serve_app"]

logger = logging.getLogger("agent_common.asgi_server")

EXIT_PORT_UNAVAILABLE = 2
# What a drain may take (in-flight requests, then the service's own shutdown) before the
# process ends anyway: Kubernetes' default grace period is 30 s.
DRAIN_BOUND_S = 25.0
_EXIT_DRAIN_OVERRUN = 1


@contextmanager
def refusing_misconfiguration(service: str) -> Iterator[None]:
    """A configuration that cannot work ends the process at once: exit 2, one line saying which setting."""
    try:
        yield
    except ConfigurationError as exc:
        sys.stderr.write(f"{service}: cannot start: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(2) from None


class PortUnavailable(SystemExit):
    """The port is taken (or not ours to take): the process ends with `EXIT_PORT_UNAVAILABLE`."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(EXIT_PORT_UNAVAILABLE)
        self.host, self.port, self.cause = host, port, cause


def bind_listener(service: str, host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts; `PortUnavailable` if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn binds: a restart may reuse a port whose old connections are in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        logger.error(
            "cannot listen on %s:%d (%s): exiting; is another %s already running on this port?",
            host,
            port,
            exc.strerror or exc,
            service,
            extra={"host": host, "port": port, "reason": type(exc).__name__},
        )
        raise PortUnavailable(host, port, exc) from exc
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server with signals that work in every state, an exit code of 0 after a drain,
    and a main loop that wakes once a second rather than ten times."""

    _stopping: asyncio.Event | None = None

    async def main_loop(self) -> None:
        # uvicorn's loop sleeps 0.1 s between looks at `should_exit`; ten wakeups a second were
        # about 1 ms of CPU a second in every idle service. The Date header has a second's
        # resolution, and a signal wakes this loop at once.
        self._stopping = asyncio.Event()
        while not await self.on_tick(0):  # tick 0: the Date header is refreshed every time
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._stopping.wait()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        serving = asyncio.current_task()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig, serving)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int, serving: asyncio.Task[Any] | None) -> None:
        name = signal.Signals(sig).name
        if self.should_exit:
            logger.warning("%s again: stopping now, without waiting for the drain", name)
            os._exit(_EXIT_DRAIN_OVERRUN)
        self.should_exit = True
        if self._stopping is not None:
            self._stopping.set()
        _exit_after(DRAIN_BOUND_S)
        if not self.started and serving is not None:
            # Start-up (the bus, Redis) may wait for minutes: it is abandoned, not awaited.
            logger.info("%s during start-up: stopping", name)
            serving.cancel()
        else:
            logger.info("%s: stopping accepting, draining for up to %.0f s", name, DRAIN_BOUND_S)


def _exit_after(seconds: float) -> None:
    """End the process if the drain outlives its bound (a thread: the loop may be what hangs)."""

    def overrun() -> None:
        logger.error("the drain took longer than %.0f s: exiting", seconds)
        logging.shutdown()
        os._exit(_EXIT_DRAIN_OVERRUN)

    timer = threading.Timer(seconds, overrun)
    timer.daemon = True
    timer.start()


def serving_loop() -> Literal["asyncio", "uvloop"]:
    """uvloop wherever it is installed (a dependency on every system it builds for), else asyncio's.

    Alternated with asyncio's loop at 50 streams: the embedded process 6 % less CPU a request
    and a lone request's first token 0.35 ms sooner; the distributed services 4 % less
    (docs/benchmarks.md). Its transport raises `RuntimeError` on a write to a connection closed
    under it, where asyncio's drops the write: every client the services use takes that as a
    broken connection (aiohttp and anyio say so themselves; a Redis command is sent again on a
    fresh connection; a Kafka producer or consumer dead of it is replaced, a consumer dead in a
    broker cut as soon as the broker is back, `bus/kafka_client_deaths.py`)."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def serve_app(
    service: str,
    app: Any,
    *,
    host: str,
    port: int,
    log: ObservabilitySettings,
    listener: socket.socket | None = None,
    loop: Literal["asyncio", "uvloop"] | None = None,
) -> None:
    """Serve `app` until SIGTERM/SIGINT, then drain: stop accepting, finish in-flight work.

    `listener` is a socket taken earlier with `bind_listener` (a caller that must know the
    port is free before it builds the app); by default the port is taken here, first.

    `loop`: `serving_loop()`'s unless told."""
    configure_logging(service, log.level, log.format)
    configure_tracing(service, TracingSettings())
    sock = listener or bind_listener(service, host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop or serving_loop(),
        log_config=None,  # our JSON logging, configured above
        access_log=False,  # request metrics come from HttpMetricsMiddleware
        # uvicorn would otherwise rewrite the client address from X-Forwarded-For whenever the
        # peer is 127.0.0.1 (a sidecar proxy, say): the gateway's own setting decides instead.
        proxy_headers=False,
        http=header_deadline_protocol(HEADER_TIMEOUT_S),
        timeout_graceful_shutdown=int(DRAIN_BOUND_S * 0.6),
    )
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    except asyncio.CancelledError:
        logger.info("stopped during start-up")
        sys.exit(0)
    if not server.started and not server.should_exit:
        sys.exit(1)  # the start-up failed; uvicorn has logged why
    logger.info("%s stopped", service, extra={"host": host, "port": port})
