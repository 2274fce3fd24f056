"""A call whose upstream cannot be reached, through real proxies and real clients over HTTPS.

`chime-tap record` (and `replay --on-miss forward`) connect upstream lazily: the client's CONNECT
succeeds, its call is a flow that fails, the cassette keeps it (status 0, its error) and the
client gets a 502 that names the upstream it could not reach. A user's explicit
``--set connection_strategy=eager`` still wins, with mitmproxy's behaviour: the CONNECT fails.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import botocore.exceptions
import pytest

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from support.procs import (
    CONNECTOR,
    assert_no_secrets,
    aws_cli,
    chime_tap,
    voice_client,
)


def dead_port() -> int:
    """A loopback port nothing listens on: connecting there is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bodies_of(client) -> list[bytes]:
    """Every raw response body the boto3 client receives, error or not."""
    seen: list[bytes] = []
    client.meta.events.register(
        "after-call", lambda http_response, **_: seen.append(http_response.content)
    )
    return seen


def test_record_keeps_the_failed_call_and_the_client_gets_a_502_naming_the_upstream(
    tmp_path: Path,
) -> None:
    port = dead_port()
    upstream = f"127.0.0.1:{port}"
    endpoint = f"https://{upstream}"
    cassette = tmp_path / "real.yaml"
    argv = ["record", "--cassette", str(cassette), "--hosts", f"{upstream}=voice"]
    with chime_tap(argv, confdir=tmp_path / "conf") as proxy:
        # boto3: the call is answered 502, and the answer names the address it could not reach.
        client = voice_client(proxy, endpoint=endpoint)
        bodies = bodies_of(client)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert f"Connect call failed (&#x27;127.0.0.1&#x27;, {port})" in bodies[0].decode()
        # The AWS CLI: a 502 from the service's address, not "Failed to connect to proxy URL".
        cli = aws_cli(
            proxy, tmp_path, "get-proxy-session", "--voice-connector-id", CONNECTOR,
            "--proxy-session-id", "s1", "--endpoint-url", endpoint,
        )  # fmt: skip
        assert cli.returncode != 0
        assert "An error occurred (502) when calling the GetProxySession operation" in cli.stderr
        assert "Failed to connect to proxy URL" not in cli.stderr
        assert proxy.stop(signal.SIGINT) == 0

    items = load_cassette(cassette)["interactions"]
    assert [(i[META_KEY]["operation"], i["response"]["status"]["code"]) for i in items] == [
        ("ListProxySessions", 0),
        ("GetProxySession", 0),
    ]
    for item, agent in zip(items, ("Boto3/", "aws-cli/"), strict=True):
        meta = item[META_KEY]
        assert meta["answered_by"] == "none"
        assert meta["error"] == f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
        assert item["request"]["uri"].startswith(f"{endpoint}/voice-connectors/{CONNECTOR}/")
        assert agent in item["request"]["headers"]["User-Agent"][0]
    # The proxy's line for each names the upstream too.
    failed = [line for line in proxy.lines if "-> failed (" in line]
    assert len(failed) == 2 and all(f"; upstream {upstream})" in line for line in failed)
    assert_no_secrets(tmp_path)


def test_an_explicit_eager_connection_strategy_still_wins(tmp_path: Path) -> None:
    upstream = f"127.0.0.1:{dead_port()}"
    cassette = tmp_path / "real.yaml"
    argv = ["record", "--cassette", str(cassette), "--hosts", f"{upstream}=voice"]
    argv += ["--set", "connection_strategy=eager"]
    with chime_tap(argv, confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy, endpoint=f"https://{upstream}")
        with pytest.raises(botocore.exceptions.ProxyConnectionError):  # mitmproxy's own way
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
        assert proxy.stop(signal.SIGINT) == 0
    assert load_cassette(cassette)["interactions"] == []


def test_replay_forward_records_a_miss_whose_upstream_cannot_be_reached(tmp_path: Path) -> None:
    port = dead_port()
    upstream = f"127.0.0.1:{port}"
    base, record_to = tmp_path / "base.yaml", tmp_path / "forwarded.yaml"
    base.write_text("version: 1\ninteractions: []\n")  # every call misses
    argv = ["replay", "--cassette", str(base), "--on-miss", "forward"]
    argv += ["--record-to", str(record_to), "--hosts", f"{upstream}=voice"]
    with chime_tap(argv, confdir=tmp_path / "conf") as proxy:
        client = voice_client(proxy, endpoint=f"https://{upstream}")
        for _ in range(2):  # a failed call is never served: the second one is forwarded again
            with pytest.raises(botocore.exceptions.ClientError) as e:
                client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="s1")
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert proxy.stop(signal.SIGINT) == 0
    items = load_cassette(record_to)["interactions"]
    assert [i["response"]["status"]["code"] for i in items] == [0, 0]
    assert all(i[META_KEY]["answered_by"] == "none" for i in items)
    assert items[0][META_KEY]["error"] == f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    lines = [line for line in proxy.lines if "GetProxySession" in line]
    assert len(lines) == 2
    assert lines[0].endswith(
        "miss, forwarded upstream, recorded with no response as forwarded.yaml #0"
    )
    assert (
        f"-> failed ([Errno 111] Connect call failed ('127.0.0.1', {port}); upstream {upstream})"
        in lines[1]
    )
    assert_no_secrets(tmp_path)
