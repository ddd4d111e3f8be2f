"""How many tokens a text costs, estimated without a tokenizer.

A real tokenizer is model-specific and `tiktoken` fetches its tables at run
time, which the platform cannot count on. The estimate is deliberately
pessimistic: about four ASCII characters per token (English in BPE
vocabularies), and one token for every other character (a Hangul syllable
costs one to two tokens in current vocabularies; counting one keeps Korean
budgets close while staying simple). It bounds memory and prompt size; it is
not a bill.
"""

from __future__ import annotations

import math


def estimate_tokens(text: str) -> int:
    # Counted in C: ASCII kept by the encoder is exactly the characters below 128. A Python loop over
    # the characters took 16 µs for 580 of them, for each message of every prompt a session's history builds.
    ascii_chars = len(text) if text.isascii() else len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)
