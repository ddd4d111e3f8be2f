"""Host allowlists, matched one way everywhere: the tool runner's fetches and the
links the orchestrator lets an answer keep read the same `TOOL_HTTP_ALLOWLIST`.

Entries are host names compared exactly (case-insensitive, trailing dot ignored,
internationalised names in their IDNA form), or `*.example.com`, which matches
every subdomain of example.com but not example.com itself. An IP address can be
listed, in its canonical form only. An empty allowlist allows nothing.
"""

from __future__ import annotations

from collections.abc import Sequence


def normalise_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def host_allowed(host: str, allowlist: Sequence[str]) -> bool:
    host = normalise_host(host)
    for entry in allowlist:
        if entry.startswith("*."):
            suffix = "." + normalise_host(entry[2:])
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == normalise_host(entry):
            return True
    return False
