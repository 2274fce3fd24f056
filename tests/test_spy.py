"""Spy mode in-process: the core (chime_tap.spy) on recorded interactions, the Recorder addon the
mitmproxy way (taddons, tflow: mark, comment, metadata), and the report's section."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow

from chime_tap.addons.record import Recorder
from chime_tap.analysis import load_frame
from chime_tap.analysis.rendering import render
from chime_tap.analysis.summaries import baseline_differences, summarize
from chime_tap.cassettes.format import META_KEY, Interaction
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.recording import DIFFERENCE_MARK, VIOLATION_MARK
from chime_tap.spy import CLOSEST, EXACT, NO_COUNTERPART, NONE, REQUEST_DIFFERS, Spy

HOST = "127.0.0.1:9000"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
BASE = f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions"
A, B = "+12065550100", "+14015550101"


def session(sid: str, created: str, updated: str, capabilities: list[str]) -> dict:
    return {
        "ProxySession": {
            "VoiceConnectorId": CONNECTOR,
            "ProxySessionId": sid,
            "Status": "Open",
            "Capabilities": capabilities,
            "ExpiryMinutes": 60,
            "CreatedTimestamp": created,
            "UpdatedTimestamp": updated,
            "Participants": [{"PhoneNumber": A, "ProxyPhoneNumber": "+12065550199"}],
        }
    }


def item(method: str, uri: str, body: dict | None, status: int, answer: dict | None) -> dict:
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": json.dumps(body) if body is not None else None,
            "headers": {"Content-Type": ["application/json"]},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"Content-Type": ["application/json"], "x-amzn-RequestId": [f"r{status}"]},
            "body": {"string": json.dumps(answer) if answer is not None else ""},
        },
    }


def recording(sid: str, day: str, *, token: str, capabilities: list[str]) -> list[dict]:
    """Create a session, Get it, List (issuing a NextToken), List the next page, Delete it."""
    made = session(sid, f"{day}T10:00:00.000Z", f"{day}T10:00:00.000Z", capabilities)
    create = {"ParticipantPhoneNumbers": [A, B], "Capabilities": capabilities}
    return [
        item("POST", BASE, create, 201, made),
        item("GET", f"{BASE}/{sid}", None, 200, made),
        item("GET", f"{BASE}?max-results=1", None, 200,
             {"ProxySessions": [made["ProxySession"]], "NextToken": token}),
        item("GET", f"{BASE}?max-results=1&next-token={token}", None, 200, {"ProxySessions": []}),
        item("DELETE", f"{BASE}/{sid}", None, 204, None),
    ]  # fmt: skip


def cassette(path: Path, items: list[dict]) -> Path:
    with CassetteWriter(path) as w:
        for i in items:
            w.append(copy.deepcopy(i))
    return path


def views(items: list[dict]) -> list[Interaction]:
    return [Interaction.from_dict(i, n) for n, i in enumerate(items)]


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return cassette(
        tmp_path / "base.yaml",
        recording("s-base", "2026-01-01", token="tok-base", capabilities=["Voice"]),
    )


def test_the_same_workload_with_other_ids_tokens_and_dates_is_the_same(baseline):
    spy = Spy([str(baseline)], hosts_of())
    live = recording("s-live", "2026-06-30", token="tok-live", capabilities=["Voice"])
    found = [spy.compare(v) for v in views(live)]
    assert [(c.baseline, c.match, c.differences) for c in found] == [
        (f"base.yaml #{n}", EXACT, []) for n in range(5)
    ]
    # the live session and token were put back to the baseline's to find their counterparts
    assert spy.to_baseline == {"s-live": "s-base", "tok-live": "tok-base"}
    assert (spy.compared, spy.with_differences, spy.unmatched) == (5, 0, 0)


def test_a_changed_answer_a_changed_request_and_an_extra_call(baseline):
    spy = Spy([str(baseline)], hosts_of())
    live = recording("s-live", "2026-06-30", token="tok-live", capabilities=["Voice"])
    live[1]["response"]["status"]["code"] = 404  # Get: the service lost the session
    live[1]["response"]["headers"]["x-amzn-ErrorType"] = ["NotFoundException"]
    live[1]["response"]["body"]["string"] = json.dumps({"Code": "NotFound", "Message": "gone"})
    live[0]["request"]["body"] = json.dumps(  # Create: another capability asked for
        {"ParticipantPhoneNumbers": [A, B], "Capabilities": ["SMS"]}
    )
    live.append(copy.deepcopy(live[4]))  # Delete sent twice
    found = [spy.compare(v) for v in views(live)]
    create, get, _, _, _, again = found
    assert (create.baseline, create.match) == ("base.yaml #0", CLOSEST)
    assert [(d.kind, d.what) for d in create.differences] == [
        (REQUEST_DIFFERS, 'body differs at /Capabilities/0: this request "SMS", recorded "Voice"')
    ]
    # 404 is a documented answer of GetProxySession: no violation, only what it says
    assert [(d.kind, d.what, d.value_a, d.value_b) for d in get.differences] == [
        ("status", "200 -> 404", "200", "404"),
        ("error type", "none -> NotFoundException", "null", '"NotFoundException"'),
        ("error message", 'null -> "gone"', "null", '"gone"'),
    ]
    assert (again.baseline, again.match) == (None, NONE)
    assert [(d.kind, d.what) for d in again.differences] == [
        (NO_COUNTERPART, "all 1 recorded answer(s) to this request compared already")
    ]
    assert (spy.compared, spy.with_differences, spy.unmatched) == (6, 3, 1)
    assert again.summary() == (
        "no recorded counterpart in the baseline (all 1 recorded answer(s) to this request "
        "compared already)"
    )


def test_timestamps_compare_as_distances_from_creation(baseline):
    spy = Spy([str(baseline)], hosts_of(), tolerance=5.0)
    live = recording("s-live", "2026-06-30", token="tok-live", capabilities=["Voice"])
    made = json.loads(live[1]["response"]["body"]["string"])
    made["ProxySession"]["UpdatedTimestamp"] = "2026-06-30T10:00:09.500Z"  # 9.5 s after creation
    live[1]["response"]["body"]["string"] = json.dumps(made)
    found = [spy.compare(v) for v in views(live)]
    assert [(d.kind, d.what, d.value_a, d.value_b) for d in found[1].differences] == [
        (
            "member changed",
            "/ProxySession/UpdatedTimestamp",
            "never updated (equal to CreatedTimestamp)",
            "updated 9.500 s after CreatedTimestamp",
        )
    ]


def test_a_call_of_an_operation_the_baseline_never_made_has_no_counterpart(tmp_path):
    base = cassette(tmp_path / "only-create.yaml", recording("s", "2026-01-01", token="t",
                                                           capabilities=["Voice"])[:1])  # fmt: skip
    spy = Spy([str(base)], hosts_of())
    live = recording("s2", "2026-01-02", token="t2", capabilities=["Voice"])
    assert spy.compare(views(live)[0]).match == EXACT
    get = spy.compare(views(live)[1])
    assert (get.baseline, get.match, [d.kind for d in get.differences]) == (
        None,
        NONE,
        [NO_COUNTERPART],
    )
    other = Interaction.from_dict(item("GET", "http://example.com/x", None, 200, {}), 0)
    assert spy.compare(other) is None  # not a proxy-session call: nothing to compare


def hosts_of():
    from chime_tap.api.hosts import HostPolicy

    return HostPolicy([HOST])


# --- the Recorder addon: mark, comment, metadata, log line ---------------------------------------


def flow_of(recorded: dict) -> http.HTTPFlow:
    req = recorded["request"]
    f = tflow.tflow()
    f.request = http.Request.make(
        req["method"], req["uri"], (req["body"] or "").encode(), {"Host": HOST}
    )
    resp = recorded["response"]
    f.response = http.Response.make(
        resp["status"]["code"],
        resp["body"]["string"].encode(),
        {k: v[0] for k, v in resp["headers"].items()},
    )
    return f


def run(addon: Recorder, f: http.HTTPFlow) -> None:
    """A server's answer, as mitmproxy hands it to the recorder's hooks."""
    body = f.response.raw_content
    f.response.raw_content = None
    addon.responseheaders(f)
    f.response.raw_content = body
    addon.response(f)


def test_the_recorder_marks_comments_and_keeps_the_differences(tmp_path, baseline, caplog):
    caplog.set_level(logging.INFO)
    live = recording("s-live", "2026-06-30", token="tok-live", capabilities=["Voice"])
    doc = json.loads(live[1]["response"]["body"]["string"])
    del doc["ProxySession"]["ExpiryMinutes"]  # the Get's answer lost a member
    live[1]["response"]["body"]["string"] = json.dumps(doc)
    doc = json.loads(live[3]["response"]["body"]["string"])
    doc["ProxySessions"] = [{"Status": "Bogus"}]  # the second page: an item that violates
    live[3]["response"]["body"]["string"] = json.dumps(doc)
    addon = Recorder()
    flows = [flow_of(i) for i in live]
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            chime_hosts=[HOST],
            chime_cassette=str(tmp_path / "live.yaml"),
            chime_compare_to=str(baseline),
        )
        for f in flows:
            run(addon, f)
    addon.done()
    create, get, _, page, _ = flows
    assert not create.marked and create.comment.splitlines() == [
        "CreateProxySession",
        "baseline base.yaml #0: no difference",
    ]
    assert get.marked == DIFFERENCE_MARK
    assert get.comment.splitlines() == [
        "GetProxySession",
        "baseline base.yaml #1: 1 difference(s)",
        "~ member removed /ProxySession/ExpiryMinutes: 60 -> (missing)",
    ]
    assert page.marked == VIOLATION_MARK  # a violation outranks a difference
    assert "~ violation appeared" in page.comment
    meta = get.metadata[META_KEY]
    assert meta["baseline"] == {"interaction": "base.yaml #1", "match": "exact"}
    assert meta["differences"] == [
        {
            "kind": "member removed",
            "what": "/ProxySession/ExpiryMinutes",
            "baseline": "60",
            "live": "(missing)",
        }
    ]
    written = load_cassette(tmp_path / "live.yaml")["interactions"]
    assert [i[META_KEY]["differences"] for i in written][1] == meta["differences"]
    assert any(
        "GetProxySession" in r.message
        and "1 difference(s) from baseline base.yaml #1: member removed /ProxySession/ExpiryMinutes"
        in r.message
        and r.levelname == "WARNING"
        for r in caplog.records
    )
    assert any(
        r.message == "spy: 5 call(s) compared with baseline base.yaml: 2 with differences "
        "(0 without a recorded counterpart); 0 baseline call(s) no live call was compared with"
        for r in caplog.records
    )

    # --- the report's section, from that cassette: counted by operation, kind and what ---
    frame = load_frame([tmp_path / "live.yaml"])
    assert frame["differences"].notna().sum() == 5
    section = baseline_differences(frame)
    assert (section["compared"], section["with_differences"]) == (5, 2)
    rows = section["differences"].to_dict("records")
    assert {(r["operation"], r["kind"], r["what"], r["count"]) for r in rows} == {
        ("GetProxySession", "member removed", "/ProxySession/ExpiryMinutes", 1),
        ("ListProxySessions", "member added", "/ProxySessions/*", 1),
        (
            "ListProxySessions",
            "violation appeared",
            'response body /ProxySessions/0/Status: "Bogus" is not one of "Open", "InProgress" '
            "or 2 other candidates",
            1,
        ),
    }
    summary = summarize(frame)
    for fmt in ("text", "markdown", "html"):
        out = render(summary, fmt)
        assert "Differences from baseline" in out
        assert "2 of 5 compared call(s) differ from the baseline" in out
    assert json.loads(render(summary, "json"))["differences_from_baseline"]["compared"] == 5


def test_the_option_refuses_a_baseline_it_cannot_read(tmp_path):
    addon = Recorder()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match=r"chime_compare_to: .*nope\.yaml"):
            tctx.configure(addon, chime_compare_to=str(tmp_path / "nope.yaml"))
        tctx.configure(addon, chime_compare_to="")
        assert addon.spy is None
