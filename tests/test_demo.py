"""`chime-tap demo` as `make demo` runs it: a real recording proxy with the simulator, real boto3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from chime_tap.demo_workload import DEMO_KEY_ID, DEMO_SECRET

OPERATIONS = (
    "CreateProxySession",
    "GetProxySession",
    "UpdateProxySession",
    "ListProxySessions",
    "DeleteProxySession",
)


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions ``text`` (the demo's output directory is unique)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def wait_gone(text: str, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_mentioning(text)
    return left


def deliberately_invalid(request: dict) -> str | None:
    """Which of the demo's four deliberately invalid calls this request is, if any."""
    body = json.loads(request["body"]) if request.get("body") else {}
    query = parse_qs(urlsplit(request["uri"]).query)
    if len(body.get("ParticipantPhoneNumbers", [None, None])) == 1:
        return "one participant"
    if "Fax" in body.get("Capabilities", []):
        return "capability Fax"
    if body.get("ExpiryMinutes") == 0:
        return "ExpiryMinutes 0"
    if query.get("max-results") == ["500"]:
        return "max-results 500"
    return None


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``make demo``, the README's command, with its output directory moved into tmp."""
    out = tmp_path_factory.mktemp("demo") / "out"
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "demo", f"DEMO_OUT={out}"],
        capture_output=True,
        text=True,
        timeout=600,  # a bound, not a measurement: make first refreshes .venv if it is stale
        stdin=subprocess.DEVNULL,
    )
    return out, result


def test_demo_succeeds_and_tells_the_user_what_next(demo_run):
    out, result = demo_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("chime-tap demo:")]
    assert len(progress) >= 10  # one line per step
    assert str(out / "demo.yaml") in result.stdout and str(out / "report.html") in result.stdout
    for hint in ("chime-tap validate", "chime-tap report", "chime-tap replay"):
        assert hint in result.stdout
    assert wait_gone(str(out)) == []


def test_demo_cassette_loads_in_plain_vcrpy_and_covers_the_workload(demo_run):
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serializers import yamlserializer

    out, result = demo_run
    assert result.returncode == 0, result.stderr
    requests, responses = FilesystemPersister.load_cassette(str(out / "demo.yaml"), yamlserializer)
    assert len(requests) == len(responses) >= 25
    statuses = Counter(r["status"]["code"] for r in responses)
    for status in (200, 201, 204, 400, 404, 429):
        assert statuses[status] > 0, statuses
    assert statuses[500] + statuses[503] > 0, statuses
    assert all(
        urlsplit(r.uri).hostname == "voice-chime.us-east-1.amazonaws.com"
        for r in requests
        if "proxy-sessions" in r.uri
    )
    data = (out / "demo.yaml").read_bytes()
    assert DEMO_SECRET.encode() not in data and DEMO_KEY_ID.encode() not in data


def test_demo_cassette_violations_are_only_the_deliberate_ones(demo_run):
    import yaml

    out, result = demo_run
    assert result.returncode == 0, result.stderr
    cassette = out / "demo.yaml"
    check = subprocess.run(
        [sys.executable, "-m", "chime_tap", "validate", str(cassette), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1, check.stderr  # violations found: the invalid calls
    rows = json.loads(check.stdout)
    doc = yaml.safe_load(cassette.read_text())
    flagged = {row["index"] for row in rows}
    assert {row["part"] for row in rows} <= {"path", "query", "request body"}
    kinds = {deliberately_invalid(doc["interactions"][i]["request"]) for i in flagged}
    assert kinds == {"one participant", "capability Fax", "ExpiryMinutes 0", "max-results 500"}
    # ...and every deliberately invalid request was flagged, whatever the simulator answered.
    for i, item in enumerate(doc["interactions"]):
        if deliberately_invalid(item["request"]):
            assert i in flagged
            assert item["response"]["status"]["code"] in (400, 429, 500, 503)


def test_demo_reports_mention_every_operation(demo_run):
    out, result = demo_run
    assert result.returncode == 0, result.stderr
    text = (out / "report.txt").read_text()
    page = (out / "report.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html")
    for op in OPERATIONS:
        assert op in text and op in page
    assert text.strip() in result.stdout or text.splitlines()[0] in result.stdout


def test_interrupted_demo_leaves_nothing_running(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chime_tap", "demo", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        # Ctrl+C as at a terminal, however this suite was started: a shell's background job
        # ignores SIGINT, a child inherits that, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        seen: list[str] = []
        assert proc.stderr is not None

        def read_until(text: str) -> None:
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line:
                    break
                seen.append(line)
                if text in line:
                    return
            raise AssertionError(f"no {text!r} from the demo: {''.join(seen)}")

        read_until("listening on")
        assert processes_mentioning(str(out))  # the recording proxy runs now
        # Interrupted as the calls begin: the whole workload and the reports are still ahead,
        # whatever the time the process scan above took.
        read_until("creating proxy sessions")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-3000:]
        assert "Traceback" not in err
        assert wait_gone(str(out)) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
