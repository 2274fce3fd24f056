"""Run mitmproxy in this process with chime-tap's addons: the engine behind record, simulate, replay and demo."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from chime_tap.errors import UsageError
from chime_tap.hints import Hint, listen_failure
from chime_tap.options import flag_for

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


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
    base: dict[str, Any] = {"listen_host": listen_host, "listen_port": listen_port, "mode": [mode]}
    if confdir:
        base["confdir"] = confdir

    async def main() -> int:
        from chime_tap.addons.announce import Announce

        master = _start_master(
            [*addons, Announce(label, hint)], base, options or {}, set_options, quiet
        )
        _handle_signals(master)
        await master.run()
        return 0

    _quiet_logging()
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
    master.addons.add(*mitmproxy_addons(set_options))
    try:
        opts.update(**base)
        master.addons.add(*addons)
        opts.update(**options)
        for spec in set_options:  # the user's --set OPTION=VALUE strings, parsed by mitmproxy
            try:
                opts.set(spec)
            except exceptions.OptionsError as e:  # mitmproxy's message may not name it
                raise UsageError(f"--set {spec}: {e}") from None
    except (exceptions.OptionsError, exceptions.AddonManagerError) as e:
        raise UsageError(flag_for(str(e))) from None
    return master


def _handle_signals(master: Any) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_ignore_cancelled)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def _quiet_logging() -> None:
    logging.getLogger().setLevel(logging.INFO)
    for noisy in ("tornado", "asyncio", "hpack", "quic", "passlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The recorder logs a line per call. This process is ours and mitmproxy's format shows none
    # of these record fields, so skip collecting them (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
