"""A level's figures are its steady state: a closed loop's start and end are not counted."""

from __future__ import annotations

import pytest

from bench.load import Level, Stream, requests_for


def _ok(ttft_s: float = 0.2) -> Stream:
    return Stream(ok=True, ttft_s=ttft_s, total_s=0.6)


def _client(*ends: float, failed_at: float | None = None) -> list[tuple[Stream, float]]:
    return [(Stream(ok=False, error="HTTP 503") if end == failed_at else _ok(), end) for end in ends]


def test_clients_idle_at_the_end_do_not_lower_the_rate() -> None:
    # Both clients answer one request a second; the second finds the queue empty 1.5 s before
    # the level ends. Answers over wall time read 7 / 5 s; each is busy at one a second.
    level = Level([_client(1, 2, 3, 4), _client(1.5, 2.5, 3.5)], wall_s=5.0)
    assert level.requests_per_s == pytest.approx(2.0)
    assert len(level.streams) / level.wall_s == pytest.approx(1.4)


def test_each_clients_first_request_is_its_warm_up() -> None:
    first = Stream(ok=True, ttft_s=0.9, total_s=1.2)  # every client's first went at the same instant
    level = Level([[(first, 1.2), (_ok(), 2.0)], [(first, 1.3), (_ok(), 2.1), (_ok(), 2.9)]], wall_s=3.0)
    assert [s.ttft_s for s in level.steady] == [0.2, 0.2, 0.2]
    assert len(level.streams) == 5  # errors and counts still see every request


def test_failed_requests_are_not_answers() -> None:
    level = Level([_client(1, 2, 3, 4, 5, failed_at=3)], wall_s=5.0)
    assert level.requests_per_s == pytest.approx(3 / 4)


def test_a_client_with_one_request_has_no_steady_state_so_the_rate_is_answers_over_wall_time() -> None:
    level = Level([_client(1, 2, 3), _client(2.5)], wall_s=4.0)
    assert level.requests_per_s == pytest.approx(4 / 4.0)


def test_every_client_makes_ten_requests_at_least() -> None:
    assert requests_for(50, 200) == 500
    assert requests_for(10, 200) == 200
    assert requests_for(1, 200) == 200
