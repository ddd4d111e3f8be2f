"""Against a real server over raw sockets: slow clients are cut off and counted (slowloris), and a
client that hangs up mid-body or mid-stream is a client disconnect (499), not a server error."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from agent_cli.embedded import create_embedded_app
from agent_cli.prompt_eval.runner import patched_env
from agent_common import slow_clients
from agent_common.slow_clients import LINGER_S, header_deadline_protocol
from agent_gateway.settings import GatewayConfig, GatewaySettings
from tests.support.platform import scratch_state
from tests.support.web import free_tcp_port, serve_in_thread

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    port = free_tcp_port()
    folder = tmp_path_factory.mktemp("slow-clients")
    env = {**scratch_state(folder), "RAG_STORE_PATH": str(folder), "GATEWAY_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    with patched_env(env):
        app = create_embedded_app(GatewayConfig(gateway=GatewaySettings(host="127.0.0.1", port=port)))
    with serve_in_thread(app, port, http=header_deadline_protocol(HEADER_TIMEOUT_S)):
        yield "127.0.0.1", port


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def read_until_closed(conn: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """What the server sent before it closed the connection, and how long that took."""
    started, received = time.monotonic(), b""
    conn.settimeout(limit_s)
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return received, time.monotonic() - started
        received += chunk


def test_connections_whose_head_never_ends_are_closed_and_counted(address: tuple[str, int]) -> None:
    before = sample("http_slow_clients_total", phase="header")
    conns = [socket.create_connection(address) for _ in range(20)]
    for conn in conns[:10]:
        conn.sendall(b"POST /api/chat HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
    for conn in conns:
        answer, took = read_until_closed(conn, HEADER_TIMEOUT_S + 5)
        assert took < HEADER_TIMEOUT_S + 3
        assert answer.startswith(b"HTTP/1.1 408")
        conn.close()
    assert sample("http_slow_clients_total", phase="header") - before == 20


def trickle(conn: socket.socket, first: bytes, for_s: float) -> str | None:
    """Send `first`, then a byte every 50 ms for `for_s` whatever the server does meanwhile, as
    a slow client does; then end this side. The error a send met, or None: every byte was taken."""
    conn.sendall(first)
    stop_at = time.monotonic() + for_s
    try:
        while time.monotonic() < stop_at:
            conn.sendall(b"a")
            time.sleep(0.05)
        conn.shutdown(socket.SHUT_WR)
    except OSError as exc:  # the server closed with bytes unread: the kernel reset the connection
        return repr(exc)
    return None


def read_all(conn: socket.socket, limit_s: float) -> bytes:
    try:
        return read_until_closed(conn, limit_s)[0]
    except ConnectionResetError:  # a reset destroys what was not read yet
        return b"<reset>"


def test_a_body_trickled_a_byte_at_a_time_gets_408_within_the_bound(address: tuple[str, int]) -> None:
    before = sample("http_slow_clients_total", phase="body")
    head = b"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n"
    with socket.create_connection(address) as conn:
        # Still sending a second after the answer: the 408 must reach it, not a reset.
        assert trickle(conn, head + b'{"message": "', BODY_TIMEOUT_S + 1.0) is None
        answer = read_all(conn, LINGER_S + 3)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"BODY_TIMEOUT"' in answer
    assert sample("http_slow_clients_total", phase="body") - before == 1


def test_a_head_trickled_a_byte_at_a_time_gets_408_not_a_reset(address: tuple[str, int]) -> None:
    before = sample("http_slow_clients_total", phase="header")
    with socket.create_connection(address) as conn:
        assert trickle(conn, b"POST /api/chat HTTP/1.1\r\nhost: x\r\nx-slow: ", HEADER_TIMEOUT_S + 1.0) is None
        answer = read_all(conn, LINGER_S + 3)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert sample("http_slow_clients_total", phase="header") - before == 1


def test_a_body_over_the_limit_sent_whole_gets_its_413_not_a_reset(address: tuple[str, int]) -> None:
    body = b"a" * 256 * 1024  # refused from its declared length, while the client sends it all
    head = b"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    head += b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    with socket.create_connection(address) as conn:
        conn.sendall(head)
        time.sleep(0.2)  # the 413 is out and the server ending: the rest still comes
        for start in range(0, len(body), 16384):
            conn.sendall(body[start : start + 16384])
        conn.shutdown(socket.SHUT_WR)
        answer = read_all(conn, LINGER_S + 3)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'"BODY_TOO_LARGE"' in answer


def test_a_client_that_sends_on_after_its_answer_is_cut_off_after_the_linger(
    address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slow_clients, "LINGER_S", 0.5)
    head = b"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n"
    with socket.create_connection(address) as conn:
        # The answer comes after a second; the connection is closed half a second later, sending or not.
        assert trickle(conn, head, BODY_TIMEOUT_S + 3.0) is not None


def requests(route: str, status: str) -> float:
    return sample("http_requests_total", method="POST", route=route, status=status)


def wait_for(predicate: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_client_hanging_up_mid_body_counts_as_499_on_its_route(address: tuple[str, int]) -> None:
    before = requests("/api/chat", "499"), requests("/api/chat", "500")
    with socket.create_connection(address) as conn:
        conn.sendall(
            b"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n{"message": '
        )
        time.sleep(0.2)
    assert wait_for(lambda: requests("/api/chat", "499") == before[0] + 1)
    assert requests("/api/chat", "500") == before[1]


def test_a_client_hanging_up_mid_stream_counts_as_499_on_its_route(address: tuple[str, int]) -> None:
    route = "/api/chat/stream"
    before = requests(route, "499"), requests(route, "500")
    body = b'{"message": "tell me a long story [[offline:slow]]"}'
    with socket.create_connection(address) as conn:
        conn.sendall(
            b"POST /api/chat/stream HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        first = conn.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first
    assert wait_for(lambda: requests(route, "499") == before[0] + 1, timeout=30)
    assert requests(route, "500") == before[1]
