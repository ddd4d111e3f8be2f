"""`agent-orchestrator`: run the orchestrator as its own process."""

from __future__ import annotations

import uvicorn

from agent_common.logs import configure_logging
from agent_orchestrator.app import create_app
from agent_orchestrator.settings import OrchestratorConfig


def main() -> None:
    config = OrchestratorConfig()
    configure_logging("orchestrator", config.log.level, config.log.format)
    uvicorn.run(
        create_app(config),
        host=config.service.host,
        port=config.service.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
