"""What the proxy commands tell a user who got something wrong: one line, the flag they typed.

A port already in use (mitmproxy's own hint names a flag chime-tap does not take), a simulator
flag without the simulator, a cassette for forwarded calls that cannot be written, and the
messages an addon gives at run time, which must not name mitmproxy's option names to a user of
the command line.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import taddons, tflow

from chime_tap.addons.replay import ReplayServer
from chime_tap.addons.simulate import Simulator
from chime_tap.cassettes.reader import load_cassette
from chime_tap.hints import listen_failure

# mitmproxy 11's message for a port in use, as its proxy server logs it.
IN_USE = (
    "[Errno 98] HTTP(S) proxy failed to listen on 127.0.0.1:8092 with [Errno 98] error while "
    "attempting to bind on address ('127.0.0.1', 8092): address already in use\n"
    "Try specifying a different port by using `--mode regular@8094`."
)


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# --- a port in use -------------------------------------------------------------------------------


def test_listen_failure_in_chime_taps_words() -> None:
    assert listen_failure(IN_USE) == (
        "--listen-port 8092: 127.0.0.1:8092 is already in use; "
        "choose another port with --listen-port (0 picks a free one)"
    )
    denied = IN_USE.replace("98", "13").replace("address already in use", "permission denied")
    assert listen_failure(denied.replace("8092", "80")) == (
        "--listen-port 80: not allowed to listen on 127.0.0.1:80 (permission denied); "
        "choose a port above 1023 with --listen-port (0 picks a free one)"
    )
    other = (
        "[Errno 99] HTTP(S) proxy failed to listen on 10.9.9.9:8080 with [Errno 99] error while "
        "attempting to bind on address ('10.9.9.9', 8080): cannot assign requested address"
    )
    assert listen_failure(other) == (
        "--listen-host/--listen-port: cannot listen on 10.9.9.9:8080 "
        "(cannot assign requested address)"
    )
    assert listen_failure("Addon error: something else") is None


@pytest.mark.parametrize(
    "command",
    [["simulate"], ["replay", "--cassette", "{cassette}"], ["record", "--cassette", "{cassette}"]],
)
def test_a_port_in_use_is_one_line_naming_listen_port(tmp_path: Path, command: list[str]) -> None:
    cassette = tmp_path / "c.yaml"
    cassette.write_text("version: 1\ninteractions: []\n")
    args = [a.replace("{cassette}", str(cassette)) for a in command]
    with socket.socket() as held:  # the port this test holds open
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = run(*args, "--listen-port", str(port), "--confdir", str(tmp_path / "conf"))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"chime-tap: --listen-port {port}: 127.0.0.1:{port} is already in use; "
        "choose another port with --listen-port (0 picks a free one)"
    ]
    assert "--mode" not in out.stdout + out.stderr  # mitmproxy's hint names a flag we lack
    assert "recording to" not in out.stdout  # nothing is recorded by a proxy that never started
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.parametrize("name", ["new.yaml", "new.json"])
def test_record_that_cannot_listen_leaves_no_cassette_behind(tmp_path: Path, name: str) -> None:
    """A cassette the failed start created is removed; one that was there is kept as it was."""
    cassette, kept = tmp_path / name, tmp_path / "kept.yaml"
    kept.write_text("version: 1\ninteractions: []\n")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        for path in (cassette, kept):
            out = run("record", "--cassette", str(path), "--listen-port", str(port),
                      "--confdir", str(tmp_path / "conf"))  # fmt: skip
            assert out.returncode == 2, out.stderr
    assert not cassette.exists()
    assert kept.exists() and load_cassette(kept)["interactions"] == []


# --- simulator flags without the simulator ------------------------------------------------------


@pytest.fixture
def proxies_started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """run_proxy's keywords for every proxy a command would start (none is started)."""
    import chime_tap.proxy

    started: list[dict[str, Any]] = []

    def fake(addons: Any, **kw: Any) -> int:
        started.append({"addons": addons, **kw})
        return 0

    monkeypatch.setattr(chime_tap.proxy, "run_proxy", fake)
    return started


