"""Tests that run or check what the documentation tells people to do."""
