"""pytest plugin (entry point ``pytest11``): replay chime-tap cassettes in tests, offline by default.

    @pytest.mark.chime_cassette("lifecycle.yaml")   # tests/cassettes/lifecycle.yaml
    def test_get(chime_cassette):
        ...

- ``--chime-record-mode`` (none, once, new_episodes, all; default none: CI never touches the
  network). ``chime_cassette_dir`` (ini) names the cassette directory next to each test
  module (default ``cassettes``). A cassette name that leads out of it (``..``, an absolute
  path, a symlink out) fails the test, unless the marker says ``allow_outside_dir=True`` or
  the ini ``chime_cassette_allow_outside_dir = true``.
- Fixtures: ``chime_vcr_config`` ({}; override it in conftest.py with ``make_vcr`` keywords),
  ``chime_vcr`` (the configured VCR), ``chime_cassette`` (the vcrpy Cassette of a marked test,
  None otherwise), ``chime_cassette_path``.
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

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chime_tap.options import RECORD_MODES
from chime_tap.pytest_support import ALLOW_OUTSIDE, ALLOW_OUTSIDE_INI

_REPORT_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chime-tap", "chime-tap cassette replay")
    group.addoption(
        "--chime-record-mode",
        action="store",
        default="none",
        choices=RECORD_MODES,
        help="vcrpy record mode for @pytest.mark.chime_cassette tests (default: none, replay only)",
    )
    parser.addini(
        "chime_cassette_dir",
        "directory next to each test module holding its chime-tap cassettes",
        default="cassettes",
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
def chime_vcr(chime_vcr_config: dict[str, Any], chime_record_mode: str):
    """The vcr.VCR chime-tap configures for this test (record mode from the command line)."""
    from chime_tap.vcr_config import make_vcr

    config = dict(chime_vcr_config)
    if "record_mode" in config:
        pytest.fail(
            "chime_vcr_config: set the record mode with --chime-record-mode, not record_mode",
            pytrace=False,
        )
    try:
        return make_vcr(**config, record_mode=chime_record_mode)
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
    from chime_tap.pytest_support import marker_settings, setup_problem, swallowed_misses

    marker = request.node.get_closest_marker("chime_cassette")
    _, overrides = marker_settings(marker.args, marker.kwargs)
    overrides.pop(ALLOW_OUTSIDE, None)  # the plugin's, not vcrpy's
    problem = setup_problem(overrides, chime_record_mode, chime_cassette_path)
    if problem:
        pytest.fail(problem, pytrace=False)
    vcr = request.getfixturevalue("chime_vcr")
    try:
        context = vcr.use_cassette(str(chime_cassette_path), **overrides)
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
    problem = swallowed_misses(cassette, passed=call is not None and call.passed)
    if problem:
        pytest.fail(problem, pytrace=False)
