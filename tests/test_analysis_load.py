"""The loader: typed columns, every input format, interactions without chime-tap metadata,
and bad input skipped with a one-line message."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import io as mitm_io
from mitmproxy.test import tflow, tutils

from chime_tap.analysis import COLUMNS, load, load_frame
from chime_tap.analysis.load import load_file
from chime_tap.api.hosts import DEFAULT_HOSTS
from chime_tap.api.validation import Violation
from chime_tap.cassettes.format import make_interaction
from chime_tap.errors import InputError
from chime_tap.wire import first_values

REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"


@pytest.mark.parametrize("command", ["validate", "check", "diff"])
def test_commands_that_only_read_inputs_do_not_import_pandas(command):
    """validate, check and diff read inputs with the loader's readers and build no frame: pandas
    (half a second to import) stays out of their start-up. The public names still resolve."""
    args = {"validate": [REFERENCE], "check": [REFERENCE], "diff": [REFERENCE, REFERENCE]}
    code = (
        "import sys; from chime_tap.cli import main; "
        f"main({list(map(str, [command, *args[command]]))!r}); "
        "print('pandas' in sys.modules); import chime_tap.analysis as a; "
        "import chime_tap.analysis.html_page; from chime_tap.analysis import render; "
        "print(sorted(a.__all__) == sorted(a._HOMES), a.summarize.__module__, render.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines()[-2:] == [
        "False",
        "True chime_tap.analysis.summaries chime_tap.analysis.rendering",
    ], done.stdout + done.stderr


def test_columns_have_their_declared_types():
    frame = load_frame([REFERENCE])
    for name, dtype in COLUMNS.items():
        assert str(frame[name].dtype) == dtype, name
    assert str(frame["recorded_at"].dt.tz) == "UTC"


def test_reference_examples_row_by_row():
    frame = load_frame([REFERENCE])
    get, update = frame.iloc[0], frame.iloc[1]
    assert (get["operation"], get["status"], get["namespace"], get["method"]) == (
        "GetProxySession",
        200,
        "legacy",
        "GET",
    )
    assert (update["operation"], update["status"]) == ("UpdateProxySession", 201)
    assert get["capabilities"] == "SMS,Voice" and update["capabilities"] == "Voice"
    assert update["updated_at"] == pd.Timestamp("2020-04-15T16:15:17.560Z")
    assert update["amz_date"] == pd.Timestamp("2020-04-15T16:15:17Z") == update["response_date"]
    assert update["request_bytes"] == len(b'{"Capabilities": ["Voice"]}')
    assert pd.isna(get["latency_ms"])  # the reference pages say nothing of timing
    assert pd.isna(get["ended_at"])


def test_json_and_yaml_cassettes_of_the_same_interactions_load_alike(tmp_path):
    doc = yaml.safe_load(REFERENCE.read_bytes())
    as_json = tmp_path / "ref.json"
    as_json.write_text(json.dumps(doc))
    a, b = load_frame([REFERENCE]), load_frame([as_json])
    pd.testing.assert_frame_equal(a.drop(columns="source"), b.drop(columns="source"))


def test_foreign_vcrpy_cassette_without_metadata_is_classified_validated_and_timed_by_date(
    tmp_path,
):
    # What vcrpy itself writes: no chime_tap key, headers as name -> list.
    bad_update = make_interaction(
        method="POST",
        uri="https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions/s1",
        request_headers={"X-Amz-Date": ["20260301T100000Z"]},
        request_body='{"ExpiryMinutes": 0}',
        status=400,
        reason="Bad Request",
        response_headers={
            "Date": ["Sun, 01 Mar 2026 10:00:01 GMT"],
            "x-amzn-ErrorType": ["BadRequestException:"],
        },
        response_body='{"Code":"BadRequest","Message":"bad body"}',
    )
    other = make_interaction(method="GET", uri="https://example.org/", request_headers={}, request_body=None, status=200, reason="OK",
                             response_headers={}, response_body="hi")  # fmt: skip
    path = tmp_path / "vcr.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "interactions": [bad_update, other]}))
    frame = load_frame([path])
    row = frame.iloc[0]
    assert row["operation"] == "UpdateProxySession" and row["namespace"] == "voice"
    assert row["recorded_at"] == pd.Timestamp("2026-03-01T10:00:01Z")  # from the Date header
    assert row["clock_skew_s"] == -1.0
    assert (row["error_type"], row["error_message"]) == ("BadRequestException", "bad body")
    assert row["violation_count"] >= 2  # Capabilities missing, ExpiryMinutes below 1
    assert "Capabilities" in row["violations"] and "ExpiryMinutes" in row["violations"]
    assert pd.isna(frame.iloc[1]["operation"]) and frame.iloc[1]["violation_count"] == 0


def test_hosts_name_a_loopback_upstream(tmp_path):
    item = make_interaction(method="GET", uri="http://127.0.0.1:9000/voice-connectors/vc/proxy-sessions", request_headers={},
                            request_body=None, status=200, reason="OK", response_headers={}, response_body='{"ProxySessions":[]}')  # fmt: skip
    path = tmp_path / "loop.json"
    path.write_text(json.dumps({"version": 1, "interactions": [item]}))
    assert pd.isna(load_frame([path])["operation"].iloc[0])
    frame = load_frame([path], hosts=["127.0.0.1:9000=legacy"])
    assert (
        frame["operation"].iloc[0] == "ListProxySessions" and frame["namespace"].iloc[0] == "legacy"
    )
    with pytest.raises(InputError, match="hosts"):
        load_frame([path], hosts=["127.0.0.1:0"])


def _session_call(flow, session: str = "s1"):
    """``flow`` made a GetProxySession-shaped call on an SDK Voice host."""
    flow.request.host = "voice-chime.us-east-1.amazonaws.com"
    flow.request.path = f"/voice-connectors/vc/proxy-sessions/{session}"
    return flow


def _write_flows(path: Path, flows) -> Path:
    """A mitmproxy flow file holding ``flows``, written by mitmproxy's own writer."""
    with open(path, "wb") as f:
        writer = mitm_io.FlowWriter(f)
        for flow in flows:
            writer.add(flow)
    return path


