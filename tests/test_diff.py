"""`chime-tap diff`: deliberate mutations of a recorded cassette are each found, and only they.

``tests/data/diff/recorded.yaml`` was recorded through a real `chime-tap record --upstream
simulator` with a real boto3 client (``python tests/test_diff_seeds.py OUT SEED``): the demo's
workload, then ten rounds of the five operations. Each mutation below changes one thing in a
copy, written by chime-tap's own cassette writer; the expected findings are what that one change
must produce, written out by hand.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.commands.diff import read_recordings
from chime_tap.semantic_diff import diff_recordings

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "diff" / "recorded.yaml"
BAD = DATA / "bad-input" / "cassettes"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
SESSIONS = f"/voice-connectors/{CONNECTOR}/proxy-sessions"

# What the recorded cassette holds, by interaction number (see the module docstring):
# 0-4 the demo's five Creates (ps-1 .. ps-5), 5 Get ps-1, 7 Update ps-1, 12 List status=Open,
# 13 Delete ps-4, 19 a simulator control call, 24-28 round 0 on ps-6 (Create, Get, Update,
# List, Delete), 29-33 round 1 on ps-7, ...
CALLS = {
    "CreateProxySession": 17,
    "ListProxySessions": 16,
    "GetProxySession": 14,
    "UpdateProxySession": 13,
    "DeleteProxySession": 13,
}


def interactions() -> list[dict]:
    return copy.deepcopy(load_cassette(RECORDED)["interactions"])


def write(path: Path, items: list[dict]) -> Path:
    """``items`` as a cassette at ``path`` (YAML or JSON by its suffix), by chime-tap's writer."""
    with CassetteWriter(path) as w:
        for item in items:
            w.append(item)
    return path


def body(item: dict) -> dict:
    return json.loads(item["response"]["body"]["string"])


def set_body(item: dict, doc: dict) -> None:
    item["response"]["body"]["string"] = json.dumps(doc, separators=(",", ":"))


# --- the mutations: each changes one thing --------------------------------------------------


def status_changed(items: list[dict]) -> None:
    items[13]["response"]["status"]["code"] = 200  # Delete ps-4: 204 -> 200


def member_removed(items: list[dict]) -> None:
    doc = body(items[5])  # Get ps-1
    del doc["ProxySession"]["Name"]
    set_body(items[5], doc)


def enum_changed(items: list[dict]) -> None:
    doc = body(items[12])  # List status=Open: its first item
    doc["ProxySessions"][0]["Status"] = "InProgress"
    set_body(items[12], doc)


def call_dropped(items: list[dict]) -> None:
    del items[30]  # Get ps-7


def call_added(items: list[dict]) -> None:
    items.insert(27, copy.deepcopy(items[26]))  # Update ps-6, sent twice


def latency_tripled(items: list[dict]) -> None:
    for item in items:
        if item["chime_tap"].get("operation") == "GetProxySession":
            item["chime_tap"]["duration_ms"] *= 3


def new_violation(items: list[dict]) -> None:
    doc = body(items[7])  # Update ps-1 answered with a capability the API does not have
    doc["ProxySession"]["Capabilities"] = ["Fax"]
    set_body(items[7], doc)


def numbers_changed(items: list[dict]) -> None:
    doc = body(items[5])  # Get ps-1: both participants get another proxy number
    for participant in doc["ProxySession"]["Participants"]:
        participant["ProxyPhoneNumber"] = "+19135550199"
    set_body(items[5], doc)


def found(result) -> set[tuple]:
    """(operation, kind, what, count, value A, value B) of every finding, and latency changes."""
    out = set()
    for op in result.operations:
        for f in op.findings:
            e = f.examples[0]
            out.add((op.operation, f.kind, f.what, f.count, e.value_a, e.value_b))
        if op.latency.changed:
            out.add((op.operation, "latency", op.latency.verdict.split(",")[0]))
    return out


