"""The refusals a real server answers with (a wrong key, an unknown model, no free slot, a prompt
longer than the window), in OpenAI's and llama.cpp's shapes, as the `openai` SDK sees them."""

from __future__ import annotations

import httpx
import openai
import pytest

from agent_offline_model import create_app
from tests.offline_model.conftest import complete, offline_settings, sdk_client, serve, stream_all
from tests.offline_model.test_faults_over_http import directive


async def test_overloaded_is_a_503_with_retry_after(client: openai.AsyncOpenAI) -> None:
    for call in (complete, stream_all):
        with pytest.raises(openai.InternalServerError) as caught:
            await call(client, directive("overloaded"))
        assert caught.value.status_code == 503 and caught.value.response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("unauthorized", openai.AuthenticationError, "invalid_api_key"),
        ("model_not_found", openai.NotFoundError, "model_not_found"),
    ],
)
async def test_misconfiguration_is_refused_as_openai_refuses_it(
    client: openai.AsyncOpenAI, kind: str, error: type[openai.APIStatusError], code: str
) -> None:
    for call in (complete, stream_all):
        with pytest.raises(error) as caught:
            await call(client, directive(kind))
        assert caught.value.code == code


@pytest.mark.parametrize(
    ("kind", "type_", "code"),
    [
        ("context_overflow", "invalid_request_error", "context_length_exceeded"),
        ("context_overflow_llamacpp", "exceed_context_size_error", "400"),
    ],
)
async def test_a_context_overflow_comes_in_the_provider_s_shape(
    client: openai.AsyncOpenAI, kind: str, type_: str, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await stream_all(client, directive(kind))
    assert (caught.value.type, caught.value.code) == (type_, code)


async def test_a_context_window_is_reported_at_props_and_enforced() -> None:
    with serve(create_app(offline_settings(context_window=20))) as served:
        async with httpx.AsyncClient() as http:
            props = (await http.get(f"{served.url}/props")).json()
        assert props["default_generation_settings"]["n_ctx"] == 20
        client = sdk_client(f"{served.url}/v1")
        try:
            fits = await complete(client, [{"role": "user", "content": "a short question"}])
            assert fits.choices[0].finish_reason == "stop"
            with pytest.raises(openai.BadRequestError) as caught:
                await complete(client, [{"role": "user", "content": "word " * 21}])
            assert caught.value.type == "exceed_context_size_error"
            assert caught.value.body == {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 21,
                "n_ctx": 20,
            }
        finally:
            await client.close()


def test_without_a_window_there_is_no_props(served_url: str) -> None:
    assert httpx.get(f"{served_url}/props").status_code == 404


@pytest.fixture
def served_url(model_url: str) -> str:
    return model_url.removesuffix("/v1")
