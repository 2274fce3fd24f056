"""With phone redaction on, what the recorder says about a call (its log line, the violation
lines under it, mitmweb's comment, spy mode's differences) carries the pseudonym the cassette
carries for each number, never the real one; with it off, nothing changes.

In-process first (recording.said_about against the writer's own scrub of the same
interaction), then a real ``chime-tap record --redact-phones`` driven by boto3."""

from __future__ import annotations

import json
import logging
import re

import botocore.exceptions
import pytest
from mitmproxy.test import taddons
from test_spy import CONNECTOR as SPY_CONNECTOR
from test_spy import HOST as SPY_HOST
from test_spy import flow_of, item, run

from chime_tap.addons.record import Recorder
from chime_tap.api.hosts import DEFAULT_HOSTS
from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.phones import CallPhones, pseudonymize_phone
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.scrub import scrub_interaction
from chime_tap.recording import (
    UPSTREAM,
    Exchange,
    call_violations,
    comment_for,
    describe,
    log_line,
    said_about,
    said_note,
    said_path,
)
from chime_tap.semantic_diff import Difference, shown
from chime_tap.spy import Comparison
from support.procs import CONNECTOR, chime_tap, voice_client

HOST = "voice-chime.us-east-1.amazonaws.com"
SESSIONS = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
GOOD, BAD = "+12065550177", "206-555-0188"  # BAD fails the schema's E.164 pattern
# Every way the real numbers could be spelled in a line.
SPY_SESSIONS = f"/voice-connectors/{SPY_CONNECTOR}/proxy-sessions"
REAL = (GOOD, GOOD[1:], BAD, BAD.replace("-", ""), "555-0188", "5550177")


def exchange(request: dict, status: int, answer: dict) -> Exchange:
    return Exchange(
        request_headers={"Content-Type": ["application/json"]},
        request_body=json.dumps(request).encode(),
        status=status,
        reason="",
        response_headers={"Content-Type": ["application/json"]},
        response_body=json.dumps(answer).encode(),
        duration_ms=1.5,
        answered_by=UPSTREAM,
    )


def cassette_meta(ex: Exchange, method: str, path: str, violations, compared=None) -> dict:
    """The metadata as the writer puts it on disk with phone redaction (its own scrub)."""
    meta = ex.meta(0.0, None, violations, compared.meta() if compared is not None else None)
    item = ex.interaction(method, f"https://{HOST}{path}", meta)
    return scrub_interaction(item, redact_phones=True)


def failing_create() -> tuple:
    call = describe("POST", HOST, SESSIONS, 443, DEFAULT_HOSTS)
    ex = exchange(
        {"ParticipantPhoneNumbers": [GOOD, BAD], "Capabilities": ["Voice"]},
        400,
        {"Code": "BadRequest", "Message": f"bad number {BAD}"},
    )
    violations = call_violations(call, ex, SESSIONS)
    return call, ex, violations


def has_real(text: str) -> list[str]:
    return [r for r in REAL if r in text]


def test_a_violation_quoting_a_number_says_the_cassettes_pseudonym() -> None:
    call, ex, violations = failing_create()
    assert any(BAD in v.message for v in violations)  # what the old line printed
    line, comment = said_about(call, "POST", SESSIONS, ex, violations, redact_phones=True)
    assert has_real(line) == [] and has_real(comment) == []
    fake = pseudonymize_phone(BAD)  # the shape kept, other digits
    assert re.fullmatch(r"\d{3}-\d{3}-\d{4}", fake) and fake != BAD
    on_disk = cassette_meta(ex, "POST", SESSIONS, violations)[META_KEY]["violations"]
    said = [f"{v['part']} {v['pointer']}: {v['message']}" for v in on_disk]
    assert f'"{fake}"' in said[0]
    assert line.startswith(
        f"CreateProxySession connector={CONNECTOR} -> 400 in 1.5 ms, "
        f"{len(said)} violation(s): {said[0]}"
    )
    assert [f"- {s}" for s in said] == comment.splitlines()[1:]


