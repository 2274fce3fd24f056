"""The fast path's parts against what they stand in for: vcrpy's request, vcrpy's response
headers as botocore reads them, the URI vcrpy's stub names, botocore's names it reads, and a
filter vcrpy runs twice."""

from __future__ import annotations

import random

import pytest
from botocore.awsrequest import AWSResponse
from botocore.awsrequest import HeadersDict as BotocoreHeaders
from botocore.httpsession import URLLib3Session
from vcr.request import Request
from vcr.stubs import VCRHTTPResponse

from chime_tap import botocore_replay
from chime_tap.botocore_replay import BOTOCORE_INTERNALS, plain_answer, uri_of
from chime_tap.vcr_filters import replace_credentials
from chime_tap.vcrpy_internals import LoadedRequest

NAMES = ["Content-Type", "content-type", "X-Amzn-RequestId", "x-amzn-requestid", "Date", "X-A"]
VALUES = ["application/json", "", "a b", "  lead", "trail ", "tab\there", "é", "x\r\ny", "v:1"]


def _random_headers(rng: random.Random) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for _ in range(rng.randint(0, 5)):
        name = rng.choice([*NAMES, "Bad Name", "X-\u00e9"])
        headers[name] = [rng.choice(VALUES) for _ in range(rng.randint(0, 3))]
    return headers


def _as_botocore_reads_vcrpy(recorded: dict) -> tuple[int, list, bytes]:
    """What botocore's session makes of vcrpy's response object for a recorded response."""
    raw = VCRHTTPResponse(recorded)
    response = AWSResponse("https://h.example/", raw.status, raw.headers, raw)
    return response.status_code, list(response.headers.items()), response.content


def test_a_plain_answer_is_what_botocore_reads_from_vcrpys_response():
    """2,000 random header tables: where plain_answer answers, it answers as vcrpy's object
    read by botocore does (names, first values, order); it declines the rest."""
    rng = random.Random(18)
    answered = declined = 0
    for _ in range(2000):
        headers = _random_headers(rng)
        recorded = {
            "status": {"code": rng.choice([200, 201, 204, 400, 404, 500]), "message": "M"},
            "headers": {k: list(v) for k, v in headers.items()},
            "body": {"string": b'{"a": 1}'},
        }
        ours = plain_answer(recorded)
        if isinstance(ours, str):
            declined += 1
            continue
        answered += 1
        status, table, body = ours
        built = AWSResponse("https://h.example/", status, table, botocore_replay._Raw(body))
        assert (status, list(built.headers.items()), built.content) == _as_botocore_reads_vcrpy(
            recorded
        ), headers
    assert answered > 500 and declined > 500


@pytest.mark.parametrize(
    ("response", "why"),
    [
        ({"status": {"code": 302}, "headers": {}, "body": {"string": b""}}, "status 302"),
        ({"status": {"code": 200}, "headers": {}, "body": {"string": "text"}}, "not bytes"),
        ({"status": {"code": 200}, "headers": {"X": "v"}, "body": {"string": b""}}, "not a list"),
        ({"status": {"code": 200}}, "without status, headers or body"),
        (
            {"status": {"code": 200}, "headers": {"X": ["v"] * 101}, "body": {"string": b""}},
            "101 header lines",
        ),
    ],
)
def test_an_answer_urllib3_would_read_otherwise_is_declined(response, why):
    assert why in plain_answer(response)


@pytest.mark.parametrize("body", [None, b"", b'{"a": 1}', '{"b": "\u00e9"}'])
def test_a_sent_request_is_the_request_vcrpys_stub_builds(body):
    headers = [("Content-Type", b"application/json"), ("X-Amz-Date", "20200101T000000Z")]
    uri = "https://h.example:8443/p/q?x=1&y=%2F"
    ours = LoadedRequest.sent("POST", uri, body, headers)
    theirs = Request("POST", uri, body, dict(headers))
    assert {k: v for k, v in vars(ours).items() if k != "_headers"} == {
        k: v for k, v in vars(theirs).items() if k != "_headers"
    }
    assert ours.headers._store == theirs.headers._store


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("https://h.example/p?q=1", "https://h.example/p?q=1"),
        ("https://h.example:443/p", "https://h.example/p"),
        ("http://h.example:80/p", "http://h.example/p"),
        ("http://h.example:443/p", "http://h.example:443/p"),
        ("https://h.example", "https://h.example/"),
        ("https://h.example/p?", "https://h.example/p"),
        ("http://127.0.0.1:8080/a%2Fb", "http://127.0.0.1:8080/a%2Fb"),
        ("https://H.example/p", None),  # urllib3 lower-cases the host
        ("https://h.example./p", None),  # and drops a trailing dot
        ("https://[::1]/p", None),
        ("https://h.example/a%2fb", None),  # and upper-cases escapes
        ("https://h.example/a b", None),  # and encodes a space
        ("https://h.example/a;b", None),  # botocore's urlparse cuts the parameters off
        ("https://h.example/p#f", None),
        ("https://h.example:0/p", None),
        ("https://h.example:70000/p", None),
    ],
)
def test_the_uri_is_vcrpys_or_none(url, uri):
    assert uri_of(url) == uri


def test_botocores_names_the_fast_path_reads_are_there():
    """Each of BOTOCORE_INTERNALS; a botocore that renamed one fails here, by name."""
    from botocore import awsrequest

    session = URLLib3Session()
    config = session._proxy_config
    assert isinstance(config._proxies, dict) and config.proxy_url_for("https://h.example/") is None
    headers = BotocoreHeaders({"A": "1"})
    assert [(k._key, v) for k, v in headers._dict.items()] == [("A", "1")]
    assert awsrequest.AWSHTTPConnectionPool.ConnectionCls is awsrequest.AWSHTTPConnection
    assert awsrequest.AWSHTTPSConnectionPool.ConnectionCls is awsrequest.AWSHTTPSConnection
    names = [name for name, _ in BOTOCORE_INTERNALS]
    assert set(names) == {
        "botocore.httpsession.URLLib3Session.send",
        "botocore.httpsession.URLLib3Session._proxy_config",
        "botocore.awsrequest.HeadersDict._dict",
        "botocore.awsrequest.AWSHTTPConnectionPool.ConnectionCls",
        "botocore.awsrequest.AWSHTTPSConnectionPool.ConnectionCls",
    }


def test_the_scrubber_scrubs_a_request_once_however_often_vcrpy_asks():
    phone = '{"ParticipantPhoneNumbers": ["+12065550100"]}'
    request = Request("POST", "https://h.example/p", phone, {"Authorization": "AWS4 secret"})
    once = replace_credentials(request, redact_phones=True)
    body = once.body
    assert b"+12065550100" not in body and once.headers["Authorization"] == "REDACTED"
    assert replace_credentials(once, redact_phones=True).body == body  # not pseudonymized again
