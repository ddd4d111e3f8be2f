"""agent_gateway."""
