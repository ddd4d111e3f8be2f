"""`agent-orchestrator`: run the orchestrator as its own process."""

from __future__ import annotations

from agent_common.asgi_server import refusing_misconfiguration, serve_app
from agent_orchestrator.app import create_app
from agent_orchestrator.settings import OrchestratorConfig


def main() -> None:
    config = OrchestratorConfig()
    with refusing_misconfiguration("orchestrator"):
        app = create_app(config)
    serve_app("orchestrator", app, host=config.service.host, port=config.service.port, log=config.log)


if __name__ == "__main__":
    main()
