"""The OpenAI-compatible API as the official `openai` Python SDK uses it, against the running
platform: whole and streamed answers, sessions, tool activity, and every refusal raising the
SDK's own exception with the platform's code inside (docs/openai.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from httpx_sse import connect_sse
from openai.types.chat import ChatCompletionChunk

from tests.e2e.conftest import Secured, platform_env
from tests.support.platform import Platform, bearer, create_api_key, embedded_platform

HELLO: list[Any] = [{"role": "user", "content": "Hello there"}]


def key_of(headers: dict[str, str]) -> str:
    return headers["authorization"].removeprefix("Bearer ")


def sdk(platform: Platform, headers: dict[str, str], **options: Any) -> openai.OpenAI:
    """The SDK as any application configures it: the base URL and the key, and no retries
    (a refusal must reach the test, not be retried away)."""
    return openai.OpenAI(
        base_url=f"{platform.base_url}/v1", api_key=key_of(headers), max_retries=0, timeout=30, **options
    )


@pytest.fixture(scope="module")
def alice(embedded_secured: Secured) -> openai.OpenAI:
    return sdk(embedded_secured.platform, embedded_secured.alice)


def platform_details(response: Any) -> dict[str, Any]:
    """The platform's own field, which the SDK keeps as an extra (`platform`)."""
    details: dict[str, Any] = response.model_extra["platform"]
    return details


# ---- models ---------------------------------------------------------------------------------


def test_the_models_list_names_the_agent(alice: openai.OpenAI) -> None:
    assert [model.id for model in alice.models.list()] == ["agent"]
    assert alice.models.retrieve("agent").owned_by == "agent-platform"
    with pytest.raises(openai.NotFoundError) as refused:
        alice.models.retrieve("gpt-4o")
    assert refused.value.code == "NOT_FOUND"


# ---- answers --------------------------------------------------------------------------------


def test_a_whole_answer_is_a_chat_completion(alice: openai.OpenAI) -> None:
    # The model a client names does not matter: every id selects the agent.
    completion = alice.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    answer = completion.choices[0]
    assert answer.message.role == "assistant"
    assert answer.message.content is not None and answer.message.content.startswith("(offline model)")
    assert '"Hello there"' in answer.message.content
    assert answer.finish_reason == "stop"
    assert completion.model == "agent" and completion.object == "chat.completion"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    details = platform_details(completion)
    assert details["model"] == "offline-1"  # what the agent used underneath
    assert details["session_id"].startswith("ses_")
    assert completion.id == f"chatcmpl-{details['request_id']}"
    assert completion._request_id == details["request_id"]  # the SDK's own reading of X-Request-ID


