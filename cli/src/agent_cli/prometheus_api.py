"""Prometheus's HTTP API, as the operator commands read it (`agent handoff`, `agent rollout watch`).

Only the two endpoints they need: `/api/v1/query` (an instant vector) and
`/api/v1/alerts` (the alerts Prometheus evaluates, pending or firing). A
Prometheus that does not answer, or answers an error, raises
`PrometheusUnavailable` with what it said.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Alert", "PrometheusApi", "PrometheusUnavailable", "Sample", "prometheus_api"]


class PrometheusUnavailable(RuntimeError):
    """Prometheus did not answer, or refused the query."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # pending or firing
    severity: str
    labels: dict[str, str]
    summary: str
    active_at: str


class PrometheusApi:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _data(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            answer = await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise PrometheusUnavailable(f"{self._client.base_url} did not answer ({exc!r})") from exc
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or answer.text[:200]
            raise PrometheusUnavailable(f"{self._client.base_url}{path} answered {answer.status_code}: {error}")
        return body["data"]

    async def query(self, expr: str) -> list[Sample]:
        """An instant query; a scalar answer comes back as one sample without labels."""
        data = await self._data("/api/v1/query", {"query": expr})
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise PrometheusUnavailable(f"{expr!r} is a {data['resultType']}, not an instant vector")
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]

    async def alerts(self) -> list[Alert]:
        data = await self._data("/api/v1/alerts")
        return [
            Alert(
                name=a["labels"].get("alertname", ""),
                state=a.get("state", ""),
                severity=a["labels"].get("severity", ""),
                labels=dict(a["labels"]),
                summary=a.get("annotations", {}).get("summary", ""),
                active_at=a.get("activeAt", ""),
            )
            for a in data["alerts"]
        ]


@asynccontextmanager
async def prometheus_api(url: str, timeout_s: float = 10.0) -> AsyncIterator[PrometheusApi]:
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout_s) as client:
        yield PrometheusApi(client)
