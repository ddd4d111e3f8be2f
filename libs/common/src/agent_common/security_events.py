"""Security events: each refusal is one structured log line and one counter increment.

The counter's labels are the event and its reason, both from the closed sets
below, so the series stay bounded whatever callers send; who and where (user
id, client IP, request id) go in the log line, never in a label.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from prometheus_client import Counter

from agent_common.logs import current_ids

log = logging.getLogger("agent.security")


class SecurityEvent(StrEnum):
    AUTH_FAILED = "auth_failed"
    ACCESS_DENIED = "access_denied"
    RATE_LIMITED = "rate_limited"
    BODY_TOO_LARGE = "body_too_large"
    INPUT_REJECTED = "input_rejected"
    TOOL_URL_REFUSED = "tool_url_refused"
    BUDGET = "budget"


class SecurityReason(StrEnum):
    # auth_failed
    MISSING_CREDENTIALS = "missing_credentials"
    UNKNOWN_KEY = "unknown_key"
    MALFORMED_CREDENTIALS = "malformed_credentials"
    # Label values, not credentials (bandit's B105 reads "token" as a password).
    INVALID_TOKEN = "invalid_token"  # nosec B105
    EXPIRED_TOKEN = "expired_token"  # nosec B105
    # access_denied
    SESSION_NOT_OWNED = "session_not_owned"
    RUN_NOT_OWNED = "run_not_owned"
    MISSING_SCOPE = "missing_scope"  # a valid credential without the privilege the route needs
    PATH_NOT_ALLOWED = "path_not_allowed"  # a reindex command naming a path outside the allowed roots
    # rate_limited
    USER_RATE = "user_rate"
    IP_RATE = "ip_rate"
    USER_STREAMS = "user_streams"
    # body_too_large
    CONTENT_LENGTH = "content_length"
    STREAMED_BODY = "streamed_body"
    # input_rejected
    MALFORMED_BODY = "malformed_body"
    INVALID_FIELDS = "invalid_fields"
    MESSAGE_TOO_LONG = "message_too_long"
    # tool_url_refused: the `reason` of the TOOL_URL_NOT_ALLOWED error (docs/tools.md)
    NOT_ALLOWED = "not_allowed"  # a refusal without a known reason
    SCHEME = "scheme"
    USERINFO = "userinfo"
    INVALID_URL = "invalid_url"
    INVALID_HOST = "invalid_host"
    NONCANONICAL_IP = "noncanonical_ip"
    PORT = "port"
    NOT_ALLOWLISTED = "not_allowlisted"
    PRIVATE_ADDRESS = "private"
    SPECIAL_PURPOSE_ADDRESS = "special_purpose"
    METADATA_ADDRESS = "metadata"
    # budget: a tenant's or key's monthly budget
    BUDGET_WARN_SHARE = "warn_share"  # past its warn share: once a period per budget
    BUDGET_SPENT = "spent"  # a chat turn refused with BUDGET_EXCEEDED


# Which reasons each event is recorded with: the series exported at 0 from start-up.
REASONS_OF: dict[SecurityEvent, tuple[SecurityReason, ...]] = {
    SecurityEvent.AUTH_FAILED: (
        SecurityReason.MISSING_CREDENTIALS,
        SecurityReason.UNKNOWN_KEY,
        SecurityReason.MALFORMED_CREDENTIALS,
        SecurityReason.INVALID_TOKEN,
        SecurityReason.EXPIRED_TOKEN,
    ),
    SecurityEvent.ACCESS_DENIED: (
        SecurityReason.SESSION_NOT_OWNED,
        SecurityReason.RUN_NOT_OWNED,
        SecurityReason.MISSING_SCOPE,
        SecurityReason.PATH_NOT_ALLOWED,
    ),
    SecurityEvent.RATE_LIMITED: (SecurityReason.USER_RATE, SecurityReason.IP_RATE, SecurityReason.USER_STREAMS),
    SecurityEvent.BODY_TOO_LARGE: (SecurityReason.CONTENT_LENGTH, SecurityReason.STREAMED_BODY),
    SecurityEvent.INPUT_REJECTED: (
        SecurityReason.MALFORMED_BODY,
        SecurityReason.INVALID_FIELDS,
        SecurityReason.MESSAGE_TOO_LONG,
    ),
    SecurityEvent.TOOL_URL_REFUSED: (
        SecurityReason.NOT_ALLOWED,
        SecurityReason.SCHEME,
        SecurityReason.USERINFO,
        SecurityReason.INVALID_URL,
        SecurityReason.INVALID_HOST,
        SecurityReason.NONCANONICAL_IP,
        SecurityReason.PORT,
        SecurityReason.NOT_ALLOWLISTED,
        SecurityReason.PRIVATE_ADDRESS,
        SecurityReason.SPECIAL_PURPOSE_ADDRESS,
        SecurityReason.METADATA_ADDRESS,
    ),
    SecurityEvent.BUDGET: (SecurityReason.BUDGET_WARN_SHARE, SecurityReason.BUDGET_SPENT),
}

SECURITY_EVENTS = Counter(
    "security_events_total", "Refused or blocked requests, by event and reason.", ["event", "reason"]
)


def initialise_series(*events: SecurityEvent) -> None:
    """Export each event's reasons at 0 from start-up, so the first refusals after a
    start show in `rate()` and `increase()` (a series born on its first increment has no
    earlier sample to count from)."""
    for event in events:
        for reason in REASONS_OF[event]:
            SECURITY_EVENTS.labels(event.value, reason.value)


def record_security_event(
    event: SecurityEvent,
    reason: SecurityReason,
    *,
    client_ip: str | None = None,
    user_id: str | None = None,
    request_id: str | None = None,
) -> None:
    """Log one `security_event` line and count it. Ids bound with `bind_ids` fill in what is not given."""
    ids = current_ids()
    SECURITY_EVENTS.labels(event.value, reason.value).inc()
    log.warning(
        "security_event",
        extra={
            "security_event": event.value,
            "reason": reason.value,
            "user_id": user_id or ids.get("user_id"),
            "client_ip": client_ip or ids.get("client_ip"),
            "request_id": request_id or ids.get("request_id"),
        },
    )
