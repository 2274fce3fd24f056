"""A fleet's recorded traffic, made up: many recorders, many days, the demo's mix and errors.

    python -m bench.fleet_gen cassettes OUT_DIR [--recorders 8 --days 30 --per-day 200 --format json]
    python -m bench.fleet_gen dataset OUT_DIR [--rows 10000000 --days 30 --recorders 200]

Each recorder (a CI job, a staging environment) writes one cassette a day in the layout
chime-tap's recorder writes: the five proxy-session operations in the demo's mix (:data:`MIX`),
throttles and service failures at the demo's fault rates (``chime_tap.demo_workload``), a few
invalid requests answered 400 and Gets of sessions already gone answered 404, and a latency
per call drawn from a log-normal distribution per operation (:data:`LATENCY_MS`).

``cassettes`` writes the files (for ``ingest`` and its benchmarks). ``dataset`` writes a big
dataset straight away: a template of real rows (a generated cassette read by the report's
loader) sampled, re-timed over the days and given fresh ids, then written with the dataset's
own writer, so 10 million rows take a minute instead of the loader's hour.

Every function takes a seed and returns what it generated, counted independently of chime-tap's
reader (:class:`Truth`), so a test can compare a report against it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from chime_tap.cassettes.format import JSON_HEAD
from chime_tap.demo_workload import ERROR_RATE, THROTTLE_RATE

HOST = "voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
FIRST_DAY = np.datetime64("2026-10-01T00:00:00", "us")
DAY_US = 86_400 * 1_000_000
# Share of calls per operation (the demo's workload reads more than it writes).
MIX = {
    "CreateProxySession": 0.15,
    "GetProxySession": 0.40,
    "UpdateProxySession": 0.15,
    "ListProxySessions": 0.20,
    "DeleteProxySession": 0.10,
}
# Median and spread (sigma of the log) of each operation's latency in ms.
LATENCY_MS = {
    "CreateProxySession": (180.0, 0.45),
    "GetProxySession": (45.0, 0.35),
    "UpdateProxySession": (120.0, 0.40),
    "ListProxySessions": (90.0, 0.50),
    "DeleteProxySession": (70.0, 0.40),
}
INVALID_RATE = 0.02  # requests answered 400 BadRequestException (a violation each)
NOT_FOUND_RATE = 0.03  # Gets of a session already gone: 404
# (status, error type, message) of each failure kind
THROTTLED = (429, "ThrottledClientException", "Rate exceeded")
FAILED = (503, "ServiceUnavailableException", "Service unavailable")
INVALID = (400, "BadRequestException", "1 validation error detected")
NOT_FOUND = (404, "NotFoundException", "Proxy session not found")
VIOLATION = "'Fax' is not one of ['Voice', 'SMS']"  # at request body /Capabilities/0
_METHOD = {
    "CreateProxySession": "POST",
    "GetProxySession": "GET",
    "UpdateProxySession": "POST",
    "ListProxySessions": "GET",
    "DeleteProxySession": "DELETE",
}
_OK = {
    "CreateProxySession": 201,
    "GetProxySession": 200,
    "UpdateProxySession": 201,
    "ListProxySessions": 200,
    "DeleteProxySession": 204,
}


@dataclass
class Truth:
    """What was generated, counted as it was made: calls per (operation, status), and errors
    per (operation, error type)."""

    interactions: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_error: Counter = field(default_factory=Counter)
    days: set[str] = field(default_factory=set)

    def add(self, other: Truth) -> None:
        self.interactions += other.interactions
        self.by_status.update(other.by_status)
        self.by_error.update(other.by_error)
        self.days |= other.days


@dataclass
class Calls:
    """One cassette's calls as arrays (times in µs since the epoch, in order)."""

    operation: np.ndarray
    status: np.ndarray
    error: np.ndarray  # index into (None, THROTTLED, FAILED, INVALID, NOT_FOUND)
    latency_ms: np.ndarray
    at_us: np.ndarray
    session: np.ndarray  # session number within the cassette


_KINDS = (None, THROTTLED, FAILED, INVALID, NOT_FOUND)


