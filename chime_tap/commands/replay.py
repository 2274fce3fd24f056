"""Replay recorded cassettes through the proxy to any client (AWS CLI, Java/JS SDKs), offline.

Requests match as in the vcrpy configuration (method, host, path, query, JSON body; never
signatures or dates). A request no cassette holds gets status 599 with header
x-chime-tap-replay: miss and a message naming the closest recorded call, unless
--on-miss forward sends it upstream and records it. Identical calls replay in recorded order;
a call made more often than recorded gets 599 with x-chime-tap-replay: exhausted
(--exhausted repeat answers the last recorded answer again instead). A call recorded with no
response (status 0: refused, reset, timed out) is never replayed; the retry recorded after it
is. --latency recorded holds each answer back until the call has taken its recorded duration
(scale:F: F times that; none, the default: at once), without holding up other calls. Each call
is logged in one line; at exit, a summary.
"""

from __future__ import annotations

import argparse

from chime_tap import options
from chime_tap.commands import common
from chime_tap.errors import ChimeTapError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_arguments(parser, options.REPLAY)
    common.add_listen_arguments(parser)
    options.add_arguments(parser, [options.HOSTS, *options.PROXY])


def run(args: argparse.Namespace) -> int:
    from chime_tap.playback import build_lasting_index

    if args.on_miss != "forward":  # each of these is about what forwarded calls record
        for option in (options.RECORD_TO, options.STRICT_RECORDING, options.REDACT_PHONES):
            if getattr(args, option.dest):
                raise UsageError(
                    f"{option.flag}: only with --on-miss forward (otherwise nothing is recorded)"
                )
    # The replay addon checks every value as it loads (one rule, one message, naming the flag).
    values = options.values_from_args(args, [*options.REPLAY, options.HOSTS, *options.PROXY])
    cassettes = list(values[options.REPLAY_CASSETTES.name])
    exhausted = values[options.EXHAUSTED.name]
    # The index is built before mitmproxy is imported (a second of start-up): a cassette that
    # cannot be replayed is refused at once. The addon takes it as built, or builds its own
    # when the options differ (mitmweb, mitmdump -s).
    try:
        index = build_lasting_index(cassettes, exhausted)
    except ChimeTapError as e:
        raise UsageError(options.flag_for(f"{options.REPLAY_CASSETTES.name}: {e}")) from None

    from chime_tap.addons.replay import ReplayServer
    from chime_tap.hints import forwarding_replay_hint, replay_hint
    from chime_tap.proxy import run_proxy

    return run_proxy(
        [ReplayServer(prebuilt=(cassettes, exhausted, index))],
        label="replay",
        options={**values, **options.OFFLINE},
        hint=forwarding_replay_hint(args.record_to or args.cassette[0])
        if args.on_miss == "forward"
        else replay_hint,
        **common.listen_settings(args),
    )
