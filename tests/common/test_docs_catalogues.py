"""The catalogues in docs/ name exactly what the code defines."""

from __future__ import annotations

import re
from pathlib import Path

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import RunEvent
from agent_common.topics import ALL_TOPICS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _table_first_column(page: str) -> set[str]:
    return set(re.findall(r"^\| `([A-Za-z_.]+)` \|", (DOCS / page).read_text(), flags=re.M))


def test_error_catalogue_lists_every_code_with_its_class_and_status() -> None:
    text = (DOCS / "errors.md").read_text()
    assert _table_first_column("errors.md") - {"user_input", "tool", "model", "infra"} == {c.value for c in ErrorCode}
    for code in ErrorCode:
        info = ErrorInfo.of(code, "m")
        assert f"| `{code.value}` | {info.error_class.value} | {info.http_status} |" in text


def test_sse_catalogue_lists_every_run_event_type() -> None:
    types = {member.model_fields["type"].default for member in RunEvent.__origin__.__args__}  # type: ignore[attr-defined]
    assert _table_first_column("sse-events.md") == types


def test_topic_page_lists_every_topic_with_its_group_and_partitions() -> None:
    text = (DOCS / "topics.md").read_text()
    for topic in ALL_TOPICS:
        assert f"| `{topic.name}` |" in text
        row = next(line for line in text.splitlines() if line.startswith(f"| `{topic.name}` |"))
        group = f"`{topic.consumer_group}`" if topic.consumer_group else "| none"
        assert group in row and row.rstrip(" |").endswith(str(topic.partitions))