def _flow_file(path: Path, n: int = 3) -> Path:
    flows = []
    for i in range(n):
        flow = tflow.tflow(resp=tutils.tresp(status_code=404, headers=((b"x-amzn-ErrorType", b"NotFoundException:"),),
                                             content=b'{"Code":"NotFound","Message":"gone"}'))  # fmt: skip
        flow.request.method = "GET"
        flows.append(_session_call(flow, f"s{i}"))
    return _write_flows(path, flows)


def test_flow_file_loads_with_mitmproxys_reader(tmp_path):
    frame = load_frame([_flow_file(tmp_path / "f.flows")])
    assert len(frame) == 3
    assert list(frame["proxy_session_id"]) == ["s0", "s1", "s2"]
    assert set(frame["error_type"].astype(str)) == {"NotFoundException"}
    assert frame["latency_ms"].notna().all() and frame["recorded_at"].notna().all()


def test_flow_without_response_is_status_0_with_the_error(tmp_path):
    path = _write_flows(tmp_path / "err.flows", [_session_call(tflow.tflow(err=True))])
    row = load_frame([path]).iloc[0]
    assert (
        row["status"] == 0 and row["error_type"] == "NoResponse" and row["error_message"] == "error"
    )


def test_har_with_base64_content(tmp_path):
    import base64

    har = {"log": {"version": "1.2", "entries": [{
        "startedDateTime": "2026-03-01T10:00:00.250000+00:00", "time": 12.0,
        "request": {"method": "GET", "url": "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/vc/proxy-sessions/s1", "headers": []},
        "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "application/json"}],
                     "content": {"text": base64.b64encode(b'{"ProxySession":{"Status":"Open","ProxySessionId":"s1"}}').decode(), "encoding": "base64"}},
    }]}}  # fmt: skip
    path = tmp_path / "t.har"
    path.write_text(json.dumps(har))
    row = load_frame([path]).iloc[0]
    assert row["session_status"] == "Open" and row["latency_ms"] == 12.0
    assert row["recorded_at"] == pd.Timestamp("2026-03-01T10:00:00.250Z")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text\n", "not a vcrpy cassette"),
        (b'{"log": {"entries": 3}}', "HAR without an entries list"),
        (b'{"version": 1, "interactions": [{"request": {}}]}', "no request/response"),
        (b"\x00\x01\x02binary", "binary data"),
        (b'{"version":1,"interactions":[{"req', "not valid JSON"),
        (b"version: 1\ninteractions:\n- request: {method: GET\n", "not valid YAML"),
        (b"- !!python/object/apply:os.system ['true']\n", r"refused YAML .* safe loader"),
        (b"version: 1\ninteractions: " + b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"version": 1, "interactions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b"version: 1\nrecorded: 2020-02-30\ninteractions: []\n", "day is out of range"),
    ],
)  # fmt: skip
def test_bad_files_raise_one_line_input_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as e:
        load_file(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "content",
    [
        b"version: 1\ninteractions:\n- !!python/object/apply:os.system ['true']\n",
        b"version: 1\ninteractions:\n- request: {method: GET\n",
        b'{"version": 1, "interactions": [',
        b"version: 1\ninteractions: " + b"[" * 5000 + b"]" * 5000,
    ],
    ids=["python-tag", "bad-yaml", "bad-json", "deep"],
)
def test_report_and_validate_say_the_same_about_a_broken_file(tmp_path, content):
    """One parser for cassettes and reports: the same words whichever command reads the file."""
    from chime_tap.cassettes.reader import load_cassette
    from chime_tap.errors import CassetteError

    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(CassetteError) as as_cassette:
        load_cassette(path)
    with pytest.raises(InputError) as as_input:
        load_file(path)
    assert str(as_input.value) == str(as_cassette.value)


