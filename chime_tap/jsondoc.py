"""JSON documents: pointers (RFC 6901), pointer patterns, and where two documents differ.

One escaping rule for every pointer chime-tap prints: in validation messages, in replay's
"what differs", in diffs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

MISSING: Any = object()  # a member one side of a comparison does not have
WILDCARD = "*"  # in a pointer pattern: any one reference token

# same(a, b) -> bool: whether two leaf values count as equal (default: same type and value)
Same = Callable[[Any, Any], bool]


def escape_token(token: Any) -> str:
    """One reference token of a JSON pointer: ``~`` as ``~0``, ``/`` as ``~1``."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    """The member name or index a reference token stands for (``~1`` is ``/``, ``~0`` is ``~``)."""
    return token.replace("~1", "/").replace("~0", "~")


def pointer(path: Iterable[str | int]) -> str:
    """The JSON pointer of a path of member names and array indices (``""`` for the root)."""
    return "".join("/" + escape_token(p) for p in path)


def tokens(text: str) -> tuple[str, ...]:
    """The reference tokens of a JSON pointer, unescaped; ValueError if it is not one."""
    if text == "":
        return ()
    if not text.startswith("/"):
        raise ValueError(f"{text!r} is not a JSON pointer (it must be empty or start with '/')")
    for part in text.split("/")[1:]:
        rest = part.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise ValueError(f"{text!r}: '~' must be followed by 0 or 1 in a JSON pointer")
    return tuple(unescape_token(p) for p in text.split("/")[1:])


def _same_leaf(a: Any, b: Any) -> bool:
    return a is not MISSING and b is not MISSING and type(a) is type(b) and a == b


def iter_differences(
    a: Any, b: Any, at: str = "", *, same: Same | None = None, unordered_scalars: bool = False
) -> Iterator[tuple[str, Any, Any]]:
    """Every place two JSON documents differ, in document order: (JSON pointer, value in a,
    value in b). Members in sorted order; a member or array item one side lacks is reported
    once, with the value ``MISSING``, and not looked into. ``same`` decides for leaves.

    ``unordered_scalars``: two lists of scalars only (strings, numbers, booleans, nulls) compare
    as multisets: an item only in ``a`` (as many times as ``b`` lacks it) is yielded at its index
    in ``a`` with ``MISSING`` for ``b``, one only in ``b`` at its index in ``b``; order alone is
    no difference. Items are alike when of the same type and value, as leaves are by default."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            yield from iter_differences(
                a.get(k, MISSING), b.get(k, MISSING), f"{at}/{escape_token(k)}",
                same=same, unordered_scalars=unordered_scalars,
            )  # fmt: skip
        return
    if isinstance(a, list) and isinstance(b, list):
        if unordered_scalars and _scalars(a) and _scalars(b):
            yield from _multiset(a, b, at)
            return
        for i, (va, vb) in enumerate(zip(a, b, strict=False)):
            yield from iter_differences(
                va, vb, f"{at}/{i}", same=same, unordered_scalars=unordered_scalars
            )
        for i in range(min(len(a), len(b)), max(len(a), len(b))):
            yield (
                f"{at}/{i}",
                a[i] if i < len(a) else MISSING,
                b[i] if i < len(b) else MISSING,
            )
        return
    if not (same or _same_leaf)(a, b):
        yield (at or "/", a, b)


_SCALAR_TYPES = (str, int, float, bool, type(None))


def _scalars(items: list) -> bool:
    return all(x.__class__ in _SCALAR_TYPES for x in items)


def _multiset(a: list, b: list, at: str) -> Iterator[tuple[str, Any, Any]]:
    """The items of two lists of scalars that the other lacks, as many times as it lacks them."""
    if len(a) == len(b) and all(_item(x) == _item(y) for x, y in zip(a, b, strict=True)):
        return  # the same items in the same order: the common case
    for i, x in _unmatched(a, b):
        yield (f"{at}/{i}", x, MISSING)
    for i, y in _unmatched(b, a):
        yield (f"{at}/{i}", MISSING, y)


def _item(x: Any) -> tuple[type, Any]:
    return (x.__class__, x)  # 1, 1.0 and True are three items


def _unmatched(items: list, other: list) -> Iterator[tuple[int, Any]]:
    """(index, item) of each item of ``items`` that ``other`` has no more of."""
    left = Counter(map(_item, other))
    for i, x in enumerate(items):
        k = _item(x)
        if left[k]:
            left[k] -= 1
        else:
            yield i, x


def json_difference(a: Any, b: Any, at: str = "") -> tuple[str, Any, Any] | None:
    """The first place two JSON documents differ: (JSON pointer, value in a, value in b), or None.

    A member missing on one side is reported with the value ``MISSING``.
    """
    return next(iter_differences(a, b, at), None)


def json_differences(
    a: Any, b: Any, *, same: Same | None = None, limit: int | None = None
) -> list[tuple[str, Any, Any]]:
    """Every place two JSON documents differ (see :func:`iter_differences`), at most ``limit``."""
    found = []
    for difference in iter_differences(a, b, same=same):
        if limit is not None and len(found) >= limit:
            break
        found.append(difference)
    return found


def count_differences(a: Any, b: Any) -> int:
    """How many leaves differ between two documents (a missing member counts once)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return sum(count_differences(a.get(k, MISSING), b.get(k, MISSING)) for k in set(a) | set(b))
    if isinstance(a, list) and isinstance(b, list):
        extra = abs(len(a) - len(b))
        return extra + sum(count_differences(x, y) for x, y in zip(a, b, strict=False))
    return 0 if type(a) is type(b) and a == b else 1


# --- pointer patterns: a pointer whose "*" tokens stand for any one token ---------------------


class PointerPattern:
    """A JSON pointer in which a ``*`` token matches any one member name or index.

    It matches a pointer it spells out, and everything under it: ``/ProxySession/Participants``
    covers ``/ProxySession/Participants/0/ProxyPhoneNumber``.
    """

    __slots__ = ("text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokens(text)

    def __repr__(self) -> str:
        return f"PointerPattern({self.text!r})"

    def covers(self, path: Sequence[str]) -> bool:
        """Whether the pointer of ``path`` (its unescaped tokens) is this one or under it."""
        if len(path) < len(self.tokens):
            return False
        return all(p in (WILDCARD, t) for p, t in zip(self.tokens, path, strict=False))

    def matches(self, text: str) -> bool:
        """Whether the JSON pointer ``text`` is this one or under it."""
        return self.covers(tokens(text))


def covered(text: str, patterns: Sequence[PointerPattern]) -> bool:
    """Whether any of ``patterns`` matches the JSON pointer ``text``."""
    if not patterns:
        return False
    path = tokens(text)
    return any(p.covers(path) for p in patterns)


def without(doc: Any, patterns: Sequence[PointerPattern]) -> Any:
    """A copy of ``doc`` without the members and items ``patterns`` match (the root is kept)."""
    if not patterns:
        return doc
    return _without(doc, (), patterns)


def _without(doc: Any, path: tuple[str, ...], patterns: Sequence[PointerPattern]) -> Any:
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            sub = (*path, str(k))
            if not any(p.covers(sub) for p in patterns):
                out[k] = _without(v, sub, patterns)
        return out
    if isinstance(doc, list):
        out_list = []
        for i, v in enumerate(doc):
            sub = (*path, str(i))
            if not any(p.covers(sub) for p in patterns):
                out_list.append(_without(v, sub, patterns))
        return out_list
    return doc
