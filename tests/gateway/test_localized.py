"""`localized.py`: which language a person is answered in."""

from __future__ import annotations

import pytest

from agent_gateway.localized import Localized, first_language

TEXT = Localized("The message is too long.", "메시지가 너무 깁니다.")


@pytest.mark.parametrize("locale", ["ko", "ko-KR", "KO", "ko_KR"])
def test_any_korean_locale_gets_the_korean_text(locale: str) -> None:
    assert TEXT.for_locale(locale) == "메시지가 너무 깁니다."


@pytest.mark.parametrize("locale", [None, "", "en", "en-US", "ja"])
def test_every_other_locale_gets_the_english_text(locale: str | None) -> None:
    assert TEXT.for_locale(locale) == "The message is too long."


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8", "ko-KR"),
        ("en;q=0.5, ko", "en"),  # the first listed, not the highest weighted
        ("  ko ", "ko"),
        (None, None),
        ("", None),
        (";q=1", None),
    ],
)
def test_first_language_is_the_first_tag_of_accept_language(header: str | None, language: str | None) -> None:
    assert first_language(header) == language
