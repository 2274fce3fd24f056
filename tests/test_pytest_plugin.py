"""The pytest plugin, run by pytester in a fresh pytest process (the pytest11 entry point loads it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_vcr_config import record_lifecycle

from support.procs import CONNECTOR, VOICE_ENDPOINT, assert_no_secrets, chime_tap

TESTS = Path(__file__).resolve().parent

# The test module pytester runs: the lifecycle of test_vcr_config, replayed with no proxy.
LIFECYCLE_TEST = """
import json, os
import pytest
from support.procs import voice_client
from test_vcr_config import run_lifecycle

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_lifecycle(chime_cassette):
    results = run_lifecycle(voice_client(None))
    assert json.loads(json.dumps(results, default=str)) == json.load(open(os.environ["EXPECTED"]))
    assert type(chime_cassette).__name__ == "IndexedCassette"
    assert chime_cassette.all_played
"""


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    return record_lifecycle(tmp_path_factory.mktemp("recorded"))


@pytest.fixture
def project(pytester: pytest.Pytester, lifecycle, monkeypatch, tmp_path) -> pytest.Pytester:
    """A pytester project with the recorded cassette in cassettes/ and the test helpers importable."""
    cassette, results = lifecycle
    (pytester.path / "cassettes").mkdir()
    shutil.copy(cassette, pytester.path / "cassettes" / "lifecycle.yaml")
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps(results, default=str))
    monkeypatch.setenv("EXPECTED", str(expected))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    return pytester


def test_a_marked_test_replays_the_recorded_lifecycle_with_no_proxy(project):
    project.makepyfile(test_lifecycle=LIFECYCLE_TEST)
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_an_unmarked_test_is_left_alone(project):
    project.makepyfile(
        test_plain="""
        def test_plain(chime_cassette, chime_cassette_path):
            assert chime_cassette is None and chime_cassette_path is None
        """
    )
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_miss_names_the_closest_call_the_matcher_and_the_json_pointer(project, lifecycle):
    sid = lifecycle[1][0]["ProxySession"]["ProxySessionId"]
    project.makepyfile(
        test_miss=f"""
        import pytest
        from support.procs import voice_client, CONNECTOR

        @pytest.mark.chime_cassette("lifecycle.yaml")
        def test_changed_update():
            voice_client(None).update_proxy_session(
                VoiceConnectorId=CONNECTOR, ProxySessionId="{sid}", Capabilities=["Voice"], ExpiryMinutes=45)
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    # The closest recorded interaction is the recorded Update of that session (#2: create,
    # get, update, ...), named as the proxy names it, and the one matcher that failed says
    # where its body differs; the fix names this plugin's option, not vcrpy's keyword.
    uri = f"{VOICE_ENDPOINT}/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}"
    result.stdout.fnmatch_lines(
        [
            # where in the test: the statement that made the call
            "test_miss.py:6: in test_changed_update: voice_client(None).update_proxy_session(",
            '*Capabilities=[[]"Voice"[]], ExpiryMinutes=45)',
            "",
            f"chime-tap replay: no recorded interaction matches POST {uri} (UpdateProxySession)",
            f"  closest is lifecycle.yaml #2 (POST {uri}), which differs in:",
            "    json_body: body differs at /ExpiryMinutes: this request 45, recorded 30",
            "How to fix:",
            "  * If the request changed on purpose, record it: run pytest once with "
            "--chime-record-mode=new_episodes.",
        ],
        consecutive=True,
    )
    assert "record_mode='new_episodes'" not in result.stdout.str()
    assert len(told(result, "chime-tap replay: no recorded interaction matches")) == 1


def told(result: pytest.RunResult, start: str) -> list[str]:
    """The lines of a pytester run's output that start with ``start`` (summary lines don't)."""
    return [line for line in result.stdout.lines if line.startswith(start)]


