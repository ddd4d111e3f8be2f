"""Where usage entries are kept and what they cost: the ledger's store and the price file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from agent_common.settings import SecretSettings, settings_config
from agent_common.usage.paths import PathThresholds


class UsageSettings(SecretSettings):
    """The usage ledger (one entry per run) and the prices its costs are computed with (docs/cost.md)."""

    model_config = settings_config("USAGE_")

    ledger_path: Path = Path(".data/usage.sqlite3")
    """Embedded mode (the default): the SQLite file the ledger keeps its entries in."""
    ledger_url: SecretStr | None = None
    """Server mode: the PostgreSQL database the ledger writes and the cost report reads,
    `postgresql://user:password@host:5432/db` (it may be the document store's, `RAG_STORE_URL`).
    Set, it replaces `USAGE_LEDGER_PATH`; required with `BUS_BACKEND=kafka`, where runs end in
    several processes."""
    ledger_pool_size: int = Field(default=4, ge=1)
    """Connections the ledger keeps open to PostgreSQL, per process."""
    prices_file: Path | None = None
    """The price file (TOML, docs/cost.md#prices) an operator edits. Unset: the built-in one, which
    prices only the offline model (at zero)."""
    long_prompt_tokens: int = Field(default=8000, ge=1)
    """A model call whose prompt has at least this many tokens puts its run on the `long_prompt`
    expensive path (docs/cost.md#expensive-paths)."""
    many_tool_calls: int = Field(default=4, ge=1)
    """A run with at least this many tool calls is on the `tool_calls` expensive path."""
    many_steps: int = Field(default=3, ge=1)
    """A run with at least this many model steps is on the `steps` expensive path."""

    def path_thresholds(self) -> PathThresholds:
        return PathThresholds(self.long_prompt_tokens, self.many_tool_calls, self.many_steps)
