"""Budgets and the period's spend: the interface both stores keep (`memory.py`, `redis.py`).

A budget is monthly, for a tenant or for one API key of a tenant, in US dollars or in
tokens, with a share at which the operators are warned. Spend is counted per tenant
and per key whether or not a budget exists, so a budget set mid-month sees the month
so far. Costs are kept as whole nano-dollars: exact sums in Redis's 64-bit integers
(up to about 9 billion dollars a month), where a float would drift.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["NANO", "Budget", "BudgetStore", "Spend", "SpendSnapshot", "from_nanos", "to_nanos"]

NANO = Decimal("1e-9")
_NAME = r"^[A-Za-z0-9_.@:-]{1,64}$"
_NAME_PATTERN = re.compile(_NAME)


def to_nanos(cost: Decimal) -> int:
    """A cost in dollars as whole nano-dollars (half-even, as accountants round)."""
    return int(cost.quantize(NANO, rounding=ROUND_HALF_EVEN) / NANO)


def from_nanos(nanos: int) -> Decimal:
    return (Decimal(nanos) * NANO).normalize() if nanos else Decimal(0)


class Budget(BaseModel):
    """A monthly limit for a tenant (`key_id` None) or for one API key of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(pattern=_NAME)
    key_id: str | None = Field(default=None, pattern=_NAME)
    monthly_usd: Decimal | None = Field(default=None, gt=0, decimal_places=9)
    monthly_tokens: int | None = Field(default=None, gt=0)
    warn_at: float = Field(default=0.8, gt=0, le=1)
    """The share of the budget at which the operators are told (one event a period, and the alert)."""

    @model_validator(mode="after")
    def _one_limit(self) -> Self:
        if (self.monthly_usd is None) == (self.monthly_tokens is None):
            raise ValueError("a budget is in dollars or in tokens: give exactly one of monthly_usd, monthly_tokens")
        return self

    @property
    def scope(self) -> str:
        """`tenant` or `tenant/key_id`: how the budget is named in stores, events and the CLI."""
        return scope_of(self.tenant, self.key_id)

    @property
    def unit(self) -> str:
        return "usd" if self.monthly_usd is not None else "tokens"

    @property
    def limit(self) -> Decimal | int:
        return self.monthly_usd if self.monthly_usd is not None else int(self.monthly_tokens or 0)

    def used(self, spend: Spend) -> Decimal | int:
        return spend.cost if self.monthly_usd is not None else spend.tokens

    def used_ratio(self, spend: Spend) -> float:
        return float(Decimal(self.used(spend)) / Decimal(self.limit))


def scope_of(tenant: str, key_id: str | None) -> str:
    return tenant if key_id is None else f"{tenant}/{key_id}"


def valid_name(value: str) -> bool:
    return bool(_NAME_PATTERN.fullmatch(value))


@dataclass(frozen=True)
class Spend:
    """What a tenant or a key spent in a period."""

    cost: Decimal = Decimal(0)
    tokens: int = 0

    @classmethod
    def of(cls, nanos: int, tokens: int) -> Spend:
        return cls(cost=from_nanos(nanos), tokens=tokens)


@dataclass(frozen=True)
class SpendSnapshot:
    """A period's spend by a tenant and, when the caller used one, by its key."""

    tenant: Spend
    key: Spend | None = None


class BudgetStore(ABC):
    """Where budgets and each period's spend live: in memory (and a file) for the embedded
    default, in Redis for replicas, which then all see one exact count."""

    @abstractmethod
    async def set(self, budget: Budget) -> None:
        """Create or replace the budget of its scope."""

    @abstractmethod
    async def remove(self, tenant: str, key_id: str | None = None) -> bool:
        """Drop a scope's budget; False when it had none."""

    @abstractmethod
    async def budgets(self, tenant: str | None = None) -> list[Budget]:
        """Every budget (of `tenant`), tenants first, then their keys, by name."""

    @abstractmethod
    async def applying(self, tenant: str, key_id: str | None) -> list[Budget]:
        """The budgets a caller is held to: its tenant's and its key's, those that exist."""

    @abstractmethod
    async def spent(self, tenant: str, key_id: str | None, period: str) -> SpendSnapshot:
        """The period's spend so far."""

    @abstractmethod
    async def record(
        self, *, request_id: str, tenant: str, key_id: str | None, tokens: int, cost: Decimal, period: str
    ) -> SpendSnapshot | None:
        """Add one run's spend, once per `request_id` and period: the new totals, or None when the
        request was counted already (a redelivered usage entry)."""

    @abstractmethod
    async def first_warning(self, scope: str, period: str) -> bool:
        """True the first time it is asked for `scope` in `period`, whoever asks: one warning a period."""

    async def ping(self) -> bool:
        return True
