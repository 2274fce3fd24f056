"""The one-walk encoders' memo (yaml_block, json_block): header names and values, methods,
hosts and metadata strings repeat from one interaction to the next, so a short one is encoded
once. Each memo is bounded: it is emptied when full, so a long recording's memory stays flat."""

from __future__ import annotations

from typing import TypeVar

from chime_tap.cassettes.scrub import is_secret_header

K = TypeVar("K")
V = TypeVar("V")

SHORT = 80  # longer strings (a body, a long URI) are never remembered, nor hashed for it
LIMIT = 4096  # entries a memo holds before it is emptied


def remember(memo: dict[K, V], key: K, value: V, limit: int = LIMIT) -> V:
    """``value``, kept in ``memo`` under ``key`` (the memo emptied first when it holds
    ``limit`` entries)."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value


def remember_header(
    name: str,
    value: str,
    entry: str,
    secrets: dict[str, str],
    entries: dict[tuple[str, str], str],
) -> str:
    """A one-value header's scrubbed ``entry``, kept: a credential header's in ``secrets`` by its
    name alone (scrubbed the same whatever its value, which changes on every call, and which is
    so never hashed), any other's in ``entries`` by name and a SHORT value."""
    if is_secret_header(name):
        return remember(secrets, name, entry)
    if len(value) <= SHORT:
        remember(entries, (name, value), entry)
    return entry
