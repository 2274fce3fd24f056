"""The line each proxy logs per call, and the paragraph each prints at exit.

The lines and summaries are pure functions of chime_tap.calllog (and recording.log_line), tested
first; then each addon in-process over a scripted sequence whose true outcome is known, with
every number of its summary checked against that script; then the real commands print them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from chime_tap.addons.record import Recorder
from chime_tap.addons.replay import ReplayServer
from chime_tap.addons.simulate import Simulator
from chime_tap.api.hosts import HostPolicy
from chime_tap.api.validation import Violation
from chime_tap.calllog import (
    CALLS,
    LINE_LIMIT,
    call_line,
    exhausted_detail,
    forwarded_detail,
    hit_detail,
    injected_detail,
    one_line,
    record_summary,
    replay_summary,
    simulate_summary,
    status_classes,
    violations_text,
    what_call,
)
from chime_tap.cassettes.format import META_KEY
from chime_tap.recording import describe, log_line
from chime_tap.simulator.faults import FaultInjector, parse_latency
from support.procs import CONNECTOR, chime_tap, voice_client
from support.upstream import ScriptedUpstream

UPSTREAM = "127.0.0.1:9000"
VOICE_HOST = "voice-chime.us-east-1.amazonaws.com"
SESSIONS = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
A, B = "+12065550100", "+14015550101"
MS = r"\d+\.\d ms"  # the time a call took: any, it is not what these tests check


def route_of(method: str, path: str):
    return describe(method, "127.0.0.1", path, 9000, HostPolicy([UPSTREAM])).route


V1 = Violation("CreateProxySession", "request body", "/ParticipantPhoneNumbers", "too short")
V2 = Violation("CreateProxySession", "request body", "/Capabilities/0", "'Fax' is not one of")
V3 = Violation("CreateProxySession", "status", "", "answers 201 on success, got 200")


# --- the lines, as pure functions ---------------------------------------------------------------


def test_without_violations_the_line_is_what_it_was() -> None:
    call = describe("GET", "127.0.0.1", f"{SESSIONS}/s1", 9000, HostPolicy([UPSTREAM]))
    line = log_line(call, "GET", f"{SESSIONS}/s1", 200, 1.25, [], None)
    assert (
        line == f"GetProxySession connector={CONNECTOR} session=s1 -> 200 in 1.2 ms, 0 violation(s)"
    )


def test_the_first_violation_is_on_the_line_the_others_under_it() -> None:
    call = describe("POST", "127.0.0.1", SESSIONS, 9000, HostPolicy([UPSTREAM]))
    line = log_line(call, "POST", SESSIONS, 400, 1.3, [V1, V2, V3], None)
    assert line.splitlines() == [
        f"CreateProxySession connector={CONNECTOR} -> 400 in 1.3 ms, 3 violation(s): "
        "request body /ParticipantPhoneNumbers: too short",
        "    request body /Capabilities/0: 'Fax' is not one of",
        "    status: answers 201 on success, got 200",
    ]


def test_at_most_ten_violations_are_listed_and_the_count_is_all_of_them() -> None:
    many = [Violation(None, "request body", f"/x/{i}", "bad") for i in range(13)]
    lines = violations_text(many).splitlines()
    assert lines[0] == "13 violation(s): request body /x/0: bad"
    assert lines[1:10] == [f"    request body /x/{i}: bad" for i in range(1, 10)]
    assert lines[10:] == ["    ... and 3 more"]


def test_a_violation_is_clipped_to_one_line_keeping_both_ends() -> None:
    value = "x" * 5000
    v = Violation(None, "request body", "/Name", f"'{value}'\nis too long")
    (line,) = violations_text([v]).splitlines()
    assert len(line) <= len("1 violation(s): ") + LINE_LIMIT
    assert line.startswith("1 violation(s): request body /Name: 'xxx")
    assert line.endswith("xxx' is too long")  # the verdict, at the end, is kept
    assert " ... " in line
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("short") == "short"


def test_a_failed_call_names_its_upstream() -> None:
    call = describe("GET", "127.0.0.1", SESSIONS, 9000, HostPolicy([UPSTREAM]))
    line = log_line(
        call, "GET", SESSIONS, 0, 2.0, [], "[Errno -2] Name or service not known", UPSTREAM
    )
    assert line == (
        f"ListProxySessions connector={CONNECTOR} -> failed ([Errno -2] Name or service not known; "
        f"upstream {UPSTREAM}) in 2.0 ms, 0 violation(s)"
    )


def test_replay_and_simulator_details() -> None:
    what = what_call(route_of("GET", f"{SESSIONS}/s1"), "GET", f"{SESSIONS}/s1")
    assert what == f"GetProxySession connector={CONNECTOR} session=s1"
    assert what_call(None, "GET", "/index.html?x=1", "example.com") == (
        "not a proxy-session call: GET example.com/index.html"
    )
    assert call_line(what, "200", 0.04, hit_detail("c.yaml #3", False)) == (
        f"{what} -> 200 in 0.0 ms, hit c.yaml #3"
    )
    assert (
        hit_detail("c.yaml #3", True)
        == "hit c.yaml #3 (repeated: every recorded answer was played)"
    )
    assert exhausted_detail(2) == "exhausted (all 2 recorded answer(s) were played)"
    assert forwarded_detail("new.yaml #0") == "miss, forwarded upstream, recorded as new.yaml #0"
    assert forwarded_detail("new.yaml #1", "refused") == (
        "miss, forwarded upstream, recorded with no response as new.yaml #1"
    )
    assert forwarded_detail(None) == "miss, forwarded upstream, not recorded"
    assert injected_detail("ThrottledClientException", 0) == "injected ThrottledClientException"
    assert injected_detail(None, 12.34) == "injected latency 12.3 ms"
    assert injected_detail(None, 0) == ""
    assert call_line(what, "201", 3.0) == f"{what} -> 201 in 3.0 ms"


def test_status_classes_and_summaries() -> None:
    statuses = {0: 1, 599: 2, 404: 1, 200: 3, 201: 1, 503: 1}
    assert list(status_classes(statuses).items()) == [
        ("2xx", 4),
        ("4xx", 1),
        ("5xx", 1),
        ("599 chime-tap", 2),
        ("no response", 1),
    ]
    assert record_summary(
        {200: 2, 0: 1}, with_violations=1, recorded=3, lost=0, cassette="/c.yaml", held=7
    ) == (
        "chime-tap record: 3 call(s) (2 2xx, 1 no response); 1 with violations; "
        "3 interaction(s) recorded to /c.yaml (it holds 7); 0 answered but not recorded (could not be written)."
    )
    assert record_summary(
        {201: 1},
        with_violations=0,
        recorded=4,
        lost=0,
        cassette="/c.yaml",
        held=4,
        controls=2,
        others=1,
    ) == (
        "chime-tap record: 1 call(s) (1 2xx); 0 with violations; 4 interaction(s) recorded to "
        "/c.yaml (it holds 4), 2 of them simulator control call(s), 1 of them other traffic "
        "(--record-all); 0 answered but not recorded (could not be written)."
    )
    assert record_summary({}, with_violations=0, recorded=0, lost=0, cassette=None, held=0) == (
        "chime-tap record: 0 call(s); 0 with violations; no cassette, nothing recorded; "
        "0 answered but not recorded (could not be written)."
    )
    assert replay_summary(
        {200: 1, 0: 1},
        hits=1,
        misses=1,
        exhausted=0,
        forwarded=1,
        forward_failed=1,
        loaded=4,
        never_played=3,
    ) == (
        "chime-tap replay: 2 call(s) (1 2xx, 1 no response); 1 hit(s), 1 miss(es) (1 forwarded "
        "upstream, 1 of them got no response), 0 exhausted; 3 of 4 recorded interaction(s) never played."
    )
    assert simulate_summary({201: 2, 429: 1}, injected={"ThrottledClientException": 1}) == (
        "chime-tap simulate: 3 call(s) (2 2xx, 1 4xx); 1 fault(s) injected (1 ThrottledClientException)."
    )


# --- the recorder, over a scripted sequence ----------------------------------------------------


def make_flow(method: str, path: str, body: Any = None, host: str = "127.0.0.1", port: int = 9000):
    f = tflow.tflow()
    f.response = None
    req = f.request
    req.method, req.scheme, req.host, req.port, req.path = method, "http", host, port, path
    req.headers.clear()
    req.headers["Host"] = f"{host}:{port}" if port not in (80, 443) else host
    req.content = b"" if body is None else json.dumps(body).encode()
    return f


def answer(f: http.HTTPFlow, status: int, doc: Any = None, headers: dict | None = None) -> None:
    body = b"" if doc is None else json.dumps(doc).encode()
    f.response = http.Response.make(
        status, body, {"Content-Type": "application/json", **(headers or {})}
    )


def session(sid: str) -> dict[str, Any]:
    return {
        "VoiceConnectorId": CONNECTOR,
        "ProxySessionId": sid,
        "Status": "Open",
        "Capabilities": ["Voice"],
        "ExpiryMinutes": 60,
        "CreatedTimestamp": "2020-04-15T16:10:10.288Z",
        "Participants": [{"PhoneNumber": A, "ProxyPhoneNumber": "+12065550199"}],
    }


def error_doc(status: int) -> tuple[dict, dict]:
    kind = {400: ("BadRequestException", "BadRequest"), 404: ("NotFoundException", "NotFound")}
    error_type, code = kind[status]
    return {"Code": code, "Message": "scripted"}, {"x-amzn-ErrorType": error_type}


def served(addon: Recorder, f: http.HTTPFlow, status: int, doc: Any = None, headers=None):
    """A server's response, through the hooks in mitmproxy's order."""
    answer(f, status, doc, headers)
    body = f.response.raw_content
    f.response.raw_content = None  # responseheaders sees a server's response without its body
    addon.responseheaders(f)
    f.response.raw_content = body
    addon.response(f)


def per_call(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CALLS]


def summaries(caplog: pytest.LogCaptureFixture, label: str) -> list[str]:
    found = (r.getMessage() for r in caplog.records)
    return [m for m in found if re.match(rf"chime-tap {label}: \d+ call\(s\)", m)]


def test_recorder_lines_and_summary_over_a_scripted_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    addon = Recorder()
    cassette = tmp_path / "c.yaml"
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_cassette=str(cassette), chime_hosts=[UPSTREAM])
        # 1. a valid Get: 200
        served(addon, make_flow("GET", f"{SESSIONS}/s1"), 200, {"ProxySession": session("s1")})
        # 2. an invalid Create (one number, an unknown capability), answered with the 400
        bad = {"ParticipantPhoneNumbers": [A], "Capabilities": ["Fax"]}
        create = make_flow("POST", SESSIONS, bad)
        served(addon, create, 400, *error_doc(400))
        # 3. a Get whose upstream cannot be reached: no response
        failed = make_flow("GET", f"{SESSIONS}/s2")
        failed.error = tflow.terr("[Errno 111] Connect call failed ('127.0.0.1', 9000)")
        addon.error(failed)
        # 4. a Delete: 204; 5. a Get of the deleted session: 404
        served(addon, make_flow("DELETE", f"{SESSIONS}/s1"), 204)
        served(addon, make_flow("GET", f"{SESSIONS}/s1"), 404, *error_doc(404))
        # 6. a List answered 200 that the disk cannot take
        full = OSError(28, "No space left on device")
        monkeypatch.setattr(addon.writer, "append", lambda item: (_ for _ in ()).throw(full))
        served(addon, make_flow("GET", SESSIONS), 200, {"ProxySessions": [], "NextToken": None})
        monkeypatch.undo()
        addon.done()

    lines = per_call(caplog)
    prefix = f"connector={CONNECTOR}"
    expected = [
        rf"GetProxySession {prefix} session=s1 -> 200 in {MS}, 0 violation\(s\)",
        rf"CreateProxySession {prefix} -> 400 in {MS}, 2 violation\(s\): request body /\S+: .*",
        rf"GetProxySession {prefix} session=s2 -> failed \(\[Errno 111\] Connect call failed "
        rf"\('127.0.0.1', 9000\); upstream 127.0.0.1:9000\) in {MS}, 0 violation\(s\)",
        rf"DeleteProxySession {prefix} session=s1 -> 204 in {MS}, 0 violation\(s\)",
        rf"GetProxySession {prefix} session=s1 -> 404 in {MS}, 0 violation\(s\)",
        rf"ListProxySessions {prefix} -> 200 in {MS}, 0 violation\(s\)",
    ]
    assert len(lines) == len(expected)
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line.splitlines()[0]), line
    # The Create's line: the first violation as recorded, the second under it.
    found = create.metadata[META_KEY]["violations"]  # what the cassette keeps, in its order
    assert {v["pointer"] for v in found} == {"/ParticipantPhoneNumbers", "/Capabilities/0"}
    first, second = (f"{v['part']} {v['pointer']}: {v['message']}" for v in found)
    logged = lines[1].splitlines()
    assert logged[0].endswith(f"2 violation(s): {first}")
    assert logged[1:] == [f"    {second}"]

    # The summary: what the script did, counted from the script.
    (summary,) = summaries(caplog, "record")
    assert summary == (
        "chime-tap record: 6 call(s) (3 2xx, 2 4xx, 1 no response); 1 with violations; "
        f"5 interaction(s) recorded to {cassette} (it holds 5); 1 answered but not recorded (could not be written)."
    )
    assert len(_cassette(cassette)) == 5


def _cassette(path: Path) -> list[dict]:
    from chime_tap.cassettes.reader import load_cassette

    return load_cassette(path)["interactions"]


# --- replay, over a scripted sequence ----------------------------------------------------------


def recorded(method: str, path: str, status: int, doc: Any = None) -> dict[str, Any]:
    return {
        "request": {
            "method": method,
            "uri": f"https://{VOICE_HOST}{path}",
            "body": None,
            "headers": {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"Content-Type": ["application/json"]} if doc is not None else {},
            "body": {"string": json.dumps(doc) if doc is not None else ""},
        },
    }


def replay_flow(method: str, path: str, host: str = VOICE_HOST, port: int = 443):
    f = make_flow(method, path, host=host, port=port)
    f.request.scheme = "https" if port == 443 else "http"
    return f


def test_replay_lines_and_summary_over_a_scripted_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    s1, s2, s3 = (f"{SESSIONS}/{s}" for s in ("s1", "s2", "s3"))
    cassette = tmp_path / "calls.yaml"
    items = [
        recorded("GET", s1, 200, {"ProxySession": session("s1")}),  # #0
        recorded("GET", s1, 404, {"Code": "NotFound", "Message": "gone"}),  # #1
        recorded("GET", s2, 200, {"ProxySession": session("s2")}),  # #2
        recorded("DELETE", s2, 204),  # #3: never asked for
        recorded("GET", s3, 0),  # #4: a call that got no response, never served
    ]
    cassette.write_text(yaml.safe_dump({"version": 1, "interactions": items}))
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=[str(cassette)], chime_replay_exhausted="fail")
        script = [("GET", s1), ("GET", s1), ("GET", s1), ("GET", f"{SESSIONS}/s9"), ("GET", s2)]
        flows = []
        for method, path in script:
            flows.append(replay_flow(method, path))
            addon.request(flows[-1])
        addon.done()

    assert [f.response.status_code for f in flows] == [200, 404, 599, 599, 200]
    get = f"GetProxySession connector={CONNECTOR} session="
    expected = [
        rf"{get}s1 -> 200 in {MS}, hit calls.yaml #0",
        rf"{get}s1 -> 404 in {MS}, hit calls.yaml #1",
        rf"{get}s1 -> 599 in {MS}, exhausted \(all 2 recorded answer\(s\) were played\)",
        rf"{get}s9 -> 599 in {MS}, miss",
        rf"{get}s2 -> 200 in {MS}, hit calls.yaml #2",
    ]
    lines = per_call(caplog)
    assert len(lines) == len(expected)
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), line
    (summary,) = summaries(caplog, "replay")
    # 5 calls: #0 and #2 (2xx), #1 (4xx), the exhausted Get and the miss (599); of the four
    # answered interactions loaded, only the Delete (#3) was never played.
    assert summary == (
        "chime-tap replay: 5 call(s) (2 2xx, 1 4xx, 2 599 chime-tap); 3 hit(s), 1 miss(es), "
        "1 exhausted; 1 of 4 recorded interaction(s) never played."
    )


def test_replay_forwarded_miss_is_logged_when_upstream_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"version": 1, "interactions": []}))
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            chime_replay_cassettes=[str(base)],
            chime_replay_on_miss="forward",
            chime_replay_record_to=str(tmp_path / "new.yaml"),
            chime_replay_exhausted="repeat",
            chime_hosts=[f"{UPSTREAM}=voice"],
        )
        fresh = make_flow("GET", f"{SESSIONS}/fresh")
        addon.request(fresh)
        assert fresh.response is None  # forwarded: nothing logged until upstream answers
        assert per_call(caplog) == []
        answer(fresh, 200, {"ProxySession": session("fresh")})
        addon.response(fresh)
        again = make_flow("GET", f"{SESSIONS}/fresh")
        addon.request(again)
        addon.done()
    lines = per_call(caplog)
    get = f"GetProxySession connector={CONNECTOR} session=fresh"
    assert re.fullmatch(
        rf"{get} -> 200 in {MS}, miss, forwarded upstream, recorded as new.yaml #0", lines[0]
    )
    assert re.fullmatch(rf"{get} -> 200 in {MS}, hit new.yaml #0", lines[1])
    (summary,) = summaries(caplog, "replay")
    assert summary == (  # what was recorded here is not "never played" from the cassettes loaded
        "chime-tap replay: 2 call(s) (2 2xx); 1 hit(s), 1 miss(es) (1 forwarded upstream), "
        "0 exhausted; 0 of 0 recorded interaction(s) never played."
    )


# --- the simulator, over a seeded run -----------------------------------------------------------


def test_simulator_lines_and_summary_over_a_seeded_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    calls = 12
    # What a run of this seed must inject: an injector built with the same settings says.
    twin = FaultInjector(0.3, 0.3, parse_latency("1"), seed=11)
    fates = [twin.decide() for _ in range(calls)]
    assert any(f.fault for f in fates) and any(not f.fault for f in fates)  # both kinds
    sim = Simulator()
    with taddons.context(sim) as tctx:
        tctx.configure(
            sim,
            chime_sim_throttle_rate="0.3",
            chime_sim_error_rate="0.3",
            chime_sim_latency_ms="1",
            chime_sim_seed=11,
        )
        flows = []
        for _ in range(calls):
            f = make_flow("POST", SESSIONS, {"ParticipantPhoneNumbers": [A, B], "Capabilities": ["Voice"]}, host=VOICE_HOST, port=443)  # fmt: skip
            asyncio.run(sim.request(f))
            flows.append(f)
        other = make_flow("GET", "/", host="example.com", port=80)  # offline: 502, no fault drawn
        asyncio.run(sim.request(other))
        sim.done()

    expected_status = [f.fault.status if f.fault else 201 for f in fates]
    assert [f.response.status_code for f in flows] == expected_status
    lines = per_call(caplog)
    assert len(lines) == calls + 1
    for line, fate in zip(lines, fates, strict=False):
        injected = f"injected {fate.fault.error_type}, " if fate.fault else ""
        status = fate.fault.status if fate.fault else 201
        assert re.fullmatch(
            rf"CreateProxySession connector={CONNECTOR} -> {status} in {MS}, "
            rf"{injected}injected latency 1\.0 ms",
            line,
        ), line
    assert re.fullmatch(rf"not a proxy-session call: GET example.com/ -> 502 in {MS}", lines[-1])
    injected: dict[str, int] = {}
    for fate in fates:
        if fate.fault:
            injected[fate.fault.error_type] = injected.get(fate.fault.error_type, 0) + 1
    classes = {"2xx": expected_status.count(201)}
    classes["4xx"] = expected_status.count(429)
    classes["5xx"] = sum(1 for s in expected_status if s >= 500) + 1  # and the 502
    shown = ", ".join(f"{n} {c}" for c, n in classes.items() if n)
    faults = ", ".join(f"{n} {name}" for name, n in sorted(injected.items()))
    (summary,) = summaries(caplog, "simulate")
    assert summary == (
        f"chime-tap simulate: {calls + 1} call(s) ({shown}); "
        f"{sum(injected.values())} fault(s) injected ({faults})."
    )


# --- the real commands -------------------------------------------------------------------------


def test_record_prints_each_call_and_its_summary_at_exit(tmp_path: Path) -> None:
    cassette = tmp_path / "calls.yaml"
    with ScriptedUpstream() as up:
        argv = ["record", "--cassette", str(cassette), "--hosts", up.host]
        with chime_tap(argv, confdir=tmp_path / "conf") as proxy:
            client = voice_client(proxy, endpoint=up.url)
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
            up.fail_next(500)
            with pytest.raises(client.exceptions.ServiceFailureException):
                client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
            assert proxy.stop(signal.SIGTERM) == 0
    assert sum("violation(s)" in line for line in proxy.lines) == 2
    assert proxy.lines[-1].endswith(
        "chime-tap record: 2 call(s) (1 2xx, 1 5xx); 0 with violations; "
        f"2 interaction(s) recorded to {cassette} (it holds 2); 0 answered but not recorded (could not be written)."
    )
    # "recording to" is said once, by the recorder, with the cassette's full path.
    assert [line for line in proxy.lines if "recording to" in line] == [
        line
        for line in proxy.lines
        if f"recording to {cassette} (0 interaction(s) already there)" in line
    ]
    assert sum("recording to" in line for line in proxy.lines) == 1


def test_simulate_and_replay_print_each_call_and_a_summary_at_exit(tmp_path: Path) -> None:
    cassette = tmp_path / "calls.yaml"
    with chime_tap(
        ["record", "--cassette", str(cassette), "--upstream", "simulator"], confdir=tmp_path / "c1"
    ) as rec:
        client = voice_client(rec)
        made = client.create_proxy_session(
            VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"]
        )["ProxySession"]
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=made["ProxySessionId"])
        assert rec.stop() == 0
    # One line per call in record --upstream simulator: the recorder's, not the simulator's too.
    assert sum(" -> " in line for line in rec.lines) == 2
    assert not any("chime-tap simulate:" in line for line in rec.lines)

    with chime_tap(["simulate"], confdir=tmp_path / "c2") as sim:
        client = voice_client(sim)
        client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert sim.stop() == 0
    assert any(
        re.fullmatch(rf".*ListProxySessions connector={CONNECTOR} -> 200 in {MS}", line)
        for line in sim.lines
    )
    assert sim.lines[-1].endswith("chime-tap simulate: 1 call(s) (1 2xx); 0 fault(s) injected.")

    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "c3") as rep:
        client = voice_client(rep)
        got = client.get_proxy_session(
            VoiceConnectorId=CONNECTOR, ProxySessionId=made["ProxySessionId"]
        )
        assert got["ProxySession"]["ProxySessionId"] == made["ProxySessionId"]
        assert rep.stop() == 0
    assert any(line.endswith("hit calls.yaml #1") for line in rep.lines)
    assert rep.lines[-1].endswith(
        "chime-tap replay: 1 call(s) (1 2xx); 1 hit(s), 0 miss(es), 0 exhausted; "
        "1 of 2 recorded interaction(s) never played."
    )
