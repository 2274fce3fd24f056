"""Check every interaction of vcrpy cassettes against the proxy-session schemas.

Exit status: 0 when every proxy-session call is valid, 1 when any violation is found,
2 when an input cannot be used (missing, unparsable, not a cassette).
"""

from __future__ import annotations

import argparse
import json
import sys

from chime_tap import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "cassettes", nargs="+", metavar="CASSETTE", help="vcrpy cassette (.yaml/.yml or .json)"
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    options.add_arguments(parser, [options.HOSTS])


def run(args: argparse.Namespace) -> int:
    from chime_tap.api.validation import validate_interaction
    from chime_tap.cassettes.format import iter_interactions
    from chime_tap.cassettes.reader import load_cassette
    from chime_tap.errors import CassetteError

    hosts = options.HOSTS.from_args(args)
    unusable = 0
    rows: list[dict] = []
    checked = 0
    skipped = 0  # interactions that are no proxy-session call on a known host
    for path in args.cassettes:
        try:
            doc = load_cassette(path)
        except CassetteError as e:
            print(f"chime-tap: {e}", file=sys.stderr)
            unusable += 1
            continue
        try:
            for interaction in iter_interactions(doc):
                route, violations = validate_interaction(interaction, hosts)
                if route is None:
                    skipped += 1
                    continue
                checked += 1
                for v in violations:
                    rows.append({"cassette": path, "index": interaction.index, **v.to_dict()})
                    if args.format == "text":
                        print(f"{path}:{interaction.index} {v.operation}: {v}")
        except RecursionError:  # a value nested too deeply to walk, hidden from the loader
            print(f"chime-tap: {path}: nested too deeply to check", file=sys.stderr)
            unusable += 1
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        problems = [f"{len(rows)} violation(s)"] if rows else []
        if unusable:
            problems.append(f"{unusable} unusable cassette(s)")
        status = "; ".join(problems) or "OK"
        usable = len(args.cassettes) - unusable
        print(
            f"{checked} proxy-session interaction(s) checked in {usable} cassette(s): {status}",
            file=sys.stderr,
        )
        if skipped and not checked:
            print(
                f"chime-tap: none of the {skipped} interaction(s) is a proxy-session call on a "
                "known Chime host; recorded against another host? name it with --hosts HOST:PORT",
                file=sys.stderr,
            )
    if unusable:
        return 2
    return 1 if rows else 0
