"""The recorder's cheaper paths give what the plain ones give (issue 18, section 3).

Each shortcut is held to the code it stands in for: the log record to ``Logger.log``'s, the
response verdict cache to a fresh check, the metadata scrub to the generic walk, the header
table to ``headers_dict`` + ``decode``, the YAML quoting test to ``str.isprintable``; and the
script module passes every mitmproxy hook over.
"""

from __future__ import annotations

import gzip
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from mitmproxy import hooks

from chime_tap.addons import record
from chime_tap.api import validation
from chime_tap.api.operations import classify_path
from chime_tap.calllog import call_logger, log_call
from chime_tap.cassettes import scrub
from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.yaml_block import _printable_ascii
from chime_tap.wire import decode, decode_fields, headers_dict
from support.procs import mitmdump, voice_client
from support.upstream import ScriptedUpstream

CONNECTOR = "abcdef1ghij2klmno3pqr4"
PER_LINE = {"created", "msecs", "relativeCreated", "lineno", "msg", "levelno", "levelname"}


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept():
    handler = Keep()
    level = call_logger.level
    call_logger.addHandler(handler)
    call_logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        call_logger.removeHandler(handler)
        call_logger.setLevel(level)


def both(level: int, line: str) -> None:
    call_logger.log(level, line)
    log_call(level, line)


def test_log_call_makes_the_record_logger_log_makes(kept) -> None:
    for level in (logging.INFO, logging.WARNING, logging.INFO):
        both(level, f"GetProxySession -> 200 in 1.0 ms, level {level}")
    assert len(kept) == 6
    for plain, made in zip(kept[0::2], kept[1::2], strict=True):
        assert isinstance(made, logging.LogRecord)
        assert {k: v for k, v in vars(made).items() if k not in PER_LINE} == {
            k: v for k, v in vars(plain).items() if k not in PER_LINE
        }
        assert (made.msg, made.levelno, made.levelname) == (
            plain.msg,
            plain.levelno,
            plain.levelname,
        )
        assert made.getMessage() == plain.getMessage()
        assert list(vars(made)) == list(vars(plain))  # the same fields, in the same order
        assert made.funcName == "both" and made.lineno == plain.lineno + 1  # the next line
        assert plain.created <= made.created < plain.created + 5
        assert made.msecs == int((made.created - int(made.created)) * 1000)
    assert [r.levelname for r in kept[1::2]] == ["INFO", "WARNING", "INFO"]


def test_log_call_respects_level_and_record_factory(kept) -> None:
    call_logger.setLevel(logging.WARNING)
    log_call(logging.INFO, "below the level")
    assert kept == []
    call_logger.setLevel(logging.DEBUG)

    class Mine(logging.LogRecord):
        pass

    before = logging.getLogRecordFactory()
    logging.setLogRecordFactory(Mine)
    try:
        log_call(logging.INFO, "through someone's factory")
    finally:
        logging.setLogRecordFactory(before)
    assert [type(r) for r in kept] == [Mine]
    assert kept[0].funcName == "test_log_call_respects_level_and_record_factory"


def test_log_call_from_another_thread_names_that_thread(kept) -> None:
    log_call(logging.INFO, "main")
    worker = threading.Thread(target=lambda: log_call(logging.INFO, "worker"), name="w-1")
    worker.start()
    worker.join()
    log_call(logging.INFO, "main again")
    assert [(r.msg, r.threadName) for r in kept] == [
        ("main", threading.current_thread().name),
        ("worker", "w-1"),
        ("main again", threading.current_thread().name),
    ]
    assert kept[1].thread == worker.ident


