"""Reading cassettes: one safe parser for every text file chime-tap reads, and one shape check.

JSON (text starting with ``{`` or ``[``) or YAML with a safe loader; anything wrong ends in one
:class:`~chime_tap.errors.CassetteError` line naming the file.
"""

from __future__ import annotations

import gc
import json
import os
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from chime_tap.cassettes.format import FORMAT_VERSION
from chime_tap.errors import CassetteError, ChimeTapError

# The deepest nesting a document may have. libyaml (PyYAML 6.0.3 and later) refuses deeper
# documents itself, with a ScannerError, instead of recursing in C until the stack overflows;
# real cassettes have fewer than 20 levels.
MAX_DEPTH = 1000

try:  # libyaml when available: several times faster
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class CassetteLoader(_SafeLoader):
    """A safe loader that also reads the harmless Python tags old vcrpy cassettes carry.

    ``!!python/object`` and friends stay unknown tags: they raise, they are never executed.
    """


CassetteLoader.add_constructor(
    "tag:yaml.org,2002:python/str", lambda loader, node: loader.construct_scalar(node)
)
CassetteLoader.add_constructor(
    "tag:yaml.org,2002:python/unicode", lambda loader, node: loader.construct_scalar(node)
)
CassetteLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: list(loader.construct_sequence(node))
)


def parse_cassette(data: bytes, name: str = "<cassette>") -> dict[str, Any]:
    """Parse and check cassette bytes; raise CassetteError naming ``name`` and the problem."""
    if not data.strip():
        raise CassetteError(f"{name}: empty file, not a cassette")
    if b"\x00" in data[:8192]:
        raise CassetteError(f"{name}: binary data, not a cassette")
    doc = parse_document(data, name)
    with _one_line(name):  # e.g. RecursionError from a deep value: still one line naming the file
        check_cassette(doc, name)
    return doc


@contextmanager
def _one_line(name: str) -> Iterator[None]:
    """Any error inside becomes one CassetteError line naming ``name``; a CassetteError as it is."""
    try:
        yield
    except CassetteError:
        raise
    except Exception as e:
        raise CassetteError(f"{name}: cannot be read ({type(e).__name__}: {e})") from e


def parse_document(data: bytes, name: str = "<cassette>") -> Any:
    """JSON (text starting with ``{`` or ``[``) or YAML (safe loader); CassetteError naming ``name``.

    The one parser for every file chime-tap reads as text (cassettes, HAR), so all of them
    refuse the same things with the same words.
    """
    with _one_line(name):  # whatever a crafted file trips in a parser: one line, no traceback
        if data.lstrip()[:1] in (b"{", b"["):
            return _parse_json(data, name)
        return _parse_yaml(data, name)


def _too_deep(name: str) -> CassetteError:
    return CassetteError(
        f"{name}: nested too deeply (more than about {MAX_DEPTH} levels); not a cassette"
    )


def _parse_json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:  # json's C scanner counts its depth: deep input is an error, not a crash
        raise _too_deep(name) from None
    except ValueError as e:  # UnicodeDecodeError included
        raise CassetteError(f"{name}: not valid JSON ({e})") from e


def _parse_yaml(data: bytes, name: str) -> Any:
    try:
        return yaml.load(data, Loader=CassetteLoader)  # a safe loader: see CassetteLoader
    except yaml.constructor.ConstructorError as e:
        tag = getattr(e, "problem", "") or "an unsupported tag"
        raise CassetteError(
            f"{name}: refused YAML ({tag}); cassettes are read with a safe loader"
        ) from e
    except yaml.YAMLError as e:
        if "nesting depth" in str(getattr(e, "problem", "")):  # libyaml's cap, MAX_DEPTH
            raise _too_deep(name) from None
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CassetteError(
            f"{name}: not valid YAML{where} ({getattr(e, 'problem', None) or e})"
        ) from e
    except RecursionError:  # the pure-Python loader, when PyYAML was built without libyaml
        raise _too_deep(name) from None


def check_cassette(doc: Any, name: str = "<cassette>") -> None:
    """Raise CassetteError unless ``doc`` has the shape vcrpy loads."""
    if not isinstance(doc, dict) or "interactions" not in doc:
        raise CassetteError(f"{name}: not a vcrpy cassette (no 'interactions' list)")
    if doc.get("version") != FORMAT_VERSION:
        raise CassetteError(
            f"{name}: cassette version {_short(doc.get('version'))} is not supported (expected {FORMAT_VERSION})"
        )
    interactions = doc["interactions"]
    if not isinstance(interactions, list):
        raise CassetteError(f"{name}: 'interactions' is not a list")
    for i, item in enumerate(interactions):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("request"), dict)
            or not isinstance(item.get("response"), dict)
        ):
            raise CassetteError(f"{name}: interaction {i} has no request/response mapping")
        extra = set(item["request"]) - {"method", "uri", "body", "headers"}
        if extra:
            raise CassetteError(
                f"{name}: interaction {i}: unknown key(s) in request: {', '.join(sorted(map(str, extra)))} (vcrpy cannot load it)"
            )
        if "method" not in item["request"] or "uri" not in item["request"]:
            raise CassetteError(f"{name}: interaction {i}: request without method or uri")
        status = item["response"].get("status")
        code = status.get("code") if isinstance(status, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            raise CassetteError(f"{name}: interaction {i}: response without a status code")
        if not 0 <= code <= 999:  # 0: a call recorded with no response
            raise CassetteError(
                f"{name}: interaction {i}: status code {_short(code)} is not an HTTP status"
            )


def _short(value: Any) -> str:
    """``repr`` cut to a few dozen characters (and levels): a message stays one short line."""
    return reprlib.repr(value)


def read_input(path: str | os.PathLike[str], error: type[ChimeTapError] = CassetteError) -> bytes:
    """A file's bytes; ``error`` with one line naming the file when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None


def load_cassette(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a vcrpy cassette (YAML or JSON) from disk; CassetteError on any problem."""
    return parse_cassette(read_input(path), str(path))


def load_for_replay(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``load_cassette`` with the cyclic GC paused: the same document, 2-3x sooner for big YAML.

    Parsing allocates hundreds of thousands of containers, each allocation burst triggering a
    collection that walks everything parsed so far; a parsed cassette holds no reference
    cycles, so nothing is lost by collecting after the parse instead of during it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return load_cassette(path)
    finally:
        if was_enabled:
            gc.enable()
