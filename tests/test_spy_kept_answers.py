"""Spy mode keeps each answer as diff compares it, by body, and says exactly what it said before.

An answer's reduction (``diff_calls.canonical_response``) depends on its body and on the labels
of the ids in it; the same bytes come again (a Get of a session that did not change, the
baseline's answer and the live one). What is kept must never stand in for a reduction that
would differ: an id labelled since, or labelled on one side only, has the body reduced again.

The scripted sequences, and what each comparison must say:

- List, Create, List again, on each side: the first List names a session not yet created (its
  id is compared as it is, and differs), the second the same bytes once its Create labelled
  it ``ps-1`` on both sides (no difference).
- The live Get answers with the very bytes the baseline's did, naming the baseline's session:
  labelled ``ps-1`` in the baseline, unknown live, so a difference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chime_tap.spy as spy_module
from chime_tap.api.hosts import HostPolicy
from chime_tap.cassettes.format import Interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.diff_calls import canonical_response
from chime_tap.spy import EXACT, Spy

HOST = "127.0.0.1:9000"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
BASE = f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions"
PEOPLE = ["+12065550100", "+14015550101"]
DAY = "2026-12-02T08:00:00.000Z"


def _session(sid: str, updated: str = DAY) -> dict:
    return {
        "VoiceConnectorId": CONNECTOR,
        "ProxySessionId": sid,
        "Status": "Open",
        "Capabilities": ["Voice"],
        "CreatedTimestamp": DAY,
        "UpdatedTimestamp": updated,
    }


def _item(method: str, uri: str, body, status: int, answer) -> dict:
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": json.dumps(body) if body is not None else None,
            "headers": {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": json.dumps(answer) if answer is not None else ""},
        },
    }


def _create(sid: str) -> dict:
    asked = {"ParticipantPhoneNumbers": PEOPLE, "Capabilities": ["Voice"]}
    return _item("POST", BASE, asked, 201, {"ProxySession": _session(sid)})


def _list(*sids: str) -> dict:
    return _item("GET", BASE, None, 200, {"ProxySessions": [_session(s) for s in sids]})


def _get(path_sid: str, answer_sid: str, updated: str = DAY) -> dict:
    return _item(
        "GET", f"{BASE}/{path_sid}", None, 200, {"ProxySession": _session(answer_sid, updated)}
    )


def _baseline(tmp_path: Path, items: list[dict]) -> str:
    path = tmp_path / "base.yaml"
    with CassetteWriter(path) as w:
        for i in items:
            w.append(i)
    return str(path)


def _views(items: list[dict]) -> list[Interaction]:
    return [Interaction.from_dict(i, n) for n, i in enumerate(items)]


def _said(spy: Spy, live: list[dict]) -> list[tuple]:
    """Everything spy mode says of each call (what the recorder writes), then its exit line."""
    said = []
    for view in _views(live):
        c = spy.compare(view)
        said.append((c.baseline, c.match, c.summary(), c.comment(), c.meta()))
    return [*said, spy.summary()]


class _Unkept(Spy):
    """Spy mode with nothing kept: each body read and reduced anew, as diff does."""

    def _kept(self, body):
        return None

    def _response(self, raw, labels):
        return canonical_response(raw, labels.get)


def test_an_answer_seen_again_after_its_session_was_created_is_reduced_again(tmp_path):
    base = _baseline(tmp_path, [_list("s-base"), _create("s-base"), _list("s-base")])
    spy = Spy([base], HostPolicy([HOST]))
    live = [_list("s-live"), _create("s-live"), _list("s-live")]
    first, create, again = (spy.compare(v) for v in _views(live))
    assert [(d.kind, d.what, d.value_a, d.value_b) for d in first.differences] == [
        ("member changed", "/ProxySessions/*/ProxySessionId", '"s-base"', '"s-live"')
    ]
    assert (create.match, create.differences) == (EXACT, [])
    # the same bytes as the first List on each side, their session now ps-1 on both
    assert (again.baseline, again.match, again.differences) == ("base.yaml #2", EXACT, [])


def test_the_same_bytes_on_both_sides_are_reduced_with_each_sides_labels(tmp_path):
    base = _baseline(tmp_path, [_create("s-base"), _get("s-base", "s-base")])
    spy = Spy([base], HostPolicy([HOST]))
    live = [_create("s-live"), _get("s-live", "s-base")]  # the live Get names the baseline's id
    assert live[1]["response"]["body"] == _get("s-base", "s-base")["response"]["body"]
    _, get = (spy.compare(v) for v in _views(live))
    assert (get.baseline, get.match) == ("base.yaml #1", EXACT)
    assert [(d.kind, d.what, d.value_a, d.value_b) for d in get.differences] == [
        ("member changed", "/ProxySession/ProxySessionId", '"ps-1"', '"s-base"')
    ]


def _workloads() -> list[tuple[list[dict], list[dict]]]:
    """(baseline, live) pairs: the two above, Gets of many sessions answering the same bytes
    (the benchmark's), a changed answer among them, a body not JSON, and empty answers."""
    same = [_get(f"g-{n}", "s-fixed") for n in range(12)]
    changed = [dict(i) for i in same]
    changed[5] = _get("g-5", "s-fixed", updated="2026-12-02T08:00:30.000Z")  # 30 s later
    not_json = _item("GET", f"{BASE}/x", None, 200, None)
    not_json["response"]["body"]["string"] = "<html>busy</html>"
    gone = _item("DELETE", f"{BASE}/g-1", None, 204, None)
    return [
        ([_list("s-base"), _create("s-base"), _list("s-base")],
         [_list("s-live"), _create("s-live"), _list("s-live")]),
        ([_create("s-base"), _get("s-base", "s-base")],
         [_create("s-live"), _get("s-live", "s-base")]),
        ([_create("s-base"), *same, not_json, gone, gone, _get("s-base", "s-base")],
         [_create("s-live"), *changed, not_json, gone, gone, _get("s-live", "s-live"),
          _get("s-live", "s-live")]),
    ]  # fmt: skip


@pytest.mark.parametrize("kept_answers, kept_body", [(1024, 4096), (2, 4096), (1024, 100)])
@pytest.mark.parametrize("n", range(3))
def test_keeping_answers_changes_nothing_spy_mode_says(
    tmp_path, monkeypatch, n, kept_answers, kept_body
):
    """Against spy mode that keeps nothing; also with room for 2 answers (the memo emptied
    over and over) and with every answer's body too long to keep."""
    monkeypatch.setattr(spy_module, "KEPT_ANSWERS", kept_answers)
    monkeypatch.setattr(spy_module, "KEPT_BODY", kept_body)
    baseline, live = _workloads()[n]
    path = _baseline(tmp_path, baseline)
    kept = Spy([path], HostPolicy([HOST]))
    said = _said(kept, live)
    assert said == _said(_Unkept([path], HostPolicy([HOST])), live)
    assert len(kept._answers) <= kept_answers
    assert all(len(body or b"") <= kept_body for body in kept._answers)
