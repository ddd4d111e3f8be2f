"""A chat turn past its tenant's or its key's monthly budget is refused `BUDGET_EXCEEDED`, in
the caller's language, with the reset time, on `/api/chat` and under `/v1` (the `openai`
SDK's `RateLimitError`, type `insufficient_quota`), and nothing reaches the model."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import openai
import pytest

from agent_common.budgets import period_end
from tests.budgets.conftest import Budgeted, agent, key_id_of, metric
from tests.support.platform import bearer


def chat(budgeted: Budgeted, key: str, language: str = "en") -> httpx.Response:
    return httpx.post(
        f"{budgeted.platform.base_url}/api/chat",
        json={"message": "Hello"},
        headers={**bearer(key), "accept-language": language},
        timeout=30,
    )


def model_calls(budgeted: Budgeted) -> float:
    """Every model call the platform made, whatever its outcome."""
    return metric(budgeted.platform, "llm_calls_total", every=True)


def next_reset() -> str:
    return period_end(dt.datetime.now(dt.UTC).strftime("%Y-%m")).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_spent_tenant_budget_refuses_new_turns_in_either_language(budgeted: Budgeted) -> None:
    key = budgeted.key("ana", "acme")
    set_budget = agent(budgeted.env, "budgets", "set", "--tenant", "acme", "--monthly-usd", "2")
    assert set_budget.returncode == 0, set_budget.stderr
    assert chat(budgeted, key).status_code == 200  # nothing spent yet

    budgeted.spend("acme", key, tokens=900, cost="2.0000001")
    calls_before = model_calls(budgeted)
    assert calls_before > 0  # the turn above
    refused = chat(budgeted, key)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["class"]) == ("BUDGET_EXCEEDED", "user_input")
    assert error["details"]["scope"] == "tenant"
    assert error["details"]["unit"] == "usd"
    assert error["details"]["limit"] == "2"
    assert error["details"]["resets_at"] == next_reset()
    assert error["message"].startswith("The monthly budget of tenant acme is spent")
    retry_after = int(refused.headers["retry-after"])
    assert retry_after == error["details"]["retry_after"]
    assert 0 < retry_after <= 31 * 86400

    korean = chat(budgeted, key, "ko-KR,ko;q=0.9").json()["error"]
    assert korean["code"] == "BUDGET_EXCEEDED"
    assert "테넌트 acme의 월 예산을 모두 사용했습니다" in korean["message"]
    assert "UTC에 초기화됩니다" in korean["message"]
    assert model_calls(budgeted) == calls_before  # refused at the door: no run, no model call
    assert metric(budgeted.platform, "security_events_total", event="budget", reason="spent") >= 2


def test_a_key_budget_holds_that_key_alone(budgeted: Budgeted) -> None:
    spender, other = budgeted.key("bo", "globex"), budgeted.key("cy", "globex")
    done = agent(
        budgeted.env, "budgets", "set", "--tenant", "globex", "--key", key_id_of(spender), "--monthly-tokens", "1000"
    )
    assert done.returncode == 0, done.stderr
    budgeted.spend("globex", spender, tokens=1000)
    refused = chat(budgeted, spender).json()["error"]
    assert refused["code"] == "BUDGET_EXCEEDED"
    assert (refused["details"]["scope"], refused["details"]["key_id"]) == ("key", key_id_of(spender))
    assert refused["message"].startswith("The monthly budget of this API key is spent (1000 of 1000 tokens)")
    assert chat(budgeted, other).status_code == 200  # the tenant has no budget of its own


def test_under_v1_the_openai_sdk_raises_its_quota_error(budgeted: Budgeted) -> None:
    key = budgeted.key("di", "initech")
    assert agent(budgeted.env, "budgets", "set", "--tenant", "initech", "--monthly-tokens", "50").returncode == 0
    budgeted.spend("initech", key, tokens=51)
    client = openai.OpenAI(base_url=f"{budgeted.platform.base_url}/v1", api_key=key, max_retries=0, timeout=30)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="agent", messages=[{"role": "user", "content": "Hello"}])
    assert refused.value.status_code == 429
    assert refused.value.code == "BUDGET_EXCEEDED"
    assert refused.value.type == "insufficient_quota"
    body: Any = refused.value.body
    assert body["details"]["resets_at"] == next_reset()
    assert refused.value.response.headers["retry-after"] == str(body["details"]["retry_after"])

    korean = openai.OpenAI(
        base_url=f"{budgeted.platform.base_url}/v1",
        api_key=key,
        max_retries=0,
        default_headers={"accept-language": "ko"},
    )
    with pytest.raises(openai.RateLimitError) as in_korean:
        korean.chat.completions.create(model="agent", messages=[{"role": "user", "content": "안녕"}])
    assert "월 예산을 모두 사용했습니다 (50 토큰 중 51)" in in_korean.value.message


def test_the_warn_share_is_told_once_a_month_and_the_gauge_follows_spend(budgeted: Budgeted) -> None:
    key = budgeted.key("ed", "umbrella")
    done = agent(budgeted.env, "budgets", "set", "--tenant", "umbrella", "--monthly-usd", "10", "--warn-at", "0.5")
    assert done.returncode == 0, done.stderr
    warned = metric(budgeted.platform, "security_events_total", event="budget", reason="warn_share")
    budgeted.spend("umbrella", key, cost="4")
    assert chat(budgeted, key).status_code == 200
    assert metric(budgeted.platform, "budget_used_ratio", tenant="umbrella") == pytest.approx(0.4)
    assert metric(budgeted.platform, "budget_warn_ratio", tenant="umbrella") == 0.5
    budgeted.spend("umbrella", key, cost="2")
    budgeted.spend("umbrella", key, cost="1")
    assert chat(budgeted, key).status_code == 200  # warned, not refused
    assert metric(budgeted.platform, "budget_used_ratio", tenant="umbrella") == pytest.approx(0.7)
    assert metric(budgeted.platform, "security_events_total", event="budget", reason="warn_share") == warned + 1
