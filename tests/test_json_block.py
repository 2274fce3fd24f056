"""The writer scrubs a JSON interaction as it encodes it (issue 18, section 3): byte for byte
what ``json.dumps`` writes of ``scrub_interaction``'s copy, or the same error, and no credential
in it. Held to every interaction of the committed corpus and to hostile ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chime_tap.cassettes import json_block
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import load_cassette, parse_document
from chime_tap.cassettes.scrub import scrub_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIRS = [ROOT / "cassettes", ROOT / "tests" / "data"]
SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY"  # in every credential slot below
PRESIGNED = f"https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature={SECRET}"


def expected(item: Any) -> bytes | type[BaseException]:
    """The generic path, spelled independently: json.dumps of the scrubbed copy (or its error)."""
    try:
        scrubbed = scrub_interaction(item)
        return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except Exception as e:
        return type(e)


def one_pass(item: Any) -> bytes | type[BaseException]:
    try:
        return json_block.dump_scrubbed_item(item)
    except Exception as e:
        return type(e)


def check(item: Any) -> bytes | type[BaseException]:
    """Twice: the second time the interaction's strings and headers come from the caches."""
    want = expected(item)
    assert one_pass(item) == want
    assert one_pass(item) == want
    return want


# --- the committed corpus ---------------------------------------------------------------------


def corpus_items() -> list[Any]:
    """Every interaction of the cassettes the tests read (those that parse at all), and every
    validation-corpus instance as a recorded request and response body."""
    items: list[Any] = []
    for directory in CORPUS_DIRS:
        for path in sorted(directory.rglob("*")):
            if path.suffix not in (".yaml", ".yml", ".json", ".har") or not path.is_file():
                continue
            try:
                doc = parse_document(path.read_bytes(), str(path))
            except CassetteError:
                continue
            if "validation-corpus" in path.parts and isinstance(doc, dict):
                body = json.dumps(doc.get("instance"), ensure_ascii=False)
                items.append(recorded(request_body=body, response_body=body))
            elif isinstance(doc, dict) and isinstance(doc.get("interactions"), list):
                items += doc["interactions"]
    return items


def recorded(**parts: Any) -> dict[str, Any]:
    """An interaction as the recorder hands it to a JSON writer (make_interaction, fmt json)."""
    args: dict[str, Any] = {
        "method": "POST",
        "uri": "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/c/proxy-sessions",
        "request_headers": {
            "Host": ["voice-chime.us-east-1.amazonaws.com"],
            "X-Amz-Date": ["20260101T000000Z"],
            "Authorization": [f"AWS4-HMAC-SHA256 Credential=AKIA/x, Signature={SECRET}"],
        },
        "request_body": None,
        "status": 201,
        "reason": "Created",
        "response_headers": {"Content-Type": ["application/json"], "x-amzn-RequestId": ["r"]},
        "response_body": b"",
        "meta": {
            "recorded_at": "2026-01-02T03:04:05.678Z",
            "duration_ms": 12.5,
            "operation": "CreateProxySession",
            "namespace": "voice",
            "violations": [],
            "answered_by": "upstream",
        },
        "fmt": "json",
    }
    return make_interaction(**{**args, **parts})


def test_every_interaction_of_the_corpus_is_written_as_the_generic_path_writes_it() -> None:
    items = corpus_items()
    written = [check(item) for item in items]
    assert len(items) > 100  # the corpus was found, and most of it encodes
    assert sum(isinstance(w, bytes) for w in written) > 100


def test_the_recorders_interaction_takes_the_one_walk() -> None:
    """Not a fallback every time: the recorder's usual interaction is encoded by the walk."""
    item = recorded(request_body='{"Name":"x"}', response_body='{"ProxySession":{}}')
    assert json_block._interaction(item) is not None
    text = check(item)
    assert isinstance(text, bytes)
    assert b'"Authorization":["REDACTED"]' in text and SECRET.encode() not in text


