"""The simulator as users run it: a real `chime-tap simulate` (or `mitmdump -s`) process on
loopback, real boto3 and urllib3 clients over TLS through it, trusting the proxy's CA."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import botocore.exceptions
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chime_tap.api.operations import classify
from chime_tap.api.validation import validate_response
from chime_tap.simulator.control import CONTROL_HOST
from chime_tap.simulator.faults import FaultInjector, parse_latency
from support.procs import (
    CONNECTOR,
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    ProxyProcess,
    chime_tap,
    mitmdump,
    voice_client,
)

ADDON = Path(__file__).resolve().parent.parent / "addons" / "simulate.py"
A, B = "+12065550100", "+14015550101"


class Wire:
    """Records what each boto3 call got on the wire, to check it against the schemas."""

    def __init__(self, client) -> None:
        self.seen: list[tuple[str, str, int, bytes, dict]] = []
        client.meta.events.register("after-call", self._capture)

    def _capture(self, model, http_response, **_):
        self.seen.append(
            (
                model.name,
                http_response.url,
                http_response.status_code,
                http_response.content,
                dict(http_response.headers),
            )
        )

    def violations(self) -> list[str]:
        found = []
        for name, url, status, body, headers in self.seen:
            parts = urlsplit(url)
            method = {
                "CreateProxySession": "POST",
                "UpdateProxySession": "POST",
                "DeleteProxySession": "DELETE",
            }.get(name, "GET")
            route = classify(method, parts.hostname, parts.path)
            assert route is not None and route.name == name
            found += [
                f"{name} {status}: {v}"
                for v in validate_response(route, status=status, body=body, headers=headers)
            ]
        return found


def control(proxy: ProxyProcess, method: str, path: str) -> dict:
    """The simulator's control endpoint, through the proxy, in plain HTTP."""
    with urllib3.ProxyManager(proxy.url, retries=False, timeout=10) as pm:
        r = pm.request(method, f"http://{CONTROL_HOST}{path}")
    assert r.status == 200, r.data
    return json.loads(r.data)


def create(client, **extra):
    return client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"], **extra
    )["ProxySession"]


@pytest.fixture
def sim(tmp_path):
    with chime_tap(["simulate"], confdir=tmp_path / "confdir") as proc:
        yield proc


def test_prints_how_to_point_a_client_at_it(sim):
    assert sim.wait_for_output("AWS_CA_BUNDLE=")
    assert f"export HTTPS_PROXY={sim.url}" in sim.output
    assert f"export AWS_CA_BUNDLE={sim.ca_cert}" in sim.output
    assert sim.ca_cert.is_file()


def test_lifecycle_through_boto3_over_tls(sim):
    client = voice_client(sim)
    wire = Wire(client)
    made = [create(client, Name=f"demo {i}", ExpiryMinutes=60) for i in range(5)]
    assert [s["Status"] for s in made] == ["Open"] * 5
    assert len({s["ProxySessionId"] for s in made}) == 5
    assert all(
        s["VoiceConnectorId"] == CONNECTOR and s["CreatedTimestamp"] == s["UpdatedTimestamp"]
        for s in made
    )
    first = made[0]["ProxySessionId"]

    got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=first)["ProxySession"]
    assert got["Participants"] == made[0]["Participants"] and got["Name"] == "demo 0"

    updated = client.update_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=first, Capabilities=["SMS"], ExpiryMinutes=90
    )
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (
        updated["ProxySession"]["Capabilities"] == ["SMS"]
        and updated["ProxySession"]["ExpiryMinutes"] == 90
    )
    assert updated["ProxySession"]["UpdatedTimestamp"] > got["UpdatedTimestamp"]

    pages, kwargs = [], {}
    for _ in range(10):  # boto3 has no paginator for this operation: follow NextToken by hand
        page = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, MaxResults=2, **kwargs)
        pages.append(page)
        if not page.get("NextToken"):
            break
        kwargs = {"NextToken": page["NextToken"]}
    assert [len(p["ProxySessions"]) for p in pages] == [2, 2, 1]
    assert [s["ProxySessionId"] for p in pages for s in p["ProxySessions"]] == [
        s["ProxySessionId"] for s in made
    ]

    deleted = client.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=first)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.NotFoundException) as e:
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=first)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (
        e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
        == "NotFoundException"
    )
    remaining = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)["ProxySessions"]
    assert len(remaining) == 4

    headers = wire.seen[0][4]
    assert (
        headers["Content-Type"] == "application/json"
        and headers["x-amzn-RequestId"]
        and headers["Date"].endswith("GMT")
    )
    assert wire.violations() == []
    assert len(wire.seen) == 13
    client.close()


