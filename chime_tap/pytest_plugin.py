"""pytest plugin (entry point ``pytest11``): replay chime-tap cassettes in tests, offline by default.

    @pytest.mark.chime_cassette("lifecycle.yaml")   # tests/cassettes/lifecycle.yaml
    def test_get(chime_cassette):
        ...

- ``--chime-record-mode`` (none, once, new_episodes, all, rewrite; default none: CI never
  touches the network). ``rewrite`` records each marked test's cassette afresh into a new file
  and puts it in place of the old one only if the test passed. ``chime_cassette_dir`` (ini)
  names the cassette directory next to each test module (default ``cassettes``). A cassette name that leads out of it (``..``, an absolute
  path, a symlink out) fails the test, unless the marker says ``allow_outside_dir=True`` or
  the ini ``chime_cassette_allow_outside_dir = true``.
- Fixtures: ``chime_vcr_config`` ({}; override it in conftest.py with ``make_vcr`` keywords),
  ``chime_vcr`` (the configured VCR), ``chime_cassette`` (the vcrpy Cassette of a marked test,
  None otherwise), ``chime_cassette_path``, ``chime_calls`` (the calls the test replayed or
  recorded, with ``assert_called``, ``assert_order``, ``assert_all_played``; see
  ``chime_tap.played_calls``).
- ``chime_botocore_fast_path`` (ini, default true): boto3 calls are answered from the
  cassette where botocore sends them, skipping urllib3 and vcrpy's connection stubs, whenever
  that gives what vcrpy would (``chime_tap.botocore_replay``); false sends every call through
  vcrpy. ``botocore_fast_path`` in ``chime_vcr_config`` or as a marker keyword does the same
  per test.
- Unused interactions: at the end of the run, each cassette's recorded interactions no test
  played are listed. ``--chime-fail-on-unused`` fails a passing test that left some of its
  cassette unplayed, or, for a cassette several tests share, the session. The run's usage log
  (``.pytest_cache/d/chime-tap/``, or ``--chime-usage-log PATH``) is what ``chime-tap prune``
  reads to remove them.
- A request no cassette holds fails the test, even when the client swallowed the error, with
  the closest recorded request (by ``chime-tap replay``'s rule: the same operation first) and
  each matcher that failed (with the JSON pointer for bodies). Each such request is told once,
  with how many times it was sent: a client's retries are not told three times. When a miss
  failed the test, that replaces the client's traceback (``--fulltrace`` keeps it).
- Identical calls replay in recorded order; once all were played the next one fails the test
  (``exhausted="fail"``, as ``chime-tap replay``'s default); ``exhausted="repeat"`` in
  ``chime_vcr_config`` or as a marker keyword repeats the last answer instead.

Names are all ``chime_``-prefixed so the plugin sits next to pytest-recording without a clash.
The work lives in ``chime_tap.vcr_config`` and ``chime_tap.pytest_support``; this module holds
hooks and fixtures only.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chime_tap.options import RECORD_MODES
from chime_tap.pytest_support import (
    ALLOW_OUTSIDE,
    ALLOW_OUTSIDE_INI,
    FAST_PATH,
    FAST_PATH_INI,
    REWRITE,
)

_REPORT_KEY = pytest.StashKey[dict]()
_USES_KEY = pytest.StashKey[list]()  # the run's usage.Use entries
_USE_KEY = pytest.StashKey[Any]()  # a test's own usage.Use
_USERS_KEY = pytest.StashKey[Counter]()  # cassette path -> how many selected tests use it
_SHARED_UNUSED_KEY = pytest.StashKey[list]()  # shared cassettes that failed the session
_WORKER_OUTPUT = "chime_tap_uses"  # pytest-xdist: a worker's uses, sent to the controller


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chime-tap", "chime-tap cassette replay")
    group.addoption(
        "--chime-record-mode",
        action="store",
        default="none",
        choices=(*RECORD_MODES, REWRITE),
        help="vcrpy record mode for @pytest.mark.chime_cassette tests (default: none, replay "
        "only); rewrite: record afresh, replace the cassette only if the test passed",
    )
    group.addoption(
        "--chime-fail-on-unused",
        action="store_true",
        default=False,
        help="fail a passing test whose cassette holds interactions it never played (for a "
        "cassette several tests share: fail the session)",
    )
    group.addoption(
        "--chime-usage-log",
        action="store",
        default=None,
        metavar="PATH",
        help="write what each cassette played to PATH (default: pytest's cache, "
        ".pytest_cache/d/chime-tap/); chime-tap prune reads it",
    )
    parser.addini(
        "chime_cassette_dir",
        "directory next to each test module holding its chime-tap cassettes",
        default="cassettes",
    )
    parser.addini(
        FAST_PATH_INI,
        "answer boto3 calls from the cassette where botocore sends them, skipping urllib3 and "
        "vcrpy's stubs, when the answer is the same (false: every call goes through vcrpy)",
        type="bool",
        default=True,
    )
    parser.addini(
        ALLOW_OUTSIDE_INI,
        "let chime_cassette names lead outside chime_cassette_dir (.., absolute paths)",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chime_cassette(name=None, **vcr_overrides): replay the chime-tap cassette NAME (relative to "
        "chime_cassette_dir next to the test module; default <module>/<test>.yaml) around the test; "
        'exhausted="repeat" repeats the last answer to a call played more often than recorded; '
        f"{ALLOW_OUTSIDE}=True lets NAME lead outside chime_cassette_dir",
    )
    config.stash[_USES_KEY] = []
    config.stash[_USERS_KEY] = Counter()
    config.stash[_SHARED_UNUSED_KEY] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Which cassettes several selected tests share: their unused interactions are the session's.
    from chime_tap.pytest_support import item_cassette

    users = config.stash[_USERS_KEY]
    for item in items:
        path = item_cassette(item)
        if path is not None:
            users[path] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from dataclasses import asdict

    from chime_tap.usage import summarize

    config = session.config
    uses = config.stash.get(_USES_KEY, [])
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # pytest-xdist: the controller reports, logs and decides
        config.workeroutput[_WORKER_OUTPUT] = [asdict(u) for u in uses]
        return
    if not uses:
        return
    _write_usage_log(config, uses)
    if not config.getoption("chime_fail_on_unused"):
        return
    shared = [
        usage
        for usage in summarize(uses).values()
        if len({u.test for u in usage.uses}) > 1
        and all(u.passed for u in usage.uses)
        and usage.unplayed()
    ]
    config.stash[_SHARED_UNUSED_KEY] = shared
    if shared and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker is done; its cassettes' uses join the run's."""
    from chime_tap.usage import Use

    output = getattr(node, "workeroutput", None) or {}
    node.config.stash[_USES_KEY].extend(Use(**u) for u in output.get(_WORKER_OUTPUT, ()))


