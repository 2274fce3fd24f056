"""What the pytest plugin needs besides hooks and fixtures: where a cassette lives, the marker,
what a test that hit a request with no recorded answer says about it, what a run played (for
the unused report and ``chime-tap prune``) and the ``rewrite`` record mode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "ALLOW_OUTSIDE",
    "ALLOW_OUTSIDE_INI",
    "CASSETTE_SUFFIXES",
    "FAST_PATH",
    "FAST_PATH_INI",
    "REWRITE",
    "cassette_path",
    "explain_failure",
    "finish_rewrite",
    "item_cassette",
    "marker_settings",
    "miss_report",
    "outside_problem",
    "rewrite_path",
    "setup_problem",
    "swallowed_misses",
    "unplayed_text",
    "unused_problem",
    "usage_log_path",
    "use_of",
    "vcr_record_mode",
]

CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")
# The marker keyword, and the ini option, that let a cassette live outside chime_cassette_dir.
ALLOW_OUTSIDE = "allow_outside_dir"
ALLOW_OUTSIDE_INI = "chime_cassette_allow_outside_dir"
# The make_vcr keyword, and the ini option, that switch boto3 replay without HTTP on or off.
FAST_PATH = "botocore_fast_path"
FAST_PATH_INI = "chime_botocore_fast_path"


def cassette_path(
    test_file: str | os.PathLike[str], cassette_dir: str, name: str | None, test_name: str
) -> Path:
    """Where a test's cassette lives: ``<test dir>/<cassette_dir>/<name>`` (``.yaml`` added if no suffix).

    Without a name: ``<cassette_dir>/<test module>/<test name>.yaml``.
    """
    base = Path(test_file).parent / cassette_dir
    if not name:
        name = f"{Path(test_file).stem}/{test_name.replace('/', '_')}"
    path = base / name
    if path.suffix.lower() not in CASSETTE_SUFFIXES:
        path = path.with_name(path.name + ".yaml")
    return path


def outside_problem(
    test_file: str | os.PathLike[str], cassette_dir: str, path: Path, name: str | None
) -> str | None:
    """Why ``path`` may not be a test's cassette: it lies outside the cassette directory (a
    ``..``, an absolute name, a symlink out); None if it lies inside.

    A cassette name is read and written (record modes create its directories), so a name
    that escapes the directory could write anywhere the test run may.
    """
    base = Path(test_file).parent / cassette_dir
    if path.resolve().is_relative_to(base.resolve()):
        return None
    return (
        f"chime_cassette: {name!r} is outside the cassette directory {base} "
        f"({path.resolve()}); refused. To use a cassette there, say so: "
        f"@pytest.mark.chime_cassette(..., {ALLOW_OUTSIDE}=True), or "
        f"{ALLOW_OUTSIDE_INI} = true in the ini file"
    )


def marker_settings(args: tuple, kwargs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(cassette name, vcr overrides) from ``@pytest.mark.chime_cassette(name, **overrides)``;
    ``allow_outside_dir`` stays among the overrides (the plugin takes it out, vcrpy never sees it).
    """
    kwargs = dict(kwargs)
    if len(args) > 1:
        raise ValueError(f"chime_cassette takes one cassette name, got {len(args)}: {args!r}")
    name = args[0] if args else kwargs.pop("path", None)
    if name is not None and not isinstance(name, str | os.PathLike):
        raise ValueError(f"chime_cassette: the cassette name must be a string, got {name!r}")
    return (os.fspath(name) if name is not None else None), dict(kwargs)


def setup_problem(overrides: dict[str, Any], record_mode: str, path: Path) -> str | None:
    """Why a marked test cannot run in its cassette as asked (one line), or None."""
    from chime_tap.cassettes.reader import refuse_special_file
    from chime_tap.errors import CassetteError

    if "record_mode" in overrides:
        return "chime_cassette: set the record mode with --chime-record-mode, not record_mode"
    try:  # a FIFO or a device: read, it would hang or never end; recorded, it would be replaced
        refuse_special_file(path, CassetteError)
    except CassetteError as e:
        return f"chime_cassette: {e}"
    if record_mode == "none" and not path.is_file():
        return f"chime_cassette: {path} does not exist; record it with --chime-record-mode=once"
    return None


# How a user of the plugin lets identical calls repeat (the proxy's --exhausted repeat).
PLUGIN_REPEATS = 'exhausted="repeat" (in chime_vcr_config, or as a chime_cassette marker keyword)'
RECORD_IT = "run pytest once with --chime-record-mode=new_episodes"


