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
