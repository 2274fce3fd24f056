"""Report on recorded traffic: cassettes, mitmproxy flow files and HAR files.

Exit status: 0 when every input was read, 1 when some input was skipped (named in a warning),
2 when no input could be read or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import sys

from chime_tap import options
from chime_tap.errors import UsageError

FORMATS = ("text", "markdown", "html", "json", "csv", "parquet")
# Formats that are not meant for a terminal: written to a default file when --out is not given.
DEFAULT_OUT = {"html": "chime-tap-report.html", "parquet": "chime-tap-report.parquet"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="vcrpy cassette (.yaml/.json), mitmproxy flow file or HAR",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="report format (default: text); csv and parquet export the frame itself",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="write the report here instead of stdout (html and parquet default to a file in the current directory)",
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
    since, until = _time(args.since, "--since"), _time(args.until, "--until")
    unknown = [op for op in args.operation if op not in OPERATIONS]
    if unknown:
        raise UsageError(
            f"--operation: unknown operation {', '.join(unknown)} (use one of: {', '.join(OPERATIONS)})"
        )

    skipped: list[str] = []

    def on_skip(path: str, message: str) -> None:
        skipped.append(path)
        print(f"chime-tap: warning: skipped {message}", file=sys.stderr)

    frame = load_frame(args.inputs, hosts=hosts, on_skip=on_skip, on_progress=_Progress())
    if len(skipped) == len(args.inputs):
        print(f"chime-tap: no input could be read ({len(skipped)} skipped)", file=sys.stderr)
        return 2
    frame = select(frame, since=since, until=until, operations=args.operation or None)

    out = args.out or DEFAULT_OUT.get(args.format)
    try:
        if args.format in ("csv", "parquet"):
            export(frame, args.format, out or sys.stdout)
        else:
            text = render(summarize(frame), args.format)
            if out:
                with open(out, "w", encoding="utf-8") as f:
                    f.write(text)
            else:
                sys.stdout.write(text)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from None
    if out:
        print(
            f"chime-tap: {args.format} report of {len(frame)} interaction(s) written to {out}",
            file=sys.stderr,
        )
    return 1 if skipped else 0
