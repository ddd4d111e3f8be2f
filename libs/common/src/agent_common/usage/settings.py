"""Where usage entries are kept and what they cost: the ledger's store and the price file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from agent_common.settings import SecretSettings, settings_config


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