def calls(rng: np.random.Generator, n: int, day: int) -> Calls:
    """``n`` calls of one recorder on day ``day`` (0 = FIRST_DAY)."""
    ops = np.array(list(MIX))
    operation = rng.choice(len(ops), size=n, p=list(MIX.values()))
    draw = rng.random(n)
    error = np.zeros(n, dtype="int8")
    cut = np.cumsum([THROTTLE_RATE, ERROR_RATE, INVALID_RATE])
    error[draw < cut[2]] = 3
    error[draw < cut[1]] = 2
    error[draw < cut[0]] = 1
    is_get = operation == list(MIX).index("GetProxySession")
    error[(error == 0) & is_get & (rng.random(n) < NOT_FOUND_RATE)] = 4
    ok = np.array([_OK[o] for o in ops])[operation]
    codes = np.array([0, *(k[0] for k in _KINDS[1:])])
    status = np.where(error == 0, ok, codes[error])
    median = np.array([LATENCY_MS[o][0] for o in ops])[operation]
    sigma = np.array([LATENCY_MS[o][1] for o in ops])[operation]
    latency = np.round(median * np.exp(sigma * rng.standard_normal(n)), 2)
    start = FIRST_DAY.astype("int64") + day * DAY_US
    at = np.sort(start + rng.integers(0, DAY_US - 60_000_000, size=n))
    session = np.cumsum(operation == 0)  # a Create starts the next session
    return Calls(ops[operation], status, error, latency, at, session)


def truth_of(c: Calls) -> Truth:
    t = Truth(interactions=len(c.status))
    t.by_status.update(zip(c.operation.tolist(), c.status.tolist(), strict=True))
    for op, e in zip(c.operation.tolist(), c.error.tolist(), strict=True):
        if e:
            t.by_error[(op, _KINDS[e][1])] += 1
    t.days |= {str(d)[:10] for d in np.unique(c.at_us.astype("datetime64[us]").astype("M8[D]"))}
    return t


def _iso(us: int) -> str:
    return str(np.datetime64(int(us), "us").astype("M8[ms]")) + "Z"


def _http_date(us: int) -> str:
    import email.utils

    return email.utils.formatdate(us / 1e6, usegmt=True)


