"""agent_orchestrator."""