def _miss_text(cassette: Any, miss: Any) -> str:
    """One request the cassette could not play: the call, the closest recorded one, how to fix it."""
    from chime_tap.playback import call_line, exhausted_message

    request = miss.request
    if miss.exhausted:
        lines = [
            exhausted_message(len(miss.closest), request.method, request.uri, PLUGIN_REPEATS),
            "  recorded as " + ", ".join(cassette.label(c.number) for c in miss.closest),
        ]
        fixes = [
            f"If this call may get the last answer again, set {PLUGIN_REPEATS}: identical "
            "calls replay in recorded order, then the last answer repeats.",
            f"Otherwise record the extra call: {RECORD_IT}.",
        ]
    else:
        call = call_line(request.method, request.uri)
        lines = [f"chime-tap replay: no recorded interaction matches {call}"]
        if miss.closest:
            closest = miss.closest[0]
            stored = cassette.data[closest.number][0]
            lines.append(
                f"  closest is {cassette.label(closest.number)} ({stored.method} {stored.uri}), "
                "which differs in:"
            )
            lines += [f"    {name}: {message}" for name, message in closest.failed]
        else:
            lines.append(f"  {cassette.file} holds no answered call")
        fixes = [
            f"If the request changed on purpose, record it: {RECORD_IT}.",
            "If the difference changes on every run (a timestamp, a random id), leave it out "
            "of matching: set match_on in chime_vcr_config.",
        ]
    if miss.count > 1:
        lines.insert(1, f"  sent {miss.count} times (retries included); shown once")
    return "\n".join([*lines, "How to fix:", *(f"  * {fix}" for fix in fixes)])


def miss_report(cassette: Any) -> str | None:
    """Every request ``cassette`` could not play, each once however often it was sent; or None."""
    misses = getattr(cassette, "misses", None)
    if not misses:
        return None
    return "\n\n".join(_miss_text(cassette, miss) for miss in list(misses))


def swallowed_misses(cassette: Any, passed: bool) -> str | None:
    """The failure of a test that passed though a request had no recorded match, or None."""
    missed = miss_report(cassette)
    if missed and passed:
        return f"chime_cassette: a request had no recorded match, though the test passed:\n{missed}"
    return None


def _caused_by_a_miss(error: BaseException | None) -> bool:
    from vcr.errors import CannotOverwriteExistingCassetteException

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, CannotOverwriteExistingCassetteException):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


class MissRepr:
    """A failed test's report when a miss failed it: where, then each miss told once.

    pytest prints ``toterminal``; its one-line summary reads ``reprcrash.message``.
    """

    def __init__(self, where: tuple[str, int, str], text: str) -> None:
        path, lineno, statement = where
        self.text = f"{path}:{lineno}: {statement}\n\n{text}"
        self.reprcrash = _Crash(path, lineno, text.splitlines()[0])

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class _Crash:
    __slots__ = ("lineno", "message", "path")

    def __init__(self, path: str, lineno: int, message: str) -> None:
        self.path, self.lineno, self.message = path, lineno, message


def _where(excinfo: Any, test_file: Path, shown_path: str) -> tuple[str, int, str]:
    """(path, line, statement): where in the test the call that missed was made."""
    in_test = [e for e in excinfo.traceback if Path(e.path) == test_file]
    if in_test:
        entry = in_test[-1]
    elif excinfo.traceback:  # not made from the test module itself: the innermost frame
        entry = excinfo.traceback[-1]
        shown_path = str(entry.path)
    else:
        return shown_path, 0, "(no traceback)"
    return shown_path, entry.lineno + 1, f"in {entry.name}: {str(entry.statement).strip()}"


def explain_failure(report: Any, excinfo: Any, cassette: Any, test_file: Path, full: bool) -> None:
    """Say once what a failed test's cassette could not play, however often the client retried.

    When a miss failed the test, the report shows where in the test the call was and each miss
    explained once, instead of the client's traceback (which holds vcrpy's text once per
    chained exception); ``full`` (``--fulltrace``) keeps the traceback and adds the misses. When
    the test failed for another reason, the misses are a section of the report.
    """
    missed = miss_report(cassette)
    if not missed:
        return
    if excinfo is not None and not full and _caused_by_a_miss(excinfo.value):
        report.longrepr = MissRepr(_where(excinfo, test_file, report.location[0]), missed)
        return
    report.sections.append(("chime-tap: requests the cassette could not play", missed))


