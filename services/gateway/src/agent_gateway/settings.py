"""The gateway's own settings; shared pieces come from agent_common.settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, HttpUrl, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from agent_common.rag.roots import SourceRootsSettings
from agent_common.rag.settings import RagSettings
from agent_common.settings import (
    BusSettings,
    MetricsSettings,
    ObservabilitySettings,
    ProfileSettings,
    RedisSettings,
    TracingSettings,
    settings_config,
)


class GatewaySettings(BaseSettings):
    """The HTTP and SSE front door."""

    model_config = settings_config("GATEWAY_")

    host: str = "127.0.0.1"
    """Interface to listen on (`0.0.0.0` in a container)."""
    port: int = 8000
    """Port to listen on."""
    max_message_chars: int = Field(default=2000, ge=1, le=32_000)
    """Longest user message accepted, in characters; longer ones get 413 `INPUT_TOO_LARGE`."""
    max_body_bytes: int = Field(default=8192, ge=1024, le=1_048_576)
    """Largest request body, in bytes; larger ones get 413 `BODY_TOO_LARGE` while being read, before parsing.
    Must hold a message of `GATEWAY_MAX_MESSAGE_CHARS` characters of 3 bytes each (Korean) plus 1 KiB."""
    body_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long a client may take to send a whole request body; a slower one gets 408 `BODY_TIMEOUT` and
    the connection is closed (a body trickled a byte at a time would otherwise hold a connection for ever).
    The request head has its own bound in every service (10 s)."""
    client_ip_header: str | None = None
    """Header that carries the client's address behind your proxy (e.g. `X-Forwarded-For`). Unset: the socket
    peer is the client and every such header is ignored, since a client can write any header it likes."""
    trusted_proxy_hops: int = Field(default=1, ge=1, le=10)
    """How many proxies of yours append to `GATEWAY_CLIENT_IP_HEADER`: the client is that many entries
    from its right end; entries further left were written by the client and are ignored."""
    owner_ttl_s: int = Field(default=172_800, ge=60)
    """How long the record of who owns a session is kept after its last turn. Keep it longer than
    `ORCHESTRATOR_SESSION_TTL_S`, so a session never outlives its owner record."""
    request_timeout_s: float = Field(default=120.0, gt=0)
    """How long a client waits for a run to end. The run's own deadline is `GATEWAY_RUN_ENDING_GRACE_S`
    earlier, so a run that ran out of time says why (e.g. `MODEL_TIMEOUT`); a client gets `INFRA_TIMEOUT`
    only when the run never ended at all (no orchestrator took it, or it was lost)."""
    run_ending_grace_s: float = Field(default=3.0, gt=0)
    """How much earlier than `GATEWAY_REQUEST_TIMEOUT_S` the run's own deadline falls: the time the run's
    ending has to reach the gateway (a quarter of the request timeout at most)."""
    sse_ping_s: float = Field(default=10.0, gt=0)
    """Seconds between SSE keep-alive comments while a run is quiet, so proxies keep the stream open."""
    sse_head_hold_s: float | None = Field(default=None, ge=0, le=1.0)
    """How long a chat stream's response head may wait for the stream's first frame, so that it goes out
    beside it, or while the model thinks, rather than in the way of the model's call (`event_stream.py`).
    Unset: 0.02 where the runs share the gateway's process (the embedded default's in-memory bus), and 0,
    at once, beside orchestrators of their own, whose bus hop the head's write overlaps anyway."""
    reindex_status_wait_s: float = Field(default=10.0, ge=0, le=60)
    """How long `/api/reindex/{id}` waits for the first status of a command this replica has not heard of
    before answering 404: statuses reach each replica over Kafka, a moment after another replica accepted
    the command (or, for a replica just started, once it has read `rag.status` up to now)."""

    @model_validator(mode="after")
    def _body_holds_a_message(self) -> Self:
        if self.max_body_bytes < 3 * self.max_message_chars + 1024:
            raise ValueError(
                "GATEWAY_MAX_BODY_BYTES must be at least 3 x GATEWAY_MAX_MESSAGE_CHARS + 1024, "
                "or a long Korean message could never be sent"
            )
        return self


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class AuthSettings(BaseSettings):
    """Who may call: API keys (always) and, optionally, JWTs from an identity provider."""

    model_config = settings_config("AUTH_")

    keys_file: Path = Path(".agent/api-keys.json")
    """Where the API key hashes live without Redis (the embedded default). With `REDIS_URL` set they
    live in Redis, shared by every gateway replica."""
    jwt_jwks_url: HttpUrl | None = None
    """JWKS endpoint of the identity provider; set it to accept `Authorization: Bearer <JWT>` besides
    API keys. Unset: JWTs are refused."""
    jwt_issuer: str | None = None
    """Required `iss` of a JWT (required when `AUTH_JWT_JWKS_URL` is set)."""
    jwt_audience: str | None = None
    """Required `aud` of a JWT (required when `AUTH_JWT_JWKS_URL` is set)."""
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256", "ES256"])
    """Signature algorithms accepted, comma-separated; never `none` or an HMAC one."""
    jwt_user_claim: str = "sub"
    """Claim that holds the user id."""
    jwt_tenant_claim: str = "tenant"
    """Claim that holds the tenant; a token without it belongs to tenant `default`."""
    jwt_scope_claim: str = "scope"
    """Claim that holds the token's scopes (a space-separated string, or a list, e.g. `scp`); `reindex`
    there lets the token use `/api/reindex`. Other values are ignored."""
    jwt_leeway_s: int = Field(default=30, ge=0, le=300)
    """Clock skew tolerated on `exp` and `nbf`."""

    _split = field_validator("jwt_algorithms", mode="before")(_csv)

    @model_validator(mode="after")
    def _jwt_is_complete(self) -> Self:
        if self.jwt_jwks_url is not None and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("AUTH_JWT_JWKS_URL needs AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE")
        unsafe = [a for a in self.jwt_algorithms if a.lower() == "none" or a.upper().startswith("HS")]
        if unsafe:
            raise ValueError(f"AUTH_JWT_ALGORITHMS must be asymmetric; refused: {unsafe}")
        return self


