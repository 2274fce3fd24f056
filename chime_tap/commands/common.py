"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from chime_tap.options import user_path


def port_number(text: str) -> int:
    """argparse type for a TCP port: 0-65535, so a bad one is a one-line usage error."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


def add_listen_arguments(parser: argparse.ArgumentParser, default_port: int = 8080) -> None:
    parser.add_argument(
        "--listen-host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; anything else exposes an intercepting proxy)",
    )
    parser.add_argument(
        "--listen-port",
        type=port_number,
        default=default_port,
        help=f"port to listen on (default {default_port}; 0 picks a free one)",
    )
    parser.add_argument(
        "--confdir",
        default=None,
        type=user_path,
        help="mitmproxy's confdir, where its CA certificate lives (default: mitmproxy's own, ~/.mitmproxy)",
    )
    parser.add_argument(
        "--set",
        dest="mitm_options",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="set any mitmproxy option, as mitmdump's --set does (repeatable; e.g. ssl_insecure=true)",
    )


def listen_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``run_proxy`` keywords for the arguments of :func:`add_listen_arguments`."""
    return {
        "listen_host": args.listen_host,
        "listen_port": args.listen_port,
        "confdir": args.confdir,
        "set_options": args.mitm_options,
    }