def test_a_miss_the_client_swallowed_still_fails_the_test(project):
    project.makepyfile(
        test_swallowed="""
        import pytest
        from support.procs import voice_client, CONNECTOR

        @pytest.mark.chime_cassette("lifecycle.yaml")
        def test_swallowed():
            try:
                voice_client(None).get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="other")
            except Exception:
                pass
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*a request had no recorded match, though the test passed*",
            "chime-tap replay: no recorded interaction matches GET */proxy-sessions/other "
            "(GetProxySession)",
            "  closest is lifecycle.yaml #1 (GET */proxy-sessions/*), which differs in:",
            "    chime_path: path: this request */proxy-sessions/other, recorded *",
        ],
        consecutive=True,
    )


# A client that retries as boto3 does by default: up to 3 attempts for a failed send.
RETRYING_CLIENT = """
import boto3
from botocore.config import Config
from support.procs import CONNECTOR, FAKE_ACCESS_KEY, FAKE_SECRET_KEY


def client():
    return boto3.client(
        "chime-sdk-voice",
        region_name="us-east-1",
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
"""


def test_a_retried_miss_is_told_once_with_how_many_times_it_was_sent(project):
    project.makepyfile(retrying=RETRYING_CLIENT)
    project.makepyfile(
        test_retried="""
        import pytest
        from retrying import client, CONNECTOR

        @pytest.mark.chime_cassette("lifecycle.yaml")
        def test_unknown_session():
            client().get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="never")
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    # botocore sent it 3 times: one explanation, with the count.
    assert len(told(result, "chime-tap replay: no recorded interaction matches GET")) == 1, text
    assert len(told(result, "  closest is lifecycle.yaml #1 (GET ")) == 1, text
    result.stdout.fnmatch_lines(
        [
            "chime-tap replay: no recorded interaction matches GET */proxy-sessions/never "
            "(GetProxySession)",
            "  sent 3 times (retries included); shown once",
        ],
        consecutive=True,
    )
    assert "Can't play back this request" not in text  # vcrpy's text, once per exception
    assert "record_mode='new_episodes'" not in text and "--chime-record-mode=new_episodes" in text


# Get, Get, Get of one session: the lifecycle recorded three (ExpiryMinutes 60, then 30, then
# NotFound after the Delete); a fourth is one more than the recording holds.
FOUR_GETS = """
import json, os
import botocore.exceptions
import pytest
from support.procs import voice_client, CONNECTOR

SID = os.environ["SID"]


def gets(n):
    client, out = voice_client(None), []
    for _ in range(n):
        try:
            got = client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=SID)
            out.append(got["ProxySession"]["ExpiryMinutes"])
        except botocore.exceptions.ClientError as e:
            out.append(e.response["Error"]["Code"])
    return out

MARKER
def test_four_gets(chime_cassette):
    assert gets(4) == EXPECTED
"""


@pytest.mark.parametrize(
    ("conftest", "marker", "expected"),
    [
        # exhausted="repeat" as a marker keyword: recorded order, then the last answer repeats.
        (None, '(exhausted="repeat")', [60, 30, "NotFoundException", "NotFoundException"]),
        # the same from chime_vcr_config
        ({"exhausted": "repeat"}, "", [60, 30, "NotFoundException", "NotFoundException"]),
        # vcrpy's own allow_playback_repeats keeps working, its way: the first match again.
        (None, "(allow_playback_repeats=True)", [60, 60, 60, 60]),
    ],
)
def test_exhausted_repeat_plays_in_recorded_order_then_repeats_the_last(
    project, lifecycle, monkeypatch, conftest, marker, expected
):
    monkeypatch.setenv("SID", lifecycle[1][0]["ProxySession"]["ProxySessionId"])
    if conftest is not None:
        project.makeconftest(
            f"""
            import pytest

            @pytest.fixture
            def chime_vcr_config():
                return {conftest!r}
            """
        )
    args = f'"lifecycle.yaml", {marker[1:-1]}' if marker else '"lifecycle.yaml"'
    project.makepyfile(
        test_gets=FOUR_GETS.replace("MARKER", f"@pytest.mark.chime_cassette({args})").replace(
            "EXPECTED", repr(expected)
        )
    )
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_by_default_a_call_repeated_more_often_than_recorded_fails_naming_it(project, lifecycle):
    sid = lifecycle[1][0]["ProxySession"]["ProxySessionId"]
    project.makepyfile(
        test_gets=FOUR_GETS.replace("MARKER", '@pytest.mark.chime_cassette("lifecycle.yaml")')
        .replace("EXPECTED", "[60, 30, 'NotFoundException', 'extra']")
        .replace('os.environ["SID"]', repr(sid))
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    uri = f"{VOICE_ENDPOINT}/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}"
    result.stdout.fnmatch_lines(
        [
            f"chime-tap replay: all 3 recorded answer(s) to GET {uri} (GetProxySession) were "
            'already played (exhausted=fail); to repeat the last one instead, use exhausted="repeat" '
            "(in chime_vcr_config, or as a chime_cassette marker keyword)",
            "  recorded as lifecycle.yaml #1, lifecycle.yaml #3, lifecycle.yaml #6",
            "How to fix:",
            '  * If this call may get the last answer again, set exhausted="repeat"*',
            "  * Otherwise record the extra call: run pytest once with "
            "--chime-record-mode=new_episodes.",
        ],
        consecutive=True,
    )
    assert "allow_playback_repeats" not in result.stdout.str()


def test_a_bad_exhausted_value_is_one_line_with_the_valid_values(project):
    project.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.chime_cassette("lifecycle.yaml", exhausted="sometimes")
        def test_bad():
            pass
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*chime_cassette: exhausted: 'sometimes' is not one of repeat, fail*"]
    )


def test_a_test_failing_for_another_reason_also_tells_what_it_missed(project):
    project.makepyfile(
        test_other="""
        import pytest
        from support.procs import voice_client, CONNECTOR

        @pytest.mark.chime_cassette("lifecycle.yaml")
        def test_other_failure():
            try:
                voice_client(None).get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId="gone")
            except Exception:
                pass
            assert 1 == 2, "the test's own failure"
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    # The test's own failure keeps its traceback; the miss is told in a section after it.
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: the test's own failure*",
            "*- chime-tap: requests the cassette could not play -*",
            "chime-tap replay: no recorded interaction matches GET */proxy-sessions/gone "
            "(GetProxySession)",
        ]
    )


def test_default_record_mode_none_refuses_a_missing_cassette(project):
    project.makepyfile(
        test_missing="""
        import pytest

        @pytest.mark.chime_cassette()
        def test_nothing_recorded():
            pass
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*cassettes/test_missing/test_nothing_recorded.yaml does not exist; record it with --chime-record-mode=once*"
        ]
    )


