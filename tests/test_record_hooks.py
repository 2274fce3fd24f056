"""The Recorder addon the mitmproxy way (taddons.context, tflow) and its pure functions."""

from __future__ import annotations

import gzip
import json
import logging
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.log import LegacyLogEvents
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.test import taddons, tflow

from chime_tap.addons.record import Recorder, host_header
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.validation import Violation, validate_response
from chime_tap.calllog import CALLS
from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from chime_tap.recording import (
    ADDON,
    FAILURE_MARK,
    NO_RESPONSE,
    RECORDER,
    UPSTREAM,
    VIOLATION_MARK,
    client_url,
    describe,
    enforce_answer,
    iso_utc,
    query_of,
)
from chime_tap.wire import decode_body, headers_dict

CONNECTOR = "abcdef1ghij2klmno3pqr4"
UPSTREAM_HOST = "127.0.0.1:9000"
A, B = "+12065550100", "+14015550101"
SESSION = {
    "VoiceConnectorId": CONNECTOR,
    "ProxySessionId": "s1",
    "Status": "Open",
    "Capabilities": ["Voice"],
    "ExpiryMinutes": 60,
    "CreatedTimestamp": "2020-04-15T16:10:10.288Z",
    "Participants": [{"PhoneNumber": A, "ProxyPhoneNumber": "+12065550199"}],
}


def make_flow(
    method: str, path: str, body: bytes = b"", host: str = "127.0.0.1", port: int = 9000
) -> http.HTTPFlow:
    f = tflow.tflow()
    f.response = None
    req = f.request
    req.method, req.scheme, req.host, req.port, req.path = method, "http", host, port, path
    req.headers.clear()
    req.headers["Host"] = f"{host}:{port}"
    req.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIASECRETSECRET/x, Signature=abc"
    req.headers["X-Amz-Security-Token"] = "token-that-must-not-be-written"
    req.content = body
    return f


def answer(f: http.HTTPFlow, status: int, doc: dict | None, headers: dict | None = None) -> None:
    body = json.dumps(doc).encode() if doc is not None else b""
    f.response = http.Response.make(
        status, body, {"Content-Type": "application/json", **(headers or {})}
    )


@pytest.mark.parametrize(
    ("version", "fields", "authority"),
    [
        ("HTTP/1.1", [(b"Host", b"127.0.0.1:9000")], b""),
        ("HTTP/1.1", [(b"accept", b"*/*"), (b"hOsT", b"Example.COM")], b""),
        ("HTTP/1.1", [(b"Host", b"caf\xc3\xa9.example"), (b"Host", b"second")], b""),
        ("HTTP/1.1", [(b"Host", b"bad\xff")], b""),
        ("HTTP/1.1", [(b"accept", b"*/*")], b""),
        ("HTTP/2.0", [(b"host", b"from-header")], b"from-authority:443"),
        ("HTTP/2.0", [(b"host", b"from-header")], b""),
        ("HTTP/3", [(b"host", b"from-header")], b"from-authority:443"),
        ("HTTP/1.0", [(b"HOST", b"old")], b""),
    ],
)
def test_host_header_is_mitmproxys(version: str, fields: list, authority: bytes) -> None:
    f = tflow.tflow()
    f.request.http_version = version
    f.request.headers = http.Headers(fields)
    f.request.data.authority = authority
    assert host_header(f.request) == f.request.host_header


def fire_request(addon: Recorder, f: http.HTTPFlow) -> None:
    """The request hook as mitmproxy fires it: only if the addon has one (enforce mode)."""
    hook = getattr(addon, "request", None)
    if hook:
        hook(f)


def run_flow(addon: Recorder, f: http.HTTPFlow, respond) -> None:
    """Drive the hooks in mitmproxy's order: request, then (if not answered) the server's response."""
    fire_request(addon, f)
    if f.response is None:
        respond(f)
        body = f.response.raw_content
        f.response.raw_content = (
            None  # a server's response reaches responseheaders without its body
        )
        addon.responseheaders(f)
        f.response.raw_content = body
    else:
        addon.responseheaders(f)  # mitmproxy emulates the hook for an addon's answer
    addon.response(f)


