"""Replay recorded cassettes through the proxy to any client (AWS CLI, Java/JS SDKs), offline.

Requests match as in the vcrpy configuration (method, host, path, query, JSON body; never
signatures or dates). A request no cassette holds gets status 599 with header
x-chime-tap-replay: miss and a message naming the closest recorded call, unless
--on-miss forward sends it upstream and records it. Identical calls replay in recorded order,
then the last answer repeats (--exhausted fail answers 599 instead). A call recorded with no
response (status 0: refused, reset, timed out) is never replayed; the retry recorded after it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chime_tap.commands import common
from chime_tap.errors import CassetteError, UsageError
from chime_tap.proxy import StartupAddon


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cassette",
        nargs="+",
        required=True,
        metavar="PATH",
        help="vcrpy cassettes to answer from (YAML, or JSON for *.json), searched in order",
    )
    parser.add_argument(
        "--on-miss",
        choices=("error", "forward"),
        default="error",
        help="a request no cassette holds: answer 599 (error, default) or send it upstream and record it (forward)",
    )
    parser.add_argument(
        "--exhausted",
        choices=("repeat", "fail"),
        default="repeat",
        help="after the last recorded answer to a call was played: repeat it (default) or answer 599",
    )
    parser.add_argument(
        "--record-to",
        metavar="PATH",
        default="",
        help="with --on-miss forward: the cassette forwarded calls go to (default: the first --cassette)",
    )
    common.add_listen_arguments(parser)
    common.add_hosts_argument(parser)


class ClientHint(StartupAddon):
    """Prints how to point a client at the proxy, once it listens."""

    def started(self) -> None:
        import asyncio
        import functools
        import os

        from mitmproxy import ctx

        server = ctx.master.addons.get("proxyserver")
        addrs = server.listen_addrs() if server else []
        if not addrs:
            return
        host, port, *_ = addrs[0]
        shown = f"[{host}]" if ":" in host else host
        ca = os.path.join(os.path.expanduser(ctx.options.confdir), "mitmproxy-ca-cert.pem")
        text = "\n".join(
            (
                "chime-tap replay: point any AWS client at it (any credentials; nothing is sent to AWS):",
                f"  export HTTPS_PROXY=http://{shown}:{port}",
                f"  export AWS_CA_BUNDLE={ca}",
            )
        )
        asyncio.get_running_loop().call_soon(functools.partial(print, text, flush=True))


def run(args: argparse.Namespace) -> int:
    from chime_tap.addons.replay import OFFLINE_OPTIONS, ReplayServer
    from chime_tap.proxy import run_proxy

    common.host_policy(args.hosts)  # a bad --hosts is a one-line usage error
    if args.record_to and args.on_miss != "forward":
        raise UsageError("--record-to: only with --on-miss forward (otherwise nothing is recorded)")
    for path in args.cassette:
        if not Path(path).is_file():
            raise CassetteError(f"--cassette {path}: no such file")
    options = {
        "chime_replay_cassettes": list(args.cassette),
        "chime_replay_on_miss": args.on_miss,
        "chime_replay_exhausted": args.exhausted,
        "chime_replay_record_to": args.record_to,
        "chime_hosts": list(args.hosts),
        **OFFLINE_OPTIONS,
    }
    return run_proxy(
        [ReplayServer(), ClientHint()],
        label="replay",
        listen_host=args.listen_host,
        listen_port=args.listen_port,
        confdir=args.confdir,
        options=options,
        set_options=args.mitm_options,
    )
