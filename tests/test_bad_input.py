"""The committed bad-input corpus (tests/data/bad-input/manifest.json) against real processes.

Requests go through a running proxy over raw loopback sockets (so framing, encodings and header
sizes are exactly what the case says), both the simulator and a recorder forwarding to a loopback
upstream; cassettes go to every command that reads them (validate, report, replay); wrong
command lines go to ``chime-tap``. For every case: the proxy keeps serving, nothing crashes,
no traceback, the user gets one line or an answer (or a flagged flow), and the rest of the run
is intact. How each case was handled is collected into a table printed at the end of the module
(run with -s) and written to ``bad-input-summary.md`` in pytest's base temp directory.
"""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from support.h2client import h2_request
from support.loadgen import vcr_load
from support.procs import (
    CONNECTOR,
    FAKE_ACCESS_KEY,
    FAKE_SESSION_TOKEN,
    SECRETS,
    ProxyProcess,
    chime_tap,
)
from support.upstream import ScriptedUpstream, error_body, make_session

DATA = Path(__file__).parent / "data" / "bad-input"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
REQUESTS = {case["name"]: case for case in MANIFEST["requests"]}
CASSETTES = MANIFEST["cassettes"]
CLI = {case["name"]: case for case in MANIFEST["cli"]}
REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
SESSION = "corpus-session"
CLOSED_PORT = 9  # discard: nothing listens there; the simulator never connects anyway
RSS_LIMIT = 512 << 20  # no proxy above this, whatever body it was sent

# Cassette cases built at test time (name in the manifest's "generate"), to keep the repo small.
GENERATORS: dict[str, Callable[[], bytes]] = {
    "yaml-flow-100k": lambda: b"version: 1\ninteractions: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "json-flow-100k": lambda: b'{"version": 1, "interactions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    # 1,499 block mappings, each indented one more space: nesting with no bracket at all.
    "yaml-block-1500": lambda: b"version: 1\ninteractions: []\nnested:\n"
    + b"".join(b" " * i + b"k:\n" for i in range(1, 1500)) + b" " * 1500 + b"x\n",
}  # fmt: skip


def test_the_corpus_has_at_least_thirty_cases():
    assert len(REQUESTS) + len(CASSETTES) + len(CLI) >= 30
    committed = {name for name, case in CASSETTES.items() if "generate" not in case}
    assert committed == {p.name for p in (DATA / "cassettes").iterdir()}
    assert {c["generate"] for c in CASSETTES.values() if "generate" in c} <= set(GENERATORS)
    assert {c["record"] for c in REQUESTS.values()} <= set(RECORD_OUTCOMES)


# --- how each case was handled: the table the closing note cites -----------------------------

Handled = Callable[[str, str, str], None]  # (case, path, what happened)


@pytest.fixture(scope="module")
def handled(tmp_path_factory: pytest.TempPathFactory, figures: list[str]) -> Iterator[Handled]:
    """Collects one line per case and path; prints the table at the end of the module."""
    table: dict[str, dict[str, str]] = {}

    def note(case: str, path: str, what: str) -> None:
        table.setdefault(case, {})[path] = " ".join(what.split())

    yield note
    lines = summary_table(table)
    out = tmp_path_factory.getbasetemp() / "bad-input-summary.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n\nbad-input corpus: how each case was handled\n" + "\n".join(lines))
    figures.append(f"bad-input corpus: {len(table)} case(s) run, table in {out}")


def summary_table(table: dict[str, dict[str, str]]) -> list[str]:
    """A Markdown table, cases in manifest order: case, then each path's outcome."""
    order = [f"request {n}" for n in REQUESTS] + [f"cassette {n}" for n in sorted(CASSETTES)]
    order += [f"cli {n}" for n in CLI]
    rows = ["| case | how it was handled |", "|---|---|"]
    for case in [c for c in order if c in table] + sorted(set(table) - set(order)):
        rows.append(f"| {case} | " + "; ".join(f"{p}: {w}" for p, w in table[case].items()) + " |")
    return rows


