"""The platform beside its peers (`python -m bench.peers`): LiteLLM's proxy and the floor."""
