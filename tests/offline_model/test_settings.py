"""Settings come from OFFLINE_MODEL_* environment variables."""

from __future__ import annotations

import pytest

from agent_offline_model.settings import SETTINGS_CLASSES, OfflineModelSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "API_KEY", "NAME", "FIRST_TOKEN_DELAY_MS", "TOKEN_DELAY_MS"):
        monkeypatch.delenv(f"OFFLINE_MODEL_{name}", raising=False)
    settings = OfflineModelSettings()
    assert (settings.host, settings.port, settings.name) == ("127.0.0.1", 8080, "offline-1")
    assert settings.api_key is None and settings.required_api_key() is None
    assert (settings.first_token_delay_ms, settings.token_delay_ms) == (0, 0)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFLINE_MODEL_HOST", "0.0.0.0")
    monkeypatch.setenv("OFFLINE_MODEL_PORT", "9123")
    monkeypatch.setenv("OFFLINE_MODEL_API_KEY", "s3cret")
    monkeypatch.setenv("OFFLINE_MODEL_NAME", "offline-2")
    monkeypatch.setenv("OFFLINE_MODEL_FIRST_TOKEN_DELAY_MS", "250")
    monkeypatch.setenv("OFFLINE_MODEL_TOKEN_DELAY_MS", "20")
    settings = OfflineModelSettings()
    assert (settings.host, settings.port, settings.name) == ("0.0.0.0", 9123, "offline-2")
    assert settings.required_api_key() == "s3cret" and "s3cret" not in repr(settings)
    assert (settings.first_token_delay_ms, settings.token_delay_ms) == (250, 20)


def test_an_empty_api_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFLINE_MODEL_API_KEY", "")
    assert OfflineModelSettings().required_api_key() is None


def test_every_setting_is_documented() -> None:
    assert (OfflineModelSettings,) == SETTINGS_CLASSES
    for field, info in OfflineModelSettings.model_fields.items():
        assert info.description, field
