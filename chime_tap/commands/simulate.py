"""Run the built-in Chime proxy-session simulator alone: the proxy answers, nothing goes upstream."""

from __future__ import annotations

import argparse

from chime_tap import options
from chime_tap.commands import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_listen_arguments(parser)
    options.add_arguments(parser, [options.HOSTS, *options.SIMULATOR])


def run(args: argparse.Namespace) -> int:
    from chime_tap.addons.simulate import Simulator
    from chime_tap.hints import simulator_hint
    from chime_tap.proxy import run_proxy

    # The simulator checks every value as it loads (one rule, one message, naming the flag).
    values = options.values_from_args(args, [options.HOSTS, *options.SIMULATOR])
    return run_proxy(
        [Simulator()],
        label="simulate",
        options={**values, **options.OFFLINE},
        hint=simulator_hint("simulate"),
        **common.listen_settings(args),
    )
