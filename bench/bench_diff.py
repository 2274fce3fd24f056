"""Benchmark: ``chime-tap diff A B`` against ``chime-tap report A B`` on the same two JSON cassettes.

    python -m bench diff [-- --n 10000 --rounds 5]

The two cassettes are the report benchmark's generated traffic (``bench_report.write_cassettes``):
the baseline as generated, the candidate with every session id changed (as a second recording
gets new ones from the service), so diff has its sessions to line up and must still find the
two equivalent. Each run is the whole command in its own process, as a user runs it (imports,
reading, work, output to /dev/null). Rounds alternate report and diff, the order reversed every
other round (``bench.paired``); the headline is the median of the per-round ratios diff/report
of wall time, min and max beside it, and the same for CPU time (user + system of the child).
The target (issue 16): diff within 2x of report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_report import _verdict, write_cassettes
from bench.paired import alternate, paired

TARGET_RATIO = 2.0
ROOT = Path(__file__).resolve().parent.parent


def _command(step: str, a: Path, b: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "chime_tap.cli", step, str(a), str(b), *extra]


def _timed(argv: list[str], expect: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command run to the end; it must exit with ``expect``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600, cwd=ROOT
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != expect:
        raise RuntimeError(
            f"{' '.join(argv[2:4])} exited {done.returncode}: {done.stderr[-500:]!r}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def candidate_of(baseline: Path, out: Path) -> Path:
    """The baseline with other session ids: ``s0000001-0000-...`` becomes ``s0000001-1111-...``."""
    text = baseline.read_text()
    out.write_text(re.sub(r"(s\d{7})-0000-4000", r"\1-1111-4000", text))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="interactions per cassette")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args, _ = parser.parse_known_args(argv)  # options meant for other topics are ignored
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        [a] = write_cassettes(root / "a", args.n, "json", per_file=args.n)
        b = candidate_of(a, root / "b.json")
        # What the timed runs compute, checked once: every call paired, nothing different.
        checked = subprocess.run(
            _command("diff", a, b, "--format", "json"),
            capture_output=True, text=True, timeout=3600, cwd=ROOT, env=os.environ,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr
        result = json.loads(checked.stdout)
        pairs = sum(op["paired"] for op in result["operations"])
        assert result["equivalent"] and pairs == args.n, (pairs, result["differences"])
        runs = alternate(
            {
                "report": lambda r: _timed(_command("report", a, b), 0),
                "diff": lambda r: _timed(_command("diff", a, b), 0),
            },
            args.rounds,
        )
    wall = paired([w for w, _ in runs["diff"]], [w for w, _ in runs["report"]])
    cpu = paired([c for _, c in runs["diff"]], [c for _, c in runs["report"]])
    row = {
        "case": f"2 x {args.n:,} JSON",
        "rounds": args.rounds,
        "paired calls": pairs,
        "report s (median)": round(sorted(w for w, _ in runs["report"])[args.rounds // 2], 2),
        "diff s (median)": round(sorted(w for w, _ in runs["diff"])[args.rounds // 2], 2),
        "diff/report wall": wall.text(),
        "diff/report cpu": cpu.text(),
    }
    widths = {k: max(len(k), len(str(v))) for k, v in row.items()}
    print("  ".join(k.rjust(w) for k, w in widths.items()))
    print("  ".join(str(row[k]).rjust(w) for k, w in widths.items()))
    verdict = _verdict(
        f"diff of {row['case']} within {TARGET_RATIO:g}x of report on the same files",
        wall.median <= TARGET_RATIO,
        f"{wall.median:.2f}x wall (min {wall.low:.2f}, max {wall.high:.2f}), {cpu.median:.2f}x CPU",
    )
    print(verdict)
    return {
        "cases": [{**row, "wall_ratio": wall.as_dict(), "cpu_ratio": cpu.as_dict()}],
        "targets": [verdict],
    }


if __name__ == "__main__":
    main()
