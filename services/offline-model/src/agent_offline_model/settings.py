"""The offline model's settings, read from `OFFLINE_MODEL_*` environment variables.

Each field's docstring is its documentation: `docs/configuration.md` is
generated from it (`scripts/config_docs.py`).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class OfflineModelSettings(BaseSettings):
    """The offline model: a deterministic OpenAI-compatible server, labelled offline in every answer."""

    model_config = SettingsConfigDict(env_prefix="OFFLINE_MODEL_", extra="ignore", use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    """Interface to listen on (`0.0.0.0` in a container)."""
    port: int = Field(default=8080, ge=1, le=65_535)
    """Port to listen on."""
    api_key: SecretStr | None = None
    """When set, requests must carry `Authorization: Bearer <key>` (401 otherwise). Unset: no key needed."""
    name: str = Field(default="offline-1", min_length=1)
    """Model id served by `/v1/models` and reported in every completion."""
    first_token_delay_ms: int = Field(default=0, ge=0, le=600_000)
    """Pause before the first streamed token, to imitate a model's time to first token."""
    token_delay_ms: int = Field(default=0, ge=0, le=60_000)
    """Pause between streamed tokens."""
    context_window: int | None = Field(default=None, ge=16)
    """Prompt tokens (words and punctuation) a call may have, reported at `/props` as llama.cpp's server
    reports its `n_ctx`; a longer prompt is refused as that server refuses it. Unset: no limit, no `/props`."""

    def required_api_key(self) -> str | None:
        """The key requests must present, or None; an empty value counts as unset."""
        if self.api_key is None:
            return None
        return self.api_key.get_secret_value() or None


SETTINGS_CLASSES = (OfflineModelSettings,)