EXPECTED = {
    status_changed: {
        ("DeleteProxySession", "status", "204 -> 200", 1, "204", "200"),
        (
            "DeleteProxySession",
            "violation appeared",
            "status: DeleteProxySession answers 204 on success, got 200",
            1,
            None,
            None,
        ),
    },
    member_removed: {
        ("GetProxySession", "member removed", "/ProxySession/Name", 1, '"order 1001"', "(missing)")
    },
    enum_changed: {
        (
            "ListProxySessions",
            "member changed",
            "/ProxySessions/*/Status",
            1,
            '"Open"',
            '"InProgress"',
        )
    },
    # One call, changed at two places of one member pattern: counted once, as a call.
    numbers_changed: {
        (
            "GetProxySession",
            "member changed",
            "/ProxySession/Participants/*/ProxyPhoneNumber",
            1,
            '"+19135550100"',
            '"+19135550199"',
        )
    },
    call_dropped: {
        ("GetProxySession", "only in A", f"GET {SESSIONS}/ps-7 -> 200", 1, None, None),
    },
    call_added: {
        (
            "UpdateProxySession",
            "only in B",
            f'POST {SESSIONS}/ps-6 {{"Capabilities":["SMS"]}} -> 201',
            1,
            None,
            None,
        ),
    },
    latency_tripled: {("GetProxySession", "latency", "slower: p50 x3.00")},
    new_violation: {
        (
            "UpdateProxySession",
            "member changed",
            "/ProxySession/Capabilities/*",
            1,
            '"SMS"',
            '"Fax"',
        ),
        (
            "UpdateProxySession",
            "violation appeared",
            'response body /ProxySession/Capabilities/0: "Fax" is not one of "Voice" or "SMS"',
            1,
            None,
            None,
        ),
    },
}


@pytest.mark.parametrize("mutation", list(EXPECTED), ids=lambda m: m.__name__)
def test_each_mutation_is_found_and_nothing_else(tmp_path, mutation):
    items = interactions()
    mutation(items)
    b = write(tmp_path / "b.yaml", items)
    result = diff_recordings(read_recordings(RECORDED)[0], read_recordings(b)[0])
    assert found(result) == EXPECTED[mutation]
    assert not result.equivalent


def test_every_mutation_at_once_is_found(tmp_path, cli):
    items = interactions()
    # every mutation but call_added leaves the interaction numbers before 30 as they were
    for mutation in EXPECTED:
        if mutation is not call_added:
            mutation(items)
    call_added(items)  # at 27, before the call dropped at 30
    b = write(tmp_path / "b.yaml", items)
    done = cli("diff", RECORDED, b, "--format", "json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    got = {
        (op["operation"], f["kind"], f["what"])
        for op in result["operations"]
        for f in op["findings"]
    }
    want = {
        (op, kind, what)
        for m in EXPECTED
        for op, kind, what, *_ in EXPECTED[m]
        if kind != "latency"
    }
    assert got == want
    changed = {op["operation"] for op in result["operations"] if op["latency"]["changed"]}
    assert changed == {"GetProxySession"}
    assert result["differences"] == len(want) + 1
    calls = {op["operation"]: (op["calls_a"], op["calls_b"]) for op in result["operations"]}
    assert calls["GetProxySession"] == (14, 13)
    assert calls["UpdateProxySession"] == (13, 14)


def test_the_same_cassette_in_yaml_and_in_json_is_equivalent(tmp_path, cli):
    as_json = write(tmp_path / "recorded.json", interactions())
    assert as_json.read_bytes().startswith(b'{"version":1,"interactions":[\n')
    done = cli("diff", RECORDED, as_json)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("equivalent: no differences")
    done = cli("diff", as_json, RECORDED, "--format", "json")
    result = json.loads(done.stdout)
    assert result["equivalent"] and result["differences"] == 0
    assert {op["operation"]: op["paired"] for op in result["operations"]} == CALLS
    assert (result["other_a"], result["other_b"]) == (1, 1)  # the simulator's clock call


