"""Every `http_get` outcome as the client sees it over SSE, in both modes:
`tool_start`, then `tool_end` with the classified outcome, then an answer that
says what happened, then exactly one `done`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agent_common.events import DoneEvent, ToolEndEvent, ToolStartEvent, parse_run_event
from tests.e2e.conftest import DEAD_PORT
from tests.e2e.sse import stream_chat
from tests.support.platform import Platform


async def tool_run(platform: Platform, message: str) -> tuple[list[Any], DoneEvent]:
    """The run's tool events (starts and ends, in order) and its `done`."""
    events = await stream_chat(platform.base_url, {"message": message}, headers=platform.headers)
    parsed = [parse_run_event(e.data) for e in events]
    assert [e.event for e in events].count("done") == 1 and events[-1].event == "done", events[-1].data
    done = parsed[-1]
    assert isinstance(done, DoneEvent)
    return [p for p in parsed if isinstance(p, ToolStartEvent | ToolEndEvent)], done


def only_end(tool_events: list[Any]) -> ToolEndEvent:
    ends = [e for e in tool_events if isinstance(e, ToolEndEvent)]
    assert len(ends) == 1, tool_events
    return ends[0]


def the_pages_port(pages_url: str) -> int:
    return httpx.URL(pages_url).port or 0


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/broken", "TOOL_UPSTREAM_HTTP_ERROR"),
        ("/stall", "TOOL_TIMEOUT"),
        ("/big", "TOOL_RESPONSE_TOO_LARGE"),
        ("/picture.png", "TOOL_CONTENT_TYPE_UNSUPPORTED"),
        ("/redirect?to=http://169.254.169.254/latest/meta-data/", "TOOL_URL_NOT_ALLOWED"),
        ("/redirect?to=http://localhost/page", "TOOL_URL_NOT_ALLOWED"),
        # The port is filled in at run time: a test's id must not change between collections (xdist's
        # workers each collect, and refuse to run when they disagree).
        ("http://127.0.0.1:{dead_port}/", "TOOL_UPSTREAM_UNREACHABLE"),
        ("http://nowhere.invalid/", "TOOL_UPSTREAM_UNREACHABLE"),
        ("http://2130706433/", "TOOL_URL_NOT_ALLOWED"),
    ],
)
async def test_each_failed_fetch_reaches_the_client_classified(
    platform: Platform, pages_url: str, target: str, code: str
) -> None:
    url = pages_url + target if target.startswith("/") else target.format(dead_port=DEAD_PORT)
    tool_events, done = await tool_run(platform, f"What does {url} say?")
    start = tool_events[0]
    assert isinstance(start, ToolStartEvent) and start.tool == "http_get"
    end = only_end(tool_events)
    assert end.ok is False and end.error is not None
    assert (end.error.error_class, end.error.code) == ("tool", code)
    assert code in done.answer and "pineapple" not in done.answer
    assert [(c.tool, c.ok, c.error.code if c.error else None) for c in done.tool_calls] == [("http_get", False, code)]


async def test_an_upstream_error_carries_its_status_to_the_client(platform: Platform, pages_url: str) -> None:
    tool_events, _ = await tool_run(platform, f"What does {pages_url}/broken say?")
    end = only_end(tool_events)
    assert end.error is not None and end.error.details["status"] == 500


async def test_a_korean_question_about_a_forbidden_page_gets_a_korean_answer(
    platform: Platform, pages_url: str
) -> None:
    url = pages_url.replace("127.0.0.1", "localhost") + "/page"
    _, done = await tool_run(platform, f"{url} 페이지에 뭐라고 쓰여 있어?")
    assert done.answer.startswith("(오프라인 모델)") and "TOOL_URL_NOT_ALLOWED" in done.answer


