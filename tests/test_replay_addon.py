"""The replay addon the mitmproxy way: ReplayServer in taddons.context, driven with tflow flows.

Everything the addon decides is checked here, through its options, hooks and the flows it
answers; tests/test_replay_proxy.py keeps the end-to-end runs (real boto3, the AWS CLI, `chime-tap
replay` and `mitmdump -s addons/replay.py`) that prove the wiring.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from mitmproxy import exceptions, flow, http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import taddons, tflow

from chime_tap.addons.replay import ReplayServer
from chime_tap.cassettes.format import YAML_HEADER
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.playback import build_lasting_index

VOICE_HOST = "voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
SESSIONS = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
UPSTREAM = "127.0.0.1:9000"  # a loopback "service" named with chime_hosts, as the tests record
SECRET = "AKIACHIMETAPREPLAY01"  # signs the test requests; must never reach a cassette


def session(sid: str, **fields: Any) -> dict[str, Any]:
    return {"ProxySessionId": sid, "VoiceConnectorId": CONNECTOR, "Status": "Open", **fields}


def interaction(
    method: str,
    path: str,
    status: int,
    doc: Any = None,
    *,
    request: Any = None,
    base: str = f"https://{VOICE_HOST}",
    headers: dict[str, list[str]] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One vcrpy interaction as the recorder writes it; ``error``: a call that got no response."""
    item: dict[str, Any] = {
        "request": {
            "method": method,
            "uri": base + path,
            "body": None if request is None else json.dumps(request),
            "headers": {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"Content-Type": ["application/json"], **(headers or {})},
            "body": {"string": "" if doc is None else json.dumps(doc)},
        },
    }
    if error is not None:
        item["response"]["headers"] = {}
        item["chime_tap"] = {"answered_by": "none", "error": error}
    return item


def write_cassette(path: Path, items: Sequence[dict[str, Any]]) -> Path:
    doc = {"version": 1, "interactions": list(items)}
    path.write_text(json.dumps(doc) if path.suffix == ".json" else yaml.safe_dump(doc))
    return path


def lifecycle(path: Path) -> Path:
    """Get, update, get, delete, get of one session: the third Get got the service's 404."""
    s1 = f"{SESSIONS}/s1"
    return write_cassette(
        path,
        [
            interaction("GET", s1, 200, {"ProxySession": session("s1", ExpiryMinutes=60)}),
            interaction(
                "POST",
                s1,
                201,
                {"ProxySession": session("s1", ExpiryMinutes=30)},
                request={"Capabilities": ["Voice"], "ExpiryMinutes": 30},
            ),
            interaction("GET", s1, 200, {"ProxySession": session("s1", ExpiryMinutes=30)}),
            interaction("DELETE", s1, 204),
            interaction(
                "GET",
                s1,
                404,
                {"Code": "NotFound", "Message": "no such session"},
                headers={"x-amzn-ErrorType": ["NotFoundException"]},
            ),
        ],
    )


_call_numbers = itertools.count(1)


def make_flow(
    method: str, path: str, body: Any = None, *, host: str = VOICE_HOST, port: int = 443
) -> http.HTTPFlow:
    """A request as a signing client sends it: each call signed anew, at a new date."""
    n = next(_call_numbers)
    f = tflow.tflow()
    req = f.request
    req.method, req.host, req.port, req.path = method, host, port, path
    req.scheme = "https" if port == 443 else "http"
    req.headers.clear()
    req.headers["Host"] = host if port == 443 else f"{host}:{port}"
    req.headers["X-Amz-Date"] = f"20260101T0000{n % 60:02d}Z"
    req.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={SECRET}/20260101/us-east-1/chime/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={n:064x}"
    )
    req.content = b"" if body is None else json.dumps(body).encode()
    return f


def replay(addon: ReplayServer, method: str, path: str, body: Any = None, **kw: Any):
    """One request through the request hook; the flow, answered or not."""
    f = make_flow(method, path, body, **kw)
    addon.request(f)
    return f


def doc_of(f: http.HTTPFlow) -> Any:
    assert f.response is not None
    return json.loads(f.response.content) if f.response.content else None


@pytest.fixture
def replayer():
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        addon.running()  # a proxy that runs: what loading a cassette finds is said at once
        yield addon, tctx
    addon.done()


# --- options -----------------------------------------------------------------------------------


