"""Hostile cassettes: every reader refuses the same crafted files with the same one line, in
bounded memory, and reads only regular files, only so much of them.

Each crafted cassette of the bad-input corpus goes to the four readers (validate's
``load_cassette``, the report loader, replay's index, the vcrpy persister) in a child process
whose address space is capped at 512 MiB and that must finish within its timeout; the figures
(peak RSS, CPU time) go to the run's summary. The billion-laughs file took 132 s and 5.7 GB in
``validate`` before its MemoryError.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chime_tap.cassettes.reader import (
    MAX_INPUT_BYTES,
    load_cassette,
    parse_cassette,
    read_input,
)
from chime_tap.errors import CassetteError, InputError

DATA = Path(__file__).parent / "data" / "bad-input"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
MEMORY_CAP = 512 << 20
# The crafted cassettes of issue 15 (each under 1 KB), by class.
CRAFTED = {
    "billion-laughs-9-levels.yaml": "an alias (*name) of the node at line 2",
    "alias-bomb.yaml": "an alias (*name) of the node at line 2",
    "alias-bomb-in-metadata.yaml": "an alias (*name) of the node at line 2",
    "scalar-alias.yaml": "an alias (*name) of the node at line 4",
    "merge-key-bomb.yaml": "a merge key (<<)",
    "merge-key.yaml": "a merge key (<<)",
    "duplicate-key.yaml": "duplicate key 'method'",
    "duplicate-key.json": "duplicate key 'status'",
    "version-true.yaml": "version True is not supported",
    "method-int.yaml": "request method 42 is not an HTTP method",
    "uri-list.yaml": "request uri ['a', 'b'] is not a string",
    "uri-broken-ipv6.yaml": "is not a URL (Invalid IPv6 URL)",
    "uri-bad-port.yaml": "is not a URL (Port out of range",
    "response-body-int.yaml": "response body 42 is neither text nor bytes",
    "response-body-map.yaml": "response body {'ProxySessions': []} is neither text nor bytes",
    "response-body-not-a-mapping.yaml": "is not a mapping with a 'string'",
    "request-body-list.yaml": "request body ['Voice'] is neither text nor bytes",
    "headers-nested.yaml": "is not a header",
    "status-message-map.yaml": "status message {'a': 'b'} is not text",
    "metadata-not-a-mapping.yaml": "chime_tap metadata [1, 2, 3] is not a mapping",
    "torn-last-interaction.yaml": "interaction 1 is torn",
}

_READERS = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    from chime_tap.errors import ChimeTapError
    from chime_tap.cassettes.reader import load_cassette
    from chime_tap.analysis.load import read_interactions
    from chime_tap.playback import build_index
    from chime_tap.vcr_persister import ChimePersister
    path, names = sys.argv[1], sys.argv[2:]
    readers = {{
        "validate": lambda: load_cassette(path),
        "report": lambda: read_interactions(path),
        "replay": lambda: build_index([path]),
        "vcrpy": lambda: ChimePersister.load_cassette(path, None),
    }}
    said = {{}}
    started = time.process_time()
    for name, read in readers.items():
        if names and name not in names:
            continue
        try:
            read()
            said[name] = None
        except ChimeTapError as e:
            said[name] = str(e)
    cpu = time.process_time() - started
    status = open("/proc/self/status").read().split("VmHWM:")[1]  # this process's own peak
    print(json.dumps({{"said": said, "peak": int(status.split()[0]) * 1024, "cpu": cpu}}))
    """
).format(cap=MEMORY_CAP)


def _readers(path: Path, *names: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _READERS, str(path), *names],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_crafted_case_is_in_the_corpus() -> None:
    for name, text in CRAFTED.items():
        assert (DATA / "cassettes" / name).stat().st_size < 1024, name
        assert MANIFEST["cassettes"][name]["exit"] == 2
        assert text in MANIFEST["cassettes"][name]["stderr"] or MANIFEST["cassettes"][name][
            "stderr"
        ].endswith(text.split("'")[-1])


