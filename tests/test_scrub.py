"""Scrubbing: credentials never survive; phone pseudonyms are deterministic, E.164 and keyed."""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from typing import Any

import pytest
import yaml
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chime_tap.api.operations import classify
from chime_tap.api.validation import FastEngine, ReferenceEngine, validate_request
from chime_tap.cassettes.phones import (
    DEFAULT_REDACT_KEY,
    PSEUDONYM_COUNTRY_CODE,
    REDACT_KEY_ENV,
    pseudonymize_phone,
    redact_phone_numbers,
    redact_phone_numbers_in_body,
    redact_phone_numbers_in_uri,
)
from chime_tap.cassettes.scrub import (
    REDACTED,
    scrub_body_credentials,
    scrub_headers,
    scrub_interaction,
    scrub_uri,
)
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
    # Under country code 999, which ITU-T never assigned (was: the first digit kept, then "99",
    # which made +4x numbers German ones): no pseudonym is anybody's number.
    assert fake.lstrip("+").startswith(PSEUDONYM_COUNTRY_CODE)


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


@pytest.mark.parametrize("text", ["", "hello", "+", "() -", "\u00b2\u00b3"])  # superscripts: not Nd
def test_strings_without_digits_are_left_alone(text: str) -> None:
    assert pseudonymize_phone(text, b"k") == text


def test_e164_pseudonyms_under_the_default_key_are_stable() -> None:
    # Fixed here so that a change is a decision: cassettes redacted with them must still match.
    # (Issue 15 changed them once: the first release's, e.g. +499120115065 for +442071838750,
    # were real German numbers.)
    assert {
        n: pseudonymize_phone(n, DEFAULT_REDACT_KEY)
        for n in ["+12065550100", "+442071838750", "12065550100", "+4915123456789"]
    } == {
        "+12065550100": "+99921613702",
        "+442071838750": "+999120115065",
        "12065550100": "99921613702",
        "+4915123456789": "+9990071642451",
    }


E164_RULE = re.compile(r"\+?[1-9][0-9]{1,14}")
MALFORMED = [
    "206-555-0100",
    "(401) 555-0101",
    "+1 206 555 0101",
    "+0123456",  # a leading 0: must stay 0, or the pseudonym would become valid
    "0206 555 0100",
    "+12065550100\n",
    "tel:+1-206-555-0100",
    "1234567890123456",  # 16 digits: one too many
    "+1\u0662\u0660\u0666\u0665\u0665\u0665",  # Arabic-Indic digits: not [0-9]
]


@pytest.mark.parametrize("number", MALFORMED)
def test_malformed_numbers_keep_their_shape_and_lose_their_digits(number: str) -> None:
    fake = pseudonymize_phone(number, b"k1")
    assert fake == pseudonymize_phone(number, b"k1")
    assert fake != pseudonymize_phone(number, b"k2")
    assert len(fake) == len(number)
    digits = [i for i, c in enumerate(number) if c.isdecimal()]
    for i, (a, b) in enumerate(zip(number, fake, strict=True)):
        if i not in digits:
            assert a == b  # every other character kept in place
            continue
        # a digit of the same script: U+0660..U+0669 stay in that block
        assert ord(b) - unicodedata.decimal(b) == ord(a) - unicodedata.decimal(a)
        assert a != b or (i == digits[0] and a == "0")  # no real digit left, but a leading 0
    # still malformed, the same way: the validator says no to both
    assert not E164_RULE.fullmatch(fake)
    assert not FastEngine().is_valid("E164PhoneNumber", fake)
    assert not FastEngine().is_valid("E164PhoneNumber", number)


def test_one_number_written_two_ways_gets_the_same_digits() -> None:
    a = pseudonymize_phone("206-555-0100", b"k")
    b = pseudonymize_phone("(206) 555-0100", b"k")
    assert a != "206-555-0100"
    assert re.sub(r"\D", "", a) == re.sub(r"\D", "", b)
    assert a[3] == "-" and b[0] == "(" and b[4:6] == ") "