def test_options_are_registered_with_type_default_and_help() -> None:
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        expected = {
            "chime_replay_cassettes": [],
            "chime_replay_on_miss": "error",
            "chime_replay_exhausted": "fail",  # a recording that does not cover the run says so
            "chime_replay_record_to": "",
            "chime_hosts": [],
        }
        for name, default in expected.items():
            assert getattr(tctx.options, name) == default, name
            assert tctx.options._options[name].help, name


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "chime_replay_on_miss",
            "sometimes",
            r"chime_replay_on_miss: 'sometimes' .*error.*forward",
        ),
        ("chime_replay_exhausted", "never", r"chime_replay_exhausted: 'never' .*repeat.*fail"),
        ("chime_hosts", ["h:99999"], r"chime_hosts: .*port"),
    ],
)
def test_a_bad_value_is_an_options_error_naming_the_option(option, value, message) -> None:
    addon = ReplayServer()
    with taddons.context(addon) as tctx, pytest.raises(exceptions.OptionsError, match=message):
        tctx.configure(addon, **{option: value})


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.yaml", None, "no such file"),
        ("broken.yaml", "version: 1\ninteractions: [\n", "not valid YAML"),
        ("notes.yaml", "hello: world\n", "not a vcrpy cassette"),
        ("broken.json", '{"version": 1, "interactions": [', "not valid JSON"),
    ],
)
def test_an_unusable_cassette_is_an_options_error_naming_the_option(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    addon = ReplayServer()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(
            exceptions.OptionsError, match=rf"chime_replay_cassettes: .*{name}.*{message}"
        ),
    ):
        tctx.configure(addon, chime_replay_cassettes=[str(path)])


def test_a_cassette_named_from_home_with_a_tilde_is_read(tmp_path: Path, monkeypatch) -> None:
    """`mitmdump --set chime_replay_cassettes=~/a.yaml`: ~ is the home directory, as for every
    path the chime-tap commands take."""
    monkeypatch.setenv("HOME", str(tmp_path))
    lifecycle(tmp_path / "a.yaml")
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=["~/a.yaml"])
        assert addon.cassettes == [str(tmp_path / "a.yaml")] and len(addon.index) == 5
        assert doc_of(replay(addon, "GET", f"{SESSIONS}/s1"))["ProxySession"]["ExpiryMinutes"] == 60
    addon.done()


def test_an_index_built_before_start_is_used_once_and_only_for_the_same_options(
    tmp_path: Path,
) -> None:
    """chime-tap replay builds the index before mitmproxy starts; the addon takes that index for
    the cassettes it was built from, once, and builds its own for anything else."""
    first, second = lifecycle(tmp_path / "a.yaml"), lifecycle(tmp_path / "b.yaml")
    prebuilt = build_lasting_index([str(first)], "fail")
    addon = ReplayServer(prebuilt=([str(first)], "fail", prebuilt))
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=[str(first)])
        assert addon.index is prebuilt and addon.loaded == len(prebuilt) > 0
        tctx.configure(addon, chime_replay_cassettes=[str(second)])
        assert addon.index is not prebuilt and addon.cassettes == [str(second)]
        tctx.configure(addon, chime_replay_cassettes=[str(first)])  # taken once: built afresh
        assert addon.index is not prebuilt and len(addon.index) == len(prebuilt)
    addon.done()
    other = ReplayServer(prebuilt=([str(first)], "fail", prebuilt))
    with taddons.context(other) as tctx:  # another --exhausted than it was built for
        tctx.configure(other, chime_replay_cassettes=[str(first)], chime_replay_exhausted="repeat")
        assert other.index is not prebuilt
    other.done()


# --- hits ------------------------------------------------------------------------------------------


def test_identical_calls_replay_in_recorded_order_then_the_last_answer_repeats(
    replayer, tmp_path: Path
) -> None:
    addon, tctx = replayer
    cassette = lifecycle(tmp_path / "lifecycle.yaml")
    tctx.configure(addon, chime_replay_cassettes=[str(cassette)], chime_replay_exhausted="repeat")
    gets = [replay(addon, "GET", f"{SESSIONS}/s1") for _ in range(4)]
    # Signatures and dates differ on every call: they are never matched on.
    assert [f.response.status_code for f in gets] == [200, 200, 404, 404]
    assert [doc_of(f)["ProxySession"]["ExpiryMinutes"] for f in gets[:2]] == [60, 30]
    assert [f.comment for f in gets] == [
        "replayed lifecycle.yaml #0",
        "replayed lifecycle.yaml #2",
        "replayed lifecycle.yaml #4",
        "replayed lifecycle.yaml #4 (repeated)",  # every answer played: the last one repeats
    ]
    third, fourth = gets[2:]
    # The service's own 404, replayed as it was, both times: not chime-tap's error.
    for f in (third, fourth):
        assert f.response.headers["x-amzn-ErrorType"] == "NotFoundException"
        assert f.response.headers["x-chime-tap-replay"] == "hit"
        assert not f.marked
    assert fourth.response.content == third.response.content
    assert (addon.hits, addon.misses) == (4, 0)


