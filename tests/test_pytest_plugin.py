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
    text = result.stdout.str()
    assert "no recorded interaction matches it (the closest differ in json_body)" in text
    # The closest recorded interaction is the recorded Update of that session, and the one
    # matcher that failed says where its body differs; nothing else is as close.
    uri = f"{VOICE_ENDPOINT}/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}"
    result.stdout.fnmatch_lines(
        [
            "*Closest recorded requests:",
            f"*  1. POST {uri}",
            "*     json_body differs: body differs at /ExpiryMinutes: this request 45, recorded 30",
            "*",
            "*How to fix:",
        ],
        consecutive=True,
    )


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
            "*chime_path differs*/proxy-sessions/other*",
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
    # pytest-recording's "rewrite" (re-record from scratch) is not one of ours ...
    bad = both.runpytest_subprocess("-p", "no:cacheprovider", "--chime-record-mode=rewrite")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["*--chime-record-mode: invalid choice: 'rewrite'*"])
    # ... and asking pytest-recording for it leaves chime-tap's tests replaying offline.
    ours = both.runpytest_subprocess(
        "-p", "no:cacheprovider", "--record-mode=rewrite", "--block-network", "test_ours.py"
    )
    ours.assert_outcomes(passed=1)
