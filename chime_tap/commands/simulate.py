"""Run the built-in Chime proxy-session simulator alone: the proxy answers, nothing goes upstream."""

from __future__ import annotations

import argparse

from chime_tap.commands import common
from chime_tap.errors import ChimeTapError


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's knobs; shared by `simulate`, `record --upstream simulator` and `demo`."""
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="fraction of calls answered 429 ThrottledClientException (0-1)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of calls answered 500/503 (0-1)")
    parser.add_argument("--latency-ms", default="0", help="added latency: N, or a distribution such as 'uniform:10:50' or 'lognormal:MEDIAN:SIGMA'")
    parser.add_argument("--seed", type=int, default=0, help="seed for fault and latency injection (same seed, same faults)")


def simulator_addons(args: argparse.Namespace) -> list:
    """The addon instances that make the proxy answer as the simulator."""
    raise ChimeTapError("the simulator is not built yet")


def simulator_options(args: argparse.Namespace) -> dict:
    """Typed mitmproxy option values (chime_sim_*) for the parsed simulator arguments."""
    raise ChimeTapError("the simulator is not built yet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_listen_arguments(parser)
    common.add_hosts_argument(parser)
    add_simulator_arguments(parser)


def run(args: argparse.Namespace) -> int:
    raise ChimeTapError("the simulator is not built yet")
