"""Start real chime-tap / mitmdump processes on loopback and talk to them with real clients."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Credentials the tests sign with. None of these strings may ever appear in a file on disk.
FAKE_ACCESS_KEY = "AKIACHIMETAPTEST0001"
FAKE_SECRET_KEY = "chimeTapTestSecretKey0000000000000000001"
FAKE_SESSION_TOKEN = "chimeTapTestSessionToken0000000000000000000000000000000001"
SECRETS = (FAKE_ACCESS_KEY, FAKE_SECRET_KEY, FAKE_SESSION_TOKEN)

VOICE_ENDPOINT = "https://voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"  # 22 chars, valid in both namespaces

_LISTEN_RE = re.compile(r"listening (?:on http://|at )\[?([0-9a-fA-F.:]+?)\]?:(\d+)")


class ProxyProcess:
    """A proxy process (``chime-tap ...`` or ``mitmdump ...``) started on a free loopback port.

    Output (stdout and stderr, merged) is collected in ``lines`` and copied to ``log_path``
    beside the confdir, so the session-wide secrets check reads what the proxy printed too;
    ``port`` is read from the line the proxy prints once it listens.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        confdir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.argv = list(argv)
        self.confdir = Path(confdir)
        self.lines: list[str] = []
        self.log_path = self.confdir.with_name(self.confdir.name + ".output.log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._ready = threading.Event()
        self.host = "127.0.0.1"
        self.port = 0
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + start_timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"proxy did not start: {self.argv}\n" + self.output)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line.rstrip("\n"))
                if not self._ready.is_set():
                    m = _LISTEN_RE.search(line)
                    if m:
                        self.host, self.port = m.group(1), int(m.group(2))
                        self._ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def wait_for_output(self, text: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def chime_tap(args: Sequence[str], *, confdir: Path, **kw: Any) -> ProxyProcess:
    """``chime-tap ARGS --listen-port 0 --confdir CONFDIR`` as a real process."""
    argv = [
        sys.executable,
        "-m",
        "chime_tap",
        *args,
        "--listen-port",
        "0",
        "--confdir",
        str(confdir),
    ]
    return ProxyProcess(argv, confdir=confdir, **kw)


def mitmdump(args: Sequence[str], *, confdir: Path, **kw: Any) -> ProxyProcess:
    """Plain ``mitmdump`` from this venv, on a free loopback port."""
    exe = Path(sys.executable).with_name("mitmdump")
    argv = [
        str(exe),
        "--set",
        "listen_host=127.0.0.1",
        "--set",
        "listen_port=0",
        "--set",
        f"confdir={confdir}",
        *args,
    ]
    return ProxyProcess(argv, confdir=confdir, **kw)


def voice_client(
    proxy: ProxyProcess | None,
    *,
    endpoint: str = VOICE_ENDPOINT,
    service: str = "chime-sdk-voice",
    region: str = "us-east-1",
    verify: Any = None,
    **config: Any,
):
    """A real boto3 client that sends through ``proxy`` and trusts the proxy's CA; no retries."""
    import boto3
    from botocore.config import Config

    cfg = Config(
        proxies={"http": proxy.url, "https": proxy.url} if proxy else None,
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=30,
        **config,
    )
    if verify is None and proxy is not None and endpoint.startswith("https"):
        verify = str(proxy.ca_cert)
    session = boto3.session.Session(
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
        aws_session_token=FAKE_SESSION_TOKEN,
        region_name=region,
    )
    return session.client(service, endpoint_url=endpoint, config=cfg, verify=verify)


def assert_no_secrets(*paths: Path) -> None:
    """Fail if any test credential appears in any file under ``paths``."""
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            data = f.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, f"credential {secret[:8]}... written to {f}"
