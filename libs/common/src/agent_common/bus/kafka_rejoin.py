"""A replica restarted after a crash waits for the member it left behind before joining a group.

A process killed without leaving its consumer groups (SIGKILL, an OOM kill) stays a member of
each until its session times out (`session_timeout_ms`: 20 s). Restarted sooner, as Kubernetes
restarts a crashed container, its new consumer's JoinGroup starts a rebalance, and a rebalance
waits for every member to rejoin, the dead one too: each surviving replica gives up all of its
partitions and is given none back until the dead member expires. Every chat waits, not only the
dead replica's share (measured: 14 s, from the replacement's join to the expiry).

With a member name (`BUS_KAFKA_MEMBER_NAME`: the pod's name, kept across a container's restarts
and never shared by two live replicas) in its client id, a starting consumer asks the group's
coordinator who is in the group. While a member with its own client id is there (its previous
life), it waits, at most the session timeout and a margin. The other replicas keep their
partitions meanwhile, and only the dead replica's share waits, as it would without a restart.
A replica that stopped cleanly left its groups: there is nothing to wait for. Kafka's static
membership (`group.instance.id`) would avoid the rebalance altogether, but a static member never
leaves on a clean stop either, so each rollout would hold its pods' partitions for the session
timeout; and a broker that cannot be asked is no reason to stay out: the consumer joins at once.

A consumer of this process that died inside the client (`kafka_client_deaths.py`) is another
member left behind, and one known for certain to be dead: its replacement makes it leave
(`evict`) before joining, as soon as the broker can be asked. Its own attempt to leave is made
once and fails when the broker is away (a death during a cut), and a group that still holds it
stalls every member's rebalance until its session ends (45 s at a 30 s ride-through).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, ConnectionGroup, CoordinationType
from aiokafka.errors import KafkaError, UnknownMemberIdError
from aiokafka.protocol.group import LeaveGroupRequest

log = logging.getLogger("agent.bus")

POLL_S = 0.5
# Past the session timeout: the coordinator's own check of expired sessions, and the asking.
MARGIN_S = 5.0
REQUEST_TIMEOUT_MS = 5000


def member_client_id(client_id: str, member_name: str | None, topic: str) -> str:
    """What a group's members are told apart by: the service, the replica's name and the topic."""
    return client_id if member_name is None else f"{client_id}:{member_name}:{topic}"


async def wait_for_previous_member(bootstrap_servers: str, group: str, client_id: str, session_s: float) -> float:
    """Return once no member of `group` has `client_id`, or `session_s` and a margin have passed;
    at once if the coordinator cannot be asked. The seconds waited."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id=client_id, request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    waited = False
    try:
        async with asyncio.timeout(session_s + MARGIN_S):
            await admin.start()
            while await _member_present(admin, group, client_id):
                if not waited:
                    log.warning(
                        "this replica's previous member is still in its group (it was not stopped cleanly): "
                        "waiting for its session to end before joining, so the other replicas keep their partitions",
                        extra={"group": group, "client_id": client_id},
                    )
                    waited = True
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        log.warning(
            "a member with this replica's client id is still in the group after the session timeout: joining "
            "(is BUS_KAFKA_MEMBER_NAME shared by two live replicas?)",
            extra={"group": group, "client_id": client_id},
        )
    except KafkaError as exc:
        log.warning("could not ask who is in the group; joining at once", extra={"group": group, "error": repr(exc)})
    finally:
        await admin.close()
    elapsed = loop.time() - began
    if waited:
        log.info("the previous member has left: joining", extra={"group": group, "waited_s": round(elapsed, 1)})
    return elapsed


async def _member_present(admin: AIOKafkaAdminClient, group: str, client_id: str) -> bool:
    """Whether `group` has a member with `client_id` (a group the coordinator cannot describe: no)."""
    responses: list[Any] = await admin.describe_consumer_groups([group])
    for response in responses:
        for described in response.groups:
            error_code, members = described[0], described[5]
            if error_code != 0:
                log.warning("the coordinator did not describe the group", extra={"group": group, "code": error_code})
                return False
            if any(member[1] == client_id for member in members):
                return True
    return False


async def evict(bootstrap_servers: str, group: str, member_id: str, client_id: str, within_s: float) -> bool:
    """Make member `member_id` of `group`, a consumer of this process known to be dead, leave it,
    asking again until the group's coordinator answers or `within_s` has passed (its session
    timeout: by then the group has dropped it anyway). Whether it was seen to leave (or to be gone)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        async with asyncio.timeout(within_s):
            while True:
                code = await _leave(bootstrap_servers, group, member_id, client_id)
                if code in (0, UnknownMemberIdError.errno):
                    log.info(
                        "the dead consumer has left its group",
                        extra={"group": group, "after_s": round(loop.time() - began, 1), "code": code},
                    )
                    return True
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        log.warning(
            "the dead consumer could not be made to leave its group; its session has ended", extra={"group": group}
        )
        return False


async def _leave(bootstrap_servers: str, group: str, member_id: str, client_id: str) -> int | None:
    """The coordinator's answer to a LeaveGroup for `member_id`; None if it could not be asked."""
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers, client_id=client_id, request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    try:
        await client.bootstrap()
        node = await client.coordinator_lookup(CoordinationType.GROUP, group)
        response = await client.send(node, LeaveGroupRequest(group, member_id), group=ConnectionGroup.COORDINATION)
        return int(response.error_code)
    except Exception as exc:  # a broker away, or uvloop's `RuntimeError` on a connection it closed: asked again
        log.debug("could not ask the coordinator yet", extra={"group": group, "error": repr(exc)})
        return None
    finally:
        await client.close()
