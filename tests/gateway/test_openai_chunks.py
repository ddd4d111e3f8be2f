"""A token's OpenAI chunk, written from a template of the chunk's own JSON, is byte for byte
the chunk the schema makes, whatever the text: Korean, quotes, escapes, control characters,
emoji, the template's own marker."""

from __future__ import annotations

import orjson
import pytest

from agent_common.messages import ChatRequested
from agent_gateway.openai_schemas import Delta
from agent_gateway.routes.openai_compat import _TEXT_MARK, _Completion

TEXTS = [
    "",
    "Hello",
    "안녕하세요, 민아 님",
    'a "quoted" \\ back\\slash',
    "line\nbreak\ttab\r\x00\x1f\x7f",
    "\u2028\u2029\ufeff",
    "😀 emoji 🇰🇷",
    _TEXT_MARK,
    '"},"finish_reason":"stop',  # JSON-looking text stays text
]


@pytest.mark.parametrize("text", TEXTS)
def test_a_token_chunk_is_the_schemas_chunk_to_the_byte(text: str) -> None:
    submitted = ChatRequested(
        request_id="req_0123456789abcdef", session_id="ses_0123456789abcdef", user_id="u", message="hi", deadline_at=0
    )
    completion = _Completion(submitted, 1_765_000_000)
    fast = completion.token_chunk(text)
    assert fast == completion.chunk(Delta(content=text))
    assert orjson.loads(fast["data"])["choices"][0]["delta"]["content"] == text
