"""`chime-tap record` as a new user meets it. On a cassette a crash left with a torn last
interaction it starts, the writer moves the tail aside, and recording goes on (what every
reader's message promises); a cassette broken anywhere else is still refused before the proxy
starts, and left alone. A client that does not trust the proxy's CA is named at exit, and so
are requests the proxy's own authentication refused and calls Ctrl+C cut off."""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.commands.record import check_cassette
from chime_tap.errors import CassetteError
from chime_tap.recording import check_record_target
from support.procs import CONNECTOR, chime_tap, status_of, voice_client
from support.upstream import ScriptedUpstream


def _interaction(n: int) -> dict:
    return {
        "request": {
            "method": "GET",
            "uri": f"https://voice-chime.us-east-1.amazonaws.com/voice-connectors/{CONNECTOR}"
            f"/proxy-sessions/ps-{n}",
            "body": None,
            "headers": {"Host": ["voice-chime.us-east-1.amazonaws.com"]},
        },
        "response": {
            "status": {"code": 404, "message": "Not Found"},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": json.dumps({"Code": "NotFound", "Message": f"no session ps-{n}"})},
        },
    }


def _written(path: Path, count: int) -> bytes:
    with CassetteWriter(path) as writer:
        for n in range(count):
            writer.append(_interaction(n))
    return path.read_bytes()


def _torn(path: Path) -> bytes:
    """The cassette of 3 interactions, cut in the middle of the last one."""
    whole = _written(path, 3)
    start = whole.index(b"ps-2")  # inside the last interaction
    path.write_bytes(whole[:start])
    return whole[:start]


@pytest.mark.parametrize("name", ["calls.yaml", "calls.json"])
def test_a_torn_last_interaction_passes_the_checks_before_start(tmp_path, name):
    path = tmp_path / name
    data = _torn(path)
    with pytest.raises(CassetteError, match="torn"):
        load_cassette(path)  # what validate, report and replay say of it
    check_cassette(str(path))  # chime-tap record
    check_record_target(str(path))  # replay's --record-to
    assert path.read_bytes() == data  # the checks only read


@pytest.mark.parametrize("name", ["calls.yaml", "calls.json"])
def test_a_cassette_broken_before_its_end_is_refused_and_left_alone(tmp_path, name):
    path = tmp_path / name
    whole = _written(path, 3)
    at = whole.index(b"ps-0")
    broken = whole[:at] + b"\x00{[" + whole[at + 4 :]
    path.write_bytes(broken)
    for check in (check_cassette, check_record_target):
        with pytest.raises(CassetteError) as e:
            check(str(path))
        assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert path.read_bytes() == broken


@pytest.mark.parametrize("name", ["calls.yaml", "calls.json"])
def test_record_goes_on_after_a_torn_last_interaction(tmp_path, name):
    """The real CLI on the simulator: it starts, says what it moved aside, keeps the two whole
    interactions and records the next call after them."""
    cassette = tmp_path / name
    data = _torn(cassette)
    proxy = chime_tap(
        ["record", "--upstream", "simulator", "--cassette", str(cassette)],
        confdir=tmp_path / "conf",
    )
    try:
        client = voice_client(proxy)
        listed = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        code = proxy.stop()
    assert code == 0, proxy.output
    assert "the last interaction was torn" in proxy.output
    items = load_cassette(cassette)["interactions"]
    assert [i["request"]["uri"].rsplit("/", 1)[-1] for i in items[:2]] == ["ps-0", "ps-1"]
    assert len(items) == 3 and "max-results" not in items[2]["request"]["uri"]
    assert items[2]["request"]["uri"].endswith("/proxy-sessions")
    aside = cassette.with_name(name + ".torn")
    assert aside.exists() and data.endswith(aside.read_bytes())


def test_a_client_that_does_not_trust_the_ca_is_counted_in_the_exit_summary(tmp_path):
    """boto3 with the system's CAs, not the proxy's: its handshake fails, no call is made, and
    the summary says so instead of a bare '0 call(s)'."""
    import botocore.exceptions

    proxy = chime_tap(
        ["record", "--upstream", "simulator", "--cassette", str(tmp_path / "calls.yaml")],
        confdir=tmp_path / "conf",
    )
    try:
        client = voice_client(proxy, verify=True)  # the default bundle: no mitmproxy CA in it
        with pytest.raises(botocore.exceptions.SSLError):
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        # The proxy sees the failure after the client does: mitmproxy logs its own line once
        # the tls_failed_client hooks ran. Stop only then (a loaded machine is slow to get there).
        deadline = time.monotonic() + 30
        while "Client TLS handshake failed" not in proxy.output and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        code = proxy.stop()
    assert code == 0, proxy.output
    summary = next(line for line in proxy.lines if "chime-tap record: 0 call(s)" in line)
    assert "1 client TLS handshake(s) failed (does the client trust the proxy's CA" in summary


