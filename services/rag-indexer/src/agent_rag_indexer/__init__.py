"""The RAG indexer: reindex commands off the `rag.reindex` topic, documents into the vector store."""
