"""What ``chime-tap --help`` and each command's ``--help`` say, against what the commands do:
every summary whole, required options shown as required, and every path argument of every
command read alike (``~`` expanded even when quoted). In this process; no proxy starts."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

from chime_tap import options
from chime_tap.cli import COMMANDS, build_parser, main

REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def subparsers() -> dict:
    (action,) = [a for a in build_parser()._actions if a.dest == "command"]
    return action.choices


# --- summaries ----------------------------------------------------------------------------------


def test_every_commands_summary_is_its_docstrings_first_paragraph_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per command, as argparse wraps to the width
    text = help_of([], capsys)
    for name in COMMANDS:
        doc = importlib.import_module(f"chime_tap.commands.{name}").__doc__
        first_paragraph = " ".join(doc.strip().split("\n\n")[0].split())
        (line,) = [line for line in text.splitlines() if line.split()[:1] == [name]]
        shown = line.split(None, 1)[1].strip()
        assert shown == first_paragraph, name
        assert shown.endswith("."), f"{name}: {shown!r} is cut"


# --- required options ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", COMMANDS)
def test_usage_shows_required_options_without_brackets(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = " ".join(help_of([name], capsys).split("\n\n")[0].split())
    for action in subparsers()[name]._actions:
        if action.option_strings and action.required:
            flag = action.option_strings[0]
            assert f" {flag} {action.metavar}" in usage, usage
            assert f"[{flag}" not in usage, usage


def test_the_required_options_are_the_ones_the_commands_need() -> None:
    required = {
        (name, a.option_strings[0])
        for name, parser in subparsers().items()
        for a in parser._actions
        if a.option_strings and a.required
    }
    assert required == {("record", "--cassette"), ("replay", "--cassette"), ("ingest", "--into")}


def test_record_help_says_what_the_command_does_and_the_addon_what_it_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An empty --cassette is refused by the command; mitmdump's chime_cassette= still means
    "validate and log only", and its help says so."""
    assert "validate and log only" not in " ".join(help_of(["record"], capsys).split())

    class Loader:
        def add_option(self, name, typespec, default, help, choices=None) -> None:
            self.help = help

    loader = Loader()
    options.add_options(loader, [options.CASSETTE])
    assert loader.help.endswith("Empty: validate and log only.")


def test_an_empty_cassette_to_record_into_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["record", "--cassette", "", "--upstream", "simulator"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "chime-tap: --cassette: the path is empty; name the file to record into"
    ]
    assert list(tmp_path.iterdir()) == []


# --- paths --------------------------------------------------------------------------------------

# Every path argument of every command, by the destination argparse gives it, with a command line
# that gives it a quoted ~ (the shell leaves it as it is).
T = "~/tilde.yaml"
PATH_ARGUMENTS = {
    ("record", "cassette"): ["record", "--cassette", T],
    ("record", "compare_to"): ["record", "--cassette", "c.yaml", "--compare-to", T],
    ("record", "confdir"): ["record", "--cassette", "c.yaml", "--confdir", T],
    ("replay", "cassette"): ["replay", "--cassette", T],
    ("replay", "record_to"): ["replay", "--cassette", "c.yaml", "--record-to", T],
    ("replay", "confdir"): ["replay", "--cassette", "c.yaml", "--confdir", T],
    ("simulate", "confdir"): ["simulate", "--confdir", T],
    ("validate", "cassettes"): ["validate", T],
    ("report", "inputs"): ["report", T],
    ("report", "out"): ["report", "x.yaml", "--out", T],
    ("diff", "baseline"): ["diff", T, "b.yaml"],
    ("diff", "candidate"): ["diff", "a.yaml", T],
    ("diff", "out"): ["diff", "a.yaml", "b.yaml", "--out", T],
    ("diff", "ignore_file"): ["diff", "a.yaml", "b.yaml", "--ignore-file", T],
    ("check", "cassettes"): ["check", T],
    ("check", "model"): ["check", "x.yaml", "--model", T],
    ("prune", "cassettes"): ["prune", T],
    ("prune", "unused_from"): ["prune", "x.yaml", "--unused-from", T],
    ("ingest", "inputs"): ["ingest", "--into", "d", T],
    ("ingest", "into"): ["ingest", "x.yaml", "--into", T],
    ("demo", "out"): ["demo", "--out", T],
}


@pytest.mark.parametrize(
    ("command", "dest"), sorted(PATH_ARGUMENTS), ids=[f"{c}-{d}" for c, d in sorted(PATH_ARGUMENTS)]
)
def test_every_path_argument_expands_a_quoted_tilde(
    command: str, dest: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    value = getattr(build_parser().parse_args(PATH_ARGUMENTS[command, dest]), dest)
    expected = str(tmp_path / "tilde.yaml")
    assert value in (expected, [expected], Path(expected)), value


def test_the_path_arguments_are_all_read_by_the_one_rule() -> None:
    """Every argument that takes options.user_path is one the table above names, and back."""
    found = {
        (name, a.dest)
        for name, parser in subparsers().items()
        for a in parser._actions
        if a.type is options.user_path
    }
    assert found == set(PATH_ARGUMENTS)


@pytest.mark.parametrize("command", ["validate", "report"])
def test_a_quoted_tilde_reads_the_file_in_home(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(REFERENCE, tmp_path / "tilde.yaml")
    assert main([command, "~/tilde.yaml"]) == 0, capsys.readouterr().err
