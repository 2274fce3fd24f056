"""`chime-tap report` of the demo's own cassette: nothing the demo's script caused on purpose is
reported as a problem (the clock it moved, the sessions it deleted), and every figure about
the sessions matches what the demo did.

The demo runs for real (`chime-tap demo`: a recording proxy with the simulator, real boto3), and
the report is a real `chime-tap report` process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chime_tap.demo_workload import SESSIONS


def chime_tap(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo_cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    done = chime_tap("demo", "--out", out / "d", cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "d" / "demo.yaml"


def api_calls(doc: dict) -> int:
    """The proxy-session calls a JSON report counted (other traffic left out)."""
    return sum(sum(codes.values()) for op, codes in doc["status_codes"].items() if op != "(other)")


def test_report_of_the_demo_raises_no_warning_the_demo_caused(demo_cassette: Path) -> None:
    """The demo moves the simulator's clock 360 s: the simulator's Date is not the service's
    clock, so no SigV4 clock-skew warning (it said '4 call(s) with clock skew beyond ...')."""
    done = chime_tap("report", demo_cassette, cwd=demo_cassette.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "WARNING" not in done.stdout and "warning" not in done.stdout.lower()
    doc = json.loads(
        chime_tap("report", demo_cassette, "--format", "json", cwd=demo_cassette.parent).stdout
    )
    skew = done.stdout.split("Clock skew (X-Amz-Date minus Date)")[1].split("Schema violations")[0]
    assert f"left out — {api_calls(doc)} interaction(s) answered by chime-tap itself" in skew


def test_json_report_of_the_demo_counts_no_skew_from_the_simulator(demo_cassette: Path) -> None:
    """Every proxy-session call of the demo was answered by the simulator: none is measured."""
    done = chime_tap("report", demo_cassette, "--format", "json", cwd=demo_cassette.parent)
    doc = json.loads(done.stdout)
    assert doc["clock_skew"]["warning"] is None
    assert doc["clock_skew"]["count"] == 0 and doc["clock_skew"]["outside_window"] == 0
    assert doc["clock_skew"]["not_service_clock"] == api_calls(doc) > 0


def test_the_demos_sessions_end_as_the_demo_ended_them(demo_cassette: Path) -> None:
    """Five sessions created; the 4th deleted mid-run, the 1st and 3rd at the end; the last
    expires when the clock moves (Closed, as Get and List said); the 2nd stays Open."""
    done = chime_tap("report", demo_cassette, "--format", "json", cwd=demo_cassette.parent)
    sessions = json.loads(done.stdout)["sessions"]
    assert len(sessions) == len(SESSIONS) == 5
    assert [(s["final_status"], s["deleted"]) for s in sessions] == [
        ("Deleted", True),
        ("Open", False),
        ("Deleted", True),
        ("Deleted", True),
        ("Closed", False),
    ]
    assert [s["status_source"].split(" at ")[0] for s in sessions] == [
        "DeleteProxySession",
        "ListProxySessions",  # "list open sessions" is the last answer naming it
        "DeleteProxySession",
        "DeleteProxySession",
        "ListProxySessions",  # "list closed sessions", after the Get that saw it Closed
    ]
    assert [s["expiry_minutes"] for s in sessions] == [60, 90, None, 120, 5]
    assert not any(s["outlived_expiry"] for s in sessions)
    # The 404 after the delete and the deliberately invalid calls make no session of their own.
    assert len({s["proxy_session_id"] for s in sessions}) == 5
