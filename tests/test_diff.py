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


def capability_dropped(items: list[dict]) -> None:
    doc = body(items[5])  # Get ps-1: ["Voice", "SMS"] -> ["SMS"]
    doc["ProxySession"]["Capabilities"] = ["SMS"]
    set_body(items[5], doc)


def not_found(items: list[dict]) -> None:
    """Get ps-2 answered as the service answers a session it does not know (as item 14): its
    status, error type and error message differ (three differences in one call)."""
    items[6]["response"] = copy.deepcopy(items[14]["response"])
    items[6]["response"]["body"]["string"] = '{"Code":"NotFound","Message":"gone"}'


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
    # Voice removed; nothing became SMS (by position, "Voice" -> "SMS" and "SMS" -> missing)
    capability_dropped: {
        (
            "GetProxySession",
            "member removed",
            "/ProxySession/Capabilities/*",
            1,
            '"Voice"',
            "(missing)",
        ),
    },
    # Capabilities is a set: what is only in A is removed, what is only in B added.
    new_violation: {
        (
            "UpdateProxySession",
            "member removed",
            "/ProxySession/Capabilities/*",
            1,
            '"SMS"',
            "(missing)",
        ),
        (
            "UpdateProxySession",
            "member added",
            "/ProxySession/Capabilities/*",
            1,
            "(missing)",
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


# Known by construction (each mutation above changes the one call its comment names):
COUNTED = (status_changed, member_removed, numbers_changed, not_found, new_violation,
           call_dropped, latency_tripled)  # fmt: skip
# operation: (differences in calls, calls that differ, latency changes)
COUNTS = {
    "GetProxySession": (6, 3, 1),  # ps-1: Name, numbers; ps-2: status, type, message; ps-7 gone
    "UpdateProxySession": (4, 2, 0),  # ps-1: SMS removed, Fax added, a violation; ps-6 twice
    "DeleteProxySession": (2, 1, 0),  # ps-4: status and its violation
}


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_the_count_of_differences_says_in_how_many_calls(tmp_path, cli, fmt):
    """A call that differs in three things is three differences and one call; a latency change
    is a difference of no call. Every format says both counts, for each operation and all."""
    items = interactions()
    for mutation in COUNTED:
        mutation(items)
    call_added(items)  # at 27, before the call dropped at 30
    b = write(tmp_path / "b.yaml", items)
    done = cli("diff", RECORDED, b, "--format", fmt)
    assert done.returncode == 1, done.stderr
    if fmt == "json":
        result = json.loads(done.stdout)
        got = {
            op["operation"]: (op["differences_in_calls"], op["calls_differing"],
                              op["latency_changes"])
            for op in result["operations"]
            if op["differences"]
        }  # fmt: skip
        assert got == COUNTS
        assert [result[k] for k in ("differences", "differences_in_calls", "calls_differing",
                                    "latency_changes")] == [13, 12, 6, 1]  # fmt: skip
        return
    out = done.stdout
    headings = {
        "GetProxySession: 7 difference(s): 6 in 3 call(s), 1 latency change(s)",
        "UpdateProxySession: 4 difference(s) in 2 call(s)",
        "DeleteProxySession: 2 difference(s) in 1 call(s)",
    }
    total = "13 difference(s): 12 in 6 call(s), 1 latency change(s)"
    if fmt == "html":
        assert {h for h in re.findall(r"<h2>(.*?)</h2>", out) if "difference" in h} == headings
        assert f"<p><strong>{total}</strong></p>" in out
        return
    prefix = "## " if fmt == "markdown" else ""
    assert {line[len(prefix):] for line in out.splitlines() if line.startswith(prefix)
            and line[len(prefix):].split(":")[0] in COUNTS} == headings  # fmt: skip
    assert out.endswith(f"\n\n{total}\n")


def test_a_list_of_scalars_compares_as_a_set_and_spy_mode_says_the_same(tmp_path):
    """Capabilities: order alone is no difference; an item on one side only is removed or
    added with its value, as many times as the other side lacks it. Spy mode, comparing the
    same calls live against the same baseline, finds the same differences."""
    from chime_tap.api.hosts import DEFAULT_HOSTS
    from chime_tap.cassettes.format import Interaction
    from chime_tap.spy import Spy

    items = interactions()
    for n, capabilities in ((5, ["SMS"]), (6, ["SMS", "Voice"]), (20, ["SMS", "SMS"])):
        doc = body(items[n])  # each ["Voice", "SMS"] in the recording
        doc["ProxySession"]["Capabilities"] = capabilities
        set_body(items[n], doc)
    b = write(tmp_path / "b.yaml", items)
    result = diff_recordings(read_recordings(RECORDED)[0], read_recordings(b)[0])
    [get] = [op for op in result.operations if op.findings]
    assert get.operation == "GetProxySession"
    got = [(f.kind, f.what, f.count, [(e.a, e.value_a, e.value_b) for e in f.examples])
           for f in get.findings]  # fmt: skip
    pointer = "/ProxySession/Capabilities/*"
    assert got == [
        ("member removed", pointer, 2,
         [(f"{RECORDED} #5", '"Voice"', "(missing)"), (f"{RECORDED} #20", '"Voice"', "(missing)")]),
        ("member added", pointer, 1, [(f"{RECORDED} #20", "(missing)", '"SMS"')]),
    ]  # fmt: skip
    assert (get.paired_differing, get.calls_differing) == (2, 2)  # #6, reordered, is the same

    spy = Spy([str(RECORDED)], DEFAULT_HOSTS)
    compared = {n: spy.compare(Interaction.from_dict(item, n)) for n, item in enumerate(items)}
    live = {
        n: [(d.kind, d.what, d.value_a, d.value_b) for d in c.differences]
        for n, c in compared.items()
        if c is not None and c.differences  # None: no proxy-session call (the clock)
    }
    assert live == {
        5: [("member removed", pointer, '"Voice"', "(missing)")],
        20: [("member removed", pointer, '"Voice"', "(missing)"),
             ("member added", pointer, "(missing)", '"SMS"')],
    }  # fmt: skip


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
        "member removed",
        "member added",
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
        "updated 1.000 s after CreatedTimestamp",
        "updated 1.200 s after CreatedTimestamp",
    )
    # never updated (UpdatedTimestamp still the creation time) against updated 11 ms after
    # creation is a difference at any tolerance, and the line says so (not "+0.000 s after")
    never = _session_cassette(tmp_path / "c.yaml", 0.0, "2026-03-05T17:30:00.500+00:00")
    soon = _session_cassette(tmp_path / "d.yaml", 0.011, "2026-01-01T10:00:00.000+00:00")
    done = cli("diff", never, soon, "--time-tolerance", "60")
    assert done.returncode == 1
    assert (
        "  member changed /ProxySession/UpdatedTimestamp: 1 call(s)\n"
        f'    A {never} #1 / B {soon} #1  POST {SESSIONS}/ps-1 {{"Capabilities":["SMS"]}}: never '
        "updated (equal to CreatedTimestamp) -> updated 0.011 s after CreatedTimestamp\n"
    ) in done.stdout, done.stdout
    # ... and the settings line says the rule as it is
    assert (
        "timestamps compared as distances from CreatedTimestamp: two differ when one is equal "
        "to it and the other not, one before it and the other after, or the distances more "
        "than 60 s apart"
    ) in done.stdout


@pytest.mark.parametrize(
    "member, seconds, said",
    [
        ("UpdatedTimestamp", 0.0, "never updated (equal to CreatedTimestamp)"),
        ("UpdatedTimestamp", -0.0, "never updated (equal to CreatedTimestamp)"),
        ("UpdatedTimestamp", 0.011, "updated 0.011 s after CreatedTimestamp"),
        ("UpdatedTimestamp", -2.5, "updated 2.500 s before CreatedTimestamp"),
        ("EndedTimestamp", 0.0, "equal to CreatedTimestamp"),
        ("EndedTimestamp", 90.0, "90.000 s after CreatedTimestamp"),
        ("EndedTimestamp", -0.001, "0.001 s before CreatedTimestamp"),
    ],
)
def test_a_timestamp_says_at_before_or_after_creation_then_how_far(member, seconds, said):
    """The three cases the rule tells apart (equal to, before, after the creation), in words."""
    from chime_tap.diff_calls import Delta

    assert str(Delta(seconds, member)) == said


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
    # the files compared are the header's; gone.yaml is said to be on one side only
    one, two = tmp_path / "a" / "sub" / "one.yaml", tmp_path / "a" / "two.json"
    assert result["baseline"] == [str(one), str(two)]
    assert result["candidate"] == [str(tmp_path / "b" / p) for p in ("sub/one.yaml", "two.json")]
    lines = cli("diff", tmp_path / "a", tmp_path / "b").stdout.splitlines()
    assert lines[1:3] == [
        f"  baseline (A): {one}, {two}; only in A, not compared: {tmp_path / 'a' / 'gone.yaml'}",
        f"  candidate (B): {tmp_path / 'b' / 'sub' / 'one.yaml'}, {tmp_path / 'b' / 'two.json'}",
    ]
    assert lines[-1] == "1 difference(s): 1 file(s) on one side only"
    # a directory against a file: each side is one recording
    done = cli("diff", tmp_path / "b", RECORDED)
    assert done.returncode == 0, done.stdout
    # a call that differs too, and no file in both directories
    status_changed(items)
    (tmp_path / "b" / "sub" / "one.yaml").unlink()  # the writer appends to a cassette
    write(tmp_path / "b" / "sub" / "one.yaml", items[:24])
    done = cli("diff", tmp_path / "a", tmp_path / "b")
    assert done.stdout.splitlines()[-1] == (
        "3 difference(s): 2 in 1 call(s), 1 file(s) on one side only"
    )
    (tmp_path / "c").mkdir()
    write(tmp_path / "c" / "other.yaml", items[:24])
    lines = cli("diff", tmp_path / "a" / "sub", tmp_path / "c").stdout.splitlines()
    assert lines[1:3] == [
        f"  baseline (A): no file in both directories; only in A, not compared: {one}",
        "  candidate (B): no file in both directories; only in B, not compared: "
        f"{tmp_path / 'c' / 'other.yaml'}",
    ]
    assert lines[-1] == "2 difference(s): 2 file(s) on one side only"


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
        assert (result["differences"], result["calls_differing"]) == (3, 2)
        return
    # Delete ps-4: its status and the violation that brings (2); Get ps-1: Name removed (1)
    verdict = "3 difference(s) in 2 call(s)"
    for text in ("204 -&gt; 200", "/ProxySession/Name", f"<strong>{verdict}</strong>") if fmt == "html" else (
        "204 -> 200", "/ProxySession/Name", f"\n\n{verdict}\n"
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
    assert done.stderr.strip() == f"chime-tap: {fmt} diff written to {out_file}: {verdict}"


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
        # report's formats that diff has not: refused, not text under their name
        (
            ["--out", "x.parquet"],
            "--out x.parquet: the extension .parquet means parquet, which "
            "diff does not write (it writes text, markdown, html, json: .txt, .md, .html or .json)",
        ),
        (
            ["--out", "x.CSV", "--format", "text"],
            "--out x.CSV: the extension .csv means csv, which diff does not write",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(cli, args, message):
    done = cli("diff", RECORDED, RECORDED, *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_extension_chime_tap_does_not_know_is_written_as_the_line_says(tmp_path, cli):
    """As report does: --format's, else text, and the line names the format."""
    for args, fmt in (([], "text"), (["--format", "json"], "json")):
        out = tmp_path / f"diff-{fmt}.xlsx"
        done = cli("diff", RECORDED, RECORDED, "--out", out, *args)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == (
            f"chime-tap: {fmt} diff written to {out}: equivalent: no differences"
        )
        assert out.read_text() == cli("diff", RECORDED, RECORDED, *args).stdout


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