def test_record_mode_once_records_through_a_proxy_then_none_replays_offline(
    pytester, monkeypatch, tmp_path
):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    pytester.makeini("[pytest]\nchime_cassette_dir = recorded\n")
    pytester.makepyfile(
        test_rec="""
        import os
        import pytest
        from support.procs import voice_client, CONNECTOR

        class Proxy:
            url = os.environ.get("SIM_URL")
            ca_cert = os.environ.get("SIM_CA")

        @pytest.mark.chime_cassette("list.json")
        def test_list():
            client = voice_client(Proxy if Proxy.url else None)
            assert client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)["ProxySessions"] == []
        """
    )
    with chime_tap(["simulate"], confdir=tmp_path / "conf") as sim:
        monkeypatch.setenv("SIM_URL", sim.url)
        monkeypatch.setenv("SIM_CA", str(sim.ca_cert))
        pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--chime-record-mode=once"
        ).assert_outcomes(passed=1)
        sim.stop()
    cassette = pytester.path / "recorded" / "list.json"
    assert json.loads(cassette.read_text())["interactions"][0]["request"]["method"] == "GET"
    assert_no_secrets(cassette)
    monkeypatch.delenv("SIM_URL")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_chime_vcr_config_overrides_from_conftest(project, lifecycle):
    sid = lifecycle[1][0]["ProxySession"]["ProxySessionId"]
    project.makeconftest(
        """
        import pytest

        @pytest.fixture
        def chime_vcr_config():
            return {"match_on": ["chime_method", "chime_path"]}
        """
    )
    project.makepyfile(
        test_loose=f"""
        import pytest
        from support.procs import voice_client, CONNECTOR

        @pytest.mark.chime_cassette("lifecycle.yaml")
        def test_body_ignored():
            got = voice_client(None).update_proxy_session(
                VoiceConnectorId=CONNECTOR, ProxySessionId="{sid}", Capabilities=["SMS"], ExpiryMinutes=45)
            assert got["ProxySession"]["ExpiryMinutes"] == 30
        """
    )
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_bad_settings_are_reported_with_the_valid_values(project):
    project.makeconftest(
        """
        import pytest

        @pytest.fixture
        def chime_vcr_config():
            return {"match_on": ["chime_path", "bodyy"]}
        """
    )
    project.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.chime_cassette("lifecycle.yaml")
        def test_bad():
            pass
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*chime_vcr_config: unknown matcher(s) 'bodyy' in match_on; valid: *chime_host*"]
    )
    assert "During handling" not in result.stdout.str() and "make_vcr(" not in result.stdout.str()
    bad_mode = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--chime-record-mode=sometimes"
    )
    assert bad_mode.ret == 4
    bad_mode.stderr.fnmatch_lines(
        [
            "*--chime-record-mode: invalid choice: 'sometimes' (choose from*none*once*new_episodes*all*"
        ]
    )


