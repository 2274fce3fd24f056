"""One real mitmdump process with the real recorder writes the same boto3 traffic as a cassette
(addons/record.py), a flow file (-w) and HAR (hardump); loaded with the cassette loader,
mitmproxy's own FlowReader and as HAR, all three give the same frame, and the report of that
traffic counts what the upstream answered.

The upstream is a loopback HTTP server answering from the simulator's session store, with one
throttled call and a clock that jumps past a session's expiry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import botocore.exceptions
import numpy as np
import pandas as pd
import pytest
import yaml

from chime_tap.analysis import load_frame, summarize
from chime_tap.api.operations import classify_path
from chime_tap.simulator.faults import THROTTLED
from chime_tap.simulator.service import answer, error_response, front_door_error
from chime_tap.simulator.store import SessionStore
from support.procs import CONNECTOR, mitmdump, voice_client

RECORDER = Path(__file__).resolve().parent.parent / "addons" / "record.py"


A, B = "+12065550100", "+14015550101"
KEY_COLUMNS = [
    "operation", "namespace", "method", "host", "path", "voice_connector_id", "proxy_session_id", "status",
    "error_type", "error_message", "request_bytes", "response_bytes", "violation_count", "capabilities",
    "expiry_minutes", "session_status", "created_at", "updated_at", "ended_at", "amz_date", "response_date",
]  # fmt: skip


class Upstream(ThreadingHTTPServer):
    """The simulator's store behind a plain loopback HTTP server; ``throttle`` names calls to refuse."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = SessionStore()
        self.offset = 0.0  # seconds added to the clock: expiry without sleeping
        self.throttle: set[int] = set()
        self.calls = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: Upstream

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        with self.server.lock:
            self.server.calls += 1
            n = self.server.calls
            now = time.time() + self.server.offset
        route = classify_path(self.command, parts.path, "voice")
        if route is None:
            r = front_door_error(404, "UnknownOperationException", "no such route", now)
        elif n in self.server.throttle:
            r = error_response(THROTTLED, now)
        else:
            r = answer(
                self.server.store, route, query=parse_qs(parts.query), body=body or None, now=now
            )
        self.send_response(r.status)
        for name, value in r.headers.items():
            if name.lower() != "connection":
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(r.body)

    do_GET = do_POST = do_DELETE = _answer

    def send_response(self, code, message=None):  # the simulator's Date, not http.server's
        self.send_response_only(code, message)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def drive(client, upstream: Upstream) -> dict[str, int]:
    """A session's life with an error, a throttled call and an expiry; returns what was sent."""
    created = client.create_proxy_session(
        VoiceConnectorId=CONNECTOR,
        ParticipantPhoneNumbers=[A, B],
        Capabilities=["Voice", "SMS"],
        ExpiryMinutes=30,
    )
    sid = created["ProxySession"]["ProxySessionId"]
    client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    client.update_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=sid, Capabilities=["Voice"], ExpiryMinutes=5
    )
    upstream.throttle.add(upstream.calls + 1)
    with pytest.raises(botocore.exceptions.ClientError, match="ThrottledClientException"):
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    with pytest.raises(botocore.exceptions.ClientError, match="NotFoundException"):
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="no-such-session")
    client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
    upstream.offset += 6 * 60  # past the 5-minute expiry
    expired = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    second = client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["SMS"]
    )
    client.delete_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=second["ProxySession"]["ProxySessionId"]
    )
    return {
        "sid": sid,
        "second": second["ProxySession"]["ProxySessionId"],
        "expired_status": expired["ProxySession"]["Status"],
    }


def _interactions(cassette: Path) -> list[dict]:
    text = cassette.read_text()
    return (json.loads(text) if cassette.suffix == ".json" else yaml.safe_load(text))[
        "interactions"
    ]


def key_frame(frame: pd.DataFrame) -> pd.DataFrame:
    chime = frame.loc[frame["operation"].notna()].sort_values("recorded_at", kind="stable")
    return chime[KEY_COLUMNS].reset_index(drop=True)


