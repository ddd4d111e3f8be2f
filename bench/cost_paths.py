"""`python -m bench.cost_paths` (`make bench-cost`): what the platform's own paths make a run cost.

A seeded, synthetic traffic mix goes through the real embedded platform (`agent run`, HTTP to
its gateway, the offline model, the usage ledger on a SQLite file of its own), one request at
a time so that each queued provider fault hits the run it is meant for:

- long sessions: 20 to 40 turns each, short questions and pasted passages, English and Korean;
- RAG questions, English (the FAQ's headings) and Korean (`evals/rag/korean.yaml`), against the
  Python FAQ indexed beforehand with the platform's own indexer and offline embedder;
- tool questions (a page of a local server the allowlist names, fetched by `http_get`);
- provider faults queued on the offline model's admin API: 5xx (passing, and lasting: the
  secondary answers), 429, 503, no first token in time, a 400 (context overflow), 401, 404,
  an answer cut mid-stream.

Then the ledger is read and priced with the shipped price file (`deploy/k8s/prices.toml`; the
offline model reports itself as `gpt-4o`, so its tokens are priced as that model's) and the
real monthly report's figures are computed from it. Tokens are the offline model's `usage`: a
deterministic count, so two runs with one seed give the same figures on any machine. Beside
them, what each passage budget (`RAG_PROMPT_TOKENS`) keeps of every FAQ question's passages,
gold passage included (`passages_by_budget`), measured on the index before the platform opens it.

python -m bench.cost_paths                          # bench/results/cost-paths.json, label `current`
python -m bench.cost_paths --label untrimmed --env ORCHESTRATOR_PROMPT_HISTORY_TOKENS=100000 \
    --env RAG_PROMPT_TOKENS=100000                  # the prompts as they were before the budgets
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml

from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.ranking import rank
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import open_store
from agent_common.token_estimate import estimate_tokens
from agent_common.usage import UsageEntry, UsageSettings, load_prices
from agent_common.usage.ledger import open_ledger
from agent_common.usage.report.figures import month_figures
from agent_orchestrator.retrieval import Retriever, passage_tokens, within_prompt_budget
from agent_rag_indexer.evaluation.labels import build, faq_pages, read_page, translations_of
from agent_rag_indexer.evaluation.metrics import includes_key_text, rank_of_gold
from agent_rag_indexer.evaluation.runner import index_pages
from agent_rag_indexer.settings import IndexerSettings
from bench.platforms import embedded_process
from bench.stats import percentile
from tests.support.web import free_tcp_port, pages_app, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PRICES = ROOT / "deploy" / "k8s" / "prices.toml"
KOREAN = ROOT / "evals" / "rag" / "korean.yaml"
PRICED_AS = "gpt-4o"  # the name the offline model reports, so the shipped price file prices it
SESSIONS = 8
RAG_QUESTIONS = 40  # half English, half Korean
TOOL_QUESTIONS = 20
# Each fault is queued just before a run of its own: (kind, count, extra), `FAULT_REPEATS` times.
FAULTS: list[tuple[str, int, dict[str, Any]]] = [
    ("server_error", 1, {}),
    ("server_error", 3, {}),  # lasting: the primary's retries are spent, the secondary answers
    ("rate_limit", 1, {"retry_after_s": 0}),
    ("overloaded", 1, {"retry_after_s": 0}),
    ("stall", 1, {"delay_ms": 1500}),  # past MODEL_FIRST_TOKEN_TIMEOUT_S: no first token
    ("context_overflow", 1, {}),  # a 400
    ("unauthorized", 1, {}),  # 401
    ("model_not_found", 1, {}),  # 404
    ("drop_mid_stream", 1, {}),
]
FAULT_REPEATS = 4
PASSAGE_BUDGETS: tuple[int | None, ...] = (None, 600, 800, 900, 1000, 1100, 1200)


@dataclass
class Sent:
    """One request of the mix and what the gateway answered."""

    path: str
    request_id: str | None
    status: int
    turn: int = 0  # the turn of a long session (1 is its first)
    cited: bool = False
    turn_tokens: int = 0  # the estimated size of the turn the session keeps: the message and its answer


Fault = tuple[str, int, dict[str, Any]]
# A request of the mix: (path, message, session key, turn, fault queued before it).
Job = tuple[str, str, str | None, int, Fault | None]


@dataclass
class Mix:
    """The requests, in the order they are sent."""

    jobs: list[Job] = field(default_factory=list)


def traffic(seed: int, pages_url: str) -> Mix:
    rng = random.Random(seed)
    questions = build()
    english = [q.query for q in questions]
    korean = [str(e["ko"]) for e in yaml.safe_load(KOREAN.read_text(encoding="utf-8"))]
    paragraphs = [
        p.strip() for page in faq_pages() for p in read_page(page).text.split("\n\n") if 300 <= len(p.strip()) <= 2000
    ]
    mix = Mix()
    sessions: list[list[Job]] = []
    for number in range(SESSIONS):
        turns = rng.randint(20, 40)
        key = f"long-{number}"
        messages: list[Job] = []
        for turn in range(1, turns + 1):
            roll = rng.random()
            if roll < 0.35:  # a pasted passage, asked about
                text = f"{rng.choice(paragraphs)}\n\nCan you explain this part again, more simply?"
            elif roll < 0.6:
                text = rng.choice(korean)
            else:
                text = rng.choice(english)
            messages.append(("session", text, key, turn, None))
        sessions.append(messages)
    # The sessions' turns interleaved (as users take turns), each session's in order.
    while any(sessions):
        live = [s for s in sessions if s]
        chosen = rng.choice(live)
        mix.jobs.append(chosen.pop(0))
    others: list[Job] = []
    others += [("rag-en", q, None, 0, None) for q in rng.sample(english, RAG_QUESTIONS // 2)]
    others += [("rag-ko", q, None, 0, None) for q in rng.sample(korean, RAG_QUESTIONS // 2)]
    others += [("tool", f"What does {pages_url}/page say? ({n})", None, 0, None) for n in range(TOOL_QUESTIONS)]
    for _ in range(FAULT_REPEATS):
        for fault in FAULTS:
            others.append((f"fault:{fault[0]}" + ("x3" if fault[1] > 1 else ""), rng.choice(english), None, 0, fault))
    rng.shuffle(others)
    # Single-turn requests spread over the sessions' traffic.
    for job in others:
        mix.jobs.insert(rng.randint(0, len(mix.jobs)), job)
    return mix


async def index_faq(folder: Path) -> dict[str, Any]:
    """The Python FAQ in the embedded store's folder, before the platform opens it (one process at a
    time); and, while it is open here, what each passage budget keeps of every FAQ question's passages."""
    settings = RagSettings(store_path=str(folder))
    embedder = OfflineEmbedder(settings.embeddings_threads)
    store = open_store(settings, embedder.dimensions)
    try:
        await index_pages(store, embedder, faq_pages(), IndexerSettings().chunking(), source="python-faq")
        return await passage_budgets(Retriever.from_settings(settings, store, embedder))
    finally:
        await store.close()
        await embedder.close()


