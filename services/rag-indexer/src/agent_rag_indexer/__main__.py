"""`agent-rag-indexer`: run the RAG indexer as its own process."""

from __future__ import annotations

from agent_common.asgi_server import refusing_misconfiguration, serve_app
from agent_rag_indexer.app import create_app
from agent_rag_indexer.settings import IndexerConfig


def main() -> None:
    config = IndexerConfig()
    with refusing_misconfiguration("rag-indexer"):
        app = create_app(config)
    serve_app("rag-indexer", app, host=config.service.host, port=config.service.port, log=config.log)


if __name__ == "__main__":
    main()
