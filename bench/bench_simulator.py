"""Simulator throughput through mitmproxy, next to plain mitmdump forwarding to a loopback server.

Both proxies run as real processes on 127.0.0.1 and are driven by the same client (plain HTTP
through the proxy, keep-alive, N threads). The baseline is `mitmdump --set flow_detail=0` forwarding to a
trivial keep-alive HTTP server answering a body of the simulator's size; the subject is
`chime-tap simulate` answering GetProxySession (and CreateProxySession) itself.

    python bench/bench_simulator.py [--requests N] [--concurrency 1 32]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.procs import CONNECTOR, ProxyProcess, chime_tap, mitmdump  # noqa: E402

HOST = "voice-chime.us-east-1.amazonaws.com"
TIME_CAP = 60.0  # seconds per measured run, whatever the request count

# A keep-alive HTTP/1.1 server answering every request with a fixed ~530-byte JSON body.
SERVER = textwrap.dedent(
    """
    import asyncio, sys
    BODY = b'{"ProxySession":{"Capabilities":["SMS","Voice"],"CreatedTimestamp":"2020-04-15T16:10:10.288Z","EndedTimestamp":null,"ExpiryMinutes":60,"GeoMatchLevel":null,"GeoMatchParams":null,"Name":null,"NumberSelectionBehavior":null,"Participants":[{"PhoneNumber":"+12065550100","ProxyPhoneNumber":"+19135550199"},{"PhoneNumber":"+14015550101","ProxyPhoneNumber":"+19135550199"}],"ProxySessionId":"123a4bc5-67d8-901e-2f3g-h4ghjk56789l","Status":"Open","UpdatedTimestamp":"2020-04-15T16:10:10.288Z","VoiceConnectorId":"abcdef1ghij2klmno3pqr4"}}'
    HEAD = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(BODY)
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                n = 0
                for line in head.split(b"\\r\\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                if n:
                    await reader.readexactly(n)
                writer.write(HEAD + BODY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print("listening at 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()
    asyncio.run(main())
    """
)


class Connection:
    """A minimal keep-alive HTTP/1.1 client through a forward proxy: one write per request.

    Headers and body go out in one ``sendall`` (urllib3 writes them separately, which meets
    delayed ACKs on loopback and measures 40 ms timers instead of the proxy).
    """

    def __init__(self, proxy_port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method: str, url: str, body: bytes | None) -> int:
        host = urlsplit(url).netloc
        head = f"{method} {url} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body or b'')}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        header, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(v)
                for k, _, v in (x.partition(b":") for x in lines[1:])
                if k.strip().lower() == b"content-length"
            ),
            0,
        )
        while len(self.buf) < length:
            self._fill()
        self.buf = self.buf[length:]
        return status

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("proxy closed the connection")
        self.buf += data

    def close(self) -> None:
        self.sock.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    proxy_port: int,
    method: str,
    url: str,
    body: Callable[[int], bytes] | None,
    total: int,
    concurrency: int,
) -> dict[str, Any]:
    """Send ``total`` requests over ``concurrency`` keep-alive connections; count statuses."""
    per_thread = [
        total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)
    ]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + TIME_CAP
    done = [0]

    def work(thread: int, n: int) -> None:
        local: dict[int, int] = {}
        conn = Connection(proxy_port)
        try:
            for i in range(n):
                if time.monotonic() > deadline:
                    break
                status = conn.request(method, url, body(thread * 1_000_000 + i) if body else None)
                local[status] = local.get(status, 0) + 1
        finally:
            conn.close()
            with lock:
                for k, v in local.items():
                    statuses[k] = statuses.get(k, 0) + v
                done[0] += sum(local.values())

    threads = [threading.Thread(target=work, args=(i, n)) for i, n in enumerate(per_thread)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIME_CAP + 30)
    elapsed = time.perf_counter() - start
    return {
        "requests": done[0],
        "seconds": elapsed,
        "rps": done[0] / elapsed if elapsed else 0.0,
        "statuses": statuses,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=1500, help="requests per round (default 1500)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds per scenario; the median is reported (default 3)",
    )
    args = parser.parse_args(argv)

    import json

    import urllib3

    results: dict[str, Any] = {"requests": args.requests, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        tmpdir = Path(tmp)
        server = ProxyProcess([sys.executable, "-c", SERVER], confdir=tmpdir)
        plain = mitmdump(["--set", "flow_detail=0"], confdir=tmpdir / "plain")
        sim = chime_tap(["simulate"], confdir=tmpdir / "sim")
        try:

            def create_body(i: int) -> bytes:
                # distinct participants: no proxy-number pool runs dry however many sessions
                return json.dumps(
                    {
                        "ParticipantPhoneNumbers": [f"+1206{i:07d}", f"+1401{i:07d}"],
                        "Capabilities": ["Voice"],
                    }
                ).encode()

            collection = f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions"
            with urllib3.ProxyManager(sim.url, retries=False, timeout=10) as pm:
                r = pm.request(
                    "POST",
                    collection,
                    body=create_body(0),
                    headers={"Content-Type": "application/json"},
                )
                assert r.status == 201, r.data
                session_id = json.loads(r.data)["ProxySession"]["ProxySessionId"]
            forward = f"http://127.0.0.1:{server.port}/"
            # (name, proxy, method, url, body, expected status, baseline it is compared with)
            scenarios = [
                ("mitmdump forwarding GET", plain, "GET", forward, None, 200, None),
                (
                    "simulate GetProxySession",
                    sim,
                    "GET",
                    f"{collection}/{session_id}",
                    None,
                    200,
                    "mitmdump forwarding GET",
                ),
                ("mitmdump forwarding POST", plain, "POST", forward, create_body, 200, None),
                (
                    "simulate CreateProxySession",
                    sim,
                    "POST",
                    collection,
                    create_body,
                    201,
                    "mitmdump forwarding POST",
                ),
            ]
            for concurrency in args.concurrency:
                for _name, proxy, method, url, body, _, _ in scenarios:  # warm-up
                    drive(proxy.port, method, url, body, min(50, args.requests), concurrency)
                # Rounds alternate baseline and subject, so a burst of load from elsewhere on
                # the machine hits both; each scenario reports its median round.
                rounds: dict[str, list[dict[str, Any]]] = {s[0]: [] for s in scenarios}
                for _ in range(args.rounds):
                    for name, proxy, method, url, body, ok, _ in scenarios:
                        cpu = cpu_seconds(proxy.proc.pid)
                        run = drive(proxy.port, method, url, body, args.requests, concurrency)
                        # CPU per request of the proxy process: steadier than wall time when
                        # other work shares the cores.
                        run["cpu_us"] = (
                            (cpu_seconds(proxy.proc.pid) - cpu) / max(run["requests"], 1) * 1e6
                        )
                        if set(run["statuses"]) - {ok} or run["requests"] != args.requests:
                            raise RuntimeError(f"{name}: unexpected statuses {run['statuses']}")
                        rounds[name].append(run)
                rps: dict[str, float] = {}
                cpu_us: dict[str, float] = {}
                for name, *_, baseline in scenarios:
                    runs = sorted(rounds[name], key=lambda r: r["rps"])
                    median = runs[len(runs) // 2]
                    rps[name] = median["rps"]
                    cpus = sorted(r["cpu_us"] for r in rounds[name])
                    cpu_us[name] = cpus[len(cpus) // 2]
                    ratio = median["rps"] / rps[baseline] if baseline else 1.0
                    cpu_ratio = (
                        cpu_us[baseline] / cpu_us[name] if baseline and cpu_us[name] else 1.0
                    )
                    results["runs"].append(
                        {
                            "scenario": name,
                            "concurrency": concurrency,
                            **median,
                            "rounds_rps": [round(r["rps"], 1) for r in rounds[name]],
                            "cpu_us": cpu_us[name],
                            "baseline": baseline or "-",
                            "ratio": ratio,
                            "cpu_ratio": cpu_ratio,
                        }
                    )
        finally:
            for proc in (sim, plain, server):
                proc.kill()

    print(
        f"{'scenario':<28} {'conc':>4} {'requests':>8} {'req/s':>7} {'ratio':>6} "
        f"{'proxy CPU us/req':>16} {'CPU ratio':>9}  baseline (medians of rounds; ratio > 1: faster)"
    )
    for r in results["runs"]:
        row = f"{r['scenario']:<28} {r['concurrency']:>4} {r['requests']:>8} {r['rps']:>7.0f} {r['ratio']:>6.2f}"
        print(
            f"{row} {r['cpu_us']:>16.0f} {r['cpu_ratio']:>9.2f}  {r['baseline']}  req/s rounds {r['rounds_rps']}"
        )
    return results


if __name__ == "__main__":
    main()
