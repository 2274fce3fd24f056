"""The usage log: which recorded interactions a test run played, per cassette file.

The pytest plugin adds one :class:`Use` per marked test (what its cassette played, by
position in the file, and the file's SHA-256 once the test was done with it) and writes the
run's log at the end (:func:`write_log`), by default into pytest's cache directory
(``.pytest_cache/d/chime-tap/usage-main.json``; under pytest-xdist the controller gathers its
workers' uses and writes the one log). ``chime-tap prune`` reads it back (:func:`read_logs`):
nobody keeps books by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chime_tap.errors import InputError

__all__ = [
    "CACHE_DIR",
    "LOG_VERSION",
    "CassetteUsage",
    "Use",
    "default_log_dir",
    "file_sha256",
    "read_logs",
    "summarize",
    "write_log",
]

LOG_VERSION = 1
CACHE_DIR = "chime-tap"  # pytest's config.cache.mkdir name: .pytest_cache/d/chime-tap
LOG_GLOB = "usage-*.json"


@dataclass
class Use:
    """One test's use of one cassette file."""

    cassette: str  # resolved path
    sha256: str  # of the file once the test was done with it ("" if it was gone)
    interactions: int  # how many the file held then
    played: list[int]  # positions in the file played (or recorded) by the test
    unanswered: list[int]  # positions of calls recorded with no response: never playable
    test: str  # the test's node id
    passed: bool
    recorded: bool = False  # the test recorded into the cassette
    calls: dict[str, str] = field(default_factory=dict)  # position -> "METHOD URI (Operation)"

    def unplayed(self) -> list[int]:
        skip = set(self.played) | set(self.unanswered)
        return [n for n in range(self.interactions) if n not in skip]


@dataclass
class CassetteUsage:
    """Every use of one cassette in a run, merged."""

    cassette: str
    uses: list[Use]

    @property
    def current(self) -> list[Use]:
        """The uses that saw the file as it is after the run (its last use's content)."""
        last = self.uses[-1].sha256
        return [u for u in self.uses if u.sha256 == last]

    @property
    def interactions(self) -> int:
        return self.uses[-1].interactions

    def unplayed(self) -> list[int]:
        """Positions no use (of the file as it ended up) played."""
        played: set[int] = set()
        for use in self.current:
            played.update(use.played)
        skip = played | set(self.uses[-1].unanswered)
        return [n for n in range(self.interactions) if n not in skip]

    def describe(self, position: int) -> str:
        for use in reversed(self.uses):
            if str(position) in use.calls:
                return use.calls[str(position)]
        return ""


def file_sha256(path: str | os.PathLike[str]) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def summarize(uses: Iterable[Use]) -> dict[str, CassetteUsage]:
    """Uses grouped by cassette, in the order the cassettes were first used."""
    out: dict[str, CassetteUsage] = {}
    for use in uses:
        out.setdefault(use.cassette, CassetteUsage(use.cassette, [])).uses.append(use)
    return out


def write_log(path: Path, run: str, uses: list[Use]) -> None:
    """The run's log, written atomically (a reader never sees half of it)."""
    doc = {
        "chime_tap_usage": LOG_VERSION,
        "run": run,
        "finished_at": time.time(),
        "uses": [asdict(u) for u in uses],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def default_log_dir(start: Path) -> Path | None:
    """The nearest ``.pytest_cache/d/chime-tap`` at or above ``start``."""
    for directory in (start, *start.parents):
        candidate = directory / ".pytest_cache" / "d" / CACHE_DIR
        if candidate.is_dir():
            return candidate
    return None


def _read_one(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the usage log ({e})") from None
    if not isinstance(doc, dict) or doc.get("chime_tap_usage") != LOG_VERSION:
        raise InputError(f"{path}: not a chime-tap usage log (written by the pytest plugin)")
    try:
        doc["uses"] = [Use(**u) for u in doc["uses"]]
    except (KeyError, TypeError) as e:
        raise InputError(f"{path}: a broken usage log ({e})") from None
    return doc


def read_logs(paths: Iterable[Path]) -> list[Use]:
    """The uses of the newest run among the logs at ``paths`` (files, or directories of them)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob(LOG_GLOB))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such usage log")
    if not files:
        raise InputError(
            f"no usage log in {', '.join(map(str, paths))}; run the tests first "
            "(the chime-tap pytest plugin writes it)"
        )
    docs = [_read_one(f) for f in files]
    newest = max(docs, key=lambda d: d.get("finished_at", 0))
    return [u for d in docs if d.get("run") == newest.get("run") for u in d["uses"]]
