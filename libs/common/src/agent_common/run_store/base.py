"""The run store's interfaces, one per concern, and the bundle a process builds once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum


class ClaimResult(StrEnum):
    """What a claim found."""

    TAKEN = "taken"  # the work is the caller's now
    HELD = "held"  # a live replica does it
    DONE = "done"  # it was done already: a duplicate
    SESSION_BUSY = "session_busy"  # the session's previous turn has not ended: try again later


def chat_run_key(message_id: str) -> str:
    """The key a chat request's run is leased under: one per message, so a duplicate finds it.
    The orchestrator claims it; the gateway asks whether it is claimed (`RunClaims.claimed`)."""
    return f"chat:{message_id}"


@dataclass(frozen=True)
class SessionTurn:
    """A session's turn, held by one request's run from its claim to its end."""

    session_id: str
    request_id: str


class RunClaims(ABC):
    """Who runs a piece of work (a chat request, the step after a run's tool results): leases,
    what a takeover needs, and the session's turn, which a chat request's claim takes in the
    same atomic step."""

    @abstractmethod
    async def claim(
        self, key: str, payload: str, owner: str, lease_s: float, keep_s: float, turn: SessionTurn | None = None
    ) -> ClaimResult:
        """Take the work leased under `key` for `owner`, in one atomic step, unless it is done,
        another owner's lease on it is live, or (with `turn`) the session's turn belongs to
        another request.

        Taking it leases `key` to `owner` for `lease_s`, lists the lease where `take_expired`
        finds it once it runs out, keeps `payload` (what whoever takes the work over needs to
        restart it) for `keep_s`, and gives `turn` to its request for `keep_s` at most, until
        `end_turn`.
        """

    @abstractmethod
    async def claimed(self, key: str) -> bool:
        """Whether a replica has taken the work under `key`: it holds the lease, or the work is done."""

    @abstractmethod
    async def renew(self, key: str, owner: str, lease_s: float) -> bool:
        """Extend `owner`'s lease on `key`; false when another owner has it or it is done.
        A lease that vanished (Redis restarted empty) is taken back: nobody else runs it."""

    @abstractmethod
    async def finish(self, key: str, ttl_s: float) -> None:
        """Mark `key` done for `ttl_s`: a redelivery of its message is then ignored."""

    @abstractmethod
    async def abandon(self, key: str, owner: str) -> None:
        """`owner` stops before the end (shutting down): free the lease for a takeover at once."""

    @abstractmethod
    async def take_expired(self, owner: str, lease_s: float, limit: int) -> list[tuple[str, str]]:
        """`(key, payload)` of work whose lease ran out, each leased to exactly one caller for
        `lease_s`. A lease whose payload is no longer kept (past its deadline) is dropped."""

    @abstractmethod
    async def end_turn(self, session_id: str, request_id: str) -> None:
        """The request's run ended (`done` or `error`): the session's next request may run."""


class RunStates(ABC):
    """A run's state between steps, as JSON, so whichever replica gets a tool result goes on."""

    @abstractmethod
    async def save(self, request_id: str, state_json: str, ttl_s: float) -> None: ...

    @abstractmethod
    async def load(self, request_id: str) -> str | None: ...

    @abstractmethod
    async def delete(self, request_id: str) -> None:
        """Forget the run's state (recorded tool results expire on their own TTL)."""


class ToolResults(ABC):
    """The outcomes of a step's tool calls, as they arrive at any replica."""

    @abstractmethod
    async def record(
        self, request_id: str, step: int, call_id: str, outcome_json: str, expected: int, ttl_s: float
    ) -> tuple[bool, bool]:
        """Record the outcome of one of a step's tool calls, atomically.

        Returns `(is_new, completes)`: `is_new` is false for a duplicate of an
        outcome already recorded; `completes` is true for exactly one caller,
        the one whose outcome made the count reach `expected`, so exactly one
        replica continues the run however results interleave.
        """

    @abstractmethod
    async def of_step(self, request_id: str, step: int) -> dict[str, str]:
        """call_id -> outcome JSON, for every outcome recorded for the run's step."""


class ToolDeadlines(ABC):
    """When a step's tool results are due, for the sweep that times out those that never come."""

    @abstractmethod
    async def schedule(self, request_id: str, step: int, due_at: float) -> None:
        """Remember that the step's tool results are due by `due_at` (epoch seconds)."""

    @abstractmethod
    async def take_due(self, now: float, limit: int = 100) -> list[tuple[str, int]]:
        """(request_id, step) of deadlines passed by `now`, each handed to exactly one caller."""


class RunStore:
    """The four concerns over one backend: what a process builds once and hands around."""

    def __init__(self, claims: RunClaims, states: RunStates, tool_results: ToolResults, deadlines: ToolDeadlines):
        self.claims = claims
        self.states = states
        self.tool_results = tool_results
        self.deadlines = deadlines

    async def ping(self) -> bool:
        """The readiness check: the backend answers."""
        return True