def test_without_redaction_nothing_changes() -> None:
    call, ex, violations = failing_create()
    line, comment = said_about(call, "POST", SESSIONS, ex, violations)
    assert line == log_line(call, "POST", SESSIONS, 400, 1.5, violations, None)
    assert comment == comment_for(call, violations, None)
    assert BAD in line and BAD in comment
    ex.body_note = f"note {GOOD}"
    assert said_note(ex) == ex.body_note
    assert said_path(f"{SESSIONS}/{GOOD}") == f"{SESSIONS}/{GOOD}"


def test_spy_differences_say_what_the_cassette_keeps() -> None:
    call = describe("GET", HOST, f"{SESSIONS}/s1", 443, DEFAULT_HOSTS)
    ex = exchange({}, 200, {"ProxySession": {"Participants": [{"PhoneNumber": GOOD}]}})
    other = "+14155550123"  # the baseline's number, known to no body of this call
    compared = Comparison(
        "base.yaml #1",
        "exact",
        [
            Difference(
                "member changed", "/ProxySession/Participants/0/PhoneNumber",
                json.dumps(other), json.dumps(GOOD),
            )
        ],
    )  # fmt: skip
    before = (compared.summary(), compared.comment())
    line, comment = said_about(call, "GET", f"{SESSIONS}/s1", ex, [], compared=compared)
    assert GOOD in line and other in line  # off: as before
    line, comment = said_about(
        call, "GET", f"{SESSIONS}/s1", ex, [], compared=compared, redact_phones=True
    )
    assert (compared.summary(), compared.comment()) == before  # the caller's is left alone
    assert has_real(line + comment) == [] and other not in line + comment
    (kept,) = cassette_meta(ex, "GET", f"{SESSIONS}/s1", [], compared)[META_KEY]["differences"]
    assert kept["baseline"] == json.dumps(pseudonymize_phone(other))
    assert kept["live"] == json.dumps(pseudonymize_phone(GOOD))
    shown = f"member changed {kept['what']}: {kept['baseline']} -> {kept['live']}"
    assert line.endswith(f"1 difference(s) from baseline base.yaml #1: {shown}")
    assert comment.splitlines()[-1] == f"~ {shown}"


def test_a_number_in_the_path_is_the_cassette_uris() -> None:
    path = f"{SESSIONS}/%2B12065550177/extra"  # under the API's paths, but no operation
    call = describe("GET", HOST, path, 443, DEFAULT_HOSTS)
    assert call is not None and call.route is None
    ex = exchange({}, 404, {"Message": "no"})
    ex.request_body = None
    violations = call_violations(call, ex, path)
    line, comment = said_about(call, "GET", path, ex, violations, redact_phones=True)
    uri = cassette_meta(ex, "GET", path, violations)["request"]["uri"]
    fake_path = uri.removeprefix(f"https://{HOST}")
    assert "2065550177" not in fake_path
    assert line.startswith(f"not a proxy-session call: GET {fake_path} -> 404")
    assert said_path(path, True) == fake_path
    assert "2065550177" not in line + comment
    assert comment.splitlines()[1] == f"- path: not a proxy-session call: GET {fake_path}"


def test_call_phones_learns_as_the_writer_does() -> None:
    phones = CallPhones(json.dumps({"PhoneNumber": BAD}).encode(), b"")
    assert phones.text(f"quoted {BAD}!") == f"quoted {pseudonymize_phone(BAD)}!"
    assert phones.text(f"any {GOOD}") == f"any {pseudonymize_phone(GOOD)}"
    assert phones.segment(GOOD) == pseudonymize_phone(GOOD)


def test_the_recorder_comments_and_logs_the_cassettes_pseudonyms(tmp_path, caplog) -> None:
    """The addon only passes the switch: mitmweb's comment and the line, in-process."""
    caplog.set_level(logging.INFO)
    create = item(
        "POST", f"http://{SPY_HOST}{SPY_SESSIONS}",
        {"ParticipantPhoneNumbers": [GOOD, BAD], "Capabilities": ["Voice"]},
        400, {"Code": "BadRequest", "Message": "no"},
    )  # fmt: skip
    addon = Recorder()
    f = flow_of(create)
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            chime_hosts=[SPY_HOST],
            chime_cassette=str(tmp_path / "x.yaml"),
            chime_redact_phones=True,
        )
        run(addon, f)
    addon.done()
    (kept,) = load_cassette(tmp_path / "x.yaml")["interactions"]
    (violation,) = kept[META_KEY]["violations"]
    said = f"{violation['part']} {violation['pointer']}: {violation['message']}"
    assert f'"{pseudonymize_phone(BAD)}"' in said
    assert f.comment.splitlines() == ["CreateProxySession", f"- {said}"]
    (line,) = [r.message for r in caplog.records if "CreateProxySession connector" in r.message]
    assert line.endswith(f"1 violation(s): {said}")
    assert has_real(f.comment + line) == []


