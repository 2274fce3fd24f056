"""The addons as mitmdump scripts (``mitmdump -s addons/record.py``), given a bad value at start:
one line naming the option, and mitmdump stops ("Error logged during startup"), not mitmproxy's
traceback of the script. Once the proxy runs, a bad change is refused as before (raised, so
mitmproxy keeps the old value and says why)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy import exceptions

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "setting", "line"),
    [
        (
            "record.py",
            "chime_cassette={tmp}/no-such-dir/calls.yaml",
            "chime_cassette: {tmp}/no-such-dir/calls.yaml: directory '{tmp}/no-such-dir' does not exist",
        ),
        ("record.py", "chime_decode_limit=8q", "chime_decode_limit: "),
        (
            "replay.py",
            "chime_replay_cassettes={tmp}/nope.yaml",
            "chime_replay_cassettes: {tmp}/nope.yaml: no such file",
        ),
        (
            "simulate.py",
            "chime_sim_throttle_rate=5",
            "chime_sim_throttle_rate: bad rate '5': a number from 0 to 1 expected",
        ),
    ],
)
def test_a_bad_value_at_start_is_one_line_and_mitmdump_stops(
    tmp_path: Path, script: str, setting: str, line: str
) -> None:
    mitmdump = Path(sys.executable).with_name("mitmdump")
    args = ["--set", "listen_host=127.0.0.1", "--set", "listen_port=0"]
    args += ["--set", f"confdir={tmp_path / 'conf'}", "--set", setting.format(tmp=tmp_path)]
    done = subprocess.run(
        [str(mitmdump), "-s", str(ROOT / "addons" / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "error in script" not in output
    said = [text.split("] ", 1)[-1] for text in output.splitlines() if line.split(":")[0] in text]
    assert len(said) == 1 and said[0].startswith(line.format(tmp=tmp_path)), output
    assert "Error logged during startup, exiting..." in output


def test_once_running_a_bad_change_is_raised_as_before() -> None:
    from chime_tap.options import script_configure

    def configure(updated: set[str]) -> None:
        raise exceptions.OptionsError(f"{sorted(updated)[0]}: bad")

    said: list[str] = []
    running = False
    wrapped = script_configure(configure, lambda: running, exceptions.OptionsError, said.append)
    wrapped({"chime_cassette"})  # at start: said, not raised
    assert said == ["chime_cassette: bad"]
    running = True
    with pytest.raises(exceptions.OptionsError, match="chime_cassette: bad"):
        wrapped({"chime_cassette"})
    assert said == ["chime_cassette: bad"]
