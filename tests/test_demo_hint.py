"""The demo's "next:" lines name chime-tap as the user can run it from where they are."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from chime_tap.commands.demo import command_here


def _program(directory: Path) -> Path:
    directory.mkdir(parents=True)
    exe = directory / "chime-tap"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_the_venv_program_not_on_path_is_named_by_the_path_it_was_started_by(tmp_path, monkeypatch):
    venv = _program(tmp_path / ".venv" / "bin")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert command_here(".venv/bin/chime-tap") == ".venv/bin/chime-tap"
    assert command_here(str(venv)) == str(venv)


def test_the_program_the_shell_finds_by_name_is_just_chime_tap(tmp_path, monkeypatch):
    venv = _program(tmp_path / ".venv" / "bin")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'elsewhere'}{os.pathsep}{venv.parent}")
    assert command_here(".venv/bin/chime-tap") == "chime-tap"


def test_another_chime_tap_first_on_path_is_not_this_one(tmp_path, monkeypatch):
    _program(tmp_path / ".venv" / "bin")
    other = _program(tmp_path / "other")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(other.parent))
    assert command_here(".venv/bin/chime-tap") == ".venv/bin/chime-tap"


def test_started_as_a_module_with_no_program_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert command_here("/somewhere/chime_tap/__main__.py") == f"{sys.executable} -m chime_tap"
