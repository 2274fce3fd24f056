"""`replay --on-miss forward --redact-phone-numbers` records forwarded calls as `record
--redact-phone-numbers` does: the cassette and what replay says about each call carry the
pseudonyms, never a real number, and the cassette still replays the same client offline.

A walkthrough found forwarded calls written with real numbers into a cassette recorded with
redaction (replay had no such switch). The expected fakes come from the pseudonym function
itself (``pseudonymize_phone``), not from what the writer wrote.

A real `chime-tap replay` between boto3 and a scripted loopback upstream, then a second,
offline replay of what it recorded; the refusal without forwarding, in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import botocore.exceptions
import pytest

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.phones import pseudonymize_phone
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cli import main
from support.procs import CONNECTOR, chime_tap, voice_client
from support.upstream import ScriptedUpstream

GOOD, OTHER, BAD = "+12065550177", "+14015550166", "206-555-0188"  # BAD fails E.164
# Every way a real number could be spelled in a line or a file.
REAL = (GOOD, GOOD[1:], OTHER, OTHER[1:], BAD, BAD.replace("-", ""), "555-0188", "5550177")


def _real_in(text: str) -> list[str]:
    return [r for r in REAL if r in text]


def _create(client, numbers: list[str]) -> dict:
    return client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=numbers, Capabilities=["Voice"]
    )


def test_forwarded_calls_are_recorded_said_and_replayed_with_pseudonyms(tmp_path: Path) -> None:
    served = tmp_path / "served.yaml"
    served.write_text("version: 1\ninteractions: []\n")
    record_to = tmp_path / "fwd.yaml"
    with ScriptedUpstream() as upstream:
        args = ["replay", "--cassette", str(served), "--on-miss", "forward",
                "--record-to", str(record_to), "--redact-phone-numbers",
                "--hosts", f"{upstream.host}=voice"]  # fmt: skip
        with chime_tap(args, confdir=tmp_path / "conf") as proxy:
            client = voice_client(proxy, endpoint=upstream.url)
            upstream.fail_next(400)  # as the service answers the invalid number
            with pytest.raises(botocore.exceptions.ClientError, match="BadRequest"):
                _create(client, [GOOD, BAD])
            live = _create(client, [GOOD, OTHER])["ProxySession"]
            assert proxy.stop() == 0, proxy.output
        sent = [json.loads(s.body) for s in upstream.seen]
    # The upstream got the real numbers: redaction is about what is kept, not what passes.
    assert [s["ParticipantPhoneNumbers"] for s in sent] == [[GOOD, BAD], [GOOD, OTHER]]
    assert [p["PhoneNumber"] for p in live["Participants"]] == [GOOD, OTHER]

    text = record_to.read_text()
    assert _real_in(text) == [], text
    items = load_cassette(record_to)["interactions"]
    assert [i["response"]["status"]["code"] for i in items] == [400, 201]
    bodies = [json.loads(i["request"]["body"]) for i in items]
    fakes = [pseudonymize_phone(n) for n in (GOOD, BAD, OTHER)]
    assert [b["ParticipantPhoneNumbers"] for b in bodies] == [fakes[:2], [fakes[0], fakes[2]]]
    answer = json.loads(items[1]["response"]["body"]["string"])
    assert [p["PhoneNumber"] for p in answer["ProxySession"]["Participants"]] == [
        fakes[0], fakes[2],
    ]  # fmt: skip
    (violation,) = items[0][META_KEY]["violations"]
    assert violation["pointer"] == "/ParticipantPhoneNumbers/1"
    assert f'"{fakes[1]}"' in violation["message"]

    # What replay said about them: the same pseudonyms, never a real number.
    assert _real_in(proxy.output) == [], proxy.output
    lines = [line for line in proxy.lines if "miss, forwarded upstream" in line]
    assert len(lines) == 2, proxy.output
    assert "1 violation(s): request body /ParticipantPhoneNumbers/1: " in lines[0]
    assert f'"{fakes[1]}"' in lines[0]  # the fake keeps the bad number's format
    assert lines[1].endswith("recorded as fwd.yaml #1")  # nothing wrong: no number said

    # The redacted cassette answers the same client, real numbers and all, with no upstream.
    args = ["replay", "--cassette", str(record_to)]
    with chime_tap(args, confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy, endpoint=upstream.url)
        replayed = _create(client, [GOOD, OTHER])["ProxySession"]
        assert proxy.stop() == 0, proxy.output
    assert [p["PhoneNumber"] for p in replayed["Participants"]] == [fakes[0], fakes[2]]
    assert replayed["ProxySessionId"] == live["ProxySessionId"]
    assert "1 hit(s), 0 miss(es)" in proxy.output, proxy.output


def test_redaction_is_refused_where_nothing_is_recorded(tmp_path: Path, capsys) -> None:
    served = tmp_path / "served.yaml"
    served.write_text("version: 1\ninteractions: []\n")
    assert main(["replay", "--cassette", str(served), "--redact-phone-numbers"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "chime-tap: --redact-phone-numbers: only with --on-miss forward "
        "(otherwise nothing is recorded)"
    ]
