"""`agent cost-report`: a synthetic two months of usage (tenants, users, two models with a
price change mid-month, retries, fallbacks to the secondary, runs ended in error, tools,
estimated calls) through the embedded default's ledger file, and the report's figures held
against sums computed here independently of the platform's pricing code."""

from __future__ import annotations

import asyncio
import csv
import datetime
import random
import xml.etree.ElementTree as ET
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from agent_cli.main import main
from agent_common.usage import ModelCallUsage, ToolCallUsage, UsageEntry
from agent_common.usage.ledger.sqlite import SqliteLedger
from agent_common.usage.report import previous_month

PRICES = """
version = "test-2026-11"
currency = "USD"

[[models."gpt-x"]]
from = 2026-01-01
input_per_million = "2.50"
output_per_million = "10"

[[models."gpt-x"]]
from = 2026-11-16
input_per_million = "2.00"
output_per_million = "8"

[[models."gpt-x-mini"]]
from = 2026-01-01
input_per_million = "0.15"
output_per_million = "0.60"

[[tools.http_get]]
from = 2026-01-01
per_call = "0.0005"
"""
# The same prices, written out here for the independent sums: (valid from, input, output) per million.
MODEL_PRICES = {
    "gpt-x": [
        (datetime.date(2026, 1, 1), Decimal("2.50"), Decimal(10)),
        (datetime.date(2026, 11, 16), Decimal(2), Decimal(8)),
    ],
    "gpt-x-mini": [(datetime.date(2026, 1, 1), Decimal("0.15"), Decimal("0.60"))],
}
TOOL_PRICE = Decimal("0.0005")
TENANTS = {"acme": ["ana", "bo", "cy"], "globex": ["dee", "eli"], "initech": ["fay"]}
UTC = datetime.UTC


def model_price(model: str, day: datetime.date) -> tuple[Decimal, Decimal]:
    valid = [p for p in MODEL_PRICES[model] if p[0] <= day]
    return valid[-1][1], valid[-1][2]


def call_cost(call: ModelCallUsage, day: datetime.date) -> Decimal:
    price_in, price_out = model_price(call.model, day)
    return (call.prompt_tokens * price_in + call.completion_tokens * price_out) / Decimal(1_000_000)


def synthetic_month(year: int, month: int, runs: int, seed: int) -> list[UsageEntry]:
    rng = random.Random(seed)
    entries = []
    for n in range(runs):
        tenant = rng.choice(list(TENANTS))
        day = rng.randint(1, 30)
        at = datetime.datetime(year, month, day, rng.randint(0, 23), rng.randint(0, 59), tzinfo=UTC)
        calls: list[ModelCallUsage] = []
        steps = rng.choice([1, 1, 1, 2, 3])
        for step in range(1, steps + 1):
            if rng.random() < 0.15:  # a retried call: the first attempt failed after reading the prompt
                calls.append(
                    ModelCallUsage(
                        model="gpt-x",
                        step=step,
                        attempt=1,
                        prompt_tokens=rng.randint(100, 3000),
                        estimated=True,
                        error="MODEL_TIMEOUT",
                    )
                )
                calls.append(
                    ModelCallUsage(
                        model="gpt-x",
                        step=step,
                        attempt=2,
                        prompt_tokens=rng.randint(100, 3000),
                        completion_tokens=rng.randint(10, 800),
                    )
                )
            elif rng.random() < 0.1:  # the primary down: the secondary answered
                calls.append(ModelCallUsage(model="gpt-x", step=step, attempt=1, error="MODEL_UNAVAILABLE"))
                calls.append(
                    ModelCallUsage(
                        model="gpt-x-mini",
                        role="secondary",
                        step=step,
                        prompt_tokens=rng.randint(100, 3000),
                        completion_tokens=rng.randint(10, 800),
                    )
                )
            else:
                calls.append(
                    ModelCallUsage(
                        model="gpt-x",
                        step=step,
                        prompt_tokens=rng.randint(100, 3000),
                        completion_tokens=rng.randint(10, 800),
                        estimated=rng.random() < 0.05,
                    )
                )
        failed = rng.random() < 0.08
        entries.append(
            UsageEntry(
                request_id=f"req_{year}{month:02d}_{n:04d}",
                tenant=tenant,
                user_id=rng.choice(TENANTS[tenant]),
                session_id=f"ses_{n % 17}",
                at=at,
                model_calls=calls,
                tool_calls=[ToolCallUsage(tool="http_get", ok=rng.random() < 0.9) for _ in range(steps - 1)],
                steps=steps,
                outcome="error" if failed else "done",
                error_code="MODEL_STREAM_INTERRUPTED" if failed else None,
            )
        )
    return entries


