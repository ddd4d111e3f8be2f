"""The `SessionStore` contract, run against every implementation (`test_session_store.py`)."""

from __future__ import annotations

import uuid
from typing import Protocol

from agent_common.sessions import SessionStore, Turn


class MakeSessionStore(Protocol):
    def __call__(self, *, max_turns: int, ttl_s: float, max_tokens: int | None = None) -> SessionStore: ...


def new_session() -> str:
    return f"ses_{uuid.uuid4().hex}"


def turn(n: int) -> Turn:
    return Turn.of(f"req_{n}", user=f"question {n}", assistant=f"answer {n}")


class SessionStoreContract:
    """Subclasses provide the `make_store` fixture: a factory of the store under test."""

    async def test_an_unknown_session_has_no_history(self, make_store: MakeSessionStore) -> None:
        assert await make_store(max_turns=5, ttl_s=60).history(new_session()) == []

    async def test_history_is_oldest_first_and_capped_to_the_last_turns(self, make_store: MakeSessionStore) -> None:
        store = make_store(max_turns=3, ttl_s=60)
        sid = new_session()
        for n in range(5):
            await store.append(sid, turn(n))
        assert await store.history(sid) == [turn(2), turn(3), turn(4)]

    async def test_sessions_are_kept_apart(self, make_store: MakeSessionStore) -> None:
        store = make_store(max_turns=3, ttl_s=60)
        a, b = new_session(), new_session()
        await store.append(a, turn(1))
        await store.append(b, turn(2))
        assert await store.history(a) == [turn(1)]
        assert await store.history(b) == [turn(2)]

    async def test_ping(self, make_store: MakeSessionStore) -> None:
        assert await make_store(max_turns=1, ttl_s=1).ping() is True

    async def test_the_token_budget_drops_the_oldest_turns_and_keeps_the_newest(
        self, make_store: MakeSessionStore
    ) -> None:
        store = make_store(max_turns=20, ttl_s=60, max_tokens=30)
        sid = new_session()
        turns = [Turn.of(f"req_{n}", user="안녕하세요 " * 2, assistant="네") for n in range(5)]  # 13 tokens each
        for t in turns:
            await store.append(sid, t)
        assert await store.history(sid) == turns[-2:]  # 26 of 30; a third would make 39
        huge = Turn.of("req_huge", user="가" * 500, assistant="")
        await store.append(sid, huge)
        assert await store.history(sid) == [huge]  # over budget alone, and still kept: the newest turn always is
