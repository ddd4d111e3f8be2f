"""The orchestrator's own settings; shared pieces come from agent_common.settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from agent_common.rag.settings import RagSettings
from agent_common.resilience import BreakerSettings, RetryPolicy
from agent_common.settings import (
    BusSettings,
    MetricsSettings,
    ModelSettings,
    ObservabilitySettings,
    ProfileSettings,
    RedisSettings,
    SecretSettings,
    TracingSettings,
    comma_separated,
    settings_config,
)
from agent_common.usage.settings import UsageSettings

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer in the language of the user's message "
    "(Korean or English). Use the http_get tool to read a web page when the user "
    "asks about a URL; if a tool fails, say so plainly."
)


class OrchestratorSettings(BaseSettings):
    """The agent loop."""

    model_config = settings_config("ORCHESTRATOR_")

    host: str = "127.0.0.1"
    """Interface for the probes and metrics (`0.0.0.0` in a container)."""
    port: int = 8001
    """Port for the probes and metrics."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """The system message that starts every conversation."""
    max_steps: int = Field(default=4, ge=1, le=20)
    """Model calls per run; a model that keeps asking for tools is stopped with `MODEL_STEP_LIMIT`."""
    max_tool_calls_per_step: int = Field(default=4, ge=1, le=100)
    """Tool calls one model step may dispatch. Calls the model asks for beyond it are not run: each gets
    a `TOOL_CALL_LIMIT` error as its result (the model reads it and answers with what it has; the
    client sees it in `tool_end`)."""
    max_tool_calls_per_turn: int = Field(default=8, ge=1, le=500)
    """Tool calls one turn (a run, over all its steps) may dispatch; further calls are refused with
    `TOOL_CALL_LIMIT`, and once it is reached the model is offered no more tools."""
    concurrency: int = Field(default=12, ge=1)
    """Partitions one replica consumes at once, per topic. A chat request leaves its partition as
    soon as its run is started, so this bounds how fast runs start, not how many run."""
    max_runs: int = Field(default=100, ge=1)
    """Chat runs one replica works on at once. When all are busy its consumer waits, so the backlog
    stays in Kafka for other replicas; bound it by what a replica's CPU and the model endpoint take."""
    session_max_turns: int = Field(default=20, ge=1)
    """Turns kept per session; the oldest are dropped first."""
    session_ttl_s: int = Field(default=86_400, ge=60)
    """Seconds a session is kept after its last turn (sliding)."""
    session_max_tokens: int = Field(default=6000, ge=100)
    """Estimated tokens of history kept per session (user and assistant text); the oldest turns are
    dropped first, the newest always kept. Bounds Redis memory and every prompt's history."""
    prompt_history_tokens: int = Field(default=1500, ge=100)
    """Estimated tokens of the session's history sent to the model with each question: the newest turns
    that fit, whole (the newest always), the oldest left out. The session still keeps
    `ORCHESTRATOR_SESSION_MAX_TOKENS` (what the user sees of the conversation); this bounds what every
    prompt pays for it; at `ORCHESTRATOR_SESSION_MAX_TOKENS` or more, every prompt has the whole stored history
    ([cost.md](cost.md#what-the-platform-trims))."""
    usage_entry_wait_s: float = Field(default=1.0, ge=0)
    """How long a run's ending waits for its usage entry to be on the bus (published before the ending, so
    a replica that dies in between loses no entry: [cost.md](cost.md#delivery)). A broker that acknowledges
    takes milliseconds; past this wait (a broker away) the ending goes out and the entry follows on its own.
    0: never wait (an entry can then be lost with its replica)."""
    run_state_ttl_s: int = Field(default=900, ge=60)
    """Seconds a run's state outlives its deadline, so late tool results still find it."""
    run_lease_s: float = Field(default=10.0, gt=0)
    """A replica's lease on a chat run, renewed every third of it while the run streams. A run whose
    lease runs out (its replica died) is taken over by another replica's sweep."""
    takeover_scan_s: float = Field(default=1.0, gt=0)
    """How often each replica looks for runs whose lease ran out, to take them over."""
    drain_s: float = Field(default=20.0, ge=0)
    """On SIGTERM, how long runs in flight get to finish once the consumer has stopped; what still
    runs then is handed to another replica (keep it under the pod's termination grace period)."""
    tool_result_timeout_s: float = Field(default=10.0, gt=0)
    """How long a run waits for a tool's result before counting it as a `TOOL_TIMEOUT` and going on.
    Keep it above the tool's own deadline (`TOOL_HTTP_TIMEOUT_S`) plus `BUS_RIDE_THROUGH_S`, so a
    tool that answers is never cut off, not even when a broker outage holds its result."""
    log_prompts: bool = False
    """Log the user's message and the answer (first 2,000 characters) with each run. Off by default:
    conversations are personal data; turn it on for debugging, where the logs are protected as such."""
    deadline_scan_s: float = Field(default=1.0, gt=0)
    """How often each replica looks for tool results that are overdue."""
    tenant_max_output_tokens: dict[str, PositiveInt] = Field(default_factory=dict)
    """Output caps per tenant, as JSON (`{"acme": 512, "trial": 256}`): the most tokens one run's
    answer may have for the caller's tenant (the gateway's API key or JWT tenant). Lower than
    `MODEL_MAX_OUTPUT_TOKENS` to matter: the lower of the two applies; tenants not named get that one."""
    answer_link_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Hosts, besides `TOOL_HTTP_ALLOWLIST`'s, that links and images in answers may point at (comma-separated;
    `*.example.com` for subdomains). Any other target is made inert before the answer is streamed or stored
    ([security.md](security.md#links-in-answers))."""
    resume_window_s: float = Field(default=30.0, gt=0)
    """How long a run goes on while nobody receives its events (the client hung up; it may reconnect
    with `Last-Event-ID` meanwhile). Past it the model call is stopped and the run ends with
    `RUN_ABANDONED`, kept in the replay buffer for a late reconnect."""

    _split = field_validator("answer_link_hosts", mode="before")(comma_separated)


class ToolHostSettings(BaseSettings):
    """The tool allowlist, read by the orchestrator too: links in answers may point at the hosts tools may fetch."""

    model_config = settings_config("TOOL_HTTP_")

    allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Hosts `http_get` may fetch (the tool runner's setting); the orchestrator lets answers link and
    show images from them, and from `ORCHESTRATOR_ANSWER_LINK_HOSTS`."""

    _split = field_validator("allowlist", mode="before")(comma_separated)


class ModelResilienceSettings(BaseSettings):
    """Retries and circuit breaking for model calls (the one retry loop: the model client never retries)."""

    model_config = settings_config("MODEL_RETRY_")

    attempts: int = Field(default=3, ge=1, le=10)
    """Calls per model step at most, the first included; only 429 (not a spent quota), 5xx, timeouts and
    lost connections are retried, never a refusal (4xx, a content filter, an error event that names a
    client fault), and never once tokens of the answer have reached the client."""
    backoff_s: float = Field(default=0.5, gt=0)
    """Base of the exponential backoff with full jitter between attempts."""
    backoff_max_s: float = Field(default=8.0, gt=0)
    """Longest wait between two attempts; a longer `Retry-After` is honoured up to the budget."""
    budget_s: float = Field(default=30.0, gt=0)
    """All attempts and waits of one model step, at most (the run's deadline bounds it too)."""
    breaker_window: int = Field(default=20, ge=1)
    """Model calls the breaker remembers, per endpoint and replica."""
    breaker_min_calls: int = Field(default=5, ge=1)
    """Calls in the window before the failure rate can open the breaker."""
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    """Share of failed calls in the window that opens the breaker."""
    breaker_open_s: float = Field(default=30.0, gt=0)
    """Seconds an open breaker fails calls fast before it lets trial calls through."""
    breaker_trial_calls: int = Field(default=2, ge=1)
    """Trial calls a half-open breaker lets through; all must succeed to close it."""

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.attempts, backoff_s=self.backoff_s, backoff_max_s=self.backoff_max_s, budget_s=self.budget_s
        )

    def breaker(self) -> BreakerSettings:
        return BreakerSettings(
            window=self.breaker_window,
            min_calls=self.breaker_min_calls,
            failure_rate=self.breaker_failure_rate,
            open_s=self.breaker_open_s,
            trial_calls=self.breaker_trial_calls,
        )


class SecondaryModelSettings(SecretSettings):
    """An optional second OpenAI-compatible endpoint, tried when the first stays unavailable."""

    model_config = settings_config("MODEL_SECONDARY_")

    base_url: str | None = None
    """Base URL (`.../v1`) of the secondary model. Unset: no secondary; the user gets the fallback answer."""
    name: str = ""
    """Model name sent to the secondary endpoint."""
    api_key: SecretStr = SecretStr("")
    """API key for the secondary endpoint. Never logged."""
    provider: str | None = None
    """Who serves the secondary endpoint, as traces name it (`gen_ai.provider.name`); unset: the primary's."""
    context_window: int | None = Field(default=None, ge=256)
    """Tokens the secondary model reads at most; unset: what its server reports (never the primary's window)."""


class OrchestratorConfig:
    """Every setting the orchestrator process reads, grouped by concern."""

    def __init__(
        self,
        service: OrchestratorSettings | None = None,
        bus: BusSettings | None = None,
        redis: RedisSettings | None = None,
        model: ModelSettings | None = None,
        log: ObservabilitySettings | None = None,
        metrics: MetricsSettings | None = None,
        resilience: ModelResilienceSettings | None = None,
        secondary: SecondaryModelSettings | None = None,
        rag: RagSettings | None = None,
        tool_hosts: ToolHostSettings | None = None,
        usage: UsageSettings | None = None,
    ) -> None:
        self.service = service or OrchestratorSettings()
        self.bus = bus or BusSettings()
        self.redis = redis or RedisSettings()
        self.model = model or ModelSettings()
        self.log = log or ObservabilitySettings()
        self.metrics = metrics or MetricsSettings()
        self.resilience = resilience or ModelResilienceSettings()
        self.secondary = secondary or SecondaryModelSettings()
        self.rag = rag or RagSettings()
        self.tool_hosts = tool_hosts or ToolHostSettings()
        self.usage = usage or UsageSettings()

    def answer_link_hosts(self) -> list[str]:
        """The hosts an answer may link: the tool allowlist's and the answer-link hosts."""
        return [*self.tool_hosts.allowlist, *self.service.answer_link_hosts]


SETTINGS_CLASSES = (
    OrchestratorSettings,
    BusSettings,
    RedisSettings,
    ModelSettings,
    ModelResilienceSettings,
    SecondaryModelSettings,
    ObservabilitySettings,
    MetricsSettings,
    TracingSettings,
    ProfileSettings,
    RagSettings,
    ToolHostSettings,
    UsageSettings,
)
