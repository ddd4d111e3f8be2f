"""A PostgreSQL connection pool opened on first use, the schema brought up to date before it:
what the shared document store and the usage ledger both need, one home for it.

Opening connects once to migrate (each store's own `migrate`, under its own advisory lock
so processes starting together change the schema once), then opens the pool. What fails,
opening or in use, is raised as the store's own classified error (`unavailable`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["LazyPool"]

Connection = psycopg.AsyncConnection[Any]

# How long connecting, and waiting for a pooled connection, may take.
TIMEOUT_S = 10


class LazyPool:
    def __init__(
        self,
        url: str,
        *,
        size: int,
        migrate: Callable[[Connection], Awaitable[None]],
        unavailable: Callable[[Exception], Exception],
        configure: Callable[[Connection], Awaitable[None]] | None = None,
    ) -> None:
        self._url = url
        self._size = size
        self._migrate = migrate
        self._unavailable = unavailable
        self._configure = configure
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._opening = asyncio.Lock()

    async def ready(self) -> AsyncConnectionPool[Connection]:
        async with self._opening:
            if self._pool is not None:
                return self._pool
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=TIMEOUT_S
                ) as conn:
                    await self._migrate(conn)
                pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self._size,
                    kwargs={"autocommit": True},
                    configure=self._configure,
                    timeout=TIMEOUT_S,
                    open=False,
                )
                await pool.open(wait=True, timeout=TIMEOUT_S)
            except (psycopg.Error, OSError) as exc:
                raise self._unavailable(exc) from exc
            self._pool = pool
            return pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; what fails while it is used is the store's `unavailable` error."""
        pool = await self.ready()
        try:
            async with pool.connection() as conn:
                yield conn
        except (psycopg.Error, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        async with self._opening:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
