"""The ledger's contract: usage entries kept once per request id and read back by month.

`record` is idempotent by request id: an entry delivered twice (a consumer that died
after the write, before its offset was committed) is stored once. Whether its spend was
counted (metrics, budgets) is kept beside it: `mark_counted` after counting, so a
redelivery of an entry stored but never counted (the consumer died in between) counts
it then, and one already counted is skipped. Entered as an async context manager; a
store that cannot be reached raises `LedgerUnavailable`.
"""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from agent_common.errors import ErrorCode, PlatformError
from agent_common.usage.entry import UsageEntry


class LedgerUnavailable(PlatformError):
    """The ledger's store did not answer (`INFRA_UNAVAILABLE`, reason `ledger_unavailable`)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(
            ErrorCode.INFRA_UNAVAILABLE,
            f"The usage ledger at {where} is unavailable: {why}",
            reason="ledger_unavailable",
        )


def month_bounds(month: str) -> tuple[datetime.datetime, datetime.datetime]:
    """The first instant of `YYYY-MM` (UTC) and of the month after; ValueError for anything else."""
    start = datetime.datetime.strptime(month, "%Y-%m").replace(tzinfo=datetime.UTC)
    after = (start + datetime.timedelta(days=32)).replace(day=1)
    return start, after


class UsageLedger(ABC):
    # Where the entries are, for errors and logs: a URL without credentials, or the file.
    location: str = "local"

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create the table if it is not there yet."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def record(self, entry: UsageEntry) -> bool:
        """Store `entry` unless one with its request id is stored already; True when this call stored it."""

    @abstractmethod
    async def counted(self, request_id: str) -> bool:
        """Whether the entry of `request_id` was stored and its spend counted (`mark_counted`)."""

    @abstractmethod
    async def mark_counted(self, request_id: str) -> None:
        """Record that the stored entry of `request_id` has had its spend counted."""

    @abstractmethod
    async def entries(self, start: datetime.datetime, end: datetime.datetime) -> list[UsageEntry]:
        """Every entry that ended in [start, end), oldest first."""

    async def month(self, month: str) -> list[UsageEntry]:
        """Every entry of `YYYY-MM` (UTC), oldest first."""
        return await self.entries(*month_bounds(month))

    @abstractmethod
    async def ping(self) -> bool: ...