@pytest.mark.parametrize("name", list(CRAFTED))
def test_every_reader_refuses_a_crafted_cassette_alike_in_bounded_memory(name, figures) -> None:
    path = DATA / "cassettes" / name
    got = _readers(path)
    said = got["said"]
    # One line, the same from every reader: validate's, the report's (InputError), replay's and
    # the vcrpy persister's.
    assert said["validate"] is not None and CRAFTED[name] in said["validate"], said
    assert said["validate"].startswith(f"{path}: ")
    assert "\n" not in said["validate"]
    assert set(said.values()) == {said["validate"]}, said
    assert got["peak"] < MEMORY_CAP
    figures.append(
        f"hostile cassette {name} ({path.stat().st_size} bytes): refused by all 4 readers, "
        f"peak RSS {got['peak'] / 2**20:.0f} MiB, {got['cpu']:.2f} s CPU"
    )


def test_a_good_cassette_still_reads_in_every_reader() -> None:
    assert set(_readers(REFERENCE)["said"].values()) == {None}


# --- the shape check: what each kind of value may be -----------------------------------------

GOOD = {
    "request": {
        "method": "GET",
        "uri": "https://voice-chime.us-east-1.amazonaws.com:443/voice-connectors/c/proxy-sessions",
        "body": None,
        "headers": {"Host": ["voice-chime.us-east-1.amazonaws.com"], "Content-Length": [27]},
    },
    "response": {
        "status": {"code": 200, "message": None},
        "headers": {"Content-Type": "application/json"},
        "body": {"string": b"{}"},
    },
    "chime_tap": {"violations": ["request body: a string"]},
}


def _with(part: str, key: str, value: object) -> bytes:
    item = json.loads(json.dumps({**GOOD, "response": {**GOOD["response"], "body": {}}}))
    item["response"]["body"] = {"string": "{}"}
    item[part][key] = value
    return json.dumps({"version": 1, "interactions": [item]}).encode()


def test_what_real_cassettes_hold_passes_the_shape_check() -> None:
    import yaml

    doc = {"version": 1, "interactions": [GOOD]}
    assert parse_cassette(yaml.safe_dump(doc).encode())["interactions"] == [GOOD]
    nested = _with("request", "body", {"string": '{"Capabilities": []}'})  # some writers nest it
    assert parse_cassette(nested)


@pytest.mark.parametrize(
    ("part", "key", "value", "problem"),
    [
        ("request", "method", "", "request method '' is not an HTTP method"),
        ("request", "method", None, "request method None is not an HTTP method"),
        ("request", "method", ["GET"], "request method ['GET'] is not an HTTP method"),
        ("request", "uri", 7, "request uri 7 is not a string"),
        ("request", "uri", "voice-chime/x", "is not an http(s) URL with a host"),
        ("request", "uri", "ftp://h/x", "is not an http(s) URL with a host"),
        ("request", "uri", "http://h:port/x", "is not a URL (Port could not be cast"),
        ("request", "body", 1.5, "request body 1.5 is neither text nor bytes"),
        ("request", "body", {"a": 1}, "request body {'a': 1} is neither text nor bytes"),
        ("request", "headers", ["Host", "h"], "request headers ['Host', 'h'] are not a mapping"),
        ("request", "headers", {"A": {"b": 1}}, "request header 'A': {'b': 1} is not a header"),
        ("response", "headers", {"A": None}, "response header 'A': None is not a header"),
        ("response", "body", {"strung": ""}, "is not a mapping with a 'string'"),
        ("response", "body", {"string": True}, "response body True is neither text nor bytes"),
        ("response", "status", {"code": True}, "response without a status code"),
        ("response", "status", {"code": 200, "message": 3}, "status message 3 is not text"),
    ],
)
def test_each_wrong_type_is_one_line_naming_the_interaction(part, key, value, problem) -> None:
    with pytest.raises(CassetteError) as error:
        parse_cassette(_with(part, key, value), "c.json")
    assert str(error.value).startswith("c.json: interaction 0: ")
    assert problem in str(error.value)


