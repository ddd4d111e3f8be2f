"""What the user is told when the platform cannot answer: a short message in the
user's language, next to the classified error (never instead of it).

The language is the message's when it has Hangul, else the request's locale
(`Accept-Language` or the body's `locale`), else English. Errors that are the
caller's own (`user_input`) get no fallback: their message already says what
to change.
"""

from __future__ import annotations

import re
from typing import Literal

from agent_common.errors import ErrorClass, ErrorCode, ErrorInfo
from agent_common.events import FINISH_LENGTH

Language = Literal["ko", "en"]

_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")

TRY_AGAIN: dict[Language, str] = {
    "en": "Please try again in a moment: the assistant cannot answer right now.",
    "ko": "잠시 후 다시 시도해 주세요. 지금은 답변을 드릴 수 없습니다.",
}
CUT_OFF: dict[Language, str] = {
    "en": "The answer above was cut off and is incomplete. Please try again in a moment.",
    "ko": "위 답변은 중간에 끊겨 완전하지 않습니다. 잠시 후 다시 시도해 주세요.",
}
TOO_MANY_STEPS: dict[Language, str] = {
    "en": "This request needed more steps than allowed. Please ask a narrower question.",
    "ko": "이 요청은 허용된 단계보다 많은 처리가 필요했습니다. 질문을 좀 더 좁혀 주세요.",
}
# Calls past the cap are refused one by one and the run goes on; this is shown should one ever end a run.
TOO_MANY_TOOL_CALLS: dict[Language, str] = {
    "en": "This request needed more tool calls than allowed. Please ask a narrower question.",
    "ko": "이 요청은 허용된 것보다 많은 도구 호출이 필요했습니다. 질문을 좀 더 좁혀 주세요.",
}

ABANDONED: dict[Language, str] = {
    "en": "Nobody was receiving this answer any more, so it was stopped. Please ask again.",
    "ko": "이 답변을 받는 곳이 더 이상 없어 생성을 멈췄습니다. 다시 질문해 주세요.",
}
OUTPUT_LIMIT: dict[Language, str] = {
    "en": "The answer was cut off at the output limit and is incomplete.",
    "ko": "답변이 출력 한도에서 잘려 완전하지 않습니다.",
}
# Busy, not broken: waiting helps.
BUSY: dict[Language, str] = {
    "en": "The assistant is busy right now. Please try again in a moment.",
    "ko": "지금은 요청이 많아 답변할 수 없습니다. 잠시 후 다시 시도해 주세요.",
}
# Waiting does not help: only the operators can fix the platform's model settings.
MISCONFIGURED: dict[Language, str] = {
    "en": (
        "The assistant cannot answer: the platform's model setup is wrong. "
        "Trying again will not help until the platform's operators fix it."
    ),
    "ko": "플랫폼의 모델 설정이 잘못되어 답변할 수 없습니다. 운영자가 고치기 전에는 다시 시도해도 소용이 없습니다.",
}
# Waiting does not help either: the conversation itself must get shorter.
TOO_LONG: dict[Language, str] = {
    "en": "This conversation is too long for the model. Please shorten your message or start a new conversation.",
    "ko": "대화가 모델이 한 번에 읽을 수 있는 길이를 넘었습니다. 메시지를 줄이거나 새 대화를 시작해 주세요.",
}
_BY_CODE: dict[ErrorCode, dict[Language, str]] = {
    ErrorCode.MODEL_STEP_LIMIT: TOO_MANY_STEPS,
    ErrorCode.TOOL_CALL_LIMIT: TOO_MANY_TOOL_CALLS,
    ErrorCode.MODEL_OVERLOADED: BUSY,
    ErrorCode.MODEL_RATE_LIMITED: BUSY,
    ErrorCode.MODEL_MISCONFIGURED: MISCONFIGURED,
    ErrorCode.MODEL_CONTEXT_OVERFLOW: TOO_LONG,
}


def language_of(text: str | None, locale: str | None = None) -> Language:
    if text and _HANGUL.search(text):
        return "ko"
    if locale and locale.strip().lower().startswith("ko"):
        return "ko"
    return "en"


def fallback_message(error: ErrorInfo, language: Language, *, partial: bool = False) -> str | None:
    """The message shown with `error`, or None when the error's own message is what the user needs."""
    if error.code is ErrorCode.RUN_ABANDONED:  # read by a client that reconnects late
        return ABANDONED[language]
    if error.error_class is ErrorClass.USER_INPUT:
        return None
    if partial:
        return CUT_OFF[language]
    return _BY_CODE.get(error.code, TRY_AGAIN)[language]


def finish_note(finish_reason: str | None, language: Language) -> str | None:
    """The note shown with an answer that is not whole, or None for a whole one."""
    return OUTPUT_LIMIT[language] if finish_reason == FINISH_LENGTH else None
