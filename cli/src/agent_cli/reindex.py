"""`agent reindex`: publish a reindex command for files and folders, and show its progress;
`agent reindex --remove` takes documents out of the index the same way.

It talks to the gateway's reindex API (`/api/reindex`, in both modes: `agent run`'s port
or the distributed gateway's), with the key in `$AGENT_API_KEY`, which needs the
`reindex` scope (`agent keys create --scope reindex`). The gateway publishes the command
on `rag.reindex` and streams its statuses from `rag.status`. A progress bar follows them
until the indexer reports the command done, then the counts and each failure with its
reason are printed.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from typing import TextIO

import httpx

from agent_common.messages import ReindexStatus

EXIT_OK, EXIT_SOME_FAILED, EXIT_FAILED = 0, 1, 2
BAR_WIDTH = 30


def default_url() -> str:
    host = os.environ.get("HOST") or "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_unspecified:  # listening on every interface: call loopback
            host = "127.0.0.1"
    except ValueError:  # a host name
        pass
    return f"http://{host}:{os.environ.get('PORT', '8000')}"


def progress_line(status: ReindexStatus) -> str:
    if status.state == "accepted":
        return "queued: waiting for the indexer to take the command"
    c = status.counts
    total = max(c.total, 1)
    filled = round(BAR_WIDTH * min(c.seen, total) / total) if c.total else (BAR_WIDTH if status.terminal else 0)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return (
        f"[{bar}] {c.seen}/{c.total} documents  changed {c.changed}  unchanged {c.unchanged}  "
        f"deleted {c.deleted}  chunks {c.chunks_written}  failed {c.failed}"
    )


def summary(status: ReindexStatus) -> str:
    c = status.counts
    lines = [
        f"{status.state}: {c.seen} documents seen, {c.changed} changed, {c.unchanged} unchanged, "
        f"{c.deleted} deleted, {c.chunks_written} chunks written, {c.failed} failed "
        f"({'removal from' if status.mode == 'remove' else f'{status.mode} reindex of'} {status.source!r} "
        f"in {status.elapsed_s:.1f} s)"
    ]
    if status.error is not None:
        lines.append(f"error: {status.error.code.value}: {status.error.message}")
    lines.extend(f"  failed: {f.document}: {f.error.code.value}: {f.error.message}" for f in status.failures)
    return "\n".join(lines)


def follow(client: httpx.Client, url: str, request_id: str, out: TextIO) -> ReindexStatus:
    """Draw the bar from each status until the terminal one, which is returned."""
    interactive = out.isatty()
    last: ReindexStatus | None = None
    with client.stream("GET", f"{url}/api/reindex/{request_id}/events", timeout=httpx.Timeout(30, read=None)) as stream:
        if stream.status_code != 200:
            stream.read()
            raise Refused(stream)
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            last = ReindexStatus.model_validate_json(line[5:].strip())
            text = progress_line(last)
            out.write(f"\r{text}" if interactive else f"{text}\n")
            out.flush()
            if last.terminal:
                break
    if interactive:
        out.write("\n")
    if last is None or not last.terminal:
        raise httpx.ReadError("the status stream ended before the command did")
    return last


class Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"reindex refused ({response.status_code}): {refusal(response)}")


def refusal(response: httpx.Response) -> str:
    """The gateway's classified refusal as a line for people, else the raw answer."""
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text


def run(args: argparse.Namespace) -> int:
    # Absolute but not resolved: the paths name the indexer's files, maybe on another machine,
    # so symlinks are its to resolve (and the gateway compares the paths as written).
    paths = [os.path.abspath(os.path.expanduser(p)) for p in args.paths]
    if not paths and not (args.remove and args.source):
        print("reindex: name files or folders (or, with --remove, a --source to remove whole)", file=sys.stderr)
        return EXIT_FAILED
    body = {
        "source": {"name": args.source or paths[0], "paths": paths},
        "mode": "remove" if args.remove else "full" if args.full else "incremental",
    }
    url = args.url.rstrip("/")
    # Needed once keys exist (always, on a distributed gateway), with the `reindex` scope.
    key = os.environ.get("AGENT_API_KEY")
    headers = {"authorization": f"Bearer {key}"} if key else None
    try:
        with httpx.Client(timeout=30, headers=headers) as client:
            response = client.post(f"{url}/api/reindex", json=body)
            if response.status_code != 202:
                raise Refused(response)
            request_id = str(response.json()["request_id"])
            print(f"reindex {request_id}: {body['mode']} {', '.join(paths) or args.source}", file=sys.stderr)
            final = follow(client, url, request_id, sys.stderr)
    except Refused as refused:
        print(refused, file=sys.stderr)
        return EXIT_FAILED
    except httpx.HTTPError as exc:
        print(f"reindex: cannot reach the gateway at {url}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(summary(final))
    if args.json:
        print(json.dumps(final.model_dump(mode="json"), ensure_ascii=False))
    if final.state == "failed":
        return EXIT_FAILED
    return EXIT_SOME_FAILED if final.counts.failed else EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "reindex",
        help="Index files and folders (text, Markdown, HTML, PDF), or remove them (--remove), and show the progress.",
    )
    cmd.add_argument(
        "paths", nargs="*", help="Files or folders, as the indexer sees them, under RAG_INDEXER_ALLOWED_ROOTS."
    )
    cmd.add_argument(
        "--url",
        default=default_url(),
        help="The gateway (default: the embedded platform's, $HOST:$PORT); the key is $AGENT_API_KEY.",
    )
    cmd.add_argument("--source", help="Name of this set of documents (default: the first path).")
    cmd.add_argument(
        "--full",
        action="store_true",
        help="Rebuild the index from these documents beside the live one and switch when complete.",
    )
    cmd.add_argument(
        "--remove",
        action="store_true",
        help="Take the documents indexed from these files and folders out of the index (with --source and no "
        "paths: every document of that source); the files themselves are left alone.",
    )
    cmd.add_argument("--json", action="store_true", help="Also print the final status as JSON.")
    cmd.set_defaults(handler=run)
