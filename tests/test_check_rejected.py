"""chime-tap check on deliberate bad calls: a request the service rejected is no staleness.

The cassette is scripted by hand, and what `check` must say of it is written from the script:

- #0 CreateProxySession (Voice, SMS) answered 201: fits the model.
- #1 the simulator's clock moved by curl: a control call, not a proxy-session call.
- #2 CreateProxySession with Capabilities ["Fax"], answered 400 BadRequestException.
- #3 ListProxySessions with max-results=500, answered 400 BadRequestException.
- #4 GetProxySession of an unknown id, answered 404: a valid request, checked as any.

Fax was never a Capability and the service said so when it was recorded: nothing here went
stale. With #5 added, a Create with Fax that the service *accepted* (201), the same value is a
finding, since that recording says the API took it.
"""

from __future__ import annotations

import json
from pathlib import Path

from chime_tap.cli import main

MODEL = Path(__file__).resolve().parent / "data" / "botocore-model" / "chime-sdk-voice-current.json"
HOST = "https://voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
SESSIONS = f"{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions"
BOTO = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux Botocore/1.35.0"
PEOPLE = ["+12065550100", "+14015550101"]
BAD_REQUEST = {"x-amzn-ErrorType": ["BadRequestException"], "Content-Type": ["application/json"]}


def _call(method, uri, body, status, answer, *, agent=BOTO, headers=None):
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": json.dumps(body) if body is not None else None,
            "headers": {"User-Agent": [agent]},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": headers or {"Content-Type": ["application/json"]},
            "body": {"string": json.dumps(answer)},
        },
    }


def _session(capabilities):
    return {
        "ProxySession": {"ProxySessionId": "ps-1", "Status": "Open", "Capabilities": capabilities}
    }


def _create(capabilities):
    return {"ParticipantPhoneNumbers": PEOPLE, "Capabilities": capabilities}


def _rejected(message):
    return {"Code": "BadRequest", "Message": message}


NOT_FOUND = {"x-amzn-ErrorType": ["NotFoundException"], "Content-Type": ["application/json"]}
SCRIPT = [
    _call("POST", SESSIONS, _create(["Voice", "SMS"]), 201, _session(["Voice", "SMS"])),
    _call(
        "POST",
        "http://sim.chime-tap.invalid/clock/advance?seconds=360",
        None,
        200,
        {"offset_s": 360},
        agent="curl/7.88.1",
    ),
    _call(
        "POST",
        SESSIONS,
        _create(["Fax"]),
        400,
        _rejected("Fax: no such capability"),
        headers=BAD_REQUEST,
    ),
    _call(
        "GET",
        f"{SESSIONS}?max-results=500",
        None,
        400,
        _rejected("max-results above 100"),
        headers=BAD_REQUEST,
    ),
    _call(
        "GET",
        f"{SESSIONS}/nope",
        None,
        404,
        {"Code": "NotFound", "Message": "no session nope"},
        headers=NOT_FOUND,
    ),
]
ACCEPTED_FAX = _call("POST", SESSIONS, _create(["Fax"]), 201, _session(["Fax"]))


def _cassette(path: Path, interactions) -> Path:
    path.write_text(json.dumps({"version": 1, "interactions": interactions}))
    return path


def _check(capsys, *args):
    code = main(["check", *map(str, args), "--model", str(MODEL)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_calls_rejected_when_recorded_are_named_not_reported_stale(tmp_path, capsys):
    path = _cassette(tmp_path / "bad-calls.json", SCRIPT)
    code, out, err = _check(capsys, path)
    assert code == 0, (out, err)
    assert out[0].startswith(f"{path}: recorded by Boto3/1.35.0 (Botocore/1.35.0); since ")
    assert out[1:] == [
        f"{path}: 2 call(s) rejected as bad requests when recorded (400 BadRequestException), "
        "so no staleness; their requests not checked: #2, #3"
    ]
    assert err[-1].endswith(": OK (2 rejected bad request(s) not checked)")


def test_the_same_value_accepted_when_recorded_is_still_a_finding(tmp_path, capsys):
    path = _cassette(tmp_path / "accepted.json", [*SCRIPT, ACCEPTED_FAX])
    code, out, err = _check(capsys, path)
    assert code == 1
    assert [line for line in out if " #" in line and "rejected" not in line] == [
        f"{path} #5 CreateProxySession: request value /Capabilities/0 = 'Fax' is no longer one "
        "of Capability's: Voice, SMS",
        f"{path} #5 CreateProxySession: response value /ProxySession/Capabilities/0 = 'Fax' is "
        "no longer one of Capability's: Voice, SMS",
    ]
    assert err[-1].endswith(": 2 finding(s) (2 rejected bad request(s) not checked)")


def test_json_lists_the_rejected_calls_and_only_proxy_session_clients(tmp_path, capsys):
    path = _cassette(tmp_path / "bad-calls.json", SCRIPT)
    code, out, _ = _check(capsys, path, "--format", "json")
    (cassette,) = json.loads("\n".join(out))["cassettes"]
    assert code == 0
    assert cassette["rejected"] == [2, 3]
    assert cassette["recorded_by"] == ["Boto3/1.35.0 (Botocore/1.35.0)"]  # not curl's
