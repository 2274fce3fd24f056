"""Replay with recorded timing: `chime-tap replay --latency` as a real process with real boto3,
and the same keyword in make_vcr.

Each call is timed by the client. A recorded 200-400 ms call must take 80-120 % of its
recorded time (the ±20 % the feature promises); the bounds are wide next to what the proxy
adds on loopback (a few ms), and narrow enough that an answer not held back (a few ms), held
back twice, or held behind another call (the sum of both) fails.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import botocore.exceptions
import pytest

from chime_tap import replay_latency
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.process import chime_tap_argv
from chime_tap.vcr_config import make_vcr
from support.procs import CONNECTOR, chime_tap, voice_client

ENDPOINT = "http://voice-chime.us-east-1.amazonaws.com"  # plain HTTP: no handshake in the timing
# Session id -> recorded duration_ms.
RECORDED = {"ps-a": 400.0, "ps-b": 200.0, "ps-c": 300.0, "ps-d": 250.0, "ps-e": 350.0, "ps-f": 5.0}
WARM = [f"warm-{n}" for n in range(2)]  # one quick answer per client before anything is timed


def _interaction(sid: str, duration_ms: float) -> dict:
    body = {
        "ProxySession": {"VoiceConnectorId": CONNECTOR, "ProxySessionId": sid, "Status": "Open"}
    }
    return make_interaction(
        method="GET",
        uri=f"{ENDPOINT}/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}",
        request_headers={},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=json.dumps(body),
        meta={
            "recorded_at": "2026-01-01T00:00:00Z",
            "duration_ms": duration_ms,
            "operation": "GetProxySession",
            "namespace": "voice",
            "violations": [],
            "answered_by": "upstream",
        },
    )


@pytest.fixture(scope="module")
def cassette(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("latency") / "timed.yaml"
    writer = CassetteWriter(path)
    for sid, ms in [*RECORDED.items(), *((w, 1.0) for w in WARM)]:
        writer.append(_interaction(sid, ms))
    writer.close()
    return path


def _timed_get(client, sid: str) -> float:
    """Seconds the client waited for GetProxySession(sid)."""
    started = time.perf_counter()
    got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    took = time.perf_counter() - started
    assert got["ProxySession"]["ProxySessionId"] == sid
    return took


def _warm(client, n: int = 0) -> None:
    """A call the cassette does not hold (answered 599 at once), then a quick recorded one:
    botocore's first-call work, the connection and the proxy's first answer are done before
    anything is timed."""
    with pytest.raises(botocore.exceptions.ClientError):
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="not-recorded")
    _timed_get(client, WARM[n])


def _within(took: float, expected_ms: float, sid: str) -> None:
    low, high = 0.8 * expected_ms / 1000, 1.2 * expected_ms / 1000
    assert low <= took <= high, f"{sid}: {took * 1000:.0f} ms, expected {expected_ms:.0f} ms ±20%"


def _replay(cassette: Path, tmp_path: Path, *flags: str):
    args = ["replay", "--cassette", str(cassette), *flags]
    return chime_tap(args, confdir=tmp_path / "conf")


def test_recorded_latency_answers_each_call_within_20_percent_of_its_recorded_time(
    cassette, tmp_path
):
    with _replay(cassette, tmp_path, "--latency", "recorded") as proxy:
        client = voice_client(proxy, endpoint=ENDPOINT)
        _warm(client)
        timed = {sid: _timed_get(client, sid) for sid in RECORDED}
        assert proxy.stop() == 0, proxy.output
    for sid, ms in RECORDED.items():
        if ms >= 20:  # the promise covers calls of 20 ms or more
            _within(timed[sid], ms, sid)


def test_a_held_back_answer_does_not_hold_up_other_calls(cassette, tmp_path):
    with _replay(cassette, tmp_path, "--latency", "recorded") as proxy:
        clients = {sid: voice_client(proxy, endpoint=ENDPOINT) for sid in ("ps-a", "ps-b")}
        for n, client in enumerate(clients.values()):
            _warm(client, n)
        took: dict[str, float] = {}
        start = threading.Barrier(2)

        def call(sid: str) -> None:
            start.wait()
            took[sid] = _timed_get(clients[sid], sid)

        threads = [threading.Thread(target=call, args=(sid,)) for sid in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert proxy.stop() == 0, proxy.output
    # Served one after the other, ps-b (200 ms) would wait for ps-a (400 ms) or the reverse.
    _within(took["ps-a"], 400, "ps-a")
    _within(took["ps-b"], 200, "ps-b")


def test_scale_multiplies_the_recorded_time(cassette, tmp_path):
    with _replay(cassette, tmp_path, "--latency", "scale:1.5") as proxy:
        client = voice_client(proxy, endpoint=ENDPOINT)
        _warm(client)
        timed = {sid: _timed_get(client, sid) for sid in ("ps-b", "ps-c", "ps-a")}
        assert proxy.stop() == 0, proxy.output
    for sid, took in timed.items():
        _within(took, 1.5 * RECORDED[sid], sid)


def test_without_latency_the_answer_comes_at_once(cassette, tmp_path):
    with _replay(cassette, tmp_path) as proxy:
        client = voice_client(proxy, endpoint=ENDPOINT)
        _warm(client)
        timed = {sid: _timed_get(client, sid) for sid in ("ps-a", "ps-b")}
        assert proxy.stop() == 0, proxy.output
    for sid, took in timed.items():  # held back, each would take its recorded 200-400 ms
        assert took < 0.5 * RECORDED[sid] / 1000, f"{sid}: {took * 1000:.0f} ms"


@pytest.mark.parametrize("value", ["fast", "scale:", "scale:-1", "scale:nan", "scale:inf", "2"])
def test_a_bad_latency_is_one_line_and_exit_2(cassette, tmp_path, value):
    argv = chime_tap_argv(["replay", "--cassette", str(cassette), "--listen-port", "0"])
    done = subprocess.run(
        [*argv, "--confdir", str(tmp_path / "conf"), "--latency", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chime-tap: --latency:"), done.stderr
    assert "none, recorded, scale:F" in lines[0]


def test_make_vcr_latency_recorded_holds_each_answer_back_in_process(cassette):
    vcr = make_vcr(latency="recorded")
    client = voice_client(None, endpoint=ENDPOINT)
    with vcr.use_cassette(str(cassette)) as played:
        timed = {sid: _timed_get(client, sid) for sid in ("ps-c", "ps-b")}
    for sid, took in timed.items():
        _within(took, RECORDED[sid], sid)
    assert [c.interaction for c in played.calls] == ["timed.yaml #2", "timed.yaml #1"]


def test_make_vcr_latency_defaults_to_none_and_refuses_bad_values(cassette):
    client = voice_client(None, endpoint=ENDPOINT)
    with make_vcr().use_cassette(str(cassette)):
        took = _timed_get(client, "ps-a")
    assert took < 0.5 * RECORDED["ps-a"] / 1000
    with pytest.raises(ValueError, match=r"latency 'soon' is not a latency \(forms: none"):
        make_vcr(latency="soon")
    with pytest.raises(ValueError, match="latency"):
        make_vcr().use_cassette(str(cassette), latency="scale:x").__enter__()


def test_parse_and_delay():
    assert replay_latency.parse("none") == replay_latency.NO_LATENCY
    assert replay_latency.parse(" Recorded ").factor == 1.0
    assert replay_latency.parse("scale:0.25").factor == 0.25
    recorded = replay_latency.parse("recorded")
    assert replay_latency.delay_seconds(recorded, 250) == 0.25
    assert replay_latency.delay_seconds(replay_latency.parse("scale:2"), 250) == 0.5
    assert replay_latency.delay_seconds(replay_latency.NO_LATENCY, 250) == 0
    assert replay_latency.delay_seconds(recorded, 1e12) == replay_latency.MAX_DELAY_S
    assert replay_latency.recorded_ms({"chime_tap": {"duration_ms": 12.5}}) == 12.5
    for meta in ({}, {"duration_ms": "9"}, {"duration_ms": True}, {"duration_ms": -3}):
        assert replay_latency.recorded_ms({"chime_tap": meta}) == 0
    assert replay_latency.recorded_ms({}) == 0


# --- the addon in-process --------------------------------------------------------------------


def _flow(sid: str):
    from mitmproxy.test import tflow

    f = tflow.tflow()
    req = f.request
    req.method, req.scheme, req.host, req.port = (
        "GET",
        "http",
        "voice-chime.us-east-1.amazonaws.com",
        80,
    )
    req.path = f"/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}"
    req.headers.clear()
    req.headers["Host"] = req.host
    req.content = b""
    return f


def test_the_addon_sets_when_to_answer_from_the_recorded_duration_and_refuses_bad_values(cassette):
    from mitmproxy import exceptions
    from mitmproxy.test import taddons

    from chime_tap.addons.replay import ANSWER_AT, ReplayServer

    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=[str(cassette)])
        plain = _flow("ps-a")
        addon.request(plain)
        assert plain.response.status_code == 200 and ANSWER_AT not in plain.metadata
        tctx.configure(addon, chime_replay_latency="scale:0.5")
        f = _flow("ps-b")
        addon.request(f)
        assert f.metadata[ANSWER_AT] == pytest.approx(f.request.timestamp_start + 0.1)
        with pytest.raises(exceptions.OptionsError, match="chime_replay_latency: 'later' is not"):
            tctx.configure(addon, chime_replay_latency="later")
    addon.done()
