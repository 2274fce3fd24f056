"""Start real chime-tap / mitmdump processes on loopback and talk to them with real clients."""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chime_tap.errors import ChimeTapError
from chime_tap.process import CHIME_TAP_LISTEN_RE, LISTEN_RE, ListeningProcess, chime_tap_argv

# Credentials the tests sign with. None of these strings may ever appear in a file on disk.
FAKE_ACCESS_KEY = "AKIACHIMETAPTEST0001"
FAKE_SECRET_KEY = "chimeTapTestSecretKey0000000000000000001"
FAKE_SESSION_TOKEN = "chimeTapTestSessionToken0000000000000000000000000000000001"
SECRETS = (FAKE_ACCESS_KEY, FAKE_SECRET_KEY, FAKE_SESSION_TOKEN)

VOICE_ENDPOINT = "https://voice-chime.us-east-1.amazonaws.com"
CONNECTOR = "abcdef1ghij2klmno3pqr4"  # 22 chars, valid in both namespaces


class ProxyProcess(ListeningProcess):
    """A proxy process (``chime-tap ...`` or ``mitmdump ...``) started on a free loopback port.

    Output (stdout and stderr, merged) is collected in ``lines`` and copied to ``log_path``
    beside the confdir, so the session-wide secrets check reads what the proxy printed too;
    ``port`` is read from the line the proxy prints once it listens: by default chime-tap's own,
    printed when start-up is over (mitmproxy's earlier line would let a test's traffic race the
    proxy's start-up); ``mitmdump``/``mitmweb`` pass ``ready=LISTEN_RE``.
    """

    strict_stop = True  # a proxy that does not stop in time fails the test, not just its code

    def __init__(
        self,
        argv: Sequence[str],
        *,
        confdir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 60.0,
        ready: re.Pattern[str] = CHIME_TAP_LISTEN_RE,
    ) -> None:
        self.confdir = Path(confdir)
        log_path = self.confdir.with_name(self.confdir.name + ".output.log")
        super().__init__(
            argv, log_path=log_path, name="the proxy", env=env, cwd=cwd, append=True, ready=ready
        )
        try:
            self.wait_listening(start_timeout)
        except ChimeTapError as e:
            self.kill()
            raise RuntimeError(f"proxy did not start: {self.argv}\n" + self.output) from e

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"


def chime_tap(args: Sequence[str], *, confdir: Path, **kw: Any) -> ProxyProcess:
    """``chime-tap ARGS --listen-port 0 --confdir CONFDIR`` as a real process."""
    argv = chime_tap_argv([*args, "--listen-port", "0", "--confdir", str(confdir)])
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
    return ProxyProcess(argv, confdir=confdir, ready=LISTEN_RE, **kw)


def aws_cli(proxy: ProxyProcess, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``aws chime-sdk-voice ARGS --output json``, the real AWS CLI through ``proxy``: its CA
    trusted, the test credentials, no config or credentials file of the user's, no retries."""
    env = {
        **os.environ,
        "HTTPS_PROXY": proxy.url,
        "HTTP_PROXY": proxy.url,
        "NO_PROXY": "",
        "no_proxy": "",
        "AWS_CA_BUNDLE": str(proxy.ca_cert),
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_SESSION_TOKEN": FAKE_SESSION_TOKEN,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    aws = Path(sys.executable).with_name("aws")
    return subprocess.run(
        [str(aws), "chime-sdk-voice", *args, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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


CHUNK = 1 << 22


def secrets_in_file(path: Path, secrets: Sequence[str] = SECRETS) -> list[str]:
    """The ``secrets`` found in the file at ``path``, reading only the parts that hold data.

    A sparse file's holes (the suite makes 1 GB ones to test size limits) read as zeros, which
    hold no secret: they are skipped with ``SEEK_DATA``/``SEEK_HOLE``, so the check costs what the
    written bytes cost. Chunks overlap by the longest secret less one byte, so none is cut in two.
    """
    needles = [s.encode() for s in secrets]
    overlap = max(map(len, needles), default=1) - 1
    found: set[bytes] = set()
    with open(path, "rb") as f:
        fd, size, pos = f.fileno(), os.fstat(f.fileno()).st_size, 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
                stop = os.lseek(fd, start, os.SEEK_HOLE)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole after pos
                    break
                start, stop = pos, size  # a file system without SEEK_DATA: read it all
            tail = b""
            for at in range(start, stop, CHUNK):
                f.seek(at)
                chunk = tail + f.read(min(CHUNK, stop - at))
                found.update(n for n in needles if n in chunk)
                tail = chunk[-overlap:] if overlap else b""
            pos = stop
    return [n.decode() for n in needles if n in found]


def assert_no_secrets(*paths: Path) -> None:
    """Fail if any test credential appears in any file under ``paths``."""
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            for secret in secrets_in_file(f):
                raise AssertionError(f"credential {secret[:8]}... written to {f}")


def status_of(sock: socket.socket) -> int:
    """The status code of the HTTP answer ``sock`` reads next (its status line)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the proxy closed the connection without an answer"
        data += chunk
    return int(data.split(b" ", 2)[1])
