"""bench.paired: the alternation order and the paired-median headline every benchmark prints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed
from bench.paired import Ratio, alternate, best_round, paired


def test_alternate_reverses_the_order_every_other_round_and_keeps_round_order() -> None:
    calls: list[tuple[str, int]] = []

    def run(name: str):
        def one(r: int) -> str:
            calls.append((name, r))
            return f"{name}{r}"

        return one

    out = alternate({"a": run("a"), "b": run("b"), "c": run("c")}, 3)
    assert calls == [
        ("a", 0), ("b", 0), ("c", 0),
        ("c", 1), ("b", 1), ("a", 1),
        ("a", 2), ("b", 2), ("c", 2),
    ]  # fmt: skip
    assert out == {"a": ["a0", "a1", "a2"], "b": ["b0", "b1", "b2"], "c": ["c0", "c1", "c2"]}


def test_paired_ratio_is_the_median_of_per_round_ratios_not_a_ratio_of_medians() -> None:
    # Round 2 is disturbed for both: the per-round ratios stay near 0.9; the ratio of medians
    # (1000/1000 = 1.0) and the ratio of bests (990/1000) would not say that.
    subject = [900.0, 990.0, 300.0]
    baseline = [1000.0, 1100.0, 1000.0 / 3]
    r = paired(subject, baseline)
    assert r.rounds == pytest.approx((0.9, 0.9, 0.9))
    r = paired([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 8.0])
    assert r.rounds == (1.0, 2.0, 1.5, 0.5)
    assert (r.median, r.low, r.high) == (1.25, 0.5, 2.0)
    assert r.text() == "1.25 (0.50-2.00)"
    assert r.as_dict() == {"median": 1.25, "min": 0.5, "max": 2.0, "rounds": [1.0, 2.0, 1.5, 0.5]}
    assert best_round(r) == 2.0 and best_round(r, higher_is_better=False) == 0.5


def test_paired_refuses_unequal_or_empty_rounds_and_zero_baselines() -> None:
    with pytest.raises(ValueError, match="as many"):
        paired([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least one"):
        paired([], [])
    with pytest.raises(ValueError, match="0 has no ratio"):
        paired([1.0], [0.0])
    assert Ratio((3.0,)).text(1) == "3.0 (3.0-3.0)"


def test_the_big_json_cassette_of_bench_replay_is_what_the_writer_writes(tmp_path: Path) -> None:
    from bench.bench_replay import write_big_json, write_cassette

    fast = write_big_json(tmp_path / "fast.json", 25_003).read_bytes()
    written = write_cassette(tmp_path / "written.json", 25_003).read_bytes()
    assert fast == written


def test_a_topics_help_is_not_a_failure_and_a_bad_option_is(capsys):
    """``python -m bench record -- --help`` prints the topic's options and exits 0; an option the
    topic does not know is that topic's failure (exit 1), named on stderr."""
    from bench.__main__ import main

    assert main(["record", "--", "--help"]) == 0
    out, err = capsys.readouterr()
    assert "--instructions N" in out and "FAILED" not in err
    assert main(["record", "--", "--no-such-option"]) == 1
    assert "bench record: FAILED (exited with 2)" in capsys.readouterr().err