def chunks_of(stream: openai.Stream[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    with stream:
        return list(stream)


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_streamed_answer_is_chunks_with_one_finish_reason(secured: Secured, include_usage: bool) -> None:
    client = sdk(secured.platform, secured.alice)
    stream = client.chat.completions.create(
        model="agent", messages=HELLO, stream=True, stream_options={"include_usage": include_usage}
    )
    chunks = chunks_of(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason is not None]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("(offline model)") and '"Hello there"' in text
    assert len({c.id for c in chunks}) == 1
    assert platform_details(finishing[0])["session_id"].startswith("ses_")
    if include_usage:  # one more chunk, after the finish reason: no choices, the usage
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens > 0
        assert all(c.usage is None for c in chunks[:-1])
    else:
        assert chunks[-1] is finishing[0] and all(c.usage is None for c in chunks)


def test_a_stream_is_plain_data_frames_ending_with_done(embedded_secured: Secured) -> None:
    """What any SSE client sees: `data:` frames only (no `event:` names an OpenAI client would not
    expect), JSON chunks, and `[DONE]` last."""
    body = {"model": "agent", "messages": HELLO, "stream": True}
    with (
        httpx.Client(timeout=30, headers=embedded_secured.alice) as client,
        connect_sse(client, "POST", f"{embedded_secured.platform.base_url}/v1/chat/completions", json=body) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        assert source.response.headers["x-session-id"].startswith("ses_")
        events = [event for event in source.iter_sse() if event.data]
    assert {event.event for event in events} == {"message"}  # the SSE default: no event name was sent
    assert events[-1].data == "[DONE]"
    assert all(json.loads(event.data)["object"] == "chat.completion.chunk" for event in events[:-1])


# ---- sessions -------------------------------------------------------------------------------


def test_x_session_id_continues_a_session_and_earlier_messages_come_from_it(embedded_secured: Secured) -> None:
    alice = sdk(embedded_secured.platform, embedded_secured.alice)
    first = alice.chat.completions.create(model="agent", messages=[{"role": "user", "content": "My name is Mina"}])
    session_id = platform_details(first)["session_id"]
    conversation: list[Any] = [
        {"role": "user", "content": "My name is Mina"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "What did I say earlier?"},
    ]
    second = alice.chat.completions.create(
        model="agent", messages=conversation, extra_headers={"X-Session-ID": session_id}
    )
    assert platform_details(second)["session_id"] == session_id
    answer = second.choices[0].message.content or ""
    # The session's history was used, and only the new message was the turn (no transcript).
    assert 'Earlier you said: "My name is Mina"' in answer
    assert "Earlier in this conversation" not in answer
    # Someone else's session is not found, as with `/api/chat`.
    bob = sdk(embedded_secured.platform, embedded_secured.bob)
    with pytest.raises(openai.NotFoundError) as refused:
        bob.chat.completions.create(model="agent", messages=HELLO, extra_headers={"X-Session-ID": session_id})
    assert refused.value.code == "NOT_FOUND"


def test_without_a_session_the_earlier_messages_reach_the_model_before_the_turn(alice: openai.OpenAI) -> None:
    conversation: list[Any] = [
        {"role": "system", "content": "Answer in one line."},
        {"role": "user", "content": "My name is Mina"},
        {"role": "assistant", "content": "Hello Mina"},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    completion = alice.chat.completions.create(model="agent", messages=conversation)
    answer = completion.choices[0].message.content or ""
    assert "Earlier in this conversation" in answer  # the offline model quotes the turn it was given
    assert "system: Answer in one line." in answer and "user: My name is Mina" in answer
    assert "assistant: Hello Mina" in answer and answer.index("Hello Mina") < answer.index("What is my name?")
    assert "This is turn 1" in answer  # a new session


# ---- tool activity ----------------------------------------------------------------------------


def test_the_agents_tool_calls_are_reported_beside_the_answer(alice: openai.OpenAI, pages_url: str) -> None:
    url = f"{pages_url}/page"
    completion = alice.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": f"What does {url} say?"}]
    )
    assert "pineapple" in (completion.choices[0].message.content or "")
    assert completion.choices[0].message.tool_calls is None  # the client's tool calls: none, the agent ran it
    calls = platform_details(completion)["tool_calls"]
    assert [(c["tool"], c["arguments"], c["ok"]) for c in calls] == [("http_get", {"url": url}, True)]


# ---- refusals, as the SDK's exceptions ---------------------------------------------------------


def test_a_wrong_key_raises_authentication_error(embedded_secured: Secured) -> None:
    wrong = sdk(embedded_secured.platform, bearer("agk_000000000000_" + "C" * 43))
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.chat.completions.create(model="agent", messages=HELLO)
    error = refused.value
    assert (error.status_code, error.code, error.type) == (401, "AUTH_INVALID", "authentication_error")
    assert isinstance(error.body, dict) and error.body["class"] == "user_input"
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}, "tools"),
        ({"n": 2}, "n"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"stop": ["\n"]}, "stop"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_a_field_the_platform_does_not_do_raises_bad_request(
    alice: openai.OpenAI, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        alice.chat.completions.create(model="agent", messages=HELLO, **fields)
    error = refused.value
    assert (error.code, error.param, error.type) == ("PARAMETER_UNSUPPORTED", param, "invalid_request_error")
    assert f"`{param}`" in error.message


def test_client_tool_calls_in_the_history_are_refused_too(alice: openai.OpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    conversation: list[Any] = [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(openai.BadRequestError) as refused:
        alice.chat.completions.create(model="agent", messages=conversation)
    assert (refused.value.code, refused.value.param) == ("PARAMETER_UNSUPPORTED", "messages.1.tool_calls")


def test_refusals_are_in_the_callers_language(embedded_secured: Secured) -> None:
    korean = sdk(embedded_secured.platform, embedded_secured.alice, default_headers={"Accept-Language": "ko-KR"})
    with pytest.raises(openai.BadRequestError) as refused:
        korean.chat.completions.create(model="agent", messages=HELLO, n=3)
    assert "지원하지 않습니다" in refused.value.message


def test_a_body_of_the_wrong_shape_is_a_bad_request_as_on_openai(alice: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        alice.chat.completions.create(model="agent", messages=[{"role": "user", "content": "   "}])
    assert (refused.value.code, refused.value.param) == ("INPUT_INVALID", "messages.0.content")
    assert refused.value.body["details"]["fields"][0]["problem"].endswith(  # type: ignore[index]
        "must have at least one character that is not whitespace"
    )


def test_a_turn_over_the_message_limit_is_413(alice: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        alice.chat.completions.create(model="agent", messages=[{"role": "user", "content": "word " * 500}])
    assert (refused.value.status_code, refused.value.code) == (413, "INPUT_TOO_LARGE")


def test_a_failed_run_raises_the_sdks_server_error_with_the_platforms_code(alice: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as failed:
        alice.chat.completions.create(model="agent", messages=[{"role": "user", "content": "[[offline:unauthorized]]"}])
    assert (failed.value.status_code, failed.value.code) == (502, "MODEL_MISCONFIGURED")
    assert failed.value.type == "server_error"


def test_a_stream_that_fails_midway_raises_api_error_after_the_text_so_far(alice: openai.OpenAI) -> None:
    stream = alice.chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "[[offline:drop_mid_stream]] tell me a long enough story to be cut"}],
        stream=True,
    )
    text: list[str] = []

    def read() -> None:
        with stream:
            text.extend(chunk.choices[0].delta.content or "" for chunk in stream)

    with pytest.raises(openai.APIError) as failed:
        read()
    assert "".join(text).startswith("(offline model)")
    assert isinstance(failed.value.body, dict) and failed.value.body["code"] == "MODEL_STREAM_INTERRUPTED"
    assert failed.value.body["class"] == "model"


# ---- limits: a platform of their own -------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(pages_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Path]]:
    keys_file = tmp_path_factory.mktemp("openai-limited") / "keys.json"
    env = {
        **platform_env(pages_url, keys_file),
        "RATE_LIMIT_USER_PER_MINUTE": "3",
        "RATE_LIMIT_STREAMS_PER_USER": "1",
        "MODEL_MAX_OUTPUT_TOKENS": "3",
    }
    with embedded_platform(env) as platform:
        yield platform, keys_file


def limited_sdk(limited: tuple[Platform, Path], user: str) -> openai.OpenAI:
    platform, keys_file = limited
    return sdk(platform, bearer(create_api_key({"AUTH_KEYS_FILE": str(keys_file)}, user)))


def test_past_the_rate_limit_raises_rate_limit_error_with_retry_after(limited: tuple[Platform, Path]) -> None:
    client = limited_sdk(limited, "rita")
    for _ in range(3):
        client.models.list()
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="agent", messages=HELLO)
    error = refused.value
    assert (error.status_code, error.code, error.type) == (429, "RATE_LIMITED", "rate_limit_error")
    assert int(error.response.headers["retry-after"]) >= 1


def test_a_second_open_stream_raises_rate_limit_error(limited: tuple[Platform, Path]) -> None:
    client = limited_sdk(limited, "sam")
    held = client.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "wait [[offline:stall]]"}], stream=True
    )
    with held:
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="agent", messages=HELLO, stream=True)
        assert refused.value.code == "TOO_MANY_STREAMS"
        assert refused.value.response.headers["retry-after"] == "1"


def test_an_answer_cut_off_at_the_output_cap_finishes_with_length(limited: tuple[Platform, Path]) -> None:
    client = limited_sdk(limited, "tom")
    completion = client.chat.completions.create(model="agent", messages=HELLO)
    assert (completion.choices[0].finish_reason, completion.choices[0].message.content) == (
        "length",
        "(offline model) You ",
    )
    assert platform_details(completion)["note"] == "The answer was cut off at the output limit and is incomplete."
    chunks = chunks_of(client.chat.completions.create(model="agent", messages=HELLO, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["length"]
