"""Allowlist semantics: exact names and `*.` wildcards, default-deny."""

from __future__ import annotations

import pytest

from agent_tool_runner.allowlist import host_allowed

ALLOWLIST = ["docs.example.com", "*.wiki.example.org", "Bücher.example"]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("docs.example.com", True),
        ("DOCS.Example.COM", True),
        ("docs.example.com.", True),
        ("example.com", False),
        ("api.docs.example.com", False),
        ("docs.example.com.evil.test", False),
        ("evildocs.example.com", False),
        ("en.wiki.example.org", True),
        ("a.b.wiki.example.org", True),
        ("wiki.example.org", False),
        ("xwiki.example.org", False),
        ("bücher.example", True),
        ("xn--bcher-kva.example", True),
    ],
)
def test_allowlist_matches_exact_names_and_subdomain_wildcards(host: str, allowed: bool) -> None:
    assert host_allowed(host, ALLOWLIST) is allowed


def test_an_empty_allowlist_allows_nothing() -> None:
    assert host_allowed("docs.example.com", []) is False
