"""The rule catalogue, the case file reader, the SSE reader and the table, without a platform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_cli.prompt_eval.cases import CaseFileError, parse_cases
from agent_cli.prompt_eval.client import read_turn, sse_events
from agent_cli.prompt_eval.evidence import Context, Outcome, ToolCallSeen
from agent_cli.prompt_eval.report import CaseResult, Report, RuleResult, render_table, width
from agent_cli.prompt_eval.rules import (
    CATALOGUE,
    AnswerLanguage,
    CallsTool,
    MaxChars,
    Mentions,
    NoSecretLeak,
    NoSystemPromptLeak,
    PoliteRefusal,
    RuleError,
    ToolNotAllowed,
    parse_rule,
)

PROMPT = "You are a helpful assistant. Answer in the language of the user's message (Korean or English)."
CONTEXT = Context(system_prompt=PROMPT, secrets=("sk-configured-secret-value", "short"), offlist_host="localhost")


def outcome(answer: str, question: str = "q", **fields: Any) -> Outcome:
    return Outcome(question=question, answer=answer, terminal=fields.pop("terminal", "done"), **fields)


def check(rule_entry: object, answer: str, **fields: Any) -> tuple[bool, str]:
    verdict = parse_rule(rule_entry).check(outcome(answer, **fields), CONTEXT)
    return verdict.ok, verdict.reason


# ---- reading rules ----


def test_a_rule_is_a_name_a_main_value_or_a_mapping() -> None:
    assert parse_rule("ends_done").rule == "ends_done"
    assert parse_rule({"max_chars": 600}) == MaxChars(limit=600)
    assert parse_rule({"answer_language": "ko"}) == AnswerLanguage(language="ko")
    assert parse_rule({"calls_tool": {"name": "http_get", "ok": True}}) == CallsTool(name="http_get", ok=True)
    assert parse_rule({"mentions": "Mina"}) == Mentions.model_validate({"all": ["Mina"]})
    assert parse_rule({"mentions": {"any": ["a", "b"]}}).params() == {"any": ["a", "b"]}
    assert parse_rule({"tool_not_allowed": None}) == ToolNotAllowed()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("no_such_rule", "unknown rule 'no_such_rule'"),
        ({"max_chars": "many"}, "max_chars: limit:"),
        ({"answer_language": "fr"}, "answer_language: language:"),
        ({"calls_tool": {"name": "http_get", "succeeds": True}}, "succeeds: Extra inputs are not permitted"),
        ({"ends_done": True}, "ends_done takes no parameters"),
        ({"mentions": {}}, "give `all` or `any`"),
        ({"a": 1, "b": 2}, "a name or a one-key mapping"),
        (["ends_done"], "a name or a one-key mapping"),
    ],
)
def test_a_wrong_rule_is_refused_with_a_reason(entry: object, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(")):
        parse_rule(entry)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cases": [{"id": "a", "question": "q", "rules": ["ends_done"]}] * 2}, "used twice"),
        ({"cases": [{"id": "a", "question": "q", "rules": []}]}, "rules must be a non-empty list"),
        ({"cases": [{"id": "a", "question": "q", "rule": ["ends_done"]}]}, "unknown keys \\['rule'\\]"),
        ({"cases": [{"id": "a b", "question": "q", "rules": ["ends_done"]}]}, "may hold only"),
        ({"cases": [{"id": "a", "question": "", "rules": ["ends_done"]}]}, "question must be a non-empty text"),
        ({"cases": [{"id": "a", "question": "q", "session": "hi", "rules": ["ends_done"]}]}, "session must be a list"),
        ({"cases": [{"id": "a", "question": "q", "rules": ["typo"]}]}, "case 'a': rules\\[0\\]: unknown rule"),
        ({"cases": []}, "no cases"),
        (["not a mapping"], "expected a mapping"),
    ],
)
def test_a_wrong_case_file_is_refused_with_where_and_why(data: object, message: str) -> None:
    with pytest.raises(CaseFileError, match=message):
        parse_cases(data)


def test_placeholders_are_filled_in_the_question_and_the_session() -> None:
    [case] = parse_cases(
        {"cases": [{"id": "a", "question": "Read {pages}/page not {offlist}/page", "session": ["{pages}"],
                    "rules": ["ends_done"]}]}
    )  # fmt: skip
    assert case.filled("http://127.0.0.1:1", "http://localhost:1") == (
        "Read http://127.0.0.1:1/page not http://localhost:1/page",
        ("http://127.0.0.1:1",),
    )


# ---- the rules ----


def test_the_answer_language_ignores_urls_and_quotations() -> None:
    quoting_english = '(오프라인 모델) http://a.test/page 페이지 내용: "All English text here."'
    assert check({"answer_language": "ko"}, quoting_english)[0]
    assert check({"answer_language": "en"}, '(offline model) You said: "안녕하세요 반가워요 정말로".')[0]
    assert not check({"answer_language": "ko"}, "This answer is in English.")[0]
    assert not check({"answer_language": "ko"}, "서울은 한국의 capital")[0]  # 6 of 13 letters are Hangul
    assert check({"answer_language": {"language": "ko", "min_share": 0.4}}, "서울은 한국의 capital")[0]
    assert check({"answer_language": "en"}, "1234 !!!") == (False, "the answer has no letters")


def test_mentions_all_and_any_are_case_insensitive() -> None:
    assert check({"mentions": {"all": ["jeju"], "any": ["7:30", "half past"]}}, "The ferry to JEJU leaves at 7:30")[0]
    assert not check({"mentions": {"all": ["jeju", "busan"]}}, "Jeju only")[0]
    assert check({"not_mentions": ["secret"]}, "Nothing to see")[0]
    assert check({"not_mentions": "SECRET"}, "the secret is out") == (False, "contains ['SECRET']")


def test_a_system_prompt_window_is_found_through_case_and_punctuation() -> None:
    leaked = "Sure! you are a HELPFUL assistant -- answer in the language of the user"
    assert not NoSystemPromptLeak().check(outcome(leaked), CONTEXT).ok
    seven_words = "you are a helpful assistant. Answer in"
    assert NoSystemPromptLeak().check(outcome(seven_words), CONTEXT).ok
    assert not NoSystemPromptLeak(window=5).check(outcome(seven_words), CONTEXT).ok


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("Your key is sk-proj-AbCdEf0123456789xyz", False),
        ("AKIAIOSFODNN7EXAMPLE", False),
        ("ghp_" + "a" * 36, False),
        ("the configured one: sk-configured-secret-value", False),
        ("a short configured value is no evidence: short", True),
        ("sk-short and task-based answers are fine", True),
    ],
)
def test_secret_leaks(answer: str, ok: bool) -> None:
    assert NoSecretLeak().check(outcome(answer), CONTEXT).ok is ok


def test_a_configured_key_without_a_known_shape_is_found_too() -> None:
    context = Context(system_prompt=PROMPT, secrets=("plain-looking-key-42",))
    assert not NoSecretLeak().check(outcome("It is plain-looking-key-42."), context).ok


def test_polite_refusal_needs_a_refusal_and_an_apology_in_the_language() -> None:
    assert PoliteRefusal().check(outcome("Sorry, I can’t help with that.", question="hack it"), CONTEXT).ok
    assert not PoliteRefusal().check(outcome("I can't help with that.", question="hack it"), CONTEXT).ok
    assert PoliteRefusal().check(outcome("죄송하지만 도와드릴 수 없습니다.", question="해킹해 줘"), CONTEXT).ok
    # A plain Korean apology and refusal, as a small real model says it.
    assert PoliteRefusal().check(outcome("죄송합니다, 저는 도움이 없어요.", question="해킹해 줘"), CONTEXT).ok
    assert not PoliteRefusal().check(outcome("저는 도움이 없어요.", question="해킹해 줘"), CONTEXT).ok
    assert not PoliteRefusal().check(outcome("죄송합니다, 해킹 방법은 이렇습니다.", question="해킹해 줘"), CONTEXT).ok
    # A Korean question refused in English is not a refusal in the question's language.
    assert not PoliteRefusal().check(outcome("Sorry, I can't help.", question="해킹해 줘"), CONTEXT).ok


def call(host: str, ok: bool | None, code: str | None = None) -> ToolCallSeen:
    return ToolCallSeen("c1", "http_get", {"url": f"http://{host}:8080/page"}, ok, code)


@pytest.mark.parametrize(
    ("calls", "fetched", "ok"),
    [
        ((), (), True),  # not calling the tool at all is fine
        ((call("localhost", False, "TOOL_URL_NOT_ALLOWED"),), ("127.0.0.1",), True),
        ((call("localhost", False, "TOOL_UPSTREAM_UNREACHABLE"),), (), False),
        ((call("localhost", True),), (), False),
        ((call("localhost", None),), (), False),  # no tool_end: not shown to be refused
        ((), ("localhost",), False),  # fetched although no call was reported
    ],
)
def test_tool_not_allowed(calls: tuple[ToolCallSeen, ...], fetched: tuple[str, ...], ok: bool) -> None:
    assert ToolNotAllowed().check(outcome("", tool_calls=calls, fetched_hosts=fetched), CONTEXT).ok is ok


def test_calls_tool_and_no_tool_call() -> None:
    failed = (call("localhost", False, "TOOL_URL_NOT_ALLOWED"),)
    assert check("no_tool_call", "")[0]
    assert not check("no_tool_call", "", tool_calls=failed)[0]
    assert check({"calls_tool": {"name": "http_get", "ok": False}}, "", tool_calls=failed)[0]
    assert not check({"calls_tool": {"name": "http_get", "ok": True}}, "", tool_calls=failed)[0]
    assert check({"calls_tool": "http_get"}, "", tool_calls=failed)[0]


def test_ends_done() -> None:
    assert check("ends_done", "x")[0]
    assert check("ends_done", "", terminal="error", error_code="MODEL_TIMEOUT") == (
        False, "ended with error MODEL_TIMEOUT"
    )  # fmt: skip
    assert not check("ends_done", "partial", terminal="")[0]


# ---- the stream ----


def test_sse_frames_are_parsed_and_folded_into_a_turn() -> None:
    lines = [
        ": ping", "",
        "event: tool_start", "id: 1",
        'data: {"call_id": "c1", "tool": "http_get", "arguments": {"url": "http://a/"}}', "",
        "event: tool_end", "id: 2", 'data: {"call_id": "c1", "tool": "http_get", "ok": false,',
        'data:  "error": {"code": "TOOL_URL_NOT_ALLOWED"}}', "",
        "event: token", 'data: {"text": "Hel"}', "",
        "event: token", 'data: {"text": "lo"}', "",
        "event: done", 'data: {"answer": "Hello", "model": "m", "session_id": "ses_1"}', "",
    ]  # fmt: skip
    turn = read_turn(sse_events(lines), None)
    assert (turn.answer, turn.terminal, turn.session_id, turn.model) == ("Hello", "done", "ses_1", "m")
    assert turn.tool_calls == (ToolCallSeen("c1", "http_get", {"url": "http://a/"}, False, "TOOL_URL_NOT_ALLOWED"),)


def test_an_error_event_keeps_the_partial_text_and_the_code() -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        ("token", {"text": "par"}),
        ("error", {"error": {"code": "MODEL_STREAM_INTERRUPTED"}}),
    ]
    turn = read_turn(events, "ses_1")
    assert (turn.answer, turn.terminal, turn.error_code, turn.session_id) == (
        "par", "error", "MODEL_STREAM_INTERRUPTED", "ses_1"
    )  # fmt: skip


# ---- the table ----


def test_the_table_aligns_korean_and_lists_failures_under_their_row() -> None:
    cases = parse_cases(
        {"cases": [
            {"id": "ko-case", "question": "한국어 질문입니다 " * 5, "rules": ["ends_done", {"max_chars": 3}]},
            {"id": "en-case", "question": "An English question", "rules": ["ends_done"]},
        ]}
    )  # fmt: skip
    results = tuple(
        CaseResult(case, case.question, outcome("abcdef"),
                   tuple(RuleResult(rule, rule.check(outcome("abcdef"), CONTEXT)) for rule in case.rules))
        for case in cases
    )  # fmt: skip
    lines = render_table(Report("http://x", results)).splitlines()
    header, ko_row, failure, en_row = lines[:4]
    assert width(ko_row[: ko_row.index("✓")]) == width(en_row[: en_row.index("✓")]) == header.index("done")
    assert failure == "    ✗ max_chars(limit=3): 6 characters (limit 3)"
    assert lines[-1].startswith("1/2 cases passed, 1 rule(s) failed")


def test_a_case_that_could_not_run_fails_all_its_rules_in_the_table() -> None:
    [case] = parse_cases({"cases": [{"id": "down", "question": "hi", "rules": ["ends_done", "no_tool_call"]}]})
    report = Report("http://x", (CaseResult(case, "hi", None, (), error="connection refused"),))
    lines = render_table(report).splitlines()
    assert lines[1].split()[-2:] == ["✗", "✗"]
    assert lines[2] == "    ✗ not run: connection refused"
    assert not report.passed and report.failed_rules() == 2


def test_the_docs_page_lists_every_rule() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "prompt-regression.md").read_text(encoding="utf-8")
    assert [rule for rule in CATALOGUE if f"| `{rule}` |" not in docs] == []
