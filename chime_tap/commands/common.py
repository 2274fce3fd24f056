"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from chime_tap.errors import UsageError


def comma_list(text: str) -> list[str]:
    """argparse type for a repeatable option that also takes comma-separated values.

    One value per flag: an option with ``nargs="+"`` would swallow the positional inputs after it.
    """
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"empty value {text!r}")
    return values


def add_hosts_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hosts",
        action="extend",
        type=comma_list,
        default=[],
        metavar="HOST[:PORT][=NS]",
        help="extra hosts that serve the Chime API besides AWS's own (e.g. 127.0.0.1:9000=voice; "
        "NS is voice or legacy, default voice; '*' means any host). Repeat the option or "
        "separate hosts with commas",
    )


def host_policy(specs: Sequence[str]):
    from chime_tap.api.hosts import HostPolicy

    try:
        return HostPolicy(specs)
    except ValueError as e:
        raise UsageError(f"--hosts: {e}") from None


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