# --- upkeep: what a run played, rewrite mode, the calls a test made ----------------------------

REWRITE = "rewrite"  # the plugin's record mode beyond vcrpy's: record afresh, keep if passed


def vcr_record_mode(mode: str) -> str:
    """vcrpy's record mode for the plugin's: ``rewrite`` records everything (into a new file)."""
    return "all" if mode == REWRITE else mode


def rewrite_path(path: Path) -> Path:
    """Where ``rewrite`` records, beside the cassette (same suffix: the same format)."""
    return path.with_name(f".{path.stem}.rewrite-{os.getpid()}{path.suffix}")


def finish_rewrite(recorded: Path, path: Path, passed: bool) -> None:
    """Put a rewritten cassette in place of the old one if the test passed; else drop it.

    A test that passed without a call leaves no new file: the old cassette stays.
    """
    if passed and recorded.is_file():
        os.replace(recorded, path)
    else:
        recorded.unlink(missing_ok=True)


def use_of(cassette: Any, path: Path, test: str, passed: bool) -> Any:
    """The usage-log entry of one test's use of ``cassette`` (stored at ``path``)."""
    from chime_tap.playback import call_line
    from chime_tap.usage import Use, file_sha256

    recorded = any(p is None for p in cassette.file_positions)
    if recorded:  # vcrpy saved the file again: every position in data, in order
        n = len(cassette.data)
        played = [
            i for i in range(n) if cassette.play_counts[i] or cassette.file_positions[i] is None
        ]
        unanswered = sorted(cassette.unanswered_positions())
        requests = {i: cassette.data[i][0] for i in range(n)}
    else:
        n = cassette.loaded
        played = cassette.played_file_positions()
        unanswered = cassette.unanswered_file_positions()
        requests = {p: cassette.data[i][0] for i, p in enumerate(cassette.file_positions)}
    use = Use(
        cassette=str(path.resolve()),
        sha256=file_sha256(path),
        interactions=n,
        played=played,
        unanswered=unanswered,
        test=test,
        passed=passed,
        recorded=recorded,
    )
    for position in use.unplayed():
        request = requests.get(position)
        if request is not None:
            use.calls[str(position)] = call_line(request.method, request.uri)
    return use


def unplayed_text(name: str, positions: list[int], describe: Any, total: int) -> str:
    """``name: N of M recorded interaction(s) never played`` and one line per interaction."""
    lines = [f"{name}: {len(positions)} of {total} recorded interaction(s) never played"]
    lines += [f"  #{p} {describe(p)}".rstrip() for p in positions]
    return "\n".join(lines)


def unused_problem(use: Any, path: Path, *, logged: bool = True) -> str | None:
    """Why a test fails with --chime-fail-on-unused: what its cassette left unplayed; or None.
    ``logged``: the run writes a usage log (it does not without pytest's cache or
    --chime-usage-log), which ``chime-tap prune`` needs."""
    unplayed = use.unplayed()
    if not unplayed:
        return None
    text = unplayed_text(path.name, unplayed, lambda p: use.calls.get(str(p), ""), use.interactions)
    prune = (
        f"chime-tap prune {path} (it reads this run's usage log)"
        if logged
        else f"chime-tap prune {path} after a run with pytest's cache or --chime-usage-log PATH"
    )
    return (
        f"chime_cassette: --chime-fail-on-unused: {text}\n"
        f"to remove them: {prune}, or record the cassette again: --chime-record-mode=rewrite"
    )


def logs_usage(explicit: str | None, cache: Any) -> bool:
    """Whether a run writes its usage log (see :func:`usage_log_path`)."""
    return bool(explicit) or cache is not None


def usage_log_path(explicit: str | None, cache: Any) -> Path | None:
    """Where the run's usage log goes: ``--chime-usage-log``, else pytest's cache; None: nowhere."""
    from chime_tap.usage import CACHE_DIR

    if not logs_usage(explicit, cache):
        return None
    return Path(explicit) if explicit else cache.mkdir(CACHE_DIR) / "usage-main.json"


def item_cassette(item: Any) -> Path | None:
    """The cassette file a collected test will use (None: unmarked, or a marker in error)."""
    marker = item.get_closest_marker("chime_cassette")
    if marker is None or not hasattr(item, "path"):
        return None
    try:
        name, _ = marker_settings(marker.args, marker.kwargs)
    except ValueError:
        return None
    directory = item.config.getini("chime_cassette_dir")
    return cassette_path(item.path, directory, name, item.name).resolve()
