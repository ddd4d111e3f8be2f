"""`agent_build_info`: which version each process runs, for dashboards and deploy history.

The gauge is 1 with the service package's installed version as its `version`
label. A deploy shows in Prometheus as a new `version` (or a new `instance`, a
new pod of the same version) appearing on a target: `agent handoff` lists the
versions seen over the last hour with when each was first seen, and a rollback
shows the older version coming back. The `service` label is the scrape
target's (the process serves no label of that name, which would clash with it).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Gauge

__all__ = ["BUILD_INFO", "installed_version", "record_build_info"]

BUILD_INFO = Gauge("agent_build_info", "1, labelled with the version of the service this process runs.", ["version"])


def installed_version(service: str) -> str:
    try:
        return version(f"agent-{service}")
    except PackageNotFoundError:
        return version("agent-common")


def record_build_info(service: str) -> None:
    """Export the build-info series of `service` (`gateway`, `orchestrator`, ...)."""
    BUILD_INFO.labels(installed_version(service)).set(1)
