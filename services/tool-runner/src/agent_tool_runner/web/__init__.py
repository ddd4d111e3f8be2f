"""Fetching from the web on a model's behalf: URL policy, the SSRF guard's
connect-time address checks, a bounded body reader, per-host limits, and text out of HTML."""
