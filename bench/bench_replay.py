"""Replay cost: proxy throughput by cassette size, cassette loading, in-process replay against vcrpy.

Three measurements, each with its baseline in the same run:

1. ``chime-tap replay`` requests/s with a 10,000-interaction cassette vs a 10-interaction one
   (real processes on 127.0.0.1, one keep-alive client, alternating rounds, medians).
   Target: ratio >= 0.9.
2. Loading a 10,000-interaction cassette into a replay-ready index: JSON (target <= 1 s), and
   YAML next to vcrpy's own YAML loading of the same file (target: ratio <= 1.0). Also the
   in-process path: entering ``make_vcr().use_cassette`` vs ``vcr.VCR().use_cassette``.
3. In-process replay through real boto3: chime-tap's vcrpy config vs plain ``vcr.VCR``
   (default settings, linear scan) on the same 1,000-interaction cassette, a bounded number of
   requests; chime-tap's also on 10,000. Target: ratio (chime / vcrpy time per request) <= 1.0.

    python bench/bench_replay.py [--requests 2000] [--rounds 3] [--inprocess-requests 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench.loopback import Connection  # noqa: E402
from bench.paired import alternate, best_round, paired  # noqa: E402
from support.procs import CONNECTOR, chime_tap, voice_client  # noqa: E402

HOST = "voice-chime.us-east-1.amazonaws.com"
TIME_CAP = 60.0  # seconds per measured proxy round, whatever the request count


def session_id(i: int) -> str:
    return f"sess-{i:06d}-0000-4000-8000-000000000000"


def write_cassette(path: Path, size: int) -> Path:
    """A cassette of ``size`` GetProxySession interactions with distinct session ids (CassetteWriter)."""
    from chime_tap.cassettes.format import make_interaction
    from chime_tap.cassettes.writer import CassetteWriter

    with CassetteWriter(path) as w:
        for i in range(size):
            sid = session_id(i)
            body = {
                "ProxySession": {
                    "VoiceConnectorId": CONNECTOR,
                    "ProxySessionId": sid,
                    "Name": None,
                    "Status": "Open",
                    "ExpiryMinutes": 60,
                    "Capabilities": ["Voice", "SMS"],
                    "CreatedTimestamp": "2020-04-15T16:10:10.288Z",
                    "UpdatedTimestamp": "2020-04-15T16:10:10.288Z",
                    "EndedTimestamp": None,
                    "Participants": [
                        {"PhoneNumber": "+12065550100", "ProxyPhoneNumber": "+19135550199"},
                        {"PhoneNumber": "+14015550101", "ProxyPhoneNumber": "+19135550199"},
                    ],
                    "NumberSelectionBehavior": None,
                    "GeoMatchLevel": None,
                    "GeoMatchParams": None,
                }
            }
            w.append(
                make_interaction(
                    method="GET",
                    uri=f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}",
                    request_headers={
                        "Host": [HOST],
                        "Accept-Encoding": ["identity"],
                        "X-Amz-Date": ["20200415T161010Z"],
                        "Authorization": ["AWS4-HMAC-SHA256 ..."],
                    },
                    request_body=None,
                    status=200,
                    reason="OK",
                    response_headers={
                        "Content-Type": ["application/json"],
                        "x-amzn-RequestId": [f"req-{i}"],
                    },
                    response_body=json.dumps(body, separators=(",", ":")),
                    fmt=w.fmt,
                )
            )
    return path


# --- 1. proxy throughput ------------------------------------------------------------------------


def proxy_round(port: int, size: int, n: int, seed: int) -> float:
    """Requests/s for ``n`` GETs of random recorded sessions through one keep-alive connection."""
    rng = random.Random(seed)
    conn = Connection(port)
    base = f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions/"
    urls = [base + session_id(rng.randrange(size)) for _ in range(n)]
    conn.request("GET", urls[0], None)  # warm the connection
    done = 0
    start = time.perf_counter()
    for url in urls:
        status = conn.request("GET", url, None)
        if status != 200:
            raise RuntimeError(f"replay answered {status} for {url}")
        done += 1
        if time.perf_counter() - start > TIME_CAP:
            break
    elapsed = time.perf_counter() - start
    conn.close()
    return done / elapsed


def bench_proxy(tmp: Path, requests: int, rounds: int) -> dict[str, Any]:
    small = write_cassette(tmp / "small.json", 10)
    large = write_cassette(tmp / "large.json", 10_000)
    procs = {
        # Gets are drawn with replacement: a played answer repeats (not the default, which fails).
        10: chime_tap(
            ["replay", "--cassette", str(small), "--exhausted", "repeat"],
            confdir=tmp / "conf-small",
        ),
        10_000: chime_tap(
            ["replay", "--cassette", str(large), "--exhausted", "repeat"],
            confdir=tmp / "conf-large",
        ),
    }
    try:
        rates = alternate(
            {
                size: (lambda r, size=size, proc=proc: proxy_round(proc.port, size, requests, r))
                for size, proc in procs.items()
            },
            rounds,
        )
    finally:
        for proc in procs.values():
            proc.stop()
    ratio = paired(rates[10_000], rates[10])
    return {
        "rps_10": round(statistics.median(rates[10]), 1),
        "rps_10000": round(statistics.median(rates[10_000]), 1),
        "ratio": ratio.as_dict(),
        "ratio_text": ratio.text(3),
        "best_round_ratio": round(best_round(ratio), 3),
        "target": ">= 0.9",
        "rounds": {str(k): [round(x, 1) for x in v] for k, v in rates.items()},
    }


# --- 2. loading ---------------------------------------------------------------------------------


def _interleaved(fns: dict[str, Any], repeat: int) -> dict[str, list[float]]:
    """Seconds of each function in each of ``repeat`` alternating rounds (``bench.paired``)."""

    def timed(fn: Any) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return alternate({name: (lambda _r, fn=fn: timed(fn)) for name, fn in fns.items()}, repeat)


def bench_load(tmp: Path, repeat: int = 3) -> dict[str, Any]:
    import vcr
    from vcr.serialize import deserialize
    from vcr.serializers import yamlserializer

    from chime_tap.playback import build_index
    from chime_tap.vcr_config import make_vcr

    json_path = tmp / "large.json"
    if not json_path.exists():
        write_cassette(json_path, 10_000)
    yaml_path = write_cassette(tmp / "large.yaml", 10_000)

    def vcrpy_yaml() -> None:
        deserialize(yaml_path.read_text(), yamlserializer)

    def enter(v, path: Path) -> None:
        with v.use_cassette(str(path)) as cas:
            assert len(cas) == 10_000

    plain, chime = vcr.VCR(record_mode="none"), make_vcr()
    vcr_json = vcr.VCR(record_mode="none", serializer="json")
    times = _interleaved(
        {
            "proxy_index_yaml_s": lambda: build_index([str(yaml_path)]),
            "vcrpy_deserialize_yaml_s": vcrpy_yaml,
            "inprocess_chime_yaml_s": lambda: enter(chime, yaml_path),
            "inprocess_vcrpy_yaml_s": lambda: enter(plain, yaml_path),
        },
        repeat,
    )
    times.update(
        _interleaved(
            {
                "proxy_index_json_s": lambda: build_index([str(json_path)]),
                "inprocess_chime_json_s": lambda: enter(chime, json_path),
                "inprocess_vcrpy_json_serializer_s": lambda: enter(vcr_json, json_path),
            },
            repeat,
        )
    )
    out: dict[str, Any] = {name: round(statistics.median(t), 3) for name, t in times.items()}
    # Ratios: time over the baseline's time in the same round, median of the rounds.
    for key, subject, baseline in (
        ("yaml_ratio_proxy_vs_vcrpy", "proxy_index_yaml_s", "vcrpy_deserialize_yaml_s"),
        ("yaml_ratio_inprocess_vs_vcrpy", "inprocess_chime_yaml_s", "inprocess_vcrpy_yaml_s"),
        (
            "json_ratio_inprocess_vs_vcrpy",
            "inprocess_chime_json_s",
            "inprocess_vcrpy_json_serializer_s",
        ),
    ):
        out[key] = paired(times[subject], times[baseline]).text(3)
    out["targets"] = "json <= 1 s; yaml ratios <= 1.0"
    return out


# --- 3. in-process replay ------------------------------------------------------------------------


def inprocess_per_request(v, path: Path, size: int, n: int, seed: int = 7) -> float:
    """Seconds per GetProxySession replayed through real boto3 inside ``v.use_cassette``."""
    rng = random.Random(seed)
    ids = [session_id(i) for i in rng.sample(range(size), min(n, size))]
    client = voice_client(None, endpoint=f"http://{HOST}")
    client.get_proxy_session  # noqa: B018 - build the method before timing
    with v.use_cassette(str(path)):
        start = time.perf_counter()
        for sid in ids:
            got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
            assert got["ProxySession"]["ProxySessionId"] == sid
        return (time.perf_counter() - start) / len(ids)


def bench_inprocess(tmp: Path, n: int, rounds: int) -> dict[str, Any]:
    import vcr

    from chime_tap.vcr_config import make_vcr

    thousand = write_cassette(tmp / "thousand.yaml", 1000)
    ten_thousand = tmp / "large.json"
    if not ten_thousand.exists():
        write_cassette(ten_thousand, 10_000)
    runs = alternate(
        {
            "vcrpy": lambda r: inprocess_per_request(
                vcr.VCR(record_mode="none"), thousand, 1000, n, r
            ),
            "chime": lambda r: inprocess_per_request(make_vcr(), thousand, 1000, n, r),
            "chime_10k": lambda r: inprocess_per_request(make_vcr(), ten_thousand, 10_000, n, r),
        },
        rounds,
    )
    ratio = paired(runs["chime"], runs["vcrpy"])
    return {
        "requests": n,
        "vcrpy_default_1000_ms_per_request": round(statistics.median(runs["vcrpy"]) * 1000, 3),
        "chime_1000_ms_per_request": round(statistics.median(runs["chime"]) * 1000, 3),
        "chime_10000_ms_per_request": round(statistics.median(runs["chime_10k"]) * 1000, 3),
        "ratio_chime_vs_vcrpy": ratio.text(3),
        "target": "<= 1.0",
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="proxy requests per round (default 2000)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds (proxy, in-process); the paired median is reported (default 3)",
    )
    parser.add_argument(
        "--inprocess-requests",
        type=int,
        default=200,
        help="boto3 calls per in-process run (default 200)",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("proxy", "load", "inprocess"),
        default=["proxy", "load", "inprocess"],
    )
    parser.add_argument(
        "--load-repeat",
        type=int,
        default=3,
        help="alternating rounds per loading measurement (default 3)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        tmpdir = Path(tmp)
        results: dict[str, Any] = {}
        if "proxy" in args.parts:
            results["proxy"] = bench_proxy(tmpdir, args.requests, args.rounds)
        if "load" in args.parts:
            results["load"] = bench_load(tmpdir, args.load_repeat)
        if "inprocess" in args.parts:
            results["inprocess"] = bench_inprocess(tmpdir, args.inprocess_requests, args.rounds)
    rows = []
    if "proxy" in results:
        p = results["proxy"]
        rows += [
            ("proxy req/s, 10 interactions (baseline)", f"{p['rps_10']}", ""),
            (
                "proxy req/s, 10,000 interactions",
                f"{p['rps_10000']}",
                f"ratio {p['ratio_text']} (paired median, min-max; target >= 0.9;"
                f" best round {p['best_round_ratio']})",
            ),
        ]
    if "load" in results:
        ld = results["load"]
        rows += [
            ("load 10,000 JSON -> replay index", f"{ld['proxy_index_json_s']} s", "target <= 1 s"),
            (
                "vcrpy: deserialize 10,000 YAML (baseline)",
                f"{ld['vcrpy_deserialize_yaml_s']} s",
                "",
            ),
            (
                "load 10,000 YAML -> replay index",
                f"{ld['proxy_index_yaml_s']} s",
                f"ratio {ld['yaml_ratio_proxy_vs_vcrpy']} (target <= 1.0)",
            ),
            (
                "vcrpy: enter cassette, 10,000 YAML (baseline)",
                f"{ld['inprocess_vcrpy_yaml_s']} s",
                "",
            ),
            (
                "chime: enter cassette, 10,000 YAML",
                f"{ld['inprocess_chime_yaml_s']} s",
                f"ratio {ld['yaml_ratio_inprocess_vs_vcrpy']} (target <= 1.0)",
            ),
            (
                "vcrpy json serializer: enter 10,000 JSON (baseline)",
                f"{ld['inprocess_vcrpy_json_serializer_s']} s",
                "",
            ),
            (
                "chime: enter cassette, 10,000 JSON",
                f"{ld['inprocess_chime_json_s']} s",
                f"ratio {ld['json_ratio_inprocess_vs_vcrpy']}",
            ),
        ]
    if "inprocess" in results:
        ip = results["inprocess"]
        rows += [
            (
                "vcrpy default, 1,000: ms/request (baseline)",
                f"{ip['vcrpy_default_1000_ms_per_request']}",
                "",
            ),
            (
                "chime config, 1,000: ms/request",
                f"{ip['chime_1000_ms_per_request']}",
                f"ratio {ip['ratio_chime_vs_vcrpy']} (target <= 1.0)",
            ),
            ("chime config, 10,000: ms/request", f"{ip['chime_10000_ms_per_request']}", ""),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'value':>12}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")
    return results


if __name__ == "__main__":
    main()
