"""`agent run` (what `make run` starts): one process, the address and a curl example printed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent_cli.main import _banner
from agent_common.settings import ModelSettings
from tests.support.platform import embedded_platform, scratch_state, wait_ready
from tests.support.web import free_tcp_port


def agent_run_env(folder: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "GATEWAY_", "TOOL_"))}
    return {
        **env,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **scratch_state(folder),
        "RAG_STORE_PATH": str(folder / "rag"),
    }


# The folder each running `agent run` keeps its keys and documents in, by base URL.
AGENT_RUN_FOLDERS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    port = free_tcp_port()
    log = tmp_path_factory.mktemp("agent-run") / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_cli.main", "run"],
            env=agent_run_env(log.parent, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            AGENT_RUN_FOLDERS[base_url] = log.parent
            wait_ready(base_url, timeout=60)
            yield base_url, log.read_text()
        finally:
            proc.terminate()
            proc.wait(20)


def test_agent_run_prints_its_address_and_a_working_curl_example(agent_run: tuple[str, str]) -> None:
    base_url, output = agent_run
    assert base_url in output
    assert f"curl -s {base_url}/api/chat" in output
    assert "OFFLINE" in output


def test_a_second_agent_run_on_the_same_port_says_so_in_one_line(agent_run: tuple[str, str]) -> None:
    base_url, _ = agent_run
    port = int(base_url.rsplit(":", 1)[1])
    second = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "run"],
        env=agent_run_env(AGENT_RUN_FOLDERS[base_url], port),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode != 0
    assert f"already running on port {port}" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert httpx.get(f"{base_url}/ready").status_code == 200  # the first one is untouched


def test_a_second_agent_run_on_the_same_documents_says_which_folder_is_held(agent_run: tuple[str, str]) -> None:
    base_url, _ = agent_run
    folder = AGENT_RUN_FOLDERS[base_url]
    second = subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "run"],
        env=agent_run_env(folder, free_tcp_port()),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode != 0
    assert f"document store folder {folder / 'rag'} is in use by another process" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout


def test_agent_run_says_loudly_that_it_serves_anonymous_callers(agent_run: tuple[str, str]) -> None:
    _, output = agent_run
    assert "ANONYMOUS" in output
    assert "agent keys create" in output


def test_agent_run_serves_the_whole_platform_with_the_offline_model(agent_run: tuple[str, str]) -> None:
    base_url, _ = agent_run
    ready = httpx.get(f"{base_url}/ready").json()
    assert ready["checks"] == {"bus": "ok", "events": "ok"}
    answer = httpx.post(f"{base_url}/api/chat", json={"message": "hi"}, timeout=30).json()["answer"]
    assert answer.startswith("(offline model)")


def test_a_model_provider_outage_leaves_the_platform_ready_and_shows_in_the_answers_and_metrics() -> None:
    # Readiness says whether this process can take work; a provider outage must not take it
    # out of rotation (it would stall rollouts and drains): runs end classified instead.
    dead_model = f"http://127.0.0.1:{free_tcp_port()}/v1"
    with embedded_platform({"MODEL_BASE_URL": dead_model}, ready=False) as platform:
        response = httpx.get(f"{platform.base_url}/ready", timeout=10)
        assert response.status_code == 200, response.text
        assert "model" not in response.json()["checks"]
        answer = httpx.post(f"{platform.base_url}/api/chat", json={"message": "hi"}, timeout=60)
        assert answer.status_code == 502 and answer.json()["error"]["code"] == "MODEL_UNAVAILABLE", answer.text


def test_the_banner_names_the_configured_models_url_and_name_never_its_key() -> None:
    model = ModelSettings(
        base_url="https://user:hunter2@llm.example.com:8443/v1?api-key=sk-in-the-url",
        name="smollm2-135m",
        api_key="sk-secret-key",
    )
    banner = _banner("127.0.0.1", 8000, model, keys_exist=True)
    assert "Model: smollm2-135m at https://llm.example.com:8443/v1\n" in banner
    assert not any(secret in banner for secret in ("sk-secret-key", "hunter2", "sk-in-the-url", "user:"))
