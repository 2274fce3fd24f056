"""What a proxy command prints at start: how to point clients at it, or why it could not start.

Each hint is a function of where the proxy listens (:class:`Listener`: its URL, the CA
certificate clients must trust, its mode), so the texts are tested without a proxy;
``addons/announce.py`` prints them once the proxy listens. A client reaches a regular (forward)
proxy through HTTPS_PROXY and trusts its CA; it reaches a reverse proxy as its endpoint, in
plain HTTP, with neither.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.simulator.control import CONTROL_HOST, authorization
from chime_tap.wire import authority


@dataclass(frozen=True)
class Listener:
    """Where a proxy listens, as a hint says it to a client."""

    url: str  # http://HOST:PORT
    ca_cert: str  # the CA certificate a client of a forward proxy must trust
    mode: str = "regular"  # mitmproxy's mode spec: regular, reverse:URL, ...
    proxy_auth: bool = False  # --set proxyauth=...: clients must give a user and password

    @property
    def reverse(self) -> bool:
        """A reverse proxy: the client sends to it as to the service, not through it."""
        return self.mode.startswith("reverse:")

    @property
    def proxy_url(self) -> str:
        """The URL a client's proxy setting holds: with the proxyauth credentials' places."""
        if not self.proxy_auth:
            return self.url
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://USER:PASSWORD@{rest}"


Hint = Callable[[Listener], list[str]]

# Any values sign a call the proxy answers itself; an AWS client without credentials refuses
# to send at all ("Unable to locate credentials").
ANY_CREDENTIALS = "  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test  # any will do"
TRY_IT = "  aws chime-sdk-voice list-proxy-sessions --region us-east-1 --voice-connector-id abcdef1ghij2klmno3pqr4"
# What a reverse proxy in front of AWS itself gets: SigV4 signs the Host header, which the
# client sets to the proxy's address and the proxy rewrites to its target's.
SIGNED_FOR_THE_PROXY = (
    "note: AWS refuses a call signed for the proxy's address (a reverse proxy rewrites the Host "
    "header the signature covers); against AWS itself, use the regular (forward) mode"
)


def _reach(at: Listener) -> list[str]:
    """How a client sends to the proxy: its endpoint (reverse), or HTTPS_PROXY and the CA."""
    if at.reverse:
        return [
            f"  aws chime-sdk-voice ... --endpoint-url {at.url}"
            f"    # boto3: boto3.client('chime-sdk-voice', endpoint_url='{at.url}')"
        ]
    return [f"  export HTTPS_PROXY={at.proxy_url}", f"  export AWS_CA_BUNDLE={at.ca_cert}"]


def proxy_auth_note(label: str, at: Listener) -> list[str]:
    """With proxyauth, how a client passes the user and password (a forward proxy's clients
    put them in its URL); what one without them gets."""
    if not at.proxy_auth or at.reverse:
        return []
    return [
        f"chime-tap {label}: proxyauth is on: a client's proxy URL carries the user and "
        f"password (HTTPS_PROXY={at.proxy_url}); without them it gets 407 and nothing is sent on"
    ]


def _point_at(at: Listener) -> str:
    """What the client points at the proxy: its proxy setting, or its endpoint."""
    if at.reverse:
        return "point any AWS client's endpoint at it, with no proxy and no CA certificate"
    return "point any AWS client at it"


def _try_it(at: Listener) -> str:
    return f"{TRY_IT} --endpoint-url {at.url}" if at.reverse else TRY_IT


def client_setup(label: str, at: Listener) -> list[str]:
    """How any AWS client reaches a proxy that answers itself (replay, simulator)."""
    return [
        f"chime-tap {label}: {_point_at(at)} (any credentials; nothing is sent to AWS):",
        *_reach(at),
        ANY_CREDENTIALS,
    ]


def replay_hint(at: Listener) -> list[str]:
    return client_setup("replay", at)


def forwarding_replay_hint(record_to: str) -> Hint:
    """Replay with misses forwarded: those do reach AWS, signed with the client's credentials."""

    def hint(at: Listener) -> list[str]:
        # In upstream mode a miss goes through the proxy named (mitmproxy's upstream:URL).
        upstream = at.mode.partition(":")[2] if at.mode.startswith("upstream:") else ""
        where = f"the upstream proxy {upstream}" if upstream else "the service"
        return [
            f"chime-tap replay: {_point_at(at)}; a call no cassette holds goes to {where}, "
            f"signed with the client's own credentials, and is recorded to {os.path.abspath(record_to)}:",
            *_reach(at),
            *([f"chime-tap replay: {SIGNED_FOR_THE_PROXY}"] if at.reverse else []),
        ]

    return hint


