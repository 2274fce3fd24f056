"""Removing interactions from a cassette file, leaving every other byte as it was.

A cassette is cut where its interactions lie in the file (:func:`layout`): for JSON, each
element of ``interactions`` as the decoder finds it; for YAML, each ``- `` entry of the block
list under ``interactions:`` (chime-tap's writer, vcrpy's and PyYAML's layouts alike). What is
kept is copied byte for byte; the result is parsed again and must hold exactly the kept
interactions, or nothing is written (:func:`without`). :func:`replace_file` puts it in place
atomically, with the old file kept as a backup.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chime_tap.cassettes.atomic import replace_atomically
from chime_tap.cassettes.reader import parse_cassette
from chime_tap.errors import CassetteError

__all__ = ["BACKUP_SUFFIX", "Layout", "backup_of", "layout", "replace_file", "without"]

BACKUP_SUFFIX = ".bak"


def backup_of(path: Path) -> Path:
    """Where pruning keeps a cassette's old file: ``CASSETTE.bak`` beside it."""
    return path.with_name(path.name + BACKUP_SUFFIX)


_WS = " \t\r\n"


@dataclass(frozen=True)
class Layout:
    """Where the interactions of a cassette lie: ``items[i]`` is (start, end) of interaction i;
    ``list_start`` and ``list_end`` bound the whole list (its key included, for YAML)."""

    fmt: str  # json or yaml (by content, as the reader decides)
    items: list[tuple[int, int]]
    list_start: int
    list_end: int


# --- JSON -------------------------------------------------------------------------------------


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _expect(text: str, i: int, char: str, name: str) -> None:
    if i >= len(text) or text[i] != char:
        raise CassetteError(f"{name}: expected {char!r} at character {i}")


def _json_layout(data: bytes, name: str) -> Layout:
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    i = _skip(text, 0)
    _expect(text, i, "{", name)
    i = _skip(text, i + 1)
    while i < len(text) and text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = _skip(text, i)
        _expect(text, i, ":", name)
        i = _skip(text, i + 1)
        if key == "interactions":
            _expect(text, i, "[", name)
            start, items, i = i, [], _skip(text, i + 1)
            while text[i] != "]":
                _, end = decoder.raw_decode(text, i)
                items.append((i, end))
                i = _skip(text, end)
                if text[i] == ",":
                    i = _skip(text, i + 1)
            return _in_bytes(text, Layout("json", items, start, i + 1))
        _, i = decoder.raw_decode(text, i)
        i = _skip(text, i)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
    raise CassetteError(f"{name}: no interactions list")


def _in_bytes(text: str, found: Layout) -> Layout:
    """Character offsets as byte offsets (the file may hold non-ASCII text)."""
    if text.isascii():
        return found
    ends = sorted({0, found.list_start, found.list_end, *(p for span in found.items for p in span)})
    at, done, pos = {}, 0, 0
    for end in ends:
        pos += len(text[done:end].encode("utf-8"))
        at[end], done = pos, end
    items = [(at[a], at[b]) for a, b in found.items]
    return Layout("json", items, at[found.list_start], at[found.list_end])


# --- YAML -------------------------------------------------------------------------------------

_KEY = re.compile(rb"interactions:[ \t]*(#[^\n]*)?\r?\n")
_EMPTY_KEY = re.compile(rb"interactions:[ \t]*\[\][ \t]*(#[^\n]*)?(\r?\n|$)")
_ITEM = re.compile(rb"( *)-( |\r?\n|$)")


def _indent(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" "))


def _blank_or_comment(line: bytes) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(b"#")


def _yaml_layout(data: bytes, name: str) -> Layout:
    lines = data.splitlines(keepends=True)
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line)
    offsets.append(pos)
    for n, line in enumerate(lines):
        if _EMPTY_KEY.match(line):
            return Layout("yaml", [], offsets[n], offsets[n + 1])
        if _KEY.fullmatch(line):
            return _yaml_items(lines, offsets, n, name)
    raise CassetteError(f"{name}: no block list under a top-level 'interactions:' key")


