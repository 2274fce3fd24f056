"""Run mitmproxy in this process with chime-tap's addons: the engine behind record, simulate, replay and demo."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from chime_tap.errors import UsageError
from chime_tap.hints import Hint, listen_failure
from chime_tap.options import BOUNDED, flag_for

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# After SIGINT/SIGTERM, how long mitmproxy may take to stop before the process exits anyway
# (a flow stuck in a long computation never lets the event loop see the signal). Nothing is
# lost: each call was written to its cassette before it was answered.
STOP_GRACE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# At most one line per this many seconds about running out of file descriptors.
EXHAUSTION_LOG_INTERVAL = 10.0
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


# mitmproxy's default addons that leave a flow alone unless one of their own options is set
# (block_list, map_local, modify_headers, save_stream_file, scripts, server_replay, ...), or that
# only serve an interactive UI's commands. mitmproxy offers every hook of every flow to every
# addon in its chain, and that costs each addon about a microsecond per hook whether it has the
# hook or not: without these 22, a recorded call costs a third fewer instructions and about
# 250 µs less CPU on a 2-core machine (bench/bench_record: record-yaml next to record-yaml-full).
# A --set naming one of their options brings the whole default chain back.
INERT_BY_DEFAULT = frozenset(
    {
        "AntiCache",
        "AntiComp",
        "BlockList",
        "Browser",
        "ClientPlayback",
        "CommandHistory",
        "Comment",
        "Cut",
        "Export",
        "KeepServing",
        "MapLocal",
        "MapRemote",
        "ModifyBody",
        "ModifyHeaders",
        "ReadFileStdin",
        "Save",
        "SaveHar",
        "ScriptLoader",
        "ServerPlayback",
        "StickyAuth",
        "StickyCookie",
        "StripDnsHttpsRecords",
    }
)


# mitmproxy's addons that write flows out (--set save_stream_file, hardump): they run after
# chime-tap's, so a saved flow carries what the recorder put on it (the mark, the comment, the
# metadata), as with `mitmdump -s addons/record.py -w FILE`, where they run after the script.
WRITES_FLOWS = frozenset({"Save", "SaveHar"})


class _OptionNames:
    """A stand-in for mitmproxy's addon loader that only notes the names of the options."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def add_option(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.names.add(name)

    def add_command(self, *args: Any, **kwargs: Any) -> None:
        pass


def mitmproxy_addons(set_options: Sequence[str] = ()) -> list[Any]:
    """mitmproxy's own addons for a chime-tap proxy, in mitmdump's order.

    mitmdump's chain without the addons in :data:`INERT_BY_DEFAULT`, unless ``set_options``
    (``OPTION=VALUE`` strings) name an option one of them registers, or ``mode`` (a DNS or
    transparent mode may want them): then all of mitmdump's chain but its flow printer. Its
    start-up error check is :func:`startup_check`'s, which says in chime-tap's words why the
    proxy could not listen.
    """
    from mitmproxy.addons import default_addons
    from mitmproxy.addons.keepserving import KeepServing
    from mitmproxy.addons.readfile import ReadFileStdin

    full = [*default_addons(), KeepServing(), ReadFileStdin()]
    wanted = {spec.partition("=")[0].strip() for spec in set_options}
    if wanted and ("mode" in wanted or wanted & _idle_option_names(full)):
        return [*full, startup_check()]
    return [*(a for a in full if type(a).__name__ not in INERT_BY_DEFAULT), startup_check()]


# mitmproxy's proxy server logs here why it could not listen (port in use, ...), with a hint
# naming its own --mode flag.
_PROXYSERVER_LOGGER = "mitmproxy.addons.proxyserver"