def _write_usage_log(config: pytest.Config, uses: list) -> None:
    from chime_tap.pytest_support import usage_log_path
    from chime_tap.usage import write_log

    path = usage_log_path(config.getoption("chime_usage_log"), getattr(config, "cache", None))
    if path is not None:
        write_log(path, uuid.uuid4().hex, uses)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    from chime_tap.pytest_support import unplayed_text
    from chime_tap.usage import summarize

    uses = config.stash.get(_USES_KEY, [])
    report = []
    for usage in summarize(uses).values():
        unplayed = usage.unplayed()
        if unplayed:
            name = _shown(usage.cassette, config)
            report.append(unplayed_text(name, unplayed, usage.describe, usage.interactions))
    if not report:
        return
    terminalreporter.write_sep("=", "chime-tap: recorded interactions never played")
    for text in report:
        terminalreporter.write_line(text)
    if _logs_usage(config):
        terminalreporter.write_line(
            "to remove them: chime-tap prune CASSETTE... (it reads this run's usage log)"
        )
    else:  # -p no:cacheprovider: prune would find no log of this run
        terminalreporter.write_line(
            "to remove them, run again with pytest's cache or --chime-usage-log PATH, then "
            "chime-tap prune CASSETTE... (it reads that run's usage log)"
        )
    shared = config.stash.get(_SHARED_UNUSED_KEY, [])
    if shared:
        names = ", ".join(_shown(u.cassette, config) for u in shared)
        terminalreporter.write_line(
            f"--chime-fail-on-unused: {len(shared)} cassette(s) shared by several tests left "
            f"interactions unplayed ({names}): the session fails",
            red=True,
        )


def _shown(path: str, config: pytest.Config) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    item.stash.setdefault(_REPORT_KEY, {})[report.when] = report
    cassette = getattr(item, "funcargs", {}).get("chime_cassette")
    if report.when == "call" and report.failed and cassette is not None:
        from chime_tap.pytest_support import explain_failure

        explain_failure(
            report, call.excinfo, cassette, item.path, item.config.getoption("fulltrace")
        )
    return report


@pytest.fixture
def chime_vcr_config() -> dict[str, Any]:
    """Keywords for ``chime_tap.vcr_config.make_vcr``; override in conftest.py."""
    return {}


@pytest.fixture
def chime_record_mode(request: pytest.FixtureRequest) -> str:
    """The record mode of this run (``--chime-record-mode``)."""
    return request.config.getoption("--chime-record-mode")


@pytest.fixture
def chime_vcr(
    request: pytest.FixtureRequest, chime_vcr_config: dict[str, Any], chime_record_mode: str
):
    """The vcr.VCR chime-tap configures for this test (record mode from the command line)."""
    from chime_tap.pytest_support import vcr_record_mode
    from chime_tap.vcr_config import make_vcr

    config = {FAST_PATH: request.config.getini(FAST_PATH_INI), **chime_vcr_config}
    if "record_mode" in config:
        pytest.fail(
            "chime_vcr_config: set the record mode with --chime-record-mode, not record_mode",
            pytrace=False,
        )
    try:
        return make_vcr(**config, record_mode=vcr_record_mode(chime_record_mode))
    except (TypeError, ValueError) as e:
        problem = str(e)
    pytest.fail(f"chime_vcr_config: {problem}", pytrace=False)


