"""Consumer groups as an operator reads them (`kafka-consumer-groups --describe --members`),
through aiokafka's admin client."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError


async def members_from(admin: AIOKafkaAdminClient, group: str, client_id: str) -> int:
    """Members of `group` that a client named `client_id` opened; 0 for a group nobody has joined."""
    _state, members = await _described(admin, group, client_id)
    return members


async def _described(admin: AIOKafkaAdminClient, group: str, client_id: str) -> tuple[str, int]:
    async with asyncio.timeout(30):
        while True:
            try:
                [described] = await admin.describe_consumer_groups([group])
                break
            except GroupCoordinatorNotAvailableError:  # a fresh broker creates its offsets topic first
                await asyncio.sleep(0.5)
    _error, _group, state, _protocol_type, _protocol, members, *_ = described.groups[0]
    return state, sum(1 for member in members if member[1] == client_id)


async def settled_members(admin: AIOKafkaAdminClient, group: str, client_id: str) -> int:
    """The group's members from `client_id` once a rebalance under way has ended (state `Stable`):
    a member replaced a moment ago may still be joining, on a busy machine for seconds."""
    async with asyncio.timeout(30):
        while (described := await _described(admin, group, client_id))[0] != "Stable":  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return described[1]


async def joined(admin: AIOKafkaAdminClient, group: str, client_id: str) -> int:
    """The group's members from `client_id` once it has any (joining takes a rebalance: poll, with a deadline)."""
    async with asyncio.timeout(30):
        while True:
            if members := await members_from(admin, group, client_id):
                return members
            await asyncio.sleep(0.2)
