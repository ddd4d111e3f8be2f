"""Where run state is kept between steps."""

from __future__ import annotations

from abc import ABC, abstractmethod

from agent_orchestrator.runs.state import RunState


class RunStore(ABC):
    @abstractmethod
    async def claim(self, key: str, ttl_s: float) -> bool:
        """Mark `key` as taken; true only for the first caller within the TTL.

        Handlers claim a message id before acting on it, so a redelivered
        message is recognised and not acted on twice.
        """

    @abstractmethod
    async def save(self, state: RunState, ttl_s: float) -> None: ...

    @abstractmethod
    async def load(self, request_id: str) -> RunState | None: ...

    @abstractmethod
    async def delete(self, request_id: str) -> None:
        """Forget the run's state (recorded tool results expire on their own TTL)."""

    @abstractmethod
    async def record_tool_result(
        self, request_id: str, step: int, call_id: str, outcome_json: str, expected: int, ttl_s: float
    ) -> tuple[bool, bool]:
        """Record the outcome of one of a step's tool calls, atomically.

        Returns `(is_new, completes)`: `is_new` is false for a duplicate of an
        outcome already recorded; `completes` is true for exactly one caller,
        the one whose outcome made the count reach `expected`, so exactly one
        replica continues the run however results interleave.
        """

    @abstractmethod
    async def tool_results(self, request_id: str, step: int) -> dict[str, str]:
        """call_id -> outcome JSON, for every outcome recorded for the run's step."""

    async def ping(self) -> bool:
        return True
