"""Budget periods: calendar months in UTC, named `YYYY-MM`.

Spend is counted in the month of the usage entry's own time, so an entry delivered
late (a redelivery after midnight on the 1st) still counts in the month it was spent.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["EXPIRY_MARGIN", "counters_expire_at", "month_of", "period_end", "seconds_until_reset"]

# How long a month's counters outlive it: late redeliveries are still recognised, and
# `agent budgets show` can look back at the month just ended.
EXPIRY_MARGIN = dt.timedelta(days=35)


def _utc(at: dt.datetime) -> dt.datetime:
    # A naive time is taken as UTC: the platform's clocks and entries are all UTC.
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def month_of(at: dt.datetime) -> str:
    """The period `at` falls in, e.g. `2026-12`."""
    return _utc(at).strftime("%Y-%m")


def period_end(period: str) -> dt.datetime:
    """When `period` ends and the next begins (00:00 UTC on the 1st): a budget's reset time."""
    year, month = (int(part) for part in period.split("-"))
    return dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)


def seconds_until_reset(at: dt.datetime) -> int:
    """Whole seconds from `at` to its period's end, at least 1 (for `Retry-After`)."""
    return max(1, int((period_end(month_of(at)) - _utc(at)).total_seconds()) + 1)


def counters_expire_at(period: str) -> dt.datetime:
    """When a period's counters (spend, counted requests, warnings given) may go."""
    return period_end(period) + EXPIRY_MARGIN
