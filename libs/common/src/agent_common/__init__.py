"""agent_common."""
