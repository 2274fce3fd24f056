"""``chime-tap validate`` through real subprocesses: output, --format json, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "cassettes" / "reference-examples.yaml"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
ITEM = f"/voice-connectors/{CONNECTOR}/proxy-sessions/s-1"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", "validate", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def exchange(
    method: str, uri: str, request_body: Any, status: int, response_body: Any
) -> dict[str, Any]:
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": None if request_body is None else json.dumps(request_body),
            "headers": {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": "" if response_body is None else json.dumps(response_body)},
        },
    }


def write(path: Path, interactions: list[dict[str, Any]]) -> Path:
    doc = {"version": 1, "interactions": interactions}
    path.write_text(json.dumps(doc) if path.suffix == ".json" else yaml.safe_dump(doc))
    return path


@pytest.fixture
def faulty(tmp_path: Path) -> Path:
    """Three interactions: an Update answered 200, a valid Delete, a Create with ExpiryMinutes 0."""
    host = "https://voice-chime.us-east-1.amazonaws.com"
    return write(
        tmp_path / "faulty.yaml",
        [
            exchange("POST", host + ITEM, {"Capabilities": ["Voice"]}, 200, {"ProxySession": {}}),
            exchange("DELETE", host + ITEM, None, 204, None),
            exchange(
                "POST",
                f"{host}/voice-connectors/{CONNECTOR}/proxy-sessions",
                {
                    "ParticipantPhoneNumbers": ["+12065550100", "+14015550101"],
                    "Capabilities": ["Voice"],
                    "ExpiryMinutes": 0,
                },
                201,
                {"ProxySession": {}},
            ),
            exchange("GET", "https://example.com/", None, 500, None),  # not a proxy-session call
        ],
    )


def assert_one_line_error(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("chime-tap:")]
    assert errors, stderr
    for needle in needles:
        assert any(needle in line for line in errors), stderr


def test_reference_examples_are_valid(tmp_path: Path) -> None:
    result = run(REFERENCE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == "2 proxy-session interaction(s) checked in 1 cassette(s): OK"


def test_json_cassettes_are_read_too(tmp_path: Path) -> None:
    doc = yaml.safe_load(REFERENCE.read_text())
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(doc))
    result = run(path, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_violations_are_listed_with_index_and_operation(tmp_path: Path, faulty: Path) -> None:
    result = run(faulty, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        f"{faulty}:0 UpdateProxySession: status: UpdateProxySession answers 201 on success, got 200",
        f"{faulty}:2 CreateProxySession: request body /ExpiryMinutes: 0 is less than the minimum of 1",
    ]
    assert (
        "3 proxy-session interaction(s) checked in 1 cassette(s): 2 violation(s)" in result.stderr
    )


def test_json_format_lists_objects(tmp_path: Path, faulty: Path) -> None:
    result = run(faulty, "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["cassette"], r["index"], r["operation"], r["part"], r["pointer"]) for r in rows] == [
        (str(faulty), 0, "UpdateProxySession", "status", ""),
        (str(faulty), 2, "CreateProxySession", "request body", "/ExpiryMinutes"),
    ]
    assert all(r["message"] for r in rows)


def test_several_cassettes_one_report(tmp_path: Path, faulty: Path) -> None:
    result = run(REFERENCE, faulty, "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert {r["cassette"] for r in json.loads(result.stdout)} == {str(faulty)}


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("missing.yaml", None, "no such file"),
        ("empty.yaml", b"", "empty file"),
        ("broken.yaml", b"version: 1\ninteractions: [\n  - {request: \n", "not valid YAML"),
        ("broken.json", b'{"version": 1, "interactions": [', "not valid JSON"),
        ("list.yaml", b"- 1\n- 2\n", "not a vcrpy cassette"),
        ("binary.yaml", b"\x00\x01\x02\xff" * 64, "binary"),
        ("v2.yaml", b"version: 2\ninteractions: []\n", "version 2"),
        (
            "evil.yaml",
            b"version: 1\ninteractions: !!python/object/apply:os.system ['true']\n",
            "safe loader",
        ),
    ],
)
def test_unusable_input_exits_2_with_a_one_line_error(
    tmp_path: Path, name: str, content: bytes | None, needle: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = run(path, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, str(path), needle)
    assert "OK" not in result.stderr


def test_unusable_input_among_good_ones_still_exits_2_and_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run(REFERENCE, missing, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, f"{missing}: no such file")
    summary = result.stderr.strip().splitlines()[-1]
    assert (
        summary == "2 proxy-session interaction(s) checked in 1 cassette(s): 1 unusable cassette(s)"
    )


def test_unusable_input_wins_over_violations_and_json_stays_parsable(
    tmp_path: Path, faulty: Path
) -> None:
    result = run(faulty, tmp_path / "gone.json", "--format", "json", cwd=tmp_path)
    assert result.returncode == 2
    assert len(json.loads(result.stdout)) == 2
    assert_one_line_error(result.stderr, "gone.json")


def test_directory_is_unusable(tmp_path: Path) -> None:
    result = run(tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "directory")


def test_hosts_option_names_a_loopback_endpoint(tmp_path: Path) -> None:
    local = write(
        tmp_path / "local.yaml",
        [
            exchange(
                "POST",
                f"http://127.0.0.1:9000{ITEM}",
                {"Capabilities": []},
                200,
                {"ProxySession": {}},
            )
        ],
    )
    unnamed = run(local, cwd=tmp_path)
    assert unnamed.returncode == 0 and "0 proxy-session interaction(s)" in unnamed.stderr
    named = run(local, "--hosts", "127.0.0.1:9000=legacy", cwd=tmp_path)
    assert named.returncode == 1
    assert "UpdateProxySession: status" in named.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--hosts", "127.0.0.1:99999"), "bad port"),
        (("--format", "xml"), "invalid choice"),
        ((), "required"),
    ],
)
def test_usage_mistakes_exit_2_in_one_line(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    result = run(REFERENCE, *args, cwd=tmp_path) if args else run(cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr
