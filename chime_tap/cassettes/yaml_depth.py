"""Loading YAML without letting libyaml overflow the C stack.

libyaml's C composer recurses once per level of nesting with no limit: around 25,000 levels
it overflows the C stack and the process dies with SIGSEGV, which no except clause catches.
So YAML is measured before it is composed. Counting brackets at C speed (bytes.translate)
is exact for a plain ``[[[[...`` bomb; when it sees more than MAX_DEPTH levels (it also counts
brackets inside quoted strings), libyaml's own parser, which is iterative, gives the exact
depth. Closing brackets inside quoted strings can also make the count too low, so whatever
the count says, a file whose opening brackets could nest deeper than a thread's stack safely
holds is composed on a thread whose stack is as deep as those brackets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import yaml


class TooDeep(Exception):
    """The document nests deeper than MAX_DEPTH levels."""


MAX_DEPTH = 1000  # levels of nesting a document may have; real cassettes have fewer than 20
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_BRACKET_RUNS = re.compile(rb"\[+|\]+")
# A block collection starts after its line's indentation and compact indicators ("- - ",
# "? ", ": "), so a line's run of these bounds its block depth (plus 3).
_INDENTATION = bytes.maketrans(b"\t-?:", b"    ")
_SHALLOW_BLOCKS = 64  # a run shorter than this: block depth below 67
_INLINE_LEVELS = 2 * MAX_DEPTH  # composed on the caller's stack up to this bound (< 1 MB of it)
_STACK_PER_LEVEL = 1024  # libyaml's composer uses about 350 bytes of C stack per level
_MAX_STACK = 512 * 1024 * 1024  # beyond this, parse twice (exact depth first) instead
_STACK_SIZE_LOCK = threading.Lock()  # threading.stack_size is process-wide


class _NoDeepStack(Exception):
    """No thread with a deep enough stack could be started here."""


def load(data: bytes, loader: type) -> Any:
    """``yaml.load(data, Loader=loader)``, never asking libyaml to recurse past what it can.

    Raises TooDeep for a document nested deeper than MAX_DEPTH levels; any error of the
    loader itself comes through as it is.
    """
    skeleton = data.translate(_ONE_KIND, _NOT_BRACKETS)
    blocks = _block_depth_bound(data)
    if blocks is not None and _bracket_depth(skeleton) + blocks <= MAX_DEPTH:
        bound = skeleton.count(b"[") + blocks  # however the count above was fooled, no deeper
        if bound <= _INLINE_LEVELS:
            return yaml.load(data, Loader=loader)
        if bound * _STACK_PER_LEVEL <= _MAX_STACK:
            try:
                return _on_deep_stack(
                    lambda d: yaml.load(d, Loader=loader), data, stack=bound * _STACK_PER_LEVEL
                )
            except _NoDeepStack:
                pass
    # Refuse ``data`` if libyaml's event stream nests deeper than MAX_DEPTH, else load it.
    if _event_depth(data, MAX_DEPTH, loader) > MAX_DEPTH:
        raise TooDeep()
    return yaml.load(data, Loader=loader)


def _block_depth_bound(data: bytes) -> int | None:
    """An upper bound of the block-collection depth, or None when lines start too deep to tell."""
    runs = data.translate(_INDENTATION)
    if b" " * _SHALLOW_BLOCKS not in runs:
        return _SHALLOW_BLOCKS + 3
    if b" " * MAX_DEPTH not in runs:
        return MAX_DEPTH + 3
    return None


def _bracket_depth(skeleton: bytes) -> int:
    """How deep the brackets of ``skeleton`` (only ``[`` and ``]`` left) nest, counted naively."""
    peeled = 0
    while peeled < 8:  # what real documents hold is gone after a few rounds, at C speed
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            break
        skeleton, peeled = shorter, peeled + 1
    level = deepest = 0
    for run in _BRACKET_RUNS.findall(skeleton):
        if run[0] == ord("["):
            level += len(run)
            deepest = max(deepest, level)
        else:
            level = max(0, level - len(run))
    return deepest + peeled


def _event_depth(data: bytes, stop: int, loader: type) -> int:
    """The nesting depth of libyaml's events (its parser is iterative); stops once past ``stop``."""
    depth = deepest = 0
    events = yaml.parse(data, Loader=loader)
    try:
        for event in events:
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                deepest = max(deepest, depth)
                if depth > stop:
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        events.close()
    return deepest


def _on_deep_stack(func: Callable[[bytes], Any], data: bytes, *, stack: int) -> Any:
    """``func(data)`` on a thread with a ``stack``-byte C stack; where none can be had, here."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = func(data)
        except BaseException as e:  # handed to the caller's thread as it is
            outcome["error"] = e

    with _STACK_SIZE_LOCK:
        previous = threading.stack_size()
        try:
            threading.stack_size(-(-stack // (1 << 20)) << 20)  # whole MiB, as some platforms want
            worker = threading.Thread(target=run, name="chime-tap-yaml", daemon=True)
            worker.start()
        except (RuntimeError, ValueError, MemoryError):  # no such stack here: measure exactly
            worker = None
        finally:
            threading.stack_size(previous)
    if worker is None:
        raise _NoDeepStack()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
