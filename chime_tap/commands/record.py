"""Record proxy-session calls through an intercepting proxy into a vcrpy cassette.

Point a client at the proxy (HTTPS_PROXY=http://127.0.0.1:PORT) and have it trust the CA
certificate printed at start (AWS_CA_BUNDLE=...). Every proxy-session call is validated, logged
and appended to the cassette before its answer goes back; credentials never reach the file.
Stop with Ctrl+C (or SIGTERM): the cassette is complete after every call, and on exit.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from urllib.parse import urlsplit

from chime_tap.commands import common, simulate
from chime_tap.errors import UsageError
from chime_tap.proxy import StartupAddon

UPSTREAMS = ("service", "simulator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cassette",
        required=True,
        metavar="PATH",
        help="cassette to append to (vcrpy format: .json for JSON, YAML otherwise); created if missing, its directory must exist",
    )
    common.add_listen_arguments(parser)
    common.add_hosts_argument(parser)
    parser.add_argument(
        "--enforce",
        action="store_true",
        help="answer requests that fail validation with 400 BadRequestException; they never reach the service",
    )
    parser.add_argument(
        "--redact-phone-numbers",
        action="store_true",
        help="write deterministic E.164 pseudonyms instead of phone numbers (the cassette still validates and replays)",
    )
    parser.add_argument(
        "--record-all",
        action="store_true",
        help="record every flow, not only calls to Chime hosts",
    )
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
    simulate.add_simulator_arguments(group)


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
    """Refuse, in one line, a cassette that cannot be recorded into (before the proxy starts)."""
    from chime_tap.cassettes.reader import load_cassette

    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"--cassette: {path} is a directory")
    if not p.parent.is_dir():
        raise UsageError(f"--cassette: directory {str(p.parent)!r} does not exist")
    if p.exists() and p.stat().st_size:
        load_cassette(p)  # a broken cassette raises CassetteError; it is never overwritten


class StartHint(StartupAddon):
    """Prints, under the listening line, the CA clients must trust and the cassette in use."""

    def __init__(self, cassette: str) -> None:
        self.cassette = cassette

    def started(self) -> None:
        import asyncio
        import functools

        from mitmproxy import ctx

        ca = os.path.join(os.path.expanduser(ctx.options.confdir), "mitmproxy-ca-cert.pem")
        text = "\n".join(
            (
                f"chime-tap record: clients must trust the CA certificate {ca} (e.g. AWS_CA_BUNDLE={ca})",
                f"chime-tap record: recording to {os.path.abspath(self.cassette)}",
            )
        )
        # call_soon: after every addon's running hook, so after the listening line.
        asyncio.get_running_loop().call_soon(functools.partial(print, text, flush=True))


def run(args: argparse.Namespace) -> int:
    from chime_tap.addons.record import Recorder
    from chime_tap.proxy import run_proxy

    common.host_policy(args.hosts)  # a bad --hosts is a one-line usage error
    mode = check_mode(args.mode)
    check_cassette(args.cassette)
    options = {
        "chime_hosts": list(args.hosts),
        "chime_enforce": bool(args.enforce),
        "chime_redact_phones": bool(args.redact_phone_numbers),
        "chime_record_all": bool(args.record_all),
        "chime_cassette": args.cassette,
    }
    # The Recorder comes first: its request hook (enforce mode) runs before the simulator
    # answers, and it records every answer in the response hook, whoever gave it.
    addons: list = [Recorder()]
    if args.upstream == "simulator":
        addons += simulate.simulator_addons(args)
        options = {**simulate.simulator_options(args), **options}
    addons.append(StartHint(args.cassette))
    return run_proxy(
        addons,
        label="record",
        listen_host=args.listen_host,
        listen_port=args.listen_port,
        confdir=args.confdir,
        mode=mode,
        options=options,
        set_options=args.mitm_options,
    )
