"""chime-tap check: recorded calls against a botocore model, cassette age, the recording SDK.

The lifecycle (recorded with real boto3 through `chime-tap record`) is, in order: #0 Create
(Name "demo", Capabilities Voice+SMS), #1 Get (answer: Voice+SMS), #2 Update (Capabilities
Voice, ExpiryMinutes 30), #3 Get (Voice), #4 List (status=Open), #5 Delete, #6 Get (404).
What each model change must find follows from that script, not from the checker.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import botocore
import pytest
from test_vcr_config import record_lifecycle

from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.cli import main
from chime_tap.process import chime_tap_argv

MODELS = Path(__file__).resolve().parent / "data" / "botocore-model"
CURRENT = MODELS / "chime-sdk-voice-current.json"
CHANGED = MODELS / "chime-sdk-voice-changed.json"
HOST = "https://voice-chime.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory) -> Path:
    cassette, _ = record_lifecycle(tmp_path_factory.mktemp("recorded"))
    return cassette


def check(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def _first_recorded_day(cassette: Path) -> str:
    from chime_tap.cassettes.reader import load_cassette

    return min(i["chime_tap"]["recorded_at"] for i in load_cassette(cassette)["interactions"])[:10]


def test_a_fresh_recording_fits_botocores_current_model_and_names_its_sdk(lifecycle, capsys):
    code, out, err = check(capsys, lifecycle)
    assert code == 0, (out, err)
    sdk = f"Boto3/{boto3.__version__} (Botocore/{botocore.__version__})"
    assert out == [
        f"{lifecycle}: recorded by {sdk}; since {_first_recorded_day(lifecycle)} (0 days ago, from recorded_at)"
    ]
    assert err == [
        f"7 interaction(s) in 1 input(s) checked against botocore {botocore.__version__} "
        "chime-sdk-voice (API 2022-08-03): OK"
    ]
    # The cut-down fixture is botocore's model for these calls: it finds nothing either.
    assert check(capsys, lifecycle, "--model", CURRENT)[0] == 0


def test_a_removed_member_and_a_removed_enum_value_are_found_where_they_were_recorded(
    lifecycle, capsys
):
    code, out, err = check(capsys, lifecycle, "--model", CHANGED)
    assert code == 1
    found = sorted(line for line in out if " #" in line)
    assert found == sorted(
        [
            f"{lifecycle} #0 CreateProxySession: request member /Name = 'demo' is not in the "
            "model's input any more",
            f"{lifecycle} #0 CreateProxySession: request value /Capabilities/1 = 'SMS' is no "
            "longer one of Capability's: Voice",
            f"{lifecycle} #0 CreateProxySession: response value /ProxySession/Capabilities/1 = "
            "'SMS' is no longer one of Capability's: Voice",
            f"{lifecycle} #1 GetProxySession: response value /ProxySession/Capabilities/1 = "
            "'SMS' is no longer one of Capability's: Voice",
        ]
    )
    assert err[-1].endswith("(API 2022-08-03): 4 finding(s)")


def _variant(tmp_path: Path, change) -> Path:
    doc = json.loads(CURRENT.read_text())
    change(doc)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc))
    return path


def _require_name(doc):
    doc["shapes"]["UpdateProxySessionRequest"]["required"].append("Name")
    doc["shapes"]["UpdateProxySessionRequest"]["members"]["Name"] = {
        "shape": "ProxySessionNameString"
    }


def _move_delete(doc):
    doc["operations"]["DeleteProxySession"]["http"]["requestUri"] = (
        "/voice-connectors/{voiceConnectorId}/sessions/{proxySessionId}"
    )


def _drop_status(doc):
    del doc["shapes"]["ListProxySessionsRequest"]["members"]["Status"]


def _drop_list(doc):
    del doc["operations"]["ListProxySessions"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_require_name, ["#2 UpdateProxySession: the model now requires Name (body); the recorded call has none"]),
        (
            _move_delete,
            ["#5 DeleteProxySession: recorded as DELETE /voice-connectors/*; the model now says "
             "DELETE /voice-connectors/{voiceConnectorId}/sessions/{proxySessionId}"],
        ),
        (_drop_status, ["#4 ListProxySessions: query parameter status='Open' is not in the model's input any more"]),
        (_drop_list, ["#4 ListProxySessions: the model has no operation ListProxySessions any more"]),
    ],
)  # fmt: skip
def test_each_kind_of_api_change_is_found_on_the_calls_it_touches(
    lifecycle, capsys, tmp_path, change, expected
):
    code, out, _ = check(capsys, lifecycle, "--model", _variant(tmp_path, change))
    assert code == 1
    found = [line.removeprefix(f"{lifecycle} ") for line in out if " #" in line]
    assert len(found) == len(expected), found
    for line, pattern in zip(found, expected, strict=True):
        assert fnmatch.fnmatchcase(line, pattern), line


def _foreign(path: Path, user_agent: str | None) -> Path:
    """A cassette with no chime-tap metadata (as vcrpy writes them), one GetProxySession."""
    headers = {"User-Agent": [user_agent]} if user_agent else {}
    item = make_interaction(
        method="GET",
        uri=f"{HOST}/voice-connectors/abc/proxy-sessions/ps-1",
        request_headers=headers,
        request_body=None,
        status=200,
        reason="OK",
        response_headers={},
        response_body=json.dumps({"ProxySession": {"ProxySessionId": "ps-1", "Status": "Open"}}),
    )
    path.write_text(json.dumps({"version": 1, "interactions": [item]}))
    return path


def test_max_age_reads_the_file_time_of_a_foreign_cassette(tmp_path, capsys):
    path = _foreign(
        tmp_path / "old.json", "aws-cli/2.15.0 md/awscrt#0.19.19 ua/2.0 os/linux botocore/2.4.5"
    )
    hundred_days_ago = time.time() - 100 * 86400
    os.utime(path, (hundred_days_ago, hundred_days_ago))
    code, out, err = check(capsys, path, "--max-age", "90d")
    assert code == 1
    assert out[0].startswith(f"{path}: recorded by aws-cli/2.15.0 (botocore/2.4.5); since ")
    assert "(100 days ago, from file time)" in out[0]
    assert out[1] == f"{path}: older than --max-age 90d; record it again"
    assert err == [
        f"1 interaction(s) in 1 input(s) checked against botocore {botocore.__version__} "
        "chime-sdk-voice (API 2022-08-03): 1 cassette(s) older than 90d"
    ]
    assert check(capsys, path, "--max-age", "15w")[0] == 0  # 105 days


def test_max_age_reads_recorded_at_the_oldest_call_first(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path)
    for when in ("2026-01-05T00:00:00Z", "2020-01-01T00:00:00Z"):
        item = json.loads(_foreign(tmp_path / "x.json", None).read_text())["interactions"][0]
        item["chime_tap"] = {"recorded_at": when}
        writer.append(item)
    writer.close()
    code, out, _ = check(capsys, path, "--max-age", "1d", "--format", "json")
    doc = json.loads("\n".join(out))
    assert code == 1
    (cassette,) = doc["cassettes"]
    assert cassette["recorded_since"] == "2020-01-01T00:00:00+00:00"
    assert cassette["age_from"] == "recorded_at" and cassette["too_old"]
    assert cassette["recorded_by"] == ["unknown (no User-Agent)"]
    assert doc["findings"] == [] and doc["api_version"] == "2022-08-03"


def test_json_lists_the_findings(lifecycle, capsys):
    code, out, _ = check(capsys, lifecycle, "--model", CHANGED, "--format", "json")
    doc = json.loads("\n".join(out))
    assert code == 1
    assert sorted((f["index"], f["kind"], f["pointer"]) for f in doc["findings"]) == [
        (0, "enum-value-gone", "request/Capabilities/1"),
        (0, "enum-value-gone", "response/ProxySession/Capabilities/1"),
        (0, "member-removed", "request/Name"),
        (1, "enum-value-gone", "response/ProxySession/Capabilities/1"),
    ]


def _one_line_exit_2(argv: list[str]) -> str:
    done = subprocess.run(
        chime_tap_argv(["check", *argv]), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert lines and lines[0].startswith("chime-tap") and "Traceback" not in done.stderr, (
        done.stderr
    )
    return done.stderr


def test_bad_input_is_one_line_and_exit_2(lifecycle, tmp_path):
    assert "--max-age: 'soon' is not an age" in _one_line_exit_2(
        [str(lifecycle), "--max-age", "soon"]
    )
    none = tmp_path / "none.json"  # said as every command says a missing input
    assert (
        _one_line_exit_2([str(lifecycle), "--model", str(none)])
        == f"chime-tap: {none}: no such file\n"
    )
    assert _one_line_exit_2([str(lifecycle), "--model", str(tmp_path)]) == (
        f"chime-tap: {tmp_path}: is a directory, not a file\n"
    )
    (tmp_path / "cut.json").write_text("{")
    assert "cut.json: cannot read the model (Expecting" in _one_line_exit_2(
        [str(lifecycle), "--model", str(tmp_path / "cut.json")]
    )
    (tmp_path / "m.json").write_text('{"a": 1}')
    assert "not a botocore service model" in _one_line_exit_2(
        [str(lifecycle), "--model", str(tmp_path / "m.json")]
    )
    err = _one_line_exit_2([str(tmp_path / "missing.yaml")])
    assert len(err.strip().splitlines()) == 2  # the file, then the summary line
    bad = copy.deepcopy(json.loads(CURRENT.read_text()))
    bad["operations"] = []
    (tmp_path / "ops.json").write_text(json.dumps(bad))
    assert "not a botocore service model" in _one_line_exit_2(
        [str(lifecycle), "--model", str(tmp_path / "ops.json")]
    )