def test_a_har_of_the_same_calls_is_equivalent(tmp_path, cli):
    """diff reads HAR with the report's readers: the recorded calls as HAR entries compare equal."""
    entries = []
    for item in interactions():
        req, resp = item["request"], item["response"]
        entries.append(
            {
                "startedDateTime": item["chime_tap"]["recorded_at"],
                "time": item["chime_tap"]["duration_ms"],
                "request": {
                    "method": req["method"],
                    "url": req["uri"],
                    "headers": [{"name": k, "value": v[0]} for k, v in req["headers"].items()],
                    **({"postData": {"text": req["body"]}} if req["body"] else {}),
                },
                "response": {
                    "status": resp["status"]["code"],
                    "statusText": resp["status"]["message"],
                    "headers": [{"name": k, "value": v[0]} for k, v in resp["headers"].items()],
                    "content": {"text": resp["body"]["string"]},
                },
                "_chime_tap": item["chime_tap"],
            }
        )
    har = tmp_path / "recorded.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    done = cli("diff", RECORDED, har)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sessions_line_up_by_their_creates_when_a_create_request_changed(tmp_path):
    """A Create whose request differs is unpaired, but its session still lines up (the Creates
    left over pair in order of creation): the Get, Update and Delete on it pair."""
    items = interactions()
    request = json.loads(items[29]["request"]["body"])
    request["Name"] = "renamed"
    items[29]["request"]["body"] = json.dumps(request)
    b = write(tmp_path / "b.yaml", items)
    result = diff_recordings(read_recordings(RECORDED)[0], read_recordings(b)[0])
    kinds = {(op.operation, f.kind) for op in result.operations for f in op.findings}
    assert kinds == {("CreateProxySession", "only in A"), ("CreateProxySession", "only in B")}
    paired = {op.operation: op.paired for op in result.operations}
    assert paired == {**CALLS, "CreateProxySession": 16}


def test_ignore_pointers_and_patterns(tmp_path, cli):
    items = interactions()
    member_removed(items)
    enum_changed(items)
    new_violation(items)
    b = write(tmp_path / "b.yaml", items)
    assert cli("diff", RECORDED, b).returncode == 1
    done = cli(
        "diff", RECORDED, b, "--ignore", "/ProxySession/Name", "--ignore", "/ProxySessions/*/Status"
    )
    assert done.returncode == 1
    left = json.loads(cli("diff", RECORDED, b, "--format", "json", "--ignore", "/ProxySession/Name",
                          "--ignore", "/ProxySessions/*/Status").stdout)  # fmt: skip
    assert {f["kind"] for op in left["operations"] for f in op["findings"]} == {
        "member changed",
        "violation appeared",
    }
    # a pattern covers what is under it, and the violations there
    ignore_file = tmp_path / "ignore.txt"
    ignore_file.write_text("# what this comparison leaves out\n\n/ProxySession/Capabilities\n")
    done = cli("diff", RECORDED, b, "--ignore", "/ProxySession/Name",
               "--ignore", "/ProxySessions/*/Status", "--ignore-file", ignore_file)  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert (
        "ignored: /ProxySession/Name, /ProxySessions/*/Status, /ProxySession/Capabilities"
        in done.stdout
    )
    # '*' is one segment, not several
    done = cli("diff", RECORDED, b, "--ignore", "/*/Name", "--ignore", "/*/Status",
               "--ignore", "/*/Capabilities")  # fmt: skip
    assert done.returncode == 1


