"""One log record is one line, for every reader: a message carrying Unicode line
breaks (U+2028, U+2029, NEL) or control characters must not split a JSON line for a
reader that splits on `str.splitlines()` (or JavaScript's line terminators)."""

from __future__ import annotations

import json
import logging

import pytest

from agent_common.logs import JsonFormatter

# Everything `str.splitlines()` splits on.
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def formatted(message: str, **extra: object) -> str:
    record = logging.makeLogRecord({"name": "agent.test", "levelno": logging.INFO, "levelname": "INFO", "msg": "%s"})
    record.args = (message,)
    record.__dict__.update(extra)
    return JsonFormatter("test").format(record)


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=lambda b: f"U+{ord(b[0]):04X}")
def test_a_line_break_in_a_message_or_a_field_does_not_split_the_line(brk: str) -> None:
    line = formatted(f"before{brk}after", user_text=f"a{brk}b")
    assert line.splitlines() == [line]
    entry = json.loads(line)
    assert entry["event"] == f"before{brk}after" and entry["user_text"] == f"a{brk}b"  # escaped, not lost


def test_every_character_splitlines_splits_on_is_covered() -> None:
    # Should Python add a line break, the list above (and so the formatter's test) must follow.
    splitting = {chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert splitting == {b[-1] for b in LINE_BREAKS} | {"\r"}