def _har(status="200", **entry) -> bytes:
    """A one-entry HAR whose status and timing fields are written verbatim (1e999, 10**400...)."""
    fields = {"time": "12.0", **entry}
    extra = "".join(f', "{k}": {v}' for k, v in fields.items())
    return (
        '{"log": {"version": "1.2", "entries": [{"startedDateTime": "2026-03-01T10:00:00Z"'
        + extra
        + ', "request": {"method": "GET", "url": "https://voice-chime.us-east-1.amazonaws.com'
        '/voice-connectors/vc/proxy-sessions/s1", "headers": []}, "response": {"status": '
        + status
        + ', "headers": []}}]}}'
    ).encode()


@pytest.mark.parametrize("status", ["1e999", "-1e999", "NaN", "Infinity", '"two hundred"', "1e300"])
def test_har_status_that_is_no_http_status_skips_that_file_only(tmp_path, status):
    bad = tmp_path / "bad.har"
    bad.write_bytes(_har(status))
    skipped = []
    frame = load_frame([bad, REFERENCE], on_skip=lambda p, m: skipped.append(m))
    assert len(frame) == 2  # the other input is intact
    ((message,),) = [skipped]
    assert message.startswith(str(bad)) and "status" in message and "\n" not in message


@pytest.mark.parametrize(
    "timing",
    [
        {"time": "1e999"},
        {"time": "NaN"},
        {"time": str(10**400)},
        {"time": "-5", "timings": '{"send": 1, "wait": 1e999, "receive": 1}'},
        {"time": "true", "timings": '{"send": 10, "wait": ' + str(10**400) + ', "receive": 0}'},
    ],
)
def test_har_timings_that_are_no_finite_numbers_leave_latency_empty(tmp_path, timing):
    path = tmp_path / "t.har"
    path.write_bytes(_har(**timing))
    row = load_frame([path]).iloc[0]
    assert row["status"] == 200 and pd.isna(row["latency_ms"])


