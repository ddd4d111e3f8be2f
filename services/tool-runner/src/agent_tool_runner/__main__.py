"""`agent-tool-runner`: run the tool runner as its own process."""

from __future__ import annotations

from agent_common.asgi_server import serve_app
from agent_tool_runner.app import create_app
from agent_tool_runner.settings import ToolRunnerConfig


def main() -> None:
    config = ToolRunnerConfig()
    serve_app("tool-runner", create_app(config), host=config.service.host, port=config.service.port, log=config.log)


if __name__ == "__main__":
    main()