@pytest.fixture
def recorder(tmp_path: Path):
    addon = Recorder()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_cassette=str(tmp_path / "c.yaml"), chime_hosts=[UPSTREAM_HOST])
        yield addon, tctx
    addon.done()


# --- options -----------------------------------------------------------------------------------


def test_options_are_registered_with_prefix_type_and_help() -> None:
    addon = Recorder()
    with taddons.context(addon) as tctx:
        for name, typ in (
            ("chime_cassette", str),
            ("chime_enforce", bool),
            ("chime_redact_phones", bool),
            ("chime_record_all", bool),
        ):
            opt = tctx.options._options[name]
            assert opt.typespec is typ
            assert opt.help
        assert "chime_hosts" in tctx.options


def test_bad_hosts_rejected_naming_the_option() -> None:
    addon = Recorder()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(exceptions.OptionsError, match="chime_hosts"),
    ):
        tctx.configure(addon, chime_hosts=["127.0.0.1:99999"])


def test_cassette_in_missing_directory_rejected_naming_the_option(tmp_path: Path) -> None:
    addon = Recorder()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(exceptions.OptionsError, match=r"chime_cassette: .*does not exist"),
    ):
        tctx.configure(addon, chime_cassette=str(tmp_path / "nope" / "c.yaml"))
    assert not (tmp_path / "nope").exists()


def test_broken_cassette_rejected_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(b"version: 1\ninteractions: [\n  - {unclosed\n")
    before = path.read_bytes()
    addon = Recorder()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(exceptions.OptionsError, match=r"chime_cassette: .*not valid YAML"),
    ):
        tctx.configure(addon, chime_cassette=str(path))
    assert path.read_bytes() == before


def test_locked_cassette_rejected(tmp_path: Path) -> None:
    path = str(tmp_path / "c.yaml")
    first, second = Recorder(), Recorder()
    with taddons.context(first) as tctx:
        tctx.configure(first, chime_cassette=path)
        with (
            taddons.context(second) as tctx2,
            pytest.raises(
                exceptions.OptionsError, match=r"chime_cassette: .*another chime-tap recorder"
            ),
        ):
            tctx2.configure(second, chime_cassette=path)
    first.done()


# --- classification, validation, marking -------------------------------------------------------


def test_valid_call_recorded_unmarked_with_metadata(recorder, tmp_path: Path) -> None:
    addon, _ = recorder
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": SESSION}))
    assert f.marked == ""
    assert f.comment == "GetProxySession"
    doc = load_cassette(tmp_path / "c.yaml")
    (item,) = doc["interactions"]
    meta = item[META_KEY]
    assert meta["operation"] == "GetProxySession"
    assert meta["namespace"] == "voice"
    assert meta["violations"] == []
    assert meta["answered_by"] == UPSTREAM
    assert meta["recorded_at"].endswith("Z")
    assert "error" not in meta
    assert (
        item["request"]["uri"]
        == f"http://127.0.0.1:9000/voice-connectors/{CONNECTOR}/proxy-sessions/s1"
    )
    assert item["response"]["status"] == {"code": 200, "message": "OK"}
    assert json.loads(item["response"]["body"]["string"]) == {"ProxySession": SESSION}
    assert f.metadata[META_KEY] == meta  # saved flow files carry it too
    text = (tmp_path / "c.yaml").read_text()
    assert "AKIASECRETSECRET" not in text and "token-that-must-not-be-written" not in text


def test_violations_mark_the_flow_and_fill_the_comment(recorder, tmp_path: Path) -> None:
    addon, _ = recorder
    body = json.dumps({"ParticipantPhoneNumbers": [A], "Capabilities": ["Fax"]}).encode()
    f = make_flow("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions", body)
    run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": {"Status": "Weird"}}))
    assert f.marked == VIOLATION_MARK
    lines = f.comment.splitlines()
    assert lines[0] == "CreateProxySession"
    assert any("ParticipantPhoneNumbers" in line for line in lines[1:])
    assert any("answers 201 on success, got 200" in line for line in lines[1:])
    meta = load_cassette(tmp_path / "c.yaml")["interactions"][0][META_KEY]
    parts = {v["part"] for v in meta["violations"]}
    assert parts == {"request body", "status", "response body"}
    assert len(meta["violations"]) == len(lines) - 1


