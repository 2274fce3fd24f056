"""``chime-tap validate``: output, --format json, exit codes 0/1/2.

Run in this process through ``chime_tap.cli.main`` (same argv, same stdout, stderr and exit
code); a real ``python -m chime_tap`` subprocess where the process itself is what is checked:
one valid run, the entry point's last resort, and inputs that once crashed the interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chime_tap.cli import main
from chime_tap.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "cassettes" / "reference-examples.yaml"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
ITEM = f"/voice-connectors/{CONNECTOR}/proxy-sessions/s-1"


def run_process(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m chime_tap validate ARGS`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", "validate", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def run(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``chime-tap validate ARGS`` in this process: its exit code, stdout and stderr."""
    return lambda *args: cli("validate", *args)


def exchange(
    method: str, uri: str, request_body: Any, status: int, response_body: Any
) -> dict[str, Any]:
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": None if request_body is None else json.dumps(request_body),
            "headers": {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": "" if response_body is None else json.dumps(response_body)},
        },
    }


def write(path: Path, interactions: list[dict[str, Any]]) -> Path:
    doc = {"version": 1, "interactions": interactions}
    path.write_text(json.dumps(doc) if path.suffix == ".json" else yaml.safe_dump(doc))
    return path


@pytest.fixture
def faulty(tmp_path: Path) -> Path:
    """Three interactions: an Update answered 200, a valid Delete, a Create with ExpiryMinutes 0."""
    host = "https://voice-chime.us-east-1.amazonaws.com"
    return write(
        tmp_path / "faulty.yaml",
        [
            exchange("POST", host + ITEM, {"Capabilities": ["Voice"]}, 200, {"ProxySession": {}}),
            exchange("DELETE", host + ITEM, None, 204, None),
            exchange(
                "POST",
                f"{host}/voice-connectors/{CONNECTOR}/proxy-sessions",
                {
                    "ParticipantPhoneNumbers": ["+12065550100", "+14015550101"],
                    "Capabilities": ["Voice"],
                    "ExpiryMinutes": 0,
                },
                201,
                {"ProxySession": {}},
            ),
            exchange("GET", "https://example.com/", None, 500, None),  # not a proxy-session call
        ],
    )


def assert_one_line_error(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("chime-tap:")]
    assert errors, stderr
    for needle in needles:
        assert any(needle in line for line in errors), stderr


def test_reference_examples_are_valid(tmp_path: Path) -> None:
    result = run_process(REFERENCE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == "2 proxy-session interaction(s) checked in 1 input(s): OK"


def test_json_cassettes_are_read_too(tmp_path: Path, run) -> None:
    doc = yaml.safe_load(REFERENCE.read_text())
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(doc))
    result = run(path, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_violations_are_listed_with_index_and_operation(faulty: Path, run) -> None:
    result = run(faulty)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        f"{faulty} #0 UpdateProxySession: status: UpdateProxySession answers 201 on success, got 200",
        f"{faulty} #2 CreateProxySession: request body /ExpiryMinutes: 0 is less than the minimum of 1",
    ]
    assert "3 proxy-session interaction(s) checked in 1 input(s): 2 violation(s)" in result.stderr


def test_json_format_lists_objects(faulty: Path, run) -> None:
    result = run(faulty, "--format", "json")
    assert result.returncode == 1, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["cassette"], r["index"], r["operation"], r["part"], r["pointer"]) for r in rows] == [
        (str(faulty), 0, "UpdateProxySession", "status", ""),
        (str(faulty), 2, "CreateProxySession", "request body", "/ExpiryMinutes"),
    ]
    assert all(r["message"] for r in rows)


def test_several_cassettes_one_report(faulty: Path, run) -> None:
    result = run(REFERENCE, faulty, "--format", "json")
    assert result.returncode == 1
    assert {r["cassette"] for r in json.loads(result.stdout)} == {str(faulty)}


