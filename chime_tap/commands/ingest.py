"""Ingest cassettes, mitmproxy flow files and HAR into a Parquet dataset (see chime-tap report).

The same interaction ingested twice (from the same file, a copy, or a cassette that grew since)
is stored once: interactions are known by their content. One line per input says what it
added. Exit status: 0 when every input was ingested, 1 when some could not be read (each named
in one line), 2 when none could, or the dataset cannot be used (nothing in it is changed).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

from chime_tap import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        type=options.user_path,
        help="vcrpy cassette (.yaml/.json), mitmproxy flow file or HAR",
    )
    parser.add_argument(
        "--into",
        required=True,
        metavar="DATASET",
        type=options.user_path,
        help="the dataset directory (created if missing): DATASET/date=YYYY-MM-DD/part-*.parquet",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="processes reading inputs (default: one per core)",
    )
    options.add_arguments(parser, [options.HOSTS])


def read_table(path: Path, hosts=None):
    """One input as a dataset table: the report's reader, with each interaction's id."""
    from chime_tap.analysis.ingest_table import read_table

    return read_table(path, hosts)


def run(args: argparse.Namespace) -> int:
    # The reader (pandas, pyarrow) is imported before the workers start: forked from this
    # process, they find it loaded instead of each importing it again (~0.7 CPU-s a worker).
    import chime_tap.analysis.ingest_table  # noqa: F401
    from chime_tap.dataset.ingest import ingest
    from chime_tap.errors import UsageError

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers: {args.workers} is not a number of processes (1 or more)")
    hosts = options.HOSTS.from_args(args)
    if not any(os.path.lexists(p) for p in args.inputs):  # nothing to read: the dataset untouched
        for path in args.inputs:
            print(f"chime-tap: {path}: no such file", file=sys.stderr)
        return 2
    failed: list[str] = []

    def on_done(done) -> None:
        # Inputs read in one batch share its files (one a day): a line names the days its
        # new rows went to; the closing line counts the files.
        days = len({os.path.dirname(f) for f in done.files})
        where = f" in {days} day(s)" if done.added else ""
        print(
            f"ingested {done.path}: {done.rows} interaction(s), {done.added} new{where}", flush=True
        )

    def on_error(path: str, message: str) -> None:
        failed.append(path)
        print(f"chime-tap: {message}", file=sys.stderr, flush=True)

    done = ingest(
        args.inputs,
        args.into,
        functools.partial(read_table, hosts=hosts),
        workers=args.workers,
        on_done=on_done,
        on_error=on_error,
    )
    added = sum(d.added for d in done)
    written = len({f for d in done for f in d.files})
    left = f" ({len(failed)} not ingested)" if failed else ""
    print(
        f"chime-tap: {added} new interaction(s) from {len(done)} of {len(args.inputs)} "
        f"input(s){left} in {args.into}, {written} file(s) written",
        file=sys.stderr,
    )
    if failed:
        return 2 if not done else 1
    return 0