def test_non_chime_traffic_passes_unrecorded(recorder, tmp_path: Path) -> None:
    addon, _ = recorder
    f = make_flow(
        "GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1", host="example.com", port=80
    )
    run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": SESSION}))
    assert f.marked == "" and f.comment == ""
    assert META_KEY not in f.metadata
    assert load_cassette(tmp_path / "c.yaml")["interactions"] == []


def test_record_all_records_other_traffic_too(recorder, tmp_path: Path) -> None:
    addon, tctx = recorder
    tctx.configure(addon, chime_record_all=True)
    f = make_flow("GET", "/index.html", host="example.com", port=80)
    run_flow(addon, f, lambda f: answer(f, 200, {"hello": "world"}))
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert item["request"]["uri"] == "http://example.com/index.html"
    assert item[META_KEY]["operation"] is None and item[META_KEY]["namespace"] is None
    assert item[META_KEY]["answered_by"] == UPSTREAM
    assert f.marked == ""
    # A proxy-session call beside it: one call, two interactions, the other one named as such.
    run_flow(addon, make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1"),
             lambda f: answer(f, 200, {"ProxySession": SESSION}))  # fmt: skip
    summary = addon.summary()
    assert "1 call(s) (1 2xx)" in summary
    assert "2 interaction(s) recorded" in summary
    assert ", 1 of them other traffic (--record-all);" in summary


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1"),
        ("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1/participants"),
    ],
)
def test_unknown_route_on_chime_host_is_flagged(
    recorder, tmp_path: Path, method: str, path: str
) -> None:
    addon, _ = recorder
    f = make_flow(method, path)
    run_flow(addon, f, lambda f: answer(f, 404, {"message": "no"}))
    assert f.marked == VIOLATION_MARK
    assert f.comment.startswith("not a proxy-session call")
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert item[META_KEY]["operation"] is None
    assert item[META_KEY]["namespace"] == "voice"
    assert (
        item[META_KEY]["violations"][0]["message"] == f"not a proxy-session call: {method} {path}"
    )


@pytest.mark.parametrize(
    "path",
    [
        f"/voice-connectors/{CONNECTOR}",  # GetVoiceConnector
        f"/voice-connectors/{CONNECTOR}/phone-numbers",
        "/phone-numbers?product-type=VoiceConnector",
        f"/voice-connectors/{CONNECTOR}/proxy-sessionsX",
    ],
)
def test_other_apis_of_a_chime_host_are_other_traffic(recorder, tmp_path: Path, path: str) -> None:
    """The Chime host serves more than proxy sessions: those calls pass untouched, unrecorded."""
    addon, _ = recorder
    f = make_flow("GET", path)
    run_flow(addon, f, lambda f: answer(f, 200, {"VoiceConnector": {}}))
    assert f.marked == "" and not f.comment
    assert load_cassette(tmp_path / "c.yaml")["interactions"] == []


def test_legacy_aws_host_classified_without_configuration(recorder, tmp_path: Path) -> None:
    addon, _ = recorder
    f = make_flow(
        "DELETE",
        f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1",
        host="service.chime.aws.amazon.com",
        port=443,
    )
    f.request.scheme = "https"
    f.request.headers["Host"] = "service.chime.aws.amazon.com"
    run_flow(addon, f, lambda f: answer(f, 204, None))
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert item[META_KEY]["namespace"] == "legacy"
    assert item[META_KEY]["operation"] == "DeleteProxySession"
    assert (
        item["request"]["uri"]
        == f"https://service.chime.aws.amazon.com/voice-connectors/{CONNECTOR}/proxy-sessions/s1"
    )


# --- enforce mode -------------------------------------------------------------------------------


