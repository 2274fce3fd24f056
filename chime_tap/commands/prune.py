"""Remove from cassettes the recorded interactions a test run never played.

The chime-tap pytest plugin logs which interactions of which cassette each test played
(in .pytest_cache/d/chime-tap/, or where --chime-usage-log said); prune reads the newest run's
log (--unused-from, default: the nearest .pytest_cache/d/chime-tap/ at or above the current
directory) and removes every interaction no test played. A call recorded with no response is
kept (it is never played, and reports count it). Every kept interaction stays byte for byte as
it was; the cassette is replaced atomically, the old file kept as CASSETTE.bak.

A cassette is left alone, with one line saying why, when no test of the logged run used it,
when it changed since (or during) the run, or when a test that used it failed (it may have
stopped before its last calls). A cassette this log already pruned (its backup is the logged
file and the cassette is that file pruned) is nothing to do: pruning twice is safe.

Exit status: 0 done (or nothing to remove); 1 with --dry-run when something would be removed;
2 when an input cannot be used (a missing or broken cassette or log, a cassette left alone).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from chime_tap.options import user_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "cassettes", nargs="+", metavar="CASSETTE", type=user_path, help="cassette to prune"
    )
    parser.add_argument(
        "--unused-from",
        action="append",
        metavar="RUNLOG",
        type=user_path,
        help="the pytest plugin's usage log: a file, or a directory of them (repeatable; "
        "default: the nearest .pytest_cache/d/chime-tap/)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be removed, change nothing (exit 1 if anything would be)",
    )


def run(args: argparse.Namespace) -> int:
    from chime_tap.errors import ChimeTapError, InputError
    from chime_tap.usage import default_log_dir, read_logs, summarize

    logs = [Path(p) for p in args.unused_from or ()]
    if not logs:
        found = default_log_dir(Path.cwd())
        if found is None:
            raise InputError(
                "no usage log found (.pytest_cache/d/chime-tap/ here or above); run the tests "
                "with the chime-tap pytest plugin first, or name the log with --unused-from"
            )
        logs = [found]
    usage = summarize(read_logs(logs))
    refused = would = 0
    for name in args.cassettes:
        try:
            removed = _prune_one(Path(name), usage, args.dry_run)
        except ChimeTapError as e:
            print(f"chime-tap: {e}", file=sys.stderr)
            refused += 1
            continue
        would += bool(removed)
    if refused:
        return 2
    return 1 if args.dry_run and would else 0


def _pruned_already(path: Path, data: bytes, logged_sha256: str, drop: list[int]) -> bool:
    """Whether ``data`` is what pruning the logged cassette gives: its backup is the file the
    run logged, and cutting the unplayed interactions out of it gives exactly ``data`` (a
    second prune with the same log is nothing to do, not a cassette that changed)."""
    from chime_tap.errors import CassetteError
    from chime_tap.prune import backup_of, without

    backup = backup_of(path)
    try:
        old = backup.read_bytes()
    except OSError:
        return False
    if not drop or hashlib.sha256(old).hexdigest() != logged_sha256:
        return False
    try:
        return without(old, drop, str(backup)) == data
    except CassetteError:
        return False


def _prune_one(path: Path, usage: dict, dry_run: bool) -> int:
    """Prune one cassette; how many interactions were (or would be) removed."""
    from chime_tap.cassettes.reader import refuse_special_file
    from chime_tap.errors import CassetteError
    from chime_tap.prune import backup_of, replace_file, without

    refuse_special_file(path, CassetteError)
    if not path.is_file():
        raise CassetteError(f"{path}: no such cassette")
    used = usage.get(str(path.resolve()))
    if used is None:
        raise CassetteError(
            f"{path}: no test of the logged run used it; left alone (a test that was not run "
            "may need it)"
        )
    failed = [u.test for u in used.uses if not u.passed]
    if failed:
        raise CassetteError(
            f"{path}: {failed[0]} failed while using it (it may have stopped before its last "
            "calls); left alone: run the tests again until they pass"
        )
    if len({u.sha256 for u in used.uses}) > 1:
        raise CassetteError(
            f"{path}: recorded again during the logged run; left alone: run the tests once more "
            "without recording, then prune"
        )
    data = path.read_bytes()
    drop = used.unplayed()
    if hashlib.sha256(data).hexdigest() != used.uses[-1].sha256:
        if _pruned_already(path, data, used.uses[-1].sha256, drop):
            print(f"{path}: already pruned with this run's log; nothing to remove")
            return 0
        raise CassetteError(
            f"{path}: changed since the logged run; left alone: run the tests again, then prune"
        )
    if not drop:
        print(f"{path}: every recorded interaction was played; nothing to remove")
        return 0
    new = without(data, drop, str(path))
    shown = ", ".join(f"#{n}" for n in drop)
    total = used.interactions
    if dry_run:
        print(f"{path}: would remove {len(drop)} of {total} interaction(s) never played ({shown})")
        return len(drop)
    backup = backup_of(path)
    replace_file(path, data, new, backup)
    print(
        f"{path}: removed {len(drop)} of {total} interaction(s) never played ({shown}); "
        f"the old file is {backup}"
    )
    return len(drop)
