"""The gateway serves with its start-up objects frozen out of the collector's full passes."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient


def test_the_gateway_serves_with_its_start_up_heap_frozen(anonymous_gateway: TestClient) -> None:
    assert anonymous_gateway.get("/health").status_code == 200
    assert gc.get_freeze_count() > 10_000  # its modules, routes and schemas, at the least
