"""The whole loop, with nothing stood in for: a run's usage entry travels over the bus to the
ledger writer, which counts its spend against the caller's budgets, and the gateway then
refuses the caller's next turn. In the embedded default (one process, its budget file)."""

from __future__ import annotations

import time

import httpx

from tests.budgets.conftest import Budgeted, agent, key_id_of
from tests.support.platform import bearer


def test_a_key_whose_runs_spent_its_budget_is_refused_its_next_turn(budgeted: Budgeted) -> None:
    key = budgeted.key("runner", "loop-co")
    limit = agent(
        budgeted.env, "budgets", "set", "--tenant", "loop-co", "--key", key_id_of(key), "--monthly-tokens", "1"
    )
    assert limit.returncode == 0, limit.stderr
    other = budgeted.key("bystander", "loop-co")  # the same tenant, another key: its budget is not the key's

    def chat(with_key: str) -> httpx.Response:
        return httpx.post(
            f"{budgeted.platform.base_url}/api/chat", json={"message": "Hello"}, headers=bearer(with_key), timeout=30
        )

    assert chat(key).status_code == 200  # nothing spent yet: the run's tokens are counted after it
    deadline = time.monotonic() + 20
    while (refused := chat(key)).status_code == 200:  # until the ledger writer has counted the run
        assert time.monotonic() < deadline, "the run's tokens never reached the key's budget"
        time.sleep(0.2)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]["scope"], error["details"]["unit"]) == ("BUDGET_EXCEEDED", "key", "tokens")
    shown = agent(budgeted.env, "budgets", "show", "--tenant", "loop-co")
    assert shown.returncode == 0 and key_id_of(key) in shown.stdout, shown.stdout
    assert chat(other).status_code == 200
