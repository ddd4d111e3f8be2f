"""The latest status of each reindex command, for `/api/reindex` to answer and stream.

Fed from `rag.status`, which every gateway replica reads whole, from the topic's start,
outside any consumer group (`Bus.follow`), so a client may follow a command on
any replica, whichever accepted it, and may start following after it began.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator

from agent_common.messages import ReindexStatus

_KEPT = 1000


class ReindexBoard:
    def __init__(self) -> None:
        self._latest: OrderedDict[str, ReindexStatus] = OrderedDict()
        self._changed = asyncio.Condition()

    async def record(self, status: ReindexStatus) -> None:
        async with self._changed:
            current = self._latest.get(status.request_id)
            if current is not None and current.terminal:
                return  # a redelivered status never reopens a finished command
            self._latest[status.request_id] = status
            self._latest.move_to_end(status.request_id)
            while len(self._latest) > _KEPT:
                self._latest.popitem(last=False)
            self._changed.notify_all()

    def latest(self, request_id: str) -> ReindexStatus | None:
        return self._latest.get(request_id)

    async def known(self, request_id: str, within_s: float) -> bool:
        """Whether the command has a status, waiting up to `within_s` for its first one
        (this replica may read `accepted` a moment after another replica published it)."""
        try:
            async with asyncio.timeout(within_s), self._changed:
                await self._changed.wait_for(lambda: request_id in self._latest)
        except TimeoutError:
            return False
        return True

    async def follow(self, request_id: str) -> AsyncIterator[ReindexStatus]:
        """Each new status of the command, ending with its terminal one."""
        last: ReindexStatus | None = None

        def news() -> bool:  # by identity: a status equal to the last one is still a new record
            current = self._latest.get(request_id)
            return current is not None and current is not last

        while True:
            async with self._changed:
                await self._changed.wait_for(news)
                last = self._latest[request_id]
            yield last
            if last.terminal:
                return
