"""What the proxy exposes: the address it listens on (read from the kernel's socket table, never
probed over the network) and the credentials it could leak to disk (the session-wide check)."""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path

import pytest
from conftest import find_secrets

from support.procs import CHUNK, SECRETS, ProxyProcess, chime_tap, secrets_in_file

TCP_LISTEN = "0A"


def _decode_address(hex_addr: str) -> tuple[str, int]:
    """``0100007F:1F90`` (as /proc/net/tcp{,6} writes it) -> ("127.0.0.1", 8080)."""
    host_hex, port_hex = hex_addr.split(":")
    raw = bytes.fromhex(host_hex)
    # The kernel prints the address as 32-bit words in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(port_hex, 16)


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process has in LISTEN state."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] == TCP_LISTEN and fields[9] in inodes:
                found.add(_decode_address(fields[1]))
    return found


def test_decode_address_reads_the_kernel_format():
    assert _decode_address("0100007F:1F90") == ("127.0.0.1", 8080)
    assert _decode_address("00000000:0050") == ("0.0.0.0", 80)
    assert _decode_address("00000000000000000000000001000000:1F90") == ("::1", 8080)
    assert _decode_address("00000000000000000000000000000000:0016") == ("::", 22)


REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
# Every command that starts a proxy, with the arguments it needs.
COMMANDS = {
    "simulate": [],
    "record": ["--cassette", "{tmp}/exposure.yaml"],
    "replay": ["--cassette", str(REFERENCE)],
}


def _start(command: str, tmp_path: Path, *extra: str) -> ProxyProcess:
    args = [a.format(tmp=tmp_path) for a in COMMANDS[command]]
    return chime_tap([command, *args, *extra], confdir=tmp_path / "confdir")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_listens_on_loopback_only_by_default(tmp_path, command):
    with _start(command, tmp_path) as proxy:
        sockets = listening_sockets(proxy.proc.pid)
        assert sockets == {("127.0.0.1", proxy.port)}, proxy.output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_listen_host_is_honoured_when_asked(tmp_path, command):
    with _start(command, tmp_path, "--listen-host", "0.0.0.0") as proxy:
        sockets = listening_sockets(proxy.proc.pid)
        assert sockets == {("0.0.0.0", proxy.port)}, proxy.output


# --- the session-wide secrets check (tests/conftest.py) ---------------------------------------


def test_secret_scan_finds_a_planted_secret(tmp_path):
    clean = tmp_path / "clean.yaml"
    clean.write_text("Authorization: REDACTED\n")
    nested = tmp_path / "logs" / "deep"
    nested.mkdir(parents=True)
    leak = nested / "proxy.log"
    leak.write_bytes(b"\x00binary\xff" + SECRETS[2].encode() + b"\n")
    try:
        assert find_secrets([tmp_path]) == [(leak, SECRETS[2])]
        assert find_secrets([clean]) == []
        # Only files written since the session started count.
        assert find_secrets([tmp_path], since=leak.stat().st_mtime + 10) == []
    finally:
        leak.unlink()
    assert find_secrets([tmp_path]) == []


@pytest.mark.parametrize("where", ["after a hole", "across a read chunk", "at the end"])
def test_secret_scan_reads_past_holes_and_chunk_edges(tmp_path, where):
    """The scan skips a sparse file's holes, and still finds a secret anywhere there is data."""
    secret = SECRETS[1].encode()
    path = tmp_path / "sparse.yaml"
    with open(path, "wb") as f:
        f.write(b"x" * (2 * CHUNK))  # data, not a hole, on both sides of the first chunk's end
        at = {
            "after a hole": 3 * CHUNK + 12345,
            "across a read chunk": CHUNK - len(secret) // 2,
            "at the end": 5 * CHUNK - len(secret),
        }[where]
        f.seek(at)
        f.write(secret)
        f.truncate(5 * CHUNK)
    assert secrets_in_file(path) == [SECRETS[1]]
    assert find_secrets([tmp_path]) == [(path, SECRETS[1])]
    path.unlink()


def test_session_check_fails_a_run_that_leaks(pytester):
    """The real conftest, in an inner pytest run whose test writes a credential: the run fails."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(
        test_leak="""
        from support.procs import SECRETS

        def test_writes_a_credential(tmp_path):
            (tmp_path / "cassette.yaml").write_text("Authorization: " + SECRETS[0])
        """,
        test_clean="""
        def test_writes_nothing_secret(tmp_path):
            (tmp_path / "cassette.yaml").write_text("Authorization: REDACTED")
        """,
    )
    inner = pytester.path / "inner-basetemp"
    try:
        leaky = pytester.runpytest_inprocess("test_leak.py", f"--basetemp={inner}")
        leaky.assert_outcomes(passed=1, errors=1)
        assert "test credentials written to disk" in leaky.stdout.str()
        clean = pytester.runpytest_inprocess("test_clean.py", f"--basetemp={inner}")
        clean.assert_outcomes(passed=1)
    finally:
        # The inner run's files sit inside this session's basetemp: do not leak them outward.
        shutil.rmtree(inner, ignore_errors=True)
