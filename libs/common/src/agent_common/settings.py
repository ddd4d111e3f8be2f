"""Settings shared by more than one service, each read from its own env prefix.

A service composes the pieces it needs (see each service's `settings.py`).
Each field's docstring is its documentation: `docs/configuration.md` is
generated from these classes (`scripts/config_docs.py`), and a test fails when
the page and the classes disagree.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def comma_separated(value: object) -> object:
    """Lists in the environment are comma-separated: `a.example,b.example`."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def settings_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", use_attribute_docstrings=True)


class BusSettings(BaseSettings):
    """Which transport carries messages between services."""

    model_config = settings_config("BUS_")

    backend: Literal["memory", "kafka"] = "memory"
    """`memory`: the in-process bus of the embedded default (one process). `kafka`: Apache Kafka."""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka brokers, `host:port[,host:port...]`."""
    create_topics: bool = True
    """Create missing topics with their partition counts on start-up. Turn off where topics are provisioned."""


class RedisSettings(BaseSettings):
    """Shared state (sessions, runs) and run events."""

    model_config = settings_config("REDIS_")

    url: SecretStr | None = None
    """`redis://[user:password@]host:port/db`. Unset: in-process stand-ins (embedded mode only)."""
    max_connections: int = Field(default=100, ge=1)
    """Connections in one process's pool; beyond it, callers wait up to `REDIS_POOL_TIMEOUT_S`."""
    pool_timeout_s: float = Field(default=5.0, gt=0)
    """Longest wait for a free pooled connection."""


class ModelSettings(BaseSettings):
    """The OpenAI-compatible endpoint the orchestrator calls."""

    model_config = settings_config("MODEL_")

    base_url: str = "http://127.0.0.1:8080/v1"
    """Base URL of the OpenAI-compatible API (`.../v1`); the default is the offline model's own process.
    Unset in the embedded default, the built-in offline model on the same server is used."""
    name: str = "offline-1"
    """Model name sent with each request."""
    api_key: SecretStr = SecretStr("offline")
    """API key for the endpoint. Never logged."""
    first_token_timeout_s: float = Field(default=30.0, gt=0)
    """Longest wait for the first streamed chunk of a model call."""
    total_timeout_s: float = Field(default=120.0, gt=0)
    """Longest time for a whole model call."""
    temperature: float | None = None
    """Sampling temperature; unset leaves the endpoint's default."""


class ObservabilitySettings(BaseSettings):
    """Logging."""

    model_config = settings_config("LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level written."""
    format: Literal["json", "text"] = "json"
    """`json`: one JSON object per line, with request, session and user ids. `text`: for reading in a terminal."""
