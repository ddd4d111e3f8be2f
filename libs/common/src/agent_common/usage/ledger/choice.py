"""The one choice of ledger store: PostgreSQL when `USAGE_LEDGER_URL` names one, else the
embedded default's SQLite file. PostgreSQL's client is imported only when chosen."""

from __future__ import annotations

import logging

from agent_common.rag.settings import POSTGRES_SCHEMES
from agent_common.settings import BusSettings
from agent_common.transports import ConfigurationError
from agent_common.usage.ledger.base import UsageLedger
from agent_common.usage.settings import UsageSettings

log = logging.getLogger("agent.usage")


def open_ledger(settings: UsageSettings) -> UsageLedger:
    """The ledger the settings name, connected when entered. `ConfigurationError` for a URL that
    is not PostgreSQL's (never repeating it: it may hold a password)."""
    if settings.ledger_url is not None:
        url = settings.ledger_url.get_secret_value()
        if not url.startswith(POSTGRES_SCHEMES):
            raise ConfigurationError(
                "USAGE_LEDGER_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/db)."
            )
        from agent_common.usage.ledger.postgres import PostgresLedger

        return PostgresLedger(url, pool_size=settings.ledger_pool_size)
    from agent_common.usage.ledger.sqlite import SqliteLedger

    return SqliteLedger(settings.ledger_path)


def writes_ledger(settings: UsageSettings, bus: BusSettings) -> bool:
    """Whether this process hosts the ledger writer. Separate processes (`BUS_BACKEND=kafka`)
    need the shared database: without `USAGE_LEDGER_URL` none writes, and the entries wait on
    `usage.entries` (for its retention) until a writer that has it starts; said once, loudly."""
    if bus.backend == "kafka" and settings.ledger_url is None:
        log.warning(
            "USAGE_LEDGER_URL is not set: usage entries are not stored (they wait on usage.entries); "
            "set it to the PostgreSQL database the cost report reads"
        )
        return False
    return True
