"""A run leaves nothing to the garbage collector: every object it made is freed by reference
counting as it ends (`tests/support/garbage.py` says why that matters). The model is the offline
one in a process of its own (overriding `conftest.py`'s, served in a thread of this one), so that its
server's objects are not counted with the run's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_common.messages import ChatRequested
from tests.orchestrator.replicas import Replicas
from tests.support.garbage import cyclic_garbage, described
from tests.support.platform import ServiceProcess, wait_ready
from tests.support.web import free_tcp_port


@pytest.fixture(scope="module")
def model_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_tcp_port()
    logs: Path = tmp_path_factory.mktemp("offline-model")
    model = ServiceProcess("offline-model", "agent_offline_model", {"OFFLINE_MODEL_PORT": str(port)}, logs)
    try:
        wait_ready(f"http://127.0.0.1:{port}", model)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        model.stop()


def chat(message: str) -> ChatRequested:
    stamp = time.monotonic_ns()
    return ChatRequested(
        request_id=f"req_{stamp}",
        session_id=f"ses_{stamp}",
        user_id="u1",
        message=message,
        deadline_at=time.time() + 30,
    )


async def test_a_streamed_answer_leaves_no_cyclic_garbage(replicas: Replicas) -> None:
    await replicas.deliver(0, chat("hello"))  # the first run makes what every run shares (connections, caches)
    request = chat("안녕하세요, 오늘 일정 알려 주세요")
    with cyclic_garbage() as left:
        await replicas.deliver(0, request)  # its claim, lease, model call, tokens, end
    events = await replicas.events.replay(request.request_id)
    assert [e.type for e in events][-1] == "done" and sum(e.type == "token" for e in events) > 1
    assert not left, f"a run left {len(left)} objects in reference cycles: {described(left)}"