def test_redact_phone_numbers_walks_phone_members_and_quoted_numbers() -> None:
    value = {
        "ParticipantPhoneNumbers": ["12065550100", "+14015550101"],
        "Participants": [{"PhoneNumber": "+12065550100", "ProxyPhoneNumber": None}],
        "ExpiryMinutes": 60,
        "Name": "98765432100",  # digits, but not a phone member's and without +
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
    assert out["ExpiryMinutes"] == 60 and out["Name"] == "98765432100"
    assert out["CreatedTimestamp"] == value["CreatedTimestamp"]
    assert out["Message"] == f"Participant {pseudonymize_phone('+12065550100', b'k')} is busy"


def test_a_phone_members_number_is_replaced_wherever_the_body_quotes_it() -> None:
    value = {
        "ParticipantPhoneNumbers": ["206-555-0100", 14015550101, "12"],
        "Name": "12065550100",  # not a participant's number (that one has dashes)
        "Message": "bad numbers: 206-555-0100, 14015550101; item 12 of 3",
    }
    out = redact_phone_numbers(value, b"k")
    fake, fake_int = pseudonymize_phone("206-555-0100", b"k"), out["ParticipantPhoneNumbers"][1]
    assert isinstance(fake_int, int) and fake_int != 14015550101
    assert str(fake_int) == pseudonymize_phone("14015550101", b"k")
    assert out["ParticipantPhoneNumbers"][0] == fake
    # A value with fewer than 4 digits is pseudonymized in place but not hunted in free text,
    # where so short a string hits ids, pointers and counts.
    assert out["ParticipantPhoneNumbers"][2] != "12"
    assert out["Message"] == f"bad numbers: {fake}, {fake_int}; item 12 of 3"
    assert out["Name"] == "12065550100"


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


CREATE_URL = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions"
CREATE_ROUTE = classify(
    "POST",
    "voice-chime.us-east-1.amazonaws.com",
    "/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions",
)
REAL = [
    "206-555-0100",
    "(401) 555-0101",
    "+1 206 555 0199",
    "O'Brien 206 555 0177",
    'x"\\4135550123',
]


@pytest.mark.parametrize("engine", [FastEngine(), ReferenceEngine()], ids=["rs", "reference"])
def test_malformed_numbers_leave_no_trace_and_the_cassette_shows_the_same_violations(
    engine: Any,
) -> None:
    body = json.dumps({"ParticipantPhoneNumbers": [*REAL, 12065550111], "Capabilities": ["Voice"]})
    violations = validate_request(CREATE_ROUTE, body=body, engine=engine)
    assert len(violations) == 1 + len(REAL) + 1  # too many, each string malformed, an integer
    item = {
        "request": {"method": "POST", "uri": CREATE_URL, "body": body, "headers": {}},
        "response": {
            "status": {"code": 400, "message": "Bad Request"},
            "headers": {},
            "body": {
                "string": json.dumps({"Code": "BadRequest", "Message": f"Invalid {REAL[0]}"}),
            },
        },
        "chime_tap": {"violations": [v.to_dict() for v in violations]},
    }
    raw = json.dumps(item, ensure_ascii=False)
    numbers = [re.sub(r"\D", "", n) for n in [*REAL, "12065550111"]]
    assert all(n in re.sub(r"\D", "", raw) for n in numbers)

    scrubbed = scrub_interaction(item, redact_phones=True, key=b"k")
    assert scrub_interaction(item, redact_phones=True, key=b"k") == scrubbed
    for text in (
        json.dumps(scrubbed, ensure_ascii=False),
        json.dumps(scrubbed),
        yaml.safe_dump(scrubbed, allow_unicode=True),
    ):
        for number in numbers:  # not the numbers, and not their digits however spelled
            assert number not in re.sub(r"\D", "", text.replace("\\n", ""))
    # The redacted request fails validation exactly as the metadata says it did.
    again = validate_request(CREATE_ROUTE, body=scrubbed["request"]["body"], engine=engine)
    assert [v.to_dict() for v in again] == scrubbed["chime_tap"]["violations"]
    message = json.loads(scrubbed["response"]["body"]["string"])["Message"]
    assert message == f"Invalid {pseudonymize_phone(REAL[0], b'k')}"


def test_numbers_in_uris_are_pseudonymized_only_as_whole_segments_or_values() -> None:
    fake = pseudonymize_phone("+12065550100", b"k")[1:]
    base = "https://chime.us-east-1.amazonaws.com"
    assert (
        redact_phone_numbers_in_uri(base + "/phone-numbers/%2B12065550100", b"k")
        == base + "/phone-numbers/%2B" + fake
    )
    assert (
        redact_phone_numbers_in_uri(base + "/search?e164=+12065550100&x=1", b"k")
        == base + "/search?e164=+" + fake + "&x=1"
    )
    for uri in (
        CREATE_URL,
        CREATE_URL + "?next-token=ab%2B12065550100cd&max-results=5",
        CREATE_URL + "/123a4bc5-67d8-901e-2f3g-h4ghjk56789l",
    ):
        assert redact_phone_numbers_in_uri(uri, b"k") == uri
    item = {
        "request": {"method": "GET", "uri": base + "/phone-numbers/%2B12065550100", "headers": {}},
        "response": {"status": {"code": 200}, "headers": {}, "body": {"string": ""}},
    }
    assert "12065550100" not in json.dumps(scrub_interaction(item, redact_phones=True))
    assert scrub_interaction(item)["request"]["uri"] == item["request"]["uri"]


# --- credentials in bodies ------------------------------------------------------------------------

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEBYaDCZw+tokenEXAMPLE=="
KEY_ID = "ASIAIOSFODNN7EXAMPLE"
CREDENTIAL_BODIES = {
    "sts-assume-role": f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/demo/s</Arn></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{KEY_ID}</AccessKeyId>
      <SecretAccessKey>{SECRET}</SecretAccessKey>
      <SessionToken>{TOKEN}</SessionToken>
      <Expiration>2019-11-09T13:34:41Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
</AssumeRoleResponse>""",
    "sts-namespaced-cdata": f"<s:GetSessionTokenResponse><s:Credentials><s:AccessKeyId>{KEY_ID}"
    f"</s:AccessKeyId><s:SecretAccessKey><![CDATA[{SECRET}]]></s:SecretAccessKey>"
    f'<s:SessionToken a="1">{TOKEN}</s:SessionToken></s:Credentials></s:GetSessionTokenResponse>',
    "sso-get-role-credentials": json.dumps(
        {
            "roleCredentials": {
                "accessKeyId": KEY_ID,
                "secretAccessKey": SECRET,
                "sessionToken": TOKEN,
                "expiration": 1573307681000,
            }
        }
    ),
    "sso-oidc-create-token": json.dumps(
        {
            "accessToken": SECRET,
            "tokenType": "Bearer",
            "expiresIn": 28800,
            "refreshToken": TOKEN,
            "idToken": KEY_ID,
        }
    ),
    "sso-oidc-create-token-request": json.dumps(
        {"clientId": "c", "clientSecret": SECRET, "grantType": "device_code", "deviceCode": "d"}
    ),
    "imds": json.dumps(
        {
            "Code": "Success",
            "Type": "AWS-HMAC",
            "AccessKeyId": KEY_ID,
            "SecretAccessKey": SECRET,
            "Token": TOKEN,
            "Expiration": "2019-11-09T13:34:41Z",
        },
        indent=2,
        separators=(",", " : "),
    ),
    "cognito": json.dumps(
        {"Credentials": {"AccessKeyId": KEY_ID, "SecretKey": SECRET, "SessionToken": TOKEN}}
    ),
    "env-style": json.dumps(
        {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN}
    ),
    "web-identity-form": f"Action=AssumeRoleWithWebIdentity&RoleArn=arn&WebIdentityToken={TOKEN}"
    f"&Version=2011-06-15",
    "saml-form": f"Action=AssumeRoleWithSAML&SAMLAssertion={SECRET}&Version=2011-06-15",
    "oauth-form": f"grant_type=refresh_token&refresh_token={TOKEN}&client_secret={SECRET}",
    "password": json.dumps({"UserName": "u", "Password": SECRET}),
}


@pytest.mark.parametrize("kind", ["str", "bytes"])
@pytest.mark.parametrize("name", sorted(CREDENTIAL_BODIES))
def test_credentials_in_bodies_are_redacted_and_the_rest_kept(name: str, kind: str) -> None:
    body: Any = CREDENTIAL_BODIES[name]
    if kind == "bytes":
        body = body.encode()
    out = scrub_body_credentials(body)
    assert type(out) is type(body)
    text = out.decode() if isinstance(out, bytes) else out
    original = CREDENTIAL_BODIES[name]
    assert SECRET not in text and TOKEN not in text and KEY_ID not in text
    assert REDACTED in text
    # Only the values changed: put them back and it is the original.
    put_back = re.sub(r"REDACTED", "{}", text.replace("{", "{{").replace("}", "}}"))
    values = re.findall(
        "|".join(re.escape(v) for v in (f"<![CDATA[{SECRET}]]>", SECRET, TOKEN, KEY_ID)), original
    )
    assert put_back.format(*values) == original
    if original.startswith("{"):
        json.loads(text)


@pytest.mark.parametrize(
    "body",
    [
        None,
        b"",
        '{"ProxySession": {"Name": "secret santa", "NumberSelectionBehavior": "PreferSticky"}}',
        b'{"ProxySessions": [], "NextToken": "abcdef"}',
        '{"tokenEndpoint": "https://oidc", "TokenType": "Bearer"}',
        f"<ListAccessKeysResult><AccessKeyId>{KEY_ID}</AccessKeyId></ListAccessKeysResult>",
        "the token is in the header",
        '{"note": "SessionToken"}',
    ],
)
def test_bodies_without_credential_values_come_back_as_the_same_object(body: Any) -> None:
    assert scrub_body_credentials(body) is body


def test_scrub_interaction_scrubs_credential_bodies_without_being_asked() -> None:
    item = {
        "request": {
            "method": "POST",
            "uri": "https://oidc.us-east-1.amazonaws.com/token",
            "body": CREDENTIAL_BODIES["sso-oidc-create-token-request"].encode(),
            "headers": {},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {},
            "body": {"string": CREDENTIAL_BODIES["sso-oidc-create-token"]},
        },
    }
    scrubbed = scrub_interaction(item)
    assert SECRET not in json.dumps(scrubbed, default=str)
    assert TOKEN not in json.dumps(scrubbed, default=str)
    assert isinstance(scrubbed["request"]["body"], bytes)
    # a clean interaction keeps its very bodies
    clean = full_interaction()
    out = scrub_interaction(clean)
    assert out["request"]["body"] is clean["request"]["body"]
    assert out["response"]["body"] is clean["response"]["body"]


def test_the_imdsv2_session_token_body_is_redacted() -> None:
    item = {
        "request": {
            "method": "PUT",
            "uri": "http://169.254.169.254/latest/api/token",
            "body": None,
            "headers": {"X-aws-ec2-metadata-token-ttl-seconds": ["21600"]},
        },
        "response": {"status": {"code": 200}, "headers": {}, "body": {"string": TOKEN}},
    }
    assert scrub_interaction(item)["response"]["body"]["string"] == REDACTED


def test_bearer_and_key_headers_from_the_service_models_are_dropped() -> None:
    headers = {
        "x-amz-sso_bearer_token": ["sso"],
        "X-Amz-Bearer": ["connect"],
        "Authentication": ["workdocs"],
        "Grafana-Token": ["grafana"],
        "X-aws-ec2-metadata-token": ["imds"],
        "x-amz-server-side-encryption-customer-key": ["ssec"],
        "x-amz-copy-source-server-side-encryption-customer-key": ["ssec2"],
        "x-amz-server-side-encryption-customer-key-MD5": ["digest"],
        "X-aws-ec2-metadata-token-ttl-seconds": ["21600"],
        "x-amz-chime-bearer": ["arn:aws:chime:us-east-1:1:app-instance/a/user/b"],  # an ARN
    }
    assert scrub_headers(headers) == {
        "x-amz-server-side-encryption-customer-key-MD5": ["digest"],
        "X-aws-ec2-metadata-token-ttl-seconds": ["21600"],
        "x-amz-chime-bearer": ["arn:aws:chime:us-east-1:1:app-instance/a/user/b"],
    }


def test_sigv2_presigned_uri_loses_its_credentials() -> None:
    uri = "https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIAEXAMPLE&Expires=1&Signature=c2ln%3D"
    scrubbed = scrub_uri(uri)
    assert "AKIAEXAMPLE" not in scrubbed and "c2ln" not in scrubbed and "Expires=1" in scrubbed
