"""The loader: typed columns, every input format, interactions without chime-tap metadata,
and bad input skipped with a one-line message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import io as mitm_io
from mitmproxy.test import tflow, tutils

from chime_tap.analysis import COLUMNS, load_frame
from chime_tap.analysis.load import load_file
from chime_tap.cassettes.format import make_interaction
from chime_tap.errors import InputError

REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"


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
