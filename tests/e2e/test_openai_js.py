"""The OpenAI-compatible API as the official JavaScript SDK (`openai` from npm, on Node.js) uses it,
against the running embedded platform. `tests/js/openai_client.mjs` is the application; the SDK
is installed from `tests/js/package-lock.json` by `scripts/ensure-system-deps.sh` (`make test`).
Without Node.js or the SDK the test is skipped with the reason; with `CI=true` it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Secured
from tests.support.services import require_service

JS = Path(__file__).resolve().parents[1] / "js"


def node_with_sdk() -> str:
    node = shutil.which("node")
    if node is None:
        require_service("JavaScript SDK", "no `node` on PATH (Node.js 20 or later)")
    if not (JS / "node_modules" / "openai" / "package.json").is_file():
        require_service("JavaScript SDK", f"the `openai` package is not installed: `npm ci --prefix {JS}`")
    return str(node)


@pytest.fixture(scope="module")
def seen(embedded_secured: Secured) -> dict[str, Any]:
    node = node_with_sdk()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{embedded_secured.platform.base_url}/v1",
        "OPENAI_API_KEY": embedded_secured.alice["authorization"].removeprefix("Bearer "),
    }
    done = subprocess.run(
        [node, str(JS / "openai_client.mjs")], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_models_list_and_a_whole_answer(seen: dict[str, Any]) -> None:
    assert seen["models"] == ["agent"]
    whole = seen["whole"]
    assert whole["content"].startswith("(offline model)") and '"Hello there"' in whole["content"]
    assert (whole["finish_reason"], whole["model"]) == ("stop", "agent")
    assert whole["usage"]["total_tokens"] == whole["usage"]["prompt_tokens"] + whole["usage"]["completion_tokens"]
    assert whole["platform"]["session_id"].startswith("ses_")


def test_a_streamed_answer_with_its_usage(seen: dict[str, Any]) -> None:
    streamed = seen["streamed"]
    assert streamed["first_role"] == "assistant"
    assert streamed["text"] == seen["whole"]["content"]  # the offline model answers a message the same way
    assert streamed["finish_reasons"] == ["stop"]
    assert streamed["last_choices"] == 0 and streamed["usage"]["completion_tokens"] > 0
    assert streamed["session_id"].startswith("ses_")


def test_refusals_are_the_sdks_own_errors_with_the_platforms_code(seen: dict[str, Any]) -> None:
    wrong_key = seen["wrong_key"]
    assert wrong_key["isAuthenticationError"] and (wrong_key["status"], wrong_key["code"]) == (401, "AUTH_INVALID")
    tools = seen["tools"]
    assert tools["isBadRequestError"]
    assert (tools["status"], tools["code"], tools["param"]) == (400, "PARAMETER_UNSUPPORTED", "tools")


def test_a_stream_that_fails_midway_throws_after_the_text_so_far(seen: dict[str, Any]) -> None:
    failed = seen["mid_stream"]
    assert failed["raised"] and failed["isAPIError"]
    assert failed["text"].startswith("(offline model)")
    assert failed["code"] == "MODEL_STREAM_INTERRUPTED"