def _answer_text(answer: tuple[int, bytes] | str) -> str:
    return answer if isinstance(answer, str) else f"answered {answer[0]}"


# --- building requests ------------------------------------------------------------------------


def _fill(text: str) -> str:
    """Fill the manifest's placeholders; bodies hold JSON braces, so no str.format."""
    values = {
        "connector": CONNECTOR,
        "session": SESSION,
        "access_key": FAKE_ACCESS_KEY,
        "session_token": FAKE_SESSION_TOKEN,
    }
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _body(case: dict) -> bytes:
    generate = case.get("generate")
    if generate == "10MB-name":
        name = "a" * (10 * 1024 * 1024)
        return json.dumps(
            {
                "ParticipantPhoneNumbers": ["+12065550100", "+14015550101"],
                "Capabilities": ["Voice"],
                "Name": name,
            }
        ).encode()
    if generate == "nested-100k":
        return b"[" * 100_000 + b"]" * 100_000
    if generate == "gzip-bomb-1GiB":  # 1,024 gzip members of 1 MiB of zeros each: about 1 MB
        return gzip.compress(b"\0" * (1 << 20), compresslevel=9, mtime=0) * 1024
    if "body_file" in case:
        return (DATA / case["body_file"]).read_bytes()
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"])
    body = _fill(case.get("body", "")).encode()
    encode = case.get("encode")
    if encode == "gzip":
        return gzip.compress(body, mtime=0)
    if encode == "deflate":
        return zlib.compress(body)
    if encode == "br":
        return brotli.compress(body)
    return body


def _headers(case: dict, authority: str) -> list[tuple[str, str]]:
    headers = [("Host", authority)] + [(k, _fill(v)) for k, v in case["headers"].items()]
    if case.get("generate") == "header-256KB":
        headers.append(("X-Huge", "h" * (256 * 1024)))
    if case.get("generate") == "headers-2000":
        headers += [(f"X-Many-{i}", str(i)) for i in range(2000)]
    return headers