def run_cost(entry: UsageEntry) -> Decimal:
    day = entry.at.date()
    return sum((call_cost(c, day) for c in entry.model_calls), Decimal(0)) + TOOL_PRICE * len(entry.tool_calls)


@pytest.fixture
def november(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[UsageEntry], list[UsageEntry]]:
    october, november = synthetic_month(2026, 10, 150, seed=10), synthetic_month(2026, 11, 240, seed=11)
    # The month's one outlier: a run with a huge prompt, many tools and steps, ended in error.
    november.append(
        UsageEntry(
            request_id="req_outlier",
            tenant="globex",
            user_id="dee",
            session_id="ses_x",
            at=datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
            model_calls=[
                ModelCallUsage(model="gpt-x", step=s, prompt_tokens=60_000, completion_tokens=2_000)
                for s in (1, 2, 3, 4)
            ],
            tool_calls=[ToolCallUsage(tool="http_get", ok=True)] * 6,
            steps=4,
            outcome="error",
            error_code="MODEL_STEP_LIMIT",
        )
    )
    ledger_path = tmp_path / "usage.sqlite3"
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    monkeypatch.setenv("USAGE_LEDGER_PATH", str(ledger_path))
    monkeypatch.setenv("USAGE_PRICES_FILE", str(prices))

    async def fill() -> None:
        async with SqliteLedger(ledger_path) as ledger:
            for entry in [*october, *november, *synthetic_month(2026, 12, 5, seed=12)]:
                await ledger.record(entry)

    asyncio.run(fill())
    return october, november


def test_the_report_s_figures_are_the_month_s_sums(
    november: tuple[list[UsageEntry], list[UsageEntry]], tmp_path: Path
) -> None:
    october, entries = november
    out = tmp_path / "reports"
    assert main(["cost-report", "--month", "2026-11", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "cost-report-2026-11.csv").open()))
    by = defaultdict(dict)
    for row in rows:
        assert row["month"] == "2026-11"
        by[row["section"]][row["key"]] = row

    total = sum((run_cost(e) for e in entries), Decimal(0))
    assert Decimal(by["total"]["total"]["cost"]) == total
    assert int(by["total"]["total"]["runs"]) == len(entries)
    assert int(by["total"]["total"]["prompt_tokens"]) == sum(c.prompt_tokens for e in entries for c in e.model_calls)

    expected_tenants: dict[str, Decimal] = defaultdict(Decimal)
    expected_users: dict[str, Decimal] = defaultdict(Decimal)
    expected_days: dict[str, Decimal] = defaultdict(Decimal)
    expected_models: dict[str, Decimal] = defaultdict(Decimal)
    model_tokens: dict[str, int] = defaultdict(int)
    retries = secondary = errors = Decimal(0)
    for e in entries:
        cost = run_cost(e)
        expected_tenants[e.tenant] += cost
        expected_users[f"{e.tenant}/{e.user_id}"] += cost
        expected_days[e.at.date().isoformat()] += cost
        errors += cost if e.outcome == "error" else 0
        for c in e.model_calls:
            expected_models[c.model] += call_cost(c, e.at.date())
            model_tokens[c.model] += c.tokens
            retries += call_cost(c, e.at.date()) if c.error == "MODEL_TIMEOUT" else 0  # each was tried again
            secondary += call_cost(c, e.at.date()) if c.role == "secondary" else 0
    assert {k: Decimal(r["cost"]) for k, r in by["tenant"].items()} == expected_tenants
    assert {k: Decimal(r["cost"]) for k, r in by["user"].items()} == expected_users
    assert {k: Decimal(r["cost"]) for k, r in by["model"].items()} == expected_models
    assert {k: int(r["prompt_tokens"]) + int(r["completion_tokens"]) for k, r in by["model"].items()} == model_tokens
    days = {k: Decimal(r["cost"]) for k, r in by["day"].items()}
    assert len(days) == 30 and {k: v for k, v in days.items() if v} == expected_days
    tool_calls = [t for e in entries for t in e.tool_calls]
    assert int(by["tool"]["http_get"]["calls"]) == len(tool_calls)
    assert int(by["tool"]["http_get"]["failed"]) == sum(not t.ok for t in tool_calls)
    assert Decimal(by["tool"]["http_get"]["cost"]) == TOOL_PRICE * len(tool_calls)
    assert retries > 0 and secondary > 0 and errors > 0
    assert Decimal(by["share"]["retries"]["cost"]) == retries
    assert Decimal(by["share"]["secondary"]["cost"]) == secondary
    assert Decimal(by["share"]["errors"]["cost"]) == errors
    assert Decimal(by["share"]["errors"]["share"]) == errors / total

    # Expensive paths, counted here from what each synthetic run is made of.
    took = {
        "long_prompt": [e for e in entries if any(c.prompt_tokens >= 8000 for c in e.model_calls)],
        "retries": [e for e in entries if any(c.error for c in e.model_calls)],  # each failed call was tried again
        "tool_calls": [e for e in entries if len(e.tool_calls) >= 4],
        "steps": [e for e in entries if e.steps >= 3],
        "secondary_model": [e for e in entries if any(c.role == "secondary" for c in e.model_calls)],
    }
    assert all(took.values())
    for path, runs in took.items():
        assert int(by["path"][path]["runs"]) == len(runs), path
        assert Decimal(by["path"][path]["cost"]) == sum((run_cost(e) for e in runs), Decimal(0)), path

    page = (out / "cost-report-2026-11.md").read_text()
    (long_prompt,) = [line for line in page.splitlines() if line.startswith("| long_prompt |")]
    assert long_prompt.startswith("| long_prompt | 1 |") and "`req_outlier`" in long_prompt
    before = sum((run_cost(e) for e in october), Decimal(0))
    change = (total - before) * 100 / before
    assert "# Cost report 2026-11" in page and "test-2026-11" in page
    now_usd, before_usd = total.quantize(Decimal("0.0001")), before.quantize(Decimal("0.0001"))
    assert f"| cost | {now_usd} USD | {before_usd} USD | {change:+.1f} % |" in page
    assert f"| runs | {len(entries)} | {len(october)} |" in page
    costliest = page.split("## The costliest runs, and why")[1].splitlines()[4]
    assert costliest.startswith("| `req_outlier` | globex/dee | 2026-11-30 23:59 |")
    assert "a prompt of 60000 tokens" in costliest and "6 tool calls" in costliest and "4 steps" in costliest
    assert "ended in error (MODEL_STEP_LIMIT)" in costliest
    assert "![cost by day and by tenant](cost-report-2026-11.svg)" in page

    # The chart: one bar per day and model, its exact cost in its title, its height in proportion.
    svg = ET.fromstring((out / "cost-report-2026-11.svg").read_text())
    bars = [(r, r.find("{http://www.w3.org/2000/svg}title")) for r in svg.iter("{http://www.w3.org/2000/svg}rect")]
    day_bars: dict[str, list[tuple[float, Decimal]]] = defaultdict(list)
    for rect, title in bars:
        if title is not None and title.text and title.text[:4] == "2026":
            day, rest = title.text.split(" ", 1)
            day_bars[day].append((float(rect.get("height", "0")), Decimal(rest.split(": ")[1].split()[0])))
    model_cost_by_day: dict[str, Decimal] = defaultdict(Decimal)
    for e in entries:
        model_cost_by_day[e.at.date().isoformat()] += sum(
            (call_cost(c, e.at.date()) for c in e.model_calls), Decimal(0)
        )
    assert {d: sum((c for _, c in b), Decimal(0)) for d, b in day_bars.items()} == model_cost_by_day
    tallest = max(model_cost_by_day.values())
    for day, stack in day_bars.items():
        assert sum(h for h, _ in stack) == pytest.approx(float(model_cost_by_day[day] / tallest) * 320, abs=0.05)