def test_log_call_in_a_forked_child_names_the_child(kept) -> None:
    def log() -> None:
        log_call(logging.INFO, "here")

    log()  # the call site's template made, with this process's id
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the same call site
        try:
            log()
            os.write(write, f"{kept[-1].process} {os.getpid()}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as f:
        logged, child = f.read().split()
    assert int(logged) == int(child) == pid
    log()
    assert kept[-1].process == os.getpid()


RECORDER_HOOKS = {
    "load", "configure", "running", "done", "request", "responseheaders", "response", "error",
    "tls_failed_client", "http_connect",
}  # fmt: skip


def test_the_script_module_is_the_addon_and_passes_other_hooks_over() -> None:
    """mitmproxy looks each hook up on a -s script's module: the recorder's are bound there,
    every other one is there and None, and there is no addon under it to walk into."""
    assert record.addons == []
    for name in {*hooks.all_hooks, *record.MITMPROXY_HOOKS} - record.UNBOUND_HOOKS:
        hook = getattr(record, name)
        if name == "configure":  # the recorder's, as a script's (tests/test_script_bad_options.py)
            assert callable(hook) and hook.__qualname__.startswith("script_configure."), name
        elif name in RECORDER_HOOKS:
            assert hook == getattr(record.recorder, name), name
        else:
            assert hook is None, name
    # mitmproxy warns about any addon with the deprecated add_log name, even bound to None.
    assert not hasattr(record, "add_log")


def test_a_script_loaded_as_mitmproxy_loads_it(tmp_path: Path) -> None:
    """The script module itself, through mitmproxy's script loader: options, the command,
    the request hook following enforce mode's option, a call recorded."""
    from mitmproxy.addons import script
    from mitmproxy.test import taddons, tflow

    module = script.load_script(str(Path(record.__file__)))
    assert module is not None and module is not record
    with taddons.context() as tctx:
        tctx.master.addons.add(module)
        cassette = tmp_path / "calls.yaml"
        tctx.configure(module.recorder, chime_cassette=str(cassette), chime_hosts=["h:9"])
        assert module.request == module.recorder._sent  # notes the call in flight
        tctx.configure(module.recorder, chime_enforce=True)
        assert module.request == module.recorder._refuse_invalid
        f = tflow.tflow(resp=False)
        f.request.host, f.request.port, f.request.path = (
            "h",
            9,
            f"/voice-connectors/{CONNECTOR}/proxy-sessions/x y",
        )
        f.request.headers["Host"] = "h:9"
        tctx.master.addons.trigger(hooks.all_hooks["request"](f))
        assert f.response is not None and f.response.status_code == 400
        tctx.master.addons.trigger(hooks.all_hooks["response"](f))
        stats = tctx.master.commands.call("chime.record.stats")
        assert stats == f"{cassette}: 1 recorded, 1 with violations, 0 failed, 0 not written"
        tctx.configure(module.recorder, chime_enforce=False)
        assert module.request == module.recorder._sent  # notes the call in flight
        tctx.master.addons.trigger(hooks.all_hooks["done"]())
    assert len(load_cassette(cassette)["interactions"]) == 1


def test_enforce_mode_through_mitmdump_s(tmp_path: Path) -> None:
    """``mitmdump -s addons/record.py --set chime_enforce=true``: the invalid call is answered
    400 by the recorder and never reaches the upstream; the valid one does; both recorded."""
    cassette = tmp_path / "calls.yaml"
    with ScriptedUpstream() as up:
        args = ["-s", record.__file__, "--set", f"chime_cassette={cassette}",
                "--set", f"chime_hosts={up.host}", "--set", "chime_enforce=true"]  # fmt: skip
        with mitmdump(args, confdir=tmp_path / "conf") as proxy:
            client = voice_client(proxy, endpoint=up.url)
            with pytest.raises(botocore.exceptions.ClientError) as e:
                client.create_proxy_session(
                    VoiceConnectorId=CONNECTOR,
                    ParticipantPhoneNumbers=["+12065550100", "+14015550101"],
                    Capabilities=["Voice"],
                    Name="no_underscores!",
                )
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
            assert proxy.stop(signal.SIGTERM) == 0
        assert [s.method for s in up.seen] == ["GET"]
    items = load_cassette(cassette)["interactions"]
    assert [(i[META_KEY]["answered_by"], i["response"]["status"]["code"]) for i in items] == [
        ("chime-tap", 400),
        ("upstream", 200),
    ]
    assert any("answered by chime-tap enforce" in line for line in proxy.lines)


# --- the response verdict cache -----------------------------------------------------------------

GOOD = (
    b'{"ProxySession":{"Capabilities":["SMS","Voice"],"ExpiryMinutes":60,'
    b'"ProxySessionId":"123a4bc5-67d8-901e-2f3g-h4ghjk56789l","Status":"Open",'
    b'"VoiceConnectorId":"abcdef1ghij2klmno3pqr4"}}'
)
BAD = b'{"ProxySession":{"Capabilities":["Fax"],"ExpiryMinutes":"sixty"}}'
ERROR = b'{"Code":"NotFound","Message":"no such session"}'


def route(method: str = "GET", session: str | None = "s-1"):
    path = f"/voice-connectors/{CONNECTOR}/proxy-sessions" + (f"/{session}" if session else "")
    found = classify_path(method, path, "voice")
    assert found is not None
    return found


CASES: list[tuple[int, Any, dict[str, str] | None]] = [
    (200, GOOD, None),
    (200, BAD, None),
    (200, GOOD.decode(), None),
    (201, GOOD, None),
    (200, b"", None),
    (200, b"not json", None),
    (404, ERROR, {"x-amzn-ErrorType": "NotFoundException"}),
    (404, ERROR, {"x-amzn-ErrorType": "ThrottledClientException"}),
    (404, ERROR, None),
    (429, ERROR, {"x-amzn-ErrorType": "ThrottledClientException"}),
]


def test_a_cached_verdict_is_the_fresh_one() -> None:
    validation._VERDICTS.clear()
    fresh = [
        validation._validate_response(route(), status, body, headers, validation.default_engine())
        for status, body, headers in CASES
    ]
    assert fresh[0] == [] and fresh[1] and fresh[6] == [] and fresh[7]  # the cases differ
    for _ in range(3):  # first checked, then from the cache
        got = [
            validation.validate_response(route(), status=status, body=body, headers=headers)
            for status, body, headers in CASES
        ]
        assert got == fresh
    assert len(validation._VERDICTS) == len(CASES)
    # The session id of the path does not change a response's verdict; the operation does.
    assert validation.validate_response(route(session="other"), status=200, body=BAD) == fresh[1]
    created = validation.validate_response(route("POST", None), status=200, body=GOOD)
    assert created and created != fresh[0]


def test_the_caller_gets_its_own_list() -> None:
    validation._VERDICTS.clear()
    first = validation.validate_response(route(), status=200, body=BAD)
    count = len(first)
    first.append("changed by the caller")
    assert len(validation.validate_response(route(), status=200, body=BAD)) == count


def test_the_cache_is_bounded_and_large_bodies_stay_out() -> None:
    validation._VERDICTS.clear()
    for i in range(validation._VERDICTS_MAX + 10):
        body = b'{"ProxySession":{"ExpiryMinutes":%d}}' % i
        validation.validate_response(route(), status=200, body=body)
        assert len(validation._VERDICTS) <= validation._VERDICTS_MAX
    validation._VERDICTS.clear()
    big = b'{"ProxySession":{"Name":"' + b"x" * validation._VERDICT_BODY_MAX + b'"}}'
    assert validation.validate_response(route(), status=200, body=big)  # Name too long
    assert validation._VERDICTS == {}


# --- scrubbing the metadata --------------------------------------------------------------------


def generic_scrub_strings(value: Any) -> Any:
    """scrub_strings as it was: the walk the fast path stands in for."""
    if isinstance(value, str):
        return scrub.scrub_text(value)
    if isinstance(value, dict):
        return {k: generic_scrub_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [generic_scrub_strings(v) for v in value]
    return value


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    "meta",
    [
        {
            "recorded_at": "2026-12-01T21:15:11.123Z",
            "duration_ms": 1.25,
            "operation": "GetProxySession",
            "namespace": None,
            "violations": [],
            "answered_by": "upstream",
        },
        {
            "recorded_at": "2026-12-01T21:15:11.123Z",
            "count": 3,
            "control": True,
            "violations": [
                {"part": "request body", "message": f'"SecretAccessKey": "{SECRET}" is bad'}
            ],
            "error": f"https://h/x?X-Amz-Signature={SECRET}&a=1",
            "baseline": {
                "match": "exact",
                "note": f"Token={SECRET}",
                "nested": [[f"'Password': '{SECRET}'"]],
            },
            "12345": "0",
            "pair": ("a", 1),
        },
    ],
)
def test_scrub_strings_is_the_generic_walk(meta: dict[str, Any]) -> None:
    got = scrub.scrub_strings(meta)
    assert got == generic_scrub_strings(meta)
    assert got is not meta and SECRET not in repr(got)
    assert type(got["violations"]) is list and got["violations"] is not meta["violations"]


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01T21:15:11.123Z",
        "1.5",
        "-12",
        "0",
        "2026-12-01T21:15:11+00:00",
        f"1&Token={SECRET}",
        f"9 https://h/x?X-Amz-Signature={SECRET}&a=1",
        f'1"SecretKey":"{SECRET}"',
    ],
)
def test_inert_short_strings_scrub_as_before(text: str) -> None:
    assert scrub.scrub_text(text) == scrub._scrub_text(text)
    assert SECRET not in scrub.scrub_text(text)


