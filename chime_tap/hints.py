"""What a proxy command prints at start: how to point clients at it, or why it could not start.

Each hint is a function of the proxy's URL and the CA certificate clients must trust, so the
texts are tested without a proxy; ``addons/announce.py`` prints them once the proxy listens.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable

from chime_tap.simulator.control import CONTROL_HOST, authorization

Hint = Callable[[str, str], list[str]]  # (proxy URL, CA certificate path) -> lines

# Any values sign a call the proxy answers itself; an AWS client without credentials refuses
# to send at all ("Unable to locate credentials").
ANY_CREDENTIALS = "  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test  # any will do"
TRY_IT = "  aws chime-sdk-voice list-proxy-sessions --region us-east-1 --voice-connector-id abcdef1ghij2klmno3pqr4"


def _exports(proxy_url: str, ca_cert: str) -> list[str]:
    return [f"  export HTTPS_PROXY={proxy_url}", f"  export AWS_CA_BUNDLE={ca_cert}"]


def client_setup(label: str, proxy_url: str, ca_cert: str) -> list[str]:
    """How any AWS client reaches a proxy that answers itself (replay, simulator)."""
    return [
        f"chime-tap {label}: point any AWS client at it (any credentials; nothing is sent to AWS):",
        *_exports(proxy_url, ca_cert),
        ANY_CREDENTIALS,
    ]


def replay_hint(proxy_url: str, ca_cert: str) -> list[str]:
    return client_setup("replay", proxy_url, ca_cert)


def forwarding_replay_hint(record_to: str) -> Hint:
    """Replay with misses forwarded: those do reach AWS, signed with the client's credentials."""

    def hint(proxy_url: str, ca_cert: str) -> list[str]:
        return [
            "chime-tap replay: point any AWS client at it; a call no cassette holds goes to the "
            f"service, signed with the client's own credentials, and is recorded to {os.path.abspath(record_to)}:",
            *_exports(proxy_url, ca_cert),
        ]

    return hint


def simulator_hint(label: str, token: str = "TOKEN") -> Hint:
    """The simulator's hint: the client set-up, an AWS CLI call to try, how to move its clock
    (with the control token only this proxy's user has)."""

    def hint(proxy_url: str, ca_cert: str) -> list[str]:
        return [
            *client_setup(label, proxy_url, ca_cert),
            TRY_IT,
            f"chime-tap {label}: move the clock (expire sessions): curl -x {proxy_url} -X POST "
            f"'http://{CONTROL_HOST}/clock/advance?seconds=3600' "
            f"-H 'Authorization: {authorization(token)}'",
        ]

    return hint


def record_hint(*, simulator: bool = False, token: str = "TOKEN") -> Hint:
    """The recorder's hint: the CA clients must trust; with the simulator, what ``simulate``
    says too. (Where it records, the recorder itself says, once.)"""

    def hint(proxy_url: str, ca_cert: str) -> list[str]:
        lines = [
            f"chime-tap record: clients must trust the CA certificate {ca_cert} (e.g. AWS_CA_BUNDLE={ca_cert})"
        ]
        if simulator:
            lines += simulator_hint("record", token)(proxy_url, ca_cert)
        return lines

    return hint


_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")


def exposure_warning(label: str, addresses: list[tuple[str, int]]) -> str | None:
    """One line when the proxy listens beyond loopback (anyone who reaches it can send traffic
    through it, signed by its clients); None when it listens on loopback only."""
    exposed = [f"{h or '*'}:{p}" for h, p in addresses if not _LOOPBACK.match(h or "")]
    if not exposed:
        return None
    return (
        f"chime-tap {label}: warning: listening on {', '.join(exposed)}, beyond loopback: anyone "
        "who can reach it may send calls through it and read what passes; use it on a trusted "
        "network only, with a password (--set proxyauth=USER:PASS)"
    )


# mitmproxy's "HTTP(S) proxy failed to listen on HOST:PORT with [Errno N] ...", which may add a
# line suggesting its own --mode flag (one chime-tap does not take).
_LISTEN_FAILURE = re.compile(
    r"failed to listen on (?P<address>\S+) with (?:\[Errno (?P<errno>\d+)\] )?(?P<why>[^\n]*)"
)


def listen_failure(message: str) -> str | None:
    """mitmproxy's error for a proxy that cannot listen, in one line naming chime-tap's flags;
    None for any other error."""
    m = _LISTEN_FAILURE.search(message)
    if m is None:
        return None
    address, why = m["address"], m["why"].rsplit(": ", 1)[-1].strip().rstrip(".")
    port = address.rsplit(":", 1)[-1]
    code = int(m["errno"]) if m["errno"] else None
    if code == errno.EADDRINUSE:
        return (
            f"--listen-port {port}: {address} is already in use; "
            "choose another port with --listen-port (0 picks a free one)"
        )
    if code == errno.EACCES:
        return (
            f"--listen-port {port}: not allowed to listen on {address} ({why}); "
            "choose a port above 1023 with --listen-port (0 picks a free one)"
        )
    return f"--listen-host/--listen-port: cannot listen on {address} ({why})"
