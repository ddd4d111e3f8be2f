"""Settings shared by more than one service, each read from its own env prefix.

A service composes the pieces it needs (see each service's `settings.py`);
`docs/configuration.md` is the reference of every variable.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _csv(value: object) -> object:
    """Lists in the environment are comma-separated: `a.example,b.example`."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class BusSettings(BaseSettings):
    """Which transport carries messages between services."""

    model_config = SettingsConfigDict(env_prefix="BUS_", extra="ignore")

    backend: Literal["memory", "kafka"] = "memory"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Create missing topics on start-up (fine for a dev broker; production topics are provisioned).
    create_topics: bool = True


class RedisSettings(BaseSettings):
    """Shared state (sessions, runs) and run events. Unset: in-process stand-ins (embedded only)."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore")

    url: SecretStr | None = None


class ModelSettings(BaseSettings):
    """The OpenAI-compatible endpoint the orchestrator calls."""

    model_config = SettingsConfigDict(env_prefix="MODEL_", extra="ignore")

    base_url: str = "http://127.0.0.1:8000/offline/v1"
    name: str = "offline-1"
    api_key: SecretStr = SecretStr("offline")
    # Time to the first streamed chunk, and for the whole stream (TensorZero's ttft/total split).
    first_token_timeout_s: float = Field(default=30.0, gt=0)
    total_timeout_s: float = Field(default=120.0, gt=0)
    temperature: float | None = None


class ToolSettings(BaseSettings):
    """What tool runners may reach."""

    model_config = SettingsConfigDict(env_prefix="TOOL_", extra="ignore")

    # Hosts `http_get` may fetch. Empty means nothing: default-deny.
    http_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    http_timeout_s: float = Field(default=4.0, ge=0.5, le=30.0)
    http_max_response_bytes: int = Field(default=1_048_576, gt=0)

    _split = field_validator("http_allowlist", mode="before")(_csv)


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"
