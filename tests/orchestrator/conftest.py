"""The offline model over HTTP and two replicas over shared stores (`replicas.py`), for the
tests of runs that lose a part."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from agent_offline_model.app import create_app as create_offline_model
from tests.orchestrator.replicas import Replicas
from tests.support.web import serve_in_thread


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_in_thread(create_offline_model()) as url:
        yield f"{url}/v1"


@pytest.fixture
async def replicas(model_url: str) -> AsyncIterator[Replicas]:
    r = Replicas(model_url)
    await r.bus.start()
    yield r
    await r.close()
