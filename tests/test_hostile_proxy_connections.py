"""More connections than file descriptors (issue 15, item 4).

1,100 half-sent requests at a 1024-descriptor limit made the proxy spin at 100% CPU and write
56,498 "Too many open files" tracebacks (17 MB of log in 10 s): CPython's accept loop (3.11)
goes on after running out of descriptors, logging and rescheduling for its whole backlog. Here a
real ``chime-tap simulate`` runs with 128 descriptors (RLIMIT_NOFILE) and gets more half-sent
requests than that. Its CPU time over a fixed interval is read from /proc, its log is counted,
and once its idle connections are closed (``--idle-timeout``) it answers a normal call.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import urllib3

from chime_tap.addons.connections import _Client, idle_clients, sweep_interval
from chime_tap.proxy import ExhaustionLog
from chime_tap.simulator.control import CONTROL_HOST, authorization, read_token
from support.procs import ProxyProcess

DESCRIPTORS = 128
HALF_SENT = 300  # more than the proxy has descriptors; each one a partial request
IDLE_TIMEOUT = 3
INTERVAL = 10.0  # seconds over which the proxy's CPU time and log are measured
CPU_BOUND = 2.0  # CPU seconds it may use in that interval (a spin uses ~INTERVAL)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def limited_simulator(tmp_path: Path) -> ProxyProcess:
    """``chime-tap simulate`` with at most DESCRIPTORS open files."""
    limit = (
        "import resource, sys, runpy; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({DESCRIPTORS}, {DESCRIPTORS})); "
        "sys.argv = ['chime-tap', *sys.argv[1:]]; runpy.run_module('chime_tap', run_name='__main__')"
    )
    argv = [
        sys.executable, "-c", limit, "simulate", "--idle-timeout", str(IDLE_TIMEOUT),
        "--listen-port", "0", "--confdir", str(tmp_path / "conf"),
    ]  # fmt: skip
    return ProxyProcess(argv, confdir=tmp_path / "conf")


def half_sent(port: int) -> list[socket.socket]:
    """Up to HALF_SENT connections, each with a request whose headers never end; stops at the
    first that cannot connect within 2 s (the proxy's backlog is full)."""
    held = []
    for _ in range(HALF_SENT):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            break
        s.sendall(b"GET http://sim.chime-tap.invalid/clock HTTP/1.1\r\nHost: sim.chime-tap.inv")
        held.append(s)
    return held


def test_more_half_sent_requests_than_descriptors(tmp_path: Path, figures: list[str]) -> None:
    with limited_simulator(tmp_path) as proxy:
        lines_before = len(proxy.lines)
        held = half_sent(proxy.port)
        assert len(held) > DESCRIPTORS  # the proxy really ran out
        cpu_before = cpu_seconds(proxy.proc.pid)
        time.sleep(INTERVAL)
        cpu = cpu_seconds(proxy.proc.pid) - cpu_before
        printed = proxy.lines[lines_before:]
        log_bytes = sum(len(line) + 1 for line in printed)
        out_of_fds = [line for line in printed if "cannot accept new connections" in line]
        closed = [line for line in printed if "idle client connection(s)" in line]

        # A normal call is answered, the idle connections having been closed meanwhile. The
        # kernel may still refuse a connection or two while the listen backlog drains (the
        # proxy accepts what waited there first): up to 5 tries, the proxy alive throughout.
        assert proxy.proc.poll() is None, proxy.output[-3000:]
        token = read_token(proxy.url)
        with urllib3.ProxyManager(proxy.url, retries=False, timeout=60) as pm:
            for attempt in range(5):
                try:
                    answer = pm.request(
                        "GET",
                        f"http://{CONTROL_HOST}/clock",
                        headers={"Authorization": authorization(token)},
                    )
                    break
                except urllib3.exceptions.ProxyError:
                    assert proxy.proc.poll() is None, proxy.output[-3000:]
                    if attempt == 4:
                        raise
                    time.sleep(IDLE_TIMEOUT / 2)
        assert answer.status == 200 and "Sessions" in json.loads(answer.data), proxy.output[-3000:]
        for s in held:
            s.close()
        assert proxy.stop() == 0

    assert cpu < CPU_BOUND, f"{cpu:.2f} s of CPU in {INTERVAL:.0f} s"
    assert "Traceback" not in proxy.output
    assert 1 <= len(out_of_fds) <= INTERVAL / 10 + 2  # once per 10 s interval
    assert out_of_fds[0].endswith(
        f"cannot accept new connections: Too many open files (file descriptor limit "
        f"{DESCRIPTORS}, ulimit -n); they wait until some close (idle ones are closed after "
        "--idle-timeout seconds)"
    )
    assert closed and closed[0].endswith(
        f"idle client connection(s): no request in progress for {IDLE_TIMEOUT} s "
        "(--idle-timeout, option chime_idle_timeout)"
    )
    assert log_bytes < 256 * 1024
    figures.append(
        f"{len(held)} half-sent requests at {DESCRIPTORS} descriptors: proxy CPU {cpu:.2f} s in "
        f"{INTERVAL:.0f} s, {len(printed)} log lines ({log_bytes / 1024:.0f} KiB, "
        f"{len(out_of_fds)} about the descriptors), idle ones closed after {IDLE_TIMEOUT} s, "
        f"then a normal call answered ({attempt} refused connection(s) before it)"
    )


# --- the pieces, in-process --------------------------------------------------------------------


class _Conn:
    def __init__(self, n: int) -> None:
        self.id = f"client-{n}"


def test_only_clients_with_nothing_in_progress_for_the_timeout_are_idle() -> None:
    clients = {f"c{n}": _Client(_Conn(n), now) for n, now in enumerate((0.0, 5.0, 0.0))}
    clients["c2"].in_progress.add("a-flow")  # waiting for its answer, however long
    idle = idle_clients(clients, now=10.0, timeout=6.0)
    assert [c.client.id for c in idle] == ["client-0"]
    assert idle_clients(clients, now=11.1, timeout=6.0)[1].client.id == "client-1"
    assert sweep_interval(60) == 5.0 and sweep_interval(3) == 0.75 and sweep_interval(0.5) == 0.25


def test_running_out_of_descriptors_is_one_line_per_interval(caplog) -> None:
    now = [100.0]
    other: list[dict] = []
    log = ExhaustionLog(lambda loop, context: other.append(context), 10.0, lambda: now[0])
    caplog.set_level(logging.WARNING, logger="chime_tap.proxy")
    emfile = OSError(24, "Too many open files")
    for step in range(50):  # 50 failures over 25 s
        now[0] = 100.0 + step / 2
        log(None, {"message": "socket.accept() out of system resource", "exception": emfile})
    log(None, {"message": "something else", "exception": ValueError("x")})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # at 0 s, 10 s, 20 s
    assert (
        "(20 time(s) in the last 10 s)" in lines[1] and "(20 time(s) in the last 10 s)" in lines[2]
    )
    assert log.times == 50 and [c["message"] for c in other] == ["something else"]
