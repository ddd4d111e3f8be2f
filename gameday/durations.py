"""Durations as Prometheus and Argo write them (`90s`, `5m`, `1h30m`), read, written and
scaled: the short game day runs the project's rules with every `for:` and range window
divided by one stated factor, so an alert meant to wait ten minutes waits seconds."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration", "scale_duration", "scale_windows"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
# A range or subquery window in PromQL: `[5m]`, `[1h:1m]`.
_WINDOW = re.compile(r"\[((?:\d+(?:ms|s|m|h|d|w|y))+)(?::((?:\d+(?:ms|s|m|h|d|w|y))+))?\]")


def parse_duration(text: str) -> float:
    """Seconds in `text` (`1m30s`, `250ms`, `2h`); a bare number is seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """The shortest whole form Prometheus accepts: `3s`, `1m`, `1500ms`."""
    ms = max(1, round(seconds * 1000))
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def scale_duration(text: str, factor: float, *, floor_s: float = 0.0) -> str:
    """`text` divided by `factor`, at least `floor_s` (a window must hold a few scrapes)."""
    return format_duration(max(floor_s, parse_duration(text) / factor))


def scale_windows(expr: str, factor: float, *, floor_s: float) -> str:
    """Every range window of a PromQL expression divided by `factor` (at least `floor_s`)."""

    def scaled(match: re.Match[str]) -> str:
        window = scale_duration(match.group(1), factor, floor_s=floor_s)
        step = match.group(2)
        return f"[{window}:{scale_duration(step, factor)}]" if step else f"[{window}]"

    return _WINDOW.sub(scaled, expr)
