"""Say where the proxy listens and how to point clients at it, once it does.

Used by every ``chime-tap`` proxy command (not meant for ``mitmdump -s``). The first line is
machine-readable: ``chime-tap <label>: listening on http://HOST:PORT (mode MODE)``, one line
per mode (with every TCP address it listens on, when there are several). A proxy that listens
beyond loopback says so in one warning line. The hint fits the first mode: a reverse proxy is
the client's endpoint, a regular one its HTTPS_PROXY.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from mitmproxy import ctx

from chime_tap.hints import Hint, Listener, exposure_warning, proxy_auth_note
from chime_tap.wire import authority


class Announce:
    """Prints the listening line, Ctrl+C, and the command's hint, then leaves the addon chain:
    mitmproxy offers every hook of every flow to every addon in it, at about a microsecond per
    hook even to an addon that has none."""

    def __init__(self, label: str, hint: Hint | None = None) -> None:
        self.label = label
        self.hint = hint

    def running(self) -> None:
        try:
            print("\n".join(self.lines()), flush=True)
        finally:
            # remove() builds a new chain list: the loop that is running this hook goes on safely.
            ctx.master.addons.remove(self)

    def lines(self) -> list[str]:
        server = ctx.master.addons.get("proxyserver")
        listening = listening_modes(server.servers if server else [])
        out = [
            f"chime-tap {self.label}: listening on {' and '.join(map(url, addresses))} (mode {mode})"
            for mode, addresses in listening
        ]
        warning = exposure_warning(self.label, [a for _, addresses in listening for a in addresses])
        if warning:
            out.append(warning)
        out.append(f"chime-tap {self.label}: press Ctrl+C to stop")
        if listening and self.hint is not None:
            confdir = os.path.abspath(os.path.expanduser(ctx.options.confdir))  # for any cwd
            ca = os.path.join(confdir, "mitmproxy-ca-cert.pem")
            mode, addresses = listening[0]
            at = Listener(url(addresses[0]), ca, mode, bool(getattr(ctx.options, "proxyauth", "")))
            out += self.hint(at)
            out += proxy_auth_note(self.label, at)
        return out


def listening_modes(servers: Iterable[Any]) -> list[tuple[str, list[tuple[str, int]]]]:
    """(mode spec, its TCP addresses) of each of mitmproxy's running server instances.

    A mode that takes HTTP/3 (``reverse:https://...``) listens on UDP too, on the same address:
    that address is said once, as an HTTP URL. A mode that listens on UDP alone has no HTTP URL.
    """
    found = []
    for instance in servers:
        if instance.mode.transport_protocol == "udp":
            continue
        addresses = list(dict.fromkeys((host, port) for host, port, *_ in instance.listen_addrs))
        if addresses:
            found.append((instance.mode.full_spec, addresses))
    return found


def url(address: tuple[str, int]) -> str:
    return f"http://{authority(*address)}"
