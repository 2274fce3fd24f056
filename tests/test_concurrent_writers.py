"""Two writers, one cassette: either both keep everything or the second refuses with a clear
message. The file is never corrupted."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from chime_tap.addons.cassette import CassetteWriter, load_cassette, make_interaction
from support.loadgen import request_id_of, vcr_load

from chime_tap.errors import CassetteError


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
    from chime_tap.addons.cassette import CassetteWriter, make_interaction
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
def test_racing_writer_processes_never_corrupt_the_cassette(tmp_path, fmt):
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
    print(f"race outcomes ({fmt}): {outcomes}")
