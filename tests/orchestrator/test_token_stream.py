"""Tokens coalesce only while a publish is in flight: what the client receives, in order, and when."""

from __future__ import annotations

import asyncio

import pytest

from agent_orchestrator.token_stream import TokenStream, token_stream
from tests.support.garbage import cyclic_garbage, described


class Publisher:
    """Records what is published; holds each publish until `gate` opens."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self, text: str) -> None:
        self.started.set()
        await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(text)


async def test_a_stream_that_keeps_up_sends_each_token_as_it_comes() -> None:
    publish = Publisher()
    stream = TokenStream(publish)
    for token in ("안녕", "하세요", "!"):
        await stream.send(token)
        await stream.drain()
    assert publish.published == ["안녕", "하세요", "!"]


async def test_tokens_that_come_during_a_publish_go_out_together_in_order() -> None:
    publish = Publisher()
    publish.gate.clear()
    stream = TokenStream(publish)
    await stream.send("The")
    await publish.started.wait()  # "The" is on its way and held there
    for token in (" quick", " brown", " fox"):
        await stream.send(token)
    publish.gate.set()
    await stream.drain()
    assert publish.published == ["The", " quick brown fox"]


async def test_the_first_token_goes_out_alone_even_when_the_rest_is_there_already() -> None:
    publish = Publisher()
    publish.gate.clear()
    stream = TokenStream(publish)
    for token in ("one", " two", " three"):  # a model whose chunks were all buffered: no wait between them
        await stream.send(token)
    publish.gate.set()
    await stream.drain()
    assert publish.published == ["one", " two three"]


async def test_a_failed_publish_stops_the_stream_at_the_next_token() -> None:
    publish = Publisher()
    publish.fail_with = ConnectionError("redis away")
    stream = TokenStream(publish)
    await stream.send("a")
    with pytest.raises(ConnectionError):
        await stream.drain()
    with pytest.raises(ConnectionError):
        await stream.send("b")
    assert publish.published == []


async def test_the_block_drains_before_its_error_reaches_the_caller() -> None:
    publish = Publisher()
    publish.gate.clear()

    async def run() -> None:
        async with token_stream(publish) as stream:
            await stream.send("partial")
            await publish.started.wait()
            await stream.send(" answer")
            asyncio.get_running_loop().call_soon(publish.gate.set)
            raise RuntimeError("the model stream broke")

    with pytest.raises(RuntimeError):
        await run()
    assert publish.published == ["partial", " answer"]  # the client saw all of it before the error event


async def test_a_cancelled_block_publishes_nothing_more() -> None:
    publish = Publisher()
    publish.gate.clear()
    started = asyncio.Event()

    async def run() -> None:
        async with token_stream(publish) as stream:
            await stream.send("one")
            started.set()
            await asyncio.Event().wait()  # the model call, cut off

    task = asyncio.create_task(run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    publish.gate.set()
    await asyncio.sleep(0)
    assert publish.published == []


async def test_one_publishing_task_serves_the_whole_stream_and_ends_with_the_block() -> None:
    publish = Publisher()
    before = len(asyncio.all_tasks())
    async with token_stream(publish) as stream:
        for token in ("a", "b", "c"):
            await stream.send(token)
            await stream.drain()  # idle between tokens, as a model's 20 ms apart leave it
            assert len(asyncio.all_tasks()) == before + 1
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == before  # nothing left waiting after the run
    assert publish.published == ["a", "b", "c"]


async def test_a_stream_that_ends_leaves_no_cyclic_garbage() -> None:
    # Its publishing task returns; cancelled, it would leave its exception, traceback and frames in a cycle.
    publish = Publisher()

    async def two_tokens() -> None:  # the stream, unreachable once it returns
        async with token_stream(publish) as stream:
            for token in ("안녕", "하세요"):
                await stream.send(token)

    with cyclic_garbage() as left:
        await two_tokens()
        for _ in range(3):
            await asyncio.sleep(0)  # the task sees the stream closed and returns
    assert publish.published == ["안녕", "하세요"]
    assert not left, described(left)
