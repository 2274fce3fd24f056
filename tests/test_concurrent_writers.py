"""Two writers, one cassette: either both keep everything or the second refuses with a clear
message. The file is never corrupted."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError
from support.loadgen import Upstream, request_id_of, run_load, vcr_load
from support.procs import chime_tap


def _item(request_id: str, fmt: str = "yaml") -> dict:
    return make_interaction(
        method="GET",
        uri=f"http://127.0.0.1:9/voice-connectors/c/proxy-sessions/{request_id}",
        request_headers={"Host": ["127.0.0.1:9"]},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=b'{"ProxySession": {}}',
        fmt=fmt,
    )


def _ids(path) -> list[str]:
    return [request_id_of(i["request"]["uri"]) for i in load_cassette(path)["interactions"]]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_second_writer_is_refused_while_the_first_writes(tmp_path, fmt):
    path = tmp_path / f"shared.{fmt}"
    with CassetteWriter(path) as first:
        first.append(_item("a-0", fmt))
        with pytest.raises(
            CassetteError, match="another chime-tap recorder is writing this cassette"
        ) as e:
            CassetteWriter(path)
        assert "\n" not in str(e.value) and str(path) in str(e.value)
        first.append(_item("a-1", fmt))  # the refusal did not disturb the first writer
    assert _ids(path) == ["a-0", "a-1"]
    # Once the first is done, the next writer continues the same cassette: both keep everything.
    with CassetteWriter(path) as second:
        second.append(_item("b-0", fmt))
    assert _ids(path) == ["a-0", "a-1", "b-0"]
    assert len(vcr_load(path)) == 3


WRITER = textwrap.dedent(
    """
    import sys
    from chime_tap.cassettes.writer import CassetteWriter
    from chime_tap.cassettes.format import make_interaction
    from chime_tap.errors import CassetteError

    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        writer = CassetteWriter(path)
    except CassetteError as e:
        print(f"refused: {e}", flush=True)
        sys.exit(3)
    with writer:
        for n in range(count):
            writer.append(make_interaction(
                method="GET", uri=f"http://127.0.0.1:9/voice-connectors/c/proxy-sessions/{name}-{n}",
                request_headers={}, request_body=None, status=200, reason="OK",
                response_headers={}, response_body=b"{}", fmt="json" if path.endswith(".json") else "yaml",
            ))
    print("wrote", count, flush=True)
    """
)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_racing_writer_processes_never_corrupt_the_cassette(tmp_path, fmt, figures):
    """Rounds of two processes started together on one file: each keeps all it wrote or was refused."""
    path = tmp_path / f"race.{fmt}"
    expected: list[str] = []
    outcomes = {"both wrote": 0, "one refused": 0}
    for round_no in range(8):
        names = [f"w{round_no}a", f"w{round_no}b"]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(path), name, "40"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in names
        ]
        results = [(p.wait(60), *p.communicate()) for p in procs]
        wrote = []
        for name, (code, out, err) in zip(names, results, strict=True):
            assert "Traceback" not in err, err
            if code == 3:
                assert out.startswith("refused: ") and out.count("\n") == 1, out
                assert "another chime-tap recorder is writing this cassette" in out
            else:
                assert code == 0 and out.startswith("wrote 40"), (code, out, err)
                wrote.append(name)
        assert wrote, "both writers were refused"
        outcomes["both wrote" if len(wrote) == 2 else "one refused"] += 1
        ids = _ids(path)
        for name in wrote:  # each writer's items are all there, in its own order, contiguous
            mine = [i for i in ids if i.startswith(name + "-")]
            assert mine == [f"{name}-{n}" for n in range(40)]
            start = ids.index(mine[0])
            assert ids[start : start + 40] == mine
        expected += [f"{name}-{n}" for name in wrote for n in range(40)]
        assert sorted(ids) == sorted(expected)
        assert len(vcr_load(path)) == len(expected)
    figures.append(f"concurrent writers, racing processes ({fmt}): {dict(outcomes)}")


# --- two real `chime-tap record` processes ----------------------------------------------------


def _record_argv(cassette, authority: str, confdir) -> list[str]:
    return [
        sys.executable,
        "-m",
        "chime_tap",
        "record",
        "--cassette",
        str(cassette),
        "--hosts",
        f"{authority}=voice",
        "--listen-port",
        "0",
        "--confdir",
        str(confdir),
    ]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_second_record_process_refuses_to_start(tmp_path, fmt):
    cassette = tmp_path / f"shared.{fmt}"
    with Upstream() as upstream:
        authority = f"127.0.0.1:{upstream.port}"
        args = ["record", "--cassette", str(cassette), "--hosts", f"{authority}=voice"]
        with chime_tap(args, confdir=tmp_path / "confdir") as first:
            before = run_load(first.port, f"http://{authority}", 50, 4, deadline_s=60, prefix="a")
            second = subprocess.run(
                _record_argv(cassette, authority, tmp_path / "confdir"),
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            assert second.returncode == 2, (second.stdout, second.stderr)
            assert "Traceback" not in second.stdout + second.stderr
            refusal = [
                line for line in second.stderr.splitlines() if "another chime-tap recorder" in line
            ]
            assert len(refusal) == 1 and str(cassette) in refusal[0], second.stderr
            # The first recorder never noticed: it keeps serving and recording.
            after = run_load(first.port, f"http://{authority}", 50, 4, deadline_s=60, prefix="b")
            assert first.stop(signal.SIGTERM) == 0, first.output[-2000:]
        assert not before.errors and not after.errors
        # Once the first is gone, a second recorder continues the same cassette.
        with chime_tap(args, confdir=tmp_path / "confdir") as third:
            later = run_load(third.port, f"http://{authority}", 50, 4, deadline_s=60, prefix="c")
            assert third.stop(signal.SIGTERM) == 0
    answered = [a.id for run in (before, after, later) for a in run.by_completion()]
    assert len(answered) == 150
    recorded = _ids(cassette)
    assert sorted(recorded) == sorted(answered)
    assert len(vcr_load(cassette)) == 150


def test_record_processes_started_together_one_wins(tmp_path):
    """Rounds of two `chime-tap record` started at the same moment: exactly one serves."""
    cassette = tmp_path / "race.yaml"
    with Upstream() as upstream:
        authority = f"127.0.0.1:{upstream.port}"
        total = 0
        for round_no in range(3):
            procs = [
                subprocess.Popen(
                    _record_argv(cassette, authority, tmp_path / "confdir"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    stdin=subprocess.DEVNULL,
                )
                for _ in range(2)
            ]
            try:
                # The loser exits on its own; the winner serves until stopped.
                loser = _first_exit(procs, timeout=60)
                winner = procs[1 - procs.index(loser)]
                out, err = loser.communicate(timeout=10)
                assert loser.returncode == 2 and "Traceback" not in out + err, (out, err)
                assert "another chime-tap recorder is writing this cassette" in err
                assert winner.poll() is None
                port = _port_from(winner)
                result = run_load(
                    port, f"http://{authority}", 30, 3, deadline_s=60, prefix=f"r{round_no}"
                )
                assert not result.errors and len(result.answered) == 30
                total += 30
                winner.send_signal(signal.SIGTERM)
                assert winner.wait(30) == 0
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait(10)
            assert len(_ids(cassette)) == total
    assert len(vcr_load(cassette)) == total


def _first_exit(procs: list[subprocess.Popen], timeout: float) -> subprocess.Popen:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                return p
        time.sleep(0.05)
    raise AssertionError("neither recorder exited: both claim the cassette")


def _port_from(proc: subprocess.Popen, timeout: float = 60) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            return int(m.group(1))
    raise AssertionError("the winning recorder never said where it listens")
