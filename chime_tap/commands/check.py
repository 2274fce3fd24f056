"""Find stale cassettes: calls botocore's chime-sdk-voice model no longer fits, old cassettes.

Reports the calls that no longer fit botocore's current chime-sdk-voice model and the
cassettes older than --max-age, and says which SDK recorded each cassette.

Each recorded proxy-session call is checked against the model: the operation is still there,
its method and URI still fit the operation's requestUri, every request member (query and body)
and every member of a 2xx answer is still in its shape, every member the model requires is
there, and every enum value is still allowed. A call the service rejected as a bad request
when it was recorded (a 400 BadRequestException for violations of its request, as validate
--allow-rejected accepts) is no staleness: the recording already shows its request did not fit,
so only its operation and URI are checked, and each cassette names such calls in one line. A
cassette's age is that of its oldest call (recorded_at; the file's modification time for
cassettes with none, e.g. vcrpy's). The SDK comes from the User-Agent of each proxy-session
call (not of other traffic, such as the simulator's control calls).

Exit status: 0 when every call fits and no cassette is too old, 1 when anything is found,
2 when an input cannot be used (missing, unparsable, not a cassette, flow file or HAR; a
model that cannot be read).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chime_tap.errors import UsageError
from chime_tap.options import user_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "cassettes",
        nargs="+",
        metavar="INPUT",
        type=user_path,
        help="vcrpy cassette (.yaml/.yml or .json), mitmproxy flow file or HAR, as report reads them",
    )
    parser.add_argument(
        "--max-age",
        metavar="AGE",
        help="report cassettes whose oldest call is older than AGE (a number and a unit: "
        "s, m, h, d or w; e.g. 90d)",
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        type=user_path,
        help="a botocore service-2.json(.gz) to check against (default: the installed "
        "botocore's chime-sdk-voice model)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )


def run(args: argparse.Namespace) -> int:
    from chime_tap.analysis.load import read_interactions
    from chime_tap.errors import InputError
    from chime_tap.staleness import check_all, load_model, parse_age, recorded_by, recorded_since

    max_age = None
    if args.max_age is not None:
        try:
            max_age = parse_age(args.max_age)
        except ValueError as e:
            raise UsageError(f"--max-age: {e}") from None
    model = load_model(args.model)
    now = datetime.now(UTC)
    unusable = checked = 0
    findings: list[dict[str, Any]] = []
    cassettes: list[dict[str, Any]] = []
    for path in args.cassettes:
        try:
            interactions = read_interactions(path)
            file_time = Path(path).stat().st_mtime
        except (InputError, OSError) as e:
            print(f"chime-tap: {e}", file=sys.stderr)
            unusable += 1
            continue
        rejected = rejected_requests(interactions)
        found = [f.to_dict() for f in check_all(model, path, interactions, set(rejected))]
        checked += len(interactions)
        since, source = recorded_since(interactions, file_time)
        age_s = (now - since).total_seconds()
        too_old = max_age is not None and age_s > max_age
        info = {
            "cassette": path,
            "interactions": len(interactions),
            "recorded_by": recorded_by(interactions),
            "recorded_since": since.isoformat(),
            "age_from": source,
            "age_days": round(age_s / 86400, 1),
            "too_old": too_old,
            "rejected": rejected,
            "findings": len(found),
        }
        cassettes.append(info)
        findings += found
        if args.format == "text":
            _print_cassette(info, found, args.max_age)
    if args.format == "json":
        doc = {"model": model.source, "api_version": model.version, "cassettes": cassettes,
               "findings": findings}  # fmt: skip
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        old = sum(c["too_old"] for c in cassettes)
        rejected = sum(len(c["rejected"]) for c in cassettes)
        problems = [f"{len(findings)} finding(s)"] if findings else []
        problems += [f"{old} cassette(s) older than {args.max_age}"] if old else []
        problems += [f"{unusable} unusable input(s)"] if unusable else []
        outcome = "; ".join(problems) or "OK"
        if rejected:
            outcome += f" ({rejected} rejected bad request(s) not checked)"
        print(
            f"{checked} interaction(s) in {len(cassettes)} input(s) checked against "
            f"{model.source} (API {model.version}): {outcome}",
            file=sys.stderr,
        )
    if unusable:
        return 2
    return 1 if findings or any(c["too_old"] for c in cassettes) else 0


def rejected_requests(interactions: list[Any]) -> list[int]:
    """The indexes of the calls the service rejected as bad requests when they were recorded:
    answered 400 BadRequestException for violations of the request alone, by today's schemas
    (the calls ``validate --allow-rejected`` accepts)."""
    from chime_tap.api.validation import rejected_as_bad_request, validate_interaction

    return [
        i.index
        for i in interactions
        if i.status == 400 and rejected_as_bad_request(i, validate_interaction(i)[1])
    ]


SHOWN_REJECTED = 10  # rejected calls a cassette's line names; the rest are counted


def _print_cassette(info: dict[str, Any], found: list[dict[str, Any]], max_age: str | None) -> None:
    since = info["recorded_since"][:10]
    sdks = ", ".join(info["recorded_by"]) or "nobody (no proxy-session calls)"
    age = f"{info['age_days']:g} days ago, from {info['age_from']}"
    print(f"{info['cassette']}: recorded by {sdks}; since {since} ({age})")
    rejected = info["rejected"]
    if rejected:
        named = ", ".join(f"#{n}" for n in rejected[:SHOWN_REJECTED])
        more = len(rejected) - SHOWN_REJECTED
        named += f" and {more} more" if more > 0 else ""
        print(
            f"{info['cassette']}: {len(rejected)} call(s) rejected as bad requests when recorded "
            f"(400 BadRequestException), so no staleness; their requests not checked: {named}"
        )
    if info["too_old"]:
        print(f"{info['cassette']}: older than --max-age {max_age}; record it again")
    for f in found:
        print(f"{f['cassette']} #{f['index']} {f['operation']}: {f['message']}")