def _session_cassette(path: Path, updated_after: float, created: str) -> Path:
    """A Create, then an Update answered ``updated_after`` seconds after the creation."""
    from datetime import datetime, timedelta

    made = datetime.fromisoformat(created)
    stamp = (made + timedelta(seconds=updated_after)).isoformat(timespec="milliseconds")
    stamp = stamp.replace("+00:00", "Z")
    items = interactions()
    create, update = items[24], items[26]
    session = body(create)
    session["ProxySession"]["CreatedTimestamp"] = created.replace("+00:00", "Z")
    session["ProxySession"]["UpdatedTimestamp"] = created.replace("+00:00", "Z")
    set_body(create, session)
    later = copy.deepcopy(session)
    later["ProxySession"]["UpdatedTimestamp"] = stamp
    later["ProxySession"]["Capabilities"] = ["SMS"]
    set_body(update, later)
    return write(path, [create, update])


def test_timestamps_compare_as_distances_from_creation(tmp_path, cli):
    a = _session_cassette(tmp_path / "a.yaml", 1.0, "2026-01-01T10:00:00.000+00:00")
    b = _session_cassette(tmp_path / "b.yaml", 1.2, "2026-03-05T17:30:00.500+00:00")
    assert cli("diff", a, b).returncode == 0  # other dates, same distances (within 5 s)
    done = cli("diff", a, b, "--time-tolerance", "0.1", "--format", "json")
    assert done.returncode == 1
    [finding] = [f for op in json.loads(done.stdout)["operations"] for f in op["findings"]]
    assert (finding["kind"], finding["what"]) == (
        "member changed",
        "/ProxySession/UpdatedTimestamp",
    )
    example = finding["examples"][0]
    assert (example["value_a"], example["value_b"]) == (
        "+1.000 s after CreatedTimestamp",
        "+1.200 s after CreatedTimestamp",
    )
    # never updated (UpdatedTimestamp still the creation time) is a difference at any tolerance
    same = _session_cassette(tmp_path / "c.yaml", 0.0, "2026-03-05T17:30:00.500+00:00")
    done = cli("diff", a, same, "--time-tolerance", "60")
    assert done.returncode == 1
    assert "+1.000 s after CreatedTimestamp -> +0.000 s after CreatedTimestamp" in done.stdout


