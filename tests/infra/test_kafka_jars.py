"""The Kafka jars (`scripts/kafka/kafka.sh jars`) are fetched once however many test workers start
a broker at the same moment: the others wait for that fetch, and none empties the folder under a
broker that is starting (it failed with `ClassNotFoundException: kafka.tools.StorageTool`).

Maven is replaced by a script on PATH that records each fetch and takes a second over it, so that
three fetches started together would overlap: what is tested is kafka.sh, not Maven."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "scripts" / "kafka" / "kafka.sh"

SLOW_MAVEN = """#!/usr/bin/env bash
set -euo pipefail
echo "start $$" >> "$FETCHES"
for arg in "$@"; do [[ $arg == -DoutputDirectory=* ]] && out=${arg#-DoutputDirectory=}; done
sleep 1
touch "$out/kafka_2.13.jar"
echo "end $$" >> "$FETCHES"
"""


def test_brokers_starting_together_fetch_the_jars_once_and_each_finds_them_complete(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text(SLOW_MAVEN)
    (bin_dir / "mvn").chmod(0o755)
    libs, fetches = tmp_path / "libs", tmp_path / "fetches"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KAFKA_LIBS_DIR": str(libs),
        "FETCHES": str(fetches),
    }
    # What `start` does first, then what the broker's class path needs: every jar there.
    check = f'"{KAFKA_SH}" jars && test -f "$KAFKA_LIBS_DIR/kafka_2.13.jar"'
    starting = [subprocess.Popen(["bash", "-c", check], env=env) for _ in range(3)]
    assert [p.wait(timeout=60) for p in starting] == [0, 0, 0]
    assert [line.split()[0] for line in fetches.read_text().splitlines()] == ["start", "end"]
    # Fetched once, it is kept: the next start fetches nothing.
    subprocess.run([str(KAFKA_SH), "jars"], env=env, check=True, timeout=30)
    assert len(fetches.read_text().splitlines()) == 2
