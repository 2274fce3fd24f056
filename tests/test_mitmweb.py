"""The recorder in mitmweb, as its users load it: marks and comments show in mitmweb's own view."""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path

from mitmproxy.version import VERSION as MITMPROXY_VERSION

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from chime_tap.process import LISTEN_RE
from support.procs import CONNECTOR, ProxyProcess, voice_client
from support.upstream import ScriptedUpstream

ROOT = Path(__file__).resolve().parent.parent
WARNING_EMOJI = "\u26a0"  # mitmweb shows the recorder's ":warning:" mark as this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# mitmproxy 11.1 (Python 3.12+) guards mitmweb's API with a password; 11.0 has no such option.
VERSION = tuple(int(part) for part in MITMPROXY_VERSION.split(".")[:2])
WEB_PASSWORD = "chime-tap-web-test" if VERSION >= (11, 1) else None


def web_options(port: int) -> list[str]:
    options = ["--set", f"web_port={port}", "--set", "web_open_browser=false"]
    if WEB_PASSWORD:
        options += ["--set", f"web_password={WEB_PASSWORD}"]
    return options


def web_flows(port: int) -> list[dict]:
    query = f"?token={WEB_PASSWORD}" if WEB_PASSWORD else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/flows{query}", timeout=10) as answer:
        return json.load(answer)


def test_mitmweb_shows_the_operation_and_the_violations_of_each_call(tmp_path: Path) -> None:
    cassette = tmp_path / "web.yaml"
    web_port = free_port()
    with ScriptedUpstream() as upstream:
        argv = [
            str(Path(sys.executable).with_name("mitmweb")),
            "--set", "listen_host=127.0.0.1", "--set", "listen_port=0",
            *web_options(web_port),
            "--set", f"confdir={tmp_path / 'conf'}",
            "-s", str(ROOT / "addons" / "record.py"),
            "--set", f"chime_cassette={cassette}", "--set", f"chime_hosts={upstream.host}",
        ]  # fmt: skip
        with ProxyProcess(argv, confdir=tmp_path / "conf", ready=LISTEN_RE) as proxy:
            client = voice_client(proxy, endpoint=upstream.url)
            made = client.create_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ParticipantPhoneNumbers=["+12065550100", "+14015550101"],
                Capabilities=["Voice"],
            )["ProxySession"]
            client.update_proxy_session(  # the local upstream takes it; the schema does not
                VoiceConnectorId=CONNECTOR,
                ProxySessionId=made["ProxySessionId"],
                Capabilities=["Fax"],
            )
            flows = web_flows(web_port)
            assert proxy.stop() == 0, proxy.output

    assert len(flows) == 2
    create, update = flows
    assert create["comment"] == "CreateProxySession" and create["marked"] == ""
    assert update["marked"] == WARNING_EMOJI
    assert update["comment"].startswith("UpdateProxySession\n")
    assert "request body /Capabilities/0" in update["comment"] and "Fax" in update["comment"]

    items = load_cassette(cassette)["interactions"]
    assert [i[META_KEY]["operation"] for i in items] == ["CreateProxySession", "UpdateProxySession"]
    assert items[0][META_KEY]["violations"] == []
    assert items[1][META_KEY]["violations"][0]["pointer"] == "/Capabilities/0"
