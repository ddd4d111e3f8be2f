"""Where the chaos tier writes what it saw: one JSON file per scenario and a Markdown
table of them all (scenario x phase), in `CHAOS_RESULTS_DIR` (default
`tests/chaos/results/`, ignored by git), so runs before and after a change compare."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("accepted", "done", "errors", "refused", "lost", "doubled", "text_mismatch", "dead_letters", "last_end_s")


def results_dir() -> Path:
    path = Path(os.environ.get("CHAOS_RESULTS_DIR", ROOT / "tests" / "chaos" / "results"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class Results:
    """The scenarios of this test session, written out after each one (a cut-short run keeps what it had)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.scenarios: dict[str, dict[str, Any]] = {}

    def record(self, name: str, rows: dict[str, dict[str, Any]], **facts: Any) -> None:
        self.scenarios[name] = {"phases": rows, **facts}
        (self.directory / f"{name}.json").write_text(json.dumps(self.scenarios[name], indent=2, sort_keys=True))
        (self.directory / "summary.md").write_text(self.markdown())

    def markdown(self) -> str:
        lines = [
            "| scenario | outage s | phase | " + " | ".join(COLUMNS) + " |",
            "|---|---|---|" + "---|" * len(COLUMNS),
        ]
        for name, scenario in self.scenarios.items():
            for phase, row in scenario["phases"].items():
                cells = [_cell(row.get(column, 0)) for column in COLUMNS]
                lines.append(f"| {name} | {scenario.get('outage_s', '')} | {phase} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {count}" for key, count in sorted(value.items())) or "-"
    return str(value)