def test_invalid_input_is_a_bad_request_from_the_schemas(sim):
    client = voice_client(sim, parameter_validation=False)
    wire = Wire(client)
    calls = [
        lambda: client.create_proxy_session(
            VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A], Capabilities=["Voice"]
        ),
        lambda: client.create_proxy_session(
            VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Fax"]
        ),
        lambda: client.update_proxy_session(
            VoiceConnectorId=CONNECTOR, ProxySessionId="x", Capabilities=["Voice"], ExpiryMinutes=0
        ),
        lambda: client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, MaxResults=500),
        lambda: client.list_proxy_sessions(VoiceConnectorId="UPPER-case", Status="Open"),
    ]
    for call in calls:
        with pytest.raises(client.exceptions.BadRequestException) as e:
            call()
        assert e.value.response["Error"]["Message"].startswith(
            ("1 validation error", "2 validation errors")
        )
    assert [s[2] for s in wire.seen] == [400] * len(calls)
    assert all(json.loads(s[3])["Code"] == "BadRequest" for s in wire.seen)
    assert wire.violations() == []
    client.close()


def test_sessions_expire_on_the_injected_clock(sim):
    client = voice_client(sim)
    short = create(client, ExpiryMinutes=5)
    long = create(client, ExpiryMinutes=60)
    before = control(sim, "GET", "/clock")
    after = control(sim, "POST", "/clock/advance?seconds=301")
    assert (
        after["ClockOffsetSeconds"] - before["ClockOffsetSeconds"] == 301 and after["Sessions"] == 2
    )
    closed = client.get_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=short["ProxySessionId"]
    )["ProxySession"]
    assert closed["Status"] == "Closed"
    assert closed["EndedTimestamp"] == short["CreatedTimestamp"] + timedelta(minutes=5)
    assert (
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=long["ProxySessionId"])[
            "ProxySession"
        ]["Status"]
        == "Open"
    )
    by_status = {
        s: [
            x["ProxySessionId"]
            for x in client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status=s)[
                "ProxySessions"
            ]
        ]
        for s in ("Open", "Closed")
    }
    assert by_status == {"Open": [long["ProxySessionId"]], "Closed": [short["ProxySessionId"]]}
    with pytest.raises(client.exceptions.BadRequestException):
        client.update_proxy_session(
            VoiceConnectorId=CONNECTOR,
            ProxySessionId=short["ProxySessionId"],
            Capabilities=["Voice"],
        )
    client.close()


def signed(method: str, url: str, body: bytes = b"") -> tuple[dict, bytes]:
    """SigV4-sign a raw request as the legacy `chime` client did (service name chime)."""
    req = AWSRequest(
        method=method,
        url=url,
        data=body,
        headers={"Content-Type": "application/json"} if body else {},
    )
    SigV4Auth(Credentials(FAKE_ACCESS_KEY, FAKE_SECRET_KEY), "chime", "us-east-1").add_auth(req)
    return dict(req.headers.items()), body


@pytest.mark.parametrize("host", ["service.chime.aws.amazon.com", "chime.us-east-1.amazonaws.com"])
def test_legacy_hosts_with_raw_signed_requests(sim, host):
    base = f"https://{host}/voice-connectors/legacy-connector-1/proxy-sessions"
    with urllib3.ProxyManager(sim.url, ca_certs=str(sim.ca_cert), retries=False, timeout=10) as pm:

        def call(method, url, doc=None):
            headers, body = signed(method, url, json.dumps(doc).encode() if doc else b"")
            r = pm.request(method, url, body=body or None, headers=headers)
            route = classify(method, host, urlsplit(url).path)
            assert (
                validate_response(route, status=r.status, body=r.data, headers=dict(r.headers))
                == []
            )
            return r.status, json.loads(r.data) if r.data else None

        status, doc = call(
            "POST", base, {"ParticipantPhoneNumbers": [A, B], "Capabilities": ["SMS", "Voice"]}
        )
        assert status == 201 and doc["ProxySession"]["VoiceConnectorId"] == "legacy-connector-1"
        sid = doc["ProxySession"]["ProxySessionId"]
        status, got = call("GET", f"{base}/{sid}")
        assert status == 200 and got == doc
        assert call("POST", f"{base}/{sid}", {"Capabilities": ["Voice"]})[0] == 201
        assert call("GET", f"{base}?max-results=99")[0] == 200
        status, err = call("GET", f"{base}?max-results=100")  # the legacy namespace allows 1-99
        assert status == 400 and err["Code"] == "BadRequest"
        assert call("DELETE", f"{base}/{sid}") == (204, None)
        assert call("GET", f"{base}/{sid}")[0] == 404