class RateLimitSettings(BaseSettings):
    """Requests per minute per user and per client IP, and concurrent streams per user.
    Counted in Redis when `REDIS_URL` is set, so the limits hold across every gateway replica."""

    model_config = settings_config("RATE_LIMIT_")

    user_per_minute: int = Field(default=60, ge=1)
    """Chat requests one user may make in any 60-second window."""
    ip_per_minute: int = Field(default=120, ge=1)
    """API requests one client IP may make in any 60-second window (refused authentication included)."""
    streams_per_user: int = Field(default=4, ge=1)
    """Server-Sent Event streams one user may hold open at once."""


class BudgetSettings(BaseSettings):
    """Monthly budgets per tenant and per API key (`agent budgets set`); a chat turn past one is refused
    `BUDGET_EXCEEDED`. With `REDIS_URL` set, budgets and spend live in Redis, exact across replicas."""

    model_config = settings_config("BUDGETS_")

    file: Path = Path(".agent/budgets.json")
    """Where budgets live without Redis (the embedded default), so that `agent budgets set` reaches
    a running `agent run`; the spend is in a SQLite file beside it (`budgets.spend.sqlite3`)."""


class GatewayConfig:
    """Every setting the gateway process reads, grouped by concern."""

    def __init__(
        self,
        gateway: GatewaySettings | None = None,
        bus: BusSettings | None = None,
        redis: RedisSettings | None = None,
        log: ObservabilitySettings | None = None,
        metrics: MetricsSettings | None = None,
        auth: AuthSettings | None = None,
        limits: RateLimitSettings | None = None,
        roots: SourceRootsSettings | None = None,
        rag: RagSettings | None = None,
        budgets: BudgetSettings | None = None,
    ) -> None:
        self.gateway = gateway or GatewaySettings()
        self.roots = roots or SourceRootsSettings()
        # The shared document store's URL and index, for `/api/documents` (document_store.py).
        self.rag = rag or RagSettings()
        self.auth = auth or AuthSettings()
        self.budgets = budgets or BudgetSettings()
        self.limits = limits or RateLimitSettings()
        self.bus = bus or BusSettings()
        self.redis = redis or RedisSettings()
        self.log = log or ObservabilitySettings()
        self.metrics = metrics or MetricsSettings()


SETTINGS_CLASSES = (
    GatewaySettings,
    AuthSettings,
    BudgetSettings,
    RateLimitSettings,
    SourceRootsSettings,
    RagSettings,
    BusSettings,
    RedisSettings,
    ObservabilitySettings,
    MetricsSettings,
    TracingSettings,
    ProfileSettings,
)
