"""A torn tail: what a kill during the writer's last append leaves, and the one rule for it.

The writer moves such a tail aside when it opens the cassette; every reader refuses the file
with a line that says so. Both decide here, so a reader calls a file torn exactly when the next
``chime-tap record`` would move its tail aside. The rule: the file is in the writer's layout,
everything but its tail is whole interactions that read as a cassette, and the tail holds no
whole interaction. Anything else broken is broken, not torn.

This module sits below the reader (which uses it when a parse fails), so the reader's parse of
what is kept is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from chime_tap.cassettes.format import EMPTY_TAIL, END_LINE, JSON_HEAD, YAML_HEADER
from chime_tap.errors import CassetteError


class TornTail(NamedTuple):
    """Where a torn tail starts, the cassette without it, and how many interactions that holds."""

    cut: int
    kept: bytes
    whole: int


def is_writers_layout(fmt: str, data: bytes) -> bool:
    """Whether ``data`` starts as the writer lays out a cassette of format ``fmt``."""
    if fmt == "json":
        return data.startswith(JSON_HEAD)
    return data.startswith(YAML_HEADER + b"interactions:") or data == YAML_HEADER


def whole_prefix(fmt: str, data: bytes) -> int | None:
    """Where the last whole interaction of the writer's layout ends; None if the tail after it
    is not all that is wrong.

    Only a tail that holds no whole interaction is torn: anything else broken (an edit in
    the middle) is refused as it is, as any broken cassette is.
    """
    if fmt == "yaml":
        end = data.rfind(END_LINE)
        if end < 0:
            return len(YAML_HEADER)
        return end + len(END_LINE)
    text = data.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder()
    at = ended = len(JSON_HEAD)
    while True:
        try:
            _, stop = decoder.raw_decode(text, at)
        except ValueError:
            break
        except RecursionError:  # nested deeper than any interaction the writer writes
            return None
        ended = stop
        at = stop + 2 if text.startswith(",\n", stop) else len(text)
    rest = text[ended:].lstrip(",\n")
    if "\n" in rest.rstrip("\n"):  # more than one torn line: not a torn append
        return None
    return len(text[:ended].encode("utf-8", "surrogateescape"))


def torn_tail(
    fmt: str, data: bytes, name: str, parse: Callable[[bytes, str], dict[str, Any]]
) -> TornTail:
    """The torn tail of ``data``, a broken cassette of the writer's layout; a CassetteError
    naming ``name`` if the tail is not all that is wrong.

    ``parse`` reads and checks a cassette as every reader does (CassetteError otherwise): what
    is kept must pass it.
    """
    cut = whole_prefix(fmt, data)
    if cut is None:
        raise CassetteError(f"{name}: broken in the middle, not only at its end; left alone")
    kept = data[:cut]
    head = JSON_HEAD if fmt == "json" else YAML_HEADER
    if cut <= len(head):
        kept = head + EMPTY_TAIL[fmt]
    elif fmt == "json":
        kept += b"\n]}\n"
    try:
        whole = len(parse(kept, name)["interactions"])
    except CassetteError:
        raise CassetteError(f"{name}: broken before its last interaction; left alone") from None
    return TornTail(cut, kept, whole)
