"""Record a scripted proxy-session workload against the built-in simulator, then validate and report it.

Starts `chime-tap record --upstream simulator` on loopback, drives a real boto3 chime-sdk-voice
client through it over HTTPS (sessions created, read, updated, listed page by page, deleted,
expired; a few invalid calls; throttles and 5xx from a fixed seed), stops the proxy, validates
the cassette and writes the reports. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chime_tap.errors import ChimeTapError

CONNECTOR = "abcdef1ghij2klmno3pqr4"
# The demo's fault settings: with this seed the workload meets throttles and 5xx errors.
THROTTLE_RATE = 0.08
ERROR_RATE = 0.06
SEED = 7
MAX_ATTEMPTS = 6  # a caller's retry budget for throttles and 5xx
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
# Credentials the demo signs with: fake, and scrubbed from the cassette anyway.
DEMO_KEY_ID = "AKIADEMODEMODEMO0000"
DEMO_SECRET = "chime-tap-demo-secret-not-a-real-key"

_LISTEN_RE = re.compile(r"listening on http://\[?([0-9a-fA-F.:]+?)\]?:(\d+)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="build/demo",
        help="directory for the cassette, the reports and the proxy's confdir (default build/demo)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help=f"seed for the simulator's faults and ids (default {SEED})",
    )


def step(message: str) -> None:
    """One progress line on stderr."""
    print(f"chime-tap demo: {message}", file=sys.stderr, flush=True)


# --- the proxy process ------------------------------------------------------------------------


class ProxyRun:
    """`python -m chime_tap ARGS` in its own session; killed with its children on any exit."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.lines: list[str] = []
        self.port = 0
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chime_tap", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # Ctrl+C reaches the demo, which stops the proxy cleanly
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            self.lines.append(line.rstrip("\n"))
            m = _LISTEN_RE.search(line)
            if m and not self._ready.is_set():
                self.port = int(m.group(2))
                self._ready.set()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(5)
                tail = "; ".join(self.lines[-3:]) or "no output"
                raise ChimeTapError(
                    f"the recording proxy exited with status {self.proc.returncode} before listening ({tail}); log: {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise ChimeTapError(
                    f"the recording proxy did not start within {timeout:.0f}s; log: {self.log_path}"
                )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        """SIGTERM, wait; SIGKILL the whole process group if it does not go. Returns the exit code."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                return self.proc.returncode
        finally:
            self._reader.join(5)
            self._log.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


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


# --- the workload -----------------------------------------------------------------------------


@dataclass
class Tally:
    """What the workload did: calls by (operation, status), and the attempts meant to be invalid."""

    statuses: Counter = field(default_factory=Counter)
    invalid_attempts: int = 0
    calls: int = 0


class Workload:
    """A realistic scripted session against the proxy, as one boto3 user would write it."""

    def __init__(self, proxy_url: str, ca_bundle: str, control: Callable[[str, str], dict]) -> None:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=DEMO_KEY_ID,
            aws_secret_access_key=DEMO_SECRET,
            region_name="us-east-1",
        )

        def client(**extra):
            cfg = Config(
                proxies={"http": proxy_url, "https": proxy_url},
                retries={
                    "mode": "standard",
                    "total_max_attempts": 1,
                },  # the demo retries itself, visibly
                connect_timeout=10,
                read_timeout=30,
                **extra,
            )
            return session.client(
                "chime-sdk-voice",
                endpoint_url="https://voice-chime.us-east-1.amazonaws.com",
                config=cfg,
                verify=ca_bundle,
            )

        self.client = client()
        self.raw = client(parameter_validation=False)  # lets invalid input reach the wire
        self.control = control
        self.tally = Tally()

    def close(self) -> None:
        self.client.close()
        self.raw.close()

    def call(
        self, what: str, fn: Callable[[], dict], *, expect: str | None = None, invalid: bool = False
    ) -> dict | None:
        """One API call with a caller's retry loop on throttles and 5xx; ``expect`` names an error we want."""
        import botocore.exceptions

        self.tally.calls += 1
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if invalid:
                self.tally.invalid_attempts += 1
            try:
                result = fn()
            except botocore.exceptions.ClientError as e:
                code = e.response["Error"]["Code"]
                status = e.response["ResponseMetadata"]["HTTPStatusCode"]
                self.tally.statuses[status] += 1
                if status in (429, 500, 503) and attempt < MAX_ATTEMPTS:
                    step(f"  {what}: {status} {code}, retrying (attempt {attempt + 1})")
                    time.sleep(0.01 * attempt)
                    continue
                if code == expect:
                    step(f"  {what}: {status} {code} (as intended)")
                    return None
                raise ChimeTapError(
                    f"demo step {what!r} failed: {status} {code}: {e.response['Error'].get('Message', '')}"
                ) from None
            status = result["ResponseMetadata"]["HTTPStatusCode"]
            self.tally.statuses[status] += 1
            if expect:
                raise ChimeTapError(f"demo step {what!r} answered {status}, expected {expect}")
            step(f"  {what}: {status}")
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def run(self) -> Tally:
        c, raw = self.client, self.raw
        people = [
            ("+12065550100", "+14015550101"),
            ("+12065550102", "+14015550103"),
            ("+16175550104", "+13125550105"),
        ]
        created: list[str] = []
        step("creating proxy sessions")
        specs: list[dict[str, Any]] = [
            {"Name": "order 1001", "ExpiryMinutes": 60},
            {"Name": "order 1002", "ExpiryMinutes": 30, "NumberSelectionBehavior": "PreferSticky"},
            {
                "Name": "order 1003",
                "GeoMatchLevel": "AreaCode",
                "GeoMatchParams": {"Country": "US", "AreaCode": "617"},
            },
            {"Name": "order 1004", "ExpiryMinutes": 120, "NumberSelectionBehavior": "AvoidSticky"},
            {"Name": "short lived", "ExpiryMinutes": 5},
        ]
        for i, spec in enumerate(specs):
            a, b = people[i % len(people)]
            r = self.call(
                f"create {spec['Name']!r}",
                lambda a=a, b=b, spec=spec: c.create_proxy_session(
                    VoiceConnectorId=CONNECTOR,
                    ParticipantPhoneNumbers=[a, b],
                    Capabilities=["Voice", "SMS"],
                    **spec,
                ),
            )
            created.append(r["ProxySession"]["ProxySessionId"])
        short_lived = created[-1]

        step("reading and updating sessions")
        for sid in created[:2]:
            self.call(
                f"get {sid[:8]}",
                lambda sid=sid: c.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid),
            )
        self.call(
            "update: SMS only",
            lambda: c.update_proxy_session(
                VoiceConnectorId=CONNECTOR, ProxySessionId=created[0], Capabilities=["SMS"]
            ),
        )
        self.call(
            "update: longer expiry",
            lambda: c.update_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ProxySessionId=created[1],
                Capabilities=["Voice"],
                ExpiryMinutes=90,
            ),
        )

        step("listing sessions two per page")
        token: dict[str, str] = {}
        for page in range(1, 11):
            r = self.call(
                f"list page {page}",
                lambda token=token: c.list_proxy_sessions(
                    VoiceConnectorId=CONNECTOR, MaxResults=2, **token
                ),
            )
            if not r.get("NextToken"):
                break
            token = {"NextToken": r["NextToken"]}
        self.call(
            "list open sessions",
            lambda: c.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open"),
        )

        step("deleting a session, then reading it again")
        gone = created[3]
        self.call(
            f"delete {gone[:8]}",
            lambda: c.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=gone),
        )
        self.call(
            f"get {gone[:8]} after delete",
            lambda: c.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=gone),
            expect="NotFoundException",
        )

        step("sending deliberately invalid calls (client-side validation off)")
        bad = "BadRequestException"
        self.call(
            "create with one participant",
            lambda: raw.create_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ParticipantPhoneNumbers=["+12065550100"],
                Capabilities=["Voice"],
            ),
            expect=bad,
            invalid=True,
        )
        self.call(
            "create with capability 'Fax'",
            lambda: raw.create_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ParticipantPhoneNumbers=list(people[0]),
                Capabilities=["Fax"],
            ),
            expect=bad,
            invalid=True,
        )
        self.call(
            "update with ExpiryMinutes 0",
            lambda: raw.update_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ProxySessionId=created[0],
                Capabilities=["Voice"],
                ExpiryMinutes=0,
            ),
            expect=bad,
            invalid=True,
        )
        self.call(
            "list with MaxResults 500",
            lambda: raw.list_proxy_sessions(VoiceConnectorId=CONNECTOR, MaxResults=500),
            expect=bad,
            invalid=True,
        )

        step("moving the simulator's clock 6 minutes ahead: the short-lived session expires")
        self.control("POST", "/clock/advance?seconds=360")
        r = self.call(
            "get the short-lived session",
            lambda: c.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=short_lived),
        )
        if r["ProxySession"]["Status"] != "Closed":
            raise ChimeTapError(
                f"demo: the short-lived session is {r['ProxySession']['Status']}, expected Closed"
            )
        self.call(
            "list closed sessions",
            lambda: c.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Closed"),
        )
        for sid in (created[0], created[2]):
            self.call(
                f"delete {sid[:8]}",
                lambda sid=sid: c.delete_proxy_session(
                    VoiceConnectorId=CONNECTOR, ProxySessionId=sid
                ),
            )
        return self.tally


