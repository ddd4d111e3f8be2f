"""The gateway's board of reindex statuses, as `/api/reindex` reads it: the latest status
per command, a wait for a command this replica has not heard of yet, and a stream that
ends with the terminal status and never reopens."""

from __future__ import annotations

import asyncio

from agent_common.messages import ReindexCounts, ReindexStatus
from agent_gateway.reindex_board import ReindexBoard


def status(state: str, request_id: str = "rdx_board000001", seen: int = 0) -> ReindexStatus:
    return ReindexStatus.model_validate(
        {
            "request_id": request_id,
            "session_id": "reindex",
            "user_id": "ops",
            "state": state,
            "mode": "incremental",
            "source": "docs",
            "counts": ReindexCounts(total=2, seen=seen),
        }
    )


async def test_a_command_not_heard_of_is_waited_for_then_given_up() -> None:
    board = ReindexBoard()
    assert not await board.known("rdx_board000001", within_s=0.05)
    waiting = asyncio.create_task(board.known("rdx_board000001", within_s=5))
    await asyncio.sleep(0.01)
    await board.record(status("accepted"))
    assert await waiting


async def test_following_yields_each_new_status_and_ends_with_the_terminal_one() -> None:
    board = ReindexBoard()
    await board.record(status("accepted"))
    seen: list[str] = []

    async def follow() -> None:
        async for s in board.follow("rdx_board000001"):
            seen.append(s.state)

    follower = asyncio.create_task(follow())
    for s in (status("started"), status("progress", seen=1), status("progress", seen=2), status("done", seen=2)):
        await asyncio.sleep(0.01)
        await board.record(s)
    await asyncio.wait_for(follower, 5)
    assert seen[0] == "accepted" and seen[-1] == "done"


async def test_a_redelivered_status_never_reopens_a_finished_command() -> None:
    board = ReindexBoard()
    await board.record(status("done", seen=2))
    await board.record(status("progress", seen=1))  # at-least-once: an old status again
    latest = board.latest("rdx_board000001")
    assert latest is not None and latest.state == "done"