def test_a_credential_header_changing_every_call_is_redacted_each_time() -> None:
    """The Authorization entry is encoded once by name; each call's own value never shows."""
    for signature in ("a" * 64, "b" * 64, SECRET):
        item = recorded(
            request_headers={"Host": ["h"], "authorization": [f"AWS4 Signature={signature}"]},
            response_headers={"Location": [PRESIGNED]},
        )
        text = check(item)
        assert isinstance(text, bytes)
        assert b'"authorization":["REDACTED"]' in text
        assert signature.encode() not in text and SECRET.encode() not in text


# --- hostile interactions ---------------------------------------------------------------------

CREDENTIAL_HEADERS = [
    "Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization",
    "X-Amz-Security-Token", "x-amz-security-token", "Cookie", "Set-Cookie", "x-api-key",
    "X-Auth-Token",
]  # fmt: skip
URL_HEADERS = ["Location", "location", "Referer", "Content-Location", "Origin"]
SECRET_BODIES = [
    json.dumps({"Credentials": {"AccessKeyId": "AKIAX", "SecretAccessKey": SECRET}}),
    json.dumps({"SecretString": json.dumps({"password": SECRET})}),
    f"Action=AssumeRole&Signature={SECRET}&Version=2011-06-15",
    f"<SessionToken>{SECRET}</SessionToken>",
    f'<a:SecretAccessKey xmlns:a="x">{SECRET}</a:SecretAccessKey>',
    json.dumps({"Environment": {"Variables": [{"Name": "DB_PASSWORD", "Value": SECRET}]}}),
    json.dumps({"Parameter": {"Type": "SecureString", "Value": SECRET}}),
]
# Metadata is free text: a message may quote a request value, or a presigned URL.
SECRET_TEXTS = [*SECRET_BODIES, f"validation failed: {{'ClientSecret': '{SECRET}'}} at {PRESIGNED}"]
# Astral characters, controls, DEL, quotes, backslashes, non-ASCII: everything JSON escapes or not.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.text(
    st.sampled_from(['"', "\\", "\n", "\x00", "\x1f", "\x7f", "é", "\u2028", "😀", "a", "/"]),
    max_size=100,
)
surrogate = st.just("lone \ud800 surrogate")  # no UTF-8: both paths refuse it
body = (
    st.none()
    | text
    | st.sampled_from(SECRET_BODIES)
    | st.binary(max_size=8)
    | surrogate
    | st.dictionaries(st.sampled_from(["Token", "a"]), text, max_size=2)
)
value = text | st.sampled_from(["application/json", "127.0.0.1:9000", "http://h/p?a=1"])
header_value = (
    value.map(lambda v: [v])
    | st.lists(value, max_size=3)
    | value  # a bare string, as some writers keep them
    | st.sampled_from([7, None])
)
secret_value = st.sampled_from([[SECRET], [SECRET, "x"], [], SECRET, [f"Bearer {SECRET}"]])
header_name = st.sampled_from(["Host", "Content-Type", "X-Amz-Date"]) | text
headers = st.tuples(
    st.dictionaries(header_name, header_value, max_size=5),
    st.dictionaries(st.sampled_from(CREDENTIAL_HEADERS), secret_value, max_size=3),
    st.dictionaries(st.sampled_from(URL_HEADERS), header_value, max_size=2),
    st.dictionaries(st.sampled_from(URL_HEADERS), st.just([PRESIGNED]), max_size=2),
).map(lambda parts: {k: v for part in parts for k, v in part.items()})
uri = st.sampled_from(
    [
        "http://127.0.0.1:9000/voice-connectors/c/proxy-sessions/s",
        PRESIGNED,
        "http://169.254.169.254/latest/api/token",
        "http://h/p?a=1&b=",
        "http://h/é?q=😀",
    ]
)
scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and the infinities too: the encoder writes NaN, Infinity
    | text
    | st.sampled_from(SECRET_TEXTS)
)
meta = st.fixed_dictionaries(
    {
        "recorded_at": st.sampled_from(["2026-01-02T03:04:05.678Z", "x"]) | text,
        "duration_ms": st.floats() | st.integers(),
        "operation": st.none() | st.sampled_from(["GetProxySession"]) | text,
        "namespace": st.none() | st.just("voice"),
        "violations": st.just([])
        | st.lists(st.fixed_dictionaries({"message": st.sampled_from(SECRET_TEXTS)}), max_size=2),
        "answered_by": st.sampled_from(["upstream", "none"]) | text,
    }
) | st.dictionaries(text, scalar | st.lists(scalar, max_size=2), max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    uri,
    headers,
    body,
    headers,
    body,
    st.none() | meta,
    st.dictionaries(st.sampled_from(["note", "error"]), scalar, max_size=2),
)
def test_hostile_interactions_are_written_as_the_generic_path_writes_them(
    u, qh, qb, rh, rb, m, extra
) -> None:
    item = {
        "request": {"method": "GET", "uri": u, "body": qb, "headers": qh},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": rh,
            "body": {"string": rb},
        },
    }
    if m is not None:
        item["chime_tap"] = m
    item.update(extra)
    written = check(item)
    if isinstance(written, bytes):
        assert SECRET.encode() not in written


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["request", "response", "status", "body"]), scalar | headers)
def test_interactions_of_another_shape_are_written_as_the_generic_path_writes_them(
    part: str, odd: Any
) -> None:
    """A part that is not what the walk expects (a missing key, another type) goes generic."""
    item = recorded(request_body=SECRET_BODIES[0], response_body=SECRET_BODIES[1])
    if part in ("request", "response"):
        item[part] = {**item[part], "extra": odd}
    elif part == "status":
        item["response"]["status"] = odd
    else:
        item["response"]["body"] = {"string": odd, "encoding": "utf-8"}
    check(item)  # a key the scrubber does not know is kept as it is, by both paths


