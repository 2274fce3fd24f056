"""The committed bad-input corpus (tests/data/bad-input/manifest.json) against real processes.

Requests go through a running proxy over raw loopback sockets (so framing, encodings and header
sizes are exactly what the case says); cassettes go to the commands that read them; wrong
command lines go to ``chime-tap``. For every case: the proxy keeps serving, nothing crashes,
no traceback, the user gets one line or an answer, and the rest of the run is intact.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import ssl
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import h2.connection
import h2.events
import pytest

from support.procs import (
    CONNECTOR,
    FAKE_ACCESS_KEY,
    FAKE_SESSION_TOKEN,
    SECRETS,
    ProxyProcess,
    chime_tap,
)

DATA = Path(__file__).parent / "data" / "bad-input"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
REQUESTS = {case["name"]: case for case in MANIFEST["requests"]}
CASSETTES = MANIFEST["cassettes"]
CLI = {case["name"]: case for case in MANIFEST["cli"]}
REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
SESSION = "corpus-session"
CLOSED_PORT = 9  # discard: nothing listens there; the simulator never connects anyway


def test_the_corpus_has_at_least_thirty_cases():
    assert len(REQUESTS) + len(CASSETTES) + len(CLI) >= 30
    assert set(CASSETTES) == {p.name for p in (DATA / "cassettes").iterdir()}


# --- building requests ------------------------------------------------------------------------


def _fill(text: str) -> str:
    """Fill the manifest's placeholders; bodies hold JSON braces, so no str.format."""
    values = {
        "connector": CONNECTOR,
        "session": SESSION,
        "access_key": FAKE_ACCESS_KEY,
        "session_token": FAKE_SESSION_TOKEN,
    }
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _body(case: dict) -> bytes:
    generate = case.get("generate")
    if generate == "10MB-name":
        name = "a" * (10 * 1024 * 1024)
        return json.dumps(
            {
                "ParticipantPhoneNumbers": ["+12065550100", "+14015550101"],
                "Capabilities": ["Voice"],
                "Name": name,
            }
        ).encode()
    if generate == "nested-100k":
        return b"[" * 100_000 + b"]" * 100_000
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"])
    body = _fill(case.get("body", "")).encode()
    encode = case.get("encode")
    if encode == "gzip":
        return gzip.compress(body)
    if encode == "deflate":
        return zlib.compress(body)
    if encode == "br":
        return brotli.compress(body)
    return body


def _headers(case: dict, authority: str) -> list[tuple[str, str]]:
    headers = [("Host", authority)] + [(k, _fill(v)) for k, v in case["headers"].items()]
    if case.get("generate") == "header-256KB":
        headers.append(("X-Huge", "h" * (256 * 1024)))
    if case.get("generate") == "headers-2000":
        headers += [(f"X-Many-{i}", str(i)) for i in range(2000)]
    return headers


