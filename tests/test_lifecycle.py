"""The session lifecycle table against a scripted sequence whose true final state is known.

Three real ``chime-tap record --upstream simulator`` runs append to one cassette, driven by
real boto3 clients in both namespaces: SDK Voice (``voice-chime.us-east-1.amazonaws.com``) and
legacy (``chime.us-east-1.amazonaws.com`` in the first run, ``service.chime.aws.amazon.com`` in
the second). The runs use ``--seed 1``, ``--seed 2`` and ``--seed 1`` again: the third run's
first Create gets the same session id as the first run's, on the same voice connector and
namespace, which is two sessions created at different times under one id. The expected table
is written out by hand from the script; only the ids and timestamps the service answered with
are read back from the client.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pandas as pd
import pytest

from chime_tap.demo_workload import control_via
from support.procs import CONNECTOR, assert_no_secrets, chime_tap, voice_client

A, B = "+12065550100", "+14015550101"
LEGACY_1 = "https://chime.us-east-1.amazonaws.com"
LEGACY_2 = "https://service.chime.aws.amazon.com"


def record_run(tmp_path: Path, seed: int):
    return chime_tap(
        ["record", "--upstream", "simulator", "--seed", str(seed), "--cassette", str(tmp_path / "c.yaml")],
        confdir=tmp_path / "confdir",
    )  # fmt: skip


def create(client, **extra) -> dict:
    return client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"], **extra
    )["ProxySession"]


def fails(status: int, call) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """Run the script; (cassette, what the service answered about each session, by name)."""
    tmp_path = tmp_path_factory.mktemp("lifecycle")
    said: dict[str, dict] = {}

    # Run 1, --seed 1: create, update, a 404, a legacy session, list-only closure, delete.
    with record_run(tmp_path, 1) as proxy:
        voice = voice_client(proxy)
        raw = voice_client(proxy, parameter_validation=False)
        legacy = voice_client(proxy, endpoint=LEGACY_1)
        said["A"] = create(voice, ExpiryMinutes=60)
        said["B"] = create(voice, ExpiryMinutes=1)
        voice.update_proxy_session(
            VoiceConnectorId=CONNECTOR, ProxySessionId=said["A"]["ProxySessionId"],
            Capabilities=["SMS"], ExpiryMinutes=90,
        )  # fmt: skip
        fails(404, lambda: voice.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="does-not-exist"))  # fmt: skip
        said["L"] = create(legacy)
        legacy.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=said["L"]["ProxySessionId"])  # fmt: skip
        control_via(proxy.url)("POST", "/clock/advance?seconds=120")  # B's minute is over
        listed = voice.list_proxy_sessions(VoiceConnectorId=CONNECTOR)["ProxySessions"]
        said["B listed"] = next(s for s in listed if s["ProxySessionId"] == said["B"]["ProxySessionId"])  # fmt: skip
        voice.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=said["A"]["ProxySessionId"])  # fmt: skip
        fails(404, lambda: voice.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=said["A"]["ProxySessionId"]))  # fmt: skip
        fails(400, lambda: raw.get_proxy_session(VoiceConnectorId="BAD_ID", ProxySessionId="s1"))
        assert proxy.stop(signal.SIGTERM) == 0

    # Run 2, --seed 2, appended: a legacy session listed then deleted; one more voice session.
    with record_run(tmp_path, 2) as proxy:
        voice = voice_client(proxy)
        legacy = voice_client(proxy, endpoint=LEGACY_2)
        said["M"] = create(legacy)
        legacy.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        legacy.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=said["M"]["ProxySessionId"])  # fmt: skip
        said["C"] = create(voice)
        fails(404, lambda: voice.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="does-not-exist"))  # fmt: skip
        assert proxy.stop(signal.SIGTERM) == 0

    # Run 3, --seed 1 again: its first Create hands out A's id once more, a new session.
    with record_run(tmp_path, 1) as proxy:
        voice = voice_client(proxy)
        said["A again"] = create(voice, ExpiryMinutes=30)
        voice.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=said["A again"]["ProxySessionId"])  # fmt: skip
        assert proxy.stop(signal.SIGTERM) == 0

    assert said["A again"]["ProxySessionId"] == said["A"]["ProxySessionId"]  # what the runs rely on
    assert said["B listed"]["Status"] == "Closed" and said["B listed"]["EndedTimestamp"]
    assert_no_secrets(tmp_path)
    return tmp_path / "c.yaml", said


# (name, namespace, calls, final_status, operation that said it, deleted, expiry_minutes),
# in the order the sessions were first acknowledged. Written from the script above.
EXPECTED = [
    ("A", "voice", 4, "Deleted", "DeleteProxySession", True, 90),  # create, update, delete, 404
    ("B", "voice", 1, "Closed", "ListProxySessions", False, 1),  # closed: only the List says so
    ("L", "legacy", 2, "Open", "GetProxySession", False, None),  # create, get
    ("M", "legacy", 2, "Deleted", "DeleteProxySession", True, None),  # create, (listed), delete
    ("C", "voice", 1, "Open", "CreateProxySession", False, None),
    ("A again", "voice", 2, "Open", "GetProxySession", False, 30),  # same id as A: its own row
]


def report_json(cassette: Path) -> dict:
    """``chime-tap report --format json`` as a real process."""
    done = subprocess.run(
        [sys.executable, "-m", "chime_tap", "report", str(cassette), "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_lifecycle_table_follows_what_the_service_said(scripted) -> None:
    cassette, said = scripted
    sessions = report_json(cassette)["sessions"]
    got = [
        (s["proxy_session_id"], s["namespace"], s["calls"], s["final_status"],
         s["status_source"].split(" at ")[0], s["deleted"], s["expiry_minutes"])
        for s in sessions
    ]  # fmt: skip
    want = [
        (said[name]["ProxySessionId"], ns, calls, status, source, deleted, expiry)
        for name, ns, calls, status, source, deleted, expiry in EXPECTED
    ]
    assert got == want
    # No row for what the service never acknowledged: the 404s, the 400 on connector BAD_ID.
    assert {s["voice_connector_id"] for s in sessions} == {CONNECTOR}
    assert "does-not-exist" not in {s["proxy_session_id"] for s in sessions}


def test_timestamps_are_the_ones_the_service_answered_with(scripted) -> None:
    cassette, said = scripted
    rows = report_json(cassette)["sessions"]
    by_name = dict(zip([name for name, *_ in EXPECTED], rows, strict=True))

    def at(text: str) -> pd.Timestamp:
        return pd.Timestamp(text).tz_convert("UTC")

    for name, row in by_name.items():
        assert at(row["created"]) == at(said[name]["CreatedTimestamp"]), name
    # B: closed by its expiry, as the List said; it did not outlive its one minute.
    b = by_name["B"]
    assert at(b["ended"]) == at(said["B listed"]["EndedTimestamp"])
    assert b["observed_minutes"] == pytest.approx(
        (at(b["ended"]) - at(b["created"])).total_seconds() / 60
    )
    assert not b["outlived_expiry"]
    # The two sessions under A's id are apart: each starts at its own creation.
    first, again = by_name["A"], by_name["A again"]
    assert at(first["created"]) < at(again["created"])
    assert at(first["last_seen"]) < at(again["first_seen"])
    assert not first["outlived_expiry"] and not again["outlived_expiry"]


def test_text_report_names_the_namespace_of_each_session(scripted) -> None:
    cassette, said = scripted
    done = subprocess.run(
        [sys.executable, "-m", "chime_tap", "report", str(cassette)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("Proxy-session lifecycles")[1].split("Clock skew")[0]
    lines = [line for line in section.splitlines() if CONNECTOR in line]
    assert len(lines) == len(EXPECTED)
    for line, (name, ns, *_rest) in zip(lines, EXPECTED, strict=True):
        assert said[name]["ProxySessionId"] in line and f"  {ns}  " in line, line
