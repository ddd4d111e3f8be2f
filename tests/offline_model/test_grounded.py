"""The offline model answers from the platform's numbered passages, through the real
`openai` SDK, and follows the same no-match rule as the platform."""

from __future__ import annotations

import re

import openai

from agent_common.events import Citation
from agent_common.rag import context as platform
from agent_offline_model import grounded
from tests.offline_model.conftest import complete

PASSAGES = [
    ("Team handbook", "Handbook > Vacation", "Every employee gets 25 days of paid vacation per year."),
    ("Team handbook", "Handbook > 보안 정책", "모든 노트북은 디스크 암호화를 켜야 합니다."),
]


def context_block(passages: list[tuple[str, str, str]]) -> str:
    citations = [
        Citation(marker=i, title=t, source="handbook.md", version="1", location=loc, snippet=text[:20], score=0.9)
        for i, (t, loc, text) in enumerate(passages, start=1)
    ]
    return platform.context_message(citations, [text for _, _, text in passages])


def conversation(question: str, passages: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "system", "content": context_block(passages)},
        {"role": "user", "content": question},
    ]


async def test_it_quotes_the_matching_passage_and_cites_its_number(client: openai.AsyncOpenAI) -> None:
    answer = (await complete(client, conversation("How many vacation days do I get?", PASSAGES))).choices[0]
    text = answer.message.content or ""
    assert text.startswith("(offline model) According to your documents [1]:")
    assert "25 days of paid vacation" in text


async def test_a_korean_question_is_answered_in_korean_from_its_passage(client: openai.AsyncOpenAI) -> None:
    text = (
        (await complete(client, conversation("노트북 디스크 암호화 해야 하나요?", PASSAGES))).choices[0].message.content
    )
    assert text is not None and text.startswith("(오프라인 모델) 문서에 따르면 [2]:")


async def test_with_no_word_in_common_the_first_ranked_passage_is_cited(client: openai.AsyncOpenAI) -> None:
    text = (await complete(client, conversation("휴가는 며칠이에요?", PASSAGES))).choices[0].message.content
    assert text is not None and re.search(r"\[1\]", text) and "25 days" in text


async def test_a_passages_block_without_passages_gets_the_fallback_in_the_users_language(
    client: openai.AsyncOpenAI,
) -> None:
    english = (await complete(client, conversation("What is the capital of Peru?", []))).choices[0].message.content
    korean = (await complete(client, conversation("페루의 수도는 어디인가요?", []))).choices[0].message.content
    assert english == "(offline model) " + platform.FALLBACKS["en"]
    assert korean == "(오프라인 모델) " + platform.FALLBACKS["ko"]


def test_the_offline_model_reads_the_block_exactly_as_the_platform_writes_it() -> None:
    block = context_block(PASSAGES)
    assert grounded.CONTEXT_HEADER == platform.CONTEXT_HEADER
    assert grounded.FALLBACKS == platform.FALLBACKS
    assert grounded.parse_passages(block) == platform.parse_passages(block)
    assert [marker for marker, _, _ in grounded.parse_passages(block)] == [1, 2]
