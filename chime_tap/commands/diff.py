"""Compare two recordings by what their proxy-session calls mean: status, errors, members, violations, latency.

BASELINE (A) and CANDIDATE (B) are each a cassette (YAML or JSON), a mitmproxy flow file, a HAR
file, or a directory of them (two directories: file compared with file, by path). Calls pair by
operation and normalized request; session ids pair by the Creates that made them, NextTokens by
order of issue; timestamps compare as distances from the session's creation; headers
(signatures, dates, request ids) are not compared.

Exit status: 0 when the recordings are equivalent, 1 when they differ, 2 when an input cannot
be used (named in one line) or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
from pathlib import Path

from chime_tap import options
from chime_tap.errors import InputError, UsageError

FORMATS = ("text", "markdown", "html", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "baseline",
        metavar="BASELINE",
        type=options.user_path,
        help="the recording compared against (A)",
    )
    parser.add_argument(
        "candidate", metavar="CANDIDATE", type=options.user_path, help="the recording compared (B)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: the --out file's extension, else text)",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        type=options.user_path,
        help="write the comparison here instead of stdout",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="POINTER",
        help="leave out body members at this JSON pointer and under it; '*' stands for any one "
        "member or index (e.g. /ProxySessions/*/UpdatedTimestamp); repeatable",
    )
    parser.add_argument(
        "--ignore-file",
        action="append",
        default=[],
        metavar="PATH",
        type=options.user_path,
        help="a file of --ignore pointers, one per line ('#' starts a comment); repeatable",
    )
    parser.add_argument(
        "--time-tolerance",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="how far two timestamps' distances from their session's creation may differ "
        "(default 5)",
    )
    parser.add_argument(
        "--latency-ratio",
        type=_ratio,
        default=None,
        metavar="R",
        help="the smallest p50 ratio (either way) flagged as a latency change, when the rank "
        "test holds too (default 1.5)",
    )
    options.add_arguments(parser, [options.HOSTS])


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 1:
        raise argparse.ArgumentTypeError(f"must be a finite number > 1, got {text!r}")
    return value


def output(fmt: str | None, out: str | None) -> str:
    """The format from --format and --out's extension; UsageError when they disagree, or when
    the extension names a format diff does not write (report's csv or parquet). An extension
    chime-tap does not know is written as --format says, else text, and the line says which."""
    from chime_tap.commands.report import FORMAT_OF_EXTENSION  # one map of extensions

    named = None
    if out not in (None, "-"):
        suffix = os.path.splitext(out)[1].lower()
        named = FORMAT_OF_EXTENSION.get(suffix)
        if named is not None and named not in FORMATS:
            raise UsageError(
                f"--out {out}: the extension {suffix} means {named}, which diff does not write "
                f"(it writes {', '.join(FORMATS)}: .txt, .md, .html or .json)"
            )
        if fmt is not None and named is not None and named != fmt:
            raise UsageError(
                f"--out {out}: the extension {suffix} means --format {named}, not --format {fmt}"
            )
    return fmt or named or "text"


def run(args: argparse.Namespace) -> int:
    from chime_tap import diff_render, semantic_diff

    hosts = options.HOSTS.from_args(args)
    fmt = output(args.format, args.out)
    texts = list(args.ignore)
    for path in args.ignore_file:
        texts += semantic_diff.read_ignore_file(path)
    try:
        ignore = semantic_diff.patterns(texts)
    except ValueError as e:
        raise UsageError(f"--ignore: {e}") from None
    # Reading and comparing build many containers and no garbage cycles worth collecting (what
    # is read lives until the process ends): without the cyclic collector walking them again and
    # again, two 10,000-call cassettes compare in about two thirds of the time.
    gc.disable()
    baseline, skipped_a = read_recordings(args.baseline)
    candidate, skipped_b = read_recordings(args.candidate)
    by_file = os.path.isdir(args.baseline) and os.path.isdir(args.candidate)
    settings = {}
    if args.time_tolerance is not None:
        settings["time_tolerance"] = args.time_tolerance
    if args.latency_ratio is not None:
        settings["latency_ratio"] = args.latency_ratio
    result = semantic_diff.diff_recordings(
        baseline,
        candidate,
        ignore=ignore,
        hosts=hosts,
        by_file=by_file,
        baseline_root=args.baseline,
        candidate_root=args.candidate,
        **settings,
    )
    result.not_read = skipped_a + skipped_b
    text = diff_render.render(result, fmt)
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        try:
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"--out {args.out}: cannot write ({e.strerror or e})") from None
        print(
            f"chime-tap: {fmt} diff written to {args.out}: {diff_render.verdict(result)}",
            file=sys.stderr,
        )
    return 0 if result.equivalent else 1


# Files a directory is read for; anything else in it is counted, not read.
RECORDING_SUFFIXES = (".yaml", ".yml", ".json", ".har", ".mitm", ".flow", ".flows")


def read_recordings(path: str | os.PathLike[str]) -> tuple[list[tuple[str, list]], int]:
    """(recordings as (source, interactions), files not read) of a file or a directory (its
    recordings by suffix, sorted by path).

    Read with the report's readers (``chime_tap.analysis.load.read_interactions``), so diff
    accepts and refuses what report and validate do; InputError (one line) otherwise.
    """
    from chime_tap.analysis.load import read_interactions

    p = Path(path)
    if not p.is_dir():
        return [(str(p), read_interactions(p))], 0
    files, skipped = _recording_files(p)
    if not files:
        raise InputError(
            f"{p}: a directory with no recording in it ({', '.join(RECORDING_SUFFIXES)})"
        )
    return [(str(f), read_interactions(f)) for f in files], skipped


def _recording_files(directory: Path) -> tuple[list[Path], int]:
    found, skipped = [], 0
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            if name.lower().endswith(RECORDING_SUFFIXES):
                found.append(Path(root) / name)
            else:
                skipped += 1
    return found, skipped
