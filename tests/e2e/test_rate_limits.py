"""Rate limits: per user and per client IP in any 60-second window, and open
streams per user; a refusal is 429 with `Retry-After` and rate-limit headers.
The limit holds across two gateway processes sharing one Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse
from redis.asyncio import Redis

from tests.e2e.conftest import GENEROUS_LIMITS, LIMITED_GATEWAYS, LIMITED_USER_PER_MINUTE
from tests.support.platform import Platform, bearer, create_api_key, embedded_platform


def probe(base_url: str, headers: dict[str, str]) -> httpx.Response:
    """A call that is admitted (and counted) but starts no run: reading an unknown session."""
    return httpx.get(f"{base_url}/api/sessions/ses_nosuchsession0", headers=headers, timeout=10)


def assert_429(response: httpx.Response, code: str = "RATE_LIMITED") -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert (error["class"], error["code"]) == ("user_input", code)
    assert int(response.headers["retry-after"]) >= 1


def limited_gateways(distributed: Platform) -> list[str]:
    """The distributed platform's two replicas with the tight user limit (one Redis, as all its gateways)."""
    return [distributed.services[name] for name in LIMITED_GATEWAYS]


@pytest.mark.kafka
@pytest.mark.redis
def test_the_user_limit_holds_across_two_gateways_sharing_redis(distributed: Platform, redis_url: str) -> None:
    headers = bearer(create_api_key({"REDIS_URL": redis_url}, "erin"))
    gateways = limited_gateways(distributed)
    answers = [probe(gateways[n % 2], headers) for n in range(LIMITED_USER_PER_MINUTE)]
    # Admitted: the session just does not exist.
    assert [r.status_code for r in answers] == [404] * LIMITED_USER_PER_MINUTE
    assert [r.headers["x-request-id"][:4] for r in answers] == ["req_"] * LIMITED_USER_PER_MINUTE
    for base_url in gateways:  # the sixth call is refused by either replica
        refused = probe(base_url, headers)
        assert_429(refused)
        assert refused.headers["x-ratelimit-limit"] == str(LIMITED_USER_PER_MINUTE)
        assert refused.headers["x-ratelimit-remaining"] == "0"


@pytest.mark.kafka
@pytest.mark.redis
async def test_a_burst_split_over_two_gateways_admits_exactly_the_limit(distributed: Platform, redis_url: str) -> None:
    headers = bearer(create_api_key({"REDIS_URL": redis_url}, "frank"))
    gateways = limited_gateways(distributed)
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        answers = await asyncio.gather(
            *(client.get(f"{gateways[n % 2]}/api/sessions/ses_nosuchsession0") for n in range(20))
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [404] * LIMITED_USER_PER_MINUTE + [429] * (20 - LIMITED_USER_PER_MINUTE)


# ---- the embedded default: per client IP, and the proxy header policy ---------------------------


def limited_platform(tmp_path: Path, **env: str) -> embedded_platform:  # type: ignore[valid-type]
    return embedded_platform({**GENEROUS_LIMITS, "AUTH_KEYS_FILE": str(tmp_path / "keys.json"), **env})


def test_the_ip_limit_throttles_even_wrong_credentials(tmp_path: Path) -> None:
    with limited_platform(tmp_path, RATE_LIMIT_IP_PER_MINUTE="3") as platform:
        create_api_key({"AUTH_KEYS_FILE": str(tmp_path / "keys.json")}, "gina")
        wrong = {"authorization": "Bearer agk_000000000000_" + "C" * 43}
        assert [probe(platform.base_url, wrong).status_code for _ in range(3)] == [401] * 3
        assert_429(probe(platform.base_url, wrong))


def test_a_forwarded_for_header_is_ignored_unless_configured(tmp_path: Path) -> None:
    with limited_platform(tmp_path, RATE_LIMIT_IP_PER_MINUTE="2") as platform:
        spoofed = [probe(platform.base_url, {"x-forwarded-for": f"203.0.113.{n}"}) for n in range(3)]
        assert [r.status_code for r in spoofed[:2]] == [404, 404]
        assert_429(spoofed[2])  # a new address per call did not buy a new budget


def test_a_configured_proxy_header_names_the_client(tmp_path: Path) -> None:
    env = {"RATE_LIMIT_IP_PER_MINUTE": "2", "GATEWAY_CLIENT_IP_HEADER": "X-Forwarded-For"}
    with limited_platform(tmp_path, **env) as platform:
        # The proxy appends the address it saw; what the client wrote to the left is ignored.
        first = [probe(platform.base_url, {"x-forwarded-for": f"10.9.9.{n}, 198.51.100.7"}) for n in range(3)]
        assert [r.status_code for r in first[:2]] == [404, 404]
        assert_429(first[2])
        other = probe(platform.base_url, {"x-forwarded-for": "198.51.100.8"})
        assert other.status_code == 404


async def test_open_streams_are_limited_per_user(tmp_path: Path) -> None:
    with limited_platform(tmp_path, RATE_LIMIT_STREAMS_PER_USER="1") as platform:
        key = bearer(create_api_key({"AUTH_KEYS_FILE": str(tmp_path / "keys.json")}, "hana"))
        other = bearer(create_api_key({"AUTH_KEYS_FILE": str(tmp_path / "keys.json")}, "ivan"))
        url = f"{platform.base_url}/api/chat/stream"
        async with httpx.AsyncClient(timeout=30) as client:
            # The offline model holds this run before its first token: the stream stays open.
            held = client.build_request("POST", url, json={"message": "wait [[offline:stall]]"}, headers=key)
            first = await client.send(held, stream=True)
            try:
                assert first.status_code == 200
                second = await client.post(url, json={"message": "and another"}, headers=key)
                assert_429(second, "TOO_MANY_STREAMS")
                # The limit is per user: someone else still gets a stream.
                theirs = await client.post(url, json={"message": "mine"}, headers=other)
                assert theirs.status_code == 200
            finally:
                await first.aclose()


@pytest.mark.kafka
@pytest.mark.redis
async def test_a_client_that_hangs_up_at_done_gives_its_stream_slot_back(distributed: Platform, redis_url: str) -> None:
    """What most clients do: read to `done`, then close at once. The close cancels the
    stream's clean-up on the gateway; its slot must still be given back, or after a few
    answers the user is refused TOO_MANY_STREAMS for nothing (a third leaked before)."""
    headers = bearer(create_api_key({"REDIS_URL": redis_url}, "quinn"))
    url = f"{distributed.base_url}/api/chat/stream"

    async def one(client: httpx.AsyncClient, n: int) -> None:
        async with aconnect_sse(client, "POST", url, json={"message": f"hello {n}"}) as source:
            assert source.response.status_code == 200
            async for event in source.aiter_sse():
                if event.event == "done":
                    break  # and hang up, with the server still closing the stream

    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for batch in range(5):
            await asyncio.gather(*(one(client, 4 * batch + k) for k in range(4)))
    slots = Redis.from_url(redis_url)
    try:
        held = -1
        for _ in range(50):
            if (held := await slots.zcard("streams:{default/quinn}")) == 0:
                break
            await asyncio.sleep(0.1)
        assert held == 0, f"{held} of 20 stream slots still held after every stream ended"
    finally:
        await slots.aclose()
