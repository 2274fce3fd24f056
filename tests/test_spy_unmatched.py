"""Spy mode's exit summary accounts for the baseline calls no live call was compared with.

The baseline and the live sequence are scripted here; what the summary must say follows from
the script:

baseline  #0 Create -> 201   #1 Update [Voice] -> 201   #2 Get nope -> 404   #3 Delete -> 204
live      Create (#0, exact)
          Update [SMS] (#1, the closest: the answer's Capabilities differ)
          Update [Voice] (#1 again, exact: replay's index had not played it)
          Delete (#3, exact)

So 4 calls compared, 1 with differences, none without a counterpart, and one baseline call,
#2, compared with nothing: counted once though #1 was compared twice (a count of compared
calls taken from the baseline's size would say 0).
"""

from __future__ import annotations

import json
from pathlib import Path

from chime_tap.cassettes.format import Interaction
from chime_tap.spy import CLOSEST, EXACT, Spy

CONNECTOR = "abcdef1ghij2klmno3pqr4"
PATH = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
BASE = f"https://voice-chime.us-east-1.amazonaws.com{PATH}"
PEOPLE = ["+12065550100", "+14015550101"]


def _item(method: str, uri: str, body, status: int, answer, error: str | None = None) -> dict:
    headers = {"Content-Type": ["application/json"]}
    if error:
        headers["x-amzn-ErrorType"] = [error]
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": json.dumps(body) if body is not None else None,
            "headers": {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": headers,
            "body": {"string": json.dumps(answer) if answer is not None else ""},
        },
    }


def _session(sid: str, capabilities: list[str]) -> dict:
    return {
        "ProxySession": {
            "VoiceConnectorId": CONNECTOR,
            "ProxySessionId": sid,
            "Status": "Open",
            "Capabilities": capabilities,
            "CreatedTimestamp": "2026-12-02T08:00:00.000Z",
            "UpdatedTimestamp": "2026-12-02T08:00:00.000Z",
        }
    }


def _create(sid: str) -> dict:
    body = {"ParticipantPhoneNumbers": PEOPLE, "Capabilities": ["Voice"]}
    return _item("POST", BASE, body, 201, _session(sid, ["Voice"]))


def _update(sid: str, capabilities: list[str]) -> dict:
    body = {"Capabilities": capabilities}
    return _item("POST", f"{BASE}/{sid}", body, 201, _session(sid, capabilities))


def _delete(sid: str) -> dict:
    return _item("DELETE", f"{BASE}/{sid}", None, 204, None)


def test_the_summary_counts_each_baseline_call_left_uncompared_once(tmp_path: Path):
    missing = {"Code": "NotFound", "Message": "no session nope"}
    baseline = [
        _create("s-base"),
        _update("s-base", ["Voice"]),
        _item("GET", f"{BASE}/nope", None, 404, missing, error="NotFoundException"),
        _delete("s-base"),
    ]
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"version": 1, "interactions": baseline}))
    spy = Spy([str(path)])
    live = [
        _create("s-live"),
        _update("s-live", ["SMS"]),
        _update("s-live", ["Voice"]),
        _delete("s-live"),
    ]
    found = [spy.compare(Interaction.from_dict(item, n)) for n, item in enumerate(live)]
    assert [(c.baseline, c.match, c.differs) for c in found] == [
        ("base.json #0", EXACT, False),
        ("base.json #1", CLOSEST, True),
        ("base.json #1", EXACT, False),
        ("base.json #3", EXACT, False),
    ]
    assert spy.summary() == (
        "spy: 4 call(s) compared with baseline base.json: 1 with differences (0 without a "
        "recorded counterpart); 1 baseline call(s) no live call was compared with: "
        f"base.json #2 GET {PATH}/nope -> 404"
    )


def test_every_baseline_call_compared_says_none_left(tmp_path: Path):
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"version": 1, "interactions": [_create("s-base")]}))
    spy = Spy([str(path)])
    spy.compare(Interaction.from_dict(_create("s-live"), 0))
    spy.compare(Interaction.from_dict(_create("s-again"), 1))  # a second Create: none left
    assert spy.summary() == (
        "spy: 2 call(s) compared with baseline base.json: 1 with differences (1 without a "
        "recorded counterpart); 0 baseline call(s) no live call was compared with"
    )
