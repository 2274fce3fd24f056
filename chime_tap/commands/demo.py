"""Record a scripted proxy-session workload against the built-in simulator, then validate and report it.

Starts `chime-tap record --upstream simulator` on loopback, drives a real boto3 chime-sdk-voice
client through it over HTTPS (chime_tap.demo_workload), stops the proxy, validates the cassette
and writes the reports. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chime_tap.demo_workload import (
    ERROR_RATE,
    SEED,
    THROTTLE_RATE,
    Tally,
    Workload,
    check_cassette,
    control_via,
)
from chime_tap.errors import ChimeTapError
from chime_tap.options import user_path
from chime_tap.process import CHIME_TAP_LISTEN_RE, ListeningProcess, chime_tap_argv

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="build/demo",
        type=user_path,
        help="directory for the cassette, the reports and the proxy's confdir (default build/demo)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help=f"seed for the simulator's faults and ids (default {SEED})",
    )


def run(args: argparse.Namespace) -> int:
    out = DemoOutput.prepare(Path(args.out))
    started = time.monotonic()
    with recording_proxy(out, args.seed) as proxy:  # 1/5
        tally = drive_workload(proxy, out)  # 2/5
        stop_proxy(proxy)  # 3/5
    try:
        with terminate_as_interrupt():
            validate_cassette(out, tally)  # 4/5
            write_reports(out)  # 5/5
    except KeyboardInterrupt:  # the proxy is gone already: say what is there to keep
        step(f"interrupted; the recording is complete: {out.cassette}")
        raise
    print_summary(out, tally, time.monotonic() - started)
    return 0


def step(message: str) -> None:
    """One progress line on stderr."""
    print(f"chime-tap demo: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class DemoOutput:
    """Where the demo writes: the cassette, the reports, the proxy's log and confdir."""

    root: Path

    @classmethod
    def prepare(cls, root: Path) -> DemoOutput:
        """The directory, made if missing, without the last run's cassette and reports."""
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ChimeTapError(
                f"--out {root}: cannot create the directory ({e.strerror})"
            ) from None
        out = cls(root)
        for stale in (out.cassette, out.report_txt, out.report_html):
            stale.unlink(missing_ok=True)  # a fresh recording each run; the writer would append
        return out

    @property
    def cassette(self) -> Path:
        return self.root / "demo.yaml"

    @property
    def confdir(self) -> Path:
        return self.root / "confdir"

    @property
    def proxy_log(self) -> Path:
        return self.root / "proxy.log"

    @property
    def report_txt(self) -> Path:
        return self.root / "report.txt"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"


def record_args(out: DemoOutput, seed: int) -> list[str]:
    """`chime-tap record` with the simulator upstream and the demo's fault settings."""
    return [
        *("record", "--upstream", "simulator", "--cassette", str(out.cassette)),
        *("--listen-host", "127.0.0.1", "--listen-port", "0", "--confdir", str(out.confdir)),
        *("--throttle-rate", str(THROTTLE_RATE), "--error-rate", str(ERROR_RATE)),
        *("--seed", str(seed)),
    ]


@contextlib.contextmanager
def recording_proxy(out: DemoOutput, seed: int) -> Iterator[ListeningProcess]:
    """Step 1: the recording proxy, listening; stopped with its process group however we leave."""
    step(
        f"1/5 starting the recording proxy with the built-in simulator (seed {seed}; log: {out.proxy_log})"
    )
    proxy = None
    try:
        with terminate_as_interrupt():  # from the start: an interrupt as it spawns says so too
            proxy = ListeningProcess(
                chime_tap_argv(record_args(out, seed)),
                log_path=out.proxy_log,
                name="the recording proxy",
                ready=CHIME_TAP_LISTEN_RE,
            )
            proxy.wait_listening(START_TIMEOUT)
            step(f"    listening on {proxy.url}")
            yield proxy
    except KeyboardInterrupt:
        step("interrupted; stopping the proxy")
        raise
    finally:
        if proxy is not None:
            if proxy.running:
                proxy.stop(timeout=STOP_TIMEOUT)
            proxy.kill()  # anything left in its process group


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM to the demo behaves like Ctrl+C: cleanup runs, the proxy goes too."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def drive_workload(proxy: ListeningProcess, out: DemoOutput) -> Tally:
    """Step 2: the scripted boto3 workload, over HTTPS through the proxy."""
    step("2/5 driving boto3 (chime-sdk-voice) over HTTPS through the proxy")
    ca_bundle = str(out.confdir / "mitmproxy-ca-cert.pem")
    workload = Workload(proxy.url, ca_bundle, control_via(proxy.url), progress=step)
    try:
        return workload.run()
    finally:
        workload.close()


