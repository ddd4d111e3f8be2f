"""`agent-offline-model`: serve the offline model as its own process."""

from __future__ import annotations

import logging

import uvicorn

from agent_offline_model.app import create_app
from agent_offline_model.settings import OfflineModelSettings


def main() -> None:
    settings = OfflineModelSettings()
    # uvicorn configures its own loggers only; this shows the app's (which fault was injected).
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        # A stalled request (fault injection) must not hold up a shutdown for long.
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
