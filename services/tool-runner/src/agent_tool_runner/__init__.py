"""agent_tool_runner."""