UNUSABLE = [
    ("missing.yaml", None, "no such file"),
    ("empty.yaml", b"", "empty file"),
    ("broken.yaml", b"version: 1\ninteractions: [\n  - {request: \n", "not valid YAML"),
    ("broken.json", b'{"version": 1, "interactions": [', "not valid JSON"),
    ("list.yaml", b"- 1\n- 2\n", "not a vcrpy cassette"),
    ("binary.yaml", b"\x00\x01\x02\xff" * 64, "binary"),
    ("v2.yaml", b"version: 2\ninteractions: []\n", "version 2"),
    (
        "evil.yaml",
        b"version: 1\ninteractions: !!python/object/apply:os.system ['true']\n",
        "safe loader",
    ),
]
# Inputs that once crashed the interpreter (libyaml's C stack, json's recursion): checked in a
# real process, so a regression fails this test instead of taking the test run down with it.
CRASHERS = [
    (
        "deep.yaml",
        b"version: 1\ninteractions: " + b"[" * 100_000 + b"]" * 100_000,
        "nested too deeply",
    ),
    (
        "deep.json",
        b'{"version": 1, "interactions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested too deeply",
    ),
]


def _unusable(tmp_path: Path, name: str, content: bytes | None) -> Path:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(("name", "content", "needle"), UNUSABLE)
def test_unusable_input_exits_2_with_a_one_line_error(
    tmp_path: Path, run, name: str, content: bytes | None, needle: str
) -> None:
    path = _unusable(tmp_path, name, content)
    result = run(path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, str(path), needle)
    assert "OK" not in result.stderr


@pytest.mark.parametrize(("name", "content", "needle"), CRASHERS)
def test_input_that_once_crashed_exits_2_with_a_one_line_error(
    tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    path = _unusable(tmp_path, name, content)
    result = run_process(path, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, str(path), needle)
    assert "OK" not in result.stderr


def test_unusable_input_among_good_ones_still_exits_2_and_says_so(tmp_path: Path, run) -> None:
    missing = tmp_path / "nope.yaml"
    result = run(REFERENCE, missing)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, f"{missing}: no such file")
    summary = result.stderr.strip().splitlines()[-1]
    assert summary == "2 proxy-session interaction(s) checked in 1 input(s): 1 unusable input(s)"


def test_unusable_input_wins_over_violations_and_json_stays_parsable(
    tmp_path: Path, faulty: Path, run
) -> None:
    result = run(faulty, tmp_path / "gone.json", "--format", "json")
    assert result.returncode == 2
    assert len(json.loads(result.stdout)) == 2
    assert_one_line_error(result.stderr, "gone.json")


def test_directory_is_unusable(tmp_path: Path, run) -> None:
    result = run(tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "directory")


def test_hosts_option_names_a_loopback_endpoint(tmp_path: Path, run) -> None:
    local = write(
        tmp_path / "local.yaml",
        [
            exchange(
                "POST",
                f"http://127.0.0.1:9000{ITEM}",
                {"Capabilities": []},
                200,
                {"ProxySession": {}},
            )
        ],
    )
    unnamed = run(local)
    assert unnamed.returncode == 0 and "0 proxy-session interaction(s)" in unnamed.stderr
    named = run(local, "--hosts", "127.0.0.1:9000=legacy")
    assert named.returncode == 1
    assert "UpdateProxySession: status" in named.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--hosts", "127.0.0.1:99999"), "bad port"),
        (("--format", "xml"), "invalid choice"),
        ((), "required"),
    ],
)
def test_usage_mistakes_exit_2_in_one_line(run, args: tuple[str, ...], needle: str) -> None:
    result = run(REFERENCE, *args) if args else run()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr


# --- the CLI's last resort: an exception nobody expected ------------------------------------------


def _failing_validate(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    import chime_tap.commands.validate as validate

    def run(args: Any) -> int:
        raise exc

    monkeypatch.setattr(validate, "run", run)


def test_unexpected_exception_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHIME_TAP_DEBUG", raising=False)
    _failing_validate(monkeypatch, ZeroDivisionError("division\nby zero"))
    assert main(["validate", str(REFERENCE)]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "chime-tap: internal error: ZeroDivisionError: division by zero "
        "(set CHIME_TAP_DEBUG=1 for the traceback)\n"
    )


def test_debug_variable_gives_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIME_TAP_DEBUG", "1")
    _failing_validate(monkeypatch, LookupError("the real one"))
    with pytest.raises(LookupError, match="the real one"):
        main(["validate", str(REFERENCE)])


@pytest.mark.parametrize(
    ("exc", "code", "stderr"),
    [
        (KeyboardInterrupt(), 130, ""),
        (BrokenPipeError(), 0, ""),
        (InputError("x.yaml: unreadable"), 2, "chime-tap: x.yaml: unreadable\n"),
    ],
    ids=["interrupt", "broken-pipe", "user-error"],
)  # fmt: skip
def test_interrupts_and_user_errors_keep_their_exit_codes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: BaseException,
    code: int,
    stderr: str,
) -> None:
    _failing_validate(monkeypatch, exc)
    assert main(["validate", str(REFERENCE)]) == code
    assert capsys.readouterr().err == stderr