def raw_request(case: dict, authority: str) -> bytes:
    """The exact HTTP/1.1 bytes of a case, in absolute form for a forward proxy."""
    body = _body(case)
    lines = [f"{case['method']} http://{authority}{_fill(case['path'])} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in _headers(case, authority)]
    framing = case.get("framing")
    if framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        step = max(1, len(body) // 3)
        chunks = [body[i : i + step] for i in range(0, len(body), step)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    elif framing == "chunked-raw":
        lines.append("Transfer-Encoding: chunked")
        body = case["raw_body"].encode()
    else:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send_raw(port: int, data: bytes, timeout: float = 60.0) -> tuple[int, bytes] | str:
    """Send bytes to the proxy; (status, body) of the answer, or why there was none."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError as e:  # the proxy may close on us mid-send (e.g. headers too large)
            return f"send failed: {type(e).__name__}"
        response = http.client.HTTPResponse(sock, method="GET")
        try:
            response.begin()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as e:
            return f"no answer: {type(e).__name__}"


def send_h2(
    proxy: ProxyProcess, case: dict, authority: str, timeout: float = 30.0
) -> tuple[int, bytes]:
    """One h2 request of a case through the proxy (CONNECT, TLS with ALPN h2, its CA)."""
    body = _body(case)
    headers = [
        (":method", case["method"]),
        (":path", _fill(case["path"])),
        (":scheme", "https"),
        (":authority", authority),
    ]
    headers += [(k.lower(), _fill(v)) for k, v in case["headers"].items()]
    headers.append(("content-length", str(len(body))))
    status, _, data = h2_request(
        proxy, authority, headers, body, server_name="voice-chime.us-east-1.amazonaws.com",
        timeout=timeout,
    )  # fmt: skip
    return status, data


# --- against the simulator --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    confdir = tmp_path_factory.mktemp("bad-input-sim")
    authority = f"127.0.0.1:{CLOSED_PORT}"
    with chime_tap(["simulate", "--hosts", f"{authority}=voice"], confdir=confdir) as proxy:
        yield proxy, authority


GOOD_GET = {
    "method": "GET",
    "path": "/voice-connectors/{connector}/proxy-sessions",
    "headers": {},
    "body": "",
}


def _good(proxy: ProxyProcess, authority: str) -> None:
    answer = send_raw(proxy.port, raw_request(GOOD_GET, authority))
    assert isinstance(answer, tuple) and answer[0] == 200, answer
    assert b'"ProxySessions"' in answer[1]


@pytest.mark.parametrize("name", list(REQUESTS))
def test_request_case_through_the_simulator(sim, handled, name):
    proxy, authority = sim
    case = REQUESTS[name]
    first_line = len(proxy.lines)
    _good(proxy, authority)
    if case.get("protocol") == "h2":
        answer: tuple[int, bytes] | str = send_h2(proxy, case, authority)
    else:
        answer = send_raw(proxy.port, raw_request(case, authority))
    expected = case["simulate"]
    if expected == "rejected":  # the proxy refuses it itself: an HTTP error or a closed connection
        assert isinstance(answer, str) or 400 <= answer[0] < 500, answer
    else:
        assert isinstance(answer, tuple), answer
        status, body = answer
        assert status == expected, body[:300]
        if status >= 400:  # the simulator says what is wrong, in the service's error shape
            doc = json.loads(body)
            assert doc.get("Message") or doc.get("message"), doc
    # The proxy is alive, still serves, and never printed a traceback.
    assert proxy.proc.poll() is None, proxy.output
    _good(proxy, authority)
    output = "\n".join(proxy.lines[first_line:])
    assert "Traceback" not in output and "Addon error" not in output, output[-3000:]
    refused = "refused by the proxy: " if expected == "rejected" else ""
    handled(
        f"request {name}",
        "simulator",
        f"{refused}{_answer_text(answer)}, kept serving{_rss(proxy, case)}",
    )


def peak_rss(proxy: ProxyProcess) -> int:
    """The proxy's peak resident memory so far (VmHWM), in bytes."""
    status = Path(f"/proc/{proxy.proc.pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


def _rss(proxy: ProxyProcess, case: dict) -> str:
    """For a bomb: the proxy's peak resident memory stayed under 512 MB (said in the table)."""
    if not case.get("bomb"):
        return ""
    peak = peak_rss(proxy)
    assert peak < RSS_LIMIT, f"peak RSS {peak >> 20} MiB"
    return f", peak RSS {peak >> 20} MiB"


# --- through a replay of the reference cassette -----------------------------------------------


@pytest.fixture(scope="module")
def replaying(tmp_path_factory):
    """``chime-tap replay`` of the reference cassette: none of the cases was recorded there."""
    confdir = tmp_path_factory.mktemp("bad-input-replay")
    authority = f"127.0.0.1:{CLOSED_PORT}"
    args = ["replay", "--cassette", str(REFERENCE), "--hosts", f"{authority}=voice"]
    with chime_tap(args, confdir=confdir) as proxy:
        yield proxy, authority


def _missed(proxy: ProxyProcess, authority: str) -> None:
    answer = send_raw(proxy.port, raw_request(GOOD_GET, authority))
    assert isinstance(answer, tuple) and answer[0] == 599, answer


@pytest.mark.parametrize("name", list(REQUESTS))
def test_request_case_through_replay(replaying, handled, name):
    """Replay reads each request's body to match it: a bomb, a codec that is no content coding,
    a broken body are read bounded and as they came, and answered with the miss they are."""
    proxy, authority = replaying
    case = REQUESTS[name]
    first_line = len(proxy.lines)
    if case.get("protocol") == "h2":
        answer: tuple[int, bytes] | str = send_h2(proxy, case, authority)
    else:
        answer = send_raw(proxy.port, raw_request(case, authority))
    if case["simulate"] == "rejected":
        assert isinstance(answer, str) or 400 <= answer[0] < 500, answer
    else:
        assert isinstance(answer, tuple) and answer[0] == 599, answer
        assert json.loads(answer[1])["Code"] == "ChimeTapReplayMiss"
    assert proxy.proc.poll() is None, proxy.output
    _missed(proxy, authority)
    output = "\n".join(proxy.lines[first_line:])
    assert "Traceback" not in output and "Addon error" not in output, output[-3000:]
    handled(f"request {name}", "replay", f"{_answer_text(answer)}, kept serving{_rss(proxy, case)}")


# --- through a real recorder, forwarding to a loopback upstream -------------------------------

RECORD_OUTCOMES = ("valid", "flagged", "failed", "other-traffic", "rejected")


class _Upstream(ScriptedUpstream):
    """The loopback test upstream, answering a JSON body that is no object (an array, null, or
    nested past the parser's depth) with the service's 400 instead of raising on it (which drops
    the connection, so the case would test the upstream's crash rather than the recorder)."""

    def answer(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            return super().answer(method, raw_path, body)
        except (AttributeError, RecursionError):
            headers, payload = error_body(400, "body is not a JSON object")
            return 400, headers, payload


def good_id(i: int) -> str:
    return f"good-{i:03d}"


@dataclass
class Recording:
    proxy: ProxyProcess
    plain: _Upstream  # HTTP/1.1, for the raw-socket cases
    tls: _Upstream  # HTTPS, for the HTTP/2 case
    cassette: Path
    sent: list[str] = field(default_factory=list)  # case names, in the order sent
    goods: int = 0  # known-good GetProxySession calls answered so far


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    """A real ``chime-tap record`` for the whole batch of request cases; one good call sent."""
    tmp = tmp_path_factory.mktemp("bad-input-record")
    with _Upstream() as plain, _Upstream(tls_dir=tmp) as tls:
        for i in range(len(REQUESTS) + 1):
            plain.sessions[(CONNECTOR, good_id(i))] = make_session(
                CONNECTOR, good_id(i), {"ParticipantPhoneNumbers": ["+12065550100", "+14015550101"]}
            )
        args = [
            "record", "--cassette", str(tmp / "run.yaml"), "--hosts", f"{plain.host},{tls.host}",
            "--set", "ssl_insecure=true",  # the TLS upstream's certificate is self-signed
            # Offer the client h2 without first asking the upstream (HTTP/1.1 only), as against
            # the real service: mitmproxy speaks h2 to the client and HTTP/1.1 upstream.
            "--set", "connection_strategy=lazy",
        ]  # fmt: skip
        with chime_tap(args, confdir=tmp / "conf") as proxy:
            rec = Recording(proxy, plain, tls, tmp / "run.yaml")
            _good_call(rec)
            yield rec


def _good_call(rec: Recording) -> None:
    """A GetProxySession of a session the upstream holds: 200, every time, whatever came before."""
    session = good_id(rec.goods)
    case = {
        "method": "GET",
        "path": f"/voice-connectors/{{connector}}/proxy-sessions/{session}",
        "headers": {},
    }
    answer = send_raw(rec.proxy.port, raw_request(case, rec.plain.host))
    assert isinstance(answer, tuple) and answer[0] == 200, answer
    assert json.loads(answer[1])["ProxySession"]["ProxySessionId"] == session
    rec.goods += 1


def _forget_created_sessions(up: ScriptedUpstream) -> None:
    """Each case starts from the same upstream state (a 10 MB Name must not reach later Lists)."""
    for key in [k for k in up.sessions if not k[1].startswith("good-")]:
        del up.sessions[key]


@pytest.mark.parametrize("name", list(REQUESTS))
def test_request_case_through_the_recorder(recording, handled, name):
    """The recorder survives the case and keeps serving: a good call answers 200 right after it.
    What it wrote for the case is checked once the batch is over, by the test below."""
    rec, case = recording, REQUESTS[name]
    first_line = len(rec.proxy.lines)
    if case.get("protocol") == "h2":
        answer: tuple[int, bytes] | str = send_h2(rec.proxy, case, rec.tls.host)
    else:
        answer = send_raw(rec.proxy.port, raw_request(case, rec.plain.host))
    rec.sent.append(name)
    _forget_created_sessions(rec.plain)
    _forget_created_sessions(rec.tls)
    expected = case["record"]
    if expected in ("failed", "rejected"):  # the client gets no answer, or the proxy's own error
        assert isinstance(answer, str) or 400 <= answer[0] < 600, answer
    else:  # the upstream answered, and that answer went back to the client
        assert isinstance(answer, tuple) and answer[0] != 502, answer
    assert rec.proxy.proc.poll() is None, rec.proxy.output[-3000:]
    _good_call(rec)
    output = "\n".join(rec.proxy.lines[first_line:])
    assert "Traceback" not in output and "Addon error" not in output, output[-3000:]
    handled(
        f"request {name}",
        "client via recorder",
        f"{_answer_text(answer)}, kept serving{_rss(rec.proxy, case)}",
    )


def _good_index(item: dict) -> int | None:
    parts = urlsplit(item["request"]["uri"])
    last = parts.path.rsplit("/", 1)[-1]
    if item["request"]["method"] == "GET" and last.startswith("good-"):
        return int(last.removeprefix("good-"))
    return None


def test_the_recording_holds_every_good_call_and_each_case_as_the_manifest_says(
    recording, handled, tmp_path
):
    rec = recording
    assert rec.proxy.stop(signal.SIGTERM) == 0  # flushed and exited cleanly
    assert "Traceback" not in rec.proxy.output and "Addon error" not in rec.proxy.output
    pairs = vcr_load(rec.cassette)  # plain vcrpy loads what the recorder wrote
    items = load_cassette(rec.cassette)["interactions"]
    assert len(pairs) == len(items)

    goods = [i for i, item in enumerate(items) if _good_index(item) is not None]
    assert [_good_index(items[i]) for i in goods] == list(range(rec.goods))
    for i in goods:
        assert items[i]["response"]["status"]["code"] == 200
        assert items[i][META_KEY]["violations"] == [], items[i][META_KEY]
    assert len(rec.sent) == rec.goods - 1  # case k was sent between good calls k and k + 1
    for k, name in enumerate(rec.sent):
        case, between = REQUESTS[name], items[goods[k] + 1 : goods[k + 1]]
        handled(f"request {name}", "recorder", _check_recorded(name, case["record"], between))

    # The rest of the run is intact: validate and report read the whole cassette.
    validate = _run(
        ["validate", str(rec.cassette), "--hosts", f"{rec.plain.host},{rec.tls.host}"], cwd=tmp_path
    )
    assert validate.returncode == 1 and "Traceback" not in validate.stderr, validate.stderr[-2000:]
    report = _run(["report", str(rec.cassette), "--format", "json"], cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    assert json.loads(report.stdout)["interactions"] == len(items)


def test_replay_answers_the_good_calls_of_the_recording(recording, tmp_path):
    """The recording, bad cases and all, replays: its first good call is answered from it."""
    rec = recording
    replay = ["replay", "--cassette", str(rec.cassette), "--hosts", rec.plain.host]
    with chime_tap(replay, confdir=tmp_path / "conf") as proxy:
        case = {
            "method": "GET",
            "path": f"/voice-connectors/{{connector}}/proxy-sessions/{good_id(0)}",
            "headers": {},
        }
        answer = send_raw(proxy.port, raw_request(case, rec.plain.host))
        assert isinstance(answer, tuple) and answer[0] == 200, answer
        assert json.loads(answer[1])["ProxySession"]["ProxySessionId"] == good_id(0)
        assert proxy.stop(signal.SIGTERM) == 0


def _as_bytes(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")


def _check_body_note(name: str, item: dict) -> None:
    """A body kept as it came (a bomb, a coding that is none) is kept with its coding and said
    so in ``chime_tap.body_note``; any other call has no note."""
    case, meta = REQUESTS[name], item[META_KEY]
    if "body_note" not in case:
        assert "body_note" not in meta, (name, meta)
        return
    assert case["body_note"] in meta.get("body_note", ""), (name, meta)
    assert item["request"]["headers"]["Content-Encoding"] == [case["headers"]["Content-Encoding"]]
    assert _as_bytes(item["request"]["body"]) == _body(case), name


def _check_recorded(name: str, expected: str, between: list[dict]) -> str:
    """Assert what the recorder wrote for one case; say it in a few words for the table."""
    if expected in ("other-traffic", "rejected"):
        assert between == [], (name, between)
        return "not recorded (other traffic)" if expected == "other-traffic" else "not recorded"
    assert len(between) == 1, (name, [i["request"]["uri"][:100] for i in between])
    (item,) = between
    meta = item[META_KEY]
    assert item["request"]["method"] == REQUESTS[name]["method"], name
    status, violations = item["response"]["status"]["code"], meta["violations"]
    _check_body_note(name, item)
    if expected == "valid":
        assert violations == [], (name, violations)
        return f"recorded, valid ({meta['operation']} {status})"
    if expected == "failed":
        assert status == 0 and meta.get("error"), (name, meta)
        return f"recorded as failed (status 0: {meta['error'][:60]})"
    assert violations, (name, meta)
    first = violations[0]["message"][:70]
    return f"recorded, flagged ({meta['operation'] or 'not a proxy-session call'} {status}, {len(violations)} violation(s): {first})"


# --- cassettes given to the commands ----------------------------------------------------------


def _run(args: list[str], cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def cassette_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every cassette case's file: committed, or generated here."""
    made = tmp_path_factory.mktemp("generated-cassettes")
    files = {}
    for name, case in CASSETTES.items():
        if "generate" in case:
            files[name] = made / name
            files[name].write_bytes(GENERATORS[case["generate"]]())
        else:
            files[name] = DATA / "cassettes" / name
    return files


def _never_executed(expect: dict, cwd: Path) -> None:
    if "never_creates" in expect:  # the tag's payload would have created this file in cwd
        assert not (cwd / expect["never_creates"]).exists()


@pytest.mark.parametrize("name", sorted(CASSETTES))
def test_cassette_case_with_validate(tmp_path, cassette_files, handled, name):
    expect = CASSETTES[name]
    path = cassette_files[name]
    result = _run(["validate", str(REFERENCE), str(path), str(REFERENCE)], cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == expect["exit"], result.stderr
    assert expect["stderr"] in result.stderr + result.stdout
    if (
        expect["exit"] == 2
    ):  # one line naming the file, and the good cassettes around it still checked
        refusals = [line for line in result.stderr.splitlines() if line.startswith("chime-tap: ")]
        assert refusals == [refusals[0]] and str(path) in refusals[0], result.stderr
        assert "4 proxy-session interaction(s) checked" in result.stderr
        handled(f"cassette {name}", "validate", f"exit 2, {refusals[0].split(': ', 2)[-1][:90]}")
    else:
        handled(f"cassette {name}", "validate", f"exit {result.returncode}, {expect['stderr']}")
    _never_executed(expect, tmp_path)
    if "never_creates" in expect:
        assert list(tmp_path.iterdir()) == []


def _report_expectation(name: str) -> tuple[str, str]:
    kind, _, detail = CASSETTES[name]["report"].partition(": ")
    assert kind in ("skipped", "read"), name
    return kind, detail


def test_every_cassette_case_in_one_report_beside_a_good_cassette(
    tmp_path, cassette_files, handled
):
    """All the cases in one ``chime-tap report``: each unusable file named once in a one-line
    warning, the readable ones reported with the good cassette, exit 1 (some input skipped)."""
    names = sorted(CASSETTES)
    paths = [cassette_files[n] for n in names]
    result = _run(
        ["report", str(REFERENCE), *map(str, paths), "--format", "json"], cwd=tmp_path, timeout=300
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1, result.stderr[-3000:]
    warnings = result.stderr.splitlines()
    rows, skipped = 2, 0  # the reference cassette's two calls
    for name, path in zip(names, paths, strict=True):
        kind, detail = _report_expectation(name)
        named = [line for line in warnings if str(path) in line]
        if kind == "skipped":
            skipped += 1
            assert len(named) == 1, (name, named)
            assert named[0].startswith(f"chime-tap: warning: skipped {path}: "), named
            assert detail in named[0], (detail, named[0])
            handled(f"cassette {name}", "report", "skipped, one warning line")
        else:
            assert named == [], named
            rows += int(detail)
            handled(f"cassette {name}", "report", f"read ({detail} row(s))")
        _never_executed(CASSETTES[name], tmp_path)
    assert len(warnings) == skipped, warnings
    assert json.loads(result.stdout)["interactions"] == rows


def test_unusable_cassettes_alone_give_exit_2(tmp_path, cassette_files):
    skipped = [
        cassette_files[n] for n in sorted(CASSETTES) if _report_expectation(n)[0] == "skipped"
    ]
    result = _run(["report", *map(str, skipped)], cwd=tmp_path, timeout=300)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert lines[-1] == f"chime-tap: no input could be read ({len(skipped)} skipped)"
    assert len(lines) == len(skipped) + 1


@pytest.mark.parametrize("name", sorted(CASSETTES))
def test_cassette_case_with_replay(tmp_path, cassette_files, handled, name):
    """``chime-tap replay --cassette``: refuses to start in one line (exit 2), or serves."""
    expect = CASSETTES[name]
    path = cassette_files[name]
    kind, _, detail = expect["replay"].partition(": ")
    if kind == "serves":
        with chime_tap(
            ["replay", "--cassette", str(path)], confdir=tmp_path / "conf", cwd=tmp_path
        ) as proxy:
            assert proxy.wait_for_output("1 recorded interaction(s) from 1 cassette(s)")
            assert proxy.stop(signal.SIGTERM) == 0
        assert "Traceback" not in proxy.output
        handled(f"cassette {name}", "replay", "serves it (a valid cassette), stops cleanly")
    else:
        assert kind == "refused", name
        args = [
            "replay",
            "--cassette",
            str(path),
            "--listen-port",
            "0",
            "--confdir",
            str(tmp_path / "conf"),
        ]
        result = _run(args, cwd=tmp_path, timeout=60)
        output = result.stdout + result.stderr
        assert "Traceback" not in output and "listening" not in output, output[-3000:]
        assert result.returncode == 2, output[-3000:]
        refusals = [line for line in result.stderr.splitlines() if line.startswith("chime-tap")]
        assert len(refusals) == 1 and str(path) in refusals[0], result.stderr
        assert detail in refusals[0], (detail, refusals[0])
        handled(f"cassette {name}", "replay", "refused to start (exit 2, one line)")
    _never_executed(expect, tmp_path)


# --- wrong command lines ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CLI))
def test_cli_case(tmp_path, handled, name):
    case = CLI[name]
    args = [a.format(tmp=tmp_path, reference=REFERENCE) for a in case["args"]]
    result = _run(args, cwd=tmp_path)
    assert result.returncode == case["exit"], (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    problem = [line for line in result.stderr.splitlines() if case["stderr"] in line]
    assert problem, result.stderr
    assert all(s not in result.stderr + result.stdout for s in SECRETS)
    handled(f"cli {name}", "chime-tap", f"exit {result.returncode}, {case['stderr']}")


def test_presigned_case_carries_the_test_credentials():
    """The credentials case really sends the secrets, so the session-wide check has teeth."""
    data = raw_request(REQUESTS["presigned-credentials-in-query"], "127.0.0.1:9")
    assert FAKE_ACCESS_KEY.encode() in data and FAKE_SESSION_TOKEN.encode() in data
