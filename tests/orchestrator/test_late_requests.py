"""A chat request that reaches an orchestrator after the gateway has ended its run (the
broker was away past `BUS_RIDE_THROUGH_S`, so the client was told `bus_unavailable`) is
not run: its first delivery finds the ending in the run's events and leaves it, so the
client's one ending stays the only one and the session's turn is free again."""

from __future__ import annotations

from agent_common.resilience import Outage, outage_error
from agent_common.run_events import end_run, failure
from tests.orchestrator.replicas import Replicas, chat


async def test_a_request_delivered_after_the_gateway_ended_its_run_is_not_run(replicas: Replicas) -> None:
    late = chat("are you still there?")
    await end_run(replicas.events, failure(late.request_id, outage_error(Outage.BUS, 5.0), "en", partial=False))
    await replicas.deliver(0, late)  # the broker is back: the request's first delivery (and its run, if any)
    assert [e.type for e in await replicas.events.replay(late.request_id)] == ["error"]
    assert await replicas.sessions.history(late.session_id) == []
    after = chat("and now?")  # the session's turn was not left held by the late request
    await replicas.deliver(1, after)
    assert (await replicas.events.replay(after.request_id))[-1].type == "done"
