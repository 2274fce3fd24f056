"""The recorder as users run it: a real `chime-tap record` (or `mitmdump -s addons/record.py`)
process on loopback, a real boto3 chime-sdk-voice client (and the AWS CLI) sending through it to
a loopback test upstream, plain HTTP and TLS."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest
import vcr

from chime_tap.api.operations import classify
from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from support.loadgen import vcr_load
from support.procs import (
    CONNECTOR,
    ProxyProcess,
    assert_no_secrets,
    aws_cli,
    chime_tap,
    mitmdump,
    voice_client,
)
from support.upstream import PROXY_NUMBER, ScriptedUpstream

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "addons" / "record.py"
A, B = "+12065550100", "+14015550101"

# What the lifecycle below sends, in order: (operation, status the client sees).
LIFECYCLE = [
    ("CreateProxySession", 201),
    ("ListProxySessions", 200),
    ("GetProxySession", 200),
    ("UpdateProxySession", 201),
    ("DeleteProxySession", 204),
    ("GetProxySession", 404),
    ("GetProxySession", 400),
    ("ListProxySessions", 429),
    ("GetProxySession", 500),
    ("CreateProxySession", 503),
]


def lifecycle(client, up: ScriptedUpstream) -> str:
    """The five operations on one session, then the errors the service can answer."""
    made = client.create_proxy_session(
        VoiceConnectorId=CONNECTOR,
        ParticipantPhoneNumbers=[A, B],
        Capabilities=["Voice", "SMS"],
        ExpiryMinutes=30,
        Name="record test",
    )
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    sid = made["ProxySession"]["ProxySessionId"]
    listed = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open")
    assert [s["ProxySessionId"] for s in listed["ProxySessions"]] == [sid]
    got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    assert got["ProxySession"]["Participants"][0]["PhoneNumber"] == A
    updated = client.update_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=sid, Capabilities=["Voice"], ExpiryMinutes=60
    )
    assert updated["ProxySession"]["ExpiryMinutes"] == 60
    client.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)

    def fails(status: int, code: str, call, **kw) -> None:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(VoiceConnectorId=CONNECTOR, **kw)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert e.value.response["Error"]["Code"] == code

    fails(404, "NotFoundException", client.get_proxy_session, ProxySessionId=sid)
    up.fail_next(400, 429, 500, 503)
    fails(400, "BadRequestException", client.get_proxy_session, ProxySessionId="err-400")
    fails(429, "ThrottledClientException", client.list_proxy_sessions)
    fails(500, "ServiceFailureException", client.get_proxy_session, ProxySessionId="err-500")
    fails(
        503,
        "ServiceUnavailableException",
        client.create_proxy_session,
        ParticipantPhoneNumbers=[A, B],
        Capabilities=["SMS"],
    )
    return sid


def recorded_calls(path: Path) -> list[tuple[str, int]]:
    return [
        (i[META_KEY]["operation"], i["response"]["status"]["code"])
        for i in load_cassette(path)["interactions"]
    ]


def check_cassette(path: Path, expected: list[tuple[str, int]], tmp_path: Path) -> list[dict]:
    """The cassette holds exactly ``expected``, loads in plain vcrpy, and holds no credential."""
    assert recorded_calls(path) == expected
    pairs = vcr_load(path)  # vcrpy's own persister and serializer
    assert len(pairs) == len(expected)
    assert [r["status"]["code"] for _, r in pairs] == [s for _, s in expected]
    assert_no_secrets(tmp_path)
    items = load_cassette(path)["interactions"]
    for item in items:
        headers = {k.lower(): v for k, v in item["request"]["headers"].items()}
        assert headers["authorization"] == ["REDACTED"]
        assert "x-amz-security-token" not in headers
        assert item[META_KEY]["answered_by"] == "upstream"
        assert item[META_KEY]["duration_ms"] >= 0
        assert item[META_KEY]["violations"] == [], item[META_KEY]["violations"]
    return items


@pytest.fixture
def upstream():
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
def tls_upstream(tmp_path: Path):
    with ScriptedUpstream(tls_dir=tmp_path) as up:
        yield up


def record(tmp_path: Path, *args: str, cassette: str = "calls.yaml", **kw) -> ProxyProcess:
    return chime_tap(
        ["record", "--cassette", str(tmp_path / cassette), *args], confdir=tmp_path / "conf", **kw
    )


# --- the lifecycle, recorded ---------------------------------------------------------------------


def test_http_lifecycle_recorded_in_order(tmp_path: Path, upstream: ScriptedUpstream, cli) -> None:
    with record(tmp_path, "--hosts", upstream.host) as proxy:
        assert proxy.wait_for_output("clients must trust the CA certificate")
        assert str(proxy.ca_cert) in proxy.output
        lifecycle(voice_client(proxy, endpoint=upstream.url), upstream)
        assert proxy.stop(signal.SIGINT) == 0
    items = check_cassette(tmp_path / "calls.yaml", LIFECYCLE, tmp_path)
    first = items[0]
    assert first["request"]["method"] == "POST"
    assert first["request"]["uri"] == f"{upstream.url}/voice-connectors/{CONNECTOR}/proxy-sessions"
    assert json.loads(first["request"]["body"])["ParticipantPhoneNumbers"] == [A, B]
    assert first["response"]["status"] == {"code": 201, "message": "Created"}
    assert items[4]["response"]["body"]["string"] == ""
    assert items[5][META_KEY].get("error") is None
    # One log line per call, naming the operation and the ids.
    lines = [line for line in proxy.lines if "violation(s)" in line]
    assert len(lines) == len(LIFECYCLE)
    assert f"GetProxySession connector={CONNECTOR} session=" in lines[2]
    # Every report of traffic signed with the test credentials is free of them too (the report
    # runs in this process: its own process adds nothing here).
    for fmt in ("text", "markdown", "html", "json", "csv", "parquet"):
        out = tmp_path / f"report.{fmt}"
        done = cli("report", tmp_path / "calls.yaml", "--format", fmt, "--out", out)
        assert done.returncode == 0, done.stderr
        assert out.stat().st_size > 0
    assert_no_secrets(tmp_path)


def test_https_lifecycle_recorded_and_replayed_by_vcrpy(
    tmp_path: Path, tls_upstream: ScriptedUpstream
) -> None:
    up = tls_upstream
    with record(
        tmp_path, "--hosts", up.host, "--set", "ssl_insecure=true", cassette="calls.json"
    ) as proxy:
        sid = lifecycle(voice_client(proxy, endpoint=up.url), up)
        assert proxy.stop(signal.SIGTERM) == 0
    path = tmp_path / "calls.json"
    check_cassette(path, LIFECYCLE, tmp_path)
    assert json.loads(path.read_text())["version"] == 1
    assert (
        load_cassette(path)["interactions"][2]["request"]["uri"]
        == f"{up.url}/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}"
    )

    # Plain vcrpy replays the recorded GetProxySession to a client that has no proxy and no upstream.
    up.server.shutdown()
    my_vcr = vcr.VCR(
        record_mode="none",
        serializer="json",
        match_on=["method", "scheme", "host", "port", "path", "query"],
    )
    client = voice_client(None, endpoint=up.url, verify=False)
    with my_vcr.use_cassette(str(path)) as cassette:
        got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
        assert cassette.play_count == 1
    assert got["ProxySession"]["ProxySessionId"] == sid
    assert got["ProxySession"]["Capabilities"] == ["Voice", "SMS"]


def test_plain_mitmdump_with_the_addon(tmp_path: Path, upstream: ScriptedUpstream) -> None:
    cassette = tmp_path / "dump.yaml"
    args = [
        "-s",
        str(ADDON),
        "--set",
        f"chime_cassette={cassette}",
        "--set",
        f"chime_hosts={upstream.host}",
    ]
    with mitmdump(args, confdir=tmp_path / "conf") as proxy:
        lifecycle(voice_client(proxy, endpoint=upstream.url), upstream)
        assert proxy.stop(signal.SIGTERM) == 0
    check_cassette(cassette, LIFECYCLE, tmp_path)
    assert "deprecated" not in proxy.output  # the script loads without mitmproxy's warnings


def test_aws_cli_through_the_recorder(tmp_path: Path, tls_upstream: ScriptedUpstream) -> None:
    up = tls_upstream
    with record(tmp_path, "--hosts", up.host, "--set", "ssl_insecure=true") as proxy:
        sid = voice_client(proxy, endpoint=up.url).create_proxy_session(
            VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"]
        )["ProxySession"]["ProxySessionId"]
        out = aws_cli(
            proxy, tmp_path, "get-proxy-session", "--voice-connector-id", CONNECTOR,
            "--proxy-session-id", sid, "--endpoint-url", up.url,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["ProxySession"]["ProxySessionId"] == sid
        assert proxy.stop(signal.SIGINT) == 0
    items = load_cassette(tmp_path / "calls.yaml")["interactions"]
    assert [i[META_KEY]["operation"] for i in items] == ["CreateProxySession", "GetProxySession"]
    agent = {k.lower(): v for k, v in items[1]["request"]["headers"].items()}["user-agent"][0]
    assert agent.startswith("aws-cli/")
    assert_no_secrets(tmp_path)


def test_recording_into_an_existing_cassette_appends(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    for _ in range(2):
        with record(tmp_path, "--hosts", upstream.host) as proxy:
            client = voice_client(proxy, endpoint=upstream.url)
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
            assert proxy.stop(signal.SIGTERM) == 0
    assert recorded_calls(tmp_path / "calls.yaml") == [("ListProxySessions", 200)] * 2
    assert "1 interaction(s) already there" in proxy.output


def test_reverse_mode(tmp_path: Path, upstream: ScriptedUpstream) -> None:
    with record(tmp_path, "--hosts", upstream.host, "--mode", f"reverse:{upstream.url}") as proxy:
        client = voice_client(None, endpoint=proxy.url)  # the client addresses the proxy itself
        client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert proxy.stop(signal.SIGTERM) == 0
    assert recorded_calls(tmp_path / "calls.yaml") == [("ListProxySessions", 200)]
    assert len(upstream.seen) == 1


def test_simulator_as_upstream(tmp_path: Path) -> None:
    with record(tmp_path, "--upstream", "simulator", "--seed", "7") as proxy:
        client = voice_client(
            proxy
        )  # https://voice-chime.us-east-1.amazonaws.com, answered offline
        made = client.create_proxy_session(
            VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"]
        )
        client.get_proxy_session(
            VoiceConnectorId=CONNECTOR, ProxySessionId=made["ProxySession"]["ProxySessionId"]
        )
        assert proxy.stop(signal.SIGTERM) == 0
    items = load_cassette(tmp_path / "calls.yaml")["interactions"]
    assert [(i[META_KEY]["operation"], i[META_KEY]["answered_by"]) for i in items] == [
        ("CreateProxySession", "addon"),
        ("GetProxySession", "addon"),
    ]
    assert (
        items[0]["request"]["uri"]
        == f"https://voice-chime.us-east-1.amazonaws.com/voice-connectors/{CONNECTOR}/proxy-sessions"
    )
    assert all(i[META_KEY]["violations"] == [] for i in items)
    assert_no_secrets(tmp_path)


# --- enforce, redaction, failures ---------------------------------------------------------------


def test_enforce_mode_refuses_invalid_create(tmp_path: Path, upstream: ScriptedUpstream) -> None:
    with record(tmp_path, "--hosts", upstream.host, "--enforce") as proxy:
        client = voice_client(proxy, endpoint=upstream.url)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.create_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ParticipantPhoneNumbers=[A, B],
                Capabilities=["Voice"],
                Name="no_underscores!",
            )
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert e.value.response["Error"]["Code"] == "BadRequestException"
        assert "/Name" in e.value.response["Error"]["Message"]
        client.create_proxy_session(
            VoiceConnectorId=CONNECTOR,
            ParticipantPhoneNumbers=[A, B],
            Capabilities=["Voice"],
            Name="fine name",
        )
        assert proxy.stop(signal.SIGTERM) == 0
    assert [(s.method, json.loads(s.body)["Name"]) for s in upstream.seen] == [
        ("POST", "fine name")
    ]
    items = load_cassette(tmp_path / "calls.yaml")["interactions"]
    assert [(i[META_KEY]["answered_by"], i["response"]["status"]["code"]) for i in items] == [
        ("chime-tap", 400),
        ("upstream", 201),
    ]
    assert items[0][META_KEY]["violations"][0]["pointer"] == "/Name"
    assert any("answered by chime-tap enforce" in line for line in proxy.lines)


def test_redacted_cassette_holds_no_phone_number_and_validates(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    with record(tmp_path, "--hosts", upstream.host, "--redact-phone-numbers") as proxy:
        lifecycle(voice_client(proxy, endpoint=upstream.url), upstream)
        assert proxy.stop(signal.SIGTERM) == 0
    path = tmp_path / "calls.yaml"
    text = path.read_text()
    for number in (A, B, PROXY_NUMBER):
        assert number[1:] not in text
    assert recorded_calls(path) == LIFECYCLE
    create = json.loads(load_cassette(path)["interactions"][0]["request"]["body"])
    fake_a, _fake_b = create["ParticipantPhoneNumbers"]
    # under +999, the country code ITU-T never assigned (chime_tap.cassettes.phones)
    assert fake_a != A and len(fake_a) == len(A) and fake_a.startswith("+999")
    got = json.loads(load_cassette(path)["interactions"][2]["response"]["body"]["string"])
    assert (
        got["ProxySession"]["Participants"][0]["PhoneNumber"] == fake_a
    )  # same number, same pseudonym
    out = subprocess.run(
        [sys.executable, "-m", "chime_tap", "validate", str(path), "--hosts", upstream.host],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(LIFECYCLE)} proxy-session interaction(s) checked" in out.stderr
    vcr_load(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_upstream_down_recorded_as_failed_call_and_proxy_keeps_serving(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    dead = free_port()  # nothing listens there: connection refused
    with record(tmp_path, "--hosts", f"{upstream.host},127.0.0.1:{dead}") as proxy:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            voice_client(proxy, endpoint=f"http://127.0.0.1:{dead}").list_proxy_sessions(
                VoiceConnectorId=CONNECTOR
            )
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        voice_client(proxy, endpoint=upstream.url).list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert proxy.proc.poll() is None
        assert proxy.stop(signal.SIGTERM) == 0
    failed, served = load_cassette(tmp_path / "calls.yaml")["interactions"]
    assert failed["response"]["status"]["code"] == 0
    assert failed[META_KEY]["answered_by"] == "none"
    assert (
        "refused" in failed[META_KEY]["error"].lower()
        or "connect call failed" in failed[META_KEY]["error"].lower()
    )
    assert (
        failed["request"]["uri"]
        == f"http://127.0.0.1:{dead}/voice-connectors/{CONNECTOR}/proxy-sessions"
    )
    assert served["response"]["status"]["code"] == 200
    assert any("ListProxySessions" in line and "failed (" in line for line in proxy.lines)
    vcr_load(tmp_path / "calls.yaml")


def test_connection_reset_mid_call_recorded_as_failed(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    from support.upstream import RESET

    with record(tmp_path, "--hosts", upstream.host) as proxy:
        client = voice_client(proxy, endpoint=upstream.url)
        upstream.fail_next(RESET)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="gone")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert proxy.stop(signal.SIGTERM) == 0
    (item,) = load_cassette(tmp_path / "calls.yaml")["interactions"]
    assert item["response"]["status"]["code"] == 0
    assert item[META_KEY]["operation"] == "GetProxySession"
    assert item[META_KEY]["error"]


def test_gzip_answers_recorded_decoded(tmp_path: Path) -> None:
    with ScriptedUpstream(gzip_responses=True) as up, record(tmp_path, "--hosts", up.host) as proxy:
        client = voice_client(proxy, endpoint=up.url)
        client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert proxy.stop(signal.SIGTERM) == 0
    (item,) = load_cassette(tmp_path / "calls.yaml")["interactions"]
    headers = {k.lower() for k in item["response"]["headers"]}
    assert "content-encoding" not in headers
    assert json.loads(item["response"]["body"]["string"]) == {
        "ProxySessions": [],
        "NextToken": None,
    }


# --- the command line: one line, non-zero, nothing overwritten -----------------------------------


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--set", "chime_hosts=127.0.0.1:99999"], "chime_hosts: bad port"),
        (["--set", "chime_enforce=maybe"], "--set chime_enforce=maybe: Boolean must be"),
        (["--set", "no_such_option=1"], "--set no_such_option=1: Unknown option"),
        (
            ["--set", "chime_cassette=/nonexistent-dir/c.yaml"],
            "chime_cassette: /nonexistent-dir/c.yaml: directory",
        ),
        (["--hosts", "127.0.0.1:99999"], "--hosts"),
        (["--mode", "sideways"], "--mode"),
        (["--mode", "reverse:ftp://x"], "--mode"),
        # found by the simulator after the recorder opened the cassette: nothing else is said
        (["--upstream", "simulator", "--throttle-rate", "2"], "--throttle-rate: bad rate"),
    ],
)
def test_bad_option_values(tmp_path: Path, extra: list[str], expected: str) -> None:
    out = run_cli(
        "record",
        "--cassette",
        str(tmp_path / "c.yaml"),
        "--listen-port",
        "0",
        "--confdir",
        str(tmp_path / "conf"),
        *extra,
    )
    assert expected in one_line_error(out)
    assert out.stdout == ""


def test_missing_cassette_argument_and_directory(tmp_path: Path) -> None:
    assert "--cassette" in one_line_error(run_cli("record", "--listen-port", "0"))
    line = one_line_error(
        run_cli("record", "--cassette", str(tmp_path / "nope" / "c.yaml"), "--listen-port", "0")
    )
    assert "does not exist" in line
    assert not (tmp_path / "nope").exists()


def test_broken_cassette_refused_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\ninteractions:\n- request: {method: GET}\n  response: [unclosed\n")
    before = path.read_bytes()
    line = one_line_error(
        run_cli(
            "record",
            "--cassette",
            str(path),
            "--listen-port",
            "0",
            "--confdir",
            str(tmp_path / "conf"),
        )
    )
    assert "broken.yaml" in line
    assert path.read_bytes() == before


def test_cassette_locked_by_another_recorder(tmp_path: Path, upstream: ScriptedUpstream) -> None:
    with record(tmp_path, "--hosts", upstream.host) as first:
        out = run_cli(
            "record",
            "--cassette",
            str(tmp_path / "calls.yaml"),
            "--listen-port",
            "0",
            "--confdir",
            str(tmp_path / "conf2"),
        )
        assert "another chime-tap recorder" in one_line_error(out)
        voice_client(first, endpoint=upstream.url).list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert first.stop(signal.SIGINT) == 0
    assert recorded_calls(tmp_path / "calls.yaml") == [("ListProxySessions", 200)]


def test_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    with record(tmp_path) as proxy:
        assert proxy.host == "127.0.0.1"
        assert proxy.stop(signal.SIGTERM) == 0


def test_record_help_says_forward_mode_works_with_sigv4() -> None:
    out = run_cli("record", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "SigV4 signs the Host header" in text
    assert "--upstream" in text and "--throttle-rate" in text


def test_classify_agrees_with_recorded_uris(tmp_path: Path, upstream: ScriptedUpstream) -> None:
    """Every recorded URI classifies (with the same hosts) as the operation the recorder named."""
    from urllib.parse import urlsplit

    from chime_tap.api.hosts import HostPolicy

    with record(tmp_path, "--hosts", upstream.host) as proxy:
        lifecycle(voice_client(proxy, endpoint=upstream.url), upstream)
        assert proxy.stop(signal.SIGTERM) == 0
    hosts = HostPolicy([upstream.host])
    for item in load_cassette(tmp_path / "calls.yaml")["interactions"]:
        parts = urlsplit(item["request"]["uri"])
        route = classify(item["request"]["method"], parts.netloc, parts.path, hosts)
        assert route is not None and route.name == item[META_KEY]["operation"]
