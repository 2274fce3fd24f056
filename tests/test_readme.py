"""The README's pytest example, run as a user would: recorded through the simulator, replayed offline.

The two code blocks are read from README.md itself, so the documentation cannot drift from what
works.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from chime_tap.cassettes.reader import load_cassette
from support.procs import (
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    FAKE_SESSION_TOKEN,
    assert_no_secrets,
    chime_tap,
)

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE_FILES = {"tests/conftest.py", "tests/test_sessions.py"}
CLOSED_PORT = 9  # discard: nothing listens there, so a request that leaves the cassette fails


def readme_files() -> dict[str, str]:
    """The README's python blocks whose first line names a file (``# tests/...``), by that name."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.DOTALL)
    named = {}
    for block in blocks:
        first = block.splitlines()[0]
        if first.startswith("# tests/"):
            named[first.removeprefix("# ").strip()] = block
    return named


def test_readme_names_the_example_files() -> None:
    assert set(readme_files()) == EXAMPLE_FILES


def test_readme_pytest_example_records_through_the_simulator_then_replays_offline(
    pytester, monkeypatch, tmp_path
) -> None:
    for name, code in readme_files().items():
        path = pytester.path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(code, encoding="utf-8")

    # Recording, as the README says: the simulator, with HTTPS_PROXY and AWS_CA_BUNDLE; the
    # client takes its credentials from the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_SESSION_TOKEN)
    with chime_tap(["simulate"], confdir=tmp_path / "conf") as sim:
        monkeypatch.setenv("HTTPS_PROXY", sim.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(sim.ca_cert))
        recorded = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--chime-record-mode=once"
        )
        recorded.assert_outcomes(passed=1)
        assert "client connect" in sim.output  # the calls went through the simulator
        sim.stop()
    cassette = pytester.path / "tests" / "cassettes" / "create_then_get.yaml"
    items = load_cassette(cassette)["interactions"]
    assert [(i["request"]["method"], i["response"]["status"]["code"]) for i in items] == [
        ("POST", 201),
        ("GET", 200),
    ]
    assert all(
        i["request"]["uri"].startswith("https://voice-chime.us-east-1.amazonaws.com/")
        for i in items
    )
    assert_no_secrets(cassette)
    check = subprocess.run(
        [sys.executable, "-m", "chime_tap", "validate", str(cassette)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # Replaying: no simulator, no credentials, and a proxy setting that leads nowhere.
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CA_BUNDLE",
    ):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{CLOSED_PORT}")
    replayed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    replayed.assert_outcomes(passed=1)
