"""`replay --latency`: a held-back call's line says how long the client waited, and the hold.

A new user ran `--latency scale:2000`; the client waited 2.26 s, the line said `-> 429 in
0.8 ms`: it was logged before the answer was held back. The addon's clock and sleep are a fake
here (a sleep moves the clock, nothing waits), so the times on the line are known exactly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow

import chime_tap.addons.replay as replay_addon
import chime_tap.recording as recording
from chime_tap.addons.replay import ReplayServer
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.writer import CassetteWriter

HOST = "voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
LIST = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
STARTED = 1000.0  # when the client's request began, by the fake clock


class Clock:
    """``time.time()`` and ``asyncio.sleep()`` as the addon sees them: sleeping moves the clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(STARTED + 0.0008)  # the request hook answers 0.8 ms after the request began
    monkeypatch.setattr(replay_addon, "time", SimpleNamespace(time=fake.time))
    monkeypatch.setattr(replay_addon, "asyncio", SimpleNamespace(sleep=fake.sleep))
    monkeypatch.setattr(recording, "time", SimpleNamespace(time=fake.time))  # elapsed_ms
    return fake


@pytest.fixture
def throttled(tmp_path: Path) -> Path:
    """thr.yaml: one ListProxySessions the service throttled, recorded as taking 1 ms."""
    path = tmp_path / "thr.yaml"
    with CassetteWriter(path) as w:
        w.append(
            make_interaction(
                method="GET",
                uri=f"https://{HOST}{LIST}",
                request_headers={},
                request_body=None,
                status=429,
                reason="Too Many Requests",
                response_headers={"x-amzn-ErrorType": ["ThrottledClientException:"]},
                response_body=json.dumps({"Code": "Throttled", "Message": "slow down"}),
                meta={"duration_ms": 1.0, "answered_by": "upstream"},
            )
        )
    return path


def _list_call() -> http.HTTPFlow:
    f = tflow.tflow()
    req = f.request
    req.method, req.scheme, req.host, req.port, req.path = "GET", "https", HOST, 443, LIST
    req.headers.clear()
    req.headers["Host"] = HOST
    req.content = b""
    req.timestamp_start = STARTED
    return f


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chime_tap.calls"]


@pytest.mark.parametrize(("latency", "said"), [("scale:2000", "x2000"), ("recorded", None)])
def test_a_held_back_call_is_logged_once_answered_with_the_whole_time_and_the_hold(
    clock: Clock, throttled: Path, caplog: pytest.LogCaptureFixture, latency: str, said: str | None
) -> None:
    addon = ReplayServer()
    with taddons.context(addon) as tctx, caplog.at_level(logging.INFO, logger="chime_tap.calls"):
        tctx.configure(addon, chime_replay_cassettes=[str(throttled)], chime_replay_latency=latency)
        f = _list_call()
        addon.request(f)
        assert f.response.status_code == 429
        assert _lines(caplog) == []  # not yet: the client has no answer
        asyncio.run(addon.responseheaders(f))
    addon.done()
    # Held until the recorded 1 ms, times the factor, had passed since the request began.
    total, held = (2000.0, 1999.2) if latency == "scale:2000" else (1.0, 0.2)
    why = f"recorded latency {said}" if said else "recorded latency"
    assert _lines(caplog) == [
        f"ListProxySessions connector={CONNECTOR} -> 429 in {total:.1f} ms, hit thr.yaml #0, "
        f"held back {held:.1f} ms ({why})"
    ]
    assert addon.statuses == {429: 1}


def test_without_latency_the_line_is_logged_at_once_as_before(
    clock: Clock, throttled: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon = ReplayServer()
    with taddons.context(addon) as tctx, caplog.at_level(logging.INFO, logger="chime_tap.calls"):
        tctx.configure(addon, chime_replay_cassettes=[str(throttled)])
        f = _list_call()
        addon.request(f)
        assert _lines(caplog) == [
            f"ListProxySessions connector={CONNECTOR} -> 429 in 0.8 ms, hit thr.yaml #0"
        ]
        asyncio.run(addon.responseheaders(f))  # nothing held: nothing more said
    addon.done()
    assert len(_lines(caplog)) == 1
