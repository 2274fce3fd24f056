"""A proxy that must answer, and must stop, whatever it was asked (issue 15, item 5).

Real ``chime-tap`` processes on loopback. A cassette whose answer carries a 1 MB header, replayed
to an HTTP/2 client, kept the proxy's event loop in mitmproxy's HPACK encoder (its time grows
with the square of a header's size) and the proxy ignored SIGTERM. Now the answer is served
without the oversized fields, said once at start; and SIGINT/SIGTERM stop the process even when
its event loop is stuck (here: an addon that never returns), within a grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import textwrap
from pathlib import Path

import pytest
import yaml

from support.h2client import h2_request
from support.procs import CONNECTOR, ProxyProcess, chime_tap

HOST = "voice-chime.us-east-1.amazonaws.com"
PATH = f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1"
MB = 1 << 20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (not wall-clock)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def h2_get(proxy: ProxyProcess, path: str, timeout: float = 30.0) -> tuple[int, dict, bytes]:
    """One GET over HTTP/2 through the proxy (CONNECT, TLS with ALPN h2, trusting its CA)."""
    headers = [(":method", "GET"), (":path", path), (":scheme", "https"), (":authority", HOST)]
    return h2_request(proxy, f"{HOST}:443", headers, server_name=HOST, timeout=timeout)


def test_a_megabyte_header_replayed_to_http2_is_left_out_and_sigterm_stops(
    tmp_path: Path, figures: list[str]
) -> None:
    body = '{"ProxySession": {"ProxySessionId": "s1", "Status": "Open"}}'
    doc = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "GET",
                    "uri": f"https://{HOST}{PATH}",
                    "body": None,
                    "headers": {},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {
                        "Content-Type": ["application/json"],
                        "X-Huge": ["h" * MB],
                        "x-amzn-RequestId": ["req-1"],
                    },
                    "body": {"string": body},
                },
            }
        ],
    }
    cassette = tmp_path / "huge-header.yaml"
    cassette.write_text(yaml.safe_dump(doc, width=1 << 30))
    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "conf") as proxy:
        before = cpu_seconds(proxy.proc.pid)
        status, headers, data = h2_get(proxy, PATH)  # the old proxy never answered in time
        spent = cpu_seconds(proxy.proc.pid) - before
        assert status == 200 and data.decode() == body
        assert "x-huge" not in headers and headers["x-amzn-requestid"] == "req-1"
        said = [line for line in proxy.lines if "KiB of headers" in line]
        assert len(said) == 1 and "huge-header.yaml #0" in said[0], proxy.output[-2000:]
        assert proxy.stop(signal.SIGTERM) == 0  # a clean stop: the summary is printed
    assert "chime-tap replay: 1 call(s) (1 2xx); 1 hit(s)" in proxy.output
    figures.append(
        f"replay of a 1 MB response header to an HTTP/2 client: answered without it, "
        f"{spent:.2f} s of proxy CPU for the call; SIGTERM: exit 0"
    )


# An addon for `--set scripts=...` whose request hook never returns: in Python (the loop spins,
# as in HPACK) or in C (the loop blocks). It says so first, so the test knows it is stuck.
STUCK_ADDON = textwrap.dedent(
    """
    import logging, time

    class Stuck:
        def request(self, flow):
            if flow.request.path.endswith("/spin"):
                logging.warning("stuck: spin")
                while True:
                    pass
            if flow.request.path.endswith("/sleep"):
                logging.warning("stuck: sleep")
                time.sleep(3600)

    addons = [Stuck()]
    """
)


def _stuck_proxy(tmp_path: Path, how: str) -> ProxyProcess:
    script = tmp_path / "stuck.py"
    script.write_text(STUCK_ADDON)
    proxy = chime_tap(["simulate", "--set", f"scripts={script}"], confdir=tmp_path / "conf")
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    client.sendall(f"GET http://{HOST}/{how} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert proxy.wait_for_output(f"stuck: {how}"), proxy.output[-2000:]
    proxy.client = client  # type: ignore[attr-defined]  # kept open until the proxy is gone
    return proxy


@pytest.mark.parametrize("how", ["spin", "sleep"])
def test_sigterm_stops_a_proxy_whose_event_loop_is_stuck(tmp_path: Path, how: str) -> None:
    """It waits the grace period for a clean stop, then exits anyway, saying so: status 143."""
    proxy = _stuck_proxy(tmp_path, how)
    with proxy:
        code = proxy.stop(signal.SIGTERM, timeout=30)
        proxy.client.close()
    assert code == 128 + signal.SIGTERM
    (line,) = [line for line in proxy.lines if "exiting now" in line]
    assert line == (
        "chime-tap simulate: did not stop within 5 s of SIGTERM; exiting now (each call was "
        "recorded before it was answered: nothing answered is lost)"
    )
    assert "Traceback" not in proxy.output


def test_a_second_ctrl_c_stops_a_stuck_proxy_at_once(tmp_path: Path) -> None:
    proxy = _stuck_proxy(tmp_path, "spin")
    with proxy:
        os.kill(proxy.proc.pid, signal.SIGINT)
        assert not proxy.wait_for_output("exiting now", timeout=1)  # the grace period runs
        code = proxy.stop(signal.SIGINT, timeout=4)  # before it is over
        proxy.client.close()
    assert code == 128 + signal.SIGINT
    assert any("got a second SIGINT; exiting now" in line for line in proxy.lines)
