"""Bytes to text for the text formats: UTF-8 (with or without BOM), else a clear failure."""

from __future__ import annotations

from agent_common.errors import ErrorCode, PlatformError


def decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlatformError(
            ErrorCode.RAG_DOCUMENT_INVALID, "The document is not valid UTF-8 text.", offset=exc.start
        ) from exc
