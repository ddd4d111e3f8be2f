"""Which URLs `http_get` refuses before it connects: allowlist semantics (exact
names and `*.` wildcards, default-deny) and a table of URL forms."""

from __future__ import annotations

import httpx
import pytest

from agent_common.errors import ErrorCode, PlatformError
from agent_tool_runner.web.allowlist import check_url, host_allowed

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


# Loopback hosts are listed on purpose, in every spelling: each form must be refused
# for what it is (its form, its userinfo...), not just for being off the list.
LISTED = ["docs.example.com", "*.wiki.example.org", "127.0.0.1", "2130706433", "0x7f.1", "127.1", "::1"]


def reason_refused(url: str) -> str:
    with pytest.raises(PlatformError) as refused:
        check_url(httpx.URL(url), LISTED, ports=[80, 443])
    assert refused.value.code == ErrorCode.TOOL_URL_NOT_ALLOWED
    return str(refused.value.info.details["reason"])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # other schemes
        ("ftp://docs.example.com/file", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://docs.example.com/", "scheme"),
        ("ws://docs.example.com/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("data:text/html,hello", "scheme"),
        # IP literals in decimal, octal, hex and short forms: one address, many spellings
        ("http://2130706433/", "noncanonical_ip"),
        ("http://0x7f.1/", "noncanonical_ip"),
        ("http://0x7f000001/", "noncanonical_ip"),
        ("http://127.1/", "noncanonical_ip"),
        ("http://017700000001/", "noncanonical_ip"),
        ("http://10/", "noncanonical_ip"),
        # IPv6 and IPv4-mapped forms, off the list (the address check refuses them when listed)
        ("http://[::ffff:127.0.0.1]/", "not_allowlisted"),
        ("http://[::ffff:7f00:1]/", "not_allowlisted"),
        ("http://[0:0:0:0:0:0:0:1]/", "not_allowlisted"),
        ("http://[fe80::1%25eth0]/", "invalid_host"),
        # userinfo, `@` and `#` tricks: the host is what httpx parses, and userinfo is refused
        ("http://user:pw@docs.example.com/", "userinfo"),
        ("http://docs.example.com@evil.example/", "userinfo"),
        ("http://docs.example.com:80@evil.example/", "userinfo"),
        ("http://evil.example\\@docs.example.com/", "userinfo"),
        ("http://evil.example#@docs.example.com/", "not_allowlisted"),
        ("http://evil.example?@docs.example.com/", "not_allowlisted"),
        ("http://evil.example/#docs.example.com", "not_allowlisted"),
        # look-alike hosts: an allowed name as a prefix, a suffix or a label of another
        ("http://docs.example.com.evil.example/", "not_allowlisted"),
        ("http://evildocs.example.com/", "not_allowlisted"),
        ("http://docs-example.com/", "not_allowlisted"),
        ("http://docs.example.co/", "not_allowlisted"),
        ("http://wiki.example.org/", "not_allowlisted"),
        ("http://en.wiki.example.org.evil.example/", "not_allowlisted"),
        ("http://docs.example.com%2eevil.example/", "invalid_host"),
        ("http://%64ocs.example.com/", "invalid_host"),
        # ports: only the allowed ones
        ("http://docs.example.com:8080/", "port"),
        ("http://docs.example.com:22/", "port"),
        # no host at all
        ("http:/docs.example.com/", "invalid_url"),
        ("//docs.example.com/", "scheme"),
    ],
)
def test_url_forms_that_must_be_refused(url: str, reason: str) -> None:
    assert reason_refused(url) == reason


@pytest.mark.parametrize(
    "url",
    [
        "http://docs.example.com/",
        "HTTPS://DOCS.EXAMPLE.COM/path?q=1#frag",
        "https://docs.example.com:443/",
        "http://docs.example.com./",
        "https://en.wiki.example.org/wiki/서울",
        "http://127.0.0.1/",
        "http://[::1]/",
    ],
)
def test_listed_hosts_in_canonical_form_pass_the_url_check(url: str) -> None:
    check_url(httpx.URL(url), LISTED, ports=[80, 443])
