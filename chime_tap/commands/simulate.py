"""Run the built-in Chime proxy-session simulator alone: the proxy answers, nothing goes upstream."""

from __future__ import annotations

import argparse

from chime_tap import options
from chime_tap.commands import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_listen_arguments(parser)
    options.add_arguments(parser, [options.HOSTS, *options.SIMULATOR, *options.PROXY])


def run(args: argparse.Namespace) -> int:
    from chime_tap.addons.simulate import Simulator
    from chime_tap.hints import simulator_hint
    from chime_tap.proxy import run_proxy
    from chime_tap.simulator.control import new_token

    # The simulator checks every value as it loads (one rule, one message, naming the flag).
    values = options.values_from_args(args, [options.HOSTS, *options.SIMULATOR, *options.PROXY])
    token = new_token()  # the control endpoint's, printed in the hint
    return run_proxy(
        [Simulator()],
        label="simulate",
        options={**values, **options.OFFLINE, options.CONTROL_TOKEN.name: token},
        hint=simulator_hint("simulate", token),
        **common.listen_settings(args),
    )
