"""``replay`` and ``simulate`` behind ``--set proxyauth=user:pass``, as real processes: a request
without proxy credentials (plain HTTP, and an HTTPS client's CONNECT) gets mitmproxy's 407 and
is never answered by the command; each is said in a line and counted in the exit summary, as
``record`` does (tests/test_record_cli_user.py). The same request with credentials is answered
as usual, and not counted."""

from __future__ import annotations

import base64
import signal
import socket
from pathlib import Path

import pytest

from support.procs import CONNECTOR, chime_tap, status_of

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
HOST = "voice-chime.us-east-1.amazonaws.com"
PATH = f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1"


def _status(port: int, head: str) -> int:
    """The status the proxy at ``port`` answers ``head`` (a request's head) with."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        return status_of(sock)


@pytest.mark.parametrize(
    ("command", "args", "outcome"),
    [
        ("replay", ["--cassette", str(CASSETTE)], "answered from the cassette"),
        ("simulate", [], "answered by the simulator"),
    ],
)
def test_requests_the_proxys_own_auth_refused_are_said_and_counted(
    tmp_path: Path, command: str, args: list[str], outcome: str
) -> None:
    creds = base64.b64encode(b"user:pass").decode()
    get = f"GET http://{HOST}{PATH} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 0\r\n"
    connect = f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n"
    with chime_tap(
        [command, *args, "--set", "proxyauth=user:pass"], confdir=tmp_path / "c"
    ) as proxy:
        assert _status(proxy.port, get + "\r\n") == 407
        assert _status(proxy.port, connect) == 407
        answered = _status(proxy.port, get + f"Proxy-Authorization: Basic {creds}\r\n\r\n")
        assert proxy.stop(signal.SIGTERM) == 0
    assert answered != 407  # the command's own answer (a miss, or the simulator's 404)
    refused = [
        line for line in proxy.lines if ": refused by the proxy's own authentication" in line
    ]
    assert [line.split(": refused")[0].split("] ")[-1] for line in refused] == [
        f"GET {PATH}",
        f"CONNECT {HOST}:443",
    ]
    assert all(line.endswith(f"; not {outcome}") for line in refused)
    (summary,) = [
        line for line in proxy.lines if f"chime-tap {command}: " in line and "call(s)" in line
    ]
    assert f"chime-tap {command}: 1 call(s)" in summary
    assert (
        f"2 request(s) refused by the proxy's own authentication (proxyauth), never {outcome}"
        in summary
    )
