"""`agent keys create|list|revoke`: API keys for callers of the gateway.

Keys go where the gateway reads them: Redis when `REDIS_URL` is set (every
replica sees them at once), otherwise the embedded default's key file
(`AUTH_KEYS_FILE`). A new key is printed once; only its hash is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent_common.auth import ApiKeyStore, Scope
from agent_common.settings import RedisSettings
from agent_common.transports import open_transports
from agent_gateway.settings import AuthSettings

_NAME = re.compile(r"^[A-Za-z0-9_.@:-]{1,64}$")


@asynccontextmanager
async def key_store() -> AsyncIterator[tuple[ApiKeyStore, str]]:
    keys_file = AuthSettings().keys_file
    async with open_transports(None, RedisSettings(), client_id="agent-keys", keys_file=keys_file) as transports:
        yield transports.api_keys, transports.api_keys_location


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise argparse.ArgumentTypeError("1-64 characters: letters, digits and _ . @ : -")
    return value


async def _create(args: argparse.Namespace) -> int:
    async with key_store() as (store, where):
        created = await store.create(args.user, args.tenant, args.name or "", [Scope(s) for s in args.scope])
    record = created.record
    scopes = f", scopes {','.join(record.scopes)}" if record.scopes else ""
    print(
        f"Created key {record.key_id} for user {record.user_id} (tenant {record.tenant}{scopes}) in {where}.",
        file=sys.stderr,
    )
    print("It is shown only now; keep it in a secret store:", file=sys.stderr)
    print(created.key)
    return 0


async def _list(_: argparse.Namespace) -> int:
    async with key_store() as (store, where):
        records = await store.list()
    print(f"{len(records)} key(s) in {where}", file=sys.stderr)
    for r in records:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.created_at))
        print(f"{r.key_id}\t{r.tenant}\t{r.user_id}\t{created}\t{','.join(r.scopes) or '-'}\t{r.name}")
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    async with key_store() as (store, _):
        revoked = await store.revoke(args.key_id)
    if not revoked:
        print(f"No key with id {args.key_id}.", file=sys.stderr)
        return 1
    print(f"Revoked key {args.key_id}: calls with it now get 401.", file=sys.stderr)
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="Create, list and revoke API keys for the gateway.")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="Create a key for a user; prints it once.")
    create.add_argument("--user", required=True, type=_name, help="The user id the key stands for.")
    create.add_argument("--tenant", default="default", type=_name, help="The user's tenant (default: default).")
    create.add_argument("--name", type=_name, help="A label to recognise the key by in `agent keys list`.")
    create.add_argument(
        "--scope",
        action="append",
        default=[],
        choices=[s.value for s in Scope],
        help="A privilege beyond chatting, repeatable: `reindex` lets the key use /api/reindex.",
    )
    create.set_defaults(handler=lambda a: asyncio.run(_create(a)))
    listing = sub.add_parser("list", help="List keys: id, tenant, user, creation time, scopes, label (never the key).")
    listing.set_defaults(handler=lambda a: asyncio.run(_list(a)))
    revoke = sub.add_parser("revoke", help="Revoke a key by its id; it stops working at once.")
    revoke.add_argument("key_id", help="The key's id, as `agent keys list` shows it.")
    revoke.set_defaults(handler=lambda a: asyncio.run(_revoke(a)))