def test_internal_error_from_the_real_entry_point_has_no_traceback(tmp_path: Path) -> None:
    """``python -m chime_tap`` as users run it, with a command that fails in a way nobody foresaw."""
    script = (
        "import runpy, chime_tap.commands.validate as v\n"
        "def run(args):\n    raise RuntimeError('boom')\n"
        "v.run = run\n"
        "runpy.run_module('chime_tap', run_name='__main__')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CHIME_TAP_DEBUG"}
    result = subprocess.run(
        [sys.executable, "-c", script, "validate", str(REFERENCE)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        "chime-tap: internal error: RuntimeError: boom (set CHIME_TAP_DEBUG=1 for the traceback)"
    ]
    debug = subprocess.run(
        [sys.executable, "-c", script, "validate", str(REFERENCE)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env={**env, "CHIME_TAP_DEBUG": "1"},
    )  # fmt: skip
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "boom" in debug.stderr


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "3 internal error" in text and "CHIME_TAP_DEBUG=1" in text and "130 interrupted" in text


def test_a_cassette_too_deep_to_walk_is_unusable_in_one_line(monkeypatch, capsys) -> None:
    """Behind the loader's depth check: a value that still recurses too far while validating."""

    def too_deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("chime_tap.api.validation.validate_interaction", too_deep)
    assert main(["validate", str(REFERENCE)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"chime-tap: {REFERENCE}: nested too deeply to check"
    assert not any("Traceback" in line for line in err)


# --- the inputs report reads: flow files and HAR, read by the report loader's own readers ---------

HOST = "https://voice-chime.us-east-1.amazonaws.com"
BAD_CREATE = {"ParticipantPhoneNumbers": ["+12065550100"], "Capabilities": ["Voice"]}
BAD_CREATE_SAYS = 'request body /ParticipantPhoneNumbers: ["+12065550100"] has less than 2 items'


def _har(path: Path) -> Path:
    entry = {
        "startedDateTime": "2026-03-01T10:00:00Z", "time": 5,
        "request": {"method": "POST", "url": f"{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions",
                    "headers": [], "postData": {"mimeType": "application/json", "text": json.dumps(BAD_CREATE)}},
        "response": {"status": 400, "headers": [{"name": "x-amzn-ErrorType", "value": "BadRequestException:"}],
                     "content": {"text": json.dumps({"Code": "BadRequest", "Message": "bad"})}},
    }  # fmt: skip
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))
    return path


def _flows(path: Path) -> Path:
    from mitmproxy import http
    from mitmproxy import io as mitm_io
    from mitmproxy.test import tflow, tutils

    req = tutils.treq(method=b"POST", scheme=b"https", host="voice-chime.us-east-1.amazonaws.com", port=443,
                      path=f"/voice-connectors/{CONNECTOR}/proxy-sessions".encode(),
                      headers=http.Headers([(b"content-type", b"application/json")]),
                      content=json.dumps(BAD_CREATE).encode())  # fmt: skip
    resp = tutils.tresp(status_code=400, headers=http.Headers([(b"x-amzn-ErrorType", b"BadRequestException:")]),
                        content=b'{"Code": "BadRequest", "Message": "bad"}')  # fmt: skip
    with open(path, "wb") as f:
        mitm_io.FlowWriter(f).add(tflow.tflow(req=req, resp=resp))
    return path


def test_flow_files_and_har_are_validated_like_cassettes(tmp_path: Path, run) -> None:
    har, flows = _har(tmp_path / "traffic.har"), _flows(tmp_path / "traffic.flows")
    result = run(har, flows)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{har} #0 CreateProxySession: {BAD_CREATE_SAYS}",
        f"{flows} #0 CreateProxySession: {BAD_CREATE_SAYS}",
    ]
    assert result.stderr == "2 proxy-session interaction(s) checked in 2 input(s): 2 violation(s)\n"


def test_validate_and_report_accept_and_refuse_the_same_files(tmp_path: Path, cli) -> None:
    inputs = {
        "cassette": REFERENCE,
        "har": _har(tmp_path / "t.har"),
        "flows": _flows(tmp_path / "t.flows"),
        "empty capture": tmp_path / "capture",
        "junk": tmp_path / "junk.yaml",
        "empty cassette": tmp_path / "e.yaml",
        "damaged flows": tmp_path / "cut.flows",
    }
    inputs["empty capture"].write_bytes(b"")
    inputs["junk"].write_text("hello: world\n")
    inputs["empty cassette"].write_text("")
    inputs["damaged flows"].write_bytes(inputs["flows"].read_bytes()[:-40])
    for name, path in inputs.items():
        validated = cli("validate", path)
        reported = cli("report", path, "--format", "json")
        assert (validated.returncode == 2) == (reported.returncode == 2), name
        if validated.returncode == 2:  # the same one line, word for word
            assert validated.stderr.splitlines()[0] == reported.stderr.splitlines()[0].replace(
                "warning: skipped ", ""
            ), name
    assert [n for n, p in inputs.items() if cli("validate", p).returncode == 2] == [
        "junk", "empty cassette", "damaged flows"
    ]  # fmt: skip


# --- --allow-rejected: deliberate bad calls the service answered with the matching 400 -------------


def _answered(body: dict, status: int, headers: dict, answer: dict) -> dict[str, Any]:
    item = exchange(
        "POST", f"{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions", body, status, answer
    )
    item["response"]["headers"].update(headers)
    return item


REJECTED = {"x-amzn-ErrorType": ["BadRequestException:http://internal.amazon.com/"]}
ERROR = {"Code": "BadRequest", "Message": "1 validation error detected"}
# (name, interaction, accepted with --allow-rejected)
CASES = [
    ("rejected 400 BadRequest", _answered(BAD_CREATE, 400, REJECTED, ERROR), True),
    ("400 without the header, Code BadRequest", _answered(BAD_CREATE, 400, {}, ERROR), True),
    ("answered 201: the service took it", _answered(BAD_CREATE, 201, {}, {"ProxySession": {}}), False),
    ("404 is not a rejection of the request", _answered(BAD_CREATE, 404, {"x-amzn-ErrorType": ["NotFoundException:"]},
                                                        {"Code": "NotFound", "Message": "no"}), False),
    ("400 but the error body is wrong too", _answered(BAD_CREATE, 400, REJECTED, {"message": 5}), False),
    ("400 ThrottledClient type", _answered(BAD_CREATE, 400, {"x-amzn-ErrorType": ["ThrottledClientException:"]}, ERROR), False),
]  # fmt: skip


@pytest.mark.parametrize(("name", "item", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_allow_rejected_accepts_only_the_matching_400(
    tmp_path: Path, run, name, item, accepted
) -> None:
    path = write(tmp_path / "negative.yaml", [item])
    strict = run(path)
    assert strict.returncode == 1  # without the option, a violation is a violation
    allowed = run(path, "--allow-rejected")
    assert allowed.returncode == (0 if accepted else 1), allowed.stdout + allowed.stderr
    lines = allowed.stdout.splitlines()
    assert lines[0].startswith(f"{path} #0 CreateProxySession: {BAD_CREATE_SAYS}")
    assert lines[0].endswith(" (accepted: rejected with 400 BadRequestException)") == accepted
    rows = json.loads(run(path, "--allow-rejected", "--format", "json").stdout)
    assert {r["accepted"] for r in rows} == {accepted}


def test_allow_rejected_keeps_exit_1_for_the_rest(tmp_path: Path, run) -> None:
    path = write(tmp_path / "mixed.yaml", [CASES[0][1], CASES[2][1]])
    result = run(path, "--allow-rejected")
    assert result.returncode == 1
    assert result.stderr == (
        "2 proxy-session interaction(s) checked in 1 input(s): "
        "2 violation(s), 1 accepted as rejected bad requests\n"
    )
    only = run(write(tmp_path / "only.yaml", [CASES[0][1]]), "--allow-rejected")
    assert only.returncode == 0
    assert only.stderr == (
        "1 proxy-session interaction(s) checked in 1 input(s): "
        "OK (1 violation(s), 1 accepted as rejected bad requests)\n"
    )
