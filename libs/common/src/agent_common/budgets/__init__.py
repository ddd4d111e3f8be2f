"""Monthly budgets per tenant and per API key, and the spend counted against them.

`base.py` is the budget and the store's interface, `memory.py` and `redis.py` its two
stores (built by `agent_common/transports/`), `periods.py` the months, and `standing.py`
where a caller stands, the gauge and the warning, and the ledger's `record_spend` hook.
"""

from agent_common.budgets.base import Budget, BudgetStore, Spend, SpendSnapshot
from agent_common.budgets.memory import MemoryBudgetStore
from agent_common.budgets.periods import month_of, period_end, seconds_until_reset
from agent_common.budgets.standing import BudgetUse, SpendCounter, standing

__all__ = [
    "Budget",
    "BudgetStore",
    "BudgetUse",
    "MemoryBudgetStore",
    "Spend",
    "SpendCounter",
    "SpendSnapshot",
    "month_of",
    "period_end",
    "seconds_until_reset",
    "standing",
]
