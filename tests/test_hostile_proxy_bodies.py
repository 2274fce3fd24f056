"""Bodies that would take a recording proxy's memory, through a real ``chime-tap record``
(issue 15, items 1 and 3).

A loopback upstream (raw sockets, so each answer is exactly what the case says) answers with a
brotli bomb (841 bytes that decode to 1 GiB), with an endless chunked body (it stops when the
proxy hangs up, or after 1 GiB or 60 s: the test's bound), and with 5 MB bodies for
``stream_large_bodies``. The proxy runs under a 2 GiB address-space cap (RLIMIT_AS) and its
peak resident memory (VmHWM) must stay under 512 MB; a small call made while the big one is in
flight is answered; the cassette holds each call as what it was. The figures (peak RSS, the
small call's time, what was kept) go to the run's summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import urllib3

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from support.loadgen import vcr_load
from support.procs import CONNECTOR, ProxyProcess

BOMB = Path(__file__).parent / "data" / "bad-input" / "bombs" / "zeros-1GiB.br"
SESSIONS = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
MB = 1 << 20
RSS_LIMIT = 512 * MB
ADDRESS_SPACE_CAP = 2048 * MB  # the proxy's RLIMIT_AS: a runaway dies instead of taking the host
ENDLESS_BOUND = 1 << 30  # the endless upstream stops after this much, or ENDLESS_SECONDS
ENDLESS_SECONDS = 60.0


def session(sid: str) -> bytes:
    doc = {"ProxySession": {"ProxySessionId": sid, "VoiceConnectorId": CONNECTOR, "Status": "Open"}}
    return json.dumps(doc).encode()


class HostileUpstream:
    """HTTP/1.1 on 127.0.0.1 that answers by the request's last path segment:
    ``bomb`` (brotli, 1 GiB decoded), ``endless`` (chunked, until the proxy hangs up),
    ``big`` (5 MiB with Content-Length), ``big-chunked`` (5 MiB chunked), anything else a
    small GetProxySession answer."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.endless_sent = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            what = data.split(b" ", 2)[1].rsplit(b"/", 1)[-1].decode()
            # OSError: the proxy hung up (over its body size limit, or stopping)
            with contextlib.suppress(OSError):
                self._answer(conn, what)

    def _answer(self, conn: socket.socket, what: str) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        if what == "bomb":
            raw = BOMB.read_bytes()
            conn.sendall(
                f"{head}Content-Encoding: br\r\nContent-Length: {len(raw)}\r\n\r\n".encode() + raw
            )
        elif what == "endless":
            conn.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            chunk = b"%x\r\n%s\r\n" % (MB, b"e" * MB)
            started = time.monotonic()
            while (
                self.endless_sent < ENDLESS_BOUND and time.monotonic() - started < ENDLESS_SECONDS
            ):
                conn.sendall(chunk)
                self.endless_sent += MB
        elif what == "big":
            conn.sendall(f"{head}Content-Length: {5 * MB}\r\n\r\n".encode() + b"b" * (5 * MB))
        elif what == "big-chunked":
            conn.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            for _ in range(5):
                conn.sendall(b"%x\r\n%s\r\n" % (MB, b"c" * MB))
            conn.sendall(b"0\r\n\r\n")
        else:
            body = session(what)
            conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@contextmanager
def hostile_upstream() -> Iterator[HostileUpstream]:
    up = HostileUpstream()
    try:
        yield up
    finally:
        up.close()


def capped_record(tmp_path: Path, upstream: HostileUpstream, *extra: str) -> ProxyProcess:
    """``chime-tap record`` under an address-space cap, forwarding to the upstream."""
    cap = (
        "import resource, sys, runpy; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_CAP}, {ADDRESS_SPACE_CAP})); "
        "sys.argv = ['chime-tap', *sys.argv[1:]]; runpy.run_module('chime_tap', run_name='__main__')"
    )
    argv = [
        sys.executable, "-c", cap, "record", "--cassette", str(tmp_path / "calls.yaml"),
        "--hosts", upstream.host, "--listen-port", "0", "--confdir", str(tmp_path / "conf"), *extra,
    ]  # fmt: skip
    return ProxyProcess(argv, confdir=tmp_path / "conf")


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


def get(proxy: ProxyProcess, upstream: HostileUpstream, what: str) -> urllib3.BaseHTTPResponse:
    """One GET through the proxy, its body read as it came (never decoded here)."""
    with urllib3.ProxyManager(proxy.url, retries=False, timeout=120) as pm:
        return pm.request("GET", f"http://{upstream.host}{SESSIONS}/{what}", decode_content=False)


def timed_small_call(proxy: ProxyProcess, upstream: HostileUpstream, name: str) -> float:
    started = time.monotonic()
    answer = get(proxy, upstream, name)
    took = time.monotonic() - started
    assert answer.status == 200 and json.loads(answer.data) == json.loads(session(name))
    return took


def in_flight(proxy, upstream, what: str) -> tuple[threading.Thread, threading.Event, dict]:
    """Start ``what`` in a thread; (thread, set when its answer has come, the answer)."""
    done, result = threading.Event(), {}

    def call() -> None:
        try:
            result["answer"] = get(proxy, upstream, what)
        except urllib3.exceptions.HTTPError as e:
            result["error"] = e
        done.set()

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, done, result


def by_uri(cassette: Path) -> dict[str, dict]:
    items = load_cassette(cassette)["interactions"]
    assert len(vcr_load(cassette)) == len(items)  # plain vcrpy loads every one
    return {item["request"]["uri"].rsplit("/", 1)[-1]: item for item in items}


