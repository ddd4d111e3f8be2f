"""Session memory is bounded by turns and by estimated tokens, the same in memory as in Redis."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from agent_common.sessions import MemorySessionStore, Turn
from agent_common.token_estimate import estimate_tokens


def test_english_costs_about_a_token_per_four_characters_and_korean_one_per_syllable() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("hello world!") == 3
    assert estimate_tokens("안녕하세요") == 5
    assert estimate_tokens("Seoul 서울") == 2 + 2


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_the_estimate_counts_ascii_by_fours_and_every_other_character_as_one(text: str) -> None:
    # Any text: Korean, emoji, control characters and lone surrogates (which no codec carries) too.
    ascii_chars = sum(1 for char in text if ord(char) < 128)
    assert estimate_tokens(text) == math.ceil(ascii_chars / 4) + len(text) - ascii_chars


async def test_the_memory_store_keeps_the_newest_turns_within_the_token_budget() -> None:
    store = MemorySessionStore(max_turns=10, ttl_s=60, max_tokens=20)
    turns = [Turn.of(f"req_{n}", user="서울 날씨", assistant="맑음") for n in range(6)]  # 7 tokens each
    for t in turns:
        await store.append("ses_budget0001", t)
    assert await store.history("ses_budget0001") == turns[-2:]


async def test_the_newest_turn_is_kept_even_over_budget() -> None:
    store = MemorySessionStore(max_turns=10, ttl_s=60, max_tokens=20)
    await store.append("ses_budget0002", Turn.of("req_1", user="short", assistant="ok"))
    long = Turn.of("req_2", user="긴 질문 " * 50, assistant="")
    await store.append("ses_budget0002", long)
    assert await store.history("ses_budget0002") == [long]


def test_a_turn_stored_without_its_size_is_estimated() -> None:
    legacy = Turn(request_id="r", user="hello there", assistant="hi")
    assert legacy.tokens == 0 and legacy.cost() == estimate_tokens("hello there") + estimate_tokens("hi")
