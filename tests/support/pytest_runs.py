"""A pytest run of its own, as `make test` starts one: for the tests of the suite's own machinery
(its plugins, its scheduling, its tier policy), which can only be seen from outside a run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m pytest *args` from the checkout, its cache off (runs at once must not share it);
    `env` replaces the environment when given."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=dict(env) if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
