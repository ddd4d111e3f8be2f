"""A real model's limits as a client meets them, on llama.cpp's server: an answer cut off
at the output cap says so (`finish_reason: "length"`), a question longer than the
model's context window is `MODEL_CONTEXT_OVERFLOW` whether the platform knows the
window (the server reports its `n_ctx`) or the server refuses the prompt itself, and a
server that wants a key the platform does not have is `MODEL_MISCONFIGURED`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, TokenEvent, parse_run_event
from tests.e2e.sse import stream_chat
from tests.real_model.conftest import real_model_env
from tests.support.platform import Platform, embedded_platform
from tests.support.services import ModelServer, start_model_server

# Far longer than the server's 1024-token window once tokenized, within the gateway's message limit.
TOO_LONG = "The cat sat on the mat and looked at the rain. " * 220


@pytest.fixture(scope="module")
def capped(model_server: ModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform whose answers may have 5 tokens."""
    env = {**real_model_env(model_server, tmp_path_factory.mktemp("capped")), "MODEL_MAX_OUTPUT_TOKENS": "5"}
    with embedded_platform(env) as platform:
        yield platform


async def test_a_whole_answer_says_it_stopped_on_its_own(on_real_model: Platform) -> None:
    events = await stream_chat(on_real_model.base_url, {"message": "Say hello."})
    done = parse_run_event(events[-1].data)

    assert isinstance(done, DoneEvent)
    assert done.finish_reason == "stop" and done.note is None


async def test_an_answer_cut_off_at_the_output_cap_says_so_over_sse(capped: Platform) -> None:
    events = await stream_chat(capped.base_url, {"message": "Tell me a long story about a dragon."})
    parsed = [parse_run_event(e.data) for e in events]

    *tokens, done = parsed
    assert isinstance(done, DoneEvent)
    assert done.finish_reason == "length"
    assert done.note  # the user is told the answer is not whole, in their language
    assert done.usage.completion_tokens <= 5
    assert done.answer == "".join(t.text for t in tokens if isinstance(t, TokenEvent))


async def test_an_answer_cut_off_at_the_output_cap_says_so_in_json(capped: Platform) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(
            f"{capped.base_url}/api/chat", json={"message": "Tell me a long story about a dragon."}
        )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["finish_reason"] == "length" and body["note"]


async def overflow_error(platform: Platform) -> ErrorEvent:
    events = await stream_chat(platform.base_url, {"message": TOO_LONG})
    error = parse_run_event(events[-1].data)
    assert isinstance(error, ErrorEvent), error
    return error


async def test_a_question_longer_than_the_reported_window_is_an_overflow(on_real_model: Platform) -> None:
    error = await overflow_error(on_real_model)

    assert error.error.code is ErrorCode.MODEL_CONTEXT_OVERFLOW
    assert error.partial is False and error.fallback


async def test_a_prompt_the_server_refuses_as_too_long_is_an_overflow(
    model_server: ModelServer, tmp_path: Path
) -> None:
    # The operator says the window is larger than it is: the server itself refuses the prompt.
    env = {**real_model_env(model_server, tmp_path), "MODEL_CONTEXT_WINDOW": "100000"}
    with embedded_platform(env) as platform:
        error = await overflow_error(platform)

        assert error.error.code is ErrorCode.MODEL_CONTEXT_OVERFLOW
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(f"{platform.base_url}/api/chat", json={"message": TOO_LONG})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "MODEL_CONTEXT_OVERFLOW"


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[ModelServer]:
    """A server that wants an API key the platform is not given."""
    server = start_model_server(tmp_path, api_key="the-servers-own-key")
    try:
        yield server
    finally:
        server.stop()


async def test_a_key_the_server_refuses_is_a_misconfiguration_not_a_try_again(
    keyed_server: ModelServer, tmp_path: Path
) -> None:
    with embedded_platform(real_model_env(keyed_server, tmp_path), ready=False) as platform:
        events = await stream_chat(platform.base_url, {"message": "Say hello."})
    error = parse_run_event(events[-1].data)

    assert isinstance(error, ErrorEvent), error
    assert error.error.code is ErrorCode.MODEL_MISCONFIGURED