def test_an_endless_body_and_a_bomb_leave_memory_bounded_and_other_calls_answered(
    tmp_path: Path, figures: list[str]
) -> None:
    with hostile_upstream() as up, capped_record(tmp_path, up) as proxy:
        # An endless chunked answer: the proxy stops reading it at its body size limit.
        thread, done, result = in_flight(proxy, up, "endless")
        while up.endless_sent < 4 * MB and thread.is_alive():  # it is flowing
            time.sleep(0.01)
        small_during_endless = timed_small_call(proxy, up, "small-1")
        answered_first = not done.is_set()  # the small call did not wait for the endless one
        thread.join(ENDLESS_SECONDS + 30)
        assert not thread.is_alive()
        endless = result.get("answer")
        assert endless is not None and endless.status == 502, result  # mitmproxy's error
        sent = up.endless_sent

        # A brotli bomb: answered as it came, recorded as it came, with a note.
        thread, done, result = in_flight(proxy, up, "bomb")
        small_during_bomb = timed_small_call(proxy, up, "small-2")
        thread.join(60)
        bomb = result["answer"]
        assert bomb.status == 200 and bomb.data == BOMB.read_bytes()
        peak = peak_rss(proxy.proc.pid)
        assert proxy.stop() == 0
    assert answered_first
    assert peak < RSS_LIMIT, f"peak RSS {peak / MB:.0f} MiB"

    calls = by_uri(tmp_path / "calls.yaml")
    assert set(calls) == {"endless", "small-1", "bomb", "small-2"}
    failed = calls["endless"]
    assert failed["response"]["status"]["code"] == 0
    assert failed[META_KEY]["error"] == (
        "Response body exceeds mitmproxy's body_size_limit (32m); the server had answered 200"
    )
    kept = calls["bomb"]
    assert kept["response"]["body"]["string"] == BOMB.read_bytes()
    assert kept[META_KEY]["body_note"] == (
        f"response body kept as received ({BOMB.stat().st_size:,} bytes): "
        "br decodes to more than 8 MiB (the decoding cap)"
    )
    for name in ("small-1", "small-2"):
        assert calls[name]["response"]["status"]["code"] == 200
    summary = proxy.lines[-1]
    assert "4 interaction(s) recorded" in summary and "1 no response" in summary
    figures.append(
        f"endless chunked answer through chime-tap record: cut at the 32 MiB body_size_limit "
        f"after {sent / MB:.0f} MiB sent, recorded as failed (status 0, the reason); "
        f"a brotli bomb (841 bytes -> 1 GiB): kept as received; proxy peak RSS "
        f"{peak / MB:.0f} MiB; small calls during them answered in {small_during_endless:.2f} s "
        f"and {small_during_bomb:.2f} s; 4 of 4 interactions kept"
    )


def test_a_streamed_body_is_recorded_as_streamed_not_as_empty(
    tmp_path: Path, figures: list[str]
) -> None:
    """With stream_large_bodies, the client got 5 MB while the cassette said 200 with no body."""
    with (
        hostile_upstream() as up,
        capped_record(tmp_path, up, "--set", "stream_large_bodies=1m") as proxy,
    ):
        thread, _, result = in_flight(proxy, up, "big")
        small = timed_small_call(proxy, up, "small")
        thread.join(60)
        big = result["answer"]
        assert big.status == 200 and big.data == b"b" * (5 * MB)  # the client got all of it
        chunked = get(proxy, up, "big-chunked")
        assert chunked.status == 200 and chunked.data == b"c" * (5 * MB)
        peak = peak_rss(proxy.proc.pid)
        assert proxy.stop() == 0
    assert peak < RSS_LIMIT
    calls = by_uri(tmp_path / "calls.yaml")
    assert set(calls) == {"big", "small", "big-chunked"}
    for name, held in (("big", f"{5 * MB:,} bytes"), ("big-chunked", "its size unknown")):
        item = calls[name]
        assert item["response"]["status"]["code"] == 200  # the real status
        assert item["response"]["body"]["string"] == ""  # not kept...
        assert item[META_KEY]["body_note"] == (  # ...and said so
            f"response body streamed to the client and not kept ({held}; "
            "over stream_large_bodies=1m)"
        )
    assert "body_note" not in calls["small"][META_KEY]
    figures.append(
        f"stream_large_bodies=1m, 5 MiB answers: streamed to the client whole, recorded as "
        f"200 with a note (size from Content-Length, or counted; unknown when chunked), peak "
        f"RSS {peak / MB:.0f} MiB, a small call meanwhile in {small:.2f} s"
    )


def test_the_body_size_limit_is_the_users_with_set(tmp_path: Path) -> None:
    """``--set body_size_limit=...`` wins over chime-tap's default: 5 MiB is over 1m."""
    limit = "1m"
    with (
        hostile_upstream() as up,
        capped_record(tmp_path, up, "--set", f"body_size_limit={limit}") as proxy,
    ):
        assert get(proxy, up, "big").status == 502
        assert proxy.stop() == 0
    (item,) = load_cassette(tmp_path / "calls.yaml")["interactions"]
    assert item[META_KEY]["error"] == (
        f"Response body exceeds mitmproxy's body_size_limit ({limit}); the server had answered 200"
    )


def test_the_proxy_under_the_cap_is_still_a_normal_proxy(tmp_path: Path) -> None:
    """The cap itself breaks nothing: a plain call through the capped proxy is recorded."""
    with hostile_upstream() as up, capped_record(tmp_path, up) as proxy:
        assert timed_small_call(proxy, up, "plain") >= 0
        assert proxy.stop() == 0
    assert os.path.getsize(tmp_path / "calls.yaml") > 0
    assert list(by_uri(tmp_path / "calls.yaml")) == ["plain"]
