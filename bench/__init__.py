"""`make bench`: what the pipeline adds to a model's stream, measured over real HTTP/SSE.

Never part of the test suite: figures depend on the machine, and timing is
measured here, not asserted anywhere (docs/benchmarks.md).
"""
