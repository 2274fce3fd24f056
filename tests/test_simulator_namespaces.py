"""The simulator keeps the legacy Amazon Chime API and the Amazon Chime SDK Voice API apart, and
each of its runs hands out ids of its own: real `chime-tap` processes on loopback, real boto3
clients over TLS on both namespaces.

The same five paths serve both namespaces; the host says which. A chime-sdk-voice client pointed
at the legacy host sends what the legacy `chime` client sent (the installed boto3 no longer has
the legacy proxy-session calls).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from chime_tap.demo_workload import control_via
from support.procs import CONNECTOR, ProxyProcess, chime_tap, voice_client

LEGACY_ENDPOINT = "https://service.chime.aws.amazon.com"
A, B = "+12065550100", "+14015550101"


def create(client, **extra) -> str:
    return client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"], **extra
    )["ProxySession"]["ProxySessionId"]


def listed(client, **query) -> list[str]:
    page = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, **query)
    return [s["ProxySessionId"] for s in page["ProxySessions"]]


def status_of(client, session_id: str) -> str:
    got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=session_id)
    return got["ProxySession"]["Status"]


def refused(call, **params) -> tuple[int, str]:
    """(HTTP status, error code) of a boto3 call the service must refuse."""
    with pytest.raises(ClientError) as e:
        call(**params)
    answer = e.value.response
    return answer["ResponseMetadata"]["HTTPStatusCode"], answer["Error"]["Code"]


def control(proxy: ProxyProcess, method: str, path: str) -> dict:
    """The simulator's control endpoint, with the token the proxy keeps for its own user."""
    return control_via(proxy.url)(method, path)


def test_a_session_lives_only_in_the_namespace_that_created_it(tmp_path: Path) -> None:
    with chime_tap(["simulate"], confdir=tmp_path / "confdir") as sim:
        voice = voice_client(sim)
        legacy = voice_client(sim, endpoint=LEGACY_ENDPOINT)
        v = create(voice, ExpiryMinutes=5)
        old = create(legacy, ExpiryMinutes=60)
        assert control(sim, "GET", "/clock")["Sessions"] == 2

        # List, Get, Update and Delete see only their own namespace's sessions.
        assert listed(voice) == [v] and listed(legacy) == [old]
        not_found = (404, "NotFoundException")
        for client, elsewhere in ((voice, old), (legacy, v)):
            ids = {"VoiceConnectorId": CONNECTOR, "ProxySessionId": elsewhere}
            assert refused(client.get_proxy_session, **ids) == not_found
            assert refused(client.update_proxy_session, **ids, Capabilities=["SMS"]) == not_found
            assert refused(client.delete_proxy_session, **ids) == not_found

        # A NextToken from one namespace's listing is no token of the other's.
        create(voice)
        token = voice.list_proxy_sessions(VoiceConnectorId=CONNECTOR, MaxResults=1)["NextToken"]
        assert token
        assert refused(legacy.list_proxy_sessions, VoiceConnectorId=CONNECTOR, NextToken=token) == (
            400,
            "BadRequestException",
        )

        # One clock for both: each namespace's sessions expire on it, each in its own namespace.
        control(sim, "POST", "/clock/advance?seconds=301")
        assert status_of(voice, v) == "Closed" and status_of(legacy, old) == "Open"
        assert listed(voice, Status="Closed") == [v] and listed(legacy, Status="Closed") == []

        # Deleting in one namespace leaves the other alone; a reset forgets both.
        voice.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=v)
        assert listed(legacy) == [old]
        assert control(sim, "POST", "/reset")["Sessions"] == 0
        assert listed(voice) == [] and listed(legacy) == []


def record_run(tmp_path: Path, cassette: Path, *seed: str) -> None:
    """One `chime-tap record --upstream simulator` run appending to ``cassette``: a session in
    each namespace."""
    args = ["record", "--upstream", "simulator", "--cassette", str(cassette), *seed]
    with chime_tap(args, confdir=tmp_path / "confdir") as proxy:
        create(voice_client(proxy))
        create(voice_client(proxy, endpoint=LEGACY_ENDPOINT))
        assert proxy.stop(signal.SIGTERM) == 0


def created_in(cassette: Path) -> list[tuple[str, str]]:
    """(namespace, session id) of each recorded CreateProxySession answer, in order."""
    return [
        (
            item[META_KEY]["namespace"],
            json.loads(item["response"]["body"]["string"])["ProxySession"]["ProxySessionId"],
        )
        for item in load_cassette(cassette)["interactions"]
        if item[META_KEY]["operation"] == "CreateProxySession"
    ]


def test_appended_runs_without_a_seed_never_share_a_session_id(tmp_path: Path) -> None:
    cassette = tmp_path / "runs.yaml"
    for _ in range(2):
        record_run(tmp_path, cassette)
    made = created_in(cassette)
    assert [ns for ns, _ in made] == ["voice", "legacy"] * 2
    assert len({sid for _, sid in made}) == 4


def test_appended_runs_with_the_same_seed_repeat_their_ids(tmp_path: Path) -> None:
    cassette = tmp_path / "runs.yaml"
    for _ in range(2):
        record_run(tmp_path, cassette, "--seed", "7")
    made = created_in(cassette)
    assert len(made) == 4 and made[:2] == made[2:] and made[0][1] != made[1][1]
