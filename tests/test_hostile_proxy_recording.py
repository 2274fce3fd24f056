"""Answers the cassette does not hold (issue 15, items 8 and 9), with real processes.

``replay --on-miss forward`` started although another recorder held its record-to cassette, and
then answered every forwarded call without recording it; now it does not start, as ``record``
does not. On a full disk the recorder answered calls it could not record; now it counts them
and says so at exit, and with ``--strict-recording`` answers 507 instead. The full disk is the
recorder's file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG, as ENOSPC would).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest

from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from support.loadgen import vcr_load
from support.procs import CONNECTOR, ProxyProcess, chime_tap, voice_client

REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
FILE_SIZE_LIMIT = 16 * 1024  # the cassette's room: a few interactions
CALLS = 20


def _replay(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", "replay", *args, "--listen-port", "0"],
        capture_output=True, text=True, timeout=60, cwd=cwd, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["--record-to", "--cassette"])
def test_forwarding_replay_does_not_start_on_a_cassette_another_recorder_holds(
    tmp_path: Path, target: str
) -> None:
    held = tmp_path / "held.yaml"
    base = tmp_path / "base.yaml"
    base.write_bytes(REFERENCE.read_bytes())
    with CassetteWriter(held):  # another recorder is writing it
        args = ["--on-miss", "forward", "--confdir", str(tmp_path / "conf")]
        if target == "--record-to":
            args += ["--cassette", str(base), "--record-to", str(held)]
        else:
            args += ["--cassette", str(held)]
        done = _replay(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "listening" not in done.stdout
    assert done.stderr.strip() == (
        f"chime-tap: {target}: {held}: another chime-tap recorder is writing this cassette"
    )


def test_a_recorder_does_not_start_on_the_cassette_a_forwarding_replay_holds(
    tmp_path: Path,
) -> None:
    held = tmp_path / "held.yaml"
    held.write_bytes(REFERENCE.read_bytes())
    with chime_tap(
        ["replay", "--cassette", str(held), "--on-miss", "forward"], confdir=tmp_path / "c1"
    ) as replay:
        done = subprocess.run(
            [sys.executable, "-m", "chime_tap", "record", "--cassette", str(held),
             "--listen-port", "0", "--confdir", str(tmp_path / "c2")],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert replay.stop(signal.SIGTERM) == 0
    assert done.returncode == 2
    assert "another chime-tap recorder is writing this cassette" in done.stderr


def limited_record(tmp_path: Path, *extra: str) -> ProxyProcess:
    """``chime-tap record --upstream simulator`` whose files may not grow past FILE_SIZE_LIMIT."""
    limit = (
        "import resource, sys, runpy; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_SIZE_LIMIT}, {FILE_SIZE_LIMIT})); "
        "sys.argv = ['chime-tap', *sys.argv[1:]]; runpy.run_module('chime_tap', run_name='__main__')"
    )
    argv = [
        sys.executable, "-c", limit, "record", "--upstream", "simulator",
        "--cassette", str(tmp_path / "calls.yaml"), "--listen-port", "0",
        "--confdir", str(tmp_path / "conf"), *extra,
    ]  # fmt: skip
    return ProxyProcess(argv, confdir=tmp_path / "conf")


@pytest.mark.parametrize("strict", [False, True])
def test_calls_the_full_cassette_cannot_take_are_counted_and_withheld_when_strict(
    tmp_path: Path, strict: bool
) -> None:
    answered, withheld = 0, 0
    with limited_record(tmp_path, *(["--strict-recording"] if strict else [])) as proxy:
        client = voice_client(proxy)
        for _ in range(CALLS):
            try:
                client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
                answered += 1
            except botocore.exceptions.ClientError as e:
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 507
                assert e.response["Error"]["Code"] == "ChimeTapNotRecorded"
                withheld += 1
        assert proxy.stop(signal.SIGTERM) == 0
    cassette = tmp_path / "calls.yaml"
    held = len(load_cassette(cassette)["interactions"])
    assert len(vcr_load(cassette)) == held  # whole interactions only: plain vcrpy loads it
    assert cassette.stat().st_size <= FILE_SIZE_LIMIT
    assert 0 < held < CALLS  # some fit, the rest did not
    not_written = CALLS - held
    (summary,) = [
        line for line in proxy.lines if "chime-tap record: " in line and "call(s)" in line
    ]
    if strict:
        assert (answered, withheld) == (held, not_written)  # no answer the cassette lacks
        assert (
            f"0 answered but not recorded (could not be written); {not_written} not recorded and answered 507 instead (strict recording)."
            in summary
        )
    else:
        assert (answered, withheld) == (CALLS, 0)
        assert f"; {not_written} answered but not recorded (could not be written)." in summary
    assert f"{held} interaction(s) recorded to {cassette} (it holds {held})" in summary
    errors = [
        line for line in proxy.lines if "not recorded" in line and "ListProxySessions" not in line
    ]
    assert (
        len([e for e in errors if re.search(r"not recorded.*: GET /voice-connectors", e)])
        == not_written
    )
    assert "Traceback" not in proxy.output
