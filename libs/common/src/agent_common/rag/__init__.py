"""What the RAG indexer and the orchestrator share: the settings of the index, the
embedder, the vector store client, and the shape of the passages put in a prompt.

The indexer writes the store; the orchestrator reads it. Neither imports the other.
"""
