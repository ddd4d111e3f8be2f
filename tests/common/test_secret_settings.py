"""Secrets come from the environment or from files (a mounted Kubernetes Secret),
never print, and the production profile refuses them in a plaintext `.env`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent_cli.prompt_eval.runner import patched_env
from agent_common.settings import ModelSettings, PlaintextSecretError, RedisSettings

SECRET = "sk-test-7f3a9c1e"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("MODEL_API_KEY", "REDIS_URL", "PLATFORM_PROFILE", "PLATFORM_SECRETS_DIR", "PLATFORM_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return tmp_path


def test_a_secret_is_read_from_a_mounted_secret_file(clean_env: Path) -> None:
    secrets = clean_env / "secrets"
    secrets.mkdir()
    (secrets / "MODEL_API_KEY").write_text(SECRET + "\n")
    with patched_env({"PLATFORM_SECRETS_DIR": str(secrets)}):
        settings = ModelSettings()
    assert settings.api_key.get_secret_value() == SECRET


def test_the_environment_wins_over_the_secret_file(clean_env: Path) -> None:
    secrets = clean_env / "secrets"
    secrets.mkdir()
    (secrets / "MODEL_API_KEY").write_text("from-file")
    with patched_env({"PLATFORM_SECRETS_DIR": str(secrets), "MODEL_API_KEY": "from-env"}):
        assert ModelSettings().api_key.get_secret_value() == "from-env"


def test_a_secret_never_prints(clean_env: Path) -> None:
    with patched_env({"MODEL_API_KEY": SECRET, "REDIS_URL": f"redis://:{SECRET}@127.0.0.1:6379/0"}):
        settings = (ModelSettings(), RedisSettings())
    for shown in (repr(settings), str(settings), settings[0].model_dump_json(), settings[1].model_dump_json()):
        assert SECRET not in shown


def test_development_reads_a_secret_from_dotenv(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"MODEL_API_KEY={SECRET}\n")
    assert ModelSettings().api_key.get_secret_value() == SECRET


def test_production_refuses_a_secret_in_dotenv_naming_it_but_not_its_value(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"MODEL_NAME=gpt-4o-mini\nMODEL_API_KEY={SECRET}\n")
    with patched_env({"PLATFORM_PROFILE": "production"}), pytest.raises(PlaintextSecretError) as refused:
        ModelSettings()
    assert "MODEL_API_KEY" in str(refused.value) and SECRET not in str(refused.value)


def test_production_refuses_it_even_when_the_environment_also_sets_it(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"MODEL_API_KEY={SECRET}\n")
    env = {"PLATFORM_PROFILE": "production", "MODEL_API_KEY": "from-env"}
    with patched_env(env), pytest.raises(PlaintextSecretError):
        ModelSettings()


def test_production_accepts_plain_settings_in_dotenv(clean_env: Path) -> None:
    (clean_env / ".env").write_text("MODEL_NAME=gpt-4o-mini\n")
    with patched_env({"PLATFORM_PROFILE": "production"}):
        assert ModelSettings().name == "gpt-4o-mini"


def test_a_production_gateway_with_a_secret_in_dotenv_does_not_start(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"REDIS_URL=redis://:{SECRET}@127.0.0.1:1/0\n")
    done = subprocess.run(
        [sys.executable, "-m", "agent_gateway"],
        cwd=clean_env,
        env={"PATH": "/usr/bin:/bin", "PLATFORM_PROFILE": "production", "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "REDIS_URL" in done.stderr and "PlaintextSecretError" in done.stderr
    assert SECRET not in done.stderr + done.stdout
