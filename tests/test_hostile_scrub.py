"""Credentials through the paths the scrubber did not see: each planted in one place, written
through the cassette writer, and looked for in the file's bytes (the suite-wide scan then checks
every file the run wrote, for the same test credentials)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chime_tap.cassettes.format import META_KEY, make_interaction
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.scrub import REDACTED, is_secret_name, scrub_text
from chime_tap.cassettes.writer import CassetteWriter
from support.procs import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, FAKE_SESSION_TOKEN, SECRETS

URI = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions"
PRESIGNED = (
    f"https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={FAKE_ACCESS_KEY}%2F20200415%2Fus-east-1%2Fs3%2Faws4_request"
    f"&X-Amz-Security-Token={FAKE_SESSION_TOKEN}&X-Amz-Signature={FAKE_SECRET_KEY}"
)


def interaction(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "POST",
        "uri": URI,
        "request_headers": {"Content-Type": ["application/json"]},
        "request_body": b"{}",
        "status": 200,
        "reason": "OK",
        "response_headers": {"Content-Type": ["application/json"]},
        "response_body": b"{}",
        "meta": {"operation": "CreateProxySession", "violations": []},
    }
    base.update(fields)
    return make_interaction(**base)


PLANTED = {
    # Validators quote the rejected value: as a Python repr (jsonschema) or as JSON.
    "violation quoting a repr": interaction(
        meta={
            "violations": [
                {
                    "message": f"{{'SecretAccessKey': '{FAKE_SECRET_KEY}'}} is not of type 'array'",
                    "pointer": "/ParticipantPhoneNumbers",
                }
            ]
        }
    ),
    "violation quoting JSON": interaction(
        meta={
            "violations": [
                f'request body: {{"ParticipantPhoneNumbers": {{"SecretAccessKey": "{FAKE_SECRET_KEY}", '
                f'"SessionToken": "{FAKE_SESSION_TOKEN}"}}}} is not valid'
            ]
        }
    ),
    "error metadata quoting a presigned URL": interaction(
        meta={"error": f"connection reset while fetching {PRESIGNED}", "violations": []}
    ),
    "JSON inside an error message": interaction(
        response_body=json.dumps(
            {"Message": json.dumps({"SecretAccessKey": FAKE_SECRET_KEY, "Code": "X"})}
        ).encode()
    ),
    "JSON inside a SecretString": interaction(
        response_body=json.dumps(
            {"Name": "db", "SecretString": json.dumps({"password": FAKE_SECRET_KEY})}
        ).encode()
    ),
    "JSON twice inside strings": interaction(
        response_body=json.dumps(
            {"Message": json.dumps({"Inner": json.dumps({"SessionToken": FAKE_SESSION_TOKEN})})}
        ).encode()
    ),
    "X-Api-Key and X-Auth-Token": interaction(
        request_headers={"X-Api-Key": [FAKE_SECRET_KEY], "x-auth-token": [FAKE_SESSION_TOKEN]}
    ),
    "Referer holding a presigned URL": interaction(request_headers={"Referer": [PRESIGNED]}),
    "Location holding a presigned URL": interaction(response_headers={"Location": [PRESIGNED]}),
    "SigV2 SecurityToken in the query": interaction(
        uri=f"https://sts.amazonaws.com/?Action=GetCallerIdentity&AWSAccessKeyId={FAKE_ACCESS_KEY}"
        f"&SecurityToken={FAKE_SESSION_TOKEN}&Signature=abc"
    ),
    "SigV2 Signature in a form body": interaction(
        request_headers={"Content-Type": ["application/x-www-form-urlencoded"]},
        request_body=f"Action=DescribeInstances&AWSAccessKeyId={FAKE_ACCESS_KEY}"
        f"&SignatureMethod=HmacSHA256&Signature={FAKE_SECRET_KEY}&Version=2016-11-15".encode(),
    ),
    # --record-all: other services' answers that carry secrets.
    "environment variables as Name/Value pairs": interaction(
        response_body=json.dumps(
            {
                "environment": [
                    {"Name": "AWS_SECRET_ACCESS_KEY", "Value": FAKE_SECRET_KEY},
                    {"value": FAKE_SESSION_TOKEN, "name": "GITHUB_TOKEN"},
                    {"Name": "REGION", "Value": "us-east-1"},
                ]
            }
        ).encode()
    ),
    "environment variables as a map": interaction(
        response_body=json.dumps(
            {"Environment": {"Variables": {"AWS_SESSION_TOKEN": FAKE_SESSION_TOKEN, "X": "1"}}}
        ).encode()
    ),
    "SSM SecureString parameter": interaction(
        response_body=json.dumps(
            {"Parameter": {"Name": "/app/db", "Type": "SecureString", "Value": FAKE_SECRET_KEY}}
        ).encode()
    ),
    "KMS data key plaintext": interaction(
        response_body=json.dumps({"KeyId": "k", "Plaintext": FAKE_SECRET_KEY}).encode()
    ),
    "private key material": interaction(
        response_body=json.dumps(
            {"KeyMaterial": FAKE_SECRET_KEY, "PrivateKey": FAKE_SESSION_TOKEN}
        ).encode()
    ),
}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("case", list(PLANTED))
def test_no_planted_credential_reaches_the_file(tmp_path: Path, case: str, fmt: str) -> None:
    item = PLANTED[case]
    assert any(s in json.dumps(item, default=repr) for s in SECRETS)  # the case plants one
    path = tmp_path / f"c.{fmt}"
    with CassetteWriter(path) as w:
        w.append(item)
    data = path.read_bytes()
    assert [s for s in SECRETS if s.encode() in data] == []
    if case == "X-Api-Key and X-Auth-Token":  # credential headers are dropped, as Cookie is
        assert b"X-Api-Key" not in data and b"x-auth-token" not in data
    else:
        assert REDACTED.encode() in data
    assert len(load_cassette(path)["interactions"]) == 1


def test_what_is_no_secret_is_kept() -> None:
    path_items = [
        PLANTED["environment variables as Name/Value pairs"],
        PLANTED["error metadata quoting a presigned URL"],
    ]
    from chime_tap.cassettes.scrub import scrub_interaction

    env = json.loads(scrub_interaction(path_items[0])["response"]["body"]["string"])
    assert env["environment"][2] == {"Name": "REGION", "Value": "us-east-1"}
    assert env["environment"][0]["Name"] == "AWS_SECRET_ACCESS_KEY"
    meta = scrub_interaction(path_items[1])[META_KEY]
    assert meta["error"].startswith("connection reset while fetching https://bucket.s3")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in meta["error"]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("GITHUB_TOKEN", True),
        ("my_app_secret", True),
        ("SMTP_PASSWD", True),
        ("SecretString", True),
        ("NextToken", False),
        ("ClientToken", False),
        ("next-token", False),
        ("ProxySessionId", False),
        ("TokenEndpoint", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_scrub_text_leaves_plain_messages_alone() -> None:
    message = "request body: 'Voice ' is not one of ['Voice', 'SMS'] (see ?max-results=5)"
    assert scrub_text(message) == message