def test_directories_compare_file_with_file(tmp_path, cli):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    (tmp_path / "b" / "sub").mkdir(parents=True)
    items = interactions()
    write(tmp_path / "a" / "sub" / "one.yaml", items[:24])
    write(tmp_path / "a" / "two.json", items[24:])
    write(tmp_path / "a" / "gone.yaml", items[24:29])
    (tmp_path / "a" / "notes.txt").write_text("not a recording")
    write(tmp_path / "b" / "sub" / "one.yaml", items[:24])
    write(tmp_path / "b" / "two.json", items[24:])
    done = cli("diff", tmp_path / "a", tmp_path / "b", "--format", "json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["files_only_a"] == [str(tmp_path / "a" / "gone.yaml")]
    assert result["files_only_b"] == [] and result["differences"] == 1
    assert result["not_read"] == 1
    assert {op["operation"]: op["paired"] for op in result["operations"]} == CALLS
    # a directory against a file: each side is one recording
    done = cli("diff", tmp_path / "b", RECORDED)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_every_format_says_the_same_findings(tmp_path, cli, fmt):
    items = interactions()
    status_changed(items)
    member_removed(items)
    b = write(tmp_path / "b.yaml", items)
    done = cli("diff", RECORDED, b, "--format", fmt)
    assert done.returncode == 1
    out = done.stdout
    if fmt == "json":
        result = json.loads(out)
        assert result["differences"] == 3
        return
    for text in ("204 -&gt; 200", "/ProxySession/Name", "3 difference(s)") if fmt == "html" else (
        "204 -> 200", "/ProxySession/Name", "3 difference(s)"
    ):  # fmt: skip
        assert text in out, out
    if fmt == "markdown":
        table = [line for line in out.splitlines() if line.startswith("|")]
        assert len(table) == 2 + len(CALLS)
        assert {len(re.split(r"(?<!\\)\|", line)) for line in table} == {2 + 12}
    if fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
    out_file = tmp_path / f"diff.{ {'text': 'txt', 'markdown': 'md', 'html': 'html'}[fmt] }"
    done = cli("diff", RECORDED, b, "--out", out_file)
    assert done.returncode == 1 and out_file.read_text() == out
    assert done.stderr.strip() == f"chime-tap: diff written to {out_file}: 3 difference(s)"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ignore", "ProxySession"], "--ignore: 'ProxySession' is not a JSON pointer"),
        (["--ignore", "/a~2"], "'~' must be followed by 0 or 1"),
        (
            ["--ignore-file", "/nonexistent/ignore"],
            "--ignore-file /nonexistent/ignore: cannot be read",
        ),
        (["--time-tolerance", "-1"], "must be a finite number >= 0"),
        (["--time-tolerance", "nan"], "must be a finite number >= 0"),
        (["--latency-ratio", "1"], "must be a finite number > 1"),
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--format", "json", "--out", "x.html"], "the extension .html means --format html"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(cli, args, message):
    done = cli("diff", RECORDED, RECORDED, *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_inputs_and_empty_directories_are_one_line_and_exit_2(tmp_path, cli):
    suffixes = ".yaml, .yml, .json, .har, .mitm, .flow, .flows"
    for args, message in (
        ([tmp_path / "nope.yaml", RECORDED], f"{tmp_path / 'nope.yaml'}: no such file"),
        ([RECORDED, tmp_path], f"{tmp_path}: a directory with no recording in it ({suffixes})"),
    ):
        done = cli("diff", *args)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [f"chime-tap: {message}"]


BAD_FILES = sorted(p.name for p in BAD.iterdir())


@pytest.mark.parametrize("name", BAD_FILES)
def test_diff_refuses_what_validate_refuses_in_the_same_words(cli, name):
    validated = cli("validate", BAD / name)
    for args in ((BAD / name, RECORDED), (RECORDED, BAD / name)):
        done = cli("diff", *args)
        assert (done.returncode == 2) == (validated.returncode == 2), (done, validated)
        if done.returncode == 2:
            [line] = done.stderr.strip().splitlines()
            assert line == validated.stderr.strip().splitlines()[0]
            assert "Traceback" not in done.stderr


def _as_flows(path: Path, items: list[dict]) -> Path:
    """``items`` as a mitmproxy flow file, by mitmproxy's own writer, without chime-tap's notes:
    each call's latency is only in its timestamps."""
    from mitmproxy import http
    from mitmproxy import io as mitm_io
    from mitmproxy.test import tflow

    start = 1_700_000_000.0
    with open(path, "wb") as f:
        writer = mitm_io.FlowWriter(f)
        for n, item in enumerate(items):
            req, resp = item["request"], item["response"]
            request = http.Request.make(
                req["method"],
                req["uri"],
                (req["body"] or "").encode(),
                [(k.encode(), v.encode()) for k, vs in req["headers"].items() for v in vs],
            )
            response = http.Response.make(
                resp["status"]["code"],
                resp["body"]["string"].encode(),
                [(k.encode(), v.encode()) for k, vs in resp["headers"].items() for v in vs],
            )
            request.timestamp_start = start + n
            response.timestamp_end = start + n + item["chime_tap"]["duration_ms"] / 1000
            writer.add(tflow.tflow(req=request, resp=response))
    return path


def test_a_flow_file_of_the_same_calls_is_equivalent_on_either_side(tmp_path, cli):
    """Flow files are read with the report's reader, their latency from the flows' timestamps."""
    flows = _as_flows(tmp_path / "recorded.mitm", interactions())
    for args in ((RECORDED, flows), (flows, RECORDED)):
        done = cli("diff", *args, "--format", "json")
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert {op["operation"]: op["paired"] for op in result["operations"]} == CALLS
        for op in result["operations"]:  # timed calls on both sides: the test ran
            assert op["latency"]["p_value"] is not None and not op["latency"]["changed"], op
    # ... and a flow file finds what a cassette finds
    items = interactions()
    status_changed(items)
    done = cli("diff", RECORDED, _as_flows(tmp_path / "changed.mitm", items), "--format", "json")
    assert done.returncode == 1
    got = {
        (f["kind"], f["what"])
        for op in json.loads(done.stdout)["operations"]
        for f in op["findings"]
    }
    assert got == {(kind, what) for _, kind, what, *_ in EXPECTED[status_changed]}


# --- the latency test --------------------------------------------------------------------------


def _textbook_mann_whitney(a: list[float], b: list[float]) -> float:
    """The two-sided p-value as a statistics textbook computes it, written out independently:
    ranks by counting, the tie-corrected variance, the continuity correction, the normal tail."""
    from statistics import NormalDist

    both = a + b
    rank = {v: sum(x < v for x in both) + (sum(x == v for x in both) + 1) / 2 for v in set(both)}
    n1, n2, n = len(a), len(b), len(a) + len(b)
    u = sum(rank[v] for v in a) - n1 * (n1 + 1) / 2
    ties = sum(both.count(v) ** 3 - both.count(v) for v in set(both))
    sigma = (n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))) ** 0.5
    z = (abs(u - n1 * n2 / 2) - 0.5) / sigma
    return 2 * (1 - NormalDist().cdf(z))


