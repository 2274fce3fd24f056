"""A child process that announces where it listens: `chime-tap demo` runs its proxy with it, the tests theirs."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from chime_tap.errors import ChimeTapError
from chime_tap.wire import authority

# chime-tap's own line (chime_tap.proxy: "chime-tap record: listening on http://127.0.0.1:8080
# (mode regular)") and mitmdump's ("HTTP(S) proxy listening at 127.0.0.1:8080."), which a plain
# mitmdump and the tests' loopback servers print. An IPv6 host comes in brackets.
LISTEN_RE = re.compile(r"listening (?:on http://|at )(\[[0-9a-fA-F.:]+\]|[0-9.]+):(\d+)")
# chime-tap's line alone. A chime-tap proxy prints it once every addon has started (its CA read,
# its simulator's token kept); mitmproxy's own line comes earlier, as soon as the port is bound,
# and a client that starts then can race the rest of start-up.
CHIME_TAP_LISTEN_RE = re.compile(
    r"^chime-tap [\w-]+: listening on http://(\[[0-9a-fA-F.:]+\]|[0-9.]+):(\d+)"
)


def chime_tap_argv(args: Sequence[str]) -> list[str]:
    """``python -m chime_tap ARGS`` with this interpreter."""
    return [sys.executable, "-m", "chime_tap", *args]


class ListeningProcess:
    """A child in its own session whose merged output goes to ``log_path`` and to ``lines``.

    ``host`` and ``port`` come from the first line matching ``ready`` (by default either
    chime-tap's listening line or mitmproxy's; :data:`CHIME_TAP_LISTEN_RE` for a chime-tap proxy
    that should have finished starting). The child's process
    group is its own, so Ctrl+C at a terminal reaches the parent only, and ``kill`` takes the
    child's children too.
    """

    # A stop that times out SIGKILLs the group and returns the code; set this to raise
    # subprocess.TimeoutExpired after the kill instead.
    strict_stop = False

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        name: str = "the process",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        append: bool = False,
        ready: re.Pattern[str] = LISTEN_RE,
    ) -> None:
        self.argv = list(argv)
        self.ready = ready
        self.name = name
        self.log_path = Path(log_path)
        self.lines: list[str] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._listening = threading.Event()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115 - the reader closes it
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            log.close()
            raise
        self._reader = threading.Thread(target=self._read, args=(log,), daemon=True)
        self._reader.start()

    def _read(self, log) -> None:
        assert self.proc.stdout is not None
        with log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line.rstrip("\n"))
                if not self._listening.is_set() and (m := self.ready.search(line)):
                    self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
                    self._listening.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def url(self) -> str:
        return f"http://{authority(self.host, self.port)}"

    @property
    def running(self) -> bool:
        return not self._exited()

    def _exited(self) -> bool:
        """Whether the child has exited, without reaping it: its process-group id stays ours."""
        if self.proc.returncode is not None:
            return True
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.proc.pid, flags) is not None

    def wait_listening(self, timeout: float = 60.0) -> None:
        """Wait until the child says where it listens.

        ChimeTapError, naming the log, if it exits first or takes longer than ``timeout``; a child
        still running then is left for the caller to stop.
        """
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self._exited():
                self.kill()
                self._reader.join(5)
                tail = "; ".join(self.lines[-3:]) or "no output"
                raise ChimeTapError(
                    f"{self.name} exited with status {self.proc.returncode} before listening ({tail}); log: {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise ChimeTapError(
                    f"{self.name} did not start within {timeout:.0f}s; log: {self.log_path}"
                )

    def wait_for_output(self, text: str, timeout: float = 10.0) -> bool:
        """Whether ``text`` appears in the output within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code; after ``timeout``, SIGKILL the process group."""
        if self.proc.returncode is None:
            os.kill(self.proc.pid, sig)  # not Popen.send_signal: that would reap an exited child
        deadline = time.monotonic() + timeout
        while not self._exited():
            if time.monotonic() > deadline:
                self.kill()
                if self.strict_stop:
                    raise subprocess.TimeoutExpired(self.argv, timeout)
                break
            time.sleep(0.02)
        self.kill()  # whatever it left running in its group; reaps it
        self._reader.join(5)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the process group (the child and anything it started) and reap the child."""
        # Once reaped, the child's pid, and so its group id, may be reused by anyone.
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
