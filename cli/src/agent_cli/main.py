"""`agent`: the platform's command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from agent_cli.budgets import add_parser as add_budgets_parser
from agent_cli.cost_report import add_parser as add_cost_report_parser
from agent_cli.dead_letters import add_parser as add_dead_letters_parser
from agent_cli.handoff import add_parser as add_handoff_parser
from agent_cli.keys import add_parser as add_keys_parser
from agent_cli.prompt_eval.runner import add_parser as add_prompt_eval_parser
from agent_cli.rag_eval import add_parser as add_rag_eval_parser
from agent_cli.reindex import add_parser as add_reindex_parser
from agent_cli.rollout import add_parser as add_rollout_parser
from agent_common.asgi_server import PortUnavailable, bind_listener, serve_app
from agent_common.auth import FileApiKeyStore
from agent_common.logs import configure_logging
from agent_common.settings import ModelSettings, ObservabilitySettings
from agent_gateway.settings import GatewayConfig


def _model_line(model: ModelSettings | None) -> str:
    """The model the platform calls, by name and URL; never its key, nor what a URL may carry
    besides its address (a password, an `api-key` query parameter)."""
    if model is None:
        return "the built-in OFFLINE model (deterministic answers, no API key)"
    url = urlsplit(model.base_url)
    address = f"{url.hostname}:{url.port}" if url.port else url.hostname or ""
    return f"{model.name} at {urlunsplit((url.scheme, address, url.path, '', ''))}"


def cli_command() -> str:
    """How the user can call `agent` again: by name when the shell finds this one, else its path
    (`.venv/bin/agent` after `make run`, which installs into the project, not onto the PATH)."""
    own = Path(sys.executable).parent / "agent"
    found = shutil.which("agent")
    if found is not None and Path(found).resolve() == own.resolve():
        return "agent"
    try:
        return os.path.relpath(own)
    except ValueError:  # another drive (Windows)
        return str(own)


def _banner(address: str, port: int, model: ModelSettings | None, keys_exist: bool, cli: str = "agent") -> str:
    """What `agent run` prints as it starts; `model` None: the built-in offline model; `cli`: how to call `agent`."""
    base = f"http://{address}:{port}"
    model_line = _model_line(model)
    if keys_exist:
        access = f"API keys required: send `Authorization: Bearer <key>` ({cli} keys list)"
        auth = " -H 'authorization: Bearer <key>'"
    else:
        access = (
            "!! ANONYMOUS: no API key exists, so anyone who reaches this port may call it.\n"
            f"   Create one with `{cli} keys create --user <id>`; from then on a key is required."
        )
        auth = ""
    return f"""
Agent platform (embedded mode: one process, in-memory bus) is starting on {base}
Model: {model_line}
Access: {access}

  curl {base}/health
  curl -s {base}/api/chat{auth} -H 'content-type: application/json' -d '{{"message": "Hello!"}}'
  curl -N {base}/api/chat/stream{auth} -H 'content-type: application/json' -d '{{"message": "안녕하세요"}}'

Press Ctrl+C to stop.
"""


def run(args: argparse.Namespace) -> int:
    from agent_cli.embedded import create_embedded_app, local_address, uses_offline_model
    from agent_common.rag.store import StoreInUse

    config = GatewayConfig()
    host = args.host or os.environ.get("HOST")
    port = args.port or os.environ.get("PORT")
    if host:
        config.gateway.host = host
    if port:
        config.gateway.port = int(port)
    log = ObservabilitySettings()
    configure_logging("embedded", log.level, log.format)
    # Loading the embedder and the document store takes a few seconds: say so at once.
    print(f"agent run: starting on port {config.gateway.port}...", file=sys.stderr, flush=True)
    try:
        # The port first: a second `agent run` stops here, before it touches the shared files.
        listener = bind_listener("agent run", config.gateway.host, config.gateway.port)
        app = create_embedded_app(config)
    except PortUnavailable as busy:
        print(
            f"agent run: something is already running on port {busy.port} (the platform, at "
            f"http://{local_address(busy.host)}:{busy.port}?). Stop it, or choose another port with --port.",
            file=sys.stderr,
        )
        return busy.code if isinstance(busy.code, int) else 1
    except StoreInUse as locked:
        print(f"agent run: {locked}", file=sys.stderr)
        return 1
    keys_exist = asyncio.run(FileApiKeyStore(config.auth.keys_file).any_exist())
    print(
        _banner(
            local_address(config.gateway.host),
            config.gateway.port,
            None if uses_offline_model() else ModelSettings(),
            keys_exist,
            cli_command(),
        ),
        file=sys.stderr,
        flush=True,
    )
    serve_app(
        "embedded",
        app,
        host=config.gateway.host,
        port=config.gateway.port,
        log=log,
        listener=listener,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent", description="The agent platform's command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="Start the whole platform in one process (the embedded default).")
    run_cmd.add_argument("--host", help="Interface to listen on (default: $HOST, $GATEWAY_HOST or 127.0.0.1).")
    run_cmd.add_argument("--port", type=int, help="Port to listen on (default: $PORT, $GATEWAY_PORT or 8000).")
    run_cmd.set_defaults(handler=run)
    add_keys_parser(commands)
    add_budgets_parser(commands)
    add_prompt_eval_parser(commands)
    add_reindex_parser(commands)
    add_rag_eval_parser(commands)
    add_dead_letters_parser(commands)
    add_handoff_parser(commands)
    add_rollout_parser(commands)
    add_cost_report_parser(commands)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
