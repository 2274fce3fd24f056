"""Run the built-in Chime proxy-session simulator alone: the proxy answers, nothing goes upstream."""

from __future__ import annotations

import argparse

from chime_tap.commands import common
from chime_tap.errors import UsageError
from chime_tap.proxy import StartupAddon


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's knobs; shared by `simulate`, `record --upstream simulator` and `demo`."""
    parser.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        help="fraction of calls answered 429 ThrottledClientException (0-1)",
    )
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="fraction of calls answered 500/503 (0-1)"
    )
    parser.add_argument(
        "--latency-ms",
        default="0",
        help="added latency: N, or a distribution such as 'uniform:10:50' or 'lognormal:MEDIAN:SIGMA'",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for fault and latency injection (same seed, same faults)",
    )


def simulator_addons(args: argparse.Namespace) -> list:
    """The addon instances that make the proxy answer as the simulator."""
    from chime_tap.addons.simulate import Simulator

    return [Simulator()]


def simulator_options(args: argparse.Namespace) -> dict:
    """Typed mitmproxy option values (chime_sim_*) for the parsed simulator arguments.

    Also turns off what would make mitmproxy connect upstream (certificate sniffing, eager
    connections): the simulator never leaves the machine. Bad values raise UsageError.
    """
    from chime_tap.addons.simulate import OFFLINE_OPTIONS
    from chime_tap.simulator.faults import FaultInjector, parse_latency, parse_rate

    try:
        throttle = parse_rate(args.throttle_rate, "rate")
    except ValueError as e:
        raise UsageError(f"--throttle-rate: {e}") from None
    try:
        error = parse_rate(args.error_rate, "rate")
    except ValueError as e:
        raise UsageError(f"--error-rate: {e}") from None
    try:
        parse_latency(args.latency_ms)
    except ValueError as e:
        raise UsageError(f"--latency-ms: {e}") from None
    try:
        FaultInjector(throttle, error)
    except ValueError as e:
        raise UsageError(f"--throttle-rate/--error-rate: {e}") from None
    return {
        "chime_sim_throttle_rate": repr(throttle),
        "chime_sim_error_rate": repr(error),
        "chime_sim_latency_ms": str(args.latency_ms),
        "chime_sim_seed": int(args.seed),
        **OFFLINE_OPTIONS,
    }


def client_hint(label: str, proxy_url: str, ca_cert: str) -> str:
    """How to point a client at the proxy: the lines printed under the listening line."""
    from chime_tap.simulator.control import CONTROL_HOST

    return "\n".join(
        (
            f"chime-tap {label}: point any AWS client at it (any credentials; nothing is sent to AWS):",
            f"  export HTTPS_PROXY={proxy_url}",
            f"  export AWS_CA_BUNDLE={ca_cert}",
            "  aws chime-sdk-voice list-proxy-sessions --region us-east-1 --voice-connector-id abcdef1ghij2klmno3pqr4",
            f"chime-tap {label}: move the clock (expire sessions): curl -x {proxy_url} -X POST 'http://{CONTROL_HOST}/clock/advance?seconds=3600'",
        )
    )


class ClientHint(StartupAddon):
    """Prints ``client_hint`` once the proxy listens, after the listening line."""

    def __init__(self, label: str) -> None:
        self.label = label

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
        text = client_hint(self.label, f"http://{shown}:{port}", ca)
        # call_soon: after every addon's running hook, so after the listening line.
        asyncio.get_running_loop().call_soon(functools.partial(print, text, flush=True))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_listen_arguments(parser)
    common.add_hosts_argument(parser)
    add_simulator_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from chime_tap.proxy import run_proxy

    common.host_policy(args.hosts)  # a bad --hosts is a one-line usage error
    options = {**simulator_options(args), "chime_hosts": list(args.hosts)}
    return run_proxy(
        [*simulator_addons(args), ClientHint("simulate")],
        label="simulate",
        listen_host=args.listen_host,
        listen_port=args.listen_port,
        confdir=args.confdir,
        options=options,
        set_options=args.mitm_options,
    )