@pytest.mark.parametrize("duration", [float("inf"), float("nan"), 10**400, True, "12"])
def test_recorded_duration_that_is_no_finite_number_is_no_latency(tmp_path, duration):
    item = make_interaction(method="GET", uri="https://voice-chime.us-east-1.amazonaws.com/voice-connectors/vc/proxy-sessions/s1",
                            request_headers={}, request_body=None, status=404, reason="Not Found", response_headers={},
                            response_body="", meta={"duration_ms": duration, "recorded_at": 10**400})  # fmt: skip
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "interactions": [item]}))
    row = load_frame([path]).iloc[0]
    assert row["status"] == 404 and pd.isna(row["latency_ms"]) and pd.isna(row["recorded_at"])


def test_flow_with_a_timestamp_out_of_range_loads_without_a_time(tmp_path):
    flow = _session_call(tflow.tflow(resp=True))
    flow.request.timestamp_start = 1e300
    flow.response.timestamp_end = float("inf")
    path = _write_flows(tmp_path / "far.flows", [flow])
    row = load_frame([path]).iloc[0]
    assert row["status"] == 200 and pd.isna(row["recorded_at"]) and pd.isna(row["latency_ms"])


def test_truncated_flow_file_is_skipped_and_named(tmp_path):
    whole = _flow_file(tmp_path / "whole.flows", n=4)
    cut = tmp_path / "cut.flows"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size - 50])
    skipped = []
    frame = load_frame([cut, REFERENCE], on_skip=lambda p, m: skipped.append((p, m)))
    assert len(frame) == 2
    ((path, message),) = skipped
    assert path == str(cut) and str(cut) in message and "\n" not in message
    assert "flow file" in message
    with pytest.raises(InputError):
        load_frame([cut])


def test_progress_counts_bytes_up_to_the_total(tmp_path):
    big = tmp_path / "big.json"
    doc = yaml.safe_load(REFERENCE.read_bytes())
    doc["interactions"] = doc["interactions"] * 5000  # ticks inside the file, not just after it
    big.write_text(json.dumps(doc))
    total = big.stat().st_size + REFERENCE.stat().st_size
    seen = []
    load_frame([big, REFERENCE], on_progress=lambda done, whole: seen.append((done, whole)))
    assert {whole for _, whole in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total
    assert sum(1 for d in done if 0 < d < big.stat().st_size) >= 3


# --- whatever a cassette holds: a frame, or one InputError ------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_bodies = st.one_of(_values, st.sampled_from(['{"ProxySession": {"ExpiryMinutes": 99999999999, "Capabilities": [1, null]}}',
                                              '{"Code": ["x"], "Message": {"a": 1}}', '{"ProxySession": []}', "[1,2]", "\udcff"]))  # fmt: skip
_interactions = st.fixed_dictionaries(
    {
        "request": st.fixed_dictionaries({"method": st.sampled_from(["GET", "POST", "DELETE", 7]),
            "uri": st.sampled_from(["https://voice-chime.us-east-1.amazonaws.com/voice-connectors/vc/proxy-sessions/s",
                                    "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/vc/proxy-sessions", "", "::"]),
            "body": _bodies, "headers": _values}),
        "response": st.fixed_dictionaries({"status": st.fixed_dictionaries({"code": st.one_of(st.integers(0, 599), st.integers(-5, 70000))}),
                                           "headers": _values, "body": st.one_of(_bodies, st.fixed_dictionaries({"string": _bodies}))}),
        "chime_tap": _values | st.fixed_dictionaries({"operation": _values, "namespace": _values, "recorded_at": _values,
                                                      "duration_ms": _values, "violations": _values, "error": _values}),
    }
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(_interactions, max_size=4))
def test_any_cassette_content_gives_a_typed_frame_or_one_input_error(tmp_path, items):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps({"version": 1, "interactions": items}, default=str))
    try:
        frame = load_file(path)
    except InputError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    assert len(frame) == len(items)
    for column in ("status", "expiry_minutes", "violation_count", "recorded_at"):
        assert column in frame.columns