def raw_request(case: dict, authority: str) -> bytes:
    """The exact HTTP/1.1 bytes of a case, in absolute form for a forward proxy."""
    body = _body(case)
    lines = [f"{case['method']} http://{authority}{_fill(case['path'])} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in _headers(case, authority)]
    framing = case.get("framing")
    if framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        step = max(1, len(body) // 3)
        chunks = [body[i : i + step] for i in range(0, len(body), step)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    elif framing == "chunked-raw":
        lines.append("Transfer-Encoding: chunked")
        body = case["raw_body"].encode()
    else:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send_raw(port: int, data: bytes, timeout: float = 60.0) -> tuple[int, bytes] | str:
    """Send bytes to the proxy; (status, body) of the answer, or why there was none."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError as e:  # the proxy may close on us mid-send (e.g. headers too large)
            return f"send failed: {type(e).__name__}"
        response = http.client.HTTPResponse(sock, method="GET")
        try:
            response.begin()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as e:
            return f"no answer: {type(e).__name__}"


def send_h2(
    proxy: ProxyProcess, case: dict, authority: str, timeout: float = 30.0
) -> tuple[int, bytes]:
    """CONNECT through the proxy, TLS with ALPN h2 (trusting the proxy's CA), one h2 request."""
    body = _body(case)
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    try:
        sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            assert chunk, f"proxy closed during CONNECT: {reply!r}"
            reply += chunk
        assert reply.split(b" ")[1] == b"200", reply
        context = ssl.create_default_context(cafile=str(proxy.ca_cert))
        context.set_alpn_protocols(["h2"])
        context.check_hostname = False  # the authority is an IP: mitmproxy's cert names it in SAN
        tls = context.wrap_socket(sock, server_hostname="voice-chime.us-east-1.amazonaws.com")
        assert tls.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        headers = [
            (":method", case["method"]),
            (":path", _fill(case["path"])),
            (":scheme", "https"),
            (":authority", authority),
        ]
        headers += [(k.lower(), _fill(v)) for k, v in case["headers"].items()]
        headers.append(("content-length", str(len(body))))
        conn.send_headers(1, headers)
        conn.send_data(1, body, end_stream=True)
        tls.sendall(conn.data_to_send())
        status, data, ended = 0, b"", False
        while not ended:
            chunk = tls.recv(65536)
            assert chunk, "connection closed before the h2 stream ended"
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    ended = True
            tls.sendall(conn.data_to_send())
        return status, data
    finally:
        sock.close()


# --- against the simulator --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    confdir = tmp_path_factory.mktemp("bad-input-sim")
    authority = f"127.0.0.1:{CLOSED_PORT}"
    with chime_tap(["simulate", "--hosts", f"{authority}=voice"], confdir=confdir) as proxy:
        yield proxy, authority


GOOD_GET = {
    "method": "GET",
    "path": "/voice-connectors/{connector}/proxy-sessions",
    "headers": {},
    "body": "",
}


def _good(proxy: ProxyProcess, authority: str) -> None:
    answer = send_raw(proxy.port, raw_request(GOOD_GET, authority))
    assert isinstance(answer, tuple) and answer[0] == 200, answer
    assert b'"ProxySessions"' in answer[1]


@pytest.mark.parametrize("name", list(REQUESTS))
def test_request_case_through_the_simulator(sim, name):
    proxy, authority = sim
    case = REQUESTS[name]
    first_line = len(proxy.lines)
    _good(proxy, authority)
    if case.get("protocol") == "h2":
        answer: tuple[int, bytes] | str = send_h2(proxy, case, authority)
    else:
        answer = send_raw(proxy.port, raw_request(case, authority))
    expected = case["simulate"]
    if expected == "rejected":  # the proxy refuses it itself: an HTTP error or a closed connection
        assert isinstance(answer, str) or 400 <= answer[0] < 500, answer
    else:
        assert isinstance(answer, tuple), answer
        status, body = answer
        assert status == expected, body[:300]
        if status >= 400:  # the simulator says what is wrong, in the service's error shape
            doc = json.loads(body)
            assert doc.get("Message") or doc.get("message"), doc
    # The proxy is alive, still serves, and never printed a traceback.
    assert proxy.proc.poll() is None, proxy.output
    _good(proxy, authority)
    output = "\n".join(proxy.lines[first_line:])
    assert "Traceback" not in output and "Addon error" not in output, output[-3000:]


# --- cassettes given to the commands ----------------------------------------------------------


def _run(args: list[str], cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("name", sorted(CASSETTES))
def test_cassette_case_with_validate(tmp_path, name):
    expect = CASSETTES[name]
    path = DATA / "cassettes" / name
    result = _run(["validate", str(REFERENCE), str(path), str(REFERENCE)], cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == expect["exit"], result.stderr
    assert expect["stderr"] in result.stderr + result.stdout
    if (
        expect["exit"] == 2
    ):  # one line naming the file, and the good cassettes around it still checked
        refusals = [line for line in result.stderr.splitlines() if line.startswith("chime-tap: ")]
        assert refusals == [refusals[0]] and str(path) in refusals[0], result.stderr
        assert "4 proxy-session interaction(s) checked" in result.stderr
    if "never_creates" in expect:  # the tag's payload would have created this file in cwd
        assert not (tmp_path / expect["never_creates"]).exists()
        assert list(tmp_path.iterdir()) == []


# --- wrong command lines ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CLI))
def test_cli_case(tmp_path, name):
    case = CLI[name]
    args = [a.format(tmp=tmp_path, reference=REFERENCE) for a in case["args"]]
    result = _run(args, cwd=tmp_path)
    assert result.returncode == case["exit"], (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    problem = [line for line in result.stderr.splitlines() if case["stderr"] in line]
    assert problem, result.stderr
    assert all(s not in result.stderr + result.stdout for s in SECRETS)


def test_presigned_case_carries_the_test_credentials():
    """The credentials case really sends the secrets, so the session-wide check has teeth."""
    data = raw_request(REQUESTS["presigned-credentials-in-query"], "127.0.0.1:9")
    assert FAKE_ACCESS_KEY.encode() in data and FAKE_SESSION_TOKEN.encode() in data
