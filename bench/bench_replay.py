"""Replay cost: proxy throughput by cassette size, cassette loading, in-process replay against vcrpy.

Three measurements, each with its baseline in the same run:

1. ``chime-tap replay`` requests/s (real processes on 127.0.0.1, one keep-alive client),
   like for like: repeats (answers already played, ``--exhausted repeat``) at 10,000
   interactions against repeats at 10 (target >= 0.9); first plays (sessions never asked
   before) at 1,000,000 against first plays at 10,000 (target >= 0.9); and first plays against
   repeats at 10,000. The 1,000,000-interaction JSON cassette's start (spawn to listening:
   imports and loading; target <= 10 s) and the replay process's peak RSS (target <= 2 GB).
2. Loading a 10,000-interaction cassette into a replay-ready index: JSON (target <= 1 s), and
   YAML next to vcrpy's own YAML loading of the same file (target: ratio <= 1.0). Also the
   in-process path: entering ``make_vcr().use_cassette`` vs ``vcr.VCR().use_cassette``.
3. In-process replay through real boto3 on a 1,000-interaction cassette, against the no-HTTP
   floor (the same call answered by a botocore before-send handler: signing, serialization and
   parsing done, no HTTP): ``make_vcr(record_mode="none")`` as shipped, boto3 answered where
   botocore sends (``chime_tap.botocore_replay``; target <= 1.2x the floor), the same with
   ``botocore_fast_path=False`` (every call through urllib3 and vcrpy's stubs), and plain
   ``vcr.VCR(record_mode="none")``.

    python -m bench replay [-- --requests 1500 --rounds 5 --inprocess-requests 300 --no-million
                              --instructions 250]

Every ratio is the median of per-round paired ratios (``bench.paired``), min-max beside it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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


def write_big_json(path: Path, size: int) -> Path:
    """The JSON cassette ``write_cassette`` writes, byte for byte, without a writer call per line.

    The writer's line for interaction 0 is the template; each line substitutes its session and
    request ids (checked against the writer's own output in tests/test_bench_paired.py).
    """
    sample = write_cassette(path.with_name(path.name + ".sample.json"), 1)
    head, line, tail = sample.read_bytes().split(b"\n", 2)
    sample.unlink()
    sid0, req0 = session_id(0).encode(), b'"req-0"'
    assert line.count(sid0) == 2 and line.count(req0) == 1, line
    with open(path, "wb") as f:
        f.write(head + b"\n")
        for start in range(0, size, 10_000):
            chunk = []
            for i in range(start, min(size, start + 10_000)):
                text = line.replace(sid0, session_id(i).encode()).replace(req0, b'"req-%d"' % i)
                chunk.append(text)
            f.write(b",\n".join(chunk) + (b",\n" if start + 10_000 < size else b"\n"))
        f.write(tail)
    return path


# --- 1. proxy throughput ------------------------------------------------------------------------


def proxy_round(port: int, ids: list[int]) -> float:
    """Requests/s for GETs of the recorded sessions ``ids``, in order, on one keep-alive connection."""
    conn = Connection(port)
    base = f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions/"
    urls = [base + session_id(i) for i in ids]
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


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


class Replay:
    """A ``chime-tap replay`` process on a cassette, and the sessions it has not played yet.

    ``first(n)`` draws ``n`` sessions never asked before (first plays); ``repeats(n)`` draws
    from the sessions already played (repeats, served with ``--exhausted repeat``).
    """

    def __init__(self, tmp: Path, name: str, cassette: Path, size: int, seed: int) -> None:
        started = time.perf_counter()
        self.proc = chime_tap(
            ["replay", "--cassette", str(cassette), "--exhausted", "repeat"],
            confdir=tmp / f"conf-{name}",
            start_timeout=600,
        )
        self.start_s = time.perf_counter() - started  # spawn to listening: imports and the load
        self.rss_after_load_mb = peak_rss_mb(self.proc.proc.pid)
        self.size = size
        self.rng = random.Random(seed)
        self.unplayed = self.rng.sample(range(size), size) if size <= 100_000 else None
        self.played: list[int] = []
        self.asked: set[int] = set()

    def first(self, n: int) -> list[int]:
        if self.unplayed is not None:
            if len(self.unplayed) < n:
                raise ValueError(f"only {len(self.unplayed)} unplayed sessions left of {self.size}")
            ids, self.unplayed = self.unplayed[:n], self.unplayed[n:]
        else:  # a big cassette: draw until n new ones (few collisions)
            ids = []
            while len(ids) < n:
                i = self.rng.randrange(self.size)
                if i not in self.asked:
                    self.asked.add(i)
                    ids.append(i)
        self.played += ids
        return ids

    def repeats(self, n: int) -> list[int]:
        return [self.rng.choice(self.played) for _ in range(n)]

    def warm_all(self) -> None:
        """Play every recorded session once, so that every later request is a repeat."""
        proxy_round(self.proc.port, self.first(len(self.unplayed or ())))


def bench_proxy(tmp: Path, requests: int, rounds: int, million: bool) -> dict[str, Any]:
    """First plays against first plays, repeats against repeats, and the one against the other.

    Rounds alternate between the replay processes (order reversed every other round); each
    ratio is the median of per-round paired ratios.
    """
    if requests * (rounds + 1) > 10_000:
        raise ValueError(
            f"--requests {requests} x (--rounds {rounds} + 1) first plays do not fit in the "
            "10,000-interaction cassette; lower one of them"
        )
    small = write_big_json(tmp / "small.json", 10)
    large = write_big_json(tmp / "large.json", 10_000)
    replays: dict[str, Replay] = {}
    try:
        replays["repeat_10"] = Replay(tmp, "r10", small, 10, 1)
        replays["repeat_10000"] = Replay(tmp, "r10k", large, 10_000, 2)
        replays["first_10000"] = Replay(tmp, "f10k", large, 10_000, 3)
        if million:
            huge = write_big_json(tmp / "million.json", 1_000_000)
            replays["first_1000000"] = Replay(tmp, "f1m", huge, 1_000_000, 4)
        replays["repeat_10"].warm_all()
        replays["repeat_10000"].warm_all()
        for name, replay in replays.items():  # warm the connection and the code paths
            if name.startswith("first"):
                proxy_round(replay.proc.port, replay.first(requests // 4 or 1))

        def one(name: str) -> float:
            replay = replays[name]
            ids = replay.first(requests) if name.startswith("first") else replay.repeats(requests)
            return proxy_round(replay.proc.port, ids)

        rates = alternate({name: (lambda _r, name=name: one(name)) for name in replays}, rounds)
        rss = {name: peak_rss_mb(r.proc.proc.pid) for name, r in replays.items()}
    finally:
        for replay in replays.values():
            replay.proc.stop()
    ratios = {
        "repeats_10000_vs_10": paired(rates["repeat_10000"], rates["repeat_10"]),
        "first_vs_repeat_10000": paired(rates["first_10000"], rates["repeat_10000"]),
    }
    if million:
        ratios["first_1000000_vs_10000"] = paired(rates["first_1000000"], rates["first_10000"])
    out: dict[str, Any] = {
        "rps": {name: round(statistics.median(v), 1) for name, v in rates.items()},
        "rounds": {name: [round(x, 1) for x in v] for name, v in rates.items()},
        "ratios": {name: r.as_dict() for name, r in ratios.items()},
        "ratio_text": {name: r.text(3) for name, r in ratios.items()},
        "best_round": {name: round(best_round(r), 3) for name, r in ratios.items()},
        "targets": {"repeats_10000_vs_10": ">= 0.9", "first_1000000_vs_10000": ">= 0.9"},
        "peak_rss_mb": {name: round(v) for name, v in rss.items()},
    }
    if million:
        big = replays["first_1000000"]
        out["million"] = {
            "cassette_mb": round((tmp / "million.json").stat().st_size / 1e6),
            "start_s": round(big.start_s, 2),
            "rss_after_load_mb": round(big.rss_after_load_mb),
            "peak_rss_mb": round(rss["first_1000000"]),
            "targets": "start (imports + load) <= 10 s; peak RSS <= 2048 MiB",
        }
        out["start_s_10000"] = round(replays["first_10000"].start_s, 2)
    return out


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


class _Raw:
    """What botocore reads an answer's body from (``AWSResponse.raw.stream()``)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _answer(url: str, status: int, headers: dict[str, str], body: bytes) -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse(url, status, headers, _Raw(body))


def floor_handler(answers: dict[str, bytes]) -> Callable[..., Any]:
    """The no-HTTP floor: a before-send handler answering each URL with its recorded body.

    botocore still builds, signs and serializes the request and parses the answer: what is
    left out is everything between the signed request and the bytes of the answer.
    """

    def answer(request: Any, **_: Any) -> Any:
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": "req"}
        return _answer(request.url, 200, headers, answers[request.url])

    return answer


def _calls(client: Any, ids: list[str]) -> float:
    """Seconds per GetProxySession call for the sessions ``ids``, checking each answer."""
    start = time.perf_counter()
    for sid in ids:
        got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
        assert got["ProxySession"]["ProxySessionId"] == sid
    return (time.perf_counter() - start) / len(ids)


def bench_inprocess(tmp: Path, n: int, rounds: int) -> dict[str, Any]:
    """In-process replay through real boto3, against the no-HTTP floor, in alternating rounds.

    Each round draws ``n`` distinct sessions of a 1,000-interaction cassette; every replay
    round enters its cassette anew (record mode none: each recorded answer plays once).
    """
    import vcr

    from chime_tap.vcr_config import make_vcr

    size = 1000
    path = write_cassette(tmp / "thousand.yaml", size)
    url = f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions/"
    bodies = {
        item["request"]["uri"]: item["response"]["body"]["string"].encode()
        for item in _load(path)["interactions"]
    }
    rng = random.Random(7)
    draws = [[session_id(i) for i in rng.sample(range(size), n)] for _ in range(rounds)]
    assert all(url + sid in bodies for sid in draws[0])

    def client() -> Any:
        c = voice_client(None, endpoint=f"http://{HOST}")
        c.get_proxy_session  # noqa: B018 - build the method before timing
        return c

    floor, chime_client, off_client, plain_client = client(), client(), client(), client()
    floor.meta.events.register("before-send.chime-sdk-voice", floor_handler(bodies))
    chime, plain = make_vcr(record_mode="none"), vcr.VCR(record_mode="none")
    off = make_vcr(record_mode="none", botocore_fast_path=False)

    def replay(v: Any, c: Any, r: int, fast: bool = False) -> float:
        with v.use_cassette(str(path)) as cassette:
            took = _calls(c, draws[r])
        if fast:  # every call answered by the fast path, each counted where vcrpy counts it
            assert cassette.fast_path.answered == n and len(cassette.play_counts) == n
        return took

    _calls(floor, draws[0][:20])  # warm-up: botocore's caches, vcrpy's patches
    replay(chime, chime_client, 0)
    replay(off, off_client, 0)
    runs = alternate(
        {
            "floor": lambda r: _calls(floor, draws[r]),
            "chime": lambda r: replay(chime, chime_client, r, fast=True),
            "chime_through_vcrpy": lambda r: replay(off, off_client, r),
            "vcrpy": lambda r: replay(plain, plain_client, r),
        },
        rounds,
    )
    ratios = {
        "chime_vs_floor": paired(runs["chime"], runs["floor"]),
        "chime_through_vcrpy_vs_floor": paired(runs["chime_through_vcrpy"], runs["floor"]),
        "vcrpy_vs_floor": paired(runs["vcrpy"], runs["floor"]),
        "chime_vs_vcrpy": paired(runs["chime"], runs["vcrpy"]),
    }
    return {
        "requests": n,
        "ms_per_call": {k: round(statistics.median(v) * 1000, 3) for k, v in runs.items()},
        "rounds_ms": {k: [round(x * 1000, 3) for x in v] for k, v in runs.items()},
        "ratios": {k: r.as_dict() for k, r in ratios.items()},
        "ratio_text": {k: r.text(3) for k, r in ratios.items()},
        "target": "chime_vs_floor <= 1.2",
    }


VARIANTS = ("floor", "chime", "chime_through_vcrpy", "vcrpy")


def _child(variant: str, n: int, path: Path) -> None:
    """One in-process variant, 10 warm-up calls then ``n`` calls: what callgrind counts."""
    import vcr

    from chime_tap.vcr_config import make_vcr

    size = 1000
    bodies = {
        item["request"]["uri"]: item["response"]["body"]["string"].encode()
        for item in _load(path)["interactions"]
    }
    ids = [session_id(i) for i in random.Random(7).sample(range(size), size)]
    client = voice_client(None, endpoint=f"http://{HOST}")
    if variant == "floor":
        client.meta.events.register("before-send.chime-sdk-voice", floor_handler(bodies))
        _calls(client, ids[:10])
        _calls(client, ids[10 : 10 + n])
        return
    if variant == "vcrpy":
        v = vcr.VCR(record_mode="none")
    else:
        v = make_vcr(record_mode="none", botocore_fast_path=variant == "chime")
    with v.use_cassette(str(path)) as cassette:
        _calls(client, ids[:10])
        _calls(client, ids[10 : 10 + n])
    if variant != "vcrpy":  # the shipped path answered every call, or none when switched off
        assert cassette.fast_path.answered == (10 + n if variant == "chime" else 0)


def inprocess_instructions(tmp: Path, n: int) -> dict[str, Any]:
    """Instructions per call of each in-process variant, counted by callgrind (a figure a busy
    machine does not move): each variant runs twice, with ``n // 5`` and ``n`` calls, and the
    difference is divided by the difference in calls, so start-up and warm-up cancel out."""
    import os
    import re
    import subprocess

    path = tmp / "thousand.yaml"
    if not path.exists():
        write_cassette(path, 1000)
    few = max(n // 5, 1)
    counts: dict[str, float] = {}
    for variant in VARIANTS:
        totals = []
        for calls in (few, n):
            out = tmp / f"callgrind-{variant}-{calls}.out"
            subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    "-m",
                    "bench.bench_replay",
                    "--child",
                    variant,
                    str(calls),
                    str(path),
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONHASHSEED": "0"},
                check=True,
                capture_output=True,
                timeout=3600,
            )
            total = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
            if total is None:
                raise RuntimeError(f"{variant}: no instruction total in {out}")
            totals.append(int(total.group(1)))
        counts[variant] = (totals[1] - totals[0]) / (n - few)
    return {
        "calls": n,
        "instructions_per_call": {k: round(v) for k, v in counts.items()},
        "ratio_vs_floor": {k: round(v / counts["floor"], 3) for k, v in counts.items()},
    }


def _load(path: Path) -> dict[str, Any]:
    from chime_tap.cassettes.reader import load_cassette

    return load_cassette(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=1500,
        help="proxy requests per round; (rounds + 1) x requests <= 10,000 (default 1500)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating rounds (proxy, in-process); the paired median is reported (default 5)",
    )
    parser.add_argument(
        "--inprocess-requests",
        type=int,
        default=300,
        help="boto3 calls per in-process round, at most 1000 (default 300)",
    )
    parser.add_argument(
        "--no-million",
        dest="million",
        action="store_false",
        help="leave out the 1,000,000-interaction replay (about 1 GB of cassette, 2 GB of memory)",
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
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="also count in-process instructions per call under callgrind, over N calls per "
        "variant (several minutes; 0, the default, skips it)",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]), Path(args.child[2]))
        return {}
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        tmpdir = Path(tmp)
        results: dict[str, Any] = {}
        if "proxy" in args.parts:
            results["proxy"] = bench_proxy(tmpdir, args.requests, args.rounds, args.million)
        if "load" in args.parts:
            results["load"] = bench_load(tmpdir, args.load_repeat)
        if "inprocess" in args.parts:
            results["inprocess"] = bench_inprocess(tmpdir, args.inprocess_requests, args.rounds)
            if args.instructions:
                results["inprocess"]["instructions"] = inprocess_instructions(
                    tmpdir, args.instructions
                )
    rows = []
    if "proxy" in results:
        p = results["proxy"]
        rps, text, best = p["rps"], p["ratio_text"], p["best_round"]
        names = {
            "repeat_10": "proxy req/s, 10 interactions, repeats (baseline)",
            "repeat_10000": "proxy req/s, 10,000 interactions, repeats",
            "first_10000": "proxy req/s, 10,000 interactions, first plays",
            "first_1000000": "proxy req/s, 1,000,000 interactions, first plays",
        }
        notes = {
            "repeat_10000": ("repeats_10000_vs_10", "vs 10, repeats; target >= 0.9"),
            "first_10000": ("first_vs_repeat_10000", "vs repeats at 10,000"),
            "first_1000000": ("first_1000000_vs_10000", "vs 10,000, first plays; target >= 0.9"),
        }
        for name, label in names.items():
            if name not in rps:
                continue
            note = ""
            if name in notes:
                key, what = notes[name]
                note = f"ratio {text[key]} ({what}; best round {best[key]})"
            rows.append((label, f"{rps[name]}", note))
        if "million" in p:
            m = p["million"]
            rows += [
                (
                    "replay start, 1,000,000 JSON (imports + load)",
                    f"{m['start_s']} s",
                    f"target <= 10 s; {m['cassette_mb']} MB cassette; 10,000: {p['start_s_10000']} s",
                ),
                (
                    "replay peak RSS, 1,000,000",
                    f"{m['peak_rss_mb']} MiB",
                    f"target <= 2048 MiB; after loading {m['rss_after_load_mb']} MiB",
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
        ms, text = ip["ms_per_call"], ip["ratio_text"]
        rows += [
            ("in-process floor: before-send handler, ms/call (baseline)", f"{ms['floor']}", ""),
            (
                'make_vcr(record_mode="none"), 1,000: ms/call',
                f"{ms['chime']}",
                f"ratio {text['chime_vs_floor']} (vs floor; target <= 1.2);"
                f" vs plain vcrpy {text['chime_vs_vcrpy']}",
            ),
            (
                "plain vcr.VCR(record_mode='none'), 1,000: ms/call",
                f"{ms['vcrpy']}",
                f"ratio {text['vcrpy_vs_floor']} (vs floor)",
            ),
            (
                "make_vcr(..., botocore_fast_path=False): ms/call",
                f"{ms['chime_through_vcrpy']}",
                f"ratio {text['chime_through_vcrpy_vs_floor']} (vs floor)",
            ),
        ]
        if "instructions" in ip:
            ins = ip["instructions"]
            for variant in VARIANTS:
                rows.append(
                    (
                        f"callgrind, {variant}: instructions/call",
                        f"{ins['instructions_per_call'][variant]:,}",
                        f"ratio {ins['ratio_vs_floor'][variant]} (vs floor; {ins['calls']} calls)",
                    )
                )
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'value':>12}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")
    return results


if __name__ == "__main__":
    main()
