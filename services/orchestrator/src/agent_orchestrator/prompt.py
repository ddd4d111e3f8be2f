"""What the model is sent: the system prompt, the session's history, the new turn."""

from __future__ import annotations

from typing import Any

from agent_common.sessions import Turn


def build_messages(system_prompt: str, history: list[Turn], user_message: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
    for turn in history:
        messages.append({"role": "user", "content": turn.user})
        messages.append({"role": "assistant", "content": turn.assistant})
    messages.append({"role": "user", "content": user_message})
    return messages