def test_enforce_answers_invalid_request_itself(recorder, tmp_path: Path) -> None:
    addon, tctx = recorder
    tctx.configure(addon, chime_enforce=True)
    body = json.dumps({"ParticipantPhoneNumbers": [A], "Capabilities": ["Voice"]}).encode()
    f = make_flow("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions", body)
    fire_request(addon, f)
    assert f.response is not None and f.response.status_code == 400
    assert f.response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert f.response.headers["content-type"] == "application/json"
    doc = json.loads(f.response.content)
    assert doc["Code"] == "BadRequest"
    assert "ParticipantPhoneNumbers" in doc["Message"]
    # The answer is itself a valid service error for this operation.
    route = describe("POST", "127.0.0.1", f.request.path, 9000, HostPolicy([UPSTREAM_HOST])).route
    assert (
        validate_response(
            route, status=400, body=f.response.content, headers=dict(f.response.headers)
        )
        == []
    )
    addon.response(f)
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert item[META_KEY]["answered_by"] == RECORDER
    assert item["response"]["status"]["code"] == 400
    assert "enforce" in f.comment


def test_enforce_lets_valid_requests_through(recorder) -> None:
    addon, tctx = recorder
    tctx.configure(addon, chime_enforce=True)
    body = json.dumps({"ParticipantPhoneNumbers": [A, B], "Capabilities": ["Voice"]}).encode()
    f = make_flow("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions", body)
    fire_request(addon, f)
    assert f.response is None


def test_without_enforce_invalid_requests_go_upstream(recorder) -> None:
    addon, tctx = recorder
    f = make_flow("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions", b"{}")
    tctx.master.addons.invoke_addon_sync(addon, HttpRequestHook(f))
    assert f.response is None


def test_the_request_hook_refuses_only_in_enforce_mode(recorder) -> None:
    addon, tctx = recorder
    invalid = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
    f = make_flow("POST", invalid, b"{}")
    tctx.master.addons.invoke_addon_sync(addon, HttpRequestHook(f))
    assert f.response is None  # only noted in flight: the service answers it
    tctx.configure(addon, chime_enforce=True)
    f = make_flow("POST", invalid, b"{}")
    tctx.master.addons.invoke_addon_sync(addon, HttpRequestHook(f))
    assert f.response is not None and f.response.status_code == 400
    tctx.configure(addon, chime_enforce=False)
    f = make_flow("POST", invalid, b"{}")
    tctx.master.addons.invoke_addon_sync(addon, HttpRequestHook(f))
    assert f.response is None


def test_answer_from_another_addon_is_labelled(recorder, tmp_path: Path) -> None:
    addon, _ = recorder
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    fire_request(addon, f)
    answer(f, 200, {"ProxySession": SESSION})  # e.g. the simulator, after us in the chain
    addon.responseheaders(f)  # mitmproxy emulates this hook for an addon's answer
    addon.response(f)
    assert load_cassette(tmp_path / "c.yaml")["interactions"][0][META_KEY]["answered_by"] == ADDON


# --- failures -----------------------------------------------------------------------------------


def test_upstream_failure_recorded_as_status_zero(recorder, tmp_path: Path) -> None:
    addon, _ = recorder
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    fire_request(addon, f)
    f.error = tflow.terr("Connect call failed ('127.0.0.1', 9000)")
    addon.error(f)
    addon.error(f)  # a second hook for the same flow does not record it twice
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert item["response"]["status"]["code"] == NO_RESPONSE
    assert "Connect call failed" in item["response"]["status"]["message"]
    assert item[META_KEY]["error"] == "Connect call failed ('127.0.0.1', 9000)"
    assert item[META_KEY]["answered_by"] == "none"
    assert f.marked == FAILURE_MARK
    assert "failed: Connect call failed" in f.comment


