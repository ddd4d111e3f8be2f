"""`http_get` outcomes as the model and the client see them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from agent_common.errors import ErrorCode
from agent_common.messages import ToolCallRequested, ToolOutcome
from agent_common.settings import ToolSettings
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import execute
from agent_tool_runner.service import new_http_client
from tests.support.web import free_tcp_port
from tests.tool_runner.conftest import BIG

DEAD_PORT = free_tcp_port()  # nothing listens here: a refused connection


@pytest.fixture
async def ctx(upstream: str) -> AsyncIterator[ToolContext]:
    settings = ToolSettings(
        http_allowlist=["127.0.0.1", "*.allowed.test"],
        http_allowed_ports=[80, 443, httpx.URL(upstream).port or 0, DEAD_PORT],
        http_allow_private_networks=True,
        http_timeout_s=0.5,
        http_max_response_bytes=BIG // 2,
    )
    client = new_http_client(settings)
    yield ToolContext(settings=settings, http=client)
    await client.aclose()


def call(arguments: dict[str, object], tool: str = "http_get", deadline_in: float = 30) -> ToolCallRequested:
    return ToolCallRequested(
        request_id="req_1",
        session_id="ses_1",
        user_id="u",
        call_id="c1",
        tool=tool,
        arguments=arguments,
        deadline_at=time.time() + deadline_in,
    )


async def fetch(ctx: ToolContext, url: str) -> ToolOutcome:
    return await execute(call({"url": url}), ctx)


def error_code(outcome: ToolOutcome) -> str:
    assert outcome.ok is False and outcome.error is not None
    assert outcome.error.error_class == "tool"
    return outcome.error.code.value


async def test_an_html_page_comes_back_as_readable_text(ctx: ToolContext, upstream: str) -> None:
    outcome = await fetch(ctx, f"{upstream}/page")
    assert outcome.ok, outcome.error
    assert outcome.output["status"] == 200 and outcome.output["content_type"] == "text/html"
    text = outcome.output["text"]
    assert "The secret word is pineapple." in text and "비밀 단어는 사과입니다." in text
    assert "script text" not in text and "color: red" not in text and "<p>" not in text
    assert outcome.output["truncated"] is False


async def test_json_comes_back_as_text(ctx: ToolContext, upstream: str) -> None:
    outcome = await fetch(ctx, f"{upstream}/data")
    assert outcome.ok and orjson.loads(outcome.output["text"]) == {"answer": 42, "언어": "한국어"}


async def test_an_upstream_500_is_an_http_error_with_its_status(ctx: ToolContext, upstream: str) -> None:
    outcome = await fetch(ctx, f"{upstream}/fail")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR
    assert outcome.error is not None and outcome.error.details["status"] == 500
    assert outcome.output == {"url": f"{upstream}/fail"}


async def test_a_refused_connection_is_unreachable(ctx: ToolContext) -> None:
    outcome = await fetch(ctx, f"http://127.0.0.1:{DEAD_PORT}/")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_UNREACHABLE


async def test_a_name_that_does_not_resolve_is_unreachable(ctx: ToolContext) -> None:
    outcome = await fetch(ctx, "http://nowhere.allowed.test/")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_UNREACHABLE


async def test_a_stalled_upstream_times_out_at_the_deadline(ctx: ToolContext, upstream: str) -> None:
    outcome = await fetch(ctx, f"{upstream}/stall")
    assert error_code(outcome) == ErrorCode.TOOL_TIMEOUT


async def test_the_request_deadline_bounds_the_call(ctx: ToolContext, upstream: str) -> None:
    outcome = await execute(call({"url": f"{upstream}/page"}, deadline_in=-1), ctx)
    assert error_code(outcome) == ErrorCode.TOOL_TIMEOUT


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
async def test_a_body_over_the_limit_is_refused(ctx: ToolContext, upstream: str, path: str) -> None:
    outcome = await fetch(ctx, f"{upstream}{path}")
    assert error_code(outcome) == ErrorCode.TOOL_RESPONSE_TOO_LARGE


async def test_a_binary_body_is_not_read(ctx: ToolContext, upstream: str) -> None:
    outcome = await fetch(ctx, f"{upstream}/binary")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR
    assert outcome.error is not None and outcome.error.details["content_type"] == "image/png"


async def test_a_redirect_to_an_allowed_page_is_followed(ctx: ToolContext, upstream: str) -> None:
    outcome = await fetch(ctx, f"{upstream}/redirect-local")
    assert outcome.ok and outcome.output["url"] == f"{upstream}/page"


async def test_a_redirect_off_the_allowlist_is_refused(ctx: ToolContext, upstream: str) -> None:
    away = upstream.replace("127.0.0.1", "localhost") + "/page"
    outcome = await fetch(ctx, f"{upstream}/redirect-away?to={away}")
    assert error_code(outcome) == ErrorCode.TOOL_URL_NOT_ALLOWED


async def test_endless_redirects_stop(ctx: ToolContext, upstream: str) -> None:
    outcome = await fetch(ctx, f"{upstream}/loop")
    assert error_code(outcome) == ErrorCode.TOOL_UPSTREAM_HTTP_ERROR


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://example.com/",
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://user:pw@127.0.0.1/",
        "http://127.0.0.1@evil.example/",
        "http://evil.example\\@127.0.0.1/",
        "http://allowed.test/",  # the wildcard covers subdomains only
        "http://allowed.test.evil.example/",
        "http://evilallowed.test/",
        "http://127.0.0.1.evil.example/",
        "not a url",
        "//127.0.0.1/",
    ],
)
async def test_urls_off_the_allowlist_or_of_other_forms_are_refused(ctx: ToolContext, url: str) -> None:
    assert error_code(await fetch(ctx, url)) == ErrorCode.TOOL_URL_NOT_ALLOWED


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "(arguments)"),
        ({"url": 42}, "url"),
        ({"url": "http://127.0.0.1/", "extra": 1}, "(arguments)"),
        ({"url": ""}, "url"),
    ],
)
async def test_arguments_that_break_the_schema_say_which_field(
    ctx: ToolContext, arguments: dict[str, object], field: str
) -> None:
    outcome = await execute(call(arguments), ctx)
    assert error_code(outcome) == ErrorCode.TOOL_INPUT_INVALID
    assert outcome.error is not None
    assert field in [e["field"] for e in outcome.error.details["errors"]]  # type: ignore[union-attr]


async def test_an_unknown_tool_is_refused(ctx: ToolContext) -> None:
    outcome = await execute(call({"cmd": "rm -rf /"}, tool="shell"), ctx)
    assert error_code(outcome) == ErrorCode.TOOL_UNKNOWN
