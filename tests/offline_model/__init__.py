"""Tests of the offline model: its policy, and its wire protocol as the openai SDK sees it."""