def simulator_hint(label: str, token: str = "TOKEN") -> Hint:
    """The simulator's hint: the client set-up, an AWS CLI call to try, how to move its clock
    (with the control token only this proxy's user has).

    The clock's control host is reached through a forward proxy only: a reverse proxy sends
    every request to its target, so that hint is left out there.
    """

    def hint(at: Listener) -> list[str]:
        lines = [*client_setup(label, at), _try_it(at)]
        if not at.reverse:
            lines.append(
                f"chime-tap {label}: move the clock (expire sessions): curl -x {at.proxy_url} -X POST "
                f"'http://{CONTROL_HOST}/clock/advance?seconds=3600' "
                f"-H 'Authorization: {authorization(token)}'"
            )
        return lines

    return hint


def record_hint(
    *, simulator: bool = False, token: str = "TOKEN", hosts: HostPolicy | None = None
) -> Hint:
    """The recorder's hint: the CA clients must trust and how they reach the proxy (a forward
    proxy's HTTPS_PROXY, a reverse one's endpoint); with the simulator, what ``simulate`` says
    too. A reverse proxy whose target is no Chime host under ``hosts`` records nothing, and
    says so. (Where it records, the recorder itself says, once.)"""

    def hint(at: Listener) -> list[str]:
        unrecorded = _unrecorded_target(at, hosts or DEFAULT_HOSTS)
        if simulator:
            lines = simulator_hint("record", token)(at)
            return [*lines, *unrecorded] if at.reverse else [_trust("record", at), *lines]
        if at.reverse:
            return [
                f"chime-tap record: {_point_at(at)}:",
                *_reach(at),
                f"chime-tap record: {SIGNED_FOR_THE_PROXY}",
                *unrecorded,
            ]
        return [
            _trust("record", at),
            f"chime-tap record: {_point_at(at)}, with its own credentials:",
            *_reach(at),
        ]

    return hint


def _unrecorded_target(at: Listener, hosts: HostPolicy) -> list[str]:
    """A reverse proxy's warning that its target is no Chime host: the recorder passes its
    calls on and records none of them (what --hosts is for); nothing for any other."""
    if not at.reverse:
        return []
    target = urlsplit(at.mode.partition(":")[2])
    host = target.hostname or ""
    port = target.port or (443 if target.scheme == "https" else 80)
    if hosts.namespace_of(host, port) is not None:
        return []
    where = authority(host, port)
    return [
        f"chime-tap record: warning: {where}, the reverse proxy's target, is no Chime host: its "
        f"calls are passed on and not recorded; name it with --hosts {where}=voice (or =legacy)"
    ]


def _trust(label: str, at: Listener) -> str:
    return (
        f"chime-tap {label}: clients must trust the CA certificate {at.ca_cert} "
        f"(e.g. AWS_CA_BUNDLE={at.ca_cert})"
    )


_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")


def exposure_warning(label: str, addresses: list[tuple[str, int]]) -> str | None:
    """One line when the proxy listens beyond loopback (anyone who reaches it can send traffic
    through it, signed by its clients); None when it listens on loopback only."""
    exposed = [_address(h, p) for h, p in addresses if not _LOOPBACK.match(h or "")]
    if not exposed:
        return None
    return (
        f"chime-tap {label}: warning: listening on {', '.join(exposed)}, beyond loopback: anyone "
        "who can reach it may send calls through it and read what passes; use it on a trusted "
        "network only, with a password (--set proxyauth=USER:PASS)"
    )


def _address(host: str, port: int) -> str:
    return authority(host or "*", port)  # an empty host: every interface


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