# --- the same traffic in every format the loader reads ----------------------------------------

CONNECTOR_URI = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions"
T0 = 1_772_359_200  # 2026-03-01T10:00:00Z; calls start on whole seconds, as HTTP dates keep them
LATENCY_MS = 15.625  # a binary fraction: the flow file's float timestamps keep it exactly
_SESSION = (
    '{"ProxySession": {"ProxySessionId": "s1", "Status": "Open", "Capabilities": ["Voice", "SMS"], "ExpiryMinutes": 30,'
    ' "CreatedTimestamp": "2026-03-01T10:00:00.000Z", "UpdatedTimestamp": "2026-03-01T10:00:03.000Z"}}'
)
# (method, path after the connector's proxy-sessions, request body, status, reason, response headers, response body)
TRAFFIC = [
    ("POST", "", '{"Capabilities":["Voice","SMS"],"ParticipantPhoneNumbers":["+12065550100","+14015550101"]}',
     201, "Created", {"Content-Type": ["application/json"]}, _SESSION),
    ("GET", "/s1", None, 200, "OK", {"Content-Type": ["application/json"]}, _SESSION),
    ("POST", "/s1", '{"ExpiryMinutes": 0}', 400, "Bad Request", {"x-amzn-ErrorType": ["BadRequestException:"]},
     '{"Code":"BadRequest","Message":"bad body"}'),
    ("GET", "/gone", None, 404, "Not Found", {"x-amzn-ErrorType": ["NotFoundException:"]}, '{"Code":"NotFound","Message":"gone"}'),
    ("DELETE", "/s1", None, 204, "No Content", {}, ""),
]  # fmt: skip


def _exchanges() -> list[tuple[float, dict]]:
    """(start, make_interaction arguments) of each call in TRAFFIC; the client's clock 2 s behind."""
    out = []
    for i, (method, path, body, status, reason, headers, response_body) in enumerate(TRAFFIC):
        started = T0 + i
        request_headers = {
            "X-Amz-Date": [time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started - 2))]
        }
        if body:
            request_headers["Content-Type"] = ["application/json"]
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(started))
        out.append((started, {"method": method, "uri": CONNECTOR_URI + path, "request_headers": request_headers,
                              "request_body": body, "status": status, "reason": reason,
                              "response_headers": {"Date": [date], **headers}, "response_body": response_body}))  # fmt: skip
    return out


def _recorded(exchange: dict, started: float) -> dict:
    """The interaction as the recorder writes it: with what it noted (route, violations, timing)."""
    from types import SimpleNamespace

    from chime_tap.api.validation import validate_interaction
    from chime_tap.cassettes.format import Interaction
    from chime_tap.recording import recording_meta

    route, found = validate_interaction(Interaction.from_dict(make_interaction(**exchange)))
    call = SimpleNamespace(operation=route.name, namespace=route.namespace, control=False)
    meta = recording_meta(started=started, duration_ms=LATENCY_MS, call=call, violations=found,
                          answered_by="upstream", error=None)  # fmt: skip
    return make_interaction(**exchange, meta=meta)


def _har_entry(exchange: dict, started: float) -> dict:
    def pairs(headers):
        return [{"name": k, "value": v} for k, values in headers.items() for v in values]

    request = {
        "method": exchange["method"],
        "url": exchange["uri"],
        "headers": pairs(exchange["request_headers"]),
    }
    if exchange["request_body"]:
        request["postData"] = {"mimeType": "application/json", "text": exchange["request_body"]}
    return {
        "startedDateTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(started)),
        "time": LATENCY_MS + 40.0,  # with connection set-up, which the timings leave out
        "timings": {"blocked": 40.0, "send": 0.125, "wait": LATENCY_MS - 0.25, "receive": 0.125},
        "request": request,
        "response": {"status": exchange["status"], "statusText": exchange["reason"],
                     "headers": pairs(exchange["response_headers"]), "content": {"text": exchange["response_body"]}},
    }  # fmt: skip


