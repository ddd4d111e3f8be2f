"""Prices: the price valid on an entry's date applies, amounts stay decimal, and a price
file that is wrong says where."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agent_common.usage import ModelCallUsage, ToolCallUsage, UsageEntry, load_prices
from agent_common.usage.prices import PriceFileInvalid

PRICES = """
version = "2026-11-15.1"
currency = "USD"

[[models."gpt-x"]]
from = 2026-01-01
input_per_million = "2.50"
output_per_million = "10"

[[models."gpt-x"]]
from = 2026-11-15
input_per_million = "1.25"
output_per_million = "5"

[[models."gpt-x-mini"]]
from = 2026-01-01
input_per_million = "0.15"
output_per_million = "0.60"

[[tools.http_get]]
from = 2026-01-01
per_call = "0.001"
"""


def entry(day: int, calls: list[ModelCallUsage], tools: int = 0) -> UsageEntry:
    return UsageEntry(
        request_id=f"req_{day}",
        tenant="acme",
        user_id="u",
        session_id="s",
        at=datetime.datetime(2026, 11, day, 23, 30, tzinfo=datetime.UTC),
        model_calls=calls,
        tool_calls=[ToolCallUsage(tool="http_get", ok=True)] * tools,
    )


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return path


def test_the_price_valid_on_the_entry_s_utc_date_applies(prices_file: Path) -> None:
    book = load_prices(prices_file)
    call = ModelCallUsage(model="gpt-x", prompt_tokens=1_000_000, completion_tokens=200_000)
    assert book.cost(entry(14, [call])).total == Decimal("2.50") + Decimal("2")  # the old price, to its last day
    assert book.cost(entry(15, [call])).total == Decimal("1.25") + Decimal("1")
    # 23:30 on the 14th in Seoul is 14:30 UTC: still the 14th's price
    seoul = entry(14, [call]).model_copy(
        update={"at": datetime.datetime(2026, 11, 15, 8, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=9)))}
    )
    assert book.cost(seoul).total == Decimal("4.50")


def test_costs_are_exact_decimals_split_into_retries_secondary_and_tools(prices_file: Path) -> None:
    book = load_prices(prices_file)
    calls = [
        ModelCallUsage(model="gpt-x", step=1, attempt=1, prompt_tokens=1000, estimated=True, error="MODEL_TIMEOUT"),
        ModelCallUsage(model="gpt-x", step=1, attempt=2, prompt_tokens=1000, completion_tokens=10),
        ModelCallUsage(model="gpt-x-mini", role="secondary", step=2, prompt_tokens=3, completion_tokens=7),
    ]
    cost = book.cost(entry(20, calls, tools=3))
    retry = Decimal(1000) * Decimal("1.25") / 1_000_000
    answered = (Decimal(1000) * Decimal("1.25") + Decimal(10) * 5) / 1_000_000
    secondary = (Decimal(3) * Decimal("0.15") + Decimal(7) * Decimal("0.60")) / 1_000_000
    assert cost.retries == retry
    assert cost.secondary == secondary
    assert cost.tools == Decimal("0.003")
    assert cost.total == retry + answered + secondary + Decimal("0.003")
    assert cost.unpriced == frozenset()


def test_a_failed_call_that_ended_the_run_is_not_a_retry(prices_file: Path) -> None:
    book = load_prices(prices_file)
    calls = [ModelCallUsage(model="gpt-x", prompt_tokens=1000, error="MODEL_STREAM_INTERRUPTED")]
    cost = book.cost(entry(20, calls))
    assert cost.retries == 0 and cost.total == Decimal("0.00125")


def test_what_the_file_does_not_price_costs_nothing_and_is_named(prices_file: Path) -> None:
    book = load_prices(prices_file)
    calls = [ModelCallUsage(model="llama-local", prompt_tokens=500)]
    cost = book.cost(entry(20, calls).model_copy(update={"tool_calls": [ToolCallUsage(tool="sql", ok=True)]}))
    assert cost.total == 0
    assert cost.unpriced == {"llama-local", "tool:sql"}
    # Before a model's first price, it is unpriced too.
    early = entry(1, [ModelCallUsage(model="gpt-x", prompt_tokens=1)]).model_copy(
        update={"at": datetime.datetime(2025, 12, 31, tzinfo=datetime.UTC)}
    )
    assert book.cost(early).unpriced == {"gpt-x"}


def test_the_built_in_file_prices_the_offline_model_at_zero() -> None:
    book = load_prices()
    call = ModelCallUsage(model="offline-1", prompt_tokens=10_000, completion_tokens=10_000)
    assert book.cost(entry(3, [call])).total == 0
    assert book.cost(entry(3, [call])).unpriced == frozenset()


def test_the_deployment_s_price_file_reads() -> None:
    book = load_prices(Path(__file__).parents[2] / "deploy" / "k8s" / "prices.toml")
    assert book.version and book.model_price("offline-1", datetime.date(2026, 12, 1)) is not None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('currency = "USD"', "`version`"),
        (
            'version = "1"\n[[models.m]]\nfrom = 2026-01-01\ninput_per_million = 0.15\noutput_per_million = "1"',
            "decimal string",
        ),
        ('version = "1"\n[[models.m]]\ninput_per_million = "1"\noutput_per_million = "1"', "`from`"),
        (
            'version = "1"\n[[models.m]]\nfrom = 2026-01-01\ninput_per_million = "-1"\noutput_per_million = "1"',
            "zero or more",
        ),
        (
            'version = "1"\n[[tools.t]]\nfrom = 2026-01-01\nper_call = "1"\n'
            '[[tools.t]]\nfrom = 2026-01-01\nper_call = "2"',
            "same date",
        ),
        ("version = ", "not valid TOML"),
    ],
)
def test_a_wrong_price_file_is_refused_naming_the_file_and_the_entry(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(PriceFileInvalid) as refused:
        load_prices(path)
    assert said in str(refused.value) and str(path) in str(refused.value)


def test_a_missing_price_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PriceFileInvalid, match="cannot read the price file"):
        load_prices(tmp_path / "nowhere.toml")


def test_a_dated_snapshot_the_provider_reports_has_its_family_s_price(prices_file: Path) -> None:
    book = load_prices(prices_file)
    day = datetime.date(2026, 11, 20)
    assert book.model_price("gpt-x-2024-08-06", day) == book.model_price("gpt-x", day)
    assert book.model_price("gpt-x-mini-20250101", day) == book.model_price("gpt-x-mini", day)
    assert book.model_price("gpt-x-turbo", day) is None  # another model, not a snapshot: unpriced


def test_an_orchestrator_with_a_broken_price_file_refuses_to_start(tmp_path: Path) -> None:
    from agent_common.transports import ConfigurationError
    from agent_common.usage import UsageSettings
    from agent_orchestrator.app import create_app
    from agent_orchestrator.settings import OrchestratorConfig

    broken = tmp_path / "prices.toml"
    broken.write_text('version = "1"\n[[models.m]]\nfrom = 2026-01-01\ninput_per_million = 1\noutput_per_million = "1"')
    with pytest.raises(ConfigurationError, match=r"prices\.toml.*decimal string"):
        create_app(OrchestratorConfig(usage=UsageSettings(prices_file=broken)))
