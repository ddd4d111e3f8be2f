"""What tokens and tool calls cost: the price file an operator edits, read into a `PriceBook`.

The file is TOML (read by the standard library, so every process can read it without a
new dependency) and versioned: each price has the date it applies from, and a cost is
always computed with the price valid on the entry's date (UTC), so raising a price on
the 15th leaves the first half of the month at the old one. Amounts are decimal strings
and stay `Decimal` throughout: a bill adds up to the cent. The format, with an example,
is in docs/cost.md; the built-in file (`default_prices.toml`) prices the offline model
at zero and is only a starting point.

A model or tool the file does not name costs nothing and is reported as unpriced, so an
operator sees what is missing rather than a made-up figure.
"""

from __future__ import annotations

import bisect
import datetime
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from agent_common.transports.base import ConfigurationError
from agent_common.usage.entry import ModelCallUsage, UsageEntry

MILLION = Decimal(1_000_000)
# A model name ending in a release date: `-2024-08-06`, `-20241022`, `-0125`.
_SNAPSHOT = re.compile(r"(.+?)-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})")

ZERO = Decimal(0)


class PriceFileInvalid(ConfigurationError):
    """The price file cannot be read as prices: says which file and which entry (a process
    refuses to start with it: exit 2, one line)."""


@dataclass(frozen=True)
class ModelPrice:
    """A model's price per million tokens from `valid_from` on."""

    valid_from: datetime.date
    input_per_million: Decimal
    output_per_million: Decimal


@dataclass(frozen=True)
class ToolPrice:
    valid_from: datetime.date
    per_call: Decimal


_P = TypeVar("_P", "ModelPrice", "ToolPrice")


@dataclass(frozen=True)
class EntryCost:
    """One entry's cost, and the parts a report splits it into."""

    models: Decimal = ZERO
    tools: Decimal = ZERO
    retries: Decimal = ZERO
    """What the calls that failed and were tried again cost (included in `models`)."""
    secondary: Decimal = ZERO
    """What the calls to the secondary model cost (included in `models`)."""
    unpriced: frozenset[str] = frozenset()
    """Models and tools the price file does not name on the entry's date."""

    @property
    def total(self) -> Decimal:
        return self.models + self.tools


@dataclass(frozen=True)
class PriceBook:
    """Every model's and tool's prices over time, each list sorted by `valid_from`."""

    version: str
    currency: str
    models: dict[str, list[ModelPrice]] = field(default_factory=dict)
    tools: dict[str, list[ToolPrice]] = field(default_factory=dict)

    def model_price(self, model: str, on: datetime.date) -> ModelPrice | None:
        """The price of `model` on `on`; a dated snapshot a provider reports (`gpt-4o-2024-08-06`,
        `claude-3-5-sonnet-20241022`) has its family's price when the file names only the family."""
        prices = self.models.get(model)
        if prices is None and (snapshot := _SNAPSHOT.fullmatch(model)) is not None:
            prices = self.models.get(snapshot.group(1))
        return _valid_on(prices or [], on)

    def tool_price(self, tool: str, on: datetime.date) -> ToolPrice | None:
        return _valid_on(self.tools.get(tool, []), on)

    def call_cost(self, call: ModelCallUsage, on: datetime.date) -> Decimal | None:
        """One model call's cost, or None when the model has no price on that date."""
        price = self.model_price(call.model, on)
        if price is None:
            return None
        return (
            Decimal(call.prompt_tokens) * price.input_per_million
            + Decimal(call.completion_tokens) * price.output_per_million
        ) / MILLION

    def cost(self, entry: UsageEntry) -> EntryCost:
        on = entry.at.astimezone(datetime.UTC).date()
        models = tools = retries = secondary = ZERO
        unpriced: set[str] = set()
        for call in entry.model_calls:
            cost = self.call_cost(call, on)
            if cost is None:
                unpriced.add(call.model)
                continue
            models += cost
            if call.error is not None and _retried(entry, call):
                retries += cost
            if call.role == "secondary":
                secondary += cost
        for tool_call in entry.tool_calls:
            price = self.tool_price(tool_call.tool, on)
            if price is None:
                unpriced.add(f"tool:{tool_call.tool}")
                continue
            tools += price.per_call
        return EntryCost(models, tools, retries, secondary, frozenset(unpriced))


def _retried(entry: UsageEntry, call: ModelCallUsage) -> bool:
    """A failed call some later call of the same step stands in for: its cost is the retries' share."""
    return any(
        later.step == call.step and (later.attempt > call.attempt or later.role != call.role)
        for later in entry.model_calls
        if later is not call
    )


def _valid_on(prices: list[_P], on: datetime.date) -> _P | None:
    index = bisect.bisect_right([p.valid_from for p in prices], on)
    return prices[index - 1] if index else None


def load_prices(path: Path | None = None) -> PriceBook:
    """The price file at `path`, or the built-in one; `PriceFileInvalid` naming what is wrong."""
    if path is None:
        text = resources.files("agent_common.usage").joinpath("default_prices.toml").read_text("utf-8")
        where = "the built-in price file"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise PriceFileInvalid(f"cannot read the price file {path}: {exc.strerror}") from exc
        where = str(path)
    try:
        return parse_prices(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileInvalid(f"{where} is not valid TOML: {exc}") from exc
    except PriceFileInvalid as exc:
        raise PriceFileInvalid(f"{where}: {exc}") from exc


def parse_prices(data: dict[str, Any]) -> PriceBook:
    version, currency = data.get("version"), data.get("currency", "USD")
    if not isinstance(version, str) or not version:
        raise PriceFileInvalid("`version` (a string an operator changes with every edit) is missing")
    models = {
        name: sorted(
            (
                ModelPrice(
                    _date(row, f"models.{name}"),
                    _amount(row, "input_per_million", f"models.{name}"),
                    _amount(row, "output_per_million", f"models.{name}"),
                )
                for row in _rows(rows, f"models.{name}")
            ),
            key=lambda p: p.valid_from,
        )
        for name, rows in _table(data, "models").items()
    }
    tools = {
        name: sorted(
            (
                ToolPrice(_date(row, f"tools.{name}"), _amount(row, "per_call", f"tools.{name}"))
                for row in _rows(rows, f"tools.{name}")
            ),
            key=lambda p: p.valid_from,
        )
        for name, rows in _table(data, "tools").items()
    }
    dated: dict[str, list[datetime.date]] = {name: [p.valid_from for p in prices] for name, prices in models.items()}
    dated |= {f"tool {name}": [p.valid_from for p in prices] for name, prices in tools.items()}
    for name, dates in dated.items():
        if len(set(dates)) != len(dates):
            raise PriceFileInvalid(f"`{name}` has two prices valid from the same date")
    return PriceBook(version=version, currency=str(currency), models=models, tools=tools)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise PriceFileInvalid(f"`{key}` must be a table")
    return value


def _rows(value: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise PriceFileInvalid(f"`{where}` must be an array of tables ([[{where}]])")
    return value


def _date(row: dict[str, Any], where: str) -> datetime.date:
    value = row.get("from")
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise PriceFileInvalid(f"`{where}` needs `from`, the date it applies from (2026-11-01, unquoted)")
    return value


def _amount(row: dict[str, Any], key: str, where: str) -> Decimal:
    value = row.get(key)
    if not isinstance(value, str):
        raise PriceFileInvalid(f'`{where}.{key}` must be a decimal string ("0.15"): floats round')
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise PriceFileInvalid(f"`{where}.{key}` is not a number: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise PriceFileInvalid(f"`{where}.{key}` must be zero or more: {value!r}")
    return amount
