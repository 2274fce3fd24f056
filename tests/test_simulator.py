"""The simulator as users run it: a real `chime-tap simulate` (or `mitmdump -s`) process on
loopback, real boto3 and urllib3 clients over TLS through it, trusting the proxy's CA.

These prove the wiring: the hint, TLS, the command's flags, the script, and that nothing leaves
the machine with mitmproxy's own defaults. What the addon answers (each operation in both
namespaces, schema errors, the clock and its control endpoint, faults, concurrent flows,
non-Chime hosts, option errors) is checked in-process in tests/test_simulate_addon.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3

from chime_tap.api.operations import classify
from chime_tap.api.validation import validate_response
from support.procs import CONNECTOR, chime_tap, mitmdump, voice_client

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


# A bad value the addon finds as the proxy starts: one line naming the flag the user typed, or
# the option a --set gave. Each value's own check is in-process (test_simulate_addon.py:
# OptionsError naming the option).
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--throttle-rate", "2"], "--throttle-rate"),
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


# --- who may use the control endpoint (issue 15, item 12) ---------------------------------------


def _control(proc, method: str, path: str, token: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib3.ProxyManager(proc.url, retries=False, timeout=10) as pm:
        r = pm.request(method, f"http://sim.chime-tap.invalid{path}", headers=headers)
    return r.status, r.data


def test_the_control_endpoint_takes_the_token_printed_at_start_and_kept_for_its_user(sim):
    import os
    import stat

    from chime_tap.demo_workload import control_via
    from chime_tap.simulator.control import read_token, token_file

    assert sim.wait_for_output("move the clock")  # the hint follows the listening line
    (line,) = [line for line in sim.lines if "move the clock" in line]
    printed = line.rsplit("Authorization: Bearer ", 1)[1].rstrip("'")
    kept = token_file(sim.port)
    assert read_token(sim.url) == printed and kept.read_text() == printed
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(kept.parent).st_mode) == 0o700
    client = voice_client(sim)
    create(client, ExpiryMinutes=1)
    assert _control(sim, "POST", "/reset", None)[0] == 403  # another client, no token
    assert _control(sim, "POST", "/clock/advance?seconds=120", "guess")[0] == 403
    assert _control(sim, "POST", "/clock/advance?seconds=nan", printed)[0] == 400
    assert control_via(sim.url)("POST", "/clock/advance?seconds=120")["Sessions"] == 1
    listed = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)["ProxySessions"]
    assert [s["Status"] for s in listed] == ["Closed"]  # the clock moved; every later call works
    assert sim.stop() == 0
    assert not kept.exists()  # gone with the proxy
    refused = [line for line in sim.lines if "control call refused" in line]
    assert len(refused) == 2


def test_a_proxy_listening_beyond_loopback_says_so_in_one_line(tmp_path):
    with chime_tap(["simulate", "--listen-host", "0.0.0.0"], confdir=tmp_path / "c") as proc:
        assert proc.wait_for_output("press Ctrl+C")  # said before it
        warned = [line for line in proc.lines if "beyond loopback" in line]
        assert proc.stop() == 0
    assert warned == [
        f"chime-tap simulate: warning: listening on 0.0.0.0:{proc.port}, beyond loopback: "
        "anyone who can reach it may send calls through it and read what passes; use it on a "
        "trusted network only, with a password (--set proxyauth=USER:PASS)"
    ]
    with chime_tap(["simulate"], confdir=tmp_path / "c") as proc:
        assert proc.wait_for_output("press Ctrl+C")
        assert proc.stop() == 0
    assert not any("beyond loopback" in line for line in proc.lines)