def _yaml_items(lines: list[bytes], offsets: list[int], key: int, name: str) -> Layout:
    indent: int | None = None
    starts: list[int] = []
    end = len(lines)
    for n in range(key + 1, len(lines)):
        line = lines[n]
        if _blank_or_comment(line):
            continue
        m = _ITEM.match(line)
        if indent is None:
            if m is None:
                raise CassetteError(f"{name}: 'interactions:' is not followed by a block list")
            indent = len(m.group(1))
        if m is not None and len(m.group(1)) == indent:
            starts.append(n)
        elif _indent(line) <= indent or line.startswith((b"---", b"...")):
            end = n
            break
    if not starts:
        raise CassetteError(f"{name}: 'interactions:' is not followed by a block list")
    # Blank lines and comments between the list and the next key stay outside every item.
    while end > starts[-1] + 1 and _blank_or_comment(lines[end - 1]):
        end -= 1
    bounds = [*starts, end]
    items = [(offsets[a], offsets[b]) for a, b in itertools.pairwise(bounds)]
    return Layout("yaml", items, offsets[key], offsets[end])


def layout(data: bytes, name: str = "<cassette>") -> Layout:
    """Where each interaction of a cassette lies; CassetteError if it cannot be told."""
    try:
        if data.lstrip()[:1] == b"{":
            return _json_layout(data, name)
        return _yaml_layout(data, name)
    except (ValueError, IndexError) as e:  # JSONDecodeError, a list cut short
        raise CassetteError(f"{name}: cannot find its interactions ({e})") from None


# --- cutting ----------------------------------------------------------------------------------


def without(data: bytes, drop: Iterable[int], name: str = "<cassette>") -> bytes:
    """``data`` without the interactions at positions ``drop``; every other byte is kept.

    The result is parsed again and must hold exactly the kept interactions (and the same
    top-level keys): otherwise CassetteError, and the caller writes nothing.
    """
    before = parse_cassette(data, name)
    found = layout(data, name)
    count = len(before["interactions"])
    if len(found.items) != count:
        raise CassetteError(
            f"{name}: found {len(found.items)} interaction(s) in the text, the parser {count}; "
            "not pruned (an unusual layout)"
        )
    gone = set(drop)
    outside = sorted(p for p in gone if not 0 <= p < count)
    if outside:
        raise CassetteError(f"{name}: no interaction #{outside[0]} (it holds {count})")
    if not gone:
        return data
    kept = [n for n in range(count) if n not in gone]
    out = _cut(data, found, kept)
    after = parse_cassette(out, name)
    rest = {k: v for k, v in before.items() if k != "interactions"}
    if after["interactions"] != [before["interactions"][n] for n in kept] or rest != {
        k: v for k, v in after.items() if k != "interactions"
    }:
        raise CassetteError(f"{name}: cutting it would change what it holds; not pruned")
    return out


def _cut(data: bytes, found: Layout, kept: list[int]) -> bytes:
    items = found.items
    first, last = items[0], items[-1]
    if not kept:
        if found.fmt == "json":  # "[" ... "]": the whitespace inside goes too
            return data[: first[0]].rstrip() + data[last[1] :].lstrip()
        return data[: found.list_start] + b"interactions: []\n" + data[found.list_end :]
    parts = [data[: first[0]]]
    for i, n in enumerate(kept):
        if i and found.fmt == "json":  # the separator that came before it (",\n" or the like)
            parts.append(data[items[n - 1][1] : items[n][0]])
        parts.append(data[items[n][0] : items[n][1]])
    parts.append(data[last[1] :] if found.fmt == "json" else data[found.list_end :])
    return b"".join(parts)


# --- writing ----------------------------------------------------------------------------------


def replace_file(path: Path, expected: bytes, new: bytes, backup: Path) -> None:
    """Put ``new`` in place of ``path`` atomically, after copying the old file to ``backup``.

    The cassette is locked as the recorder locks it (a recorder writing it makes this fail) and
    must still hold ``expected``, the bytes ``new`` was cut from.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise CassetteError(
                    f"{path}: a chime-tap recorder is writing it; not pruned"
                ) from None
            raise
        mode = os.fstat(fd).st_mode & 0o777
        if path.read_bytes() != expected:
            raise CassetteError(f"{path}: changed while it was being pruned; not pruned")
        replace_atomically(backup, expected, mode)
        replace_atomically(path, new, mode)
    finally:
        os.close(fd)
