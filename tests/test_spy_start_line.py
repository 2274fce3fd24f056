"""Spy mode's start line counts what a live call can be compared with, as its exit summary does:
the baseline's proxy-session calls; the other calls it holds are said to be left out."""

from __future__ import annotations

import logging

from mitmproxy.test import taddons
from test_spy import HOST, cassette, hosts_of, item, recording

from chime_tap.addons.record import Recorder
from chime_tap.spy import Spy

CONTROL = item("POST", "http://sim.chime-tap.invalid/clock/advance?seconds=60", {}, 200, {})
OTHER = item("GET", "http://example.com/health", None, 200, {"ok": True})


def test_the_start_line_counts_the_proxy_session_calls_and_the_others_left_out(tmp_path):
    # 2 sessions x 5 proxy-session calls, one simulator control call, one call to another host
    calls = recording("s-1", "2026-06-01", token="t1", capabilities=["Voice"])
    calls += [CONTROL]
    calls += recording("s-2", "2026-06-01", token="t2", capabilities=["SMS"])
    calls += [OTHER]
    path = cassette(tmp_path / "base.yaml", calls)
    spy = Spy([str(path)], hosts_of())
    assert len(spy.index) == 12  # what the old line said: "(12 recorded)"
    assert spy.start_line() == (
        f"spy mode: comparing every call with {path} "
        "(10 proxy-session call(s) recorded; 2 other call(s) left out)"
    )
    # the exit summary, before any live call, leaves out the same calls
    assert spy.summary().endswith(
        "10 baseline call(s) no live call was compared with: "
        "base.yaml #0 POST /voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions -> 201; "
        "base.yaml #1 GET /voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions/s-1 -> 200; "
        "base.yaml #2 GET /voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions -> 200; "
        "and 7 more"
    )


def test_a_baseline_of_proxy_session_calls_only_says_nothing_left_out(tmp_path):
    path = cassette(
        tmp_path / "base.yaml", recording("s-1", "2026-06-01", token="t", capabilities=["Voice"])
    )
    assert Spy([str(path)], hosts_of()).start_line() == (
        f"spy mode: comparing every call with {path} (5 proxy-session call(s) recorded)"
    )


def test_the_recorder_says_the_start_line(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    calls = [*recording("s-1", "2026-06-01", token="t", capabilities=["Voice"]), CONTROL]
    path = cassette(tmp_path / "base.yaml", calls)
    addon = Recorder()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_hosts=[HOST], chime_compare_to=str(path))
    said = [r.message for r in caplog.records if r.message.startswith("spy mode:")]
    assert said == [
        f"spy mode: comparing every call with {path} "
        "(5 proxy-session call(s) recorded; 1 other call(s) left out)"
    ]