def test_a_hit_carries_the_recorded_answer_with_its_own_framing(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    body = {"ProxySession": session("s1")}
    cassette = write_cassette(
        tmp_path / "framed.yaml",
        [
            interaction(
                "GET", f"{SESSIONS}/s1", 200, body,
                headers={
                    "x-amzn-RequestId": ["req-1"],
                    "Content-Length": ["99999"],  # the transport's, not the answer's
                    "Transfer-Encoding": ["chunked"],
                    "Connection": ["close"],
                },
            )
        ],
    )  # fmt: skip
    tctx.configure(addon, chime_replay_cassettes=[str(cassette)])
    f = replay(addon, "GET", f"{SESSIONS}/s1")
    assert doc_of(f) == body
    headers = f.response.headers
    assert headers["x-amzn-RequestId"] == "req-1"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(f.response.content))
    assert "Transfer-Encoding" not in headers and "Connection" not in headers


def test_a_json_cassette_answers_each_call_with_its_own_recorded_answer(
    replayer, tmp_path: Path
) -> None:
    addon, tctx = replayer
    cassette = write_cassette(
        tmp_path / "sessions.json",
        [
            interaction("GET", f"{SESSIONS}/s{i}", 200, {"ProxySession": session(f"s{i}")})
            for i in range(3)
        ],
    )
    tctx.configure(addon, chime_replay_cassettes=[str(cassette)])
    got = [replay(addon, "GET", f"{SESSIONS}/s{i}") for i in (2, 0, 1)]
    assert [doc_of(f)["ProxySession"]["ProxySessionId"] for f in got] == ["s2", "s0", "s1"]
    assert [f.comment for f in got] == [f"replayed sessions.json #{i}" for i in (2, 0, 1)]