# --- proxy authentication, and Ctrl+C with a call in flight --------------------------------------


def _get(port: int, url: str, host: str, extra: str = "") -> socket.socket:
    """A plain-HTTP GET sent through the proxy at ``port``; the socket, for its answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n{extra}\r\n".encode())
    return sock


def test_the_proxys_own_407_is_not_recorded_as_the_services_answer(tmp_path):
    """``--set proxyauth=user:pass``: a request without proxy credentials gets mitmproxy's 407
    and never reaches the service; it is not a call, so not recorded, and the summary says so.
    The same request with credentials is a call, recorded with the service's answer."""
    cassette = tmp_path / "calls.yaml"
    creds = base64.b64encode(b"user:pass").decode()
    path = f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1"
    with ScriptedUpstream() as up:
        args = ["record", "--cassette", str(cassette), "--hosts", up.host]
        with chime_tap([*args, "--set", "proxyauth=user:pass"], confdir=tmp_path / "c") as proxy:
            with _get(proxy.port, up.url + path, up.host) as sock:
                assert status_of(sock) == 407
            # What every AWS client does: HTTPS, so a CONNECT first, refused before any call.
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
                sock.sendall(
                    b"CONNECT service.example:443 HTTP/1.1\r\nHost: service.example:443\r\n\r\n"
                )
                assert status_of(sock) == 407
            with _get(
                proxy.port, up.url + path, up.host, f"Proxy-Authorization: Basic {creds}\r\n"
            ) as sock:
                assert status_of(sock) == 404  # the service's: no such session
            assert proxy.stop(signal.SIGTERM) == 0
    items = load_cassette(cassette)["interactions"]
    assert [(i["response"]["status"]["code"], i["chime_tap"]["answered_by"]) for i in items] == [
        (404, "upstream")
    ]
    (summary,) = [
        line for line in proxy.lines if "chime-tap record: " in line and "call(s)" in line
    ]
    assert "chime-tap record: 1 call(s) (1 4xx)" in summary
    assert "1 interaction(s) recorded" in summary
    assert (
        "2 request(s) refused by the proxy's own authentication (proxyauth), never sent on, "
        "not recorded" in summary
    )
    refused = [
        line for line in proxy.lines if ": refused by the proxy's own authentication" in line
    ]
    assert [line.split(": refused")[0].split("] ")[-1] for line in refused] == [
        f"GET {path}",
        "CONNECT service.example:443",
    ]
    # The start-up lines say how a client gives the user and password.
    assert any("HTTPS_PROXY=http://USER:PASSWORD@127.0.0.1:" in line for line in proxy.lines)


class _HoldingUpstream:
    """A loopback 'service' that reads each request and never answers it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.got = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.server.accept()
            self.held.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            self.got.set()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.server.close()


def test_ctrl_c_with_a_call_in_flight_is_in_the_summary(tmp_path):
    """Ctrl+C while the service holds a call: the call is cut off unanswered and the cassette
    closes without it; the exit summary counts it (it said nothing of it)."""
    cassette = tmp_path / "calls.yaml"
    up = _HoldingUpstream()
    try:
        args = ["record", "--cassette", str(cassette), "--hosts", up.host]
        with chime_tap(args, confdir=tmp_path / "c") as proxy:
            url = f"http://{up.host}/voice-connectors/{CONNECTOR}/proxy-sessions/held"
            with _get(proxy.port, url, up.host):
                assert up.got.wait(30), "the call never reached the upstream"
                proxy.stop(signal.SIGINT)
    finally:
        up.close()
    assert load_cassette(cassette)["interactions"] == []
    (summary,) = [
        line for line in proxy.lines if "chime-tap record: " in line and "call(s)" in line
    ]
    assert "chime-tap record: 0 call(s)" in summary
    assert "1 still in flight at shutdown, cut off unanswered (not recorded)" in summary
