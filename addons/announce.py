"""Say where the proxy listens and how to point clients at it, once it does.

Used by every ``chime-tap`` proxy command (not meant for ``mitmdump -s``). The first line is
machine-readable: ``chime-tap <label>: listening on http://HOST:PORT (mode MODE)``. A proxy
that listens beyond loopback says so in one warning line.
"""

from __future__ import annotations

import os

from mitmproxy import ctx

from chime_tap.hints import Hint, exposure_warning


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
        urls, addresses = [], []
        for host, port, *_ in server.listen_addrs() if server else []:
            shown = f"[{host}]" if ":" in host else host
            urls.append(f"http://{shown}:{port}")
            addresses.append((host, port))
        mode = ctx.options.mode[0]
        out = [f"chime-tap {self.label}: listening on {url} (mode {mode})" for url in urls]
        warning = exposure_warning(self.label, addresses)
        if warning:
            out.append(warning)
        out.append(f"chime-tap {self.label}: press Ctrl+C to stop")
        if urls and self.hint is not None:
            confdir = os.path.abspath(os.path.expanduser(ctx.options.confdir))  # for any cwd
            ca = os.path.join(confdir, "mitmproxy-ca-cert.pem")
            out += self.hint(urls[0], ca)
        return out
