"""`agent budgets set|show|remove`: monthly budgets per tenant and per API key.

Budgets go where the gateway reads them: Redis when `REDIS_URL` is set (every replica
holds callers to them at once), otherwise the embedded default's budget file
(`BUDGETS_FILE`), which a running `agent run` re-reads. `show` prints each budget with
the month's spend against it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation

from agent_common.budgets import Budget, BudgetStore, Spend, month_of, period_end
from agent_common.budgets.base import valid_name
from agent_common.settings import RedisSettings
from agent_common.transports import open_transports
from agent_gateway.settings import BudgetSettings


@asynccontextmanager
async def budget_store() -> AsyncIterator[tuple[BudgetStore, str]]:
    file = BudgetSettings().file
    async with open_transports(None, RedisSettings(), client_id="agent-budgets", budgets_file=file) as transports:
        where = "Redis (REDIS_URL)" if RedisSettings().url is not None else f"file {file}"
        yield transports.budgets, where


def _name(value: str) -> str:
    if not valid_name(value):
        raise argparse.ArgumentTypeError("1-64 characters: letters, digits and _ . @ : -")
    return value


def _dollars(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError("a positive amount in dollars, e.g. 50 or 12.5") from None
    if not amount.is_finite() or amount <= 0:
        raise argparse.ArgumentTypeError("a positive amount in dollars, e.g. 50 or 12.5")
    return amount


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError("a share of the budget above 0 and at most 1, e.g. 0.8")
    return share


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise argparse.ArgumentTypeError("a whole number of tokens above 0")
    return int(value)


async def _set(args: argparse.Namespace) -> int:
    budget = Budget(
        tenant=args.tenant,
        key_id=args.key,
        monthly_usd=args.monthly_usd,
        monthly_tokens=args.monthly_tokens,
        warn_at=args.warn_at,
    )
    async with budget_store() as (store, where):
        await store.set(budget)
    limit = f"{budget.limit} USD" if budget.unit == "usd" else f"{budget.limit} tokens"
    print(f"Budget of {budget.scope}: {limit} a month, warned at {budget.warn_at:.0%}, in {where}.", file=sys.stderr)
    return 0


async def _show(args: argparse.Namespace) -> int:
    period = args.month or month_of(dt.datetime.now(dt.UTC))
    async with budget_store() as (store, where):
        budgets = await store.budgets(args.tenant)
        print(f"{len(budgets)} budget(s) in {where}; spend in {period} (UTC)", file=sys.stderr)
        print("scope\tunit\tlimit\tused\tused_%\twarn_at\tresets_at")
        for b in budgets:
            spent = await store.spent(b.tenant, b.key_id, period)
            # A key's budget reads the key's spend: none yet is nothing spent.
            spend = spent.tenant if b.key_id is None else (spent.key or Spend.of(0, 0))
            used = b.used(spend)
            resets = period_end(period).strftime("%Y-%m-%dT%H:%MZ")
            print(f"{b.scope}\t{b.unit}\t{b.limit}\t{used}\t{b.used_ratio(spend):.1%}\t{b.warn_at:.0%}\t{resets}")
    return 0


async def _remove(args: argparse.Namespace) -> int:
    async with budget_store() as (store, _):
        removed = await store.remove(args.tenant, args.key)
    scope = args.tenant if args.key is None else f"{args.tenant}/{args.key}"
    if not removed:
        print(f"No budget for {scope}.", file=sys.stderr)
        return 1
    print(f"Removed the budget of {scope}: its calls are no longer limited by it.", file=sys.stderr)
    return 0


def _month(value: str) -> str:
    try:
        dt.datetime.strptime(value, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError("a month as YYYY-MM, e.g. 2026-11") from None
    return value


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    budgets = commands.add_parser("budgets", help="Set, show and remove monthly budgets per tenant or API key.")
    sub = budgets.add_subparsers(dest="budgets_command", required=True)
    set_cmd = sub.add_parser(
        "set", help="Set (or replace) a monthly budget; past it, the tenant's or key's chat turns are refused."
    )
    set_cmd.add_argument("--tenant", required=True, type=_name, help="The tenant the budget is for.")
    set_cmd.add_argument("--key", type=_name, help="An API key id (`agent keys list`): a budget for that key alone.")
    limit = set_cmd.add_mutually_exclusive_group(required=True)
    limit.add_argument("--monthly-usd", type=_dollars, help="The limit in US dollars a calendar month (UTC).")
    limit.add_argument("--monthly-tokens", type=_positive, help="The limit in tokens (prompt + completion) a month.")
    set_cmd.add_argument(
        "--warn-at", type=_share, default=0.8, help="Share of the budget at which operators are warned (default 0.8)."
    )
    set_cmd.set_defaults(handler=lambda a: asyncio.run(_set(a)))
    show = sub.add_parser("show", help="List budgets with the month's spend against each.")
    show.add_argument("--tenant", type=_name, help="Only this tenant's budgets.")
    show.add_argument("--month", type=_month, help="The month to show, YYYY-MM (default: this month, UTC).")
    show.set_defaults(handler=lambda a: asyncio.run(_show(a)))
    remove = sub.add_parser("remove", help="Remove a tenant's or a key's budget.")
    remove.add_argument("--tenant", required=True, type=_name)
    remove.add_argument("--key", type=_name)
    remove.set_defaults(handler=lambda a: asyncio.run(_remove(a)))
