"""The prompt regression cases (`evals/prompts.yaml`) against the embedded platform and the offline model.

The runner drives the platform over its real HTTP API, as `agent prompt-eval`
does. Every case must pass; and `must_fail.yaml`, whose every rule must fail,
proves the runner reports failures (a runner that always passed would not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_cli.main import main
from agent_cli.prompt_eval import runner
from agent_cli.prompt_eval.cases import load_cases, parse_cases
from agent_cli.prompt_eval.pages import PageServer, free_tcp_port
from agent_cli.prompt_eval.report import FAIL, render_table
from agent_cli.prompt_eval.rules import CATALOGUE
from agent_cli.prompt_eval.runner import platform_and_pages, platform_context, run_cases
from agent_cli.prompt_eval.text import detect_language
from tests.support.platform import create_api_key

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "evals" / "prompts.yaml"
MUST_FAIL = Path(__file__).with_name("must_fail.yaml")
LABELS = ("(offline model) ", "(오프라인 모델) ")


@pytest.fixture(scope="module")
def platform() -> Iterator[tuple[str, PageServer]]:
    """The embedded platform exactly as `agent prompt-eval` starts it by default, and its page server."""
    with platform_and_pages(None) as started:
        yield started


def test_the_case_file_covers_both_languages_and_every_rule() -> None:
    cases = load_cases(CASES)
    korean = sum(1 for case in cases if detect_language(case.question) == "ko")
    assert len(cases) >= 16
    assert 0.4 <= korean / len(cases) <= 0.6
    assert {rule.rule for case in cases for rule in case.rules} == set(CATALOGUE)


def test_every_case_passes_with_the_offline_model(platform: tuple[str, PageServer]) -> None:
    base_url, pages = platform
    report = run_cases(load_cases(CASES), base_url, pages, platform_context())
    assert report.passed, "\n" + render_table(report)
    assert report.models == ["offline-1"]
    for result in report.cases:
        assert result.outcome is not None and result.outcome.answer.startswith(LABELS), result.case.id


def test_rules_that_must_fail_are_reported_failing(platform: tuple[str, PageServer]) -> None:
    base_url, pages = platform
    report = run_cases(load_cases(MUST_FAIL), base_url, pages, platform_context())
    table = render_table(report)
    assert not report.passed
    for result in report.cases:
        assert result.error is None, result.error
        for checked in result.results:
            assert not checked.verdict.ok, (
                f"{result.case.id}: {checked.rule.describe()} passed: {checked.verdict.reason}"
            )
            assert f"{FAIL} {checked.rule.describe()}: {checked.verdict.reason}" in table
    failed = {checked.rule.rule for result in report.cases for checked in result.results}
    assert failed == set(CATALOGUE), "every rule in the catalogue must be shown able to fail"


def test_the_command_exit_codes_and_json_report(
    platform: tuple[str, PageServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, _ = platform
    report_path = tmp_path / "out" / "report.json"
    common = ["prompt-eval", "--base-url", base_url, "--cases", str(MUST_FAIL), "--only", "echo-leaks-a-key"]

    assert main([*common, "--report", str(report_path)]) == 1
    printed = capsys.readouterr().out
    assert "echo-leaks-a-key" in printed and f"{FAIL} no_secret_leak: key-like token" in printed
    saved = json.loads(report_path.read_text(encoding="utf-8"))
    assert saved["passed"] is False and saved["summary"] == {"cases": 1, "cases_passed": 0, "rules_failed": 1}
    [case] = saved["cases"]
    assert case["id"] == "echo-leaks-a-key" and case["terminal"] == "done"
    assert case["rules"] == [{"rule": "no_secret_leak", "params": {}, "ok": False, "reason": "key-like token sk-abc…"}]

    assert main([*common, "--no-fail"]) == 0
    passing = ["prompt-eval", "--base-url", base_url, "--cases", str(CASES), "--only", "ko-hacking-refused"]
    assert main(passing) == 0
    assert "1/1 cases passed, 0 rule(s) failed" in capsys.readouterr().out


def test_an_unusable_case_file_or_platform_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases:\n  - id: x\n    question: hi\n    rules: [mentions_typo]\n", encoding="utf-8")
    assert main(["prompt-eval", "--cases", str(bad)]) == 2
    assert "unknown rule 'mentions_typo'" in capsys.readouterr().err
    assert main(["prompt-eval", "--cases", str(CASES), "--only", "no-such-case"]) == 2
    assert main(["prompt-eval", "--cases", str(tmp_path / "missing.yaml")]) == 2
    monkeypatch.setattr(runner, "READY_TIMEOUT_S", 0.2)
    assert main(["prompt-eval", "--cases", str(CASES), "--base-url", f"http://127.0.0.1:{free_tcp_port()}"]) == 2
    assert "is not ready" in capsys.readouterr().err


def test_a_failing_session_turn_fails_the_case_with_its_reason(platform: tuple[str, PageServer]) -> None:
    base_url, pages = platform
    case = {"id": "s", "session": ["hi [[offline:server_error]]"], "question": "again", "rules": ["ends_done"]}
    cases = parse_cases({"cases": [case]})
    [result] = run_cases(cases, base_url, pages, platform_context()).cases
    assert not result.passed and result.error == "session turn 1 ended with error MODEL_UNAVAILABLE"


def test_a_run_on_its_own_platform_leaves_no_folder_behind_and_no_trace_in_the_folders_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its document index and usage ledger are scratch: each run used to leave two folders in /tmp.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    # Run from a folder whose own platform has a key (`agent keys create`): the run's platform is
    # its own, with no key to need and no budget of the folder's to spend.
    project = tmp_path / "project"
    project.mkdir()
    create_api_key({"AUTH_KEYS_FILE": str(project / ".agent" / "api-keys.json")}, "someone")
    state = {path: path.read_bytes() for path in (project / ".agent").iterdir()}
    monkeypatch.chdir(project)
    assert main(["prompt-eval", "--cases", str(CASES), "--only", "ko-hacking-refused"]) == 0
    assert "1/1 cases passed" in capsys.readouterr().out
    assert sorted(p.name for p in scratch.iterdir()) == []
    assert {path: path.read_bytes() for path in (project / ".agent").iterdir()} == state
    assert not (project / ".data").exists()