def test_names_leave_room_for_pytest_recording(pytester):
    """Every option, marker and fixture the plugin adds is chime-prefixed: none of pytest-recording's."""
    pytester.makepyfile(test_x="def test_x(): pass")
    # pytest-recording itself (a dev dependency) is switched off: every name left is ours.
    off = ("-p", "no:cacheprovider", "-p", "no:recording")
    fixtures = pytester.runpytest_subprocess(*off, "--fixtures").stdout.str()
    help_text = pytester.runpytest_subprocess(*off, "--help").stdout.str()
    markers = pytester.runpytest_subprocess(*off, "--markers").stdout.str()
    for name in (
        "chime_vcr_config",
        "chime_vcr",
        "chime_cassette",
        "chime_cassette_path",
        "chime_record_mode",
    ):
        assert f"{name} -- " in fixtures or f"{name} [" in fixtures, name
    assert "--chime-record-mode" in help_text and "chime_cassette_dir" in help_text
    assert "@pytest.mark.chime_cassette(" in markers
    # pytest-recording's names: none of them may come from this plugin.
    for taken in (
        "vcr",
        "vcr_config",
        "vcr_cassette_dir",
        "record_mode",
        "default_cassette_name",
        "vcr_markers",
    ):
        assert not any(line.split(" ")[0] == taken for line in fixtures.splitlines()), taken
    assert "@pytest.mark.vcr" not in markers
    assert "--record-mode" not in help_text.replace("--chime-record-mode", "")


# A module for pytest-recording: its marker, its fixture, its cassette layout
# (cassettes/<module>/<test>.yaml), plain vcrpy with its default matchers.
RECORDING_TEST = """
import json, os
import pytest
from support.procs import voice_client
from test_vcr_config import run_lifecycle

@pytest.mark.vcr
def test_lifecycle(vcr, chime_cassette, record_mode):
    results = run_lifecycle(voice_client(None))
    assert json.loads(json.dumps(results, default=str)) == json.load(open(os.environ["EXPECTED"]))
    assert type(vcr).__name__ == "Cassette" and vcr.play_count == 7
    assert chime_cassette is None  # ours leaves a test it does not own alone
    assert record_mode == vcr.record_mode == os.environ.get("THEIR_MODE", "none")
"""

# The same lifecycle through chime-tap's marker, in the same session.
CHIME_TEST = """
import json, os
import pytest
from support.procs import voice_client
from test_vcr_config import run_lifecycle

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_lifecycle(chime_cassette, vcr, chime_record_mode):
    results = run_lifecycle(voice_client(None))
    assert json.loads(json.dumps(results, default=str)) == json.load(open(os.environ["EXPECTED"]))
    assert type(chime_cassette).__name__ == "IndexedCassette" and chime_cassette.all_played
    assert vcr is None  # pytest-recording leaves a test it does not own alone
    assert chime_record_mode == chime_cassette.record_mode == os.environ.get("OUR_MODE", "none")
"""


@pytest.fixture
def both(project: pytest.Pytester) -> pytest.Pytester:
    """A project with one pytest-recording module and one chime-tap module, same recording."""
    theirs = project.path / "cassettes" / "test_theirs" / "test_lifecycle.yaml"
    theirs.parent.mkdir()
    shutil.copy(project.path / "cassettes" / "lifecycle.yaml", theirs)
    project.makepyfile(test_theirs=RECORDING_TEST, test_ours=CHIME_TEST)
    return project


def test_pytest_recording_and_chime_cassette_tests_replay_in_one_session(both):
    # --block-network (pytest-recording's) fails any test that opens a socket: both replay offline.
    result = both.runpytest_subprocess("-p", "no:cacheprovider", "--block-network", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_ours.py::test_lifecycle PASSED*", "*test_theirs.py::test_lifecycle PASSED*"]
    )