def test_several_cassettes_play_in_the_order_given(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    first, second = (
        write_cassette(
            tmp_path / name,
            [interaction("GET", f"{SESSIONS}/s1", 200, {"ProxySession": session("s1", Name=name)})],
        )
        for name in ("first.yaml", "second.json")
    )
    tctx.configure(
        addon, chime_replay_cassettes=[str(first), str(second)], chime_replay_exhausted="repeat"
    )
    got = [replay(addon, "GET", f"{SESSIONS}/s1") for _ in range(3)]
    assert [doc_of(f)["ProxySession"]["Name"] for f in got] == [
        "first.yaml",
        "second.json",
        "second.json",
    ]


def test_rewind_plays_every_answer_again_from_the_first(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    tctx.configure(addon, chime_replay_cassettes=[str(lifecycle(tmp_path / "lifecycle.yaml"))])
    assert [replay(addon, "GET", f"{SESSIONS}/s1").comment for _ in range(2)] == [
        "replayed lifecycle.yaml #0",
        "replayed lifecycle.yaml #2",
    ]
    tctx.command(addon.rewind)
    assert replay(addon, "GET", f"{SESSIONS}/s1").comment == "replayed lifecycle.yaml #0"


def test_by_default_a_call_repeated_more_often_than_recorded_answers_599(
    replayer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The default is exhausted=fail: the recording does not cover the run, and the client hears it."""
    addon, tctx = replayer
    cassette = lifecycle(tmp_path / "lifecycle.yaml")
    tctx.configure(addon, chime_replay_cassettes=[str(cassette)])  # no chime_replay_exhausted
    caplog.set_level(logging.INFO)
    gets = [replay(addon, "GET", f"{SESSIONS}/s1") for _ in range(4)]
    # Three Gets recorded (#0, #2, #4): each played once, in recorded order; the fourth is more
    # than the recording holds.
    assert [f.response.status_code for f in gets] == [200, 200, 404, 599]
    assert [f.comment for f in gets[:3]] == [
        "replayed lifecycle.yaml #0",
        "replayed lifecycle.yaml #2",
        "replayed lifecycle.yaml #4",
    ]
    fourth = gets[3]
    assert fourth.response.headers["x-chime-tap-replay"] == "exhausted"
    assert fourth.response.headers["x-amzn-ErrorType"] == "ChimeTapReplayExhausted"
    error = doc_of(fourth)
    assert error["Code"] == "ChimeTapReplayExhausted"
    # It names the call (method, URL, operation) and how to let it repeat.
    url = f"https://{VOICE_HOST}{SESSIONS}/s1"
    assert error["message"] == (
        f"chime-tap replay: all 3 recorded answer(s) to GET {url} (GetProxySession) were already "
        "played (exhausted=fail); to repeat the last one instead, use --exhausted repeat "
        "(option chime_replay_exhausted=repeat)"
    )
    assert error["message"] in caplog.text
    assert (addon.hits, addon.misses) == (3, 1)
    # One option away: the same run with repeat answers the last recorded answer again.
    tctx.configure(addon, chime_replay_exhausted="repeat")
    again = [replay(addon, "GET", f"{SESSIONS}/s1") for _ in range(4)]
    assert [f.comment for f in again] == [
        "replayed lifecycle.yaml #0",
        "replayed lifecycle.yaml #2",
        "replayed lifecycle.yaml #4",
        "replayed lifecycle.yaml #4 (repeated)",
    ]


# --- misses ------------------------------------------------------------------------------------------


def test_a_miss_is_599_naming_the_closest_recorded_call(
    replayer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon, tctx = replayer
    cassette = lifecycle(tmp_path / "lifecycle.yaml")
    tctx.configure(addon, chime_replay_cassettes=[str(cassette)])
    caplog.set_level(logging.INFO)
    f = replay(addon, "GET", f"{SESSIONS}/never-recorded-session")
    assert f.response.status_code == 599  # no service answers 599
    assert f.response.headers["x-chime-tap-replay"] == "miss"
    assert f.response.headers["x-amzn-ErrorType"] == "ChimeTapReplayMiss"
    assert f.marked
    error = doc_of(f)
    assert error["Code"] == "ChimeTapReplayMiss"
    message = error["message"]
    assert "no recorded interaction matches GET" in message
    assert "never-recorded-session" in message and "(GetProxySession)" in message
    assert f"closest is {cassette.name} #0 (GET https://{VOICE_HOST}{SESSIONS}/s1)" in message
    assert "chime_path" in message
    assert error["closest"]["interaction"] == f"{cassette.name} #0"
    assert message in caplog.text  # logged too
    assert (addon.hits, addon.misses) == (0, 1)


def test_a_changed_body_misses_naming_the_json_pointer(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    tctx.configure(addon, chime_replay_cassettes=[str(lifecycle(tmp_path / "lifecycle.yaml"))])
    f = replay(addon, "POST", f"{SESSIONS}/s1", {"Capabilities": ["SMS"], "ExpiryMinutes": 30})
    assert f.response.status_code == 599
    assert f.response.headers["x-chime-tap-replay"] == "miss"
    error = doc_of(f)
    assert error["Code"] == "ChimeTapReplayMiss"
    assert (
        'body differs at /Capabilities/0: this request "SMS", recorded "Voice"'
        in (error["message"])
    )
    assert "(UpdateProxySession)" in error["message"]


def test_a_failed_call_is_never_replayed_the_retry_that_followed_it_is(
    replayer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon, tctx = replayer
    s1, s2 = f"{SESSIONS}/s1", f"{SESSIONS}/s2"
    cassette = write_cassette(
        tmp_path / "retried.yaml",
        [  # s1 failed, then its retry was answered; s2 only ever failed
            interaction("GET", s1, 0, error="Connection refused"),
            interaction("GET", s1, 200, {"ProxySession": session("s1")}),
            interaction("GET", s2, 0, error="Connection refused"),
        ],
    )
    caplog.set_level(logging.INFO)
    tctx.configure(addon, chime_replay_cassettes=[str(cassette)], chime_replay_exhausted="repeat")
    assert "1 recorded interaction(s) from 1 cassette(s) (2 more recorded with no response" in (
        caplog.text
    )
    answers = [replay(addon, "GET", s1) for _ in range(2)]  # the answered call, then again
    for f in answers:
        assert f.response.status_code == 200
        assert f.response.headers["x-chime-tap-replay"] == "hit"
        assert doc_of(f)["ProxySession"]["ProxySessionId"] == "s1"
    assert [f.comment for f in answers] == [
        "replayed retried.yaml #1",
        "replayed retried.yaml #1 (repeated)",
    ]
    missed = replay(addon, "GET", s2)
    assert missed.response.status_code == 599
    message = doc_of(missed)["message"]
    assert "closest is retried.yaml #1 (GET " in message  # the answered call, not #2
    assert (
        "retried.yaml #2 recorded this very call, but it got no response (Connection refused)"
        in message
    )


def closest_rule_cassette(path: Path) -> Path:
    """A List, a Get, an Update, a Delete of another session, and a Get that got no response."""
    return write_cassette(
        path,
        [
            interaction("GET", SESSIONS, 200, {"ProxySessions": [session("s1")]}),  # #0 List
            interaction("GET", f"{SESSIONS}/s1", 200, {"ProxySession": session("s1")}),  # #1 Get
            interaction(  # #2 Update
                "POST",
                f"{SESSIONS}/s1",
                201,
                {"ProxySession": session("s1", ExpiryMinutes=30)},
                request={"Capabilities": ["Voice"], "ExpiryMinutes": 30},
            ),
            interaction("DELETE", f"{SESSIONS}/s2", 204),  # #3 Delete
            interaction("GET", f"{SESSIONS}/s3", 0, error="Connection refused"),  # #4 failed
        ],
    )


# (what the test calls, the boto3 call, the proxy request, the interaction both must name)
CLOSEST_CASES = [
    (
        "a Get of a session recorded only as a failed call: the Get, not the List before it",
        ("get_proxy_session", {"ProxySessionId": "s3"}),
        ("GET", f"{SESSIONS}/s3", None),
        "#1",
    ),
    (
        "a Get of a session recorded only as deleted: the Get, not the Delete on its path",
        ("get_proxy_session", {"ProxySessionId": "s2"}),
        ("GET", f"{SESSIONS}/s2", None),
        "#1",
    ),
    (
        "an Update with a changed body: the Update",
        ("update_proxy_session", {"ProxySessionId": "s1", "Capabilities": ["SMS"], "ExpiryMinutes": 30}),
        ("POST", f"{SESSIONS}/s1", {"Capabilities": ["SMS"], "ExpiryMinutes": 30}),
        "#2",
    ),
    (
        "a Get on another connector: the Get",
        ("get_proxy_session", {"ProxySessionId": "s1", "VoiceConnectorId": "zyxwvu9tsrq8ponml7kji6"}),
        ("GET", "/voice-connectors/zyxwvu9tsrq8ponml7kji6/proxy-sessions/s1", None),
        "#1",
    ),
]  # fmt: skip


def test_the_proxy_and_the_pytest_plugin_name_the_same_closest_call(
    replayer, tmp_path: Path
) -> None:
    """One closest-match rule: the same operation first, then fewest failing matchers, same path, earliest."""
    import botocore.exceptions

    from chime_tap.vcr_config import make_vcr
    from support.procs import voice_client

    addon, tctx = replayer
    cassette = closest_rule_cassette(tmp_path / "closest.yaml")
    tctx.configure(addon, chime_replay_cassettes=[str(cassette)])
    client = voice_client(None)  # the plugin's path: vcrpy in this process, boto3 with no proxy
    for why, (call, params), (method, path, body), expected in CLOSEST_CASES:
        f = replay(addon, method, path, body)
        assert f.response.status_code == 599, why
        proxy_named = doc_of(f)["closest"]["interaction"]

        with (
            make_vcr().use_cassette(str(cassette)) as cas,
            pytest.raises(botocore.exceptions.HTTPClientError),
        ):
            getattr(client, call)(**{"VoiceConnectorId": CONNECTOR, **params})
        (miss,) = cas.misses
        plugin_named = cas.label(miss.closest[0].number)
        # vcrpy's own message lists the same request first.
        listed = cas.find_requests_with_most_matches(miss.request)[0][0]
        assert listed is cas.data[miss.closest[0].number][0], why

        assert proxy_named == plugin_named == f"closest.yaml {expected}", why
        assert f"closest is closest.yaml {expected} (" in doc_of(f)["message"], why


def test_a_miss_on_an_empty_cassette_says_so(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    tctx.configure(addon, chime_replay_cassettes=[str(write_cassette(tmp_path / "e.yaml", []))])
    f = replay(addon, "GET", f"{SESSIONS}/s1")
    assert f.response.status_code == 599
    assert "the cassettes are empty" in doc_of(f)["message"]


# --- what the addon leaves alone ------------------------------------------------------------------


def test_answered_failed_or_replayed_flows_are_left_alone(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    tctx.configure(addon, chime_replay_cassettes=[str(lifecycle(tmp_path / "lifecycle.yaml"))])
    answered = make_flow("GET", f"{SESSIONS}/s1")
    answered.response = http.Response.make(204)
    failed = make_flow("GET", f"{SESSIONS}/s1")
    failed.error = tflow.terr()
    not_live = make_flow("GET", f"{SESSIONS}/s1")
    not_live.live = False  # e.g. a flow loaded from a file
    for f in (answered, failed, not_live):
        addon.request(f)
    assert answered.response.status_code == 204
    assert failed.response is None and not_live.response is None
    assert (addon.hits, addon.misses) == (0, 0)


# --- offline unless misses are forwarded -------------------------------------------------------


def server_connect(addon: ReplayServer) -> ServerConnectionHookData:
    data = ServerConnectionHookData(server=tflow.tserver_conn(), client=tflow.tclient_conn())
    addon.server_connect(data)
    return data


def test_on_miss_error_keeps_the_proxy_offline(tmp_path: Path) -> None:
    addon = ReplayServer()
    # With mitmproxy's proxy server, whose defaults would connect upstream: to sniff
    # certificates (upstream_cert) and as soon as a client connects (connection_strategy).
    with taddons.context(Proxyserver(), addon) as tctx:
        assert (tctx.options.upstream_cert, tctx.options.connection_strategy) == (True, "eager")
        tctx.configure(addon, chime_replay_cassettes=[str(lifecycle(tmp_path / "l.yaml"))])
        addon.running()
        assert (tctx.options.upstream_cert, tctx.options.connection_strategy) == (False, "lazy")
        tctx.configure(addon, upstream_cert=True, connection_strategy="eager")
        # Set back: nothing may go upstream.
        assert (tctx.options.upstream_cert, tctx.options.connection_strategy) == (False, "lazy")
        data = server_connect(addon)  # the last line of defence
        assert "upstream connections are disabled" in data.server.error
        assert addon.refused == 1


def test_on_miss_forward_records_upstreams_answer_then_replays_it(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    base = write_cassette(
        tmp_path / "base.yaml",
        [interaction("GET", f"{SESSIONS}/s1", 200, {"ProxySession": session("s1")})],
    )
    before = base.read_bytes()
    record_to = tmp_path / "new.json"
    forwarding(tctx, addon, base, chime_replay_record_to=str(record_to))
    fresh = to_upstream(addon, "GET", f"{SESSIONS}/fresh")
    assert fresh.response is None  # a miss goes upstream...
    data = server_connect(addon)
    assert data.server.error is None and addon.refused == 0  # ...which may be connected to
    fresh.response = http.Response.make(
        200,
        json.dumps({"ProxySession": session("fresh")}).encode(),
        {"Content-Type": "application/json"},
    )
    addon.response(fresh)
    assert not fresh.marked  # a valid answer: nothing for mitmweb to flag

    again = to_upstream(addon, "GET", f"{SESSIONS}/fresh")
    assert again.response is not None  # answered from what the first call recorded
    assert again.comment == "replayed new.json #0"
    assert doc_of(again)["ProxySession"]["ProxySessionId"] == "fresh"
    addon.done()  # closes the cassette it recorded to

    recorded = json.loads(record_to.read_text())["interactions"]
    assert len(recorded) == 1
    assert recorded[0]["request"]["uri"] == f"http://{UPSTREAM}{SESSIONS}/fresh"
    assert recorded[0]["response"]["status"]["code"] == 200
    assert SECRET not in record_to.read_text()  # the signature was scrubbed
    assert base.read_bytes() == before


def test_a_forwarded_answer_cut_at_the_body_size_limit_is_recorded_as_the_recorder_does(
    replayer, tmp_path: Path
) -> None:
    """The answer began (200) but its body ran past body_size_limit: a failed call, status 0
    with the limit named, as `record` keeps it, never a 200 with a cut body; nor replayed."""
    addon, tctx = replayer
    base = write_cassette(tmp_path / "base.yaml", [])
    record_to = tmp_path / "new.json"
    forwarding(tctx, addon, base, chime_replay_record_to=str(record_to))
    cut = to_upstream(addon, "GET", f"{SESSIONS}/big")
    cut.response = http.Response.make(200, b"", {"Content-Type": "application/json"})
    cut.error = flow.Error("Response body exceeds mitmproxy's body_size_limit.")
    with taddons.context() as limits:  # the proxy server's option, as a running proxy has it
        limits.options.add_option("body_size_limit", str | None, "32m", "")
        addon.error(cut)
    assert addon.forward_failed == 1
    addon.done()
    (item,) = json.loads(record_to.read_text())["interactions"]
    assert item["response"]["status"]["code"] == 0
    assert item["chime_tap"]["answered_by"] == "none"
    assert item["chime_tap"]["error"] == (
        "Response body exceeds mitmproxy's body_size_limit (32m); the server had answered 200"
    )
    again = to_upstream(addon, "GET", f"{SESSIONS}/big")
    assert again.response is None or again.response.status_code == 599  # never served


def test_on_miss_forward_records_only_proxy_session_calls(replayer, tmp_path: Path) -> None:
    addon, tctx = replayer
    base = write_cassette(tmp_path / "base.yaml", [])
    before = base.read_bytes()
    forwarding(tctx, addon, base)
    other = to_upstream(addon, "GET", "/health")
    assert other.response is None  # forwarded...
    other.response = http.Response.make(200, b"ok")
    addon.response(other)
    addon.done()
    # Nothing recorded. The cassette was opened for recording at start, as `record` opens its
    # own (and locked: see test_forwarding_replay_refuses_a_cassette_another_recorder_holds),
    # so it is now in the writer's append layout, with the same (no) interactions.
    assert load_cassette(base) == yaml.safe_load(before)
    assert base.read_bytes().startswith(YAML_HEADER)


# --- forwarded calls the cassette cannot take (issue 15, items 8 and 9) --------------------------


def test_forwarding_replay_refuses_a_cassette_another_recorder_holds(tmp_path: Path) -> None:
    """It would forward every miss and record none of them: it does not start, as `record` does."""
    base = write_cassette(tmp_path / "base.yaml", [])
    with CassetteWriter(tmp_path / "held.yaml"):  # another recorder, writing there
        for record_to in (str(tmp_path / "held.yaml"), ""):
            held = tmp_path / "held.yaml"
            cassettes = [str(base)] if record_to else [str(held)]
            addon = ReplayServer()
            with (
                taddons.context(addon) as tctx,
                pytest.raises(
                    exceptions.OptionsError,
                    match=r"another chime-tap recorder is writing this cassette",
                ) as refused,
            ):
                tctx.configure(
                    addon,
                    chime_replay_cassettes=cassettes,
                    chime_replay_on_miss="forward",
                    chime_replay_record_to=record_to,
                )
            option = "chime_replay_record_to" if record_to else "chime_replay_cassettes"
            assert str(refused.value).startswith(f"{option}: ")
    # and while a forwarding replay holds it, a recorder is refused in turn
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=[str(base)], chime_replay_on_miss="forward")
        with pytest.raises(Exception, match="another chime-tap recorder"):
            CassetteWriter(base)
    addon.done()


def to_upstream(addon: ReplayServer, method: str, path: str) -> http.HTTPFlow:
    """A request to the loopback "service" named by chime_hosts, through the addon."""
    host, port = UPSTREAM.split(":")
    return replay(addon, method, path, host=host, port=int(port))


def forwarding(tctx, addon: ReplayServer, base: Path, **options) -> None:
    """The addon replaying ``base`` and forwarding its misses to the loopback "service"."""
    tctx.configure(
        addon,
        chime_replay_cassettes=[str(base)],
        chime_replay_on_miss="forward",
        chime_hosts=[f"{UPSTREAM}=voice"],
        **options,
    )


def _forward(addon: ReplayServer, path: str) -> http.HTTPFlow:
    f = to_upstream(addon, "GET", path)
    assert f.response is None  # a miss goes upstream
    f.response = http.Response.make(
        200,
        json.dumps({"ProxySession": session("s")}).encode(),
        {"Content-Type": "application/json"},
    )
    addon.response(f)
    return f


@pytest.mark.parametrize("strict", [False, True])
def test_a_forwarded_call_that_cannot_be_recorded_is_counted_or_withheld(
    replayer, tmp_path: Path, strict: bool
) -> None:
    addon, tctx = replayer
    base = write_cassette(tmp_path / "base.yaml", [])
    tctx.configure(
        addon,
        chime_replay_cassettes=[str(base)],
        chime_replay_on_miss="forward",
        chime_replay_record_to=str(tmp_path / "new.yaml"),
        chime_hosts=[f"{UPSTREAM}=voice"],
        chime_strict_recording=strict,
    )
    recorded = _forward(addon, f"{SESSIONS}/one")
    assert recorded.response.status_code == 200
    addon.writer.close()  # from here on, nothing can be written (as on a full disk)
    lost = _forward(addon, f"{SESSIONS}/two")
    summary = addon.summary()
    if strict:
        assert lost.response.status_code == 507
        assert lost.response.headers["x-chime-tap-record"] == "not-recorded"
        assert "not recorded" in json.loads(lost.response.content)["Message"]
        assert "1 not recorded and answered 507 instead (strict recording)" in summary
    else:
        assert lost.response.status_code == 200  # the client got the service's answer...
        assert "1 answered but not recorded (could not be written)" in summary  # ...said here
    assert "2 miss(es) (2 forwarded upstream, " in summary
    assert len(load_cassette(tmp_path / "new.yaml")["interactions"]) == 1


def test_a_request_is_matched_as_the_recorder_kept_it(replayer, tmp_path: Path) -> None:
    """A body whose coding is no HTTP content coding (rot13) was recorded as it came: it is
    matched as it comes (mitmproxy's decoder raised a TypeError on it), and a gzip body decoded."""
    import gzip

    addon, tctx = replayer
    raw = b'{"Pncnovyvgvrf": ["Ibvpr"]}'
    item = interaction("POST", f"{SESSIONS}/s1", 201, {"ProxySession": session("s1")})
    item["request"]["body"] = raw.decode()
    item["request"]["headers"] = {"Content-Encoding": ["rot13"]}
    plain = interaction(
        "POST", f"{SESSIONS}/s2", 201, {"ProxySession": session("s2")}, request={"A": 1}
    )
    tctx.configure(
        addon, chime_replay_cassettes=[str(write_cassette(tmp_path / "c.yaml", [item, plain]))]
    )
    f = make_flow("POST", f"{SESSIONS}/s1")
    f.request.headers["Content-Encoding"] = "rot13"
    f.request.raw_content = raw
    addon.request(f)
    assert f.comment == "replayed c.yaml #0"
    g = make_flow("POST", f"{SESSIONS}/s2")
    g.request.headers["Content-Encoding"] = "gzip"
    g.request.raw_content = gzip.compress(json.dumps({"A": 1}).encode())
    addon.request(g)
    assert g.comment == "replayed c.yaml #1"


def test_an_answer_with_huge_headers_is_served_without_them_said_once(
    replayer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 1 MB header took mitmproxy's HTTP/2 encoder a minute per answer, the loop stuck."""
    addon, tctx = replayer
    huge = interaction(
        "GET",
        f"{SESSIONS}/s1",
        200,
        {"ProxySession": session("s1")},
        headers={"X-Huge": ["h" * (1 << 20)], "x-amzn-RequestId": ["req-1"]},
    )
    plain = interaction("GET", f"{SESSIONS}/s2", 200, {"ProxySession": session("s2")})
    caplog.set_level("INFO")
    tctx.configure(
        addon, chime_replay_cassettes=[str(write_cassette(tmp_path / "c.yaml", [huge, plain]))]
    )
    said = [r.getMessage() for r in caplog.records if "KiB of headers" in r.getMessage()]
    fields = {"Content-Type": "application/json", "X-Huge": "h" * (1 << 20)}
    size = sum(map(len, [*fields, *fields.values(), "x-amzn-RequestId", "req-1"]))
    assert said == [
        f"replay: 1 recorded answer(s) carry more than 32 KiB of headers (c.yaml #0: {size:,} bytes); "
        "they are served without the header fields past that (no real answer has them, and "
        "HTTP/2 clients refuse them)"
    ]
    f = replay(addon, "GET", f"{SESSIONS}/s1")
    assert f.response.status_code == 200 and doc_of(f)["ProxySession"]["ProxySessionId"] == "s1"
    assert "X-Huge" not in f.response.headers
    assert f.response.headers["x-amzn-RequestId"] == "req-1"
    assert sum(len(k) + len(v) for k, v in f.response.headers.fields) <= 32 * 1024
    g = replay(addon, "GET", f"{SESSIONS}/s2")
    assert g.response.headers["Content-Type"] == "application/json"


def test_a_miss_never_repeats_the_credentials_of_a_presigned_url(
    replayer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The miss line quoted the request's URL whole: a presigned one put its access key and
    session token in the proxy's log (found by the bad-input corpus through replay)."""
    addon, tctx = replayer
    tctx.configure(addon, chime_replay_cassettes=[str(lifecycle(tmp_path / "c.yaml"))])
    caplog.set_level("INFO")
    token = "SessionTokenThatMustNotBeLogged0001"
    query = (
        f"?X-Amz-Credential={SECRET}%2F20200415%2Fus-east-1%2Fchime&X-Amz-Security-Token={token}"
    )
    missed = replay(addon, "GET", f"{SESSIONS}{query}")
    assert missed.response.status_code == 599
    for text in (missed.response.content.decode(), caplog.text):
        assert SECRET not in text and token not in text
        assert "X-Amz-Security-Token=REDACTED" in text


def test_what_the_cassettes_hold_is_said_once_the_proxy_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy that cannot start (a bad option found after the cassettes loaded) says only
    why; one that runs says what it loaded, once, and a later reload at once."""
    cassette = write_cassette(
        tmp_path / "c.yaml",
        [interaction("GET", f"{SESSIONS}/s1", 200, {"ProxySession": session("s1")})],
    )
    caplog.set_level(logging.INFO)
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=[str(cassette)])
        assert "recorded interaction(s)" not in caplog.text
        addon.running()
        said = [
            r.getMessage() for r in caplog.records if "recorded interaction(s)" in r.getMessage()
        ]
        assert said == ["replay: 1 recorded interaction(s) from 1 cassette(s)"]
        tctx.configure(addon, chime_replay_cassettes=[str(cassette), str(cassette)])
        said = [
            r.getMessage() for r in caplog.records if "recorded interaction(s)" in r.getMessage()
        ]
        assert said[1:] == ["replay: 2 recorded interaction(s) from 2 cassette(s)"]
    addon.done()
