"""The vcrpy configuration: real boto3 replaying a lifecycle recorded through the real proxy.

``record_lifecycle`` is shared with the plugin and proxy-replay tests.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import vcr

from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.phones import pseudonymize_phone
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.scrub import REDACTED
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError
from chime_tap.recording import NO_RESPONSE, NOBODY, recording_meta
from chime_tap.vcr_config import IndexedCassette, chime_vcr, make_vcr
from support.procs import CONNECTOR, SECRETS, assert_no_secrets, chime_tap, voice_client

PHONES = ["+14015550101", "+14015550102"]


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "ResponseMetadata"}


def run_lifecycle(client) -> list[Any]:
    """Create, get, update, get, list, delete, get-after-delete: parsed results (errors as codes)."""
    out: list[Any] = []
    created = client.create_proxy_session(
        VoiceConnectorId=CONNECTOR,
        ParticipantPhoneNumbers=PHONES,
        Capabilities=["Voice", "SMS"],
        ExpiryMinutes=60,
        Name="demo",
    )
    out.append(_strip(created))
    sid = created["ProxySession"]["ProxySessionId"]
    out.append(_strip(client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)))
    out.append(
        _strip(
            client.update_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ProxySessionId=sid,
                Capabilities=["Voice"],
                ExpiryMinutes=30,
            )
        )
    )
    out.append(_strip(client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)))
    out.append(_strip(client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open")))
    out.append(_strip(client.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)))
    try:
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    except botocore.exceptions.ClientError as e:
        out.append(e.response["Error"]["Code"])
    return out


def record_lifecycle(directory: Path, name: str = "lifecycle.yaml") -> tuple[Path, list[Any]]:
    """Record ``run_lifecycle`` with boto3 through `chime-tap record --upstream simulator`."""
    directory.mkdir(parents=True, exist_ok=True)
    cassette = directory / name
    args = ["record", "--cassette", str(cassette), "--upstream", "simulator"]
    with chime_tap(args, confdir=directory / "record-conf") as proxy:
        results = run_lifecycle(voice_client(proxy))
        assert proxy.stop() == 0, proxy.output
    return cassette, results


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory) -> tuple[Path, list[Any]]:
    return record_lifecycle(tmp_path_factory.mktemp("recorded"))


def test_recorded_lifecycle_replays_in_process_with_every_signature_different(lifecycle):
    cassette, recorded = lifecycle
    assert len(load_cassette(cassette)["interactions"]) == 7
    assert recorded[-1] == "NotFoundException"
    with chime_vcr.use_cassette(str(cassette)) as cas:
        replayed = run_lifecycle(voice_client(None))
        assert cas.play_count == 7
    assert isinstance(cas, IndexedCassette)
    assert replayed == recorded


def test_plain_vcrpy_with_default_matchers_replays_the_same_cassette(lifecycle):
    cassette, recorded = lifecycle
    plain = vcr.VCR(record_mode="none")
    with plain.use_cassette(str(cassette)) as cas:
        replayed = run_lifecycle(voice_client(None))
    assert replayed == recorded
    assert cas.all_played


def test_a_changed_body_fails_naming_the_closest_call_and_the_json_pointer(lifecycle):
    cassette, recorded = lifecycle
    sid = recorded[0]["ProxySession"]["ProxySessionId"]
    with (
        chime_vcr.use_cassette(str(cassette)) as cas,
        pytest.raises(botocore.exceptions.HTTPClientError) as info,
    ):
        voice_client(None).update_proxy_session(
            VoiceConnectorId=CONNECTOR, ProxySessionId=sid, Capabilities=["Voice"], ExpiryMinutes=45
        )
    text = str(info.value)
    assert "no recorded interaction matches it" in text
    assert (
        f"POST https://voice-chime.us-east-1.amazonaws.com/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}"
        in text
    )
    assert "json_body differs: body differs at /ExpiryMinutes: this request 45, recorded 30" in text
    assert len(cas.misses) == 1


def test_recording_through_vcrpy_scrubs_with_the_recorders_scrubber_then_replays(tmp_path):
    cassette = tmp_path / "vcr-recorded.json"
    confdir = tmp_path / "conf"
    with chime_tap(["simulate"], confdir=confdir) as sim:
        with make_vcr(record_mode="once", redact_phones=True).use_cassette(str(cassette)):
            recorded = run_lifecycle(voice_client(sim))
        sim.stop()
    assert_no_secrets(cassette)
    assert stat.S_IMODE(cassette.stat().st_mode) == 0o600  # like the recorder's, whatever the umask
    doc = json.loads(cassette.read_text())  # JSON by extension
    first = doc["interactions"][0]
    headers = {k.lower(): v for k, v in first["request"]["headers"].items()}
    assert headers["authorization"] == [REDACTED]
    assert "x-amz-security-token" not in headers
    for phone in PHONES:
        assert phone not in cassette.read_text()
    # The client sends real numbers; the cassette holds pseudonyms: replay still matches.
    with make_vcr().use_cassette(str(cassette)) as cas:
        replayed = run_lifecycle(voice_client(None))
    assert cas.all_played
    # Responses come back pseudonymized, everything else as recorded.
    participant = replayed[0]["ProxySession"]["Participants"][0]["PhoneNumber"]
    assert recorded[0]["ProxySession"]["Participants"][0]["PhoneNumber"] == PHONES[0]
    assert participant == pseudonymize_phone(PHONES[0]) != PHONES[0]
    assert (
        replayed[0]["ProxySession"]["ProxySessionId"]
        == recorded[0]["ProxySession"]["ProxySessionId"]
    )
    assert replayed[-1] == recorded[-1] == "NotFoundException"
    assert all(secret not in cassette.read_text() for secret in SECRETS)


def test_record_modes_and_matchers_are_checked_up_front():
    with pytest.raises(
        ValueError, match="record_mode 'sometimes' is not one of: none, once, new_episodes, all"
    ):
        make_vcr(record_mode="sometimes")
    with pytest.raises(ValueError, match=r"unknown matcher.*'bdy'"):
        make_vcr(match_on=["chime_path", "bdy"])
    with pytest.raises(ValueError, match="not one of: none, once"):
        chime_vcr.use_cassette("x.yaml", record_mode="any").__enter__()


def test_a_broken_cassette_raises_a_one_line_error_instead_of_replaying_nothing(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ninteractions: [\n")
    with pytest.raises(CassetteError, match=r"broken.yaml: not valid YAML") as info:
        chime_vcr.use_cassette(str(broken)).__enter__()
    assert "\n" not in str(info.value)


BASE_URI = (
    f"https://voice-chime.us-east-1.amazonaws.com/voice-connectors/{CONNECTOR}/proxy-sessions"
)


def _get_interaction(sid: str) -> dict[str, Any]:
    uri = f"{BASE_URI}/{sid}"
    body = json.dumps(
        {"ProxySession": {"ProxySessionId": sid, "VoiceConnectorId": CONNECTOR, "Status": "Open"}}
    )
    return make_interaction(
        method="GET",
        uri=uri,
        request_headers={},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=body,
    )


def _failed_interaction(sid: str, error: str = "Connection refused") -> dict[str, Any]:
    """A GetProxySession that got no response, as the recorder writes it (status 0)."""
    good = _get_interaction(sid)
    return make_interaction(
        method="GET",
        uri=good["request"]["uri"],
        request_headers={},
        request_body=None,
        status=NO_RESPONSE,
        reason=f"chime-tap: no response ({error})",
        response_headers={},
        response_body=b"",
        meta=recording_meta(
            started=1.7e9,
            duration_ms=3.0,
            call=None,
            violations=[],
            answered_by=NOBODY,
            error=error,
        ),
    )


def _retried_cassette(path: Path) -> Path:
    """s1 failed then answered (a client's retry); s2 only ever failed."""
    with CassetteWriter(path) as w:
        w.append(_failed_interaction("s1"))
        w.append(_get_interaction("s1"))
        w.append(_failed_interaction("s2"))
    return path


def test_a_failed_call_is_never_played_back_its_retry_is(tmp_path):
    cassette = _retried_cassette(tmp_path / "retried.yaml")
    client = voice_client(None)
    with chime_vcr.use_cassette(str(cassette)) as cas:
        got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
        assert got["ProxySession"]["ProxySessionId"] == "s1"
        assert cas.play_counts == {1: 1}
        assert cas.all_played  # the failed calls cannot be played: they don't count
        # The answered call was played; the failed one is no second match for it.
        with pytest.raises(botocore.exceptions.HTTPClientError) as again:
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
        # s2 was recorded only as a failed call: a miss, explained by an answered call.
        with pytest.raises(botocore.exceptions.HTTPClientError) as failed_only:
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s2")
    assert "it matches 1 recorded interaction, but that has already been played back" in str(
        again.value
    )
    text = str(failed_only.value)
    assert "no recorded interaction matches it (the closest differ in chime_path)" in text
    closest = text.split("Closest recorded requests:", 1)[1].splitlines()
    assert closest[1].strip() == f"1. GET {BASE_URI}/s1"
    assert closest[2].strip() == "chime_path differs: path: this request " + (
        f"/voice-connectors/{CONNECTOR}/proxy-sessions/s2, recorded "
        f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1"
    )
    assert len(closest) < 4 or not closest[3].strip().startswith("2.")


def _two_gets_cassette(path: Path) -> Path:
    """s1 recorded twice: Open, then Closed."""
    closed = _get_interaction("s1")
    closed["response"]["body"]["string"] = closed["response"]["body"]["string"].replace(
        '"Open"', '"Closed"'
    )
    with CassetteWriter(path) as w:
        w.append(_get_interaction("s1"))
        w.append(closed)
    return path


def _statuses(cassette: Path, calls: int, **settings: Any) -> list[str]:
    client, out = voice_client(None), []
    with make_vcr(**settings.pop("vcr", {})).use_cassette(str(cassette), **settings):
        for _ in range(calls):
            try:
                got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
                out.append(got["ProxySession"]["Status"])
            except botocore.exceptions.HTTPClientError:
                out.append("miss")
    return out


def test_exhausted_is_fail_by_default_and_repeat_plays_the_last_answer_again(tmp_path):
    """The proxy's --exhausted, with the same default and meaning: recorded order, then fail or repeat."""
    cassette = _two_gets_cassette(tmp_path / "two.yaml")
    assert _statuses(cassette, 3) == ["Open", "Closed", "miss"]
    assert _statuses(cassette, 4, exhausted="repeat") == ["Open", "Closed", "Closed", "Closed"]
    assert _statuses(cassette, 4, vcr={"exhausted": "repeat"}) == [
        "Open", "Closed", "Closed", "Closed"
    ]  # fmt: skip
    # Set on the VCR, overridden per cassette.
    assert _statuses(cassette, 3, vcr={"exhausted": "repeat"}, exhausted="fail") == [
        "Open", "Closed", "miss"
    ]  # fmt: skip
    # vcrpy's own keyword still works, its way: the first answer again.
    assert _statuses(cassette, 3, allow_playback_repeats=True) == ["Open", "Open", "Open"]
    with pytest.raises(ValueError, match="exhausted: 'always' is not one of repeat, fail"):
        make_vcr(exhausted="always")
    with pytest.raises(ValueError, match="exhausted: 'always' is not one of repeat, fail"):
        chime_vcr.use_cassette(str(cassette), exhausted="always").__enter__()


def test_failed_calls_stay_in_a_cassette_vcrpy_saves_again(tmp_path):
    cassette = _retried_cassette(tmp_path / "retried.json")
    with chime_tap(["simulate"], confdir=tmp_path / "conf") as sim:
        client = voice_client(sim)
        with make_vcr(record_mode="new_episodes").use_cassette(str(cassette)) as cas:
            got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
            listed = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)  # recorded now
        sim.stop()
    assert got["ProxySession"]["Status"] == "Open" and listed["ProxySessions"] == []
    assert cas.dirty is False  # saved
    items = load_cassette(cassette)["interactions"]
    assert [i["response"]["status"]["code"] for i in items] == [0, 200, 0, 200]
    assert (
        items[0]["response"]["status"]["message"] == "chime-tap: no response (Connection refused)"
    )
    # Saved by vcrpy (without chime-tap's metadata), it still replays the answered call only.
    with chime_vcr.use_cassette(str(cassette)):
        again = voice_client(None).get_proxy_session(
            VoiceConnectorId=CONNECTOR, ProxySessionId="s1"
        )
    assert again["ProxySession"] == got["ProxySession"]