def stop_proxy(proxy: ListeningProcess) -> None:
    """Step 3: stop the proxy, which flushes the cassette; it must exit cleanly."""
    step("3/5 stopping the proxy")
    code = proxy.stop(timeout=STOP_TIMEOUT)
    if code != 0:
        raise ChimeTapError(f"the recording proxy exited with status {code}; log: {proxy.log_path}")


def validate_cassette(out: DemoOutput, tally: Tally) -> None:
    """Step 4: the cassette holds every call, with violations only on the invalid ones."""
    step(f"4/5 validating {out.cassette}")
    checked, problems = check_cassette(out.cassette, tally)
    if problems:
        for p in problems:
            print(f"chime-tap demo: unexpected: {p}", file=sys.stderr)
        raise ChimeTapError(
            f"the demo cassette {out.cassette} has {len(problems)} unexpected problem(s)"
        )
    step(f"    {checked} proxy-session interactions; {invalid_line(tally)}")


def invalid_line(tally: Tally) -> str:
    """Where the violations are: the deliberately invalid calls, and their retries."""
    calls = f"the {tally.invalid_calls} deliberately invalid calls"
    extra = tally.invalid_attempts - tally.invalid_calls
    if extra:
        return f"violations only on {calls} ({tally.invalid_attempts} requests: {extra} retried)"
    return f"violations only on {calls}"


def validate_hint(me: str, cassette: Path, tally: Tally) -> str:
    """The next step's validate line, and what it will find: an invalid request the simulator
    answered with an injected fault (a 503 before its 400) is no rejection, so still a finding."""
    line = f"  {me} validate --allow-rejected {cassette}   # "
    if not tally.invalid_not_rejected:
        return line + "its invalid calls were answered 400: no finding"
    return line + (
        f"{tally.invalid_not_rejected} invalid request(s) got an injected fault, not a 400: "
        "still findings (exit 1)"
    )


def write_reports(out: DemoOutput) -> None:
    """Step 5: report.txt and report.html (chime_tap.analysis); the text report on stdout too."""
    from chime_tap.analysis import load_frame, render, summarize

    step("5/5 writing the reports")
    summary = summarize(load_frame([out.cassette]))
    text = render(summary, "text")
    text = text if text.endswith("\n") else text + "\n"
    out.report_txt.write_text(text, encoding="utf-8")
    out.report_html.write_text(render(summary, "html"), encoding="utf-8")
    print(text, end="")


def done_line(tally: Tally, seconds: float) -> str:
    """The closing line: API calls, and the HTTP attempts they took (retries are attempts too),
    by status."""
    statuses = ", ".join(f"{n}x{s}" for s, n in sorted(tally.statuses.items()))
    return (
        f"chime-tap demo: done in {seconds:.1f}s: {tally.calls} calls, {tally.attempts} HTTP "
        f"attempts including {tally.retries} retries ({statuses})"
    )


def print_summary(out: DemoOutput, tally: Tally, seconds: float) -> None:
    """What was done, where it is, and what to run next."""
    cassette = out.cassette
    me = command_here()
    lines = (
        done_line(tally, seconds),
        f"  cassette: {cassette}",
        f"  reports:  {out.report_txt}, {out.report_html}",
        "next:",
        validate_hint(me, cassette, tally),
        f"  {me} check {cassette}   # are its calls still what the API is?",
        f"  {me} report {cassette} --format html",
        f"  {me} replay --cassette {cassette}      # serve it back through the proxy",
        f"  {me} simulate                          # the simulator alone, for your own client",
    )
    print("\n".join(lines))


def command_here(argv0: str | None = None) -> str:
    """How to run chime-tap again from here: ``chime-tap`` when the shell finds this very
    program by that name; else the path it was started by (``make demo`` runs
    ``.venv/bin/chime-tap``, which is not on PATH until the virtualenv is activated); else
    ``python -m chime_tap`` with this interpreter."""
    started = sys.argv[0] if argv0 is None else argv0
    on_path = shutil.which("chime-tap")
    this = shutil.which(started) if Path(started).name == "chime-tap" else None
    if on_path and (this is None or os.path.samefile(on_path, this)):
        return "chime-tap"
    if this:
        return started
    return f"{sys.executable} -m chime_tap"
