"""The app mounted under a prefix (as the embedded default serves it), and API key enforcement."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from agent_offline_model import create_app
from tests.offline_model.conftest import (
    HTTP_GET_TOOL,
    Served,
    complete,
    offline_settings,
    sdk_client,
    serve,
    stream_all,
    streamed_text,
)

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def mounted() -> Iterator[Served]:
    host = Starlette(routes=[Mount("/offline", app=create_app(offline_settings()))])
    with serve(host) as served:
        yield served


async def test_the_mounted_model_answers_under_its_prefix(mounted: Served) -> None:
    client = sdk_client(f"{mounted.url}/offline/v1")
    try:
        assert [m.id for m in (await client.models.list()).data] == ["offline-1"]
        chunks = await stream_all(
            client, [{"role": "user", "content": "mounted?"}], stream_options={"include_usage": True}
        )
        assert streamed_text(chunks) == '(offline model) You said: "mounted?". This is turn 1 of our conversation.'
        assert chunks[-1].usage is not None
        response = await complete(client, [{"role": "user", "content": "Read http://a.test/x"}], tools=[HTTP_GET_TOOL])
        assert response.choices[0].finish_reason == "tool_calls"
    finally:
        await client.close()


async def test_mounted_probes_admin_and_errors(mounted: Served) -> None:
    base = f"{mounted.url}/offline"
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/health")).json()["offline"] is True
        assert (await http.post(f"{base}/admin/faults", json={"kind": "server_error"})).status_code == 201
        assert (await http.delete(f"{base}/admin/faults")).json()["cleared"] == 1
        # No slash redirect (it would be absolute and could lose the prefix): a JSON 404 instead.
        slashed = await http.get(f"{base}/v1/models/", follow_redirects=False)
        assert slashed.status_code == 404 and "error" in slashed.json()


@pytest.fixture(scope="module")
def keyed() -> Iterator[Served]:
    with serve(create_app(offline_settings(api_key="s3cret"))) as served:
        yield served


async def test_the_api_key_is_enforced_when_set(keyed: Served) -> None:
    wrong, right = sdk_client(f"{keyed.url}/v1", api_key="nope"), sdk_client(f"{keyed.url}/v1", api_key="s3cret")
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            await complete(wrong, HI)
        assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            await wrong.models.list()
        assert (await complete(right, HI)).choices[0].message.content is not None
        assert streamed_text(await stream_all(right, HI)).startswith("(offline model) ")
    finally:
        await wrong.close()
        await right.close()


async def test_probes_need_no_key_but_the_admin_api_does(keyed: Served) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{keyed.url}/health")).status_code == 200
        assert (await http.get(f"{keyed.url}/ready")).status_code == 200
        missing = await http.get(f"{keyed.url}/admin/faults")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
        allowed = await http.get(f"{keyed.url}/admin/faults", headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200
        no_bearer = await http.get(f"{keyed.url}/v1/models", headers={"Authorization": "s3cret"})
        assert no_bearer.status_code == 401