def control_via(proxy_url: str) -> Callable[[str, str], dict]:
    """The simulator's control endpoint (clock), reached through the proxy."""
    import urllib3

    from chime_tap.simulator.control import CONTROL_HOST

    def call(method: str, path: str) -> dict:
        with urllib3.ProxyManager(proxy_url, retries=False, timeout=10) as pm:
            r = pm.request(method, f"http://{CONTROL_HOST}{path}")
        if r.status != 200:
            raise ChimeTapError(f"simulator control {method} {path}: HTTP {r.status}")
        return json.loads(r.data)

    return call


# --- checking and reporting -------------------------------------------------------------------


def check_cassette(path: Path, tally: Tally) -> tuple[int, list[str]]:
    """(proxy-session interactions, problems): violations are expected only on the invalid calls."""
    from chime_tap.api.validation import PATH, QUERY, REQUEST_BODY, validate_interaction
    from chime_tap.cassettes.format import iter_interactions
    from chime_tap.cassettes.reader import load_cassette

    checked, flagged, problems = 0, 0, []
    for interaction in iter_interactions(load_cassette(path)):
        route, violations = validate_interaction(interaction)
        if route is None:
            continue
        checked += 1
        if not violations:
            continue
        flagged += 1
        unexpected = [v for v in violations if v.part not in (PATH, QUERY, REQUEST_BODY)]
        problems += [f"interaction {interaction.index} {v.operation}: {v}" for v in unexpected]
    if flagged != tally.invalid_attempts:
        problems.append(
            f"{flagged} interaction(s) have request violations; the demo sent {tally.invalid_attempts} invalid request(s)"
        )
    if checked != sum(tally.statuses.values()):
        problems.append(
            f"the cassette holds {checked} proxy-session interaction(s); the demo made {sum(tally.statuses.values())} call(s)"
        )
    return checked, problems