def test_without_cassette_validates_and_marks_only(tmp_path: Path) -> None:
    addon = Recorder()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_hosts=[UPSTREAM_HOST])
        f = make_flow("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions", b"{}")
        run_flow(addon, f, lambda f: answer(f, 201, {"ProxySession": SESSION}))
        assert f.marked == VIOLATION_MARK
        assert addon.writer is None
        assert "0 recorded" in addon.stats()
    assert list(tmp_path.iterdir()) == []


def test_log_line_per_call_without_credentials(recorder, caplog: pytest.LogCaptureFixture) -> None:
    addon, _ = recorder
    caplog.set_level("INFO", logger=CALLS)
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": SESSION}))
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == CALLS and "GetProxySession" in r.getMessage()
    ]
    assert len(lines) == 1
    assert f"connector={CONNECTOR} session=s1 -> 200" in lines[0]
    assert "0 violation(s)" in lines[0]
    assert "AKIASECRET" not in caplog.text and "token-that-must-not" not in caplog.text


def test_per_call_lines_skip_only_mitmproxys_legacy_log_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mitmproxy re-sends every record through all addons as a deprecated add_log event; the
    per-call lines skip that handler (it was the recorder's largest cost) and nothing else."""
    caplog.set_level("INFO", logger=CALLS)
    addon = Recorder()
    # Built in the test body: mitmproxy's handlers only take records from the test phase that
    # installed them, and installing one drops those left by earlier tests.
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_cassette=str(tmp_path / "c.yaml"), chime_hosts=[UPSTREAM_HOST])
        legacy = [h for h in logging.getLogger().handlers if isinstance(h, LegacyLogEvents)]
        assert len(legacy) == 1, "the master installs mitmproxy's legacy log handler"
        other = logging.LogRecord("chime_tap.addons.record", logging.INFO, "", 0, "x", None, None)
        assert legacy[0].filter(other)
        addon.running()
        addon.running()  # idempotent: one filter, however often the hook runs

        f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
        run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": SESSION}))
        per_call = [r for r in caplog.records if r.name == CALLS]
        assert len(per_call) == 1  # other handlers (here pytest's) still get the line
        assert len(legacy[0].filters) == 1
        assert not legacy[0].filter(per_call[0])
        assert legacy[0].filter(other)
    addon.done()


def test_gzip_response_recorded_decoded_without_content_encoding(recorder, tmp_path: Path) -> None:
    addon, _ = recorder
    payload = json.dumps({"ProxySession": SESSION}).encode()

    def respond(f: http.HTTPFlow) -> None:
        f.response = http.Response.make(
            200, b"", {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )
        f.response.raw_content = gzip.compress(payload)
        f.response.headers["Content-Length"] = str(len(f.response.raw_content))

    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, f, respond)
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    headers = {k.lower(): v for k, v in item["response"]["headers"].items()}
    assert "content-encoding" not in headers
    assert headers["content-length"] == [str(len(payload))]
    assert item["response"]["body"]["string"].encode() == payload
    assert item[META_KEY]["violations"] == []


# --- pure functions -----------------------------------------------------------------------------


def test_headers_dict_keeps_repeats_and_first_spelling() -> None:
    fields = ((b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"X-Y", b"z"))
    assert headers_dict(fields) == {"Set-Cookie": ["a=1", "b=2"], "X-Y": ["z"]}


def test_decode_body_keeps_undecodable_body_and_header() -> None:
    headers = {"Content-Encoding": ["gzip"], "Content-Length": ["5"]}
    assert decode_body(b"nope!", headers) == (b"nope!", headers)
    assert decode_body(b"plain", {"A": ["1"]}) == (b"plain", {"A": ["1"]})


def test_describe_and_query() -> None:
    hosts = HostPolicy([UPSTREAM_HOST])
    assert describe("GET", "127.0.0.1", "/x", 9001, hosts) is None
    call = describe(
        "GET", "127.0.0.1", f"/voice-connectors/{CONNECTOR}/proxy-sessions?status=Open", 9000, hosts
    )
    assert call.operation == "ListProxySessions" and call.extra == []
    voice = "voice-chime.us-east-1.amazonaws.com"
    assert describe("GET", voice, "/", None, DEFAULT_HOSTS) is None  # another API of the host
    attempt = describe(
        "PATCH", voice, f"/voice-connectors/{CONNECTOR}/proxy-sessions", None, DEFAULT_HOSTS
    )
    assert attempt.route is None and attempt.extra[0].message.startswith("not a proxy-session call")
    assert query_of("/p?status=Open&max-results=5") == {"status": ["Open"], "max-results": ["5"]}
    assert query_of("/p") == {}


