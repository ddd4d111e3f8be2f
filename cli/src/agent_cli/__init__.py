"""agent_cli."""
