"""`chime-tap demo` as `make demo` runs it: a real recording proxy with the simulator, real boto3."""

from __future__ import annotations

import json
import os
import re
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
    for hint in ("chime-tap validate", "chime-tap check", "chime-tap report", "chime-tap replay"):
        assert hint in result.stdout
    assert wait_gone(str(out)) == []


def test_the_validate_command_the_demo_suggests_passes_on_its_cassette(demo_run, cli) -> None:
    """The deliberate bad calls were answered 400 by the simulator: the suggested check passes."""
    out, result = demo_run
    assert result.returncode == 0, result.stderr
    suggested = next(line for line in result.stdout.splitlines() if "chime-tap validate" in line)
    args = suggested.split("#")[0].split()[1:]  # the words after "chime-tap"
    assert args == ["validate", "--allow-rejected", str(out / "demo.yaml")]
    done = cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted" in done.stdout  # the four invalid calls are listed, as accepted
    assert cli("validate", str(out / "demo.yaml")).returncode == 1  # without the option: 1


def test_the_check_command_the_demo_suggests_passes_on_its_cassette(demo_run, cli) -> None:
    """Its four deliberate bad calls were rejected by the service when recorded: no staleness."""
    out, result = demo_run
    suggested = next(line for line in result.stdout.splitlines() if "chime-tap check" in line)
    args = suggested.split("#")[0].split()[1:]  # the words after the program
    assert args == ["check", str(out / "demo.yaml")]
    done = cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 call(s) rejected as bad requests when recorded" in done.stdout


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


RETRIED = (429, 500, 503)  # the answers the demo's caller tries again


def calls_in(interactions: list[dict]) -> int:
    """API calls behind these interactions: one that repeats the request before it, after a
    throttle or a 5xx answer, is that call's retry, not a call of its own."""
    calls, previous = 0, None
    for item in interactions:
        req = item["request"]
        request = (req["method"], req["uri"], req.get("body"))
        if previous is None or previous[0] != request or previous[1] not in RETRIED:
            calls += 1
        previous = (request, item["response"]["status"]["code"])
    return calls


DONE = re.compile(
    r"chime-tap demo: done in [\d.]+s: (\d+) calls, (\d+) HTTP attempts including (\d+) retries "
    r"\((.+)\)"
)


def test_demo_closing_line_counts_what_the_cassette_holds(demo_run):
    import yaml

    out, result = demo_run
    assert result.returncode == 0, result.stderr
    done = [line for line in result.stdout.splitlines() if line.startswith("chime-tap demo: done")]
    assert len(done) == 1
    m = DONE.fullmatch(done[0])
    assert m, done[0]
    calls, attempts, retries = (int(g) for g in m.groups()[:3])
    shown = Counter({int(s): int(n) for n, s in (p.split("x") for p in m[4].split(", "))})
    doc = yaml.safe_load((out / "demo.yaml").read_text())
    items = [i for i in doc["interactions"] if "/proxy-sessions" in i["request"]["uri"]]
    # Every HTTP attempt is one interaction; the statuses shown are the attempts' statuses.
    assert attempts == len(items) == sum(shown.values())
    assert shown == Counter(i["response"]["status"]["code"] for i in items)
    # The script's calls: 5 creates, 2 gets, 2 updates, 3 pages of 2 sessions, 1 list of open
    # sessions, 1 delete and its 404 get, 4 invalid calls, 1 get and 1 list after the clock
    # moves, 2 deletes. The faults (seed 7) add retries, never calls.
    assert calls == calls_in(items) == 23
    assert retries == attempts - calls > 0


def test_the_demo_check_counts_requests_not_calls(demo_run):
    import yaml

    from chime_tap.demo_workload import Tally, check_cassette

    out, result = demo_run
    assert result.returncode == 0, result.stderr
    every = yaml.safe_load((out / "demo.yaml").read_text())["interactions"]
    # The demo moves the simulator's clock once: recorded as a control call, not an API call.
    (control,) = [i for i in every if i.get("chime_tap", {}).get("control")]
    assert control["request"]["uri"] == "http://sim.chime-tap.invalid/clock/advance?seconds=360"
    items = [i for i in every if i is not control]
    statuses = Counter(i["response"]["status"]["code"] for i in items)
    tally = Tally(statuses=statuses, invalid_attempts=4, calls=23)
    assert check_cassette(out / "demo.yaml", tally) == (len(items), [])
    tally.statuses[200] += 1  # one request more than the cassette holds
    _, problems = check_cassette(out / "demo.yaml", tally)
    assert problems == [
        f"the cassette holds {len(items)} proxy-session interaction(s); "
        f"the demo sent {len(items) + 1} request(s)"
    ]


