"""The embedded platform pointed at llama.cpp's server, as an operator would point it at a real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.llama_server import MAX_ANSWER_TOKENS
from tests.support.platform import Platform, embedded_platform
from tests.support.services import ModelServer

# The operator's name for the model: the server answers with its own.
CONFIGURED_NAME = "smollm2"


def real_model_env(server: ModelServer, workdir: Path, pages_url: str = "http://127.0.0.1:9/") -> dict[str, str]:
    return {
        "MODEL_BASE_URL": server.base_url,
        "MODEL_NAME": CONFIGURED_NAME,
        "MODEL_API_KEY": "unused",
        # As an operator sizes it for a small window: no more than the server's own cap.
        "MODEL_MAX_OUTPUT_TOKENS": str(MAX_ANSWER_TOKENS),
        # Never the developer's own key file: no key exists, so the platform is anonymous.
        "AUTH_KEYS_FILE": str(workdir / "api-keys.json"),
        # The page server listens on loopback: the allowlist names it, and its port.
        "TOOL_HTTP_ALLOWLIST": "127.0.0.1",
        "TOOL_HTTP_ALLOWED_PORTS": str(httpx.URL(pages_url).port),
        "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        # Room for a message longer than the server's context window.
        "GATEWAY_MAX_MESSAGE_CHARS": "12000",
        "GATEWAY_MAX_BODY_BYTES": str(3 * 12000 + 1024),
    }


@pytest.fixture(scope="session")
def on_real_model(
    model_server: ModelServer, pages_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """One embedded platform whose model is the session's llama.cpp server."""
    workdir = tmp_path_factory.mktemp("real-model-platform")
    with embedded_platform(real_model_env(model_server, workdir, pages_url)) as platform:
        yield platform
