"""The offline model: a deterministic, OpenAI-compatible chat-completions server.

The platform's embedded default model (no API key, no internet) and a test
double that speaks the real wire protocol. Every answer is labelled offline.
"""

from agent_offline_model.app import create_app
from agent_offline_model.settings import OfflineModelSettings

__all__ = ["OfflineModelSettings", "create_app"]
