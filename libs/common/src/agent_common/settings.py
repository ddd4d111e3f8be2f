"""Settings shared by more than one service, each read from its own env prefix.

A service composes the pieces it needs (see each service's `settings.py`).
Each field's docstring is its documentation: `docs/configuration.md` is
generated from these classes (`scripts/config_docs.py`), and a test fails when
the page and the classes disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)


def comma_separated(value: object) -> object:
    """Lists in the environment are comma-separated: `a.example,b.example`."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def settings_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", use_attribute_docstrings=True)


class PlaintextSecretError(RuntimeError):
    """The production profile found a secret in a plaintext `.env` file."""


class ProfileSettings(BaseSettings):
    """How strict the process is, and where secrets come from. Read from the environment only."""

    model_config = SettingsConfigDict(env_prefix="PLATFORM_", extra="ignore", use_attribute_docstrings=True)

    profile: Literal["development", "production"] = "development"
    """`production`: refuse to start when a secret would come from the `.env` file, and never serve
    anonymous callers, even in the embedded default."""
    secrets_dir: Path | None = None
    """Folder of secret files, one per setting, named like its variable (`MODEL_API_KEY`, `REDIS_URL`):
    a Kubernetes Secret mounted as a volume. A variable in the environment wins over its file."""
    env_file: Path = Path(".env")
    """A dotenv file read for settings not in the environment or the secrets folder (development only
    for secrets: the production profile refuses a secret found there)."""


def _secret_fields(settings_cls: type[BaseSettings]) -> set[str]:
    return {
        name
        for name, field in settings_cls.model_fields.items()
        if field.annotation is SecretStr or field.annotation == (SecretStr | None)
    }


class SecretSettings(BaseSettings):
    """Settings that hold secrets (as `SecretStr`, which never prints). Sources, first wins: the
    environment, the secrets folder (`PLATFORM_SECRETS_DIR`), the `.env` file (`PLATFORM_ENV_FILE`)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        profile = ProfileSettings()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if profile.secrets_dir is not None:
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=profile.secrets_dir))
        dotenv = DotEnvSettingsSource(settings_cls, env_file=profile.env_file if profile.env_file.is_file() else None)
        if profile.profile == "production":
            from_dotenv = set(dotenv()) & _secret_fields(settings_cls)
            # A secret set in the environment or a file wins over .env, but its plaintext copy is
            # still on disk: refuse either way, naming the variable and never the value.
            if from_dotenv:
                prefix = str(settings_cls.model_config.get("env_prefix", ""))
                names = ", ".join(sorted(f"{prefix}{name}".upper() for name in from_dotenv))
                raise PlaintextSecretError(
                    f"PLATFORM_PROFILE=production: {names} is set in the plaintext file {profile.env_file}. "
                    "Deliver secrets as files (PLATFORM_SECRETS_DIR, a mounted Kubernetes Secret) or "
                    "environment variables from a secret store, and remove them from the file."
                )
        sources.append(dotenv)
        return tuple(sources)


def production_profile() -> bool:
    return ProfileSettings().profile == "production"


class BusSettings(BaseSettings):
    """Which transport carries messages between services."""

    model_config = settings_config("BUS_")

    backend: Literal["memory", "kafka"] = "memory"
    """`memory`: the in-process bus of the embedded default (one process). `kafka`: Apache Kafka."""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka brokers, `host:port[,host:port...]`."""
    create_topics: bool = True
    """Create missing topics with their partition counts on start-up. Turn off where topics are provisioned."""
    kafka_member_name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    """This replica's own name in its consumer groups: the pod's name (kept across a container's restarts,
    never shared by two live replicas). A replica restarted after a crash then waits for the member it left
    behind to expire (up to the session timeout) before joining, and the other replicas keep their
    partitions meanwhile. Unset, it joins at once, and its join stops every replica until the dead member
    expires."""
    ride_through_s: float = Field(default=5.0, ge=0)
    """Longest broker outage (a restart, a leader election, a network blip) that costs nothing: publishes
    and handlers that fail because the broker is unreachable are retried with backoff this long. Past it,
    a run ends with `INFRA_UNAVAILABLE` (`bus_unavailable`); a consumer keeps its message and pauses."""


