"""`replay --on-miss forward` records a forwarded call with the metadata `record` writes.

A new user found forwarded calls recorded with `answered_by` and `recorded_by` only: no
`recorded_at`, `duration_ms`, `operation`, `namespace` or `violations`, so `report` had no
latency for them, `--latency recorded` could not hold them, and nothing checked them. The
expected keys are the README's table ("What a cassette holds"), plus `recorded_by`.

One real `chime-tap replay` with a real boto3 client (a JSON cassette served, a YAML one
recorded to); the JSON cassette recorded to, and exact values, in-process.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import botocore.exceptions
import pytest
from mitmproxy import flow, http
from mitmproxy.test import taddons, tflow

from chime_tap.addons.replay import ReplayServer
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.recording import FAILURE_MARK, VIOLATION_MARK
from chime_tap.replay_latency import recorded_ms
from support.procs import CONNECTOR, assert_no_secrets, chime_tap, voice_client
from support.upstream import ScriptedUpstream

RECORDED_BY = "chime-tap replay --on-miss forward"  # kept as it was before the fix
# What `record` writes for an answered call (README, "What a cassette holds"), and replay's mark.
META_KEYS = {
    "recorded_at",
    "duration_ms",
    "operation",
    "namespace",
    "violations",
    "answered_by",
    "recorded_by",
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PARTICIPANTS = ["+12065550100", "+14015550101"]


def _recorded_get(endpoint: str, sid: str) -> dict:
    """A Get of ``sid`` as `record` keeps it: the one call the served cassette answers."""
    session = {"VoiceConnectorId": CONNECTOR, "ProxySessionId": sid, "Status": "Open"}
    return make_interaction(
        method="GET",
        uri=f"{endpoint}/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}",
        request_headers={},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=json.dumps({"ProxySession": session}),
        meta={
            "recorded_at": "2026-01-01T00:00:00.000Z",
            "duration_ms": 3.0,
            "operation": "GetProxySession",
            "namespace": "voice",
            "violations": [],
            "answered_by": "upstream",
        },
    )


def test_forwarded_calls_carry_records_metadata_through_a_real_replay(tmp_path: Path) -> None:
    with ScriptedUpstream() as upstream:
        served = tmp_path / "served.json"
        with CassetteWriter(served) as w:
            w.append(_recorded_get(upstream.url, "recorded-one"))
        record_to = tmp_path / "fwd-new.yaml"
        args = ["replay", "--cassette", str(served), "--on-miss", "forward",
                "--record-to", str(record_to), "--hosts", f"{upstream.host}=voice"]  # fmt: skip
        with chime_tap(args, confdir=tmp_path / "conf") as proxy:
            client = voice_client(proxy, endpoint=upstream.url)
            got = client.get_proxy_session(
                VoiceConnectorId=CONNECTOR, ProxySessionId="recorded-one"
            )
            sid = client.create_proxy_session(
                VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=PARTICIPANTS,
                Capabilities=["Voice", "SMS"], ExpiryMinutes=60,
            )["ProxySession"]["ProxySessionId"]  # fmt: skip
            client.update_proxy_session(
                VoiceConnectorId=CONNECTOR, ProxySessionId=sid, Capabilities=["Voice"]
            )
            upstream.fail_next(400)  # as the service answers an invalid request
            with pytest.raises(botocore.exceptions.ClientError, match="BadRequest"):
                client.update_proxy_session(
                    VoiceConnectorId=CONNECTOR, ProxySessionId=sid, Capabilities=["Fax"]
                )
            proxy.stop()
    assert got["ProxySession"]["ProxySessionId"] == "recorded-one"  # a hit, not forwarded
    assert [s.method for s in upstream.seen] == ["POST", "POST", "POST"]

    items = load_cassette(record_to)["interactions"]
    metas = [item["chime_tap"] for item in items]
    for meta in metas:
        assert set(meta) == META_KEYS, meta
        assert ISO_MS.match(meta["recorded_at"]), meta["recorded_at"]
        assert meta["duration_ms"] > 0
        assert (meta["namespace"], meta["answered_by"]) == ("voice", "upstream")
        assert meta["recorded_by"] == RECORDED_BY
    assert [m["operation"] for m in metas] == [
        "CreateProxySession", "UpdateProxySession", "UpdateProxySession",
    ]  # fmt: skip
    assert [item["response"]["status"]["code"] for item in items] == [201, 201, 400]
    assert metas[0]["violations"] == metas[1]["violations"] == []
    assert [(v["operation"], v["part"], v["pointer"]) for v in metas[2]["violations"]] == [
        ("UpdateProxySession", "request body", "/Capabilities/0")
    ]
    # --latency recorded can now hold these calls: each has the time it took live.
    assert all(recorded_ms(item) == item["chime_tap"]["duration_ms"] for item in items)
    assert_no_secrets(record_to, tmp_path / "conf.output.log")

    # A violation is flagged on the line as record flags it: the count, then the first one.
    lines = [line for line in proxy.lines if "miss, forwarded upstream" in line]
    assert len(lines) == 3, proxy.output
    assert lines[1].endswith("recorded as fwd-new.yaml #1")  # nothing wrong: nothing more said
    assert "recorded as fwd-new.yaml #2, 1 violation(s): request body /Capabilities/0" in lines[2]

    # The report: a latency for every call (no "latency: not recorded" gap), and each call's
    # time to the millisecond, as recorded.
    from chime_tap.analysis import load_frame
    from chime_tap.analysis.summaries import timing_gaps

    frame = load_frame([str(record_to)])
    assert frame["latency_ms"].tolist() == [m["duration_ms"] for m in metas]
    stamps = frame["recorded_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    assert stamps.tolist() == [m["recorded_at"] for m in metas]
    assert "latency" not in set(timing_gaps(frame)["measure"])


# --- in-process: a JSON cassette recorded to, exact values ---------------------------------------

UPSTREAM = "127.0.0.1:9000"
SESSION = f"/voice-connectors/{CONNECTOR}/proxy-sessions/ps-1"
STARTED = 1767225600.25  # 2026-01-01T00:00:00.250Z
SECRET = "AKIACHIMETAPFWDMETA1"


def _forwarding(tctx, addon: ReplayServer, tmp_path: Path) -> Path:
    served = tmp_path / "served.yaml"
    served.write_text("version: 1\ninteractions: []\n")
    record_to = tmp_path / "new.json"
    tctx.configure(
        addon,
        chime_replay_cassettes=[str(served)],
        chime_replay_on_miss="forward",
        chime_replay_record_to=str(record_to),
        chime_hosts=[f"{UPSTREAM}=voice"],
    )
    return record_to


def _update(addon: ReplayServer, capabilities: list[str]) -> http.HTTPFlow:
    """An UpdateProxySession that misses, so goes upstream: started at STARTED."""
    f = tflow.tflow()
    req = f.request
    req.method, req.scheme, req.path = "POST", "http", SESSION
    req.host, req.port = UPSTREAM.split(":")[0], 9000
    req.headers.clear()
    req.headers["Host"] = UPSTREAM
    req.headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={SECRET}/20260101/us-east-1/chime"
    req.content = json.dumps({"Capabilities": capabilities}).encode()
    req.timestamp_start = STARTED
    addon.request(f)
    assert f.response is None  # a miss goes upstream
    return f


def test_a_forwarded_invalid_call_is_recorded_validated_and_flagged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        record_to = _forwarding(tctx, addon, tmp_path)
        f = _update(addon, ["Fax"])
        error = {"Code": "BadRequest", "Message": "Capabilities: Fax is not a capability"}
        f.response = http.Response.make(
            400,
            json.dumps(error).encode(),
            {"Content-Type": "application/json", "x-amzn-ErrorType": "BadRequestException:"},
        )
        f.response.timestamp_end = STARTED + 0.0123
        with caplog.at_level(logging.INFO, logger="chime_tap.calls"):
            addon.response(f)
    addon.done()

    (item,) = json.loads(record_to.read_text())["interactions"]
    meta = item["chime_tap"]
    assert {k: meta[k] for k in META_KEYS - {"violations"}} == {
        "recorded_at": "2026-01-01T00:00:00.250Z",
        "duration_ms": 12.3,
        "operation": "UpdateProxySession",
        "namespace": "voice",
        "answered_by": "upstream",
        "recorded_by": RECORDED_BY,
    }
    assert [(v["part"], v["pointer"]) for v in meta["violations"]] == [
        ("request body", "/Capabilities/0")
    ]
    assert f.metadata["chime_tap"] == meta  # saved flow files carry it, as record's do
    assert "request body /Capabilities/0" in f.comment  # mitmweb shows what is wrong
    assert f.marked == VIOLATION_MARK  # and flags it, as record flags a call
    (line,) = [r for r in caplog.records if r.name == "chime_tap.calls"]
    assert line.levelno == logging.WARNING
    assert line.getMessage().startswith(
        f"UpdateProxySession connector={CONNECTOR} session=ps-1 -> 400 in 12.3 ms, "
        "miss, forwarded upstream, recorded as new.json #0, 1 violation(s): "
        "request body /Capabilities/0"
    )
    assert SECRET not in record_to.read_text()  # the signature was scrubbed


def test_a_forwarded_call_that_failed_keeps_records_metadata_too(tmp_path: Path) -> None:
    """No response: status 0, the error, and the request still checked (its answer cannot be)."""
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        record_to = _forwarding(tctx, addon, tmp_path)
        f = _update(addon, ["Voice"])
        f.error = flow.Error("connection refused")
        addon.error(f)
    addon.done()
    (item,) = json.loads(record_to.read_text())["interactions"]
    meta = item["chime_tap"]
    assert set(meta) == META_KEYS | {"error"}
    assert (meta["recorded_at"], meta["operation"], meta["namespace"]) == (
        "2026-01-01T00:00:00.250Z", "UpdateProxySession", "voice",
    )  # fmt: skip
    assert (meta["answered_by"], meta["error"], meta["violations"]) == (
        "none", "connection refused", [],
    )  # fmt: skip
    assert isinstance(meta["duration_ms"], float)
    assert f.marked == FAILURE_MARK