def _flow(exchange: dict, started: float):
    from mitmproxy import http

    def headers(table):
        return http.Headers(
            [(k.encode(), v.encode()) for k, values in table.items() for v in values]
        )

    parts = urlsplit(exchange["uri"])
    req = tutils.treq(method=exchange["method"].encode(), scheme=b"https", host=parts.hostname, port=443,
                      path=parts.path.encode(), headers=headers(exchange["request_headers"]),
                      content=(exchange["request_body"] or "").encode(), timestamp_start=started)  # fmt: skip
    resp = tutils.tresp(status_code=exchange["status"], reason=exchange["reason"].encode(),
                        headers=headers(exchange["response_headers"]), content=exchange["response_body"].encode(),
                        timestamp_end=started + LATENCY_MS / 1000)  # fmt: skip
    return tflow.tflow(req=req, resp=resp)


def test_chime_tap_cassette_vcrpy_cassette_har_and_flow_file_of_the_same_traffic_load_alike(
    tmp_path,
):
    exchanges = _exchanges()
    paths = {
        "chime-tap": tmp_path / "recorded.yaml",
        "vcrpy": tmp_path / "vcr.json",
        "har": tmp_path / "traffic.har",
        "flows": tmp_path / "traffic.flows",
    }
    paths["chime-tap"].write_text(
        yaml.safe_dump({"version": 1, "interactions": [_recorded(e, s) for s, e in exchanges]})
    )
    paths["vcrpy"].write_text(
        json.dumps({"version": 1, "interactions": [make_interaction(**e) for _, e in exchanges]})
    )
    paths["har"].write_text(
        json.dumps({"log": {"version": "1.2", "entries": [_har_entry(e, s) for s, e in exchanges]}})
    )
    _write_flows(paths["flows"], [_flow(e, s) for s, e in exchanges])  # fmt: skip
    frames = {name: load_frame([path]) for name, path in paths.items()}

    recorded = frames["chime-tap"]
    assert list(recorded["operation"]) == ["CreateProxySession", "GetProxySession", "UpdateProxySession",
                                           "GetProxySession", "DeleteProxySession"]  # fmt: skip
    assert list(recorded["proxy_session_id"]) == ["s1", "s1", "s1", "gone", "s1"]
    assert list(recorded["violation_count"] > 0) == [False, False, True, False, False]
    assert list(recorded["error_type"].astype(object)[2:4]) == [
        "BadRequestException",
        "NotFoundException",
    ]
    assert (recorded["clock_skew_s"] == -2.0).all() and (recorded["latency_ms"] == LATENCY_MS).all()
    assert list(recorded["recorded_at"]) == [
        pd.Timestamp(T0 + i, unit="s", tz="UTC") for i in range(5)
    ]
    # Only the recorder notes who answered; a vcrpy cassette says nothing of timing.
    same = [c for c in COLUMNS if c not in ("source", "latency_ms", "answered_by", "origin")]
    origins = {"chime-tap": "chime-tap", "vcrpy": "vcrpy", "har": "har", "flows": "flow"}
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame[same], recorded[same], obj=name)
        assert list(frame["answered_by"].isna()) == [name != "chime-tap"] * 5, name
        assert list(frame["origin"]) == [origins[name]] * 5, name
        assert (
            frame["latency_ms"].isna().all()
            if name == "vcrpy"
            else (frame["latency_ms"] == LATENCY_MS).all()
        ), name


# --- the steps of one row ---------------------------------------------------------------------

VOICE_HOST = "voice-chime.us-east-1.amazonaws.com"


