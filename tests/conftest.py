"""Session-wide guard: no credential the tests sign with may land in any file the suite writes."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from chime_tap.demo_workload import DEMO_KEY_ID, DEMO_SECRET
from support.procs import SECRETS, secrets_in_file

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
# Output directories the suite (or the commands it runs) may write outside the tmp dirs.
OUTPUT_DIRS = (ROOT / "build",)


def _files(root: Path, since: float) -> Iterator[Path]:
    paths = [root] if root.is_file() else root.rglob("*")
    for path in paths:
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since:
                yield path
        except OSError:  # removed while we walk (a process still shutting down)
            continue


def find_secrets(
    roots: Iterable[Path], secrets: Iterable[str] = SECRETS, since: float = 0.0
) -> list[tuple[Path, str]]:
    """(file, secret) for every secret found in a file under ``roots`` written at or after ``since``."""
    secrets = tuple(secrets)
    found = []
    for root in roots:
        if not root.exists():
            continue
        for path in _files(root, since):
            try:
                found += [(path, secret) for secret in secrets_in_file(path, secrets)]
            except OSError:
                continue
    return found


@pytest.fixture(scope="session", autouse=True)
def no_secrets_on_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the last test: fail the run if any test credential reached a file."""
    started = time.time() - 1
    basetemp = tmp_path_factory.getbasetemp()
    yield
    # The tests' own credentials, and the demo's (make demo signs its calls with those).
    secrets = (*SECRETS, DEMO_KEY_ID, DEMO_SECRET)
    leaks = find_secrets([basetemp, *OUTPUT_DIRS], secrets, since=started)
    if leaks:
        lines = "\n".join(f"  {path}: {secret[:8]}..." for path, secret in leaks)
        pytest.fail(f"test credentials written to disk:\n{lines}", pytrace=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``chime-tap ARGS`` in this process: its exit code, stdout and stderr, as a process gives them."""
    from chime_tap.cli import main

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        argv = list(map(str, args))
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's usage errors, as the real entry point exits
            code = e.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    return run


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own, with Hypothesis's plugin left out of the inner runs: it imports all of
    Hypothesis at start-up (0.7 of the 1.1 CPU-s an inner pytest takes here), and no inner
    test uses it. pytester empties PYTEST_ADDOPTS as it starts; this is set after."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    return pytester


_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures() -> list[str]:
    """Lines a test adds to the run's summary: the figures the reliability tests measure."""
    return _FIGURES


_FIGURES_KEY = "chime_tap_figures"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files holding a ``slow`` test first, then the files with the most tests, each file's
    own order kept. make test runs pytest-xdist with ``--dist loadfile --no-loadscope-reorder``,
    which hands files out in this order: each worker starts on a long one, rather than one
    worker drawing a long file late and finishing minutes after the others."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    count = Counter(item.path for item in items)
    items.sort(key=lambda item: (item.path not in slow, -count[item.path]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its figures go to the controller
        workeroutput[_FIGURES_KEY] = list(_FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist's controller, as each worker ends: collect the figures it measured."""
    _FIGURES.extend(getattr(node, "workeroutput", {}).get(_FIGURES_KEY, []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("chime-tap figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
