"""Command-line parsing of the options shared by several commands (no proxy is started)."""

from __future__ import annotations

import pytest

from chime_tap.cli import build_parser

REFERENCE = "cassettes/reference-examples.yaml"


@pytest.mark.parametrize(
    ("argv", "hosts"),
    [
        (["--hosts", "127.0.0.1:9000", REFERENCE], ["127.0.0.1:9000"]),
        (["--hosts", "a:1=voice,b:2=legacy", REFERENCE], ["a:1=voice", "b:2=legacy"]),
        (["--hosts", "a:1", "--hosts", "b:2", REFERENCE], ["a:1", "b:2"]),
        ([REFERENCE, "--hosts", "a:1"], ["a:1"]),
    ],
)
def test_hosts_never_swallow_the_inputs(argv: list[str], hosts: list[str]) -> None:
    for command in ("validate", "report"):
        args = build_parser().parse_args([command, *argv])
        assert args.hosts == hosts
        inputs = args.cassettes if command == "validate" else args.inputs
        assert inputs == [REFERENCE]


def test_operation_never_swallows_the_inputs() -> None:
    args = build_parser().parse_args(
        ["report", "--operation", "GetProxySession,UpdateProxySession", REFERENCE]
    )
    assert args.operation == ["GetProxySession", "UpdateProxySession"]
    assert args.inputs == [REFERENCE]


def test_an_empty_list_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["validate", "--hosts", ",", REFERENCE])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--hosts" in err[0] and "empty value" in err[0]


def test_validate_says_why_nothing_was_checked(tmp_path) -> None:
    """A cassette recorded against a host validate does not know: a hint, not a silent OK."""
    import subprocess
    import sys

    cassette = tmp_path / "foreign.yaml"
    cassette.write_text(
        "version: 1\ninteractions:\n"
        "- request: {method: GET, uri: 'http://127.0.0.1:9000/voice-connectors/"
        "abcdef1ghij2klmno3pqr4/proxy-sessions', body: null, headers: {}}\n"
        "  response: {status: {code: 200, message: OK}, headers: {},"
        " body: {string: '{\"ProxySessions\": []}'}}\n"
    )

    def validate(*extra: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "chime_tap", "validate", str(cassette), *extra]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    unknown = validate()
    assert unknown.returncode == 0
    assert "0 proxy-session interaction(s) checked" in unknown.stderr
    assert "--hosts" in unknown.stderr
    named = validate("--hosts", "127.0.0.1:9000")
    assert named.returncode == 0
    assert "1 proxy-session interaction(s) checked" in named.stderr
    assert "--hosts" not in named.stderr
