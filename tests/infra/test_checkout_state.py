"""The suite fails a run that changed the checkout's own state (`tests/support/checkout_state.py`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from tests.support.checkout_state import changed_files, checkout_state
from tests.support.pytest_runs import ROOT, run_pytest


def test_a_file_made_changed_or_removed_under_the_watched_folders_is_named(tmp_path: Path) -> None:
    (tmp_path / ".agent").mkdir()
    (tmp_path / ".agent" / "api-keys.json").write_text("{}")
    (tmp_path / ".data" / "rag").mkdir(parents=True)
    (tmp_path / ".data" / "rag" / "index").write_text("x")
    (tmp_path / "elsewhere.txt").write_text("not watched")
    before = checkout_state(tmp_path)
    assert set(before) == {".agent/api-keys.json", ".data/rag/index"}

    (tmp_path / ".agent" / "api-keys.json").write_text('{"keys": [1]}')
    (tmp_path / ".agent" / "budgets.json").write_text("{}")
    (tmp_path / ".data" / "rag" / "index").unlink()
    (tmp_path / ".env").write_text("REDIS_URL=redis://x\n")
    (tmp_path / "elsewhere.txt").write_text("changed, not watched")
    assert changed_files(before, checkout_state(tmp_path)) == [
        ".agent/api-keys.json",
        ".agent/budgets.json",
        ".data/rag/index",
        ".env",
    ]


INNER = """
import os
from pathlib import Path

def test_one_that_writes_the_checkouts_state():
    if os.environ.get("WRITE_TO"):
        Path(os.environ["WRITE_TO"]).write_text("written by a test")
"""


def run_inner(tmp_path: Path, write_to: Path | None) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir()
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {**os.environ, "WRITE_TO": str(write_to) if write_to else ""}
    return run_pytest(str(tmp_path), "-p", "tests.support.checkout_state", env=env)


def test_a_run_whose_test_wrote_into_the_checkouts_data_folder_fails_naming_the_file(tmp_path: Path) -> None:
    data = ROOT / ".data"
    made_folder = not data.exists()
    written = data / f"written-by-a-test-{uuid.uuid4().hex[:8]}"
    data.mkdir(exist_ok=True)
    try:
        clean = run_inner(tmp_path / "clean", None)
        assert clean.returncode == 0, clean.stdout
        dirty = run_inner(tmp_path / "dirty", written)
        assert dirty.returncode == 1, dirty.stdout
        assert "1 passed" in dirty.stdout
        assert f"the tests changed the checkout's own state: .data/{written.name}" in dirty.stdout
        # ...and the test during which it happened, in the warnings summary.
        assert "test_inner.py::test_one_that_writes_the_checkouts_state" in dirty.stdout.split("warnings summary")[-1]
        assert f"the checkout's own state changed during this test: .data/{written.name}" in dirty.stdout
    finally:
        written.unlink(missing_ok=True)
        if made_folder:
            shutil.rmtree(data, ignore_errors=True)