async def test_invalid_arguments_are_refused_and_the_model_corrects_its_call(
    platform: Platform, pages_url: str
) -> None:
    tool_events, done = await tool_run(platform, f"What does {pages_url}/page say? [[offline:tool_bad_arguments]]")
    starts = [e for e in tool_events if isinstance(e, ToolStartEvent)]
    ends = [e for e in tool_events if isinstance(e, ToolEndEvent)]
    assert [s.arguments for s in starts] == [{"address": f"{pages_url}/page"}, {"url": f"{pages_url}/page"}]
    first, second = ends
    assert first.ok is False and first.error is not None and first.error.code == "TOOL_INPUT_INVALID"
    fields = {e["field"] for e in first.error.details["errors"]}  # type: ignore[union-attr]
    assert fields == {"(arguments)"}  # `url` is missing and `address` is not allowed: both on the object
    assert second.ok is True
    assert "pineapple" in done.answer


async def test_a_tool_that_does_not_exist_is_refused(platform: Platform, pages_url: str) -> None:
    tool_events, done = await tool_run(platform, f"Fetch {pages_url}/page [[offline:tool_unknown]]")
    start = tool_events[0]
    assert isinstance(start, ToolStartEvent) and start.tool == "run_shell"
    end = only_end(tool_events)
    assert end.error is not None and end.error.code == "TOOL_UNKNOWN"
    assert end.error.details["available"] == ["http_get"]
    assert "TOOL_UNKNOWN" in done.answer and "pineapple" not in done.answer


def tool_calls(metrics_text: str, outcome: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(f'tool_calls_total{{outcome="{outcome}",tool="http_get"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_the_tool_runner_counts_calls_by_outcome(platform: Platform, pages_url: str) -> None:
    metrics_url = platform.metrics_url("tool-runner" if "tool-runner" in platform.services else "gateway")
    async with httpx.AsyncClient(headers=platform.headers) as client:
        before = (await client.get(metrics_url)).text
        await tool_run(platform, f"What does {pages_url}/stall say?")
        await tool_run(platform, f"What does {pages_url.replace('127.0.0.1', 'localhost')}/page say?")
        after = (await client.get(metrics_url)).text
    assert tool_calls(after, "timeout") - tool_calls(before, "timeout") >= 1
    assert tool_calls(after, "blocked") - tool_calls(before, "blocked") >= 1


async def test_a_model_that_floods_tool_calls_is_capped_and_still_answers(platform: Platform, pages_url: str) -> None:
    # The offline model asks for 6 fetches at every step while it is offered the tool. With the
    # default caps (4 per step, 8 per turn) the calls past them are refused, never fetched.
    tool_events, done = await tool_run(platform, f"[[offline:tool_flood]] What does {pages_url}/page say?")
    ends = [e for e in tool_events if isinstance(e, ToolEndEvent)]
    refused = [e for e in ends if e.error is not None and e.error.code == "TOOL_CALL_LIMIT"]
    fetched = [e for e in ends if e.ok]
    assert len(fetched) == 8 and len(refused) == 4 and len(ends) == 12
    assert {(e.error.error_class, e.error.details["scope"]) for e in refused} == {  # type: ignore[union-attr]
        ("tool", "step"),
        ("tool", "turn"),
    }
    # Offered no more tools at its cap, the model answered from what it had.
    assert "pineapple" in done.answer and "TOOL_CALL_LIMIT" in done.answer
    assert sum(c.ok for c in done.tool_calls) == 8


async def test_a_page_cannot_make_the_answer_load_an_image_from_another_host(
    platform: Platform, pages_url: str
) -> None:
    events = await stream_chat(platform.base_url, {"message": f"Read {pages_url}/exfiltrate"}, headers=platform.headers)
    done = parse_run_event(events[-1].data)
    assert isinstance(done, DoneEvent)
    streamed = "".join(parse_run_event(e.data).text for e in events if e.event == "token")  # type: ignore[union-attr]
    for shown in (streamed, done.answer):  # what the client rendered, and what the session keeps
        assert "evil.example/" not in shown and "](" not in shown
        assert "(image: status)" in shown and "details (evil.example)" in shown
