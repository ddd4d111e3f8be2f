"""The page and the server agree on the run events: the generated types are current, and
the page's handler table has an entry for every event type the server can send."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

from pydantic import BaseModel

from agent_common.events import RunEvent

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ROOT / "web" / "src" / "handlers.ts"


def server_event_types() -> set[str]:
    union = typing.get_args(RunEvent)[0]
    models: tuple[type[BaseModel], ...] = typing.get_args(union)
    return {model.model_fields["type"].default for model in models}


def page_handled_types() -> set[str]:
    table = re.search(r"EVENT_HANDLERS[^=]*=\s*\{(.*?)\n\};", HANDLERS.read_text(), re.S)
    assert table, "the handler table is not where this test looks for it"
    return set(re.findall(r"^\s+(\w+):", table.group(1), re.M))


def test_the_generated_schema_and_types_are_current() -> None:
    checked = subprocess.run(
        [sys.executable, "scripts/web_types.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr


def test_the_page_handles_every_event_type_the_server_can_send() -> None:
    assert page_handled_types() == server_event_types()


def test_the_generated_types_name_every_event_type() -> None:
    generated = (ROOT / "web" / "src" / "generated" / "events.ts").read_text()
    listed = re.search(r"RUN_EVENT_TYPES = (\[.*?\])", generated)
    assert listed and set(re.findall(r'"(\w+)"', listed.group(1))) == server_event_types()
