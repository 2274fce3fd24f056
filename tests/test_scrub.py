"""Scrubbing: credentials never survive; phone pseudonyms are deterministic, E.164 and keyed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chime_tap.addons.scrub import (
    REDACT_KEY_ENV,
    REDACTED,
    pseudonymize_phone,
    redact_phone_numbers,
    redact_phone_numbers_in_body,
    scrub_headers,
    scrub_interaction,
    scrub_uri,
)
from chime_tap.addons.validation import FastEngine
from support.procs import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, FAKE_SESSION_TOKEN, SECRETS

CREDENTIALS = Credentials(FAKE_ACCESS_KEY, FAKE_SECRET_KEY, FAKE_SESSION_TOKEN)
URL = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions"
NUMBERS = [
    "+12065550100",
    "+14015550101",
    "+19135550199",
    "+442071838750",
    "12065550100",
    "+4915123456789",
]


def signed_headers() -> dict[str, str]:
    request = AWSRequest(method="POST", url=URL, data=b'{"Capabilities": ["Voice"]}')
    SigV4Auth(CREDENTIALS, "chime", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def presigned_url() -> str:
    request = AWSRequest(method="GET", url=URL + "?max-results=5")
    SigV4QueryAuth(CREDENTIALS, "chime", "us-east-1", expires=60).add_auth(request)
    return request.url


def leaks(value: Any) -> list[str]:
    text = json.dumps(value, default=str)
    return [s for s in SECRETS if s in text]


# --- credentials ----------------------------------------------------------------------------------


def test_real_sigv4_headers_lose_every_credential() -> None:
    headers = signed_headers()
    assert leaks(headers)  # the fixture really carries them
    scrubbed = scrub_headers(headers)
    assert leaks(scrubbed) == []
    assert scrubbed["Authorization"] == REDACTED
    assert not any(k.lower() == "x-amz-security-token" for k in scrubbed)
    assert scrubbed["X-Amz-Date"] == headers["X-Amz-Date"]


def test_scrub_headers_is_case_insensitive_keeps_lists_and_copies() -> None:
    headers = {
        "AUTHORIZATION": ["AWS4-HMAC-SHA256 Credential=x"],
        "x-AMZ-security-TOKEN": ["t"],
        "Cookie": ["a=b"],
        "Set-Cookie": ["c=d"],
        "Proxy-Authorization": ["Basic abc"],
        "Content-Type": ["application/json"],
    }
    original = copy.deepcopy(headers)
    assert scrub_headers(headers) == {
        "AUTHORIZATION": [REDACTED],
        "Content-Type": ["application/json"],
    }
    assert headers == original


def test_presigned_uri_loses_every_credential() -> None:
    url = presigned_url()
    assert leaks(url)
    scrubbed = scrub_uri(url)
    assert leaks(scrubbed) == []
    assert "X-Amz-Signature=REDACTED" in scrubbed and "X-Amz-Credential=REDACTED" in scrubbed
    assert "max-results=5" in scrubbed and "X-Amz-Expires=60" in scrubbed
    assert scrubbed.startswith(URL + "?")


def test_scrub_uri_leaves_plain_uris_alone() -> None:
    for uri in (URL, URL + "?status=Open&next-token=a%2Fb", "/relative?x=1"):
        assert scrub_uri(uri) == uri


def full_interaction() -> dict[str, Any]:
    headers = {k: [v] for k, v in signed_headers().items()}
    return {
        "request": {
            "method": "GET",
            "uri": presigned_url(),
            "body": '{"ParticipantPhoneNumbers": ["+12065550100", "+14015550101"], "Capabilities": ["Voice"]}',
            "headers": headers,
        },
        "response": {
            "status": {"code": 201, "message": "Created"},
            "headers": {
                "Set-Cookie": [f"session={FAKE_SESSION_TOKEN}"],
                "X-Amz-Security-Token": [FAKE_SESSION_TOKEN],
            },
            "body": {
                "string": '{"ProxySession": {"Participants": [{"PhoneNumber": "+12065550100"}]}}'
            },
        },
        "chime_tap": {
            "violations": ["request body: +12065550100 is not allowed here"],
            "namespace": "voice",
        },
    }


def test_scrub_interaction_removes_credentials_everywhere_and_keeps_the_rest() -> None:
    item = full_interaction()
    original = copy.deepcopy(item)
    scrubbed = scrub_interaction(item)
    assert leaks(scrubbed) == []
    assert item == original  # a copy, not an edit
    assert scrubbed["chime_tap"] == item["chime_tap"]
    assert scrubbed["request"]["body"] == item["request"]["body"]  # phones kept unless asked
    assert scrubbed["response"]["status"] == {"code": 201, "message": "Created"}


def test_scrub_interaction_with_phone_redaction() -> None:
    key = b"test key"
    scrubbed = scrub_interaction(full_interaction(), redact_phones=True, key=key)
    text = json.dumps(scrubbed)
    assert "+12065550100" not in text and "+14015550101" not in text
    assert leaks(scrubbed) == []
    fake = pseudonymize_phone("+12065550100", key)
    assert fake in scrubbed["request"]["body"] and fake in scrubbed["response"]["body"]["string"]
    assert scrubbed["chime_tap"]["violations"] == [f"request body: {fake} is not allowed here"]
    assert scrubbed["chime_tap"]["namespace"] == "voice"


# --- pseudonyms -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", NUMBERS)
def test_pseudonyms_are_deterministic_e164_and_shaped_like_the_original(number: str) -> None:
    fake = pseudonymize_phone(number, b"k1")
    assert fake == pseudonymize_phone(number, b"k1")
    assert fake != number
    assert FastEngine().is_valid("E164PhoneNumber", fake)
    assert len(fake) == len(number)
    assert fake.startswith("+") == number.startswith("+")
    assert fake.lstrip("+")[0] == number.lstrip("+")[0]


def test_pseudonyms_depend_on_the_key_and_differ_between_numbers() -> None:
    assert pseudonymize_phone("+12065550100", b"k1") != pseudonymize_phone("+12065550100", b"k2")
    fakes = {pseudonymize_phone(f"+1206555{i:04d}", b"k1") for i in range(200)}
    assert len(fakes) == 200


def test_pseudonym_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REDACT_KEY_ENV, raising=False)
    default = pseudonymize_phone("+12065550100")
    monkeypatch.setenv(REDACT_KEY_ENV, "site secret")
    assert pseudonymize_phone("+12065550100") == pseudonymize_phone("+12065550100", b"site secret")
    assert pseudonymize_phone("+12065550100") != default


@pytest.mark.parametrize(
    "text", ["", "hello", "+0123456", "206-555-0100", "+1\u0662\u0660\u0666", "+12065550100\n"]
)
def test_non_numbers_are_left_alone(text: str) -> None:
    assert pseudonymize_phone(text, b"k") == text


def test_redact_phone_numbers_walks_phone_members_and_quoted_numbers() -> None:
    value = {
        "ParticipantPhoneNumbers": ["12065550100", "+14015550101"],
        "Participants": [{"PhoneNumber": "+12065550100", "ProxyPhoneNumber": None}],
        "ExpiryMinutes": 60,
        "Name": "12065550100",  # digits, but not in a phone member and without +
        "CreatedTimestamp": "2020-04-15T16:10:10+10:00",
        "Message": "Participant +12065550100 is busy",
    }
    out = redact_phone_numbers(value, b"k")
    assert out["ParticipantPhoneNumbers"] == [
        pseudonymize_phone(n, b"k") for n in ["12065550100", "+14015550101"]
    ]
    assert out["Participants"][0] == {
        "PhoneNumber": pseudonymize_phone("+12065550100", b"k"),
        "ProxyPhoneNumber": None,
    }
    assert out["ExpiryMinutes"] == 60 and out["Name"] == "12065550100"
    assert out["CreatedTimestamp"] == value["CreatedTimestamp"]
    assert out["Message"] == f"Participant {pseudonymize_phone('+12065550100', b'k')} is busy"


def test_redacted_body_still_validates_and_keeps_its_type() -> None:
    body = json.dumps(
        {
            "ProxySession": {
                "Participants": [
                    {"PhoneNumber": "+12065550100", "ProxyPhoneNumber": "+19135550199"}
                ]
            }
        }
    ).encode()
    out = redact_phone_numbers_in_body(body, b"k")
    assert isinstance(out, bytes) and b"+12065550100" not in out
    assert FastEngine().errors("ProxySessionResponse", json.loads(out)) == []
    as_text = redact_phone_numbers_in_body(body.decode(), b"k")
    assert isinstance(as_text, str) and as_text.encode() == out


def test_bodies_without_numbers_come_back_untouched() -> None:
    for body in (None, b"", b"<html>busy</html>", b"\xff\xfe+1", '{"Capabilities": ["Voice"]}'):
        assert redact_phone_numbers_in_body(body, b"k") is body


def test_numbers_in_bodies_that_are_not_json_are_replaced_too() -> None:
    fake = pseudonymize_phone("+12065550100", b"k").encode()
    out = redact_phone_numbers_in_body(b"\xff busy: +12065550100</p>", b"k")
    assert out == b"\xff busy: " + fake + b"</p>"
    assert redact_phone_numbers_in_body("call +12065550100", b"k") == "call " + fake.decode()
