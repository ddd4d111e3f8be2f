"""The README read as a test reads it: its marked shell blocks and its tables.

A block the tests run is marked by an HTML comment just before it
(`<!-- distributed-quickstart -->`), invisible on GitHub.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def marked_block(marker: str, text: str | None = None) -> str:
    """The body of the fenced block right after `<!-- marker -->`."""
    text = README.read_text() if text is None else text
    found = re.search(rf"<!-- {re.escape(marker)} -->\s*```\w*\n(.*?)\n```", text, re.DOTALL)
    assert found, f"README.md has no fenced block after <!-- {marker} -->"
    return found.group(1)


def section(heading: str) -> str:
    """The text under `## heading`, up to the next `## `."""
    text = README.read_text()
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def table(text: str, first_column: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header starts with `| first_column |`, by column name."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_column} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True)))
    return rows


def shell_defaults(block: str) -> dict[str, str]:
    """Every `${NAME:-default}` the block reads, with its default (one default per name)."""
    defaults: dict[str, str] = {}
    for name, default in re.findall(r"\$\{(\w+):-([^}]*)\}", block):
        assert defaults.setdefault(name, default) == default, f"{name} has two defaults in one block"
    return defaults
