"""`agent-gateway`: run the gateway as its own process."""

from __future__ import annotations

import uvicorn

from agent_common.logs import configure_logging
from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig


def main() -> None:
    config = GatewayConfig()
    configure_logging("gateway", config.log.level, config.log.format)
    uvicorn.run(
        create_app(config),
        host=config.gateway.host,
        port=config.gateway.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
