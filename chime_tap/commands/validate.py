"""Check every interaction of cassettes, mitmproxy flow files and HAR files against the
proxy-session schemas.

Exit status: 0 when every proxy-session call is valid (or, with --allow-rejected, every
violation was a bad request the service rejected), 1 when any other violation is found,
2 when an input cannot be used (missing, unparsable, not a cassette, flow file or HAR).
"""

from __future__ import annotations

import argparse
import json
import sys

from chime_tap import options

ALLOW_REJECTED_HELP = (
    "accept request violations the service (or the simulator) rejected: the recorded answer is "
    "status 400 with error type BadRequestException (x-amzn-ErrorType, else the body's Code) "
    "and every violation of that interaction is in the request (path, query or request body); "
    "for cassettes that record deliberate bad calls"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "cassettes",
        nargs="+",
        metavar="INPUT",
        type=options.user_path,
        help="vcrpy cassette (.yaml/.yml or .json), mitmproxy flow file or HAR, as report reads them",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    parser.add_argument("--allow-rejected", action="store_true", help=ALLOW_REJECTED_HELP)
    options.add_arguments(parser, [options.HOSTS])


def run(args: argparse.Namespace) -> int:
    from chime_tap.analysis.load import read_interactions
    from chime_tap.api import validation
    from chime_tap.errors import InputError

    hosts = options.HOSTS.from_args(args)
    unusable = 0
    rows: list[dict] = []
    checked = accepted = 0
    skipped = 0  # interactions that are no proxy-session call on a known host
    for path in args.cassettes:
        try:
            interactions = read_interactions(path)
        except InputError as e:
            print(f"chime-tap: {e}", file=sys.stderr)
            unusable += 1
            continue
        try:
            for interaction in interactions:
                route, violations = validation.validate_interaction(interaction, hosts)
                if route is None:
                    skipped += 1
                    continue
                checked += 1
                ok = args.allow_rejected and validation.rejected_as_bad_request(
                    interaction, violations
                )
                accepted += len(violations) if ok else 0
                for v in violations:
                    rows.append(
                        {
                            "cassette": path,
                            "index": interaction.index,
                            **v.to_dict(),
                            "accepted": ok,
                        }
                    )
                    if args.format == "text":
                        note = " (accepted: rejected with 400 BadRequestException)" if ok else ""
                        print(f"{path} #{interaction.index} {v.operation}: {v}{note}")
        except RecursionError:  # a value nested too deeply to walk, hidden from the loader
            print(f"chime-tap: {path}: nested too deeply to check", file=sys.stderr)
            unusable += 1
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(
            _summary(len(args.cassettes), checked, len(rows), accepted, unusable), file=sys.stderr
        )
        if skipped and not checked:
            print(
                f"chime-tap: none of the {skipped} interaction(s) is a proxy-session call on a "
                "known Chime host; recorded against another host? name it with --hosts HOST:PORT",
                file=sys.stderr,
            )
    if unusable:
        return 2
    return 1 if len(rows) > accepted else 0


def _summary(inputs: int, checked: int, found: int, accepted: int, unusable: int) -> str:
    problems = []
    if found:
        problems.append(f"{found} violation(s)")
        if accepted:
            problems[-1] += f", {accepted} accepted as rejected bad requests"
    if unusable:
        problems.append(f"{unusable} unusable input(s)")
    status = "; ".join(problems) or "OK"
    if found and found == accepted and not unusable:
        status = f"OK ({status})"
    return (
        f"{checked} proxy-session interaction(s) checked in {inputs - unusable} input(s): {status}"
    )
