"""Simulator throughput through mitmproxy, next to plain mitmdump forwarding to a loopback server.

Both proxies run as real processes on 127.0.0.1 and are driven by the same client (plain HTTP
through the proxy, keep-alive, N threads). The baseline is `mitmdump --set flow_detail=0` forwarding to a
trivial keep-alive HTTP server answering a body of the simulator's size; the subject is
`chime-tap simulate` answering GetProxySession (and CreateProxySession) itself.

    python bench/bench_simulator.py [--requests N] [--concurrency 1 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from bench.loopback import PROXY_SESSION_BODY, cpu_seconds, drive, upstream_script  # noqa: E402
from support.procs import CONNECTOR, ProxyProcess, chime_tap, mitmdump  # noqa: E402

HOST = "voice-chime.us-east-1.amazonaws.com"


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
        server = ProxyProcess(
            [sys.executable, "-c", upstream_script(PROXY_SESSION_BODY)], confdir=tmpdir
        )
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
