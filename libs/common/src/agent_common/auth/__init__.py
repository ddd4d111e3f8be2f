"""Who may call the platform: API keys, shared by the gateway (which checks them)
and the command line (which creates, lists and revokes them)."""

from agent_common.auth.api_keys import ApiKeyRecord, ApiKeyStore, NewApiKey, hash_key, looks_like_key
from agent_common.auth.file_store import FileApiKeyStore
from agent_common.auth.scopes import Scope, known_scopes

__all__ = [
    "ApiKeyRecord",
    "ApiKeyStore",
    "FileApiKeyStore",
    "NewApiKey",
    "Scope",
    "hash_key",
    "known_scopes",
    "looks_like_key",
]