@pytest.mark.parametrize("cassette_name", ["traffic.yaml", "traffic.json"])
def test_cassette_flow_file_and_har_of_the_same_traffic_load_to_the_same_frame(
    tmp_path, upstream, cassette_name
):
    cassette, flows, har = (
        tmp_path / cassette_name,
        tmp_path / "traffic.flows",
        tmp_path / "traffic.har",
    )
    hosts = [f"127.0.0.1:{upstream.server_address[1]}=voice"]
    # Plain mitmdump writes requests as they are: strip the signature and token before they
    # reach the flow file and the HAR (the upstream does not check signatures).
    scrub = [
        "--modify-headers",
        "/~q/Authorization/",
        "--modify-headers",
        "/~q/X-Amz-Security-Token/",
    ]
    record = [
        "-s",
        str(RECORDER),
        "--set",
        f"chime_cassette={cassette}",
        "--set",
        f"chime_hosts={hosts[0]}",
    ]
    with mitmdump(
        [*scrub, *record, "-w", str(flows), "--set", f"hardump={har}"], confdir=tmp_path / "conf"
    ) as proxy:
        client = voice_client(proxy, endpoint=f"http://127.0.0.1:{upstream.server_address[1]}")
        sent = drive(client, upstream)
        assert proxy.stop() == 0, proxy.output
    assert sent["expired_status"] == "Closed"

    from_cassette = load_frame([cassette])  # needs no --hosts: the recorder noted each operation
    from_flows = load_frame([flows], hosts=hosts)
    from_har = load_frame([har], hosts=hosts)
    assert len(from_cassette) == len(from_flows) == len(from_har) == 9
    expected = key_frame(from_cassette)
    pd.testing.assert_frame_equal(key_frame(from_flows), expected)
    pd.testing.assert_frame_equal(key_frame(from_har), expected)
    # same instants and latencies, to within float rounding of the three writers
    for other in (from_flows, from_har):
        assert (other["recorded_at"] - from_cassette["recorded_at"]).abs().max() < pd.Timedelta(
            milliseconds=1
        )
        assert (other["latency_ms"] - from_cassette["latency_ms"]).abs().max() < 0.01
    assert from_cassette["latency_ms"].notna().all() and from_cassette["amz_date"].notna().all()
    assert set(from_cassette["answered_by"].astype(str)) == {"upstream"}

    summary = summarize(from_flows)
    codes = summary["status_codes"]
    assert codes.loc["CreateProxySession", 201] == 2
    assert codes.loc["GetProxySession"].to_dict() == {200: 2, 201: 0, 204: 0, 404: 1, 429: 1}
    assert codes.loc["UpdateProxySession", 201] == 1
    assert codes.loc["DeleteProxySession", 204] == 1
    assert codes.loc["ListProxySessions", 200] == 1
    errors = {(r.error_type, r.status): r.count for r in summary["errors"].itertuples()}
    assert errors == {("ThrottledClientException", 429): 1, ("NotFoundException", 404): 1}
    sessions = summary["sessions"].set_index("proxy_session_id")
    first = sessions.loc[sent["sid"]]
    assert (
        first["calls"] == 5 and first["final_status"] == "Closed" and first["expiry_minutes"] == 5
    )
    assert first["ended"] - first["created"] == pd.Timedelta(minutes=5)
    assert sessions.loc[sent["second"], "deleted"]
    # the three calls after the jump: the upstream's Date is 6 minutes ahead of X-Amz-Date
    assert summary["clock_skew"]["outside_window"] == 3
    assert summary["clock_skew"]["min"] == pytest.approx(-360.0, abs=2.0)

    # The CLI's JSON report of the recorded cassette: counts, and latency quantiles equal to
    # numpy's over the durations the recorder wrote (read here without the loader).
    done = subprocess.run([sys.executable, "-m", "chime_tap", "report", str(cassette), "--format", "json"],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["interactions"] == 9
    assert doc["status_codes"]["GetProxySession"] == {"200": 2, "404": 1, "429": 1}
    recorded = _interactions(cassette)
    gets = [
        i["chime_tap"]["duration_ms"]
        for i in recorded
        if i["chime_tap"]["operation"] == "GetProxySession"
    ]
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert doc["latency_ms"]["GetProxySession"][name] == pytest.approx(np.percentile(gets, q))