def test_enforce_answer_names_every_problem() -> None:
    vs = [
        Violation(
            "CreateProxySession",
            "request body",
            "/Capabilities/0",
            "'Fax' is not one of ['Voice', 'SMS']",
        ),
        Violation("CreateProxySession", "query", "", "bad"),
    ]
    status, headers, body = enforce_answer(vs)
    msg = json.loads(body)["Message"]
    assert status == 400 and headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "/Capabilities/0" in msg and "query: bad" in msg


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1.5) == "1970-01-01T00:00:01.500Z"


def test_iso_utc_agrees_with_datetime_to_the_millisecond() -> None:
    """The per-second cache and the rounding (to the µs, then truncated) match datetime's."""
    rng = random.Random(7)
    stamps = [rng.uniform(0, 4e9) for _ in range(20_000)]
    stamps += [k + frac for k in range(0, 3000, 7) for frac in (0.0005, 0.9995, 0.9999995)]
    for t in stamps:
        expected = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
        assert iso_utc(t) == expected.replace("+00:00", "Z"), t


@pytest.mark.parametrize(
    ("args", "url"),
    [
        (
            ("https", "voice-chime.us-east-1.amazonaws.com", "x", 443, "/p?q=1"),
            "https://voice-chime.us-east-1.amazonaws.com/p?q=1",
        ),
        (
            ("https", "voice-chime.us-east-1.amazonaws.com:443", "x", 443, "/p"),
            "https://voice-chime.us-east-1.amazonaws.com/p",
        ),
        (("http", "127.0.0.1:9000", "127.0.0.1", 9000, "/p"), "http://127.0.0.1:9000/p"),
        (("http", None, "127.0.0.1", 80, "/p"), "http://127.0.0.1/p"),
        (("https", None, "::1", 8443, "/p"), "https://[::1]:8443/p"),
    ],
)
def test_client_url_matches_mitmproxy_pretty_url(args: tuple, url: str) -> None:
    assert client_url(*args) == url
    scheme, authority, host, port, path = args
    if ":" in host:
        return  # mitmproxy's pretty_url leaves IPv6 hosts unbracketed; ours brackets them
    f = make_flow("GET", path, host=host, port=port)
    f.request.scheme = scheme
    if authority is None:
        del f.request.headers["Host"]
    else:
        f.request.headers["Host"] = authority
    assert f.request.pretty_url == url


# --- bodies kept as they came, and saying so (issue 15, items 1 and 2) --------------------------

BOMB = Path(__file__).parent / "data" / "bad-input" / "bombs" / "zeros-1GiB.br"  # 1 GiB of zeros
BOMB_NOTE = "br decodes to more than 8 MiB (the decoding cap)"


def _coded_response(coding: str, raw: bytes):
    def respond(f: http.HTTPFlow) -> None:
        f.response = http.Response.make(200, b"", {"Content-Type": "application/json"})
        f.response.headers["Content-Encoding"] = coding
        f.response.raw_content = raw
        f.response.headers["Content-Length"] = str(len(raw))

    return respond


