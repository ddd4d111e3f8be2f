"""`http_get` outcomes as the model and the client see them."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest

from agent_common.errors import ErrorCode
from agent_common.tools.catalogue.http_get import SPEC
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import Executor
from tests.tool_runner.conftest import DEAD_PORT, LIMIT, call, error_code, fetch, settings_for


async def test_an_html_page_comes_back_as_readable_text(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/page")
    assert outcome.ok, outcome.error
    assert outcome.output["status"] == 200 and outcome.output["content_type"] == "text/html"
    text = outcome.output["text"]
    assert "The secret word is pineapple." in text and "비밀 단어는 사과입니다." in text
    assert "script text" not in text and "color: red" not in text and "<p>" not in text
    assert outcome.output["truncated"] is False


async def test_json_comes_back_as_text(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/data")
    assert outcome.ok and orjson.loads(outcome.output["text"]) == {"answer": 42, "언어": "한국어"}


async def test_a_korean_page_declaring_its_charset_in_meta_is_decoded(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/euc-kr")
    assert outcome.ok and outcome.output["text"] == "서울의 날씨는 맑습니다."


async def test_a_gzipped_page_is_inflated(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/gzipped")
    assert outcome.ok and outcome.output["text"] == "compressed hello, 압축된 인사"


async def test_long_text_is_cut_at_the_output_limit_with_a_marker(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/long-text")
    assert outcome.ok and outcome.output["truncated"] is True
    text = outcome.output["text"]
    kept, marker = text[: SPEC.max_output_chars], text[SPEC.max_output_chars :]
    assert kept.startswith("가나다라 가나다라") and "truncated" in marker and str(SPEC.max_output_chars) in marker


async def test_an_upstream_500_is_an_http_error_with_its_status(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/fail")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR
    assert outcome.error is not None and outcome.error.details["status"] == 500
    assert outcome.output == {"url": f"{upstream}/fail"}


async def test_a_refused_connection_is_unreachable(executor: Executor) -> None:
    outcome = await fetch(executor, f"http://127.0.0.1:{DEAD_PORT}/")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_UNREACHABLE
    assert outcome.error is not None and outcome.error.details["reason"] == "connect"


async def test_a_name_that_does_not_resolve_is_unreachable(executor: Executor) -> None:
    outcome = await fetch(executor, "http://nowhere.allowed.test/")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_UNREACHABLE
    # Told apart from a refused connection: an operator reading the log sees a DNS problem.
    assert outcome.error is not None and outcome.error.details["reason"] == "dns"
    assert "not found (DNS)" in outcome.error.message


async def test_a_name_that_does_not_resolve_is_looked_up_once_never_retried(
    executor: Executor, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []

    async def no_such_name(host: str, *_: object, **__: object) -> list[object]:
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_name)
    outcome = await fetch(executor, "http://nowhere.allowed.test/")
    assert outcome.error is not None and outcome.error.details["reason"] == "dns"
    assert lookups == ["nowhere.allowed.test"]  # TOOL_HTTP_RETRY_ATTEMPTS is 2: a lost connection is tried again


async def test_a_stalled_upstream_times_out_at_the_deadline(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/stall")
    assert error_code(outcome) == ErrorCode.TOOL_TIMEOUT


async def test_the_request_deadline_bounds_the_call(executor: Executor, upstream: str) -> None:
    outcome = await executor.execute(call({"url": f"{upstream}/page"}, deadline_in=-1))
    assert error_code(outcome) == ErrorCode.TOOL_TIMEOUT


@pytest.mark.parametrize("path", ["/big", "/big-stream", "/gzip-bomb"])
async def test_a_body_over_the_limit_is_refused(executor: Executor, upstream: str, path: str) -> None:
    outcome = await fetch(executor, f"{upstream}{path}")
    assert error_code(outcome) == ErrorCode.TOOL_RESPONSE_TOO_LARGE
    assert outcome.error is not None and outcome.error.details["limit"] == LIMIT


@pytest.mark.parametrize(("path", "detail"), [("/binary", "content_type"), ("/brotli", "content_encoding")])
async def test_a_body_that_is_not_readable_text_is_not_read(
    executor: Executor, upstream: str, path: str, detail: str
) -> None:
    outcome = await fetch(executor, f"{upstream}{path}")
    assert error_code(outcome) == ErrorCode.TOOL_CONTENT_TYPE_UNSUPPORTED
    assert outcome.error is not None and detail in outcome.error.details


async def test_a_redirect_to_an_allowed_page_is_followed(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/redirect-local")
    assert outcome.ok and outcome.output["url"] == f"{upstream}/page"


async def test_a_redirect_off_the_allowlist_is_refused(executor: Executor, upstream: str) -> None:
    away = upstream.replace("127.0.0.1", "localhost") + "/page"
    outcome = await fetch(executor, f"{upstream}/redirect-away?to={away}")
    assert error_code(outcome) == ErrorCode.TOOL_URL_NOT_ALLOWED
    assert outcome.error is not None and outcome.error.details["reason"] == "not_allowlisted"


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "http://2130706433/", "http://[::1]/"],
)
async def test_a_redirect_to_a_forbidden_address_is_refused(executor: Executor, upstream: str, target: str) -> None:
    outcome = await fetch(executor, f"{upstream}/redirect-away?to={target}")
    assert error_code(outcome) == ErrorCode.TOOL_URL_NOT_ALLOWED


async def test_endless_redirects_stop(executor: Executor, upstream: str) -> None:
    outcome = await fetch(executor, f"{upstream}/loop")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR
    assert outcome.error is not None and outcome.error.details["reason"] == "too_many_redirects"


async def test_calls_over_the_per_host_limit_are_refused_while_other_hosts_are_served(
    upstream: str, upstream_port: int
) -> None:
    settings = settings_for(
        upstream_port, http_allowlist=["127.0.0.1", "localhost"], http_per_host_concurrency=2, http_timeout_s=5
    )
    ctx = ToolContext.create(settings)
    executor = Executor(ctx)
    try:
        stalled = [asyncio.create_task(fetch(executor, f"{upstream}/stall")) for _ in range(2)]
        async with asyncio.timeout(5):
            # The slot count is the state under test: there is no event to await for it.
            while ctx.hosts.in_flight("127.0.0.1") < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        refused = await fetch(executor, f"{upstream}/page")
        assert error_code(refused) == ErrorCode.TOOL_UNAVAILABLE
        assert refused.error is not None and refused.error.details["reason"] == "host_busy"
        other = await fetch(executor, f"{upstream.replace('127.0.0.1', 'localhost')}/page")
        assert other.ok, other.error  # the same server under another name: a host of its own, not busy
        for task in stalled:
            task.cancel()
        await asyncio.gather(*stalled, return_exceptions=True)
        assert ctx.hosts.in_flight("127.0.0.1") == 0
        assert (await fetch(executor, f"{upstream}/page")).ok
    finally:
        await ctx.aclose()