# --- header tables and YAML quoting ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "raw"),
    [
        ([(b"Content-Type", b"application/json"), (b"content-length", b"2")], b"{}"),
        ([(b"Set-Cookie", b"a=1"), (b"X-Y", b"z"), (b"set-cookie", b"b=2")], b"body"),
        (
            [(b"Content-Encoding", b"gzip"), (b"Content-Length", b"99")],
            gzip.compress(b"{}", mtime=0),
        ),
        ([(b"content-encoding", b"rot13"), (b"CONTENT-ENCODING", b"gzip")], b"x"),
        ([(b"Content-Encoding", b"gzip")], b""),
        ([(b"Content-Encoding", b"gzip")], None),
        ([(b"H\xe9", b"v\xff")], b"\x00"),
        ([], b"{}"),
    ],
)
def test_decode_fields_is_headers_dict_then_decode(fields, raw) -> None:
    assert decode_fields(tuple(fields), raw) == decode(raw, headers_dict(fields))


def reference_headers(fields) -> dict[str, list[str]]:
    """What headers_dict gives, spelled plainly: every name decoded and lowered on each field."""
    out: dict[str, list[str]] = {}
    first: dict[str, str] = {}
    for raw_name, raw_value in fields:
        name = raw_name.decode("latin-1")
        out.setdefault(first.setdefault(name.lower(), name), []).append(raw_value.decode("latin-1"))
    return out


def test_header_names_looked_up_by_their_bytes_give_what_decoding_gives() -> None:
    """Twice each, the second time from the names' cache; names past its bound and bytearrays
    are decoded every time."""
    tables = [
        [(b"Host", b"h"), (b"HOST", b"i"), (b"host", b"j")],
        [(b"X-\xe9t\xe9", b"\xff"), (b"x-\xc9t\xc9", b"2")],  # latin-1 lower-cases these too
        [(b"N" * 65, b"long"), (b"n" * 65, b"name")],
        [(bytearray(b"Content-Type"), b"a/b"), (b"content-type", b"c/d")],
        [(b"Content-Encoding", b"gzip"), (b"content-ENCODING", b"br")],
    ]
    for fields in tables * 2:
        assert headers_dict(fields) == reference_headers(fields)


def test_printable_ascii_is_isprintable() -> None:
    for c in range(128):
        text = f"a{chr(c)}b"
        assert _printable_ascii(text) == text.isprintable(), c
    assert _printable_ascii("") and _printable_ascii('{"a": [1, 2]} ~')