# --- the writer -------------------------------------------------------------------------------


def test_the_writer_appends_what_the_generic_path_writes(tmp_path: Path) -> None:
    items = [
        recorded(request_body=SECRET_BODIES[0], response_body=SECRET_BODIES[2]),
        recorded(uri=PRESIGNED, response_headers={"Set-Cookie": ["a", "b"], "A": ["1", "2"]}),
        recorded(response_body="é😀\x00\x7f", meta={"k": "v", "n": float("nan")}),
    ]
    with CassetteWriter(tmp_path / "c.json") as writer:
        for item in items:
            writer.append(item)
    data = (tmp_path / "c.json").read_bytes()
    lines = data.split(b",\n")
    for item, line in zip(items, lines, strict=True):
        assert expected(item) in line
    assert SECRET.encode() not in data
    assert len(load_cassette(tmp_path / "c.json")["interactions"]) == 3


def test_the_encoders_memos_stay_bounded_and_never_key_a_credential_by_its_value() -> None:
    from chime_tap.cassettes import memo

    strings: dict[str, str] = {}
    for n in range(memo.LIMIT + 10):
        assert memo.remember(strings, f"s{n}", f'"s{n}"') == f'"s{n}"'
    assert len(strings) == 10 and strings[f"s{memo.LIMIT + 9}"] == f'"s{memo.LIMIT + 9}"'

    secrets: dict[str, str] = {}
    entries: dict[tuple[str, str], str] = {}
    token = "A" * 40
    assert memo.remember_header("X-Amz-Security-Token", token, "e1", secrets, entries) == "e1"
    assert memo.remember_header("Host", "h", "e2", secrets, entries) == "e2"
    assert memo.remember_header("Referer", "x" * (memo.SHORT + 1), "e3", secrets, entries) == "e3"
    assert secrets == {"X-Amz-Security-Token": "e1"}  # by name: the value is never a key
    assert entries == {("Host", "h"): "e2"}  # a long value is not kept
