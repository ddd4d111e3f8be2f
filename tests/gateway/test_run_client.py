"""A client never waits past its request's deadline: when the run has not ended by
then, the stream ends with `INFRA_TIMEOUT` (with `partial` once tokens were sent)
and a fallback message in the user's language, also kept for a client that
reconnects."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import ErrorEvent, RunEvent, TokenEvent
from agent_common.messages import ChatRequested
from agent_common.run_events import end_run, failure
from agent_common.run_events.memory import MemoryRunEventChannel
from agent_gateway.auth import Caller
from agent_gateway.run_client import RunClient

CALLER = Caller(user_id="u1", tenant="t1", method="anonymous")


async def _follow(client: RunClient, request: ChatRequested) -> list[RunEvent]:
    return [event async for event in await client.submit(request)]


async def test_a_run_that_never_answers_ends_at_the_deadline() -> None:
    bus, events = MemoryBus(), MemoryRunEventChannel()
    await bus.start()
    try:
        client = RunClient(bus, events, timeout_s=0.3)
        request = client.new_request(CALLER, "안녕하세요, 아무도 답하지 않나요?", None, None)
        received = await asyncio.wait_for(_follow(client, request), 5)
    finally:
        await bus.stop()
    assert len(received) == 1 and isinstance(received[0], ErrorEvent)
    assert received[0].error.code.value == "INFRA_TIMEOUT" and received[0].partial is False
    assert received[0].fallback and any("\uac00" <= ch <= "\ud7a3" for ch in received[0].fallback)  # in Korean
    assert [e.type for e in await events.replay(request.request_id)] == ["error"]


async def test_a_submission_is_published_when_submit_returns_and_lets_go_of_its_subscription_unread() -> None:
    bus, events = MemoryBus(), MemoryRunEventChannel()
    published: list[str] = []

    async def take(message: ChatRequested) -> None:
        published.append(message.request_id)

    bus.subscribe(ChatRequested, take, group="orchestrator")
    await bus.start()
    try:
        client = RunClient(bus, events, timeout_s=5)
        request = client.new_request(CALLER, "아무도 읽지 않는 답", None, None)
        stream = await client.submit(request)
        for _ in range(3):  # the bus hands the request to its consumer
            await asyncio.sleep(0)
        assert published == [request.request_id]
        assert await events.audience(request.request_id) == 1
        # A response that never starts (its client gone first) drops the stream unread.
        del stream
        gc.collect()
        for _ in range(3):  # asyncio closes the generator it finalized in a task of its own
            await asyncio.sleep(0)
        assert await events.audience(request.request_id) == 0
    finally:
        await bus.stop()


async def test_a_run_that_stops_after_some_tokens_ends_partial_at_the_deadline() -> None:
    bus, events = MemoryBus(), MemoryRunEventChannel()

    async def answer_then_stall(message: ChatRequested) -> None:
        await events.publish(TokenEvent(request_id=message.request_id, text="The first part"))

    bus.subscribe(ChatRequested, answer_then_stall, group="stalling-orchestrator")
    await bus.start()
    try:
        client = RunClient(bus, events, timeout_s=0.5)
        request = client.new_request(CALLER, "Tell me everything.", None, "en")
        received = await asyncio.wait_for(_follow(client, request), 5)
    finally:
        await bus.stop()
    assert [e.type for e in received] == ["token", "error"]
    ending = received[-1]
    assert isinstance(ending, ErrorEvent) and ending.error.code.value == "INFRA_TIMEOUT" and ending.partial is True


async def test_a_run_that_runs_out_of_time_reports_its_own_cause_not_infra_timeout() -> None:
    # The run's deadline ends a grace before the client's: the run's own ending (here the
    # orchestrator's MODEL_TIMEOUT at its deadline) reaches the client, not the gateway's INFRA_TIMEOUT.
    bus, events = MemoryBus(), MemoryRunEventChannel()

    async def time_out_at_the_deadline(message: ChatRequested) -> None:
        await asyncio.sleep(max(message.deadline_at - time.time(), 0))
        slow = ErrorInfo.of(ErrorCode.MODEL_TIMEOUT, "The model did not finish in time.")
        await end_run(events, failure(message.request_id, slow, "en", partial=False))

    bus.subscribe(ChatRequested, time_out_at_the_deadline, group="slow-model-orchestrator")
    await bus.start()
    try:
        client = RunClient(bus, events, timeout_s=1.0, grace_s=0.2)
        request = client.new_request(CALLER, "slow?", None, "en")
        assert request.deadline_at == pytest.approx(time.time() + 0.8, abs=0.1)
        received = await asyncio.wait_for(_follow(client, request), 5)
    finally:
        await bus.stop()
    assert len(received) == 1 and isinstance(received[0], ErrorEvent)
    assert received[0].error.code is ErrorCode.MODEL_TIMEOUT
    assert [e.type for e in await events.replay(request.request_id)] == ["error"]  # one ending only


def test_a_chat_request_carries_the_callers_tenant_and_old_messages_without_one_still_read() -> None:
    client = RunClient(MemoryBus(), MemoryRunEventChannel(), timeout_s=5)
    request = client.new_request(CALLER, "hello", None, None)
    assert request.tenant == "t1"
    old = request.model_dump(mode="json")
    del old["tenant"]  # as a gateway from before the field published it
    assert ChatRequested.model_validate(old).tenant is None


def test_a_chat_request_carries_the_callers_api_key_id_for_the_ledger() -> None:
    client = RunClient(MemoryBus(), MemoryRunEventChannel(), timeout_s=5)
    with_key = Caller(user_id="u1", tenant="t1", method="api_key", key_id="0123456789ab")
    assert client.new_request(with_key, "hello", None, None).key_id == "0123456789ab"
    assert client.new_request(CALLER, "hello", None, None).key_id is None
    old = client.new_request(with_key, "hello", None, None).model_dump(mode="json")
    del old["key_id"]  # as a gateway from before the field published it
    assert ChatRequested.model_validate(old).key_id is None
