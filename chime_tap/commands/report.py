"""Report on recorded traffic: cassettes, mitmproxy flow files and HAR files, or a dataset.

A directory is read as a dataset (see chime-tap ingest): --since/--until skip the days outside
the range and --operation the row groups of other operations, before anything is read; the
days are summarised apart and merged (--engine: embedded, one process per core; dask, on a
dask.distributed cluster given by --scheduler; local, this process only).

Exit status: 0 when every input was read, 1 when some input was skipped (named in a warning),
2 when no input could be read or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import os
import sys

from chime_tap import options
from chime_tap.errors import UsageError

FORMATS = ("text", "markdown", "html", "json", "csv", "parquet")
# Formats that are not meant for a terminal: written to a default file when --out is not given.
DEFAULT_OUT = {"html": "chime-tap-report.html", "parquet": "chime-tap-report.parquet"}
# The format an --out file's extension names, when --format is not given.
FORMAT_OF_EXTENSION = {
    ".txt": "text",
    ".md": "markdown",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}
STDOUT = "-"
BINARY = ("parquet",)
ENGINES = ("embedded", "dask", "local")  # chime_tap.analysis.engines.ENGINES, without importing it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        type=options.user_path,
        help="vcrpy cassette (.yaml/.json), mitmproxy flow file or HAR; or one dataset directory",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="embedded",
        help="what summarises a dataset (default: embedded, a process per core on this machine)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="--engine dask: the address of a running dask scheduler",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="--engine embedded: processes summarising days (default: one per core)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="report format (default: the --out file's extension, "
        f"{', '.join(FORMAT_OF_EXTENSION)}; else text); csv and parquet export the frame itself",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        type=options.user_path,
        help="write the report here instead of stdout ('-': stdout; html and parquet default "
        "to a file in the current directory)",
    )
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="only calls recorded at or after TIME (ISO 8601; UTC unless it says otherwise)",
    )
    parser.add_argument(
        "--until", metavar="TIME", help="only calls recorded before TIME (ISO 8601)"
    )
    parser.add_argument(
        "--operation",
        action="extend",
        type=options.comma_list,
        default=[],
        metavar="NAME",
        help="only this operation (e.g. GetProxySession); repeat the option or separate names with commas",
    )
    options.add_arguments(parser, [options.HOSTS])


def output(fmt: str | None, out: str | None) -> tuple[str, str | None]:
    """(format, file or None for stdout) from --format and --out; UsageError when they disagree."""
    named = None
    if out not in (None, STDOUT):
        suffix = os.path.splitext(out)[1].lower()
        named = FORMAT_OF_EXTENSION.get(suffix)
        if fmt is not None and named is not None and named != fmt:
            raise UsageError(
                f"--out {out}: the extension {suffix} means --format {named}, not --format {fmt}"
            )
    fmt = fmt or named or "text"
    if out == STDOUT:
        if fmt in BINARY:
            raise UsageError(f"--out -: {fmt} is binary; write it to a file (--out FILE.{fmt})")
        return fmt, None
    return fmt, out or DEFAULT_OUT.get(fmt)


# The schemes a dask scheduler listens with, TCP or TLS: a cluster across machines.
SCHEDULER_SCHEMES = ("tcp", "tls")


def check_scheduler(address: str) -> None:
    """A dask scheduler's address, ``tcp://HOST:PORT`` (or ``tls://``, or ``HOST:PORT``);
    UsageError naming --scheduler otherwise (an http:// address is most often the dashboard's,
    which dask would wait on for ever)."""
    scheme, sep, location = address.rpartition("://")
    scheme = scheme if sep else "tcp"
    host, _, port = location.rpartition(":")
    if scheme not in SCHEDULER_SCHEMES or not host.strip("[]") or not port.isdigit():
        dashboard = " (http:// is the dashboard's)" if scheme in ("http", "https") else ""
        raise UsageError(
            f"--scheduler {address}: not a dask scheduler's address{dashboard}; give "
            'tcp://HOST:PORT, as the scheduler prints it ("Scheduler at: tcp://...")'
        )
    if not 0 < int(port) < 65536:
        raise UsageError(f"--scheduler {address}: port {port} is not a TCP port (1-65535)")


def _time(value: str | None, option: str):
    import pandas as pd

    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except ValueError as e:
        raise UsageError(f"{option}: {value!r} is not an ISO 8601 time ({e})") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        percent = 100 * done // total if total else 100
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.WIDTH * percent // 100
        bar = "#" * filled + "." * (self.WIDTH - filled)
        sys.stderr.write(f"\rloading [{bar}] {percent:3d}% of {total / 1e6:.1f} MB")
        if done >= total:
            sys.stderr.write("\r" + " " * (self.WIDTH + 40) + "\r")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from chime_tap.analysis import export, load_frame, render, select, summarize
    from chime_tap.api.operations import OPERATIONS

    hosts = options.HOSTS.from_args(args)
    fmt, out = output(args.format, args.out)
    since, until = _time(args.since, "--since"), _time(args.until, "--until")
    if since is not None and until is not None and until <= since:
        raise UsageError(
            f"--since/--until: {args.until!r} is not after {args.since!r} (the range is "
            "[since, until): nothing could be in it)"
        )
    unknown = [op for op in args.operation if op not in OPERATIONS]
    if unknown:
        raise UsageError(
            f"--operation: unknown operation {', '.join(unknown)} (use one of: {', '.join(OPERATIONS)})"
        )

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers: {args.workers} is not a number of processes (1 or more)")
    if args.engine == "dask" and not args.scheduler:
        raise UsageError("--engine dask needs --scheduler tcp://HOST:PORT (a dask scheduler)")
    if args.scheduler and args.engine != "dask":
        raise UsageError(f"--scheduler is for --engine dask, not --engine {args.engine}")
    if args.scheduler:
        check_scheduler(args.scheduler)
    dirs = [p for p in args.inputs if os.path.isdir(p)]
    if dirs:
        if len(args.inputs) > 1:
            raise UsageError(
                f"{dirs[0]}: a dataset directory is reported alone, not with other inputs"
            )
        return _run_dataset(args, fmt, out, since, until)
    if args.engine != "embedded" or args.workers is not None:
        raise UsageError(
            "--engine and --workers are for a dataset directory (see chime-tap ingest)"
        )

    skipped: list[str] = []

    def on_skip(path: str, message: str) -> None:
        skipped.append(path)
        print(f"chime-tap: warning: skipped {message}", file=sys.stderr)

    frame = load_frame(args.inputs, hosts=hosts, on_skip=on_skip, on_progress=_Progress())
    if len(skipped) == len(args.inputs):
        print(f"chime-tap: no input could be read ({len(skipped)} skipped)", file=sys.stderr)
        return 2
    read = len(frame)
    frame = select(frame, since=since, until=until, operations=args.operation or None)
    if read and frame.empty:  # else an empty report reads like inputs with no calls
        print(
            f"chime-tap: warning: none of the {read} interaction(s) read matches "
            f"{_filters_said(args)}: the report is empty",
            file=sys.stderr,
        )

    if out is None:  # a closed stdout (`| head`) ends in BrokenPipeError: the CLI exits quietly
        if fmt == "csv":
            export(frame, fmt, sys.stdout)
        else:
            sys.stdout.write(render(summarize(frame), fmt))
        return 1 if skipped else 0
    try:
        if fmt in ("csv", "parquet"):
            export(frame, fmt, out)
        else:
            text = render(summarize(frame), fmt)
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from None
    print(
        f"chime-tap: {fmt} report of {len(frame)} interaction(s) written to {out}",
        file=sys.stderr,
    )
    return 1 if skipped else 0


def _filters_said(args: argparse.Namespace) -> str:
    """The filters given, as typed: ``--since 2026-03-01 --operation GetProxySession``."""
    said = [f"{flag} {value}" for flag, value in (("--since", args.since), ("--until", args.until))
            if value is not None]  # fmt: skip
    if args.operation:
        said.append(f"--operation {','.join(args.operation)}")
    return " ".join(said)


def _run_dataset(args: argparse.Namespace, fmt: str, out: str | None, since, until) -> int:
    """The report of a dataset directory: its days' partials, merged, rendered."""
    from chime_tap.analysis import export, render
    from chime_tap.analysis.engines import Filters, load_dataset, summarize_dataset

    filters = Filters(
        since=since.to_pydatetime() if since is not None else None,
        until=until.to_pydatetime() if until is not None else None,
        operations=tuple(args.operation) or None,
    )
    root = args.inputs[0]
    if fmt in ("csv", "parquet"):
        frame = load_dataset(root, filters)
        target = sys.stdout if out is None else out
        what = f"{len(frame)} interaction(s)"
    else:
        summary, ran = summarize_dataset(
            root, filters, engine=args.engine, scheduler=args.scheduler, workers=args.workers
        )
        text = render(summary, fmt)
        what = f"{summary['interactions']} interaction(s)"
        workers = f", {ran.workers} worker(s)," if ran.files else ""  # none work on nothing
        print(
            f"chime-tap: {root}: read {ran.files} of {ran.files_in_dataset} file(s) "
            f"({ran.days} day(s)) with --engine {ran.engine}{workers} in {ran.seconds:.1f} s",
            file=sys.stderr,
        )
    try:
        if fmt in ("csv", "parquet"):
            export(frame, fmt, target)
        elif out is None:
            sys.stdout.write(text)
        else:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from None
    if out is not None:
        print(f"chime-tap: {fmt} report of {what} written to {out}", file=sys.stderr)
    return 0