class RedisSettings(SecretSettings):
    """Shared state (sessions, runs) and run events."""

    model_config = settings_config("REDIS_")

    url: SecretStr | None = None
    """`redis://[user:password@]host:port/db`. Unset: in-process stand-ins (embedded mode only)."""
    max_connections: int = Field(default=100, ge=1)
    """Connections in one process's pool; beyond it, callers wait up to `REDIS_POOL_TIMEOUT_S`."""
    pool_timeout_s: float = Field(default=5.0, gt=0)
    """Longest wait for a free pooled connection."""
    socket_timeout_s: float = Field(default=5.0, gt=0)
    """Longest wait for Redis to answer one command (redis-py's own default, made explicit); then it
    fails and its connection is replaced. A connection gone silent (half-open) holds its caller that
    long, and, as a process's run events go out together, every run of that process."""
    ride_through_s: float = Field(default=5.0, ge=0)
    """Longest Redis outage (a restart, a failover, a network blip) that costs nothing: commands that fail
    because Redis is unreachable are retried with backoff this long. Past it, a run ends with
    `INFRA_UNAVAILABLE` (`redis_unavailable`); a consumer keeps its message and pauses."""


class ModelSettings(SecretSettings):
    """The OpenAI-compatible endpoint the orchestrator calls."""

    model_config = settings_config("MODEL_")

    base_url: str = "http://127.0.0.1:8080/v1"
    """Base URL of the OpenAI-compatible API (`.../v1`); the default is the offline model's own process.
    Unset in the embedded default, the built-in offline model on the same server is used."""
    name: str = "offline-1"
    """Model name sent with each request."""
    provider: str = "openai"
    """Who serves the endpoint, as traces name it (`gen_ai.provider.name`: `openai`, `azure.ai.openai`,
    `aws.bedrock`...); the offline model speaks OpenAI's protocol."""
    api_key: SecretStr = SecretStr("offline")
    """API key for the endpoint. Never logged."""
    first_token_timeout_s: float = Field(default=30.0, gt=0)
    """Longest wait for the first streamed chunk of a model call."""
    total_timeout_s: float = Field(default=120.0, gt=0)
    """Longest time for a whole model call."""
    context_window: int | None = Field(default=None, ge=256)
    """Tokens the model reads at most, prompt and answer together. Unset: what the server reports (llama.cpp's
    `n_ctx`, vLLM's `max_model_len`), else no limit beyond the session's budget. Before each call the oldest
    history turns, then the lowest-ranked passages, are left out until the prompt fits."""
    temperature: float | None = None
    """Sampling temperature; unset leaves the endpoint's default."""
    max_output_tokens: int = Field(default=2048, ge=1)
    """The most tokens one run's answer may have, over all its model calls; each call is sent what is
    left as `max_tokens`. An answer stopped there ends with `finish_reason: "length"` and a note to the
    user. A tenant's cap (`ORCHESTRATOR_TENANT_MAX_OUTPUT_TOKENS`) can only lower it."""


class ObservabilitySettings(BaseSettings):
    """Logging."""

    model_config = settings_config("LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level written."""
    format: Literal["json", "text"] = "json"
    """`json`: one JSON object per line, with request, session and user ids. `text`: for reading in a terminal."""


class MetricsSettings(BaseSettings):
    """Where Prometheus scrapes `/metrics`: a port of its own, never the service's public one."""

    model_config = settings_config("METRICS_")

    port: int | None = Field(default=None, ge=0, le=65535)
    """Port serving `/metrics`, on the service's own host address (its `*_HOST`); the service's own port
    answers 404 there, since metrics name tenants. Unset: the service's port + 1000 (gateway 9000,
    orchestrator 9001, tool runner 9002, RAG indexer 9003). `0`: a free port, logged at start-up."""

    def port_for(self, service_port: int) -> int:
        return self.port if self.port is not None else service_port + 1000


class TracingSettings(BaseSettings):
    """OpenTelemetry traces. The SDK's other standard variables apply too: `OTEL_SERVICE_NAME`,
    `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`."""

    model_config = settings_config("OTEL_")

    exporter_otlp_endpoint: str | None = None
    """Base URL of an OTLP/HTTP collector (`http://otel-collector:4318`); spans go to `/v1/traces` under
    it. Unset, no span leaves the process (log lines still carry their `trace_id`)."""
    exporter_otlp_traces_endpoint: str | None = None
    """Full URL for spans, when it is not `/v1/traces` under `OTEL_EXPORTER_OTLP_ENDPOINT`."""
    sdk_disabled: bool = False
    """Make no spans at all."""

    def traces_endpoint(self) -> str | None:
        if self.exporter_otlp_traces_endpoint:
            return self.exporter_otlp_traces_endpoint
        if self.exporter_otlp_endpoint:
            return self.exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None