# --- a real process -----------------------------------------------------------------------------


def _create(client, numbers: list[str]) -> int:
    try:
        answer = client.create_proxy_session(
            VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=numbers, Capabilities=["Voice"]
        )
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
    return answer["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("flag", ["--redact-phones", "--redact-phone-numbers"])
def test_record_with_redaction_logs_the_cassettes_pseudonyms(tmp_path, flag) -> None:
    """The walkthrough: a Create whose second number fails validation, then one that passes,
    in spy mode against a baseline holding other numbers (so the differences quote numbers)."""
    baseline = tmp_path / "base.yaml"
    proxy = chime_tap(
        ["record", "--upstream", "simulator", "--seed", "1", "--cassette", str(baseline)],
        confdir=tmp_path / "conf",
    )
    try:
        client = voice_client(proxy)
        assert _create(client, ["+12065550111", BAD]) == 400
        assert _create(client, ["+12065550133", "+12065550144"]) == 201
    finally:
        assert proxy.stop() == 0, proxy.output

    cassette = tmp_path / "x.yaml"
    proxy = chime_tap(
        ["record", "--upstream", "simulator", "--seed", "1", flag,
         "--compare-to", str(baseline), "--cassette", str(cassette)],
        confdir=tmp_path / "conf",
    )  # fmt: skip
    try:
        client = voice_client(proxy)
        assert _create(client, [GOOD, BAD]) == 400
        assert _create(client, [GOOD, "+12065550166"]) == 201
    finally:
        assert proxy.stop() == 0, proxy.output
    output = proxy.output
    real = [*REAL, "+12065550166", "2065550166", "2065550111", "2065550133", "2065550144"]
    assert [r for r in real if r in output] == [], output

    items = load_cassette(cassette)["interactions"]
    assert len(items) == 2
    on_disk = json.dumps(items)
    assert [r for r in real if r in on_disk] == []
    (violation,) = items[0][META_KEY]["violations"]
    said = f"{violation['part']} {violation['pointer']}: {violation['message']}"
    fake = pseudonymize_phone(BAD)
    assert f'"{fake}"' in said
    lines = [line for line in proxy.lines if "CreateProxySession connector=" in line]
    assert len(lines) == 2, output
    assert "-> 400 in " in lines[0] and f"1 violation(s): {said}" in lines[0]
    # spy mode's differences: every pseudonym the lines say is one the cassette carries
    fakes = set(re.findall(r"\+999\d+", "\n".join(lines)))
    assert fakes and fakes <= set(re.findall(r"\+999\d+", on_disk)), (fakes, output)
    assert all("difference(s) from baseline" in line for line in lines), output


def test_a_number_cut_where_a_value_is_clipped_keeps_none_of_its_digits() -> None:
    """A diff clips a long value: the number at the cut is too short to pseudonymize, and its
    first digits (country and area code) are the real number's; the line and the cassette say
    ``"+...`` for it."""
    answer = {"Participants": [{"PhoneNumber": GOOD, "ProxyPhoneNumber": "+12065550199"}] * 3}
    clipped = shown(answer)
    assert clipped.endswith('"ProxyPhoneNumber": "+12065...')  # the cut, where it falls
    ex = exchange({}, 200, answer)
    said = CallPhones(ex.request_body, ex.response_body).text(clipped)
    assert said == clipped.replace(GOOD, pseudonymize_phone(GOOD)).replace('"+12065...', '"+...')
    meta = {**ex.meta(0.0, None, []), "body_note": clipped}  # any string of the metadata
    item = ex.interaction("GET", f"https://{HOST}{SESSIONS}/ps-1", meta)
    assert scrub_interaction(item, redact_phones=True)[META_KEY]["body_note"] == said