async def passage_budgets(retriever: Retriever) -> dict[str, Any]:
    """For every FAQ question, English and Korean, ranked as the orchestrator ranks: the passages'
    tokens, and whether the gold passage (and its key text: `make rag-eval`'s inclusion) is among
    those the prompt is built from, with all `RAG_TOP_K` and under each budget."""
    questions = build()
    korean = translations_of(yaml.safe_load(KOREAN.read_text(encoding="utf-8")), questions, "ko")
    asked = [(q.query, q) for q in questions] + [(t.query, t.question) for t in korean]
    ranked = []
    for text, question in asked:
        hits = await rank(
            retriever.store,
            retriever.embedder,
            text,
            retriever.top_k,
            glossary=retriever.glossary,
            per_section=retriever.per_section,
        )
        if hits and hits[0].score >= retriever.threshold_for(text):  # only covered questions get passages
            ranked.append((hits, question))
    figures: dict[str, Any] = {"questions": len(asked), "covered": len(ranked)}
    for budget in PASSAGE_BUDGETS:
        kept = [(within_prompt_budget(hits, budget), q) for hits, q in ranked]
        figures[str(budget or f"all {retriever.top_k}")] = {
            "passage_tokens": _tokens([sum(passage_tokens(h.record) for h in k) for k, _ in kept]),
            "passages_mean": round(sum(len(k) for k, _ in kept) / max(len(kept), 1), 2),
            "gold_in_prompt_pct": _pct(sum(rank_of_gold(k, q) is not None for k, q in kept), len(kept)),
            "key_text_in_prompt_pct": _pct(sum(includes_key_text(k, q, len(k)) for k, q in kept), len(kept)),
        }
    return figures


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


@contextmanager
def platform(work: Path, pages_url: str, overrides: dict[str, str]) -> Iterator[str]:
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    settings = {
        "USAGE_PRICES_FILE": str(PRICES),
        "OFFLINE_MODEL_NAME": PRICED_AS,
        "MODEL_NAME": PRICED_AS,
        "OFFLINE_MODEL_FIRST_TOKEN_DELAY_MS": "0",
        "OFFLINE_MODEL_TOKEN_DELAY_MS": "0",
        "MODEL_FIRST_TOKEN_TIMEOUT_S": "1",
        "MODEL_RETRY_BACKOFF_S": "0.01",
        "MODEL_RETRY_BACKOFF_MAX_S": "0.05",
        "MODEL_RETRY_BREAKER_MIN_CALLS": "1000",  # faults are sparse; the breaker is not measured here
        "MODEL_SECONDARY_BASE_URL": f"{base}/offline/v1",
        "MODEL_SECONDARY_NAME": PRICED_AS,
        "TOOL_HTTP_ALLOWLIST": "127.0.0.1",
        "TOOL_HTTP_ALLOWED_PORTS": str(httpx.URL(pages_url).port),
        "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        "RATE_LIMIT_USER_PER_MINUTE": "1000000",
        "RATE_LIMIT_IP_PER_MINUTE": "1000000",
        "LOG_FORMAT": "json",
        **overrides,
    }
    with embedded_process(work, port, settings):
        yield base


