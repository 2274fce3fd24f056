"""`chime-tap report` of a cassette written by plain vcrpy: a real boto3 client recorded by
vcrpy against a loopback upstream. vcrpy keeps no timing, and stores the header values botocore
sends as bytes (X-Amz-Date among them) as YAML ``!!binary``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import vcr

from support.procs import CONNECTOR, voice_client
from support.upstream import ScriptedUpstream

A, B = "+12065550100", "+14015550101"
CAUSE = "from cassettes written by vcrpy, which keeps no timing"


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    """(a plain vcrpy cassette of 3 calls, the upstream's host:port)."""
    cassette = tmp_path / "plain.yaml"
    with ScriptedUpstream() as upstream:
        client = voice_client(None, endpoint=upstream.url)
        recorder = vcr.VCR(filter_headers=["authorization", "x-amz-security-token"])
        with recorder.use_cassette(str(cassette)):
            made = client.create_proxy_session(
                VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"]
            )["ProxySession"]
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=made["ProxySessionId"])  # fmt: skip
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        return cassette, upstream.host


def report(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", "report", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_vcrpy_writes_x_amz_date_as_binary(recorded) -> None:
    """What this file is about: a plain vcrpy cassette holds X-Amz-Date as !!binary."""
    cassette, _ = recorded
    text = cassette.read_text()
    assert "X-Amz-Date:\n      - !!binary" in text
    assert "chime_tap:" not in text and "duration_ms" not in text


def test_skew_is_measured_from_a_binary_x_amz_date(recorded) -> None:
    cassette, host = recorded
    done = report(cassette, "--hosts", f"{host}=voice", "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["interactions"] == 3
    skew = doc["clock_skew"]
    assert skew["count"] == 3  # the client's and the upstream's clocks are this machine's
    assert -1.0 <= skew["min"] <= skew["max"] <= 1.0


def test_missing_latency_is_explained_by_what_wrote_the_cassette(recorded) -> None:
    cassette, host = recorded
    done = report(cassette, "--hosts", f"{host}=voice", "--format", "json")
    doc = json.loads(done.stdout)
    assert doc["latency_ms"] == {}
    assert doc["timing_gaps"] == [{"measure": "latency", "count": 3, "cause": CAUSE}]
    text = report(cassette, "--hosts", f"{host}=voice").stdout
    latency = text.split("Latency per operation (ms)")[1].split("Traffic over time")[0]
    assert f"latency: not recorded — 3 interaction(s) {CAUSE}" in latency
    html = report(cassette, "--hosts", f"{host}=voice", "--format", "html", "--out", "-").stdout
    assert f"latency: not recorded — 3 interaction(s) {CAUSE}" in html
