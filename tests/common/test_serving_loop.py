"""Every process's event loop: uvloop where it is installed, asyncio's own where not.

Every test that starts `agent run` (tests/e2e, tests/runbook, tests/web) or a service of its
own (the distributed tiers, tests/chaos) then runs the platform on it."""

from __future__ import annotations

import importlib.util

import pytest

from agent_common.asgi_server import serving_loop


def test_every_process_runs_on_uvloop_where_it_is_installed() -> None:
    assert importlib.util.find_spec("uvloop") is not None, "uvloop is a dependency of agent-common on this system"
    assert serving_loop() == "uvloop"


def test_without_uvloop_a_process_runs_on_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *rest: None if name == "uvloop" else found(name, *rest)
    )
    assert serving_loop() == "asyncio"
