"""Reading the operators' documents as a test reads them: their code blocks, one command or query
a line; the alerts they name; their links. The documents' conventions (docs/runbook.md):
PromQL in ```promql blocks and shell commands in ```sh blocks, one a line, and each failure
type's alerts on a `- **Alerts:**` line."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

from tests.support.observability import ROOT

DOCS = ROOT / "docs"
RUNBOOK = DOCS / "runbook.md"
OPERATOR_DOCS = (RUNBOOK, DOCS / "rollback.md", DOCS / "handoff-template.md")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>\w*)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def code_lines(lang: str, docs: tuple[Path, ...] = OPERATOR_DOCS) -> list[str]:
    """Every non-empty, non-comment line of the `lang` blocks."""
    lines: list[str] = []
    for doc in docs:
        for block in _FENCE.finditer(doc.read_text()):
            if block["lang"] != lang:
                continue
            for line in textwrap.dedent(block["body"]).splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    lines.append(line.strip())
    return lines


def shell_commands(program: str) -> list[list[str]]:
    """The commands running `program` in the sh blocks, as argument lists: each pipeline's stages
    and each `$(...)` inside a line are commands of their own."""
    found: list[list[str]] = []
    for line in code_lines("sh"):
        pieces = re.findall(r"\$\(([^)]*)\)", line)
        pieces.append(re.sub(r"\$\([^)]*\)", "SUBSTITUTED", line))
        for piece in pieces:
            for stage in re.split(r"\s(?:\||&&|>)\s", piece):
                words = shlex.split(stage)
                if words and words[0] == program:
                    found.append(words)
    return found


def shell_lines(program: str) -> list[str]:
    """The whole lines that start with `program`, as a shell would run them."""
    return [line for line in code_lines("sh") if line.split()[0] == program]


def named_alerts(doc: Path = RUNBOOK) -> set[str]:
    names: set[str] = set()
    for line in doc.read_text().splitlines():
        if line.startswith("- **Alerts:**"):
            names |= set(re.findall(r"`([A-Za-z]+)`", line))
    return names


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    return {github_anchor(h) for h in re.findall(r"^#+ (.+)$", doc.read_text(), re.M)}


def relative_links(doc: Path) -> list[tuple[Path, str]]:
    """(file, anchor) of each relative Markdown link; the anchor may be empty."""
    links = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"^[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        links.append(((doc.parent / path).resolve() if path else doc, anchor))
    return links
