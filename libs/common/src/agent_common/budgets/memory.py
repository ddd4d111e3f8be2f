"""The embedded default's budgets: in memory, kept in a file when given one.

The file lets `agent budgets set` (another process) change the budgets of a running
`agent run`, as the key file does for keys; the period's spend is in it too, so a
restart forgets nothing. Every change re-reads the file under an exclusive lock, so
the command line and the server never overwrite each other's writes. Without a file
(tests) the state lives only in the process.

With a file, the spend and the request ids counted (the idempotency) are kept in a SQLite
file beside it (`spend_file.py`): each run adds to them, and rewriting the budgets file at
every run cost more than the rest of the run's bookkeeping. A budgets file of an earlier
release that holds spend has it carried over there the first time it is opened.
Without a file, the request ids kept are the newest `COUNTED_KEPT`: a redelivered entry in
the embedded default comes from its own in-process bus (a run taken over, a publish
retried), seconds after the first, never thousands of runs later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, Field

from agent_common.budgets.base import Budget, BudgetStore, Spend, SpendSnapshot, scope_of, to_nanos
from agent_common.budgets.periods import counters_expire_at
from agent_common.budgets.spend_file import Counters, SpendFile, spend_file_of

COUNTED_KEPT = 2_000  # without a file, the newest request ids kept for the idempotency


class _Period(BaseModel):
    # scope -> [nano-dollars, tokens]; in a file, only as an earlier release kept them (carried over)
    spend: dict[str, tuple[int, int]] = Field(default_factory=dict)
    counted: list[str] = Field(default_factory=list)
    warned: list[str] = Field(default_factory=list)


class _State(BaseModel):
    budgets: dict[str, Budget] = Field(default_factory=dict)
    periods: dict[str, _Period] = Field(default_factory=dict)


class MemoryBudgetStore(BudgetStore):
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._state = _State()
        self._seen: tuple[int, int] | None = None  # the file's (mtime, size) when `_state` was read
        self._spend = None if path is None else SpendFile(spend_file_of(path))
        self._carried_over = False

    @contextlib.asynccontextmanager
    async def _changing(self) -> AsyncIterator[_State]:
        """The current state, saved when the block ends without an error.

        Written on the event loop, nothing awaited in between, so the process's own changes
        never interleave. A write takes a few hundred µs and comes when budgets change or a
        warning is first given (a run's spend goes to the spend file). Handed to a thread, each
        run's write (as it was) cost 0.9-1.7 ms more CPU a request at 50 streams, the GIL
        changing hands at each of its system calls (docs/benchmarks.md). Should the write
        fail, the next read parses the file again."""
        path = self._path
        if path is None:
            yield self._state
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Held by another process only for its own short change (`agent budgets set`).
        with open(path.with_name(path.name + ".lock"), "a") as lock:  # noqa: ASYNC230
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read(path)
            try:
                yield state
                stat = _replace(path, _serialized(state))
            except BaseException:
                self._seen = None  # changed in place, maybe not written: parsed afresh next time
                raise
            # What was just written is what the file holds (the lock keeps other writers out):
            # the next read, admission's of the next turn, need not parse it again.
            self._state, self._seen = state, stat

    def _reading(self) -> _State:
        return self._state if self._path is None else self._read(self._path)

    def _read(self, path: Path) -> _State:
        """The file's state, parsed again only when the file changed (admission reads it per turn)."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._state, self._seen = _State(), None
            return self._state
        if (stat.st_mtime_ns, stat.st_size) != self._seen:
            self._state = _State.model_validate_json(path.read_bytes())
            self._seen = (stat.st_mtime_ns, stat.st_size)
        return self._state

    async def set(self, budget: Budget) -> None:
        async with self._changing() as state:
            state.budgets[budget.scope] = budget

    async def remove(self, tenant: str, key_id: str | None = None) -> bool:
        async with self._changing() as state:
            return state.budgets.pop(scope_of(tenant, key_id), None) is not None

    async def budgets(self, tenant: str | None = None) -> list[Budget]:
        budgets = self._reading().budgets.values()
        chosen = [b for b in budgets if tenant is None or b.tenant == tenant]
        return sorted(chosen, key=lambda b: (b.tenant, b.key_id is not None, b.key_id or ""))

    async def applying(self, tenant: str, key_id: str | None) -> list[Budget]:
        budgets = self._reading().budgets
        return [budgets[s] for s in _scopes(tenant, key_id) if s in budgets]

    async def spent(self, tenant: str, key_id: str | None, period: str) -> SpendSnapshot:
        if self._spend is None:
            return _snapshot(self._state.periods.get(period, _Period()).spend, tenant, key_id)
        await self._carry_over(self._spend)
        return _snapshot(self._spend.spent(period, _scopes(tenant, key_id)), tenant, key_id)

    async def record(
        self, *, request_id: str, tenant: str, key_id: str | None, tokens: int, cost: Decimal, period: str
    ) -> SpendSnapshot | None:
        nanos = to_nanos(cost)
        if self._spend is not None:
            await self._carry_over(self._spend)
            counters = self._spend.record(request_id, period, _scopes(tenant, key_id), nanos, tokens)
            return None if counters is None else _snapshot(counters, tenant, key_id)
        month = self._state.periods.setdefault(period, _Period())
        if request_id in month.counted:
            return None
        month.counted.append(request_id)
        del month.counted[:-COUNTED_KEPT]
        for scope in _scopes(tenant, key_id):
            before = month.spend.get(scope, (0, 0))
            month.spend[scope] = (before[0] + nanos, before[1] + tokens)
        return _snapshot(month.spend, tenant, key_id)

    async def _carry_over(self, spend: SpendFile) -> None:
        """The spend a budgets file of an earlier release holds, moved to the spend file once
        (under the file's lock, so the command line and the server never both move it)."""
        if self._carried_over:
            return
        async with self._changing() as state:
            for period, month in state.periods.items():
                if month.spend or month.counted:
                    spend.carry_over(period, month.spend, month.counted)
                    month.spend, month.counted = {}, []
        self._carried_over = True

    async def first_warning(self, scope: str, period: str) -> bool:
        async with self._changing() as state:
            month = state.periods.setdefault(period, _Period())
            if scope in month.warned:
                return False
            month.warned.append(scope)
            return True


def _scopes(tenant: str, key_id: str | None) -> list[str]:
    return [scope_of(tenant, None)] + ([] if key_id is None else [scope_of(tenant, key_id)])


def _snapshot(counters: Counters, tenant: str, key_id: str | None) -> SpendSnapshot:
    def spend(scope: str) -> Spend:
        return Spend.of(*counters.get(scope, (0, 0)))

    return SpendSnapshot(
        tenant=spend(scope_of(tenant, None)), key=None if key_id is None else spend(scope_of(tenant, key_id))
    )


def _serialized(state: _State) -> bytes:
    now = dt.datetime.now(dt.UTC)
    state.periods = {p: v for p, v in state.periods.items() if counters_expire_at(p) > now}
    return state.model_dump_json().encode()


def _replace(path: Path, data: bytes) -> tuple[int, int] | None:
    """`data` as the file, replaced whole; the new file's (mtime, size), None if gone meanwhile."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".budgets-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        stat = path.stat()
    except OSError:  # removed meanwhile by hand: read afresh next time
        return None
    return stat.st_mtime_ns, stat.st_size