class _ListenFailures(logging.Filter):
    """While the proxy starts, keeps the proxy server's listen errors from every handler (the
    terminal would print mitmproxy's hint) and collects them in chime-tap's words."""

    def __init__(self) -> None:
        super().__init__()
        self.active = False
        self.found: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.active or record.levelno < logging.ERROR:
            return True
        line = listen_failure(record.getMessage())
        if line is None:
            return True
        self.found.append(line)
        return False


def startup_check() -> Any:
    """mitmproxy's ErrorCheck (the master asks for it by name after each start-up step), except
    that a proxy that cannot listen ends in one line naming ``--listen-port``: UsageError."""
    from mitmproxy.addons.errorcheck import ErrorCheck

    class StartupErrorCheck(ErrorCheck):
        name = "errorcheck"

        def __init__(self) -> None:
            super().__init__()
            self.listen = _ListenFailures()

        def load(self, loader: Any) -> None:
            self.listen.active = True
            logging.getLogger(_PROXYSERVER_LOGGER).addFilter(self.listen)

        async def shutdown_if_errored(self) -> None:
            await asyncio.sleep(0)  # as mitmproxy's: let pending log records arrive first
            if self.listen.found:
                self.finish()
                raise UsageError(self.listen.found[0])
            await super().shutdown_if_errored()

        def finish(self) -> None:  # start-up is over
            self.listen.active = False
            logging.getLogger(_PROXYSERVER_LOGGER).removeFilter(self.listen)
            super().finish()

    return StartupErrorCheck()


def _idle_option_names(addons: Sequence[Any]) -> set[str]:
    """The options the idle addons among ``addons`` register (asked of fresh instances: the
    chain's own are loaded once, by mitmproxy)."""
    found = _OptionNames()
    for addon in addons:
        if type(addon).__name__ in INERT_BY_DEFAULT and hasattr(addon, "load"):
            type(addon)().load(found)
    return found.names


def _ignore_cancelled(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Stopping with clients connected cancels their handlers; Python 3.11's stream callback
    then logs each CancelledError with a traceback. That is a normal stop, not an error."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def run_proxy(
    addons: Sequence[Any],
    *,
    label: str,
    listen_host: str = LOOPBACK,
    listen_port: int = 8080,
    confdir: str | None = None,
    mode: str = "regular",
    options: dict[str, Any] | None = None,
    set_options: Sequence[str] = (),
    hint: Hint | None = None,
    quiet: bool = False,
) -> int:
    """Start mitmproxy with ``addons`` and serve until SIGINT/SIGTERM; return an exit code.

    Options the addons register (``chime_*``) are set after the addons are loaded, so a bad
    value surfaces as the addon's own OptionsError, turned into a one-line UsageError here that
    names the command's flag. ``set_options`` are ``OPTION=VALUE`` strings for any mitmproxy
    option, as ``--set`` takes. ``hint``: what to print under the listening line.
    """
    base: dict[str, Any] = {
        "listen_host": listen_host,
        "listen_port": listen_port,
        "mode": [mode],
        **BOUNDED,  # the user's --set body_size_limit=... comes later, and wins
    }
    if confdir:
        base["confdir"] = confdir
    stopper = Stopper(label)

    async def main() -> int:
        from chime_tap.addons.announce import Announce
        from chime_tap.addons.connections import IdleClients

        loop = asyncio.get_running_loop()
        stop_accepting_when_exhausted(loop)
        master = _start_master(
            [IdleClients(), *addons, Announce(label, hint)],
            base,
            options or {},
            set_options,
            quiet,
        )
        master._asyncio_exception_handler = ExhaustionLog(master._asyncio_exception_handler)
        loop.set_exception_handler(_ignore_cancelled)
        stopper.arm(master.shutdown)
        await master.run()
        return 0

    restore_logging = _quiet_logging()
    stopper.start()  # before any thread: they all inherit its signal mask
    try:
        return asyncio.run(main())
    except SystemExit as e:  # mitmproxy's startup error check exits 1 (a port in use: UsageError)
        code = e.code if isinstance(e.code, int) else 1
        if code:
            print(
                f"chime-tap {label}: could not start the proxy (see the error above)",
                file=sys.stderr,
            )
        return 2 if code else 0
    finally:
        stopper.stop()
        restore_logging()