def send(client: httpx.Client, base: str, mix: Mix) -> list[Sent]:
    sessions: dict[str, str] = {}
    sent: list[Sent] = []
    for path, message, key, turn, fault in mix.jobs:
        if fault is not None:
            kind, count, extra = fault
            queued = client.post(f"{base}/offline/admin/faults", json={"kind": kind, "count": count, **extra})
            queued.raise_for_status()
        body: dict[str, Any] = {"message": message}
        if key is not None and key in sessions:
            body["session_id"] = sessions[key]
        response = client.post(f"{base}/api/chat", json=body)
        data = response.json()
        if fault is not None:
            client.delete(f"{base}/offline/admin/faults")  # what the run did not use up goes
        if key is not None and "session_id" in data:
            sessions[key] = data["session_id"]
        size = estimate_tokens(message) + estimate_tokens(str(data.get("answer", "")))
        cited = bool(data.get("citations"))
        sent.append(Sent(path, data.get("request_id"), response.status_code, turn, cited, size))
    return sent


async def read_ledger(path: Path, expected: int, timeout_s: float = 60) -> list[UsageEntry]:
    settings = UsageSettings(ledger_path=path)
    month = datetime.datetime.now(datetime.UTC).strftime("%Y-%m")
    deadline = time.monotonic() + timeout_s
    while True:
        async with open_ledger(settings) as ledger:
            entries = await ledger.month(month)
        if len(entries) >= expected or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.5)


def _tokens(values: list[int]) -> dict[str, float]:
    if not values:
        return {"runs": 0}
    return {
        "runs": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": round(sum(values) / len(values), 1),
    }


def figures(sent: list[Sent], entries: list[UsageEntry]) -> dict[str, Any]:
    prices = load_prices(PRICES)
    by_id = {e.request_id: e for e in entries}
    paths: dict[str, list[Sent]] = defaultdict(list)
    for s in sent:
        paths[s.path].append(s)
        if s.path == "session":
            paths["session: turns 21-40" if s.turn > 20 else "session: turns 1-20"].append(s)
    table = {}
    for path, items in sorted(paths.items()):
        runs = [by_id[s.request_id] for s in items if s.request_id in by_id]
        costs = [prices.cost(e).total for e in runs]
        table[path] = {
            "prompt_tokens_per_run": _tokens([e.prompt_tokens for e in runs]),
            "model_calls_per_run": round(sum(len(e.model_calls) for e in runs) / len(runs), 2) if runs else 0,
            "cost_per_1000_runs": str(round(sum(costs, Decimal(0)) / len(runs) * 1000, 2)) if runs else "0",
        }
    month = entries[0].month if entries else datetime.datetime.now(datetime.UTC).strftime("%Y-%m")
    report = month_figures(month, entries, prices, UsageSettings().path_thresholds())

    def share(part: Decimal) -> float:
        value = report.share(part)
        return round(float(value) * 100, 2) if value is not None else 0.0

    failed: dict[str, int] = defaultdict(int)
    for e in entries:
        for call in e.model_calls:
            if call.error:
                failed[call.error] += 1
    rag = [s for s in sent if s.path.startswith("rag-")]
    return {
        "runs_sent": len(sent),
        "entries_in_ledger": len(entries),
        "currency": report.currency,
        "priced_as": PRICED_AS,
        "price_version": report.price_version,
        "total_cost": str(report.total.cost),
        "cost_per_1000_runs": str(round(report.total.cost / max(len(entries), 1) * 1000, 2)),
        "prompt_tokens_per_run": _tokens([e.prompt_tokens for e in entries]),
        "share_of_cost_pct": {
            "retries": share(report.retry_cost),
            "fallbacks": share(report.secondary_cost),
            "errors": share(report.error_cost),
        },
        "failed_model_calls_by_code": dict(sorted(failed.items())),
        "expensive_paths": {p.path: {"runs": p.runs, "cost": str(p.cost)} for p in report.paths},
        "by_path": table,
        "session_turn_tokens": _tokens([s.turn_tokens for s in sent if s.path == "session"]),
        "quality": {
            "rag_questions": len(rag),
            "rag_answers_citing": sum(s.cited for s in rag),
            "session_turns_citing": sum(s.cited for s in sent if s.path == "session"),
            "http_errors": sum(s.status >= 400 for s in sent),
        },
    }


async def measure(seed: int, overrides: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as folder, serve_in_thread(pages_app()) as pages_url:
        work = Path(folder)
        passages = await index_faq(work / "rag")
        mix = traffic(seed, pages_url)
        started = time.perf_counter()
        with platform(work, pages_url, overrides) as base, httpx.Client(timeout=120) as client:
            sent = send(client, base, mix)
            entries = await read_ledger(work / "usage.sqlite3", len(sent))
        result = {**figures(sent, entries), "passages_by_budget": passages}
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--label", default="current", help="the name the figures are stored under")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the platform (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS / "cost-paths.json")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.env)
    result = {"seed": args.seed, "env": overrides, **asyncio.run(measure(args.seed, overrides))}
    stored = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    stored[args.label] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
