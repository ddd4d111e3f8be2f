"""Consumer groups as an operator reads them (`kafka-consumer-groups --describe --members`),
through aiokafka's admin client."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError


async def members_from(admin: AIOKafkaAdminClient, group: str, client_id: str) -> int:
    """Members of `group` that a client named `client_id` opened; 0 for a group nobody has joined."""
    async with asyncio.timeout(30):
        while True:
            try:
                [described] = await admin.describe_consumer_groups([group])
                break
            except GroupCoordinatorNotAvailableError:  # a fresh broker creates its offsets topic first
                await asyncio.sleep(0.5)
    _error, _group, _state, _protocol_type, _protocol, members, *_ = described.groups[0]
    return sum(1 for member in members if member[1] == client_id)


async def joined(admin: AIOKafkaAdminClient, group: str, client_id: str) -> int:
    """The group's members from `client_id` once it has any (joining takes a rebalance: poll, with a deadline)."""
    async with asyncio.timeout(30):
        while True:
            if members := await members_from(admin, group, client_id):
                return members
            await asyncio.sleep(0.2)