def _start_master(
    addons: Sequence[Any],
    base: dict[str, Any],
    options: dict[str, Any],
    set_options: Sequence[str],
    quiet: bool,
) -> Any:
    """mitmproxy's master with its own addons, then ours, then every option; UsageError if bad."""
    from mitmproxy import exceptions
    from mitmproxy import options as mitm_options
    from mitmproxy.master import Master

    opts = mitm_options.Options()
    master = Master(opts, with_termlog=not quiet)
    mitmproxys = mitmproxy_addons(set_options)
    writers = [a for a in mitmproxys if type(a).__name__ in WRITES_FLOWS]
    master.addons.add(*(a for a in mitmproxys if not any(a is w for w in writers)))
    try:
        opts.update(**base)
        master.addons.add(*addons, *writers)
        opts.update(**options)
        for spec in set_options:  # the user's --set OPTION=VALUE strings, parsed by mitmproxy
            try:
                opts.set(spec)
            except exceptions.OptionsError as e:  # mitmproxy's message may not name it
                raise UsageError(f"--set {spec}: {e}") from None
    except (exceptions.OptionsError, exceptions.AddonManagerError) as e:
        raise UsageError(flag_for(str(e))) from None
    return master


class Stopper:
    """SIGINT and SIGTERM always stop the proxy.

    The signals are blocked in every thread of the process and taken by a thread of their own
    (``sigtimedwait``), so they are seen even while the event loop is stuck in a long
    computation, where a handler of the loop would never run. The first asks mitmproxy to stop
    (done hooks run, the summary is printed); if it has not stopped within
    :data:`STOP_GRACE_SECONDS`, or a second signal comes, the process exits at once with status
    128 + the signal number, saying so in one line.
    """

    def __init__(self, label: str, grace: float = STOP_GRACE_SECONDS) -> None:
        self.label = label
        self.grace = grace
        self._shutdown: Callable[[], None] | None = None
        self._first: tuple[int, float] | None = None  # (signal, when) of the first one
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._mask: set[int] | None = None
        self._handlers: dict[int, Any] = {}

    def start(self) -> None:
        self._mask = set(signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS))
        for sig in STOP_SIGNALS:  # a thread started before us may still take one: handle it too
            self._handlers[sig] = signal.signal(sig, self._handler)
        if hasattr(signal, "SIGPIPE"):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self._thread = threading.Thread(target=self._wait, name="chime-tap signals", daemon=True)
        self._thread.start()

    def arm(self, shutdown: Callable[[], None]) -> None:
        """``shutdown``: a thread-safe call that asks the proxy to stop (mitmproxy's)."""
        self._shutdown = shutdown
        if self._first is not None:  # a signal came while the proxy was starting
            shutdown()

    def stop(self) -> None:
        """The proxy stopped: end the thread, give the process its signals back."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(5)
        for sig, previous in self._handlers.items():
            signal.signal(sig, previous)
        if self._mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)

    def _handler(self, signum: int, frame: Any) -> None:
        self.received(signum)

    def _wait(self) -> None:
        while not self._done.is_set():
            info = signal.sigtimedwait(STOP_SIGNALS, 0.2)
            if info is not None:
                self.received(info.si_signo)
            elif self._first is not None and time.monotonic() - self._first[1] > self.grace:
                self._exit_now(self._first[0], f"did not stop within {self.grace:g} s of")

    def received(self, signum: int) -> None:
        if self._done.is_set():
            return
        if self._first is None:
            self._first = (signum, time.monotonic())
            if self._shutdown is not None:
                self._shutdown()
        else:
            self._exit_now(signum, "got a second")

    def _exit_now(self, signum: int, why: str) -> None:
        name = signal.Signals(signum).name
        line = (
            f"chime-tap {self.label}: {why} {name}; exiting now (each call was recorded "
            "before it was answered: nothing answered is lost)\n"
        )
        # Straight to the descriptor: the stuck thread may hold the lock of sys.stderr.
        try:
            os.write(2, line.encode())
        finally:
            os._exit(128 + signum)


def stop_accepting_when_exhausted(loop: asyncio.AbstractEventLoop) -> None:
    """Work around CPython's gh-151615 (fixed after Python 3.11): out of file descriptors, the
    selector loop's accept loop goes on calling accept for its whole backlog, logging each
    failure with a traceback and scheduling a retry for each, which spins a core. Here the
    first failure of a batch ends the batch: one log call, one retry a second later (asyncio's
    own back-off), and serving resumes as soon as descriptors free up."""
    original = getattr(loop, "_accept_connection", None)
    if original is None:  # not a selector loop: nothing to work around
        return

    def accept_connection(protocol_factory: Any, sock: Any, *args: Any, **kwargs: Any) -> Any:
        listener = sock if isinstance(sock, _Listener) else _Listener(sock)
        listener.exhausted = False
        return original(protocol_factory, listener, *args, **kwargs)

    loop._accept_connection = accept_connection  # type: ignore[attr-defined]


class _Listener:
    """A listening socket whose ``accept``, once it ran out of descriptors, says there is
    nothing more to accept until the next batch (asyncio then stops, and retries later)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.exhausted = False

    def accept(self) -> Any:
        if self.exhausted:
            raise BlockingIOError(errno.EAGAIN, "out of descriptors: accepting again later")
        try:
            return self._sock.accept()
        except OSError as e:
            if e.errno in _OUT_OF_RESOURCES:
                self.exhausted = True
            raise

    def fileno(self) -> int:
        return self._sock.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class ExhaustionLog:
    """mitmproxy's asyncio exception handler, except that running out of file descriptors is
    one line (no traceback) at most every :data:`EXHAUSTION_LOG_INTERVAL` seconds, with how
    often it happened meanwhile."""

    def __init__(
        self,
        handler: Callable[[Any, dict[str, Any]], None],
        interval: float = EXHAUSTION_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.handler = handler
        self.interval = interval
        self.clock = clock
        self.last: float | None = None
        self.unsaid = 0  # times since the last line
        self.times = 0

    def __call__(self, loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES):
            self.handler(loop, context)
            return
        self.times += 1
        self.unsaid += 1
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return
        logger.warning(
            exhaustion_line(exc, self.unsaid, None if self.last is None else now - self.last)
        )
        self.last, self.unsaid = now, 0


def exhaustion_line(exc: OSError, times: int, over: float | None) -> str:
    """``out of file descriptors ...``: what ran out, the limit, and how often since the last line."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    often = f" ({times} time(s) in the last {over:.0f} s)" if over is not None else ""
    return (
        f"cannot accept new connections: {exc.strerror or exc} (file descriptor limit {limit}, "
        f"ulimit -n){often}; they wait until some close (idle ones are closed after "
        "--idle-timeout seconds)"
    )


_NOISY_LOGGERS = ("tornado", "asyncio", "hpack", "quic", "passlib")


def _quiet_logging() -> Callable[[], None]:
    """Set logging up for a proxy run; returns what puts it back as it was (a run in-process,
    a test or a notebook, leaves logging as it found it)."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *_NOISY_LOGGERS)}
    fields = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    srcfile = logging._srcfile
    root.setLevel(logging.INFO)
    for noisy in _NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The recorder logs a line per call. This process is ours and mitmproxy's format shows none
    # of these record fields, so skip collecting them (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None

    def restore() -> None:
        for name, level in levels.items():
            logging.getLogger(name or None).setLevel(level)
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = fields
        logging._srcfile = srcfile

    return restore