def test_lookups_compare_only_requests_with_the_same_key(tmp_path):
    """An extra, unindexable matcher runs once per request, not once per recorded interaction."""
    cassette = tmp_path / "many.json"
    with CassetteWriter(cassette) as w:
        for i in range(300):
            w.append(_get_interaction(f"s{i}"))
    calls = []

    def counting(r1, r2):
        calls.append(r2.uri)

    v = make_vcr()
    v.register_matcher("counting", counting)
    client = voice_client(None)
    with v.use_cassette(str(cassette), additional_matchers=["counting"]):
        for i in (5, 150, 299):
            got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=f"s{i}")
            assert got["ProxySession"]["ProxySessionId"] == f"s{i}"
    # can_play_response_for and play_response each look once: 2 comparisons per request.
    assert len(calls) == 6
    assert all(u.endswith(("/s5", "/s150", "/s299")) for u in calls)


def test_chime_vcr_is_importable_from_the_package():
    import chime_tap

    assert chime_tap.chime_vcr is chime_vcr
    assert chime_tap.make_vcr is make_vcr
    assert chime_vcr.record_mode == "none"
    with pytest.raises(AttributeError):
        chime_tap.no_such_thing  # noqa: B018


# Run in a fresh interpreter: this module has already built chime_vcr by importing it.
_LAZY_VCR = """
import threading
import vcr

built = []
init = vcr.VCR.__init__


def counting(self, *args, **kwargs):
    built.append(self)
    init(self, *args, **kwargs)


vcr.VCR.__init__ = counting
import chime_tap
import chime_tap.vcr_config as config

assert built == [], f"importing chime_tap.vcr_config built {len(built)} VCR(s)"
assert "chime_vcr" not in vars(config)
seen = []
threads = [threading.Thread(target=lambda: seen.append(config.chime_vcr)) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
from chime_tap.vcr_config import chime_vcr

assert all(v is chime_vcr for v in seen) and chime_tap.chime_vcr is chime_vcr
assert built == [chime_vcr], f"{len(built)} VCRs built for chime_vcr"
"""