def write_reports(cassette: Path, out: Path) -> str:
    """report.txt and report.html in ``out`` (chime_tap.analysis); returns the text report."""
    from chime_tap.analysis import load_frame, render, summarize

    summary = summarize(load_frame([cassette]))
    text = render(summary, "text")
    (out / "report.txt").write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    (out / "report.html").write_text(render(summary, "html"), encoding="utf-8")
    return text


# --- the command ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ChimeTapError(f"--out {out}: cannot create the directory ({e.strerror})") from None
    cassette, confdir = out / "demo.yaml", out / "confdir"
    for stale in (cassette, out / "report.txt", out / "report.html"):
        stale.unlink(missing_ok=True)  # a fresh recording each run; the writer would append
    started = time.monotonic()

    step(
        f"1/5 starting the recording proxy with the built-in simulator (seed {args.seed}; log: {out / 'proxy.log'})"
    )
    proxy_args = [
        "record",
        "--upstream",
        "simulator",
        "--cassette",
        str(cassette),
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        "0",
        "--confdir",
        str(confdir),
        "--throttle-rate",
        str(THROTTLE_RATE),
        "--error-rate",
        str(ERROR_RATE),
        "--seed",
        str(args.seed),
    ]
    proxy = ProxyRun(proxy_args, out / "proxy.log")
    workload: Workload | None = None
    try:
        with terminate_as_interrupt():
            proxy.wait_ready()
            step(f"    listening on {proxy.url}")
            step("2/5 driving boto3 (chime-sdk-voice) over HTTPS through the proxy")
            workload = Workload(
                proxy.url, str(confdir / "mitmproxy-ca-cert.pem"), control_via(proxy.url)
            )
            tally = workload.run()
            workload.close()
            workload = None
            step("3/5 stopping the proxy")
            code = proxy.stop()
            if code != 0:
                raise ChimeTapError(
                    f"the recording proxy exited with status {code}; log: {proxy.log_path}"
                )
    except KeyboardInterrupt:
        step("interrupted; stopping the proxy")
        raise
    finally:
        if workload is not None:
            workload.close()
        if proxy.proc.poll() is None:
            proxy.stop()
        proxy.kill()  # anything left in its process group

    step(f"4/5 validating {cassette}")
    checked, problems = check_cassette(cassette, tally)
    if problems:
        for p in problems:
            print(f"chime-tap demo: unexpected: {p}", file=sys.stderr)
        raise ChimeTapError(
            f"the demo cassette {cassette} has {len(problems)} unexpected problem(s)"
        )
    step(
        f"    {checked} proxy-session interactions; violations only on the {tally.invalid_attempts} deliberately invalid requests"
    )
    step("5/5 writing the reports")
    text = write_reports(cassette, out)
    print(text, end="" if text.endswith("\n") else "\n")
    statuses = ", ".join(f"{n}x{s}" for s, n in sorted(tally.statuses.items()))
    print(
        "\n".join(
            (
                f"chime-tap demo: done in {time.monotonic() - started:.1f}s: {tally.calls} calls ({statuses})",
                f"  cassette: {cassette}",
                f"  reports:  {out / 'report.txt'}, {out / 'report.html'}",
                "next:",
                f"  chime-tap validate {cassette}",
                f"  chime-tap report {cassette} --format html",
                f"  chime-tap replay --cassette {cassette}      # serve it back through the proxy",
                "  chime-tap simulate                          # the simulator alone, for your own client",
            )
        )
    )
    return 0
