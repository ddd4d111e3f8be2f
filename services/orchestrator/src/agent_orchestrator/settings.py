"""The orchestrator's own settings; shared pieces come from agent_common.settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_common.settings import BusSettings, ModelSettings, ObservabilitySettings, RedisSettings

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer in the language of the user's message "
    "(Korean or English). Use the http_get tool to read a web page when the user "
    "asks about a URL; if a tool fails, say so plainly."
)


class OrchestratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8001
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Model calls per run: a model that keeps asking for tools is stopped here.
    max_steps: int = Field(default=4, ge=1, le=20)
    # Runs worked on at once by one replica (Kafka partitions consumed concurrently).
    concurrency: int = Field(default=12, ge=1)
    session_max_turns: int = Field(default=20, ge=1)
    session_ttl_s: int = Field(default=86_400, ge=60)
    # How long a run's state outlives its deadline, for late tool results to find it.
    run_state_ttl_s: int = Field(default=900, ge=60)


class OrchestratorConfig:
    """Every setting the orchestrator process reads, grouped by concern."""

    def __init__(
        self,
        service: OrchestratorSettings | None = None,
        bus: BusSettings | None = None,
        redis: RedisSettings | None = None,
        model: ModelSettings | None = None,
        log: ObservabilitySettings | None = None,
    ) -> None:
        self.service = service or OrchestratorSettings()
        self.bus = bus or BusSettings()
        self.redis = redis or RedisSettings()
        self.model = model or ModelSettings()
        self.log = log or ObservabilitySettings()


SETTINGS_CLASSES = (OrchestratorSettings, BusSettings, RedisSettings, ModelSettings, ObservabilitySettings)