def test_a_row_holds_the_frames_columns_in_their_order():
    assert [c for c in load._ROW if c != "started"] == [c for c in COLUMNS if c not in ("source", "clock_skew_s")]  # fmt: skip
    rows = load._Rows(DEFAULT_HOSTS)
    for i in range(2):
        rows.add(index=i, method="GET", uri=f"{CONNECTOR_URI}/s{i}", request_headers={}, request_body=None, status=200,
                 response_headers={}, response_body=None, meta={"violations": []}, origin="chime-tap", interaction=None)  # fmt: skip
    assert len(rows.values) == 2 * len(load._ROW)
    assert rows.column("proxy_session_id") == ["s0", "s1"] and rows.column("status") == [200, 200]


@pytest.mark.parametrize(
    ("uri", "host", "meta", "expected"),
    [
        (CONNECTOR_URI, VOICE_HOST, {}, ("ListProxySessions", "voice")),
        (CONNECTOR_URI, VOICE_HOST, {"namespace": "legacy", "operation": "ListProxySessions"}, ("ListProxySessions", "legacy")),
        (CONNECTOR_URI, VOICE_HOST, {"namespace": "elsewhere"}, ("ListProxySessions", "voice")),
        ("/voice-connectors/vc/proxy-sessions", VOICE_HOST, {}, ("ListProxySessions", "voice")),  # the Host header's
        ("https://example.org/voice-connectors/vc/proxy-sessions", "example.org", {}, (None, None)),
        ("https://example.org/voice-connectors/vc/proxy-sessions", "example.org", {"namespace": "voice"}, ("ListProxySessions", "voice")),
    ],
)  # fmt: skip
def test_route_the_recorders_notes_first_then_the_uri(uri, host, meta, expected):
    route, operation, namespace = load._route("GET", uri, host, meta, DEFAULT_HOSTS)
    assert (operation, namespace) == expected
    assert (route is None) == (operation is None)


@pytest.mark.parametrize(
    "noted",
    [
        {"operation": "UpdateProxySession", "part": "request body", "pointer": "/ExpiryMinutes", "message": "0 < 1"},
        {"operation": None, "part": "path", "pointer": "", "message": "bad id"},
        {"operation": None, "part": "", "pointer": "/Name", "message": "too long"},
    ],
)  # fmt: skip
def test_a_recorded_violation_reads_as_the_validator_writes_it(noted):
    assert load._violation_text(noted) == str(Violation(**noted))


def test_a_recorded_violation_without_a_place_is_its_message():
    assert load._violation_text({"message": "odd"}) == "odd"
    assert load._violation_text("written as text") == "written as text"


@pytest.mark.parametrize(
    ("status", "headers", "body", "meta", "expected"),
    [
        (404, {"x-amzn-errortype": "NotFoundException:http://x/"}, '{"Code": "NotFound", "Message": "gone"}', {}, ("NotFoundException", "gone")),
        (400, {}, '{"__type": "BadRequestException", "message": "bad"}', {}, ("BadRequestException", "bad")),
        (502, {}, "<html>", {"error": "upstream reset"}, (None, "upstream reset")),
        (0, {}, None, {"error": "connection refused"}, (load.NO_RESPONSE, "connection refused")),
        (200, {}, '{"Code": "NotFound", "Message": "gone"}', {}, (None, None)),  # a success is no error
    ],
)  # fmt: skip
def test_error_from_the_response_or_the_recorders_note(status, headers, body, meta, expected):
    assert load._error(status, headers, body, meta) == expected


@pytest.mark.parametrize(
    ("operation", "status", "body", "expected"),
    [
        ("GetProxySession", 200, '{"ProxySession": {"Status": "Open"}}', {"Status": "Open"}),
        ("GetProxySession", 404, '{"ProxySession": {"Status": "Open"}}', {}),
        ("ListProxySessions", 200, '{"ProxySession": {"Status": "Open"}}', {}),
        ("CreateProxySession", 201, '{"ProxySession": ["not", "a", "session"]}', {}),
        ("UpdateProxySession", 201, "not JSON", {}),
    ],
)  # fmt: skip
def test_session_only_from_a_successful_create_get_or_update(operation, status, body, expected):
    assert load._session(status, operation, body) == expected


