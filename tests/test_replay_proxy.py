"""`chime-tap replay` and `mitmdump -s addons/replay.py` as real processes, with real clients.

These prove the wiring: TLS interception, the command's flags, the script, real boto3 and the
AWS CLI. What the addon answers (order, repeat, exhausted, misses and what they name, failed
calls, forwarding, the offline guard, option errors) is checked in-process in
tests/test_replay_addon.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_vcr_config import _get_interaction, record_lifecycle, run_lifecycle

from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from support.procs import (
    CONNECTOR,
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    assert_no_secrets,
    chime_tap,
    mitmdump,
    voice_client,
)

ROOT = Path(__file__).resolve().parent.parent
AWS = str(Path(sys.executable).with_name("aws"))


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    return record_lifecycle(tmp_path_factory.mktemp("recorded"))


def aws_cli(proxy, *args: str) -> subprocess.CompletedProcess:
    """The real AWS CLI through the proxy: HTTPS_PROXY, AWS_CA_BUNDLE, fake credentials in env."""
    env = {
        **os.environ,
        "HTTPS_PROXY": proxy.url,
        "AWS_CA_BUNDLE": str(proxy.ca_cert),
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run(
        [AWS, *args, "--region", "us-east-1", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def get_session_cli(proxy, sid: str) -> subprocess.CompletedProcess:
    return aws_cli(
        proxy,
        "chime-sdk-voice",
        "get-proxy-session",
        "--voice-connector-id",
        CONNECTOR,
        "--proxy-session-id",
        sid,
    )


def test_boto3_replays_the_recorded_lifecycle_through_the_proxy(lifecycle, tmp_path):
    cassette, recorded = lifecycle
    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "conf") as proxy:
        replayed = run_lifecycle(voice_client(proxy))
        assert proxy.stop() == 0
    assert replayed == recorded
    assert "no recorded interaction" not in proxy.output


def test_aws_cli_gets_a_recorded_answer_and_a_loud_miss(lifecycle, tmp_path):
    cassette, recorded = lifecycle
    sid = recorded[0]["ProxySession"]["ProxySessionId"]
    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "conf") as proxy:
        first = get_session_cli(proxy, sid)
        missed = get_session_cli(proxy, "never-recorded-session")
        proxy.stop()
    assert first.returncode == 0, first.stderr
    assert (
        json.loads(first.stdout)["ProxySession"]["ExpiryMinutes"]
        == recorded[1]["ProxySession"]["ExpiryMinutes"]
        == 60
    )
    assert missed.returncode != 0
    assert "ChimeTapReplayMiss" in missed.stderr
    assert "no recorded interaction matches GET" in missed.stderr
    assert "never-recorded-session" in missed.stderr
    assert f"closest is {cassette.name} #" in missed.stderr
    assert "chime_path" in missed.stderr
    assert "no recorded interaction matches GET" in proxy.output  # logged too


def test_mitmdump_script_replays_a_json_cassette(tmp_path):
    cassette = tmp_path / "sessions.json"
    with CassetteWriter(cassette) as w:
        for i in range(3):
            w.append(_get_interaction(f"s{i}"))
    args = ["-s", str(ROOT / "addons" / "replay.py"), "--set", f"chime_replay_cassettes={cassette}"]
    with mitmdump(args, confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy)
        got = [
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=f"s{i}")[
                "ProxySession"
            ]["ProxySessionId"]
            for i in (2, 0, 1)
        ]
        proxy.stop()
    assert got == ["s2", "s0", "s1"]


def test_a_call_repeated_more_often_than_recorded_fails_unless_exhausted_repeat(tmp_path):
    """`chime-tap replay`'s default is --exhausted fail, as the pytest plugin's; repeat is one flag away."""
    import botocore.exceptions

    cassette = tmp_path / "one.yaml"
    with CassetteWriter(cassette) as w:
        w.append(_get_interaction("s1"))
    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy)
        first = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
        with pytest.raises(botocore.exceptions.ClientError) as second:
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
        proxy.stop()
    assert first["ProxySession"]["ProxySessionId"] == "s1"
    error = second.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 599
    assert error["Error"]["Code"] == "ChimeTapReplayExhausted"
    assert "GetProxySession" in error["Error"]["Message"]
    assert "--exhausted repeat" in error["Error"]["Message"]
    assert "were already played (exhausted=fail)" in proxy.output  # logged too

    args = ["replay", "--cassette", str(cassette), "--exhausted", "repeat"]
    with chime_tap(args, confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy)
        ids = [
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")[
                "ProxySession"
            ]["ProxySessionId"]
            for _ in range(3)
        ]
        proxy.stop()
    assert ids == ["s1", "s1", "s1"]


class _Upstream:
    """A real HTTP server on 127.0.0.1 that answers GetProxySession and counts requests."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.paths.append(self.path)
                sid = self.path.rstrip("/").rsplit("/", 1)[-1]
                body = json.dumps(
                    {
                        "ProxySession": {
                            "ProxySessionId": sid,
                            "VoiceConnectorId": CONNECTOR,
                            "Status": "Open",
                        }
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    server = _Upstream()
    yield server
    server.close()


def test_on_miss_forward_sends_upstream_records_and_then_replays(tmp_path, upstream):
    cassette = tmp_path / "base.yaml"
    with CassetteWriter(cassette) as w:
        w.append(_get_interaction("s1"))
    record_to = tmp_path / "new.json"
    endpoint = f"http://127.0.0.1:{upstream.port}"
    args = [
        "replay",
        "--cassette",
        str(cassette),
        "--on-miss",
        "forward",
        "--record-to",
        str(record_to),
        "--hosts",
        f"127.0.0.1:{upstream.port}=voice",
    ]
    with chime_tap(args, confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy, endpoint=endpoint)
        answers = [
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="fresh")[
                "ProxySession"
            ]["ProxySessionId"]
            for _ in range(2)
        ]
        proxy.stop()
    assert answers == ["fresh", "fresh"]
    assert len(upstream.paths) == 1  # the second call was replayed from what the first recorded
    recorded = load_cassette(record_to)["interactions"]
    assert len(recorded) == 1 and recorded[0]["request"]["uri"].endswith("/proxy-sessions/fresh")
    assert len(load_cassette(cassette)["interactions"]) == 1
    assert_no_secrets(record_to)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


# One-line errors from a bad value the addon finds as the proxy starts, named as the flag the
# user typed. Each value's own check is in-process (test_replay_addon.py: OptionsError naming the
# option); usage errors argparse or the command find first are in test_cli_args.py.
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["replay", "--cassette", "missing.yaml"],
            "chime-tap: --cassette: missing.yaml: no such file",
        ),
        (["replay", "--cassette", "ok.yaml", "--hosts", "h:99999"], "chime-tap: --hosts: bad port"),
        # found after the cassette loaded: what it holds is not said by a proxy that never ran
        (["replay", "--cassette", "ok.yaml", "--set", "nosuch=1"], "--set nosuch=1: Unknown"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path, args, message):
    with CassetteWriter(tmp_path / "ok.yaml") as w:
        w.append(_get_interaction("s1"))
    result = _cli(*args, "--listen-port", "0", "--confdir", str(tmp_path / "conf"), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