@pytest.mark.parametrize("version", [True, 1.0, "1", None, 2])
def test_only_the_integer_version_1_is_a_cassette(version) -> None:
    doc = json.dumps({"version": version, "interactions": []}).encode()
    with pytest.raises(CassetteError, match="is not supported"):
        parse_cassette(doc, "c.json")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"version: 1\ninteractions: []\nversion: 1\n", "at line 3: duplicate key 'version'"),
        (b"version: 1\ninteractions: [{? [a] : 1}]\n", "unhashable key"),
        (
            b"version: 1\nx: &x {a: 1}\ninteractions: [*x]\n",
            "an alias (*name) of the node at line 2",
        ),
        (b"version: 1\ninteractions: &l [*l]\n", "an alias (*name) of the node at line 2"),
        (b"version: 1\ninteractions: []\ny: {!!merge a: {b: 1}}\n", "a merge key (<<)"),
        (b"version: 1\ninteractions: []\ny: {<<: {b: 1}}\n", "at line 3: a merge key (<<)"),
    ],
)
def test_yaml_that_no_recorder_writes_is_refused(text, problem) -> None:
    with pytest.raises(CassetteError) as error:
        parse_cassette(text, "c.yaml")
    assert str(error.value).startswith("c.yaml: refused YAML")
    assert problem in str(error.value)


def test_an_anchor_nobody_refers_to_is_harmless() -> None:
    assert parse_cassette(b"version: 1\nx: &x 1\ninteractions: []\n")["interactions"] == []


# --- special files and the read bound ---------------------------------------------------------


@pytest.fixture
def specials(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files that are no regular files, and files too big: (path, what the one line says)."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    sparse = tmp_path / "sparse-1GB.yaml"
    with open(sparse, "wb") as f:
        f.truncate(10**9)  # 1 GB of holes: nothing on disk, NUL bytes when read
    holes = tmp_path / "sparse-100MB.yaml"
    with open(holes, "wb") as f:
        f.truncate(100 * 10**6)
    sock_path = tmp_path / "s.yaml"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    return {
        "fifo": (fifo, "is a FIFO (named pipe), not a regular file"),
        "dev-zero-symlink": (zero, "is a character device, not a regular file"),
        "socket": (sock_path, "is a socket, not a regular file"),
        "sparse-1GB": (sparse, "more than 512 MiB, the most chime-tap reads of a file; not read"),
        "sparse-100MB": (holes, "binary data, not a cassette"),
    }


@pytest.mark.parametrize(
    "case", ["fifo", "dev-zero-symlink", "socket", "sparse-1GB", "sparse-100MB"]
)
def test_special_and_huge_files_are_refused_before_they_are_read(specials, case, figures) -> None:
    path, line = specials[case]
    # The vcrpy persister tells vcrpy "no cassette" for anything but a regular file before it
    # reads (chime_tap/vcr_persister.py, not this module's): left out here.
    got = _readers(path, "validate", "report", "replay")
    assert set(got["said"]) == {"validate", "report", "replay"}
    for said in got["said"].values():  # the report adds ", flow file or HAR" to "not a cassette"
        assert said is not None and said.startswith(f"{path}: {line}"), got["said"]
    figures.append(
        f"special file {case}: refused by validate, report and replay, peak RSS {got['peak'] / 2**20:.0f} MiB, "
        f"{got['cpu']:.2f} s CPU"
    )


@pytest.mark.parametrize("command", ["validate", "report"])
def test_the_commands_refuse_a_fifo_in_one_line(specials, tmp_path, command) -> None:
    """A FIFO hung validate and report: now one line (the timeout would say if it hangs)."""
    path, line = specials["fifo"]
    result = subprocess.run(
        [sys.executable, "-m", "chime_tap", command, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{path}: {line}" in result.stderr


def test_read_input_is_bounded_and_takes_a_head_check(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"x" * 1000)
    assert read_input(path, limit=1000) == b"x" * 1000
    with pytest.raises(InputError, match="more than 999 bytes, the most chime-tap reads"):
        read_input(path, InputError, limit=999)
    seen: list[bytes] = []
    assert read_input(path, head=seen.append) == b"x" * 1000
    assert seen == [b"x" * 1000]  # the first bytes, up to 8 KiB

    def refuse(head: bytes) -> None:
        raise InputError("no")

    with pytest.raises(InputError, match=r"^no$"):
        read_input(path, head=refuse)
    assert MAX_INPUT_BYTES == 512 * 1024 * 1024


def test_proc_files_report_size_0_and_are_still_read_to_the_bound() -> None:
    data = read_input("/proc/self/status", InputError)
    assert b"VmHWM" in data
    with pytest.raises(InputError, match="more than 100 bytes"):
        read_input("/proc/self/status", InputError, limit=100)


def test_a_cassette_symlinked_to_a_regular_file_still_loads(tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(REFERENCE)
    assert len(load_cassette(link)["interactions"]) == 2
