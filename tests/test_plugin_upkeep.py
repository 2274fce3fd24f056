"""The pytest plugin's upkeep, run by pytester in a fresh pytest process: the report of
interactions no test played, --chime-fail-on-unused, the usage log chime-tap prune reads,
--chime-record-mode=rewrite and the chime_calls fixture.

The lifecycle cassette holds, in order: #0 Create (201), #1 Get (200), #2 Update (201),
#3 Get (200), #4 List (200), #5 Delete (204), #6 Get (404, after the Delete).
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_vcr_config import record_lifecycle

from chime_tap.cassettes.reader import load_cassette
from chime_tap.usage import read_logs

TESTS = Path(__file__).resolve().parent
LIFECYCLE = ["Create", "Get", "Update", "Get", "List", "Delete", "Get"]

# Create, then Get: plays #0 and #1 of the lifecycle.
CREATE_AND_GET = """
import pytest
from support.procs import voice_client, CONNECTOR
from test_vcr_config import PHONES

def create_and_get():
    client = voice_client(None)
    created = client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=PHONES,
        Capabilities=["Voice", "SMS"], ExpiryMinutes=60, Name="demo")
    sid = created["ProxySession"]["ProxySessionId"]
    client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    return sid
"""


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    return record_lifecycle(tmp_path_factory.mktemp("recorded"))


@pytest.fixture
def project(pytester: pytest.Pytester, lifecycle, monkeypatch) -> pytest.Pytester:
    cassette, _ = lifecycle
    (pytester.path / "cassettes").mkdir()
    shutil.copy(cassette, pytester.path / "cassettes" / "lifecycle.yaml")
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    pytester.makepyfile(steps=CREATE_AND_GET)
    return pytester


def _marked(name: str, body: str, cassette: str = "lifecycle.yaml") -> str:
    return f"""
import pytest
from steps import create_and_get

@pytest.mark.chime_cassette("{cassette}")
def {name}(chime_cassette):
{body}
"""


PARTIAL = _marked("test_partial", "    create_and_get()")
FULL = (
    "from test_vcr_config import run_lifecycle\nfrom support.procs import voice_client\n"
    + _marked("test_full", "    run_lifecycle(voice_client(None))")
)
UNPLAYED_LINES = [
    "cassettes/lifecycle.yaml: 5 of 7 recorded interaction(s) never played",
    "  #2 POST https://voice-chime.*/proxy-sessions/* (UpdateProxySession)",
    "  #3 GET https://voice-chime.*/proxy-sessions/* (GetProxySession)",
    "  #4 GET https://voice-chime.*/proxy-sessions?status=Open (ListProxySessions)",
    "  #5 DELETE https://voice-chime.*/proxy-sessions/* (DeleteProxySession)",
    "  #6 GET https://voice-chime.*/proxy-sessions/* (GetProxySession)",
]


def test_the_run_lists_each_interaction_no_test_played_and_logs_what_was_played(project):
    project.makepyfile(test_partial=PARTIAL)
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*chime-tap: recorded interactions never played*", *UNPLAYED_LINES], consecutive=True
    )
    uses = read_logs([project.path / ".pytest_cache" / "d" / "chime-tap"])
    assert [(Path(u.cassette).name, u.played, u.interactions, u.passed) for u in uses] == [
        ("lifecycle.yaml", [0, 1], 7, True)
    ]
    assert uses[0].test == "test_partial.py::test_partial"


def test_a_run_that_played_everything_reports_nothing(project):
    project.makepyfile(test_full=FULL)
    result = project.runpytest_subprocess("--chime-fail-on-unused")
    result.assert_outcomes(passed=1)
    assert "never played" not in result.stdout.str()
    assert result.ret == 0


def test_fail_on_unused_fails_the_passing_test_that_left_its_cassette_unplayed(project):
    project.makepyfile(test_partial=PARTIAL)
    result = project.runpytest_subprocess("--chime-fail-on-unused", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_partial*",
            "*chime_cassette: --chime-fail-on-unused: lifecycle.yaml: 5 of 7 recorded "
            "interaction(s) never played",
            *UNPLAYED_LINES[1:],
            # -p no:cacheprovider: no usage log, and the advice says what prune would need
            "to remove them: chime-tap prune *lifecycle.yaml after a run with pytest's cache or "
            "--chime-usage-log PATH, or record the cassette again: --chime-record-mode=rewrite",
        ],
        consecutive=False,
    )
    # Without the flag, the same run passes (and still reports).
    plain = project.runpytest_subprocess("-p", "no:cacheprovider")
    plain.assert_outcomes(passed=1)
    assert plain.ret == 0


def test_a_test_that_failed_is_not_also_failed_for_what_it_left_unplayed(project):
    project.makepyfile(test_broken=_marked("test_broken", "    create_and_get()\n    assert 0"))
    result = project.runpytest_subprocess("--chime-fail-on-unused", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_a_shared_cassette_fails_the_session_only_when_no_test_played_an_interaction(project):
    project.makepyfile(test_partial=PARTIAL, test_full=FULL)
    together = project.runpytest_subprocess("--chime-fail-on-unused", "-p", "no:cacheprovider")
    together.assert_outcomes(passed=2)  # between them, every interaction was played
    assert together.ret == 0 and "never played" not in together.stdout.str()

    (project.path / "test_full.py").unlink()
    project.makepyfile(test_again=PARTIAL.replace("test_partial", "test_again"))
    result = project.runpytest_subprocess("--chime-fail-on-unused", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)  # each test passed; the session did not
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            *UNPLAYED_LINES,
            "to remove them, run again with pytest's cache or --chime-usage-log PATH, then "
            "chime-tap prune CASSETTE... (it reads that run's usage log)",
            "--chime-fail-on-unused: 1 cassette(s) shared by several tests left interactions "
            "unplayed (cassettes/lifecycle.yaml): the session fails",
        ],
        consecutive=True,
    )


def test_under_xdist_the_controller_gathers_the_workers_uses(project):
    project.makepyfile(
        test_partial=PARTIAL, test_again=PARTIAL.replace("test_partial", "test_again")
    )
    result = project.runpytest_subprocess("-n", "2", "--chime-fail-on-unused")
    result.assert_outcomes(passed=2)
    assert result.ret == 1  # the shared cassette left #2-#6 unplayed: the session fails
    result.stdout.fnmatch_lines(
        [
            *UNPLAYED_LINES,
            "to remove them: chime-tap prune CASSETTE... (it reads this run's usage log)",
            "*: the session fails",
        ],
        consecutive=False,
    )
    uses = read_logs([project.path / ".pytest_cache" / "d" / "chime-tap"])
    assert sorted((u.test, u.played) for u in uses) == [
        ("test_again.py::test_again", [0, 1]),
        ("test_partial.py::test_partial", [0, 1]),
    ]


def test_the_usage_log_goes_where_chime_usage_log_says(project, tmp_path):
    project.makepyfile(test_partial=PARTIAL)
    log = tmp_path / "usage.json"
    result = project.runpytest_subprocess(
        "--chime-usage-log", str(log), "-p", "no:cacheprovider", "--chime-fail-on-unused"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["to remove them: chime-tap prune *lifecycle.yaml (it reads this run's usage log), *"]
    )
    (use,) = read_logs([log])
    assert use.played == [0, 1] and use.unplayed() == [2, 3, 4, 5, 6]


# --- chime_calls -------------------------------------------------------------------------------

CALLS_TEST = """
import pytest
from support.procs import voice_client, CONNECTOR
from test_vcr_config import run_lifecycle
from steps import create_and_get

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_lifecycle_calls(chime_calls):
    run_lifecycle(voice_client(None))
    created = chime_calls.of("CreateProxySession")
    assert len(created) == 1 and created[0].params["Name"] == "demo"
    assert [c.operation for c in chime_calls] == [
        "CreateProxySession", "GetProxySession", "UpdateProxySession", "GetProxySession",
        "ListProxySessions", "DeleteProxySession", "GetProxySession"]
    assert [c.status for c in chime_calls] == [201, 200, 201, 200, 200, 204, 404]
    assert {c.source for c in chime_calls} == {"replayed"}
    assert chime_calls[2].interaction == "lifecycle.yaml #2"
    sid = chime_calls[1].params["ProxySessionId"]
    chime_calls.assert_called("GetProxySession", times=3, ProxySessionId=sid, VoiceConnectorId=CONNECTOR)
    chime_calls.assert_called("update_proxy_session", times=1, Capabilities=["Voice"], ExpiryMinutes=30)
    chime_calls.assert_called("ListProxySessions", Status="Open")
    chime_calls.assert_called("DeleteProxySession", times=1)
    chime_calls.assert_order(["CreateProxySession", "UpdateProxySession", "DeleteProxySession"])
    chime_calls.assert_order(["GetProxySession", "GetProxySession", "GetProxySession"])
    chime_calls.assert_all_played()
    with pytest.raises(ValueError, match="unknown operation 'GetSession': one of CreateProxySession"):
        chime_calls.assert_called("GetSession")

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_called_twice(chime_calls):
    run_lifecycle(voice_client(None))
    chime_calls.assert_called("DeleteProxySession", times=2)

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_wrong_parameter(chime_calls):
    run_lifecycle(voice_client(None))
    chime_calls.assert_called("UpdateProxySession", ExpiryMinutes=45)

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_wrong_order(chime_calls):
    run_lifecycle(voice_client(None))
    chime_calls.assert_order(["DeleteProxySession", "UpdateProxySession"])

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_not_all_played(chime_calls):
    create_and_get()
    chime_calls.assert_all_played()

