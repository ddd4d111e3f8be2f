"""`agent-tool-runner`: run the tool runner as its own process."""

from __future__ import annotations

import logging

import uvicorn

from agent_common.logs import configure_logging
from agent_tool_runner.app import create_app
from agent_tool_runner.settings import ToolRunnerConfig


def main() -> None:
    config = ToolRunnerConfig()
    configure_logging("tool-runner", config.log.level, config.log.format)
    if not config.tools.http_allowlist:
        logging.getLogger("agent.tool_runner").warning(
            "TOOL_HTTP_ALLOWLIST is empty: http_get will refuse every URL"
        )
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
