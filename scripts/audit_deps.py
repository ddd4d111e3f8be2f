"""Audit the locked runtime dependencies for known vulnerabilities (pip-audit).

Fails when a vulnerability is found. When the vulnerability data cannot be
reached from this machine (no route to PyPI's JSON API or OSV), it says so in
one line and does not fail: an audit that could not run is reported, never
passed off as clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"


def locked_requirements() -> str:
    return subprocess.run(
        [
            str(UV),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-workspace",
            "--no-hashes",
            "--format",
            "requirements-txt",
            "-q",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def main() -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write(locked_requirements())
        requirements.flush()
        done = subprocess.run(
            [
                str(PIP_AUDIT),
                "-r",
                requirements.name,
                "--no-deps",
                "--disable-pip",
                "--progress-spinner",
                "off",
                "-f",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"dependency audit: NOT RUN: the vulnerability service could not be reached ({last[:160]})")
        return 0
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        print(
            f"dependency audit: NOT RUN: none of {len(dependencies)} locked packages could be looked up "
            "(PyPI's vulnerability data is not reachable from this machine)"
        )
        return 0
    vulnerable = [(d["name"], d["version"], v["id"]) for d in audited for v in d.get("vulns", [])]
    for name, version, vuln in vulnerable:
        print(f"dependency audit: {name} {version}: {vuln}")
    skipped = len(dependencies) - len(audited)
    print(
        f"dependency audit: {len(audited)} packages audited, {len(vulnerable)} vulnerabilities"
        + (f", {skipped} could not be looked up" if skipped else "")
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
