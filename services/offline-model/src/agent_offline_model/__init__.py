"""agent_offline_model."""
