"""What a proxy command prints under its listening line: how to point clients at it.

Each hint is a function of the proxy's URL and the CA certificate clients must trust, so the
texts are tested without a proxy; ``addons/announce.py`` prints them once the proxy listens.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from chime_tap.simulator.control import CONTROL_HOST

Hint = Callable[[str, str], list[str]]  # (proxy URL, CA certificate path) -> lines


def client_setup(label: str, proxy_url: str, ca_cert: str) -> list[str]:
    """How any AWS client reaches a proxy that answers itself (replay, simulator)."""
    return [
        f"chime-tap {label}: point any AWS client at it (any credentials; nothing is sent to AWS):",
        f"  export HTTPS_PROXY={proxy_url}",
        f"  export AWS_CA_BUNDLE={ca_cert}",
    ]


def replay_hint(proxy_url: str, ca_cert: str) -> list[str]:
    return client_setup("replay", proxy_url, ca_cert)


def simulator_hint(label: str) -> Hint:
    """The simulator's hint: the client set-up, an AWS CLI call to try, how to move its clock."""

    def hint(proxy_url: str, ca_cert: str) -> list[str]:
        return [
            *client_setup(label, proxy_url, ca_cert),
            "  aws chime-sdk-voice list-proxy-sessions --region us-east-1 --voice-connector-id abcdef1ghij2klmno3pqr4",
            f"chime-tap {label}: move the clock (expire sessions): curl -x {proxy_url} -X POST 'http://{CONTROL_HOST}/clock/advance?seconds=3600'",
        ]

    return hint


def record_hint(cassette: str) -> Hint:
    """The recorder's hint: the CA clients must trust, and the cassette in use."""

    def hint(proxy_url: str, ca_cert: str) -> list[str]:
        return [
            f"chime-tap record: clients must trust the CA certificate {ca_cert} (e.g. AWS_CA_BUNDLE={ca_cert})",
            f"chime-tap record: recording to {os.path.abspath(cassette)}",
        ]

    return hint
