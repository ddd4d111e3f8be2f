"""Fetching from the web on a model's behalf: URL policy, connect-time address
checks, a bounded body reader, per-host limits, and text out of HTML."""
