"""Localized text for people: error messages in English or Korean, as the caller
asked (`locale` or `Accept-Language`). The bus's wire messages are elsewhere
(`agent_common.messages`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Localized:
    en: str
    ko: str

    def for_locale(self, locale: str | None) -> str:
        return self.ko if locale and locale.lower().startswith("ko") else self.en


def first_language(accept_language: str | None) -> str | None:
    if not accept_language:
        return None
    return accept_language.split(",")[0].split(";")[0].strip() or None