@pytest.fixture
def chime_cassette_path(request: pytest.FixtureRequest) -> Path | None:
    """The cassette file of a test marked ``chime_cassette``; None for an unmarked test."""
    from chime_tap.pytest_support import cassette_path, marker_settings, outside_problem

    marker = request.node.get_closest_marker("chime_cassette")
    if marker is None:
        return None
    try:
        name, overrides = marker_settings(marker.args, marker.kwargs)
    except ValueError as e:
        problem: str | None = str(e)
    else:
        directory = request.config.getini("chime_cassette_dir")
        path = cassette_path(request.path, directory, name, request.node.name)
        allowed = overrides.get(ALLOW_OUTSIDE) or request.config.getini(ALLOW_OUTSIDE_INI)
        problem = None if allowed else outside_problem(request.path, directory, path, name)
        if problem is None:
            return path
    pytest.fail(problem, pytrace=False)


@pytest.fixture(autouse=True)
def chime_cassette(
    request: pytest.FixtureRequest, chime_cassette_path: Path | None, chime_record_mode: str
) -> Iterator[Any]:
    """The vcrpy Cassette a marked test runs in (None for an unmarked test, which it leaves alone)."""
    if chime_cassette_path is None:
        yield None
        return
    from chime_tap.pytest_support import (
        finish_rewrite,
        marker_settings,
        rewrite_path,
        setup_problem,
        swallowed_misses,
    )

    marker = request.node.get_closest_marker("chime_cassette")
    _, overrides = marker_settings(marker.args, marker.kwargs)
    overrides.pop(ALLOW_OUTSIDE, None)  # the plugin's, not vcrpy's
    problem = setup_problem(overrides, chime_record_mode, chime_cassette_path)
    if problem:
        pytest.fail(problem, pytrace=False)
    vcr = request.getfixturevalue("chime_vcr")
    target = chime_cassette_path
    if chime_record_mode == REWRITE:
        target = rewrite_path(chime_cassette_path)
        target.unlink(missing_ok=True)
    try:
        context = vcr.use_cassette(str(target), **overrides)
        cassette = context.__enter__()
    except Exception as e:  # a broken cassette or a bad override: one line, no traceback
        problem = f"chime_cassette: {e}"
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        yield cassette
    finally:
        context.__exit__(None, None, None)
    call = request.node.stash.get(_REPORT_KEY, {}).get("call")
    passed = call is not None and call.passed
    rewriting = chime_record_mode == REWRITE
    if rewriting:
        finish_rewrite(target, chime_cassette_path, passed)
    if passed or not rewriting:  # a failed rewrite left the cassette as it was, unplayed
        _account(request, cassette, chime_cassette_path, passed)
    problem = swallowed_misses(cassette, passed=passed)
    if problem:
        pytest.fail(problem, pytrace=False)
    if passed and request.config.getoption("chime_fail_on_unused"):
        problem = _unused_problem(request, cassette, chime_cassette_path)
        if problem:
            pytest.fail(problem, pytrace=False)


def _account(request: pytest.FixtureRequest, cassette: Any, path: Path, passed: bool) -> None:
    """Add this test's use of its cassette to the run's usage log."""
    from chime_tap.pytest_support import use_of

    use = use_of(cassette, path, request.node.nodeid, passed)
    request.node.stash[_USE_KEY] = use
    request.config.stash[_USES_KEY].append(use)


def _unused_problem(request: pytest.FixtureRequest, cassette: Any, path: Path) -> str | None:
    """With --chime-fail-on-unused: why this test fails (its own cassette left unplayed)."""
    from chime_tap.pytest_support import unused_problem

    if request.config.stash[_USERS_KEY][path.resolve()] > 1:
        return None  # shared: the session decides, once every user ran
    use = request.node.stash.get(_USE_KEY, None)
    if use is None:
        return None
    return unused_problem(use, path, logged=_logs_usage(request.config))


def _logs_usage(config: pytest.Config) -> bool:
    """Whether this run writes its usage log (what ``chime-tap prune`` reads)."""
    from chime_tap.pytest_support import logs_usage

    return logs_usage(config.getoption("chime_usage_log"), getattr(config, "cache", None))


@pytest.fixture
def chime_calls(request: pytest.FixtureRequest, chime_cassette: Any) -> Any:
    """The calls this test replayed or recorded (a live list), with assertion helpers."""
    from chime_tap.played_calls import Calls

    if chime_cassette is None:
        pytest.fail(
            "chime_calls: the test has no @pytest.mark.chime_cassette, so no calls are kept",
            pytrace=False,
        )
    return Calls(
        lambda: chime_cassette.calls,
        lambda: [chime_cassette.label_of(n) for n in chime_cassette.unplayed()],
    )