def test_chime_vcr_is_built_on_first_access_once_not_on_import():
    done = subprocess.run([sys.executable, "-c", _LAZY_VCR], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_request_filter_keeps_header_names_as_sent_and_bytes_as_text():
    from vcr.request import Request

    from chime_tap.vcr_config import replace_credentials

    headers = {"X-Amz-Date": b"20240101T000000Z", "Authorization": b"AWS4-HMAC-SHA256 x", "a": "b"}
    out = replace_credentials(Request("GET", "https://h.example/", None, headers))
    assert list(out.headers.items()) == [
        ("X-Amz-Date", "20240101T000000Z"),
        ("Authorization", REDACTED),
        ("a", "b"),
    ]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_request_body_credentials_never_reach_a_recorded_cassette(tmp_path: Path) -> None:
    """The vcrpy filter scrubs credential fields in request bodies too, with or without phones."""
    from vcr.request import Request

    from chime_tap.vcr_config import replace_credentials

    body = b'{"ClientSecret": "s3cr3t-value", "Name": "kept"}'
    for redact_phones in (False, True):
        request = Request("POST", "https://oidc.us-east-1.amazonaws.com/token", body, {})
        out = replace_credentials(request, redact_phones=redact_phones)
        assert b"s3cr3t-value" not in out.body and b'"Name": "kept"' in out.body