def _amz_date(us: int) -> str:
    return str(np.datetime64(int(us) // 1_000_000, "s")).replace("-", "").replace(":", "") + "Z"


def created_times(c: Calls) -> list[int]:
    """Each call's session's CreatedTimestamp: the time of its latest Create so far (an hour
    before the first call for a session created before the cassette began)."""
    latest: dict[int, int] = {}
    out = []
    before = int(c.at_us[0]) - 3_600_000_000 if len(c.at_us) else 0
    ops, sessions, times = c.operation.tolist(), c.session.tolist(), c.at_us.tolist()
    for op, session, at in zip(ops, sessions, times, strict=True):
        if op == "CreateProxySession":
            latest[session] = at
        out.append(latest.get(session, before))
    return out


def interaction(c: Calls, i: int, recorder: str, created: list[int] | None = None) -> dict:
    """Call ``i`` as the recorder writes it (vcrpy's keys and chime-tap's metadata)."""
    op, status, kind = str(c.operation[i]), int(c.status[i]), _KINDS[int(c.error[i])]
    at = int(c.at_us[i])
    sid = f"{recorder}-{int(c.session[i]):06d}-4000-8000-000000000000"
    path = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
    if op not in ("CreateProxySession", "ListProxySessions"):
        path += f"/{sid}"
    request_body = None
    if op == "CreateProxySession":
        caps = ["Fax"] if kind is INVALID else ["SMS", "Voice"]
        request_body = json.dumps(
            {"Capabilities": caps, "ParticipantPhoneNumbers": ["+12065550100", "+14015550101"]}
        )
    elif op == "UpdateProxySession":
        caps = ["Fax"] if kind is INVALID else ["Voice"]
        request_body = json.dumps({"Capabilities": caps, "ExpiryMinutes": 60})
    headers = {"Content-Type": ["application/json"], "x-amzn-RequestId": [f"{recorder}-{i:08d}"]}
    if kind is not None:
        headers["x-amzn-ErrorType"] = [f"{kind[1]}:http://internal.amazon.com/coral/"]
        body = json.dumps({"Code": kind[1].removesuffix("Exception"), "Message": kind[2]})
    elif op == "ListProxySessions":
        body = '{"ProxySessions":[],"NextToken":null}'
    elif op == "DeleteProxySession":
        body = ""
    else:
        stamp = _iso(at)
        body = json.dumps(
            {
                "ProxySession": {
                    "Capabilities": ["SMS", "Voice"],
                    "CreatedTimestamp": _iso((created or created_times(c))[i]),
                    "ExpiryMinutes": 60,
                    "ProxySessionId": sid,
                    "Status": "Open",
                    "UpdatedTimestamp": stamp,
                    "VoiceConnectorId": CONNECTOR,
                }
            }
        )
    headers["Date"] = [_http_date(at)]
    return {
        "request": {
            "method": _METHOD[op],
            "uri": f"https://{HOST}{path}",
            "body": request_body,
            "headers": {
                "Content-Type": ["application/json"],
                "User-Agent": ["Boto3/1.35 md/Botocore#1.35"],
                "X-Amz-Date": [_amz_date(at)],
            },
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": headers,
            "body": {"string": body},
        },
        "chime_tap": {  # chime_tap.recording.recording_meta's keys, in its order
            "recorded_at": _iso(at),
            "duration_ms": float(c.latency_ms[i]),
            "operation": op,
            "namespace": "voice",
            "violations": [
                {
                    "operation": op,
                    "part": "request body",
                    "pointer": "/Capabilities/0",
                    "message": VIOLATION,
                }
            ]
            if kind is INVALID and request_body
            else [],
            "answered_by": "upstream",
        },
    }


def cassette_text(c: Calls, recorder: str, fmt: str, start: int = 0, stop: int | None = None):
    """Calls [start, stop) as a cassette's text in ``fmt`` (json or yaml); JSON in the layout
    ``chime-tap record``'s writer leaves (its head, one interaction a line), what users ingest."""
    created = created_times(c)
    stop = len(c.status) if stop is None else stop
    items = [interaction(c, i, recorder, created) for i in range(start, stop)]
    if fmt == "json":
        lines = ",\n".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")) for i in items)
        return JSON_HEAD.decode() + (lines + "\n]}\n" if items else "]}\n")
    return yaml.dump(
        {"version": 1, "interactions": items},
        Dumper=yaml.CSafeDumper,
        default_flow_style=False,
        sort_keys=False,
        width=1 << 16,
    )


def write_cassettes(
    out: Path, *, recorders: int, days: int, per_day: int, fmt: str = "json", seed: int = 1
) -> tuple[list[Path], Truth]:
    """One cassette per recorder and day: ``recorders * days`` files of ``per_day`` calls."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth, paths = Truth(), []
    for r in range(recorders):
        name = f"ci{r:04d}"
        for d in range(days):
            c = calls(rng, per_day, d)
            path = out / f"{name}-day{d:02d}.{fmt}"
            path.write_text(cassette_text(c, name, fmt))
            truth.add(truth_of(c))
            paths.append(path)
    return paths, truth


# --- a big dataset, written straight away --------------------------------------------------


def template_frame(n: int = 20_000, seed: int = 2):
    """Real rows to sample from: a generated cassette read by the report's loader."""
    import tempfile

    from chime_tap.analysis.load import load_file

    rng = np.random.default_rng(seed)
    c = calls(rng, n, 0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.json"
        path.write_text(cassette_text(c, "tmpl", "json"))
        return load_file(path, ids=True)


def write_dataset(
    root: Path,
    *,
    rows: int,
    days: int = 30,
    recorders: int = 200,
    files_per_day: int = 4,
    seed: int = 3,
) -> Truth:
    """A dataset of ``rows`` calls over ``days`` days: each day's calls in ``files_per_day``
    files (what that many ingest runs a day leave), written by the dataset's writer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from chime_tap.dataset import layout
    from chime_tap.dataset.schema import ID, SCHEMA, to_table

    rng = np.random.default_rng(seed)
    template = to_table(template_frame())
    ops = template.column("operation").to_numpy(zero_copy_only=False)
    status = template.column("status").to_numpy()
    etype = template.column("error_type").to_numpy(zero_copy_only=False)
    codes = pc.dictionary_encode(template.column("proxy_session_id")).combine_chunks().indices
    session_code = codes.fill_null(-1).to_numpy(zero_copy_only=False)
    sessions = max(1, int(session_code.max()) + 1)
    truth = Truth()
    root.mkdir(parents=True, exist_ok=True)
    with layout.scratch(root) as tmp:
        for d in range(days):
            day_rows = rows // days + (1 if d < rows % days else 0)
            for f in range(files_per_day):
                n = day_rows // files_per_day + (1 if f < day_rows % files_per_day else 0)
                pick = rng.integers(0, len(template), size=n)
                start = FIRST_DAY.astype("int64") + d * DAY_US
                at = np.sort(start + rng.integers(0, DAY_US, size=n)).astype("datetime64[us]")
                # Each template session copied ``copies`` times in this file, a copy's calls
                # kept together (one recorder's session): about 1 / MIX[Create] calls each.
                copies = max(1, round(n * MIX["CreateProxySession"] / sessions))
                copy = rng.integers(0, copies, size=n)
                recorder = (session_code[pick] * 31 + copy * 7 + f) % recorders
                table = template.take(pa.array(pick))
                shift = at - table.column("recorded_at").to_numpy().astype("datetime64[us]")
                columns = {}
                for name in SCHEMA.names:
                    col = table.column(name)
                    if name in ("recorded_at", "amz_date", "response_date", "updated_at"):
                        values = col.to_numpy(zero_copy_only=False).astype("datetime64[us]")
                        col = pa.array(values + shift, type=SCHEMA.field(name).type)
                    elif name in ("created_at", "ended_at"):  # one per session: the day moves
                        values = col.to_numpy(zero_copy_only=False).astype("datetime64[us]")
                        moved = values + np.timedelta64(d * DAY_US, "us")
                        col = pa.array(moved, type=SCHEMA.field(name).type)
                    elif name == "proxy_session_id":
                        # one copy's session in one file of one day (sessions last minutes)
                        tag = np.char.add(np.char.add("-", copy.astype("U5")), f"-f{f}-d{d:02d}")
                        suffix = pa.array(tag.astype(object))
                        col = pc.binary_join_element_wise(col, suffix, "")
                    elif name == "source":
                        col = pa.array((np.char.add("ci", recorder.astype("U5"))).astype(object))
                    elif name == ID:
                        col = pa.array([os.urandom(16).hex() for _ in range(n)])
                    columns[name] = col
                part = pa.table(columns, schema=SCHEMA)
                target = layout.partition_dir(root, str(at[0])[:10])
                layout.write_atomically(part, target / f"part-gen{f:02d}-{d:02d}.parquet", tmp)
                truth.interactions += n
                truth.by_status.update(zip(ops[pick].tolist(), status[pick].tolist(), strict=True))
                failed = status[pick] >= 400
                truth.by_error.update(
                    zip(ops[pick][failed].tolist(), etype[pick][failed].tolist(), strict=True)
                )
                truth.days.add(str(at[0])[:10])
    return truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("cassettes", "dataset"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--recorders", type=int, default=8)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=200, help="cassettes: calls per file")
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.add_argument("--rows", type=int, default=1_000_000, help="dataset: calls in all")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.what == "cassettes":
        paths, truth = write_cassettes(
            args.out, recorders=args.recorders, days=args.days, per_day=args.per_day,
            fmt=args.format, seed=args.seed,
        )  # fmt: skip
        print(f"{len(paths)} cassettes, {truth.interactions} interactions in {args.out}")
    else:
        truth = write_dataset(
            args.out, rows=args.rows, days=args.days, recorders=args.recorders, seed=args.seed
        )
        print(f"{truth.interactions} interactions over {len(truth.days)} days in {args.out}")


if __name__ == "__main__":
    main()
