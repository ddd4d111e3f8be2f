"""The retrieval evaluation: the labelled set built from the installed python3.11-doc FAQ,
and CI's slice of it, which fails when hit@5 drops under the floor.

The floor is set from measurements (docs/rag.md): the default `heading` strategy found
every gold passage in its top 5 on this slice (39 questions) and on the whole FAQ
(175); 0.95 tolerates one miss on the slice and fails on two.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent_rag_indexer.evaluation import labels
from tests.support.services import require_service

KOREAN = Path(__file__).resolve().parents[2] / "evals" / "rag" / "korean.yaml"
OFF_TOPIC = KOREAN.with_name("off-topic.yaml")
HANGUL = re.compile("[\uac00-\ud7a3]")
SLICE = "general.html,windows.html,installed.html,gui.html"
HIT_AT_5_FLOOR = 0.95
# The Korean target on the whole FAQ (docs/rag.md#korean-questions), held on the slice too.
KOREAN_HIT_AT_5_FLOOR = 0.90
ENGLISH_HIT_AT_5_FLOOR = 0.98
FALSE_FALLBACKS_CEILING = 0.03
OFF_TOPIC_REFUSED_FLOOR = 0.90


@pytest.fixture(autouse=True)
def faq_installed() -> None:
    if not (labels.FAQ_DIR / "general.html").is_file():
        require_service("RAG evaluation", f"{labels.FAQ_DIR} not found: install python3.11-doc")


def rag_eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent_cli.main", "rag-eval", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_labelled_set_is_every_faq_question_with_its_section() -> None:
    questions = labels.build()
    assert len(questions) == 175
    assert len({q.id for q in questions}) == len(questions)
    texts = {p: labels.read_page(p).text for p in labels.faq_pages()}
    for q in questions:
        section = texts[Path(q.doc_id)][q.gold_start : q.gold_end]
        assert section.startswith(q.query) and q.key_text in " ".join(section.split())


def test_every_faq_question_is_asked_in_korean_too() -> None:
    questions = labels.build()
    entries = yaml.safe_load(KOREAN.read_text(encoding="utf-8"))
    korean = labels.translations_of(entries, questions, "ko")
    assert [k.question.id for k in korean] == [q.id for q in questions]  # every one, once, in order
    assert all(HANGUL.search(k.query) for k in korean)
    assert 0.25 < sum(k.held_out for k in korean) / len(korean) < 0.35
    off_topic = yaml.safe_load(OFF_TOPIC.read_text(encoding="utf-8"))
    assert sum(bool(HANGUL.search(q)) for q in off_topic) >= 30 and sum(not HANGUL.search(q) for q in off_topic) >= 30


def test_a_korean_wording_of_a_question_the_faq_no_longer_has_fails_loudly() -> None:
    questions = labels.build()
    with pytest.raises(ValueError, match="design-001"):
        labels.translations_of([{"id": "design-001", "en": "Another heading?", "ko": "다른 질문?"}], questions)


def test_the_ci_slice_keeps_hit_at_5_above_the_floor(tmp_path: Path) -> None:
    result = rag_eval(
        "--pages", SLICE, "--strategies", "heading", "--out", str(tmp_path), "--min-hit-at-5", str(HIT_AT_5_FLOOR)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "rag-eval.json").read_text())
    (heading,) = report["results"]
    assert heading["strategy"] == "heading" and heading["scores"]["questions"] == 39
    assert heading["scores"]["hit_at"]["5"] >= HIT_AT_5_FLOOR
    assert (tmp_path / "rag-eval.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # 52 chunks: 50 before no chunk could outgrow the size with its heading path (two sections split once more).
    assert "| `heading` | 52 |" in (tmp_path / "rag-eval.md").read_text()
    # Per language: the slice's 39 questions in English and in Korean, and a held-out part of each;
    # the Korean ones held out fold by fold too, every question once.
    languages = {(r["language"], r["split"]): r for r in report["languages"]}
    assert set(languages) == {("en", "all"), ("en", "held-out"), ("ko", "all"), ("ko", "held-out"), ("ko", "10-fold")}
    assert languages["ko", "10-fold"]["scores"]["questions"] == 39
    assert languages["ko", "all"]["scores"]["questions"] == 39 and languages["ko", "all"]["off_topic"] >= 30
    assert 0 < languages["ko", "held-out"]["scores"]["questions"] < 39
    assert languages["ko", "all"]["scores"]["hit_at"]["5"] >= KOREAN_HIT_AT_5_FLOOR
    # The other targets, on the slice: a Korean question whose answer is indexed is told
    # "not covered" at most 3 % of the time (one of 39; the 12 held-out alone are too few to hold
    # 3 %, the ten folds hold every question out once), off-topic questions are refused 90 %.
    assert languages["en", "all"]["scores"]["hit_at"]["5"] >= ENGLISH_HIT_AT_5_FLOOR
    assert languages["ko", "all"]["false_fallbacks"] <= FALSE_FALLBACKS_CEILING
    assert languages["ko", "10-fold"]["false_fallbacks"] <= FALSE_FALLBACKS_CEILING
    assert languages["en", "all"]["off_topic_refused"] >= OFF_TOPIC_REFUSED_FLOOR
    assert languages["ko", "all"]["off_topic_refused"] >= OFF_TOPIC_REFUSED_FLOOR
    assert "| ko | all | 39 |" in (tmp_path / "rag-eval.md").read_text()


def test_a_hit_at_5_under_the_floor_fails_the_run(tmp_path: Path) -> None:
    # installed.html's 3 questions all hit (hit@5 = 1.0): a floor above 1 must fail.
    result = rag_eval(
        "--pages", "installed.html", "--strategies", "heading", "--out", str(tmp_path), "--min-hit-at-5", "1.01"
    )
    assert result.returncode == 1
    assert "FAILED: hit@5 of `heading` is 1.000, under the floor 1.01" in result.stderr
