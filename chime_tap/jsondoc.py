"""JSON documents: pointers (RFC 6901) and where two documents differ.

One escaping rule for every pointer chime-tap prints: in validation messages, in replay's
"what differs", in diffs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MISSING: Any = object()  # a member one side of a comparison does not have


def escape_token(token: Any) -> str:
    """One reference token of a JSON pointer: ``~`` as ``~0``, ``/`` as ``~1``."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(path: Iterable[str | int]) -> str:
    """The JSON pointer of a path of member names and array indices (``""`` for the root)."""
    return "".join("/" + escape_token(p) for p in path)


def json_difference(a: Any, b: Any, at: str = "") -> tuple[str, Any, Any] | None:
    """The first place two JSON documents differ: (JSON pointer, value in a, value in b), or None.

    A member missing on one side is reported with the value ``MISSING``.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            va, vb = a.get(k, MISSING), b.get(k, MISSING)
            found = json_difference(va, vb, f"{at}/{escape_token(k)}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (va, vb) in enumerate(zip(a, b, strict=False)):
            found = json_difference(va, vb, f"{at}/{i}")
            if found:
                return found
        if len(a) != len(b):
            i = min(len(a), len(b))
            return (
                f"{at}/{i}",
                a[i] if i < len(a) else MISSING,
                b[i] if i < len(b) else MISSING,
            )
        return None
    if a is MISSING or b is MISSING or type(a) is not type(b) or a != b:
        return (at or "/", a, b)
    return None


def count_differences(a: Any, b: Any) -> int:
    """How many leaves differ between two documents (a missing member counts once)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return sum(count_differences(a.get(k, MISSING), b.get(k, MISSING)) for k in set(a) | set(b))
    if isinstance(a, list) and isinstance(b, list):
        extra = abs(len(a) - len(b))
        return extra + sum(count_differences(x, y) for x, y in zip(a, b, strict=False))
    return 0 if type(a) is type(b) and a == b else 1
