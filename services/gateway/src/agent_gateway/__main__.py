"""`agent-gateway`: run the gateway as its own process."""

from __future__ import annotations

from agent_common.asgi_server import serve_app
from agent_gateway.app import create_app
from agent_gateway.settings import GatewayConfig


def main() -> None:
    config = GatewayConfig()
    serve_app("gateway", create_app(config), host=config.gateway.host, port=config.gateway.port, log=config.log)


if __name__ == "__main__":
    main()
