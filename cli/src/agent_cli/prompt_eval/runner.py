"""`agent prompt-eval`: ask the platform every case's question and check the rules.

Against `--base-url` (a running platform) or, by default, the embedded
platform started in this process on a free port, exactly as `agent run` builds
it: the offline model unless `MODEL_BASE_URL` names a real one. Either way the
runner starts its page server for `{pages}` / `{offlist}` and talks to the
platform over its public streaming API only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from agent_cli.prompt_eval.cases import Case, CaseFileError, load_cases
from agent_cli.prompt_eval.client import ask
from agent_cli.prompt_eval.evidence import Context, Outcome
from agent_cli.prompt_eval.pages import (
    ALLOWED_HOST,
    OFFLIST_HOST,
    PageServer,
    free_tcp_port,
    page_server,
    serve_in_thread,
)
from agent_cli.prompt_eval.report import CaseResult, Report, RuleResult, render_table
from agent_cli.prompt_eval.rules import catalogue_docs

DEFAULT_CASES = Path("evals/prompts.yaml")
EXIT_FAILED, EXIT_UNUSABLE = 1, 2
READY_TIMEOUT_S = 10.0  # for --base-url: a running platform answers /ready at once, or it is not ready


@contextmanager
def embedded_env(pages: PageServer) -> Iterator[dict[str, str]]:
    """The embedded platform's allowlist names the page server's 127.0.0.1 only, so `localhost`
    is off the list; loopback is a private address, so private networks are opened explicitly.
    Its document index is an empty one of its own: the cases are about the platform, not
    about whatever was indexed in this folder; its usage goes to a ledger of its own, never
    counted as this folder's platform's, and no budget of this folder's is spent. No key of this
    folder's is needed either: its keys file is its own, and empty. All of it lives in one scratch
    folder, removed when the run ends."""
    with tempfile.TemporaryDirectory(prefix="prompt-eval-", ignore_cleanup_errors=True) as scratch:
        store = Path(scratch) / "rag-store"
        store.mkdir()
        yield {
            "RAG_STORE_PATH": str(store),
            "USAGE_LEDGER_PATH": str(Path(scratch) / "usage.sqlite3"),
            "AUTH_KEYS_FILE": str(Path(scratch) / "api-keys.json"),
            "BUDGETS_FILE": str(Path(scratch) / "budgets.json"),
            "TOOL_HTTP_ALLOWLIST": ALLOWED_HOST,
            "TOOL_HTTP_ALLOWED_PORTS": str(httpx.URL(pages.base_url).port),
            "TOOL_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        }


# ---- the platform under test ----


def wait_ready(base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        try:
            response = httpx.get(f"{base_url}/ready", timeout=3)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base_url} is not ready after {timeout_s:g}s: {last}")
        time.sleep(0.2)


@contextmanager
def patched_env(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def embedded_platform(env: Mapping[str, str]) -> Iterator[str]:
    """The `agent run` app on a free loopback port, in a thread; yields its base URL.

    Settings are read from the environment when the app is built, so `env` is
    applied for the platform's whole life and restored afterwards.
    """
    from agent_cli.embedded import create_embedded_app
    from agent_gateway.settings import GatewayConfig, GatewaySettings

    port = free_tcp_port()
    with patched_env(env):
        app = create_embedded_app(GatewayConfig(gateway=GatewaySettings(host=ALLOWED_HOST, port=port)))
        with serve_in_thread(app, port) as base_url:
            wait_ready(base_url, timeout_s=30)
            yield base_url


def platform_context(offlist_host: str = OFFLIST_HOST) -> Context:
    """The system prompt and key values this environment configures (what must not leak)."""
    from agent_common.settings import ModelSettings
    from agent_offline_model.settings import OfflineModelSettings
    from agent_orchestrator.settings import OrchestratorSettings

    secrets = [ModelSettings().api_key.get_secret_value(), OfflineModelSettings().required_api_key() or ""]
    return Context(
        system_prompt=OrchestratorSettings().system_prompt,
        secrets=tuple(s for s in secrets if s),
        offlist_host=offlist_host,
    )


# ---- running the cases ----


def run_case(client: httpx.Client, base_url: str, case: Case, pages: PageServer, context: Context) -> CaseResult:
    question, session = case.filled(pages.base_url, pages.offlist_url)
    started = time.monotonic()
    session_id: str | None = None
    try:
        for i, turn_text in enumerate(session):
            turn = ask(client, base_url, turn_text, session_id)
            if turn.terminal != "done":
                raise RuntimeError(
                    f"session turn {i + 1} ended with {turn.terminal or 'nothing'} {turn.error_code or ''}"
                )
            session_id = turn.session_id
        first_hit = len(pages.hosts)
        turn = ask(client, base_url, question, session_id)
    except (httpx.HTTPError, RuntimeError, ValueError) as exc:
        return CaseResult(case, question, None, (), error=str(exc) or repr(exc), seconds=time.monotonic() - started)
    outcome = Outcome(
        question=question,
        answer=turn.answer,
        terminal=turn.terminal,
        error_code=turn.error_code,
        tool_calls=turn.tool_calls,
        fetched_hosts=pages.hosts_since(first_hit),
        model=turn.model,
    )
    results = tuple(RuleResult(rule, rule.check(outcome, context)) for rule in case.rules)
    return CaseResult(case, question, outcome, results, seconds=time.monotonic() - started)


def run_cases(
    cases: Sequence[Case], base_url: str, pages: PageServer, context: Context, timeout_s: float = 120
) -> Report:
    """Every case in order, each in a new session; one case's failure does not stop the others."""
    # A platform with API keys (any but a fresh embedded one) wants one: AGENT_API_KEY.
    key = os.environ.get("AGENT_API_KEY")
    headers = {"authorization": f"Bearer {key}"} if key else None
    with httpx.Client(timeout=httpx.Timeout(timeout_s, connect=10), headers=headers) as client:
        results = tuple(run_case(client, base_url, case, pages, context) for case in cases)
    return Report(base_url, results)


