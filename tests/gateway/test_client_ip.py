"""`client_ip.py`: the socket peer, unless the operator names a proxy header and its hops."""

from __future__ import annotations

from typing import Any

import pytest

from agent_gateway.client_ip import UNKNOWN, client_ip


def scope(*forwarded: str, peer: str | None = "10.0.0.9") -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 51000) if peer else None,
        "headers": [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded],
    }


def test_without_a_configured_header_the_header_is_ignored() -> None:
    assert client_ip(scope("203.0.113.7"), None, 1) == "10.0.0.9"


def test_one_trusted_hop_takes_the_rightmost_entry() -> None:
    # Everything left of what our proxy appended may be typed by the client.
    assert client_ip(scope("198.51.100.1, 203.0.113.7"), "X-Forwarded-For", 1) == "203.0.113.7"


def test_two_trusted_hops_take_the_second_entry_from_the_right() -> None:
    assert client_ip(scope("198.51.100.1, 203.0.113.7, 10.1.1.1"), "x-forwarded-for", 2) == "203.0.113.7"


def test_repeated_header_lines_count_as_one_list() -> None:
    assert client_ip(scope("198.51.100.1", "203.0.113.7, 10.1.1.1"), "X-Forwarded-For", 2) == "203.0.113.7"


def test_fewer_entries_than_hops_means_the_request_did_not_come_through_our_proxies() -> None:
    assert client_ip(scope("203.0.113.7"), "X-Forwarded-For", 2) == "10.0.0.9"
    assert client_ip(scope(), "X-Forwarded-For", 1) == "10.0.0.9"


@pytest.mark.parametrize("entry", ["not-an-ip", "203.0.113.7:8080", "unknown"])
def test_an_entry_that_is_not_an_address_falls_back_to_the_peer(entry: str) -> None:
    assert client_ip(scope(entry), "X-Forwarded-For", 1) == "10.0.0.9"


def test_an_ipv6_entry_is_given_in_its_canonical_form() -> None:
    assert client_ip(scope("2001:DB8:0:0::1"), "X-Forwarded-For", 1) == "2001:db8::1"


def test_no_socket_peer_is_unknown() -> None:
    assert client_ip(scope(peer=None), None, 1) == UNKNOWN == "unknown"
