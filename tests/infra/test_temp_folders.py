"""Every temporary folder the project makes has an owner that removes it.

`tempfile.mkdtemp` makes a folder nobody removes: `agent prompt-eval` left two in /tmp on each
run, and the suite's embedded platforms two each (over 500 on a machine after a day's runs).
A folder is made with `tempfile.TemporaryDirectory`, under pytest's `tmp_path`, or with
`mkdtemp(dir=...)` inside a folder that is itself owned; the one exception below says who
removes its folder.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEARCHED = ["cli", "services", "libs", "bench", "gameday", "scripts", "tests"]
SKIPPED_PARTS = {".venv", ".peers-venv", "node_modules", "__pycache__"}
# path: who removes the folder
OWNED_ELSEWHERE = {
    "tests/support/services.py": "PostgresServer.stop removes its data folder (not under tmp_path: "
    "PostgreSQL runs as another user, and pytest's folder is private)",
}


def unowned_mkdtemp_calls(source: str) -> list[int]:
    """Lines of `mkdtemp(...)` calls with no `dir=`: a folder in the system's temporary folder."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name == "mkdtemp" and not any(keyword.arg == "dir" for keyword in node.keywords):
            lines.append(node.lineno)
    return lines


def project_modules() -> list[Path]:
    return [
        path
        for folder in SEARCHED
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not SKIPPED_PARTS.intersection(path.relative_to(ROOT).parts)
    ]


def test_no_temporary_folder_is_left_without_an_owner() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in project_modules()
        if str(path.relative_to(ROOT)) not in OWNED_ELSEWHERE
        for line in unowned_mkdtemp_calls(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "use tempfile.TemporaryDirectory or tmp_path:\n" + "\n".join(offenders)


def test_the_exceptions_still_make_their_folders() -> None:
    for path in OWNED_ELSEWHERE:
        assert unowned_mkdtemp_calls((ROOT / path).read_text(encoding="utf-8")), f"{path}: no longer an exception"


def test_the_check_tells_an_owned_folder_from_one_left_behind() -> None:
    source = (
        "import tempfile\nfrom tempfile import mkdtemp\n"
        "a = tempfile.mkdtemp(prefix='x-')\n"
        "b = mkdtemp()\n"
        "c = tempfile.mkdtemp(dir=work)\n"
        "with tempfile.TemporaryDirectory() as d: pass\n"
    )
    assert unowned_mkdtemp_calls(source) == [3, 4]
