"""The usage ledger: one contract (`base.py`), one file per store (`sqlite.py`, the embedded
default's file; `postgres.py`, the distributed mode's shared database), chosen in `choice.py`."""

from agent_common.usage.ledger.base import LedgerUnavailable, UsageLedger, month_bounds
from agent_common.usage.ledger.choice import open_ledger, writes_ledger

__all__ = ["LedgerUnavailable", "UsageLedger", "month_bounds", "open_ledger", "writes_ledger"]
