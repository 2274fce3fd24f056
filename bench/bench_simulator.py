"""Simulator throughput through mitmproxy, next to plain mitmdump forwarding to a loopback server.

Both proxies run as real processes on 127.0.0.1 and are driven by the same client (plain HTTP
through the proxy, keep-alive, N threads). The baseline is `mitmdump --set flow_detail=0` forwarding to a
trivial keep-alive HTTP server answering a body of the simulator's size; the subject is
`chime-tap simulate` answering GetProxySession (and CreateProxySession) itself.

    python -m bench simulator [-- --requests N --concurrency 1 32 --rounds 5]

Baseline and subject alternate round by round (``bench.paired``); the headline ratio is the
median of the per-round ratios (subject's req/s over the baseline's in the same round), with
min and max next to it; req/s and CPU are the median rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from bench.loopback import PROXY_SESSION_BODY, cpu_seconds, drive, upstream_script  # noqa: E402
from bench.paired import alternate, paired  # noqa: E402
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
        help="alternating rounds per scenario; the paired median is reported (default 3)",
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

                # Rounds alternate baseline and subject (the order reversed every other round),
                # so a burst of load from elsewhere on the machine hits both.
                def one_run(scenario, concurrency: int = concurrency) -> dict[str, Any]:
                    name, proxy, method, url, body, ok, _ = scenario
                    cpu = cpu_seconds(proxy.proc.pid)
                    run = drive(proxy.port, method, url, body, args.requests, concurrency)
                    # CPU per request of the proxy process: steadier than wall time when
                    # other work shares the cores.
                    run["cpu_us"] = (
                        (cpu_seconds(proxy.proc.pid) - cpu) / max(run["requests"], 1) * 1e6
                    )
                    if set(run["statuses"]) - {ok} or run["requests"] != args.requests:
                        raise RuntimeError(f"{name}: unexpected statuses {run['statuses']}")
                    return run

                rounds = alternate(
                    {s[0]: (lambda _r, s=s: one_run(s)) for s in scenarios}, args.rounds
                )
                for name, *_, baseline in scenarios:
                    rps = [r["rps"] for r in rounds[name]]
                    cpu_us = [r["cpu_us"] for r in rounds[name]]
                    if baseline:
                        ratio = paired(rps, [r["rps"] for r in rounds[baseline]])
                        # CPU ratio: the baseline's CPU per request over this one's (> 1: cheaper)
                        cpu_ratio = paired([r["cpu_us"] for r in rounds[baseline]], cpu_us)
                    else:
                        ratio = cpu_ratio = paired([1.0] * len(rps), [1.0] * len(rps))
                    results["runs"].append(
                        {
                            "scenario": name,
                            "concurrency": concurrency,
                            "requests": args.requests,
                            "rps": statistics.median(rps),
                            "rounds_rps": [round(x, 1) for x in rps],
                            "cpu_us": statistics.median(cpu_us),
                            "baseline": baseline or "-",
                            "ratio": ratio.median,
                            "ratio_range": (ratio.low, ratio.high),
                            "ratio_text": ratio.text(),
                            "cpu_ratio": cpu_ratio.median,
                            "cpu_ratio_text": cpu_ratio.text(),
                        }
                    )
        finally:
            for proc in (sim, plain, server):
                proc.kill()

    print(
        f"{'scenario':<28} {'conc':>4} {'requests':>8} {'req/s':>7} {'ratio (min-max)':>17} "
        f"{'proxy CPU us/req':>16} {'CPU ratio (min-max)':>19}  baseline"
    )
    print(
        "(req/s, CPU: median rounds; ratios: median of per-round paired ratios to the baseline, "
        "> 1: faster/cheaper)"
    )
    for r in results["runs"]:
        row = f"{r['scenario']:<28} {r['concurrency']:>4} {r['requests']:>8} {r['rps']:>7.0f} {r['ratio_text']:>17}"
        print(
            f"{row} {r['cpu_us']:>16.0f} {r['cpu_ratio_text']:>19}  {r['baseline']}  req/s rounds {r['rounds_rps']}"
        )
    return results


if __name__ == "__main__":
    main()
