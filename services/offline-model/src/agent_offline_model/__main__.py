"""`agent-offline-model`: serve the offline model as its own process, through the same
`serve_app` as every service (a busy port exits 2 at once, SIGTERM drains and exits 0)."""

from __future__ import annotations

from agent_common.asgi_server import serve_app
from agent_common.settings import ObservabilitySettings
from agent_offline_model.app import create_app
from agent_offline_model.settings import OfflineModelSettings


def main() -> None:
    settings = OfflineModelSettings()
    serve_app(
        "offline-model", create_app(settings), host=settings.host, port=settings.port, log=ObservabilitySettings()
    )


if __name__ == "__main__":
    main()
