"""No chime-tap parser takes an abbreviated option, and ``--redact-phones`` is
``--redact-phone-numbers`` (in this process: no proxy is started)."""

from __future__ import annotations

import argparse

import pytest

from chime_tap import options
from chime_tap.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, as the top-level parser holds them."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _abbreviation(parser: argparse.ArgumentParser) -> tuple[str, str]:
    """A long flag of ``parser`` and a proper prefix of it that begins no other flag: what
    argparse's allow_abbrev would take for that flag."""
    flags = [s for s in parser._option_string_actions if s.startswith("--")]
    for flag in sorted(flags, key=len, reverse=True):
        for end in range(len(flag) - 1, 3, -1):
            prefix = flag[:end]
            if [f for f in flags if f.startswith(prefix)] == [flag]:
                return flag, prefix
    raise AssertionError(f"{parser.prog}: no flag with a unique prefix")


SUBCOMMANDS = sorted(_subparsers(build_parser()))


def test_the_subcommands_are_found() -> None:
    # the parametrization below covers every command the CLI has
    assert {"record", "replay", "simulate", "diff", "report", "validate"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_refuses_an_abbreviation(command, capsys) -> None:
    parser = build_parser()
    flag, prefix = _abbreviation(_subparsers(parser)[command])
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([command, prefix])  # argparse's default took it for `flag`
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.strip()], err
    assert f"chime-tap {command}: error: unrecognized arguments: {prefix}" in err, (flag, err)


def test_the_top_level_parser_refuses_an_abbreviation(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--vers"])  # --version
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --vers" in capsys.readouterr().err


def test_redact_is_refused_in_one_line_with_a_hint(capsys) -> None:
    """The walkthrough's ``record --redact``: it started a proxy (taken for the one flag it
    begins); now one line, exit 2, and the flag it is close to. (Parsed only: where an
    abbreviation is taken, main would start the proxy.)"""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(
            ["record", "--upstream", "simulator", "--redact", "--cassette", "x.yaml"]
        )
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "chime-tap record: error: unrecognized arguments: --redact; did you mean "
        "--redact-phones? (see 'chime-tap record --help')"
    ]


def test_no_hint_when_nothing_is_close(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["record", "--cassette", "x.yaml", "--zzzzzz"])
    assert capsys.readouterr().err.splitlines() == [
        "chime-tap record: error: unrecognized arguments: --zzzzzz (see 'chime-tap record --help')"
    ]


@pytest.mark.parametrize("flag", ["--redact-phones", "--redact-phone-numbers"])
def test_redact_phones_is_the_same_flag(flag) -> None:
    args = build_parser().parse_args(["record", "--cassette", "x.yaml", flag])
    assert options.values_from_args(args, options.RECORDER)["chime_redact_phones"] is True
    args = build_parser().parse_args(["record", "--cassette", "x.yaml"])
    assert options.values_from_args(args, options.RECORDER)["chime_redact_phones"] is False


def test_every_flag_of_the_redact_option_is_in_record_help(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["record", "--help"])
    out = capsys.readouterr().out
    assert "--redact-phone-numbers, --redact-phones" in out
