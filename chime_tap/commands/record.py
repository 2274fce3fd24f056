"""Record proxy-session calls through an intercepting proxy into a vcrpy cassette.

Point a client at the proxy (HTTPS_PROXY=http://127.0.0.1:PORT) and have it trust the CA
certificate printed at start (AWS_CA_BUNDLE=...); in reverse mode, make the proxy its endpoint
instead (--endpoint-url http://127.0.0.1:PORT). Every proxy-session call is validated, logged
and appended to the cassette before its answer goes back; credentials never reach the file.
Stop with Ctrl+C (or SIGTERM): the cassette is complete after every call, and on exit.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from chime_tap import options
from chime_tap.commands import common
from chime_tap.errors import CassetteError, UsageError

UPSTREAMS = ("service", "simulator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_arguments(parser, [options.CASSETTE])
    common.add_listen_arguments(parser)
    options.add_arguments(parser, [options.HOSTS, *options.RECORDER[1:], *options.PROXY])
    parser.add_argument(
        "--mode",
        default="regular",
        metavar="regular|reverse:URL",
        help="regular (forward proxy, the default) or reverse:URL (clients send to the proxy as if it were URL). "
        "Against the real service use regular mode: SigV4 signs the Host header, which a reverse proxy rewrites",
    )
    parser.add_argument(
        "--upstream",
        choices=UPSTREAMS,
        default="service",
        help="who answers: the service the client addresses (default), or chime-tap's built-in simulator (offline)",
    )
    group = parser.add_argument_group("simulator (with --upstream simulator)")
    options.add_arguments(group, options.SIMULATOR)
    # None: not given. A simulator flag without the simulator is refused, not ignored.
    parser.set_defaults(**{o.dest: None for o in options.SIMULATOR if o.flag is not None})


def simulator_values(args: argparse.Namespace) -> dict:
    """The simulator's option values, its defaults for the flags not given; UsageError naming
    the first simulator flag given without ``--upstream simulator``, which would do nothing."""
    flags = [o for o in options.SIMULATOR if o.flag is not None]
    given = [o.flag for o in flags if getattr(args, o.dest) is not None]
    if given and args.upstream != "simulator":
        raise UsageError(
            f"{given[0]}: only with --upstream simulator (the service answers otherwise, "
            "and nothing is simulated)"
        )
    for o in flags:
        if getattr(args, o.dest) is None:
            setattr(args, o.dest, o.default)
    return options.values_from_args(args, options.SIMULATOR)


def check_mode(mode: str) -> str:
    """``regular`` or ``reverse:URL`` with an http(s) URL; UsageError listing the valid values."""
    if mode == "regular":
        return mode
    kind, sep, url = mode.partition(":")
    if kind == "reverse" and sep:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname:
            return mode
        raise UsageError(f"--mode: {url!r} is not an http:// or https:// URL")
    raise UsageError(f"--mode: {mode!r} is not a valid mode (use regular or reverse:URL)")


def check_cassette(path: str) -> None:
    """Refuse, in one line, a cassette that cannot be recorded into (before the proxy starts).

    An empty path too: the recorder's addon takes it as "validate and log only", but a command
    named record that records nothing is most likely an unset shell variable.
    """
    from chime_tap.cassettes.writer import check_recordable

    if not path:
        raise UsageError("--cassette: the path is empty; name the file to record into")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--cassette: {path} is a directory")
    if not p.parent.is_dir():
        raise UsageError(f"--cassette: directory {str(p.parent)!r} does not exist")
    # A broken cassette raises CassetteError (it is never overwritten); a torn last
    # interaction passes: the recorder's writer moves it aside.
    check_recordable(p)


def check_baseline(path: str) -> None:
    """Refuse, in one line, a --compare-to baseline that is missing or no file (before the proxy
    starts; what is inside is read, and refused in one line, by the recorder as it loads)."""
    if not path:
        return
    p = Path(path)
    if not p.exists():
        raise UsageError(f"--compare-to: {path}: no such file")
    if not p.is_file():
        raise UsageError(f"--compare-to: {path}: not a cassette file")


def run(args: argparse.Namespace) -> int:
    from chime_tap.addons.record import Recorder
    from chime_tap.hints import record_hint
    from chime_tap.proxy import run_proxy
    from chime_tap.simulator.control import new_token

    mode = check_mode(args.mode)
    simulated = simulator_values(args)
    # A bad --hosts is refused before the cassette is touched.
    hosts = options.HOSTS.from_args(args)
    check_cassette(args.cassette)
    check_baseline(args.compare_to)
    # The addons check every value as they load (one rule, one message, naming the flag).
    values = options.values_from_args(args, [options.HOSTS, *options.RECORDER, *options.PROXY])
    # The Recorder comes first: its request hook (enforce mode) runs before the simulator
    # answers, and it records every answer in the response hook, whoever gave it.
    addons: list = [Recorder()]
    token = new_token()  # the simulator's control token, printed in the hint
    if args.upstream == "simulator":
        from chime_tap.addons.simulate import Simulator

        addons.append(Simulator(log_calls=False))  # the recorder logs every call already
        values = {**simulated, **options.OFFLINE, **values, options.CONTROL_TOKEN.name: token}
    else:  # a --set connection_strategy=... comes after these, and wins
        values = {**options.FORWARDING, **values}
    cassette = Path(args.cassette)
    existed, code = cassette.exists(), 2
    try:
        code = run_proxy(
            addons,
            label="record",
            mode=mode,
            options=values,
            hint=record_hint(simulator=args.upstream == "simulator", token=token, hosts=hosts),
            **common.listen_settings(args),
        )
        return code
    finally:
        if code and not existed:
            recorder = addons[0]
            if recorder.writer is not None:  # opened, and never closed by a proxy that never ran
                recorder.writer.close()
                recorder.writer = None
            _remove_if_empty(cassette)


def _remove_if_empty(cassette: Path) -> None:
    """A cassette this run created, left without an interaction by a proxy that could not start
    (a port in use): removed, so that a failed start leaves nothing behind. One another
    recorder holds (its lock), or that holds anything, is left as it is."""
    import fcntl
    import os

    from chime_tap.cassettes.reader import load_cassette

    try:
        fd = os.open(cassette, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another recorder's: OSError, kept
        if not load_cassette(cassette)["interactions"]:
            cassette.unlink()
    except (CassetteError, OSError):
        pass  # not ours to judge: left as it is
    finally:
        os.close(fd)