def test_unmarked(chime_calls):
    pass
"""


def test_chime_calls_lists_the_calls_and_its_assertions_pass_and_fail_as_they_should(project):
    project.makepyfile(test_calls=CALLS_TEST)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-rfE")
    result.assert_outcomes(passed=1, failed=4, errors=1)
    out = result.stdout
    out.fnmatch_lines(
        [
            "E       AssertionError: expected DeleteProxySession() called 2 time(s), it was "
            "called 1 time(s); the test's calls:",
            "E         1. CreateProxySession(*) -> 201 [[]replayed lifecycle.yaml #0]",
        ]
    )
    out.fnmatch_lines(
        [
            "E       AssertionError: expected UpdateProxySession(ExpiryMinutes=45) called at "
            "least once, it was called 0 time(s); the test's calls:",
            "E         3. UpdateProxySession(Capabilities=[[]'Voice'], ExpiryMinutes=30, "
            "ProxySessionId=*, VoiceConnectorId=*) -> 201 [[]replayed lifecycle.yaml #2]",
        ]
    )
    out.fnmatch_lines(
        [
            "E       AssertionError: expected the calls in order DeleteProxySession -> "
            "UpdateProxySession; UpdateProxySession is missing after DeleteProxySession; "
            "the test's calls:",
        ]
    )
    out.fnmatch_lines(
        [
            "E*AssertionError: 5 recorded interaction(s) never played: lifecycle.yaml #2; "
            "lifecycle.yaml #3; lifecycle.yaml #4; lifecycle.yaml #5; lifecycle.yaml #6",
        ]
    )
    out.fnmatch_lines(["*chime_calls: the test has no @pytest.mark.chime_cassette*"])


# --- rewrite -----------------------------------------------------------------------------------


class _Service(BaseHTTPRequestHandler):
    """GetProxySession answered with the session's name from ``name`` (changed by the test)."""

    name = "new"

    def do_GET(self) -> None:
        sid = self.path.rstrip("/").rsplit("/", 1)[-1]
        body = json.dumps({"ProxySession": {"ProxySessionId": sid, "Name": self.name}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def service(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SERVICE", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()


REWRITE_TEST = """
import os
import pytest
from support.procs import voice_client, CONNECTOR

@pytest.mark.chime_cassette("{name}")
def test_get(chime_calls):
    got = voice_client(None, endpoint=os.environ["SERVICE"]).get_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId="ps-1")
    assert got["ProxySession"]["Name"] == os.environ.get("WANT", got["ProxySession"]["Name"])
    assert [(c.operation, c.source, c.status) for c in chime_calls] == [
        ("GetProxySession", "{source}", 200)]
"""


@pytest.mark.parametrize("name", ["get.yaml", "get.json"])
def test_rewrite_records_afresh_and_replaces_the_cassette_only_when_the_test_passed(
    project, service, monkeypatch, name
):
    cassette = project.path / "cassettes" / name
    project.makepyfile(test_get=REWRITE_TEST.format(name=name, source="recorded"))
    _Service.name = "first"
    first = project.runpytest_subprocess("--chime-record-mode=rewrite", "-p", "no:cacheprovider")
    first.assert_outcomes(passed=1)
    assert _names(cassette) == ["first"]

    # The service changed and the test fails: the old cassette stays, byte for byte.
    before = cassette.read_bytes()
    _Service.name = "second"
    monkeypatch.setenv("WANT", "something else")
    failed = project.runpytest_subprocess("--chime-record-mode=rewrite", "-p", "no:cacheprovider")
    failed.assert_outcomes(failed=1)
    assert cassette.read_bytes() == before
    assert sorted(p.name for p in cassette.parent.iterdir()) == sorted(
        [name, "lifecycle.yaml"]
    )  # no rewrite left behind

    # It passes: the cassette is the new recording, whole (not the old one plus the new).
    monkeypatch.setenv("WANT", "second")
    passed = project.runpytest_subprocess("--chime-record-mode=rewrite", "-p", "no:cacheprovider")
    passed.assert_outcomes(passed=1)
    assert _names(cassette) == ["second"]

    # And it replays with no service.
    service.shutdown()
    project.makepyfile(test_get=REWRITE_TEST.format(name=name, source="replayed"))
    replayed = project.runpytest_subprocess("-p", "no:cacheprovider")
    replayed.assert_outcomes(passed=1)


def _names(cassette: Path) -> list[str]:
    doc = load_cassette(cassette)
    return [
        json.loads(i["response"]["body"]["string"])["ProxySession"]["Name"]
        for i in doc["interactions"]
    ]