@pytest.mark.parametrize(
    ("args", "theirs", "ours"),
    [
        (["--record-mode=new_episodes"], "new_episodes", "none"),
        (["--chime-record-mode=new_episodes"], "none", "new_episodes"),
    ],
)
def test_record_mode_and_chime_record_mode_are_independent(both, monkeypatch, args, theirs, ours):
    monkeypatch.setenv("THEIR_MODE", theirs)
    monkeypatch.setenv("OUR_MODE", ours)
    both.runpytest_subprocess("-p", "no:cacheprovider", *args).assert_outcomes(passed=2)


def test_each_record_mode_option_has_its_own_choices(both):
    # Ours refuses what is none of its modes, and names them (rewrite too, since issue 16) ...
    bad = both.runpytest_subprocess("-p", "no:cacheprovider", "--chime-record-mode=bogus")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(
        ["*--chime-record-mode: invalid choice: 'bogus' (choose from *'rewrite')*"]
    )
    # ... and asking pytest-recording for it leaves chime-tap's tests replaying offline.
    ours = both.runpytest_subprocess(
        "-p", "no:cacheprovider", "--record-mode=rewrite", "--block-network", "test_ours.py"
    )
    ours.assert_outcomes(passed=1)


# --- cassette names that lead out of the cassette directory (issue 15, item 13) ------------------

# A test that makes one real call (to a loopback server), so that recording writes the cassette.
ESCAPING_TEST = """
import http.server, threading
import pytest, urllib3

class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

@pytest.fixture
def server():
    s = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{s.server_address[1]}/"
    s.shutdown()

@pytest.mark.chime_cassette(%(name)r%(keywords)s)
def test_escape(server):
    assert urllib3.PoolManager().request("GET", server).status == 200
"""


def _escaping(pytester: pytest.Pytester, name: str, keywords: str = "") -> pytest.RunResult:
    pytester.makepyfile(test_escape=ESCAPING_TEST % {"name": name, "keywords": keywords})
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--chime-record-mode=once")


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_a_cassette_name_leading_out_of_the_directory_is_refused(pytester, tmp_path, how):
    """It wrote anywhere the run may write, creating directories on the way, without a word."""
    outside = tmp_path / "outside"
    target = outside / "deep" / "x.yaml"
    (pytester.path / "cassettes").mkdir()
    if how == "dotdot":
        name = str(Path("..") / Path(*[".."] * len(pytester.path.parts)) / target.relative_to("/"))
    elif how == "absolute":
        name = str(target)
    else:
        outside.mkdir()
        (pytester.path / "cassettes" / "shared").symlink_to(outside)
        name = "shared/deep/x.yaml"
    result = _escaping(pytester, name)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*chime_cassette: {name!r} is outside the cassette directory "
            f"{pytester.path / 'cassettes'} ({target}); refused. To use a cassette there, say so: "
            "@pytest.mark.chime_cassette(..., allow_outside_dir=True), or "
            "chime_cassette_allow_outside_dir = true in the ini file*"
        ]
    )
    assert not target.exists() and not (outside / "deep").exists()


def test_a_cassette_outside_the_directory_is_used_when_the_marker_allows_it(pytester, tmp_path):
    from chime_tap.cassettes.reader import load_cassette

    target = tmp_path / "elsewhere" / "x.yaml"
    _escaping(pytester, str(target), ", allow_outside_dir=True").assert_outcomes(passed=1)
    assert len(load_cassette(target)["interactions"]) == 1


def test_a_cassette_outside_the_directory_is_used_when_the_ini_allows_it(pytester, tmp_path):
    target = tmp_path / "elsewhere" / "x.yaml"
    pytester.makeini("[pytest]\nchime_cassette_allow_outside_dir = true\n")
    _escaping(pytester, str(target)).assert_outcomes(passed=1)
    assert target.is_file()


def test_a_fifo_as_cassette_is_refused_and_left_a_fifo(pytester):
    """is_file() said "no cassette" for a FIFO: vcrpy recorded, then replaced it with a file."""
    import os
    import stat

    (pytester.path / "cassettes").mkdir()
    fifo = pytester.path / "cassettes" / "pipe.yaml"
    os.mkfifo(fifo)
    result = _escaping(pytester, "pipe.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*chime_cassette: {fifo}: is a FIFO (named pipe), not a regular file*"]
    )
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
