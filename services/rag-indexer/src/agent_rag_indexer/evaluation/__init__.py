"""Retrieval quality, measured: a labelled question set built from a real corpus, and
hit@k, MRR and answer inclusion per chunking strategy (`agent rag-eval`, docs/rag.md)."""
