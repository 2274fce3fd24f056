"""Replay names each cassette by as much of its path as tells it from the others.

A new user replayed `/tmp/newuser-proj/tests/cassettes/sessions.yaml` and
`tests/cassettes/sessions.yaml` and read `hit sessions.yaml #0` and `hit sessions.yaml #9`,
with no way to tell the files apart. A file name that is unique stays the name, as before.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from chime_tap.addons.replay import ReplayServer
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.playback import cassette_names

HOST = "voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
SESSIONS = f"/voice-connectors/{CONNECTOR}/proxy-sessions"


# --- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "names"),
    [
        pytest.param(
            ["/p/a.yaml", "/q/b.json"],
            {"/p/a.yaml": "a.yaml", "/q/b.json": "b.json"},
            id="unique-file-names-stay-as-they-are",
        ),
        pytest.param(
            ["/x/a/s.yaml", "/y/a/s.yaml", "/z/t.yaml"],
            {"/x/a/s.yaml": "x/a/s.yaml", "/y/a/s.yaml": "y/a/s.yaml", "/z/t.yaml": "t.yaml"},
            id="each-as-long-as-it-needs",
        ),
        pytest.param(
            ["/s.yaml", "/a/s.yaml"], {"/s.yaml": "/s.yaml", "/a/s.yaml": "a/s.yaml"}, id="root"
        ),
        pytest.param(["/a/s.yaml", "/a/s.yaml"], {"/a/s.yaml": "s.yaml"}, id="one-file-twice"),
        pytest.param([], {}, id="none"),
    ],
)
def test_each_cassette_is_named_by_the_shortest_tail_no_other_shares(
    paths: list[str], names: dict[str, str]
) -> None:
    assert cassette_names(paths) == names


def test_the_new_users_two_sessions_yaml_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative paths are the files they name from here; ``~`` is the home folder."""
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    theirs = f"{tmp_path}/newuser-proj/tests/cassettes/sessions.yaml"
    ours = "tests/cassettes/sessions.yaml"
    home = "~/tests/cassettes/sessions.yaml"
    assert cassette_names([theirs, ours, home]) == {
        theirs: "newuser-proj/tests/cassettes/sessions.yaml",
        ours: "main/tests/cassettes/sessions.yaml",
        home: "home/tests/cassettes/sessions.yaml",
    }
    same = str(tmp_path / "main" / ours)  # the same file as ``ours``, spelled absolute
    assert cassette_names([ours, same]) == {ours: "sessions.yaml", same: "sessions.yaml"}


# --- on replay's lines, comments and answers ---------------------------------------------------------


def _cassette(path: Path, sid: str) -> str:
    """A cassette holding one Get of ``sid``."""
    path.parent.mkdir(parents=True)
    body = {"ProxySession": {"VoiceConnectorId": CONNECTOR, "ProxySessionId": sid}}
    with CassetteWriter(path) as w:
        w.append(
            make_interaction(
                method="GET",
                uri=f"https://{HOST}{SESSIONS}/{sid}",
                request_headers={},
                request_body=None,
                status=200,
                reason="OK",
                response_headers={"Content-Type": ["application/json"]},
                response_body=json.dumps(body),
            )
        )
    return str(path)


def _get(addon: ReplayServer, sid: str) -> http.HTTPFlow:
    f = tflow.tflow()
    req = f.request
    req.method, req.scheme, req.host, req.port = "GET", "https", HOST, 443
    req.path = f"{SESSIONS}/{sid}"
    req.headers.clear()
    req.headers["Host"] = HOST
    req.content = b""
    addon.request(f)
    return f


def test_replay_names_same_named_cassettes_by_their_folders(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one = _cassette(tmp_path / "one" / "sessions.yaml", "s1")
    two = _cassette(tmp_path / "two" / "sessions.yaml", "s2")
    record_to = tmp_path / "three" / "sessions.yaml"
    record_to.parent.mkdir()
    addon = ReplayServer()
    with taddons.context(addon) as tctx, caplog.at_level(logging.INFO, logger="chime_tap.calls"):
        tctx.configure(addon, chime_replay_cassettes=[one, two])
        hits = [_get(addon, "s1"), _get(addon, "s2")]
        miss = _get(addon, "s3")
        # The cassette forwarded calls go to is one more name to tell apart.
        tctx.configure(
            addon,
            chime_replay_on_miss="forward",
            chime_replay_record_to=str(record_to),
        )
        forwarded = _get(addon, "s4")
        forwarded.response = http.Response.make(
            200, json.dumps({"ProxySession": {}}).encode(), {"Content-Type": "application/json"}
        )
        addon.response(forwarded)
    addon.done()
    assert [f.comment for f in hits] == [
        "replayed one/sessions.yaml #0",
        "replayed two/sessions.yaml #0",
    ]
    closest = json.loads(miss.response.content)["closest"]["interaction"]
    assert closest in ("one/sessions.yaml #0", "two/sessions.yaml #0")
    lines = [r.getMessage() for r in caplog.records if r.name == "chime_tap.calls"]
    assert lines[0].endswith(", hit one/sessions.yaml #0")
    assert lines[1].endswith(", hit two/sessions.yaml #0")
    assert "miss, forwarded upstream, recorded as three/sessions.yaml #0" in lines[3]