def created_and_answered(cassette: Path) -> tuple[list[str], list[int]]:
    """The session ids a cassette's CreateProxySession answers hand out, and every status."""
    import yaml

    items = yaml.safe_load(cassette.read_text())["interactions"]
    ids = [
        json.loads(i["response"]["body"]["string"])["ProxySession"]["ProxySessionId"]
        for i in items
        if i["chime_tap"]["operation"] == "CreateProxySession"
        and i["response"]["status"]["code"] == 201
    ]
    return ids, [i["response"]["status"]["code"] for i in items]


def test_the_demo_is_the_same_run_every_time(demo_run, tmp_path):
    # The simulator draws fresh ids and faults unless seeded; the demo passes its own seed.
    out, result = demo_run
    assert result.returncode == 0, result.stderr
    again = subprocess.run(
        [sys.executable, "-m", "chime_tap", "demo", "--out", str(tmp_path / "again")],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 0, again.stderr
    first = created_and_answered(out / "demo.yaml")
    assert created_and_answered(tmp_path / "again" / "demo.yaml") == first
    assert len(set(first[0])) == 5


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


def test_an_interrupt_after_the_recording_says_the_cassette_is_complete(
    tmp_path, monkeypatch, capsys
):
    # Steps 4 and 5 run with the proxy gone: an interrupt there stops nothing, but the user is
    # told the recording is whole and where it is (it said nothing and exited 130).
    import argparse
    import contextlib

    from chime_tap.commands import demo
    from chime_tap.demo_workload import Tally

    reached = []

    def validating(out, tally):
        reached.append("4/5")
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "recording_proxy", lambda out, seed: contextlib.nullcontext())
    monkeypatch.setattr(demo, "drive_workload", lambda proxy, out: Tally())
    monkeypatch.setattr(demo, "stop_proxy", lambda proxy: None)
    monkeypatch.setattr(demo, "validate_cassette", validating)
    with pytest.raises(KeyboardInterrupt):
        demo.run(argparse.Namespace(out=str(tmp_path / "out"), seed=7))
    assert reached == ["4/5"]
    err = capsys.readouterr().err
    cassette = tmp_path / "out" / "demo.yaml"
    assert f"chime-tap demo: interrupted; the recording is complete: {cassette}" in err


def test_an_interrupt_as_the_proxy_spawns_is_said_too(tmp_path, monkeypatch, capsys):
    # Ctrl+C within the first milliseconds, while the proxy's process is being started: the
    # demo said nothing and exited 130 (the interrupt landed before its handler).
    from chime_tap.commands import demo

    def spawning(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "ListeningProcess", spawning)
    out = demo.DemoOutput.prepare(tmp_path / "out")
    with pytest.raises(KeyboardInterrupt), demo.recording_proxy(out, 7):
        pass
    assert "chime-tap demo: interrupted; stopping the proxy" in capsys.readouterr().err


def test_with_a_seed_that_faults_an_invalid_call_the_demo_says_what_validate_finds(
    tmp_path, cli
) -> None:
    """Seed 3 injects a 503 into one deliberately invalid call before its 400: the demo counts
    four invalid calls (five requests), and its validate hint says that request stays a
    finding; the command it suggests then exits as the hint says."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "chime_tap", "demo", "--out", str(out), "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    import yaml

    items = yaml.safe_load((out / "demo.yaml").read_text())["interactions"]
    invalid = [i for i in items if deliberately_invalid(i["request"])]
    faulted = [i for i in invalid if i["response"]["status"]["code"] != 400]
    assert len(invalid) == 5 and len(faulted) == 1  # what makes this seed the case
    assert "violations only on the 4 deliberately invalid calls (5 requests: 1 retried)" in (
        result.stdout + result.stderr
    )
    suggested = next(line for line in result.stdout.splitlines() if " validate " in line)
    assert suggested.split("# ")[1] == (
        "1 invalid request(s) got an injected fault, not a 400: still findings (exit 1)"
    )
    args = suggested.split("#")[0].split()
    done = cli(*args[args.index("validate") :])
    assert done.returncode == 1, done.stdout + done.stderr
    (finding,) = [line for line in done.stdout.splitlines() if "(accepted" not in line]
    assert finding.startswith(f"{out / 'demo.yaml'} #{items.index(faulted[0])} ")
