"""The writer scrubs a YAML interaction as it writes it (issue 18, section 3): the same bytes
as scrubbing a copy and then writing the copy, and no credential in them."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.scrub import scrub_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.cassettes.yaml_block import dump_item, dump_scrubbed_item

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY"  # in every credential slot below
PRESIGNED = f"https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature={SECRET}"
HEADER_NAMES = [
    "Host", "Content-Type", "Content-Length", "X-Amz-Date", "x-amzn-RequestId", "User-Agent",
    "Location", "Referer",
]  # fmt: skip
CREDENTIAL_HEADERS = [
    "Authorization",
    "authorization",
    "X-Amz-Security-Token",
    "Cookie",
    "x-api-key",
]
SECRET_BODIES = [
    json.dumps({"Credentials": {"AccessKeyId": "AKIAX", "SecretAccessKey": SECRET}}),
    f"Action=AssumeRole&Signature={SECRET}&Version=2011-06-15",
    f"<SessionToken>{SECRET}</SessionToken>",
    json.dumps({"Environment": {"Variables": [{"Name": "DB_PASSWORD", "Value": SECRET}]}}),
]
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
value = text | st.sampled_from(["application/json", "127.0.0.1:9000", "http://h/p?a=1"])
plain_headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | text,
    st.lists(value, min_size=1, max_size=2) | value.map(lambda v: [v]),
    max_size=5,
)
credential_headers = st.dictionaries(
    st.sampled_from(CREDENTIAL_HEADERS), st.just([SECRET]) | st.just([SECRET, "x"]), max_size=2
)
url_headers = st.dictionaries(st.sampled_from(["Location", "Referer"]), st.just([PRESIGNED]))
headers = st.tuples(plain_headers, credential_headers, url_headers).map(
    lambda parts: {k: v for part in parts for k, v in part.items()}
)
body = st.none() | text | st.sampled_from(SECRET_BODIES) | st.binary(max_size=8)
uri = st.sampled_from(
    [
        "http://127.0.0.1:9000/voice-connectors/c/proxy-sessions/s",
        PRESIGNED,
        "http://169.254.169.254/latest/api/token",
        "http://h/p?a=1&b=",
    ]
)
meta = st.fixed_dictionaries(
    {
        "recorded_at": st.sampled_from(["2026-01-02T03:04:05.678Z", "x"]) | text,
        "duration_ms": st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
        "operation": st.none() | st.sampled_from(["GetProxySession", "x"]) | text,
        "namespace": st.none() | st.just("voice"),
        "violations": st.just([])
        | st.lists(st.fixed_dictionaries({"message": st.sampled_from(SECRET_BODIES)}), max_size=2),
        "answered_by": st.sampled_from(["upstream", "none"]) | text,
    }
) | st.dictionaries(text, text | st.sampled_from(SECRET_BODIES), max_size=3)


def interaction(draw_uri, request_headers, request_body, response_headers, response_body, m):
    return make_interaction(
        method="GET",
        uri=draw_uri,
        request_headers=request_headers,
        request_body=request_body,
        status=200,
        reason="OK",
        response_headers=response_headers,
        response_body=response_body,
        meta=m,
    )


@settings(max_examples=400, deadline=None)
@given(uri, headers, body, headers, body, st.none() | meta)
def test_scrubbed_as_written_is_scrubbed_then_written(u, qh, qb, rh, rb, m) -> None:
    """Twice each: the second time the interaction's strings come from the caches."""
    item = interaction(u, qh, qb, rh, rb, m)
    expected = dump_item(scrub_interaction(item))
    assert dump_scrubbed_item(item) == expected
    assert dump_scrubbed_item(item) == expected
    assert SECRET.encode() not in expected


def test_a_credential_header_changing_every_call_is_redacted_each_time() -> None:
    """The Authorization entry is rendered once by name; each call's own value never shows."""
    for signature in ("a" * 64, "b" * 64, SECRET):
        item = interaction(
            "http://h/p",
            {"Host": ["h"], "Authorization": [f"AWS4-HMAC-SHA256 Signature={signature}"]},
            None,
            {"Location": [PRESIGNED]},
            '{"ok":1}',
            None,
        )
        data = dump_scrubbed_item(item)
        assert data == dump_item(scrub_interaction(item))
        assert b"Authorization:\n      - REDACTED\n" in data
        assert signature.encode() not in data and SECRET.encode() not in data


def test_the_writer_appends_what_the_generic_path_writes(tmp_path: Path) -> None:
    items = [
        interaction(PRESIGNED, {"Cookie": ["c=1"]}, SECRET_BODIES[0], {}, SECRET_BODIES[1], None),
        interaction("http://h/p", {"Host": ["h"]}, None, {"A": ["1", "2"]}, b"\xff", {"k": "v"}),
    ]
    with CassetteWriter(tmp_path / "c.yaml") as writer:
        for item in items:
            writer.append(item)
    data = (tmp_path / "c.yaml").read_bytes()
    for item in items:
        assert dump_item(scrub_interaction(item)) in data
    assert SECRET.encode() not in data
    assert len(load_cassette(tmp_path / "c.yaml")["interactions"]) == 2
