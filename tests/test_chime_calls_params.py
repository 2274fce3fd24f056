"""chime_calls refuses a parameter name its operation does not have, in every method that takes
parameter names (``of``, ``assert_called``), and accepts every name a real call carries.

The cassette is recorded here: boto3 calls each of the five operations once with every member
its request has (a local stub answers), through the project's vcrpy in record mode. What the
names should be comes from the botocore model in tests/data/botocore-model, not from the
catalogue the code reads.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_vcr_config import PHONES

from chime_tap.cassettes.reader import load_cassette
from chime_tap.played_calls import Calls, call_of
from chime_tap.vcr_config import make_vcr
from support.procs import CONNECTOR, voice_client

TESTS = Path(__file__).resolve().parent
MODEL = TESTS / "data" / "botocore-model" / "chime-sdk-voice-current.json"
SID = "e76ee937-5a4c-4b1e-9d2f-3c8b7a6e5d41"
OPERATIONS = [
    "CreateProxySession",
    "ListProxySessions",
    "GetProxySession",
    "UpdateProxySession",
    "DeleteProxySession",
]


def every_call(client) -> None:
    """Each of the five operations once, with every member of its request set."""
    client.create_proxy_session(
        VoiceConnectorId=CONNECTOR,
        ParticipantPhoneNumbers=PHONES,
        Name="every member",
        ExpiryMinutes=60,
        Capabilities=["Voice", "SMS"],
        NumberSelectionBehavior="PreferSticky",
        GeoMatchLevel="AreaCode",
        GeoMatchParams={"Country": "US", "AreaCode": "401"},
    )
    client.list_proxy_sessions(
        VoiceConnectorId=CONNECTOR, Status="Open", NextToken="token-1", MaxResults=10
    )
    client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=SID)
    client.update_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=SID, Capabilities=["Voice"], ExpiryMinutes=30
    )
    client.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=SID)


def model_members() -> dict[str, set[str]]:
    """Each operation's request members, as the botocore model names them."""
    model = json.loads(MODEL.read_text("utf-8"))
    shapes = model["shapes"]
    return {
        op: set(shapes[model["operations"][op]["input"]["shape"]]["members"]) for op in OPERATIONS
    }


class _Stub(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, str]:
    """The cassette of ``every_call`` and the endpoint it was recorded from."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    cassette = tmp_path_factory.mktemp("every") / "every.yaml"
    try:
        with make_vcr(record_mode="all").use_cassette(str(cassette)):
            every_call(voice_client(None, endpoint=endpoint))
    finally:
        server.shutdown()
        server.server_close()
    assert len(load_cassette(cassette)["interactions"]) == 5
    return cassette, endpoint


@pytest.fixture
def calls(recorded) -> Calls:
    """The recorded calls as chime_calls shows them (made as the plugin's cassette makes them)."""
    cassette, _ = recorded
    made = [
        call_of(i["request"]["method"], i["request"]["uri"], i["request"]["body"], 200)
        for i in load_cassette(cassette)["interactions"]
    ]
    assert [c.operation for c in made] == OPERATIONS
    return Calls(lambda: made, lambda: [])


# --- through the plugin: the walkthrough's typo, and every carried name -------------------------

PLUGIN_TEST = """
import json, os
import pytest
from support.procs import voice_client
from test_chime_calls_params import SID, every_call

def replay(chime_calls):
    every_call(voice_client(None, endpoint=os.environ["ENDPOINT"]))
    assert len(chime_calls) == 5

@pytest.mark.chime_cassette("every.yaml")
def test_typo_with_times_0(chime_calls):
    replay(chime_calls)
    chime_calls.assert_called("GetProxySession", times=1, ProxySessionId=SID)
    chime_calls.assert_called("GetProxySession", times=0, ProxySessionID=SID)

@pytest.mark.chime_cassette("every.yaml")
def test_typo_without_times(chime_calls):
    replay(chime_calls)
    chime_calls.assert_called("GetProxySession", ProxySessionID=SID)

@pytest.mark.chime_cassette("every.yaml")
def test_every_carried_name_is_accepted(chime_calls):
    replay(chime_calls)
    carried = {}
    for call in chime_calls:
        for name, value in call.params.items():
            chime_calls.assert_called(call.operation, times=1, **{name: value})
            assert chime_calls.of(call.operation, **{name: value}) == [call]
        carried[call.operation] = sorted(call.params)
    with open(os.environ["CARRIED"], "w") as f:
        json.dump(carried, f)
"""

TYPO = (
    "E       ValueError: unknown parameter 'ProxySessionID' (did you mean ProxySessionId?) "
    "of GetProxySession: one of VoiceConnectorId, ProxySessionId"
)


def test_a_misspelled_parameter_fails_through_the_plugin_and_every_carried_name_passes(
    pytester: pytest.Pytester, recorded, monkeypatch, tmp_path
):
    cassette, endpoint = recorded
    (pytester.path / "cassettes").mkdir()
    shutil.copy(cassette, pytester.path / "cassettes" / "every.yaml")
    carried_file = tmp_path / "carried.json"
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.setenv("ENDPOINT", endpoint)
    monkeypatch.setenv("CARRIED", str(carried_file))
    pytester.makepyfile(test_calls=PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_typo_with_times_0 _*",
            TYPO,
            "*_ test_typo_without_times _*",
            TYPO,
            "FAILED test_calls.py::test_typo_with_times_0 - ValueError: unknown*",
        ]
    )
    result.stdout.no_fnmatch_line("*called 0 time(s)*")
    result.stdout.no_fnmatch_line("*def _check_params*")  # the test's line, not the helper's
    # Every parameter the model gives each request was carried by a real call, and accepted.
    carried = json.loads(carried_file.read_text("utf-8"))
    assert {op: set(names) for op, names in carried.items()} == model_members()