@pytest.mark.parametrize(
    "flag",
    [["--throttle-rate", "0.5"], ["--error-rate", "0.1"], ["--latency-ms", "5"], ["--seed", "3"]],
)
def test_a_simulator_flag_without_the_simulator_is_refused(
    cli, tmp_path: Path, proxies_started: list, flag: list[str]
) -> None:
    done = cli("record", "--cassette", tmp_path / "c.yaml", *flag)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"chime-tap: {flag[0]}: only with --upstream simulator (the service answers otherwise, "
        "and nothing is simulated)"
    ]
    assert proxies_started == []


def test_simulator_flags_reach_the_simulator(cli, tmp_path: Path, proxies_started: list) -> None:
    done = cli(
        "record", "--cassette", tmp_path / "c.yaml", "--upstream", "simulator",
        "--throttle-rate", "0.5", "--seed", "3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (started,) = proxies_started
    values = started["options"]
    assert values["chime_sim_throttle_rate"] == "0.5"
    assert values["chime_sim_seed"] == 3
    assert values["chime_sim_error_rate"] == "0"  # not given: the simulator's default
    assert [type(a).__name__ for a in started["addons"]] == ["Recorder", "Simulator"]


def test_record_connects_upstream_lazily_unless_told(
    cli, tmp_path: Path, proxies_started: list
) -> None:
    assert cli("record", "--cassette", tmp_path / "c.yaml").returncode == 0
    assert (
        cli(
            "record", "--cassette", tmp_path / "c.yaml", "--set", "connection_strategy=eager"
        ).returncode
        == 0
    )
    lazy, eager = proxies_started
    assert lazy["options"]["connection_strategy"] == "lazy"
    # A --set is applied after the command's options: the user's choice wins.
    assert eager["options"]["connection_strategy"] == "lazy"
    assert eager["set_options"] == ["connection_strategy=eager"]


# --- errors found at run time, said at start; run-time messages name no option -------------------


def test_replay_refuses_at_start_a_cassette_forwarded_calls_cannot_go_to(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("version: 1\ninteractions: []\n")
    target = tmp_path / "missing" / "new.yaml"
    out = run(
        "replay", "--cassette", str(base), "--on-miss", "forward", "--record-to", str(target),
        "--listen-port", "0", "--confdir", str(tmp_path / "conf"),
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"chime-tap: --record-to: {target}: directory '{target.parent}' does not exist"
    ]
    assert not target.parent.exists()


def server_connect(addon: Any) -> ServerConnectionHookData:
    data = ServerConnectionHookData(server=tflow.tserver_conn(), client=tflow.tclient_conn())
    result = addon.server_connect(data)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return data


@pytest.mark.parametrize("kind", ["replay", "simulate"])
def test_a_refused_upstream_connection_names_no_option(tmp_path: Path, kind: str) -> None:
    """What a client gets when something tries to leave an offline proxy: said in words a user
    of either the command or mitmdump understands, without an internal option name."""
    addon: Any = ReplayServer() if kind == "replay" else Simulator()
    with taddons.context(addon) as tctx:
        if kind == "replay":
            cassette = tmp_path / "c.yaml"
            cassette.write_text("version: 1\ninteractions: []\n")
            tctx.configure(addon, chime_replay_cassettes=[str(cassette)])
        data = server_connect(addon)
    assert data.server.error.startswith(
        f"chime-tap {'replay' if kind == 'replay' else 'simulator'}: upstream connections are disabled ("
    )
    assert "chime_" not in data.server.error


def test_a_failed_start_removes_only_an_empty_cassette_no_other_recorder_holds(tmp_path: Path):
    from chime_tap.cassettes.writer import CassetteWriter
    from chime_tap.commands.record import _remove_if_empty

    held, free, full = tmp_path / "held.yaml", tmp_path / "free.yaml", tmp_path / "full.yaml"
    CassetteWriter(free).close()
    with CassetteWriter(full) as w:
        w.append(
            {
                "request": {"method": "GET", "uri": "http://h/x", "body": None, "headers": {}},
                "response": {"status": {"code": 200, "message": "OK"}, "headers": {},
                             "body": {"string": ""}},
            }
        )  # fmt: skip
    with CassetteWriter(held):  # another recorder, still recording into it
        _remove_if_empty(held)
        assert held.exists()
    _remove_if_empty(free)
    _remove_if_empty(full)
    assert not free.exists() and len(load_cassette(full)["interactions"]) == 1
