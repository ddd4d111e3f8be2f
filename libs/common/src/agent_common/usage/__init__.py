"""Usage and cost: one entry per run (`entry.py`), what it cost (`prices.py`), the ledger that
keeps entries once per request id (`ledger/`), and the writer that fills it from the bus
(`writer.py`). See docs/cost.md."""

from agent_common.usage.entry import (
    ModelCallUsage,
    ModelRole,
    SpendRecorder,
    ToolCallUsage,
    UsageEntry,
    UsageRecorded,
    record_no_spend,
)
from agent_common.usage.prices import EntryCost, PriceBook, PriceFileInvalid, load_prices
from agent_common.usage.settings import UsageSettings

__all__ = [
    "EntryCost",
    "ModelCallUsage",
    "ModelRole",
    "PriceBook",
    "PriceFileInvalid",
    "SpendRecorder",
    "ToolCallUsage",
    "UsageEntry",
    "UsageRecorded",
    "UsageSettings",
    "load_prices",
    "record_no_spend",
]
