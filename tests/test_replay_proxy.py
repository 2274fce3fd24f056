"""`chime-tap replay` and `mitmdump -s addons/replay.py` as real processes, with real clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.exceptions
import pytest
from test_vcr_config import _get_interaction, _retried_cassette, record_lifecycle, run_lifecycle

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


def test_aws_cli_gets_recorded_answers_in_order_and_a_loud_miss(lifecycle, tmp_path):
    cassette, recorded = lifecycle
    sid = recorded[0]["ProxySession"]["ProxySessionId"]
    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "conf") as proxy:
        first, second, third, fourth = (get_session_cli(proxy, sid) for _ in range(4))
        missed = get_session_cli(proxy, "never-recorded-session")
        proxy.stop()
    assert first.returncode == 0, first.stderr
    assert (
        json.loads(first.stdout)["ProxySession"]["ExpiryMinutes"]
        == recorded[1]["ProxySession"]["ExpiryMinutes"]
        == 60
    )
    assert (
        json.loads(second.stdout)["ProxySession"]["ExpiryMinutes"]
        == recorded[3]["ProxySession"]["ExpiryMinutes"]
        == 30
    )
    # The third recorded Get came after the delete: the service's own 404, replayed.
    assert third.returncode != 0 and "NotFoundException" in third.stderr
    # Every recorded answer was played: the last one repeats (--exhausted repeat, the default).
    assert fourth.returncode == third.returncode and fourth.stdout == third.stdout == ""
    assert "NotFoundException" in fourth.stderr and "ChimeTapReplay" not in fourth.stderr
    assert fourth.stderr == third.stderr
    assert missed.returncode != 0
    assert "ChimeTapReplayMiss" in missed.stderr
    assert "no recorded interaction matches GET" in missed.stderr
    assert "never-recorded-session" in missed.stderr
    assert f"closest is {cassette.name} #" in missed.stderr
    assert "chime_path" in missed.stderr
    assert "no recorded interaction matches GET" in proxy.output  # logged too


def test_the_miss_answer_cannot_pass_for_the_service(lifecycle, tmp_path):
    cassette, recorded = lifecycle
    sid = recorded[0]["ProxySession"]["ProxySessionId"]
    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy)
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.update_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ProxySessionId=sid,
                Capabilities=["SMS"],
                ExpiryMinutes=30,
            )
        proxy.stop()
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 599
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-chime-tap-replay"] == "miss"
    assert response["Error"]["Code"] == "ChimeTapReplayMiss"
    assert (
        'body differs at /Capabilities/0: this request "SMS", recorded "Voice"'
        in response["Error"]["Message"]
    )


def test_exhausted_fail_answers_an_error_after_the_last_recorded_answer(tmp_path):
    cassette = tmp_path / "one.yaml"
    with CassetteWriter(cassette) as w:
        w.append(_get_interaction("s1"))
    with chime_tap(
        ["replay", "--cassette", str(cassette), "--exhausted", "fail"], confdir=tmp_path / "conf"
    ) as proxy:
        client = voice_client(proxy)
        assert (
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")[
                "ProxySession"
            ]["ProxySessionId"]
            == "s1"
        )
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
        proxy.stop()
    metadata = info.value.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 599
    assert metadata["HTTPHeaders"]["x-chime-tap-replay"] == "exhausted"
    assert info.value.response["Error"]["Code"] == "ChimeTapReplayExhausted"
    assert "already played" in info.value.response["Error"]["Message"]


def test_a_failed_call_is_never_replayed_the_retry_that_followed_it_is(tmp_path):
    cassette = _retried_cassette(tmp_path / "retried.yaml")
    with chime_tap(["replay", "--cassette", str(cassette)], confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy)
        answers = [
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
            for _ in range(2)  # the answered call, then it again (exhausted=repeat)
        ]
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s2")
        proxy.stop()
    for got in answers:
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert got["ResponseMetadata"]["HTTPHeaders"]["x-chime-tap-replay"] == "hit"
        assert got["ProxySession"]["ProxySessionId"] == "s1"
    # s2 was only ever recorded as a failed call: a miss that says why.
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 599
    message = response["Error"]["Message"]
    assert f"closest is {cassette.name} #1 (GET " in message  # the answered call, not #2
    assert (
        f"{cassette.name} #2 recorded this very call, but it got no response (Connection refused)"
        in message
    )
    assert "1 recorded interaction(s) from 1 cassette(s) (2 more recorded with no response" in (
        proxy.output
    )


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


def test_on_miss_error_never_connects_upstream(tmp_path, upstream):
    cassette = tmp_path / "base.yaml"
    with CassetteWriter(cassette) as w:
        w.append(_get_interaction("s1"))
    args = ["replay", "--cassette", str(cassette), "--hosts", f"127.0.0.1:{upstream.port}=voice"]
    with chime_tap(args, confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy, endpoint=f"http://127.0.0.1:{upstream.port}")
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s2")
        proxy.stop()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 599
    assert upstream.paths == []


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["replay", "--cassette", "missing.yaml"],
            "chime-tap: --cassette missing.yaml: no such file",
        ),
        (
            ["replay", "--cassette", "broken.yaml", "--listen-port", "0"],
            "broken.yaml: not valid YAML",
        ),
        (
            ["replay", "--cassette", "ok.yaml", "--record-to", "x.yaml"],
            "--record-to: only with --on-miss forward",
        ),
        (
            ["replay", "--cassette", "ok.yaml", "--on-miss", "sometimes"],
            "argument --on-miss: invalid choice: 'sometimes' (choose from",
        ),
        (
            ["replay", "--cassette", "ok.yaml", "--exhausted", "never"],
            "argument --exhausted: invalid choice",
        ),
        (["replay", "--cassette", "ok.yaml", "--hosts", "h:99999"], "--hosts: bad port"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path, args, message):
    (tmp_path / "broken.yaml").write_text("version: 1\ninteractions: [\n")
    with CassetteWriter(tmp_path / "ok.yaml") as w:
        w.append(_get_interaction("s1"))
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
