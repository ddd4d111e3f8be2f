"""What a process can ask its transports for, and their life cycle as one `async with`.

A process builds its components from a `Transports` (the bus, the run-event
channel, the stores, the rate-limit primitives, the budgets), then enters it: entering starts
what was asked for (the run-event channel, then the bus), leaving stops it in
reverse and closes the Redis pool last. What a process never asks for is never
built, so a tool runner opens no pub/sub connection.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AsyncExitStack
from functools import cached_property
from types import TracebackType
from typing import Self

from agent_common.auth import ApiKeyStore
from agent_common.budgets import BudgetStore
from agent_common.bus import Bus
from agent_common.rate_limits import RequestLimiter, StreamSlots
from agent_common.run_events import RunEventChannel
from agent_common.run_store import RunStore
from agent_common.sessions import SessionBounds, SessionStore
from agent_common.sessions.owners import OwnerStore


class ConfigurationError(RuntimeError):
    """The settings cannot work together; the message says how to fix them."""


class Transports(ABC):
    def __init__(self, bus: Bus, *, sessions: SessionBounds) -> None:
        self.bus = bus
        self.session_bounds = sessions
        self._running: AsyncExitStack | None = None

    @cached_property
    def run_events(self) -> RunEventChannel:
        return self._open_run_events()

    @cached_property
    def sessions(self) -> SessionStore:
        """The process's one session store, bounded by `session_bounds`."""
        return self._open_sessions()

    @cached_property
    def owners(self) -> OwnerStore:
        return self._open_owners()

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        return self._open_api_keys()

    @cached_property
    def request_limiter(self) -> RequestLimiter:
        return self._open_request_limiter()

    @cached_property
    def budgets(self) -> BudgetStore:
        """Budgets and the month's spend: the gateway's admission and the ledger writer share them."""
        return self._open_budgets()

    @cached_property
    def run_store(self) -> RunStore:
        """Where runs are kept between steps, shared by the orchestrator's replicas."""
        return self._open_run_store()

    @property
    @abstractmethod
    def api_keys_location(self) -> str:
        """Where `api_keys` keeps them, as `agent keys` tells its user."""

    @abstractmethod
    def stream_slots(self, limit: int, lease_s: float) -> StreamSlots:
        """At most `limit` open streams per user, each held for at most `lease_s`."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the shared state (Redis) answers; always True in memory."""

    @abstractmethod
    def _open_run_events(self) -> RunEventChannel: ...

    @abstractmethod
    def _open_sessions(self) -> SessionStore: ...

    @abstractmethod
    def _open_owners(self) -> OwnerStore: ...

    @abstractmethod
    def _open_api_keys(self) -> ApiKeyStore: ...

    @abstractmethod
    def _open_request_limiter(self) -> RequestLimiter: ...

    @abstractmethod
    def _open_run_store(self) -> RunStore: ...

    @abstractmethod
    def _open_budgets(self) -> BudgetStore: ...

    async def aclose(self) -> None:
        """Release the connections (the Redis pool); the bus and the channel are stopped before."""
        return

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.aclose)
            if "run_events" in self.__dict__:  # asked for: the process publishes or listens
                await self.run_events.start()
                stack.push_async_callback(self.run_events.stop)
            await self.bus.start()
            stack.push_async_callback(self.bus.stop)
            self._running = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running.aclose()  # the bus, then the run-event channel, then the pool