def test_a_bomb_is_recorded_as_it_came_and_flagged_everywhere(
    recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The note the decoder gives is kept in the metadata, the mitmweb mark and comment, the line."""
    addon, _ = recorder
    caplog.set_level("INFO", logger=CALLS)
    raw = BOMB.read_bytes()
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, f, _coded_response("br", raw))
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    note = f"response body kept as received ({len(raw):,} bytes): {BOMB_NOTE}"
    assert item[META_KEY]["body_note"] == note
    assert item["response"]["body"]["string"] == raw  # the wire's bytes, with their coding
    assert item["response"]["headers"]["Content-Encoding"] == ["br"]
    assert f.marked == VIOLATION_MARK
    assert note in f.comment.splitlines()
    (line,) = [r for r in caplog.records if r.name == CALLS]
    assert line.levelname == "WARNING" and line.getMessage().endswith(f"; {note}")
    assert f.metadata[META_KEY]["body_note"] == note


@pytest.mark.parametrize(
    ("coding", "raw"),
    [("rot13", b'{"Capabirgvrf": ["Ibvpr"]}'), ("base64", b"eyJDYXBhYmlsaXRpZXMiOiBbIlZvaWNlIl19")],
)
def test_a_python_codec_as_coding_is_recorded_raw_with_its_header(
    recorder, tmp_path: Path, coding: str, raw: bytes
) -> None:
    addon, _ = recorder
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, f, _coded_response(coding, raw))
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert item["response"]["body"]["string"].encode() == raw
    assert item["response"]["headers"]["Content-Encoding"] == [coding]
    note = item[META_KEY]["body_note"]
    assert note == (
        f"response body kept as received ({len(raw)} bytes): "
        f"{coding!r} is not an HTTP content coding"
    )


def test_a_clean_calls_metadata_is_the_yaml_templates(recorder, tmp_path: Path) -> None:
    """No body note on a call whose bodies decoded: the YAML fast path's template fits it."""
    from chime_tap.cassettes import yaml_block

    addon, _ = recorder
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, f, _coded_response("gzip", gzip.compress(json.dumps(SESSION).encode())))
    assert tuple(f.metadata[META_KEY]) == yaml_block._META_KEYS


def test_the_decode_limit_is_an_option(recorder, tmp_path: Path) -> None:
    addon, tctx = recorder
    payload = json.dumps({"ProxySession": SESSION}).encode()
    tctx.configure(addon, chime_decode_limit="100")
    f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, f, _coded_response("gzip", gzip.compress(payload)))
    tctx.configure(addon, chime_decode_limit="1k")
    g = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
    run_flow(addon, g, _coded_response("gzip", gzip.compress(payload)))
    first, second = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert first[META_KEY]["body_note"].endswith(
        "gzip decodes to more than 100 bytes (the decoding cap)"
    )
    assert "body_note" not in second[META_KEY]
    assert second["response"]["body"]["string"].encode() == payload
    with pytest.raises(exceptions.OptionsError, match="chime_decode_limit: '8 MB' is not a size"):
        tctx.configure(addon, chime_decode_limit="8 MB")


@pytest.mark.parametrize(
    ("coding", "raw"),
    [
        ("rot13", b'{"CnegvpvcnagCubarAhzoref": ["+12065550100", "+14015550101"]}'),
        # valid JSON once base64-decoded: the service would see base64, not JSON
        ("base64", b"eyJDYXBhYmlsaXRpZXMiOiBbIlZvaWNlIl19"),
    ],
)
def test_enforce_reads_a_request_body_as_the_service_would(
    recorder, tmp_path: Path, coding: str, raw: bytes
) -> None:
    """A Python codec is no content coding: the body is what it is on the wire, not JSON.
    (mitmproxy's decoder raised a TypeError for rot13, and decoded base64 into valid JSON.)"""
    addon, tctx = recorder
    tctx.configure(addon, chime_enforce=True)
    f = make_flow("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1", raw)
    f.request.headers["Content-Encoding"] = coding
    f.request.headers["Content-Type"] = "application/json"
    fire_request(addon, f)
    assert f.response is not None and f.response.status_code == 400
    assert "request body" in json.loads(f.response.content)["Message"]
    addon.response(f)
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert item["request"]["body"].encode() == raw
    assert item["request"]["headers"]["Content-Encoding"] == [coding]
    assert item[META_KEY]["body_note"].startswith(
        f"request body kept as received ({len(raw)} bytes)"
    )


