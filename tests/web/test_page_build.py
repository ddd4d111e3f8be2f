"""The committed page is the build of `web/`: rebuilt here from the sources with the locked
toolchain (`npm ci`), type-checked, and compared byte for byte with `agent_gateway/web_page/static`.
Needs Node and npm (`scripts/ensure-system-deps.sh`): skipped with a reason without, a failure in CI."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from agent_gateway.web_page import STATIC_DIR
from tests.support.services import require_service

WEB = Path(__file__).resolve().parents[2] / "web"


@pytest.fixture(scope="module")
def npm() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        require_service("Node", "node and npm not found (Debian packages nodejs, npm)")
    assert npm is not None
    lock = WEB / "package-lock.json"
    installed = WEB / "node_modules" / ".package-lock.json"
    # `npm ci` only when the lock changed since the last install: it wipes node_modules first.
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, capture_output=True, timeout=300)
    return npm


def test_the_committed_page_is_the_build_of_its_sources(npm: str, tmp_path: Path) -> None:
    subprocess.run(["node", "build.mjs", str(tmp_path)], cwd=WEB, check=True, capture_output=True, timeout=120)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built == sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())
    _, differ, errors = filecmp.cmpfiles(tmp_path, STATIC_DIR, built, shallow=False)
    assert not differ and not errors, f"stale build of web/: {differ or errors}; run `make web`"


def test_the_page_type_checks(npm: str) -> None:
    checked = subprocess.run(
        [npm, "run", "--silent", "typecheck"], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
