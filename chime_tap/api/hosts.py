"""Which hosts serve the Chime proxy-session API, and in which namespace.

Two namespaces serve the same five operations: the legacy Amazon Chime API and the Amazon
Chime SDK Voice API. AWS's own host names say which; :class:`HostPolicy` adds the user's own
(a simulator, a stub, a VPC endpoint) from ``HOST[:PORT][=NAMESPACE]`` specs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

LEGACY = "legacy"
VOICE = "voice"
NAMESPACES = (LEGACY, VOICE)

_DEFAULT_HOST_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^service\.chime\.aws\.amazon\.com$"), LEGACY),
    (re.compile(r"^chime\.[a-z0-9-]+\.amazonaws\.com$"), LEGACY),
    (re.compile(r"^voice-chime(-fips)?\.[a-z0-9-]+\.amazonaws\.com$"), VOICE),
)


@dataclass(frozen=True)
class HostRule:
    """One user-given host: ``HOST``, ``HOST:PORT``, ``*`` (any host), each optionally ``=NAMESPACE``."""

    host: str
    port: int | None
    namespace: str

    def matches(self, host: str, port: int | None) -> bool:
        if self.host != "*" and self.host != host:
            return False
        return self.port is None or self.port == port


def parse_host_rule(spec: str) -> HostRule:
    """Parse ``HOST[:PORT][=legacy|voice]``; raise ValueError with the reason."""
    text, _, namespace = spec.strip().partition("=")
    namespace = namespace.strip().lower() or VOICE
    if namespace not in NAMESPACES:
        raise ValueError(
            f"unknown namespace {namespace!r} in {spec!r} (use one of: {', '.join(NAMESPACES)})"
        )
    text = text.strip().lower()
    if not text:
        raise ValueError(f"empty host in {spec!r}")
    if "://" in text:
        netloc = text.split("://", 1)[1].split("/", 1)[0]
        raise ValueError(f"{spec!r} is a URL: give HOST[:PORT] (here {netloc!r})")
    host, port = text, None
    if text.startswith("["):  # [::1]:8080
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _parse_port(rest[1:], spec)
        elif rest:
            raise ValueError(f"bad host {text!r} in {spec!r}")
        _ip6(host, spec)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _parse_port(port_text, spec)
    elif ":" in text:  # an IPv6 address without brackets, and no port
        _ip6(host, spec)
    if host != "*" and not _HOST_NAME.fullmatch(host) and ":" not in host:
        raise ValueError(f"bad host {host!r} in {spec!r} (a name or address, or * for any)")
    return HostRule(host, port, namespace)


# A host name or IPv4 address as a Host header or SNI carries it (IPv6 is checked apart).
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


def _ip6(host: str, spec: str) -> None:
    import ipaddress

    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"bad IPv6 address {host!r} in {spec!r}") from None


def _parse_port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r} in {spec!r}")
    return int(text)


class HostPolicy:
    """Which hosts carry the Chime API: AWS's own hosts plus any the user adds.

    A policy does not change once built, so it remembers its answers: a proxy asks about the
    same few hosts on every flow.
    """

    _MAX_ANSWERS = 256  # hosts remembered; the memo starts over when full

    def __init__(self, extra: Iterable[HostRule | str] = (), *, aws_hosts: bool = True) -> None:
        self.rules = tuple(parse_host_rule(r) if isinstance(r, str) else r for r in extra)
        self.aws_hosts = aws_hosts
        self._answers: dict[tuple[str, int | None], str | None] = {}

    def namespace_of(self, host: str, port: int | None = None) -> str | None:
        """The namespace a host serves, or None when it is not a Chime host."""
        key = (host, port)
        if key in self._answers:
            return self._answers[key]
        if len(self._answers) >= self._MAX_ANSWERS:
            self._answers.clear()
        answer = self._answers[key] = self._namespace_of(host, port)
        return answer

    def _namespace_of(self, host: str, port: int | None) -> str | None:
        host, port = _split_host(host, port)
        for rule in self.rules:
            if rule.matches(host, port):
                return rule.namespace
        if self.aws_hosts:
            for pattern, namespace in _DEFAULT_HOST_RULES:
                if pattern.match(host):
                    return namespace
        return None

    def __repr__(self) -> str:
        return f"HostPolicy({list(self.rules)!r}, aws_hosts={self.aws_hosts})"


def _split_host(host: str, port: int | None) -> tuple[str, int | None]:
    host = host.strip().lower()
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = port or int(rest[1:])
        return inner, port
    if host.count(":") == 1:
        name, _, port_text = host.partition(":")
        if port_text.isdigit():
            return name, port or int(port_text)
    return host, port


DEFAULT_HOSTS = HostPolicy()