def test_a_model_missing_from_the_price_file_is_named_in_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger_path = tmp_path / "usage.sqlite3"
    monkeypatch.setenv("USAGE_LEDGER_PATH", str(ledger_path))
    entry = UsageEntry(
        request_id="req_unpriced",
        tenant="t",
        user_id="u",
        session_id="s",
        at=datetime.datetime(2026, 11, 2, tzinfo=UTC),
        model_calls=[ModelCallUsage(model="mystery", prompt_tokens=5)],
    )

    async def fill() -> None:
        async with SqliteLedger(ledger_path) as ledger:
            await ledger.record(entry)

    asyncio.run(fill())
    assert main(["cost-report", "--month", "2026-11", "--out", str(tmp_path)]) == 0
    assert (
        "**Unpriced** (counted as costing nothing; add them to the price file): mystery"
        in (tmp_path / "cost-report-2026-11.md").read_text()
    )


def test_the_default_month_is_the_previous_one_and_a_wrong_month_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert previous_month("2026-01") == "2025-12" and previous_month("2026-03") == "2026-02"
    with pytest.raises(SystemExit):
        main(["cost-report", "--month", "November"])
    assert "a month as YYYY-MM" in capsys.readouterr().err


def test_a_broken_price_file_stops_the_report_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGE_LEDGER_PATH", str(tmp_path / "usage.sqlite3"))
    monkeypatch.setenv("USAGE_PRICES_FILE", str(tmp_path / "missing.toml"))
    assert main(["cost-report", "--month", "2026-11", "--out", str(tmp_path)]) == 1
    assert "missing.toml" in capsys.readouterr().err