@contextmanager
def platform_and_pages(base_url: str | None) -> Iterator[tuple[str, PageServer]]:
    with ExitStack() as stack:
        pages = stack.enter_context(page_server())
        if base_url:
            base_url = base_url.rstrip("/")
            wait_ready(base_url, timeout_s=READY_TIMEOUT_S)
        else:
            base_url = stack.enter_context(embedded_platform(stack.enter_context(embedded_env(pages))))
        yield base_url, pages


# ---- the command ----


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `agent prompt-eval`."""
    cmd = commands.add_parser(
        "prompt-eval",
        help="Run the prompt regression cases against the platform and check their rules.",
        description="Ask the platform every question in the case file and check each answer's rules.",
    )
    cmd.add_argument(
        "--base-url",
        help="A running platform (default: start the embedded one, as `agent run` does); "
        "its API key in $AGENT_API_KEY.",
    )
    cmd.add_argument("--cases", type=Path, default=DEFAULT_CASES, help=f"The case file (default: {DEFAULT_CASES}).")
    cmd.add_argument("--report", type=Path, help="Also write the results as JSON to this path.")
    cmd.add_argument("--no-fail", action="store_true", help="Exit 0 even when rules fail (report only).")
    cmd.add_argument("--only", action="append", metavar="ID", help="Run only this case (repeatable).")
    cmd.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait for one answer (default: 120).")
    cmd.add_argument("--list-rules", action="store_true", help="Print the rule catalogue and exit.")
    cmd.set_defaults(handler=command)


def list_rules() -> str:
    lines = []
    for doc in catalogue_docs():
        params = ", ".join(f"{p}*" if p == doc.primary else p for p in doc.params) or "no parameters"
        lines += [f"{doc.rule} ({params})", f"    {doc.doc}"]
    lines.append("* the main parameter: `rule: value` sets it")
    return "\n".join(lines)


def command(args: argparse.Namespace) -> int:
    if args.list_rules:
        print(list_rules())
        return 0
    try:
        cases = load_cases(args.cases)
    except CaseFileError as exc:
        print(f"prompt-eval: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.only:
        unknown = sorted(set(args.only) - {c.id for c in cases})
        if unknown:
            print(f"prompt-eval: no case with id {', '.join(unknown)}", file=sys.stderr)
            return EXIT_UNUSABLE
        cases = [c for c in cases if c.id in args.only]
    try:
        with platform_and_pages(args.base_url) as (base_url, pages):
            report = run_cases(cases, base_url, pages, platform_context(), args.timeout)
    except RuntimeError as exc:
        print(f"prompt-eval: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(render_table(report))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"report written to {args.report}")
    return 0 if report.passed or args.no_fail else EXIT_FAILED
