"""A closed stdout is normal in a pipeline: `chime-tap report ... | head -3` (and validate)
exits quietly with status 0, no message and nothing printed at interpreter exit.

Real processes: chime-tap's stdout is a pipe into a real `head -3`, which exits after three
lines while chime-tap still has hundreds of kilobytes to write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chime_tap.cassettes.format import make_interaction

HOST = "https://voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
N = 3000  # sessions: far more output than a pipe buffers (64 KiB)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """N Creates, each acknowledged (a session row) and each with ExpiryMinutes 0 (a violation)."""
    items = []
    for i in range(N):
        session = {"ProxySessionId": f"s{i:05d}", "Status": "Open", "ExpiryMinutes": 60}
        items.append(
            make_interaction(
                method="POST", uri=f"{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions",
                request_headers={}, request_body=json.dumps({"ExpiryMinutes": 0}), status=201,
                reason="Created", response_headers={}, response_body=json.dumps({"ProxySession": session}),
            )
        )  # fmt: skip
    path = tmp_path_factory.mktemp("pipe") / "big.json"
    path.write_text(json.dumps({"version": 1, "interactions": items}))
    return path


def piped_into_head(args: list[str]) -> tuple[int, str, list[str]]:
    """(chime-tap's exit status, its stderr, the lines head printed) of ``chime-tap ARGS | head -3``."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "chime_tap", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    head = subprocess.Popen(["head", "-3"], stdin=writer.stdout, stdout=subprocess.PIPE)
    writer.stdout.close()  # head holds the only read end: when it exits, the pipe is closed
    shown, _ = head.communicate(timeout=120)
    err = writer.stderr.read()
    writer.stderr.close()
    return writer.wait(timeout=120), err.decode(), shown.decode().splitlines()


def into_a_closed_pipe(args: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of ``chime-tap ARGS`` writing to a pipe whose reader is gone before
    the first byte: every write fails, whatever the timing."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chime_tap", *args],
            stdout=write_end, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write_end)
    return done.returncode, done.stderr.decode()


COMMANDS = {
    "report-text": ["report", "{big}"],
    "report-json": ["report", "{big}", "--format", "json"],
    "report-csv": ["report", "{big}", "--format", "csv"],
    "report-markdown": ["report", "{big}", "--format", "markdown", "--out", "-"],
    "validate-text": ["validate", "{big}"],
    "validate-json": ["validate", "{big}", "--format", "json"],
}


def _args(name: str, big: Path) -> list[str]:
    return [a.replace("{big}", str(big)) for a in COMMANDS[name]]


@pytest.mark.parametrize("name", [n for n in COMMANDS if n != "report-text"])
def test_head_leaving_early_ends_the_command_quietly(big: Path, name: str) -> None:
    code, err, shown = piped_into_head(_args(name, big))
    assert len(shown) == 3
    assert (code, err) == (0, "")  # not "--out None: cannot write (Broken pipe)", exit 2


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_reader_gone_before_the_first_byte_ends_the_command_quietly(big: Path, name: str) -> None:
    code, err = into_a_closed_pipe(_args(name, big))
    # not "--out None: cannot write (Broken pipe)" (exit 2), nor "Exception ignored ... BrokenPipeError"
    assert (code, err) == (0, "")