def test_fault_injection_counts_match_the_seeded_injector(tmp_path):
    n, throttle, errors, seed, latency = 40, 0.25, 0.15, 11, "uniform:0:2"
    args = [
        "simulate",
        "--throttle-rate",
        str(throttle),
        "--error-rate",
        str(errors),
        "--seed",
        str(seed),
        "--latency-ms",
        latency,
    ]
    expected_injector = FaultInjector(throttle, errors, parse_latency(latency), seed=seed)
    expected = Counter(expected_injector.decide().status or 404 for _ in range(n))
    with chime_tap(args, confdir=tmp_path / "confdir") as proc:
        client = voice_client(proc)
        wire = Wire(client)
        names = Counter()
        for _ in range(n):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                client.get_proxy_session(
                    VoiceConnectorId=CONNECTOR, ProxySessionId="no-such-session"
                )
            names[e.value.response["Error"]["Code"]] += 1
        client.close()
    assert Counter(s[2] for s in wire.seen) == expected
    assert names == {
        "NotFoundException": expected[404],
        "ThrottledClientException": expected[429],
        "ServiceFailureException": expected[500],
        "ServiceUnavailableException": expected[503],
    }
    assert expected[429] and expected[500] + expected[503]  # the seed exercises faults at all
    assert wire.violations() == []


def test_concurrent_clients_with_latency(tmp_path):
    with chime_tap(["simulate", "--latency-ms", "fixed:20"], confdir=tmp_path / "confdir") as proc:
        ids: list[str] = []
        errors: list[BaseException] = []

        def work(i: int) -> None:
            client = voice_client(proc)
            try:
                for j in range(5):
                    s = client.create_proxy_session(
                        VoiceConnectorId=CONNECTOR,
                        ParticipantPhoneNumbers=[f"+1312555{i:02d}{j:02d}", B],
                        Capabilities=["Voice"],
                    )["ProxySession"]
                    ids.append(
                        client.get_proxy_session(
                            VoiceConnectorId=CONNECTOR, ProxySessionId=s["ProxySessionId"]
                        )["ProxySession"]["ProxySessionId"]
                    )
            except BaseException as e:
                errors.append(e)
            finally:
                client.close()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert len(ids) == len(set(ids)) == 40
        listed = voice_client(proc).list_proxy_sessions(VoiceConnectorId=CONNECTOR, MaxResults=100)[
            "ProxySessions"
        ]
        assert {s["ProxySessionId"] for s in listed} == set(ids)


class CountingListener:
    """A TCP server on loopback that counts connections: the 'real service' nobody may reach."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("launcher", ["chime-tap", "mitmdump -s"])
def test_nothing_leaves_the_machine(tmp_path, launcher):
    listener = CountingListener()
    try:
        hosts = f"127.0.0.1:{listener.port}=voice"
        if launcher == "chime-tap":
            proc = chime_tap(["simulate", "--hosts", hosts], confdir=tmp_path / "confdir")
        else:  # mitmproxy's own defaults (upstream_cert=true): the addon must turn them off
            proc = mitmdump(
                ["-s", str(ADDON), "--set", f"chime_hosts={hosts}"], confdir=tmp_path / "confdir"
            )
        with proc:
            client = voice_client(proc, endpoint=f"https://127.0.0.1:{listener.port}")
            s = create(client)
            assert (
                client.get_proxy_session(
                    VoiceConnectorId=CONNECTOR, ProxySessionId=s["ProxySessionId"]
                )["ProxySession"]["Status"]
                == "Open"
            )
            client.close()
            # The AWS hostname does not resolve on this machine: only an answer from the proxy
            # itself works. State is per voice connector, whichever host served the call.
            aws = voice_client(proc)
            listed = aws.list_proxy_sessions(VoiceConnectorId=CONNECTOR)["ProxySessions"]
            assert [x["ProxySessionId"] for x in listed] == [s["ProxySessionId"]]
            aws.close()
            with urllib3.ProxyManager(proc.url, retries=False, timeout=10) as pm:
                r = pm.request(
                    "GET", f"http://127.0.0.1:{listener.port + 1 if listener.port < 65535 else 1}/"
                )
            assert r.status == 502 and b"never goes upstream" in r.data
            assert proc.stop() == 0
        assert listener.accepted == 0
        assert "refused an upstream connection" not in proc.output
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--throttle-rate", "2"], "--throttle-rate"),
        (["--error-rate", "-1"], "--error-rate"),
        (["--throttle-rate", "0.6", "--error-rate", "0.6"], "more than 1"),
        (["--latency-ms", "soon"], "--latency-ms"),
        (["--hosts", "example.com=nowhere"], "--hosts"),
        (["--set", "chime_sim_clock_offset=-3"], "chime_sim_clock_offset"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, args, needle):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "chime_tap",
            "simulate",
            "--listen-port",
            "0",
            "--confdir",
            str(tmp_path),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr, r.stderr