@pytest.mark.parametrize("expiry", [True, -1, 2**31, "30", 1.5])
def test_session_facts_keep_an_expiry_only_when_it_fits_int32(expiry):
    session = {
        "Capabilities": ["Voice", "SMS"],
        "ExpiryMinutes": expiry,
        "Status": "Open",
        "CreatedTimestamp": "c",
    }
    assert load._session_facts(session) == ("SMS,Voice", None, "Open", "c", None, None)
    assert load._session_facts({**session, "ExpiryMinutes": 30})[1] == 30
    assert load._session_facts({}) == (None,) * 6


def test_ids_from_the_path_else_the_session_created():
    from chime_tap.api.operations import route_of

    get, create = route_of("GET", f"{CONNECTOR_URI}/s1"), route_of("POST", CONNECTOR_URI)
    assert load._ids(get, {"ProxySessionId": "other"}) == ("abcdef1ghij2klmno3pqr4", "s1")
    assert load._ids(create, {"ProxySessionId": "new"}) == ("abcdef1ghij2klmno3pqr4", "new")
    assert load._ids(None, {}) == (None, None)


@pytest.mark.parametrize(
    ("meta", "measured", "expected"),
    [({"duration_ms": 12.5}, 99.0, 12.5), ({}, 99.0, 99.0), ({"duration_ms": float("inf")}, None, None),
     ({"duration_ms": True}, 3, 3.0), ({"duration_ms": "12"}, float("nan"), None)],
)  # fmt: skip
def test_latency_the_recorders_duration_else_the_formats_own(meta, measured, expected):
    assert load._latency(meta, measured) == expected


_header_text = st.text(st.characters(codec="latin-1"), max_size=6)


@given(st.dictionaries(_header_text, _header_text | st.lists(_header_text, max_size=3), max_size=6))
def test_cassette_headers_read_as_wire_reads_them(table):
    # the loader reads vcrpy headers through chime_tap.wire, whatever their shape
    assert load._vcr_headers(table) == first_values(table)


def test_a_list_answer_keeps_the_sessions_it_names_in_one_column():
    body = json.dumps({"ProxySessions": [
        {"ProxySessionId": "a", "Status": "Open", "CreatedTimestamp": "c", "ExpiryMinutes": 5},
        {"ProxySessionId": "b%\x1e", "Status": "Closed", "EndedTimestamp": "e", "ExpiryMinutes": True},
        "not a session", {"Status": "Open"},  # nothing to name: left out
    ]})  # fmt: skip
    assert load._listed(200, "ListProxySessions", body) == (
        "a\x1fOpen\x1fc\x1f\x1f\x1f5" "\x1e" "b%25%1E\x1fClosed\x1f\x1f\x1fe\x1f"
    )  # fmt: skip
    assert load._listed(400, "ListProxySessions", body) is None
    assert load._listed(200, "GetProxySession", body) is None
    assert load._listed(200, "ListProxySessions", '{"ProxySessions": []}') is None


@pytest.mark.parametrize(
    ("operation", "status", "session", "session_id", "expected"),
    [
        ("CreateProxySession", 201, {"ProxySessionId": "s"}, "s", True),
        ("GetProxySession", 200, {"ProxySessionId": "other"}, "s", False),  # names another
        ("GetProxySession", 200, {"Status": "Open"}, "s", False),  # names none
        ("GetProxySession", 404, {}, "s", False),
        ("DeleteProxySession", 204, {}, "s", True),
        ("DeleteProxySession", 400, {}, "s", False),
        ("DeleteProxySession", 204, {}, None, False),
    ],
)
def test_acknowledged_only_by_a_2xx_answer_naming_the_session(
    operation, status, session, session_id, expected
):
    assert load._acknowledged(status, operation, session, session_id) is expected
