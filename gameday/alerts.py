"""The webhook Alertmanager notifies: every notification kept with the time it came, and
from them when each alert fired and resolved (the alert's own `startsAt`/`endsAt`, set by
Prometheus) and when a person would first have heard of it (the notification's arrival)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.web import serve_in_thread

__all__ = ["AlertRecord", "Notifications", "webhook_receiver"]


@dataclass(frozen=True)
class AlertRecord:
    """One alert (name and severity) as notified: fired at, resolved at (wall-clock seconds)."""

    name: str
    severity: str
    labels: dict[str, str]
    fired_at: float
    notified_at: float  # when its first `firing` notification arrived
    receiver: str
    resolved_at: float | None = None


def _epoch(stamp: str) -> float | None:
    """Alertmanager's RFC 3339 time; its zero time (`0001-01-01...`) means unset."""
    if not stamp or stamp.startswith("0001-"):
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Notifications:
    """What Alertmanager sent; thread-safe (the webhook runs on a thread of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.raw: list[dict[str, Any]] = []
        self._alerts: dict[str, AlertRecord] = {}

    def receive(self, receiver: str, body: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            self.raw.append({"received_at": now, "receiver": receiver, **body})
            for alert in body.get("alerts", []):
                key = alert.get("fingerprint", "") + "@" + alert.get("startsAt", "")
                labels = dict(alert.get("labels", {}))
                known = self._alerts.get(key)
                ends = _epoch(alert.get("endsAt", "")) if alert.get("status") == "resolved" else None
                if known is None:
                    self._alerts[key] = AlertRecord(
                        name=labels.get("alertname", "?"),
                        severity=labels.get("severity", "?"),
                        labels=labels,
                        fired_at=_epoch(alert.get("startsAt", "")) or now,
                        notified_at=now,
                        receiver=receiver,
                        resolved_at=ends,
                    )
                elif ends is not None:
                    self._alerts[key] = AlertRecord(**{**known.__dict__, "resolved_at": ends})

    def alerts(self) -> list[AlertRecord]:
        with self._lock:
            return sorted(self._alerts.values(), key=lambda a: a.fired_at)


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Notifications]]:
    """Serves the webhook (`POST /<receiver>`); yields its base URL and what it received."""
    notifications = Notifications()

    async def notify(request: Request) -> Response:
        notifications.receive(request.path_params["receiver"], await request.json())
        return Response(status_code=200)

    app = Starlette(routes=[Route("/{receiver}", notify, methods=["POST"])])
    with serve_in_thread(app) as url:
        yield url, notifications