def test_a_torn_cassette_and_a_replaced_one_are_each_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer's notices reach the log: a torn last interaction moved aside at start, a
    cassette replaced by another program while recording."""
    path = tmp_path / "c.yaml"
    addon = Recorder()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_cassette=str(path), chime_hosts=[UPSTREAM_HOST])
        for session in ("s1", "s2"):
            f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/{session}")
            run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": SESSION}))
    addon.done()
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 40])  # the last interaction cut off mid-write

    caplog.set_level("INFO")
    addon = Recorder()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_cassette=str(path), chime_hosts=[UPSTREAM_HOST])
        torn = [r for r in caplog.records if "torn" in r.getMessage()]
        assert len(torn) == 1 and torn[0].levelname == "WARNING"
        assert "1 whole interaction(s) kept" in torn[0].getMessage()
        other = tmp_path / "other.yaml"
        other.write_bytes(b"version: 1\ninteractions: []\n")
        other.replace(path)  # git checkout, an editor, vcrpy re-saving
        f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s3")
        run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": SESSION}))
        f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s4")
        run_flow(addon, f, lambda f: answer(f, 200, {"ProxySession": SESSION}))
    addon.done()
    replaced = [r for r in caplog.records if "replaced by another program" in r.getMessage()]
    assert len(replaced) == 1 and replaced[0].levelname == "WARNING"
    assert len(load_cassette(path)["interactions"]) == 2


# --- the simulator's control calls, recorded as what they are (issue 15, item 12) ------------


def test_a_simulator_control_call_is_recorded_as_one(
    recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon, _ = recorder
    caplog.set_level("INFO", logger=CALLS)
    f = make_flow("POST", "/clock/advance?seconds=3600", host="sim.chime-tap.invalid", port=80)
    f.request.headers["Host"] = "sim.chime-tap.invalid"
    f.request.headers["Authorization"] = "Bearer control-token-of-the-run"
    run_flow(addon, f, lambda f: answer(f, 200, {"ClockOffsetSeconds": 3600}))
    (item,) = load_cassette(tmp_path / "c.yaml")["interactions"]
    meta = item[META_KEY]
    assert meta["control"] is True
    assert meta["operation"] is None and meta["violations"] == []
    assert item["request"]["uri"] == "http://sim.chime-tap.invalid/clock/advance?seconds=3600"
    assert "control-token-of-the-run" not in (tmp_path / "c.yaml").read_text()
    (line,) = [r.getMessage() for r in caplog.records if r.name == CALLS]
    assert line.startswith("simulator control: POST /clock/advance?seconds=3600 -> 200 in ")
    assert f.comment == "simulator control call"
    assert addon.statuses == {}  # not a proxy-session call
    assert ", 1 of them simulator control call(s);" in addon.summary()


def test_the_proxys_own_auth_challenge_is_not_recorded_a_servers_407_is(tmp_path: Path) -> None:
    """mitmproxy's proxyauth addon answers a request without proxy credentials 407 itself: not
    a call of the service's, not recorded, counted in the summary. A 407 a server sent (an
    upstream proxy's) is its answer, recorded as any other."""
    from mitmproxy.addons.proxyauth import ProxyAuth

    auth, addon = ProxyAuth(), Recorder()
    with taddons.context(auth, addon) as tctx:
        tctx.configure(auth, proxyauth="user:pass")
        tctx.configure(addon, chime_cassette=str(tmp_path / "c.yaml"), chime_hosts=[UPSTREAM_HOST])
        f = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s1")
        auth.requestheaders(f)
        assert f.response is not None and f.response.status_code == 407
        addon.responseheaders(f)
        addon.response(f)
        g = make_flow("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions/s2")
        run_flow(
            addon,
            g,
            lambda fl: answer(fl, 407, None, {"Proxy-Authenticate": 'Basic realm="mitmproxy"'}),
        )
        assert "1 request(s) refused by the proxy's own authentication" in addon.summary()
        addon.done()
    items = load_cassette(tmp_path / "c.yaml")["interactions"]
    assert [(i["request"]["uri"].rsplit("/", 1)[1], i[META_KEY]["answered_by"]) for i in items] == [
        ("s2", UPSTREAM)
    ]
