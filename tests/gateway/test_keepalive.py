"""Keep-alive comments on an SSE stream: while its run is quiet, one every interval; between
frames that keep coming, none; the frames themselves in order, untouched, and the source's
error raised to the reader. (The whole stream over HTTP: tests/e2e/test_sse_keepalive.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent_gateway.keepalive import PING, Frame, with_keepalive
from tests.support.garbage import cyclic_garbage, described

INTERVAL_S = 0.3


async def frames_after(delays: list[float], error: Exception | None = None) -> AsyncIterator[Frame]:
    for n, delay in enumerate(delays):
        await asyncio.sleep(delay)
        yield {"data": str(n)}
    if error is not None:
        raise error


async def read(frames: AsyncIterator[Frame], interval_s: float = INTERVAL_S) -> list[Frame]:
    return [frame async for frame in with_keepalive(frames, interval_s)]


async def test_a_quiet_stream_gets_a_ping_every_interval_then_its_frames() -> None:
    got = await read(frames_after([INTERVAL_S * 3.5, 0.0]))
    assert got[-2:] == [{"data": "0"}, {"data": "1"}]
    assert 2 <= got.count(PING) <= 4 and all(frame == PING for frame in got[:-2])


async def test_a_busy_stream_gets_no_ping_between_its_frames() -> None:
    got = await read(frames_after([INTERVAL_S / 10] * 30))  # busy for three intervals
    assert got == [{"data": str(n)} for n in range(30)]


async def test_pings_resume_when_a_busy_stream_goes_quiet() -> None:
    got = await read(frames_after([INTERVAL_S / 10] * 5 + [INTERVAL_S * 3.5]))
    assert got[:5] == [{"data": str(n)} for n in range(5)] and got[-1] == {"data": "5"}
    assert 2 <= got[5:-1].count(PING) == len(got[5:-1]) <= 4


async def test_no_pings_when_the_interval_is_zero() -> None:
    assert await read(frames_after([0.2]), interval_s=0) == [{"data": "0"}]


async def test_the_source_s_error_reaches_the_reader_after_its_frames() -> None:
    got: list[Frame] = []

    async def read_into_got() -> None:
        async for frame in with_keepalive(frames_after([0.0], RuntimeError("run lost")), INTERVAL_S):
            got.append(frame)

    with pytest.raises(RuntimeError, match="run lost"):
        await read_into_got()
    assert got == [{"data": "0"}]


async def test_a_stream_read_to_its_end_leaves_no_cyclic_garbage() -> None:
    # Its ping timer holds the check it calls, whose closure holds the timer: a cycle unless let go.
    with cyclic_garbage() as left:
        assert await read(frames_after([0.0, 0.0])) == [{"data": "0"}, {"data": "1"}]
    assert not left, described(left)
