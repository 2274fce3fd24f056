"""Command-line parsing and usage errors, in this process (no proxy is started)."""

from __future__ import annotations

import pytest

from chime_tap.cli import build_parser, main

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


@pytest.mark.parametrize("command", ["validate", "report"])
def test_a_url_given_to_hosts_is_a_usage_error_naming_the_host(command, capsys) -> None:
    assert main([command, "--hosts", "http://127.0.0.1:9000", REFERENCE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--hosts" in err[0] and "'127.0.0.1:9000'" in err[0], err


def test_validate_says_why_nothing_was_checked(tmp_path, capsys) -> None:
    """A cassette recorded against a host validate does not know: a hint, not a silent OK."""
    cassette = tmp_path / "foreign.yaml"
    cassette.write_text(
        "version: 1\ninteractions:\n"
        "- request: {method: GET, uri: 'http://127.0.0.1:9000/voice-connectors/"
        "abcdef1ghij2klmno3pqr4/proxy-sessions', body: null, headers: {}}\n"
        "  response: {status: {code: 200, message: OK}, headers: {},"
        " body: {string: '{\"ProxySessions\": []}'}}\n"
    )

    def validate(*extra: str) -> tuple[int, str]:
        code = main(["validate", str(cassette), *extra])
        return code, capsys.readouterr().err

    code, err = validate()
    assert code == 0
    assert "0 proxy-session interaction(s) checked" in err
    assert "--hosts" in err
    code, err = validate("--hosts", "127.0.0.1:9000")
    assert code == 0
    assert "1 proxy-session interaction(s) checked" in err
    assert "--hosts" not in err


# Usage mistakes `chime-tap replay` finds before it starts a proxy: in this process, through
# main(), as `python -m chime_tap` exits (argparse's exit 2, or the command's UsageError).
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record-to", "x.yaml"], "chime-tap: --record-to: only with --on-miss forward"),
        (
            ["--on-miss", "sometimes"],
            "argument --on-miss: invalid choice: 'sometimes' (choose from",
        ),
        (["--exhausted", "never"], "argument --exhausted: invalid choice"),
    ],
)
def test_replay_usage_mistakes_are_one_line_and_exit_2(tmp_path, capsys, args, message) -> None:
    try:
        code = main(["replay", "--cassette", str(tmp_path / "ok.yaml"), *args])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


# Unknown arguments are reported first, by the command that got them, and the hint names that
# command's --help.
@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["record", "--casette", "x.yaml"],
         "chime-tap record: error: unrecognized arguments: --casette x.yaml; did you mean --cassette? (see 'chime-tap record --help')"),
        (["simulate", "--mode", "x"],
         "chime-tap simulate: error: unrecognized arguments: --mode x (see 'chime-tap simulate --help')"),
        (["report", "--fromat", "json"],
         "chime-tap report: error: unrecognized arguments: --fromat; did you mean --format? (see 'chime-tap report --help')"),
        (["validate", REFERENCE, "--allow-rejcted"],
         "chime-tap validate: error: unrecognized arguments: --allow-rejcted; did you mean --allow-rejected? (see 'chime-tap validate --help')"),
        (["replay", "--casette", "x.yaml"],
         "chime-tap replay: error: unrecognized arguments: --casette x.yaml; did you mean --cassette? (see 'chime-tap replay --help')"),
        # an option before the command is named at once, not after the command's own needs
        (["--bogus", "report"],
         "chime-tap: error: --bogus before the command: a command's options go after its name (see 'chime-tap --help')"),
        (["--cassette", "x.yaml", "record"],
         "chime-tap: error: --cassette before the command: a command's options go after its name (see 'chime-tap --help')"),
        # nothing unknown: what is missing is still said
        (["record"],
         "chime-tap record: error: the following arguments are required: --cassette (see 'chime-tap record --help')"),
    ],
)  # fmt: skip
def test_unknown_arguments_first_named_by_their_command(capsys, argv, line) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [line]


def test_a_proxy_run_in_process_leaves_logging_as_it_found_it(cli, tmp_path) -> None:
    """A proxy run in this process (a test, a notebook) puts logging back as it found it, also
    when an addon refuses an option at start."""
    import logging

    root = logging.getLogger()
    before = (root.level, logging.getLogger("asyncio").level, logging._srcfile)
    done = cli(
        "record", "--cassette", tmp_path / "c.yaml", "--listen-port", "0",
        "--confdir", tmp_path / "conf", "--set", "chime_decode_limit=lots",
    )  # fmt: skip
    assert done.returncode == 2, done
    assert "chime_decode_limit" in done.stderr or "--decode-limit" in done.stderr, done.stderr
    assert (root.level, logging.getLogger("asyncio").level, logging._srcfile) == before