@pytest.mark.parametrize(
    "a, b",
    [
        ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),
        ([1.0, 1.0, 2.0, 5.0], [2.0, 3.0, 3.0, 3.0, 9.0]),
        ([20.5, 21.0, 19.8, 22.4, 20.1, 35.0], [21.2, 20.9, 23.3, 19.9, 22.0, 21.7, 20.0]),
    ],
)
def test_mann_whitney_matches_the_textbook(a, b):
    from chime_tap.latency_change import mann_whitney_u

    u, p = mann_whitney_u(a, b)
    assert p == pytest.approx(_textbook_mann_whitney(a, b), rel=1e-9)
    assert u == sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    assert mann_whitney_u(a, b)[1] == pytest.approx(mann_whitney_u(b, a)[1])


def test_a_latency_change_is_flagged_only_when_it_holds():
    from chime_tap.latency_change import compare_latency

    base = [20.0 + (i * 7 % 11) / 2 for i in range(30)]  # 20 to 25 ms, spread out
    tripled = compare_latency(base, [3 * v for v in base])
    assert tripled.changed and tripled.verdict.startswith("slower: p50 x3.00")
    assert tripled.p_value < 1e-6 and tripled.ratio_p50 == pytest.approx(3.0)
    faster = compare_latency(base, [v / 2 for v in base])
    assert faster.changed and faster.verdict.startswith("faster")
    # the same calls in another order: no change
    same = compare_latency(base, list(reversed(base)))
    assert not same.changed and same.p_value == pytest.approx(1.0, abs=0.05)
    # two slow outliers move p95, not the ranks: no change
    outliers = compare_latency(base, [*base[:-2], 500.0, 800.0])
    assert not outliers.changed and outliers.ratio_p95 > 3 and outliers.p_value > 0.01
    # significant, but 10 % slower is less than the ratio asked for
    slightly = compare_latency(base, [v * 1.1 for v in base])
    assert slightly.p_value < 0.01 and not slightly.changed
    assert slightly.verdict.startswith("no change that matters")
    # tripled, but too few calls to tell
    few = compare_latency(base[:9], [3 * v for v in base[:9]])
    assert not few.changed and few.p_value is None and few.verdict.startswith("not tested")
    # a shift under a millisecond is never a change, whatever the ratio
    tiny = compare_latency([0.2] * 15 + [0.3] * 15, [0.6] * 15 + [0.9] * 15)
    assert tiny.p_value < 0.01 and tiny.ratio_p50 >= 1.5 and not tiny.changed
