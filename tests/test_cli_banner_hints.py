"""The start-up banner of every proxy command: one listening line per mode, and a hint that fits
the mode (a reverse proxy is the client's endpoint, reached in plain HTTP: no HTTPS_PROXY, no CA
certificate, and no control host of the simulator to reach through it)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons

from chime_tap import hints
from chime_tap.addons.announce import Announce, listening_modes
from chime_tap.cassettes.reader import load_cassette
from chime_tap.simulator.control import CONTROL_HOST
from support.procs import CONNECTOR, VOICE_ENDPOINT, chime_tap, voice_client

URL, CA = "http://127.0.0.1:18204", "/conf/mitmproxy-ca-cert.pem"
REVERSE = f"reverse:{VOICE_ENDPOINT}"

# Every hint a proxy command prints, by a name for the test's id.
HINTS = {
    "record": hints.record_hint(),
    "record-simulator": hints.record_hint(simulator=True),
    "replay": hints.replay_hint,
    "replay-forwarding": hints.forwarding_replay_hint("/tmp/new.yaml"),
    "simulate": hints.simulator_hint("simulate"),
}
# What only a client of a forward proxy needs.
FORWARD_PROXY_STEPS = ("HTTPS_PROXY", "AWS_CA_BUNDLE", CA, "curl -x", CONTROL_HOST)


def server(spec: str, *addresses: tuple) -> SimpleNamespace:
    """A stand-in for one of mitmproxy's server instances: its mode and listen addresses."""
    return SimpleNamespace(mode=ProxyMode.parse(spec), listen_addrs=addresses)


@pytest.mark.parametrize("name", sorted(HINTS))
def test_a_reverse_proxy_is_the_clients_endpoint(name: str) -> None:
    lines = HINTS[name](hints.Listener(URL, CA, REVERSE))
    text = "\n".join(lines)
    assert [step for step in FORWARD_PROXY_STEPS if step in text] == []
    assert f"--endpoint-url {URL}" in text
    assert f"endpoint_url='{URL}'" in text  # boto3


@pytest.mark.parametrize("name", sorted(HINTS))
def test_a_forward_proxy_is_the_clients_https_proxy(name: str) -> None:
    text = "\n".join(HINTS[name](hints.Listener(URL, CA, "regular")))
    assert "--endpoint-url" not in text
    assert f"HTTPS_PROXY={URL}" in text or f"AWS_CA_BUNDLE={CA}" in text


def test_the_simulators_clock_is_offered_where_its_control_host_is_reached() -> None:
    for label in ("simulate", "record"):
        hint = hints.simulator_hint(label, "t0k")
        forward = "\n".join(hint(hints.Listener(URL, CA, "regular")))
        assert f"curl -x {URL} -X POST 'http://{CONTROL_HOST}/clock/advance" in forward
        assert "Authorization: Bearer t0k" in forward
        reverse = "\n".join(hint(hints.Listener(URL, CA, REVERSE)))
        assert "/clock/advance" not in reverse and "t0k" not in reverse


def test_a_mode_that_also_listens_on_udp_is_said_once() -> None:
    """reverse:https:// takes HTTP/3 as well: mitmproxy binds UDP on the same address."""
    found = listening_modes([server(REVERSE, ("127.0.0.1", 18204), ("127.0.0.1", 18204))])
    assert found == [(REVERSE, [("127.0.0.1", 18204)])]


def test_each_mode_is_one_line_with_its_tcp_addresses() -> None:
    servers = [
        server("regular", ("0.0.0.0", 8080), ("::", 8080, 0, 0)),
        server("reverse:udp://127.0.0.1:53@5353", ("127.0.0.1", 5353)),  # no HTTP URL to give
    ]
    assert listening_modes(servers) == [("regular", [("0.0.0.0", 8080), ("::", 8080)])]
    proxyserver = SimpleNamespace(name="proxyserver", servers=servers)
    addon = Announce("simulate", hints.simulator_hint("simulate"))
    with taddons.context(addon, proxyserver) as tctx:
        tctx.options.confdir = "/conf"
        lines = addon.lines()
    assert lines[0] == (
        "chime-tap simulate: listening on http://0.0.0.0:8080 and http://[::]:8080 (mode regular)"
    )
    assert [line for line in lines if "listening on" in line][1:] == [
        "chime-tap simulate: warning: listening on 0.0.0.0:8080, [::]:8080, beyond loopback: "
        "anyone who can reach it may send calls through it and read what passes; use it on a "
        "trusted network only, with a password (--set proxyauth=USER:PASS)"
    ]
    assert "  export HTTPS_PROXY=http://0.0.0.0:8080" in lines


def test_record_in_reverse_mode_says_what_works_as_a_user_follows_it(tmp_path: Path) -> None:
    """The user's command: one listening line, the endpoint to use; following it, a boto3
    client with that endpoint_url and no proxy is answered and recorded."""
    cassette = tmp_path / "rev.yaml"
    argv = ["record", "--mode", REVERSE, "--upstream", "simulator", "--cassette", str(cassette)]
    with chime_tap(argv, confdir=tmp_path / "conf") as proxy:
        assert proxy.wait_for_output("--endpoint-url")
        banner = proxy.output
        client = voice_client(None, endpoint=proxy.url)
        listed = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert proxy.stop() == 0
    assert banner.count("listening on") == 1, banner
    assert f"listening on {proxy.url} (mode {REVERSE})" in banner
    assert f"--endpoint-url {proxy.url}" in banner
    assert [step for step in ("HTTPS_PROXY", "AWS_CA_BUNDLE", "curl") if step in banner] == []
    assert listed["ProxySessions"] == []
    assert len(load_cassette(cassette)["interactions"]) == 1


def test_forwarded_misses_are_said_to_go_where_the_mode_sends_them() -> None:
    hint = hints.forwarding_replay_hint("/tmp/new.yaml")
    regular = "\n".join(hint(hints.Listener(URL, CA, "regular")))
    assert "a call no cassette holds goes to the service, signed" in regular
    chained = "\n".join(hint(hints.Listener(URL, CA, "upstream:http://127.0.0.1:18090")))
    assert "goes to the upstream proxy http://127.0.0.1:18090, signed" in chained
    assert "goes to the service" not in chained
