"""The gateway's own metrics. Label values are bounded: the tenant (operators
create tenants) and the authentication method, never the user id, whose values
are unbounded; per-user volumes are in the logs, where every line has `user_id`."""

from __future__ import annotations

from prometheus_client import Counter

CHAT_REQUESTS = Counter(
    "gateway_chat_requests_total", "Chat turns admitted, by tenant and authentication method.", ["tenant", "auth"]
)
