"""Benchmark: a full report (load + summarize + render) against the bare parse of the same files.

    python -m bench report [-- --json-n 100000 --yaml-n 20000 --no-million]

Cassettes are generated as text in the vcrpy layout the recorder writes (several files per
case). Every measurement runs in its own subprocess, so peak RSS (ru_maxrss) is that step's
own. The baseline is json.loads / yaml.load(CSafeLoader) of the same bytes. Baseline and report
alternate (``bench.paired``); ``ratio`` is the median of the per-round ratios (report time over
the parse time of the same round), ``ratio_min``/``ratio_max`` beside it; times are medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

if __package__ in (None, ""):  # run as a script (the measured child steps)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.paired import alternate, paired

PER_FILE = 50_000
CONNECTOR = "abcdef1ghij2klmno3pqr4"
HOST = "voice-chime.us-east-1.amazonaws.com"
BASE_EPOCH = 1_790_000_000  # 2026-09-21, any fixed instant will do

_SESSION = (
    '{"ProxySession":{"Capabilities":["SMS","Voice"],"CreatedTimestamp":"__CREATED__","EndedTimestamp":null,'
    '"ExpiryMinutes":60,"GeoMatchLevel":null,"GeoMatchParams":null,"Name":null,"NumberSelectionBehavior":null,'
    '"Participants":[{"PhoneNumber":"+12065550100","ProxyPhoneNumber":"+19135550199"},'
    '{"PhoneNumber":"+14015550101","ProxyPhoneNumber":"+19135550199"}],"ProxySessionId":"__SID__",'
    '"Status":"Open","UpdatedTimestamp":"__UPDATED__","VoiceConnectorId":"' + CONNECTOR + '"}}'
)
# (operation, method, has session id in path, status, request body, response body, error type)
_KINDS = [
    (
        "CreateProxySession",
        "POST",
        False,
        201,
        '{"Capabilities":["SMS","Voice"],"ParticipantPhoneNumbers":["+12065550100","+14015550101"]}',
        _SESSION,
        None,
    ),
    ("GetProxySession", "GET", True, 200, None, _SESSION, None),
    ("GetProxySession", "GET", True, 200, None, _SESSION, None),
    (
        "UpdateProxySession",
        "POST",
        True,
        201,
        '{"Capabilities":["Voice"],"ExpiryMinutes":60}',
        _SESSION,
        None,
    ),
    ("ListProxySessions", "GET", False, 200, None, '{"ProxySessions":[],"NextToken":null}', None),
    (
        "GetProxySession",
        "GET",
        True,
        429,
        None,
        '{"Code":"Throttled","Message":"Rate exceeded"}',
        "ThrottledClientException",
    ),
    (
        "GetProxySession",
        "GET",
        True,
        404,
        None,
        '{"Code":"NotFound","Message":"Proxy session not found"}',
        "NotFoundException",
    ),
    ("DeleteProxySession", "DELETE", True, 204, None, "", None),
]


def _interaction(kind: tuple, i: int) -> dict:
    op, method, has_sid, status, req_body, resp_body, etype = kind
    path = f"/voice-connectors/{CONNECTOR}/proxy-sessions" + ("/__SID__" if has_sid else "")
    resp_headers = {
        "Content-Type": ["application/json"],
        "Date": ["__DATE__"],
        "x-amzn-RequestId": ["__RID__"],
    }
    if etype:
        resp_headers["x-amzn-ErrorType"] = [
            f"{etype}:http://internal.amazon.com/coral/com.amazonaws.chime/"
        ]
    return {
        "request": {
            "method": method,
            "uri": f"https://{HOST}{path}",
            "body": req_body,
            "headers": {
                "Content-Type": ["application/json"],
                "User-Agent": ["Boto3/1.35 md/Botocore#1.35"],
                "X-Amz-Date": ["__AMZDATE__"],
            },
        },
        "response": {
            "status": {"code": status, "message": "x"},
            "headers": resp_headers,
            "body": {"string": resp_body},
        },
        "chime_tap": {
            "recorded_at": "__RECORDED__",
            "duration_ms": 12.5,
            "operation": op,
            "namespace": "voice",
            "violations": [],
        },
    }


def _templates(fmt: str) -> list[str]:
    out = []
    for i, kind in enumerate(_KINDS):
        item = _interaction(kind, i)
        if fmt == "json":
            out.append(
                json.dumps(item, separators=(",", ":")).replace(
                    '"duration_ms":12.5', '"duration_ms":__MS__'
                )
            )
        else:
            text = yaml.dump(
                [item],
                Dumper=yaml.CSafeDumper,
                default_flow_style=False,
                sort_keys=False,
                width=1 << 16,
            )
            out.append(text.replace("duration_ms: 12.5", "duration_ms: __MS__"))
    return out


def _fill(template: str, i: int) -> str:
    t = BASE_EPOCH + i * 0.05  # 20 calls a second
    sec = int(t)
    stamp = time.gmtime(sec)
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + f".{int((t - sec) * 1000):03d}Z"
    return (
        template.replace("__SID__", f"s{i // len(_KINDS):07d}-0000-4000-8000-000000000000")
        .replace(
            "__CREATED__",
            time.strftime(
                "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(BASE_EPOCH + (i // len(_KINDS)) * 0.4)
            ),
        )
        .replace("__UPDATED__", iso)
        .replace("__RECORDED__", iso)
        .replace("__DATE__", time.strftime("%a, %d %b %Y %H:%M:%S GMT", stamp))
        .replace("__AMZDATE__", time.strftime("%Y%m%dT%H%M%SZ", stamp))
        .replace("__RID__", f"{i:08d}-0000-4000-8000-000000000000")
        .replace("__MS__", f"{5 + (i * 7919) % 400 / 4:.2f}")
    )


def write_cassettes(directory: Path, n: int, fmt: str, per_file: int = PER_FILE) -> list[Path]:
    """``n`` interactions as vcrpy cassettes of ``fmt`` (json or yaml), ``per_file`` to a file."""
    templates = _templates(fmt)
    paths = []
    for start in range(0, n, per_file):
        items = [
            _fill(templates[i % len(templates)], i) for i in range(start, min(n, start + per_file))
        ]
        path = directory / f"bench-{fmt}-{start // per_file:04d}.{fmt}"
        if fmt == "json":
            path.write_text('{"version":1,"interactions":[\n' + ",\n".join(items) + "\n]}\n")
        else:
            path.write_text("version: 1\ninteractions:\n" + "".join(items))
        paths.append(path)
    return paths


# --- the measured steps (each run in a child process) -----------------------------------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(step: str, paths: list[str]) -> dict:
    # Imports are not part of the measured work (nor are they for the baseline).
    from chime_tap.analysis import load_frame, render, summarize

    t0, c0 = time.perf_counter(), _cpu()
    result: dict = {}
    if step == "parse-json":
        rows = sum(len(json.loads(Path(p).read_bytes())["interactions"]) for p in paths)
    elif step == "parse-yaml":
        rows = sum(
            len(yaml.load(Path(p).read_bytes(), Loader=yaml.CSafeLoader)["interactions"])
            for p in paths
        )
    else:
        frame = load_frame(paths)
        result["load_s"] = time.perf_counter() - t0
        render(summarize(frame), "json")
        rows = len(frame)
    return {
        **result,
        "rows": rows,
        "seconds": time.perf_counter() - t0,
        "cpu_s": _cpu() - c0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _measure(step: str, paths: list[Path]) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return json.loads(done.stdout)


def _case(directory: Path, fmt: str, n: int, repeat: int) -> dict:
    paths = write_cassettes(directory, n, fmt)
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    # Baseline and report alternate, so other work on the machine slows both alike; each
    # round's ratio is taken against the other step of the same round.
    runs = alternate(
        {
            "base": lambda _r: _measure(f"parse-{fmt}", paths),
            "full": lambda _r: _measure("report", paths),
        },
        repeat,
    )
    bases, fulls = runs["base"], runs["full"]
    ratio = paired([r["seconds"] for r in fulls], [r["seconds"] for r in bases])
    cpu_ratio = paired([r["cpu_s"] for r in fulls], [r["cpu_s"] for r in bases])
    assert all(r["rows"] == n for r in bases + fulls), (bases, fulls)

    def med(rs: list[dict], key: str) -> float:
        return round(statistics.median(r[key] for r in rs), 2)

    for p in paths:
        p.unlink()
    return {
        "case": f"{fmt} {n:,}",
        "runs": repeat,
        "files": len(paths),
        "MB": round(size_mb, 1),
        "parse_s": med(bases, "seconds"),
        "report_s": med(fulls, "seconds"),
        "load_s": med(fulls, "load_s"),
        "ratio": round(ratio.median, 2),
        "ratio_min": round(ratio.low, 2),
        "ratio_max": round(ratio.high, 2),
        "parse_cpu_s": med(bases, "cpu_s"),
        "report_cpu_s": med(fulls, "cpu_s"),
        "cpu_ratio": round(cpu_ratio.median, 2),
        "parse_rss_mb": round(max(r["peak_rss_mb"] for r in bases)),
        "report_rss_mb": round(max(r["peak_rss_mb"] for r in fulls)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-n", type=int, default=100_000)
    parser.add_argument("--yaml-n", type=int, default=20_000)
    parser.add_argument(
        "--no-million",
        dest="million",
        action="store_false",
        help="skip the 1,000,000-interaction JSON case (it takes a few minutes and GBs of memory)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="alternating rounds of each step; the paired median is reported (default 3)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = _child(args.child[0], args.child[1:])
        print(json.dumps(result))
        return result
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        cases = [("json", args.json_n), ("yaml", args.yaml_n)] + (
            [("json", 1_000_000)] if args.million else []
        )
        for fmt, n in cases:
            rows.append(_case(Path(tmp), fmt, n, 1 if n >= 1_000_000 else args.repeat))
            print(f"  done: {rows[-1]['case']}", file=sys.stderr)
    header = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[h]).rjust(w) for h, w in zip(header, widths, strict=True)))
    verdicts = targets(rows)
    for line in verdicts:
        print(line)
    return {"cases": rows, "targets": verdicts}


def targets(rows: list[dict]) -> list[str]:
    """One line per target of the issue, met or not, for the cases this run measured."""
    out = []
    for r in rows:
        fmt, n = r["case"].split()
        n = int(n.replace(",", ""))
        if fmt == "json" and n == 100_000:
            out.append(
                _verdict(
                    f"full report of {r['case']} JSON <= 10 s",
                    r["report_s"] <= 10,
                    f"{r['report_s']} s",
                )
            )
        elif fmt == "yaml":
            out.append(
                _verdict(
                    f"{r['case']} YAML within 1.3x of the bare libyaml parse",
                    r["ratio"] <= 1.3,
                    f"{r['ratio']}x, paired median ({r['ratio_min']}-{r['ratio_max']})",
                )
            )
        elif fmt == "json" and n == 1_000_000:
            ok = r["report_s"] <= 120 and r["report_rss_mb"] <= 8 * 1024
            out.append(
                _verdict(
                    f"{r['case']} JSON <= 120 s and <= 8 GB",
                    ok,
                    f"{r['report_s']} s, {r['report_rss_mb']} MB peak",
                )
            )
    return out


def _verdict(target: str, ok: bool, measured: str) -> str:
    return f"target {'met' if ok else 'MISSED'}: {target} (measured {measured})"


if __name__ == "__main__":
    main()