# --- in process: each method refuses, with the names and the closest ---------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("method", ["of", "assert_called"])
def test_an_unknown_name_is_refused_with_the_operations_names(calls, operation, method):
    with pytest.raises(ValueError) as refused:
        getattr(calls, method)(operation, Nonsense=1)
    m = re.fullmatch(
        rf"unknown parameter 'Nonsense' of {operation}: one of (.*)", str(refused.value)
    )
    assert m is not None, str(refused.value)
    assert set(m.group(1).split(", ")) == model_members()[operation]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("method", ["of", "assert_called"])
def test_a_near_miss_of_each_name_suggests_it(calls, operation, method):
    for name in model_members()[operation]:
        typo = name[:-1] + name[-1].swapcase()
        with pytest.raises(ValueError, match=rf"'{typo}' \(did you mean {name}\?\) of {operation}"):
            getattr(calls, method)(operation, **{typo: 1})


def test_a_snake_case_name_suggests_the_models_name(calls):
    with pytest.raises(ValueError, match=r"'proxy_session_id' \(did you mean ProxySessionId\?\)"):
        calls.assert_called("delete_proxy_session", proxy_session_id=SID)


def test_several_unknown_names_are_all_named(calls):
    with pytest.raises(
        ValueError,
        match=r"unknown parameters 'Bogus', 'Statuss' \(did you mean Status\?\) of ListProxySessions",
    ):
        calls.of("ListProxySessions", Bogus=1, Statuss="Open")


def test_a_name_of_another_operation_is_refused(calls):
    """MaxResults is List's: a Get cannot carry it (call_of reads only the operation's query)."""
    with pytest.raises(ValueError, match="unknown parameter 'MaxResults' of GetProxySession"):
        calls.assert_called("GetProxySession", times=0, MaxResults="10")


def test_a_body_member_outside_the_schema_is_accepted_where_a_call_carries_it():
    """A client may send a member the API does not define: the call carries it, so it is asked."""
    uri = f"https://service.chime.aws.amazon.com/voice-connectors/{CONNECTOR}/proxy-sessions"
    body = json.dumps({"Capabilities": ["Voice"], "ParticipantPhoneNumbers": PHONES, "Extra": 1})
    made = [call_of("POST", uri, body, 400)]
    calls = Calls(lambda: made, lambda: [])
    calls.assert_called("CreateProxySession", times=1, Extra=1)
    with pytest.raises(ValueError, match="unknown parameter 'Extra' of UpdateProxySession"):
        calls.of("UpdateProxySession", Extra=1)


def test_the_namespaces_name_the_same_path_and_query_parameters():
    """One set of names serves both namespaces: their path and query schemas differ in values only."""
    from chime_tap.api.schemas import document

    defs = document()["$defs"]
    for kind in ("ConnectorPath", "SessionPath", "ListQuery"):
        assert set(defs[kind + "Legacy"]["properties"]) == set(defs[kind + "Voice"]["properties"])
