"""Where run state is kept between steps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum

from agent_orchestrator.runs.state import RunState


class Lease(StrEnum):
    """What `begin` found for a message: take it, someone holds it, or it is done."""

    TAKEN = "taken"
    HELD = "held"
    DONE = "done"


class RunStore(ABC):
    @abstractmethod
    async def begin(self, key: str, owner: str, lease_s: float) -> Lease:
        """Take `key` for `owner` for `lease_s`, unless it is done or another owner's lease is live.

        A lease that is not renewed expires, so a message whose handler died is
        taken again by whichever replica Kafka redelivers it to.
        """

    @abstractmethod
    async def renew(self, key: str, owner: str, lease_s: float) -> bool:
        """Extend `owner`'s lease on `key`; false when it is no longer `owner`'s."""

    @abstractmethod
    async def finish(self, key: str, ttl_s: float) -> None:
        """Mark `key` done for `ttl_s`: a redelivery of its message is then ignored."""

    @abstractmethod
    async def schedule_deadline(self, request_id: str, step: int, due_at: float) -> None:
        """Remember that the step's tool results are due by `due_at` (epoch seconds)."""

    @abstractmethod
    async def take_due_deadlines(self, now: float, limit: int = 100) -> list[tuple[str, int]]:
        """(request_id, step) of deadlines passed by `now`, each handed to exactly one caller."""

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
