"""Who is calling: API keys and, optionally, JWTs, resolved to a `Caller`."""

from agent_gateway.auth.callers import ANONYMOUS_USER, Authenticator, Caller

__all__ = ["ANONYMOUS_USER", "Authenticator", "Caller"]
