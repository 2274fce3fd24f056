"""mitmproxy options that several chime-tap addons share.

mitmproxy accepts the same option from two addons only when the definitions are identical, so
the shared ones are defined here, once.
"""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import exceptions

from chime_tap.api.hosts import HostPolicy

HOSTS = "chime_hosts"


def add_hosts_option(loader) -> None:
    loader.add_option(
        HOSTS,
        Sequence[str],
        [],
        "Extra hosts that serve the Chime proxy-session API besides AWS's own: HOST[:PORT][=voice|legacy]; '*' means any host.",
    )


def host_policy(value: Sequence[str]) -> HostPolicy:
    """The HostPolicy for the ``chime_hosts`` option; OptionsError naming the option if bad."""
    try:
        return HostPolicy(value)
    except ValueError as e:
        raise exceptions.OptionsError(f"{HOSTS}: {e}") from e
