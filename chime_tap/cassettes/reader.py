"""Reading cassettes: one safe parser for every text file chime-tap reads, and one shape check.

JSON (text starting with ``{`` or ``[``) or YAML with a safe loader; anything wrong ends in one
:class:`~chime_tap.errors.CassetteError` line naming the file.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import re
import reprlib
import stat
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import yaml

from chime_tap.cassettes import torn
from chime_tap.cassettes.format import (
    END_KEY,
    FORMAT_VERSION,
    JSON_HEAD,
    LAYOUT_KEY,
    META_KEY,
    format_for,
)
from chime_tap.errors import CassetteError, ChimeTapError

# The deepest nesting a document may have. libyaml (PyYAML 6.0.3 and later) refuses deeper
# documents itself, with a ScannerError, instead of recursing in C until the stack overflows;
# real cassettes have fewer than 20 levels.
MAX_DEPTH = 1000
# The most a file may hold to be read at all: checked before a byte is read, and again while
# reading (a file that grows). A cassette with a 200 MB body is about 270 MB of YAML; a parser
# needs several times a file's size in memory, so more than this is no cassette to read here.
MAX_INPUT_BYTES = 512 * 1024 * 1024
# The most a JSON cassette in the writer's layout may hold to be replayed. It is read a line at a
# time and each interaction kept as its line (see replay_items): memory grows with the file's
# size, about 1.6 times it, instead of the several times a whole-document parse needs.
MAX_STREAMED_BYTES = 4 * 1024 * 1024 * 1024
# The longest line read as one interaction; a longer one (a body of tens of MB, or a file that
# only starts like a cassette) hands the file to the whole reader and its MAX_INPUT_BYTES.
MAX_STREAMED_LINE = 64 * 1024 * 1024
# A JSON cassette in the writer's layout bigger than this is replayed by the proxy with each
# interaction's request checked at start and the rest of it (its response, metadata, duplicate
# keys) on its first play (see replay_items): a captured day of a million interactions starts in
# seconds instead of half a minute. Below it (about 60,000 interactions, a second's check),
# every problem is said at start.
DEFER_CHECKS_BYTES = 64 * 1024 * 1024
# What is looked at before the rest is read: a binary file is refused on its first bytes.
HEAD_BYTES = 8192
_MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # libyaml when available: several times faster
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _Refused(yaml.constructor.ConstructorError):
    """YAML that is valid but never in a cassette: an alias, a merge key, a duplicate key."""

    def __init__(self, problem: str, node: yaml.Node | None = None) -> None:
        super().__init__(None, None, problem, node.start_mark if node is not None else None)


class CassetteLoader(_SafeLoader):
    """A safe loader that also reads the harmless Python tags old vcrpy cassettes carry.

    ``!!python/object`` and friends stay unknown tags: they raise, they are never executed.
    Refused as well, since no recorder writes them (vcrpy's yaml serializer dumps plain data,
    and chime-tap's writer never emits an anchor): aliases (``*name``, each one a node built a
    second time: the "billion laughs" expansion), merge keys (``<<``, which copy mappings
    into mappings before anything else sees them) and duplicate keys (which PyYAML resolves
    silently, last one wins). Each is refused at the first occurrence, before it expands.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node in self.constructed_objects or node in self.recursive_objects:
            line = node.start_mark.line + 1  # an alias is its anchor's node: no mark of its own
            raise _Refused(f"an alias (*name) of the node at line {line}; cassettes have none")
        return super().construct_object(node, deep)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found {node.id}", node.start_mark
            )
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise _Refused("a merge key (<<); cassettes have none", key_node)
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in mapping
            except TypeError:
                raise _Refused("an unhashable key", key_node) from None
            if duplicate:
                raise _Refused(f"duplicate key {_short(key)}", key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


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
    refuse_binary(data, name)
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
    refuse the same things with the same words. A file that does not parse because a kill cut
    its last interaction off (:mod:`~chime_tap.cassettes.torn` decides, as the writer does) is
    said to be torn, and how to recover it, instead of where the parser stopped.
    """
    try:
        return _parse_any(data, name)
    except CassetteError as e:
        message = _torn_message(data, name)
        if message is None:
            raise
        raise CassetteError(message) from e


def _torn_message(data: bytes, name: str) -> str | None:
    """The line for a cassette whose only fault is a torn tail; None for any other."""
    fmt = format_for(name)  # as the writer, which goes by the name, will see the file
    if not torn.is_writers_layout(fmt, data):
        return None
    try:
        cut, _, whole = find_torn_tail(fmt, data, name)
    except CassetteError:
        return None  # broken elsewhere too: the parser's own words say where
    # A kill in a write's last bytes may leave only a separator or part of JSON's closing ]}.
    what = f"interaction {whole}" if data[cut:].strip(b",\n]}") else "its end"
    return (
        f"{name}: {what} is torn (cut off while being written, e.g. by a kill): "
        f"{len(data) - cut:,} torn byte(s) after {whole} whole interaction(s); "
        "the next 'chime-tap record' on this cassette moves it aside"
    )


def find_torn_tail(fmt: str, data: bytes, name: str) -> torn.TornTail:
    """The torn tail of ``data``, a broken cassette of the writer's layout in format ``fmt``;
    a CassetteError naming ``name`` (the writer's "left alone") when more than its tail is wrong.

    The one rule the writer (which moves the tail aside) and every reader (which refuse the
    file) share; what is kept is read as :func:`parse_cassette` reads a cassette.
    """
    return torn.torn_tail(fmt, data, name, _parse_whole)


def _parse_whole(data: bytes, name: str) -> dict[str, Any]:
    """:func:`parse_cassette` of a file of whole interactions: no torn tail to look for."""
    refuse_binary(data, name)
    doc = _parse_any(data, name)
    with _one_line(name):
        check_cassette(doc, name)
    return doc


def _parse_any(data: bytes, name: str) -> Any:
    """:func:`parse_document` without a word about torn tails."""
    with _one_line(name):  # whatever a crafted file trips in a parser: one line, no traceback
        if data.lstrip()[:1] in (b"{", b"["):
            return _parse_json(data, name)
        return _parse_yaml(data, name)


def _too_deep(name: str) -> CassetteError:
    return CassetteError(
        f"{name}: nested too deeply (more than about {MAX_DEPTH} levels); not a cassette"
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {_short(key)}")
    return out


def _parse_json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data, object_pairs_hook=_unique_keys)
    except RecursionError:  # json's C scanner counts its depth: deep input is an error, not a crash
        raise _too_deep(name) from None
    except ValueError as e:  # UnicodeDecodeError included
        raise CassetteError(f"{name}: not valid JSON ({e})") from e


def _parse_yaml(data: bytes, name: str) -> Any:
    try:
        return yaml.load(data, Loader=CassetteLoader)  # a safe loader: see CassetteLoader
    except _Refused as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CassetteError(f"{name}: refused YAML{where}: {e.problem}") from None
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
    """Raise CassetteError unless ``doc`` has the shape vcrpy loads and every reader can use.

    The one shape check: validate, report, replay and the vcrpy persister all call it (through
    :func:`parse_cassette` or directly), so they refuse the same things with the same line.
    """
    if not isinstance(doc, dict) or "interactions" not in doc:
        raise CassetteError(f"{name}: not a vcrpy cassette (no 'interactions' list)")
    if "version" not in doc:  # vcrpy writes it last: a file cut short loses it first
        raise CassetteError(
            f"{name}: no 'version' key (vcrpy writes it last: was the file cut short?)"
        )
    version = doc["version"]
    if type(version) is not int or version != FORMAT_VERSION:  # true == 1 in Python
        raise CassetteError(
            f"{name}: cassette version {_short(version)} is not supported (expected {FORMAT_VERSION})"
        )
    interactions = doc["interactions"]
    if not isinstance(interactions, list):
        raise CassetteError(f"{name}: 'interactions' is not a list")
    marks = doc.pop(LAYOUT_KEY, None)
    if marks is not None and marks is not True:
        raise CassetteError(f"{name}: {LAYOUT_KEY} is {_short(marks)}, not true")
    for i, item in enumerate(interactions):
        if marks and (not isinstance(item, dict) or item.pop(END_KEY, None) is not True):
            # The writer's YAML layout ends every interaction with its end mark: one without
            # it was cut off while written; the next writer to open the file moves it aside.
            raise CassetteError(
                f"{name}: interaction {i} is torn (cut off while being written, e.g. by a kill); "
                "the next 'chime-tap record' on this cassette moves it aside"
            )
        problem = _interaction_problem(item)
        if problem is not None:
            raise CassetteError(f"{name}: interaction {i}: {problem}")


def _interaction_problem(item: Any) -> str | None:
    """What makes ``item`` no interaction a reader can use, in a few words; None if nothing."""
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("request"), dict)
        or not isinstance(item.get("response"), dict)
    ):
        return "has no request/response mapping"
    request, response = item["request"], item["response"]
    extra = set(request) - {"method", "uri", "body", "headers"}
    if extra:
        keys = ", ".join(sorted(map(str, extra)))
        return f"unknown key(s) in request: {keys} (vcrpy cannot load it)"
    if "method" not in request or "uri" not in request:
        return "request without method or uri"
    method = request["method"]
    if not isinstance(method, str) or not method.isascii() or not method.strip():
        return f"request method {_short(method)} is not an HTTP method"
    problem = (
        _uri_problem(request["uri"])
        or _headers_problem(request.get("headers"), "request")
        or _body_problem(request.get("body"), "request body", nested=True)
    )
    if problem:
        return problem
    status = response.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if not isinstance(code, int) or isinstance(code, bool):
        return "response without a status code"
    if not 0 <= code <= 999:  # 0: a call recorded with no response
        return f"status code {_short(code)} is not an HTTP status"
    message = status.get("message")
    if message is not None and not isinstance(message, str):
        return f"status message {_short(message)} is not text"
    body = response.get("body")
    if not isinstance(body, dict) or "string" not in body:
        return f"response body {_short(body)} is not a mapping with a 'string'"
    problem = _headers_problem(response.get("headers"), "response") or _body_problem(
        body["string"], "response body", nested=False
    )
    if problem:
        return problem
    meta = item.get(META_KEY)
    if meta is not None and not isinstance(meta, dict):
        return f"{META_KEY} metadata {_short(meta)} is not a mapping"
    if isinstance(meta, dict) and not isinstance(meta.get("violations", []), list):
        return f"{META_KEY} violations {_short(meta['violations'])} is not a list"
    return None


def _uri_problem(uri: Any) -> str | None:
    if not isinstance(uri, str):
        return f"request uri {_short(uri)} is not a string"
    origin = plain_origin(uri)
    if origin is not None and _origin_ok(origin):  # a cassette has a handful of origins
        return None
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError as e:
        return f"request uri {_short(uri)} is not a URL ({e})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"request uri {_short(uri)} is not an http(s) URL with a host"
    return None


def plain_origin(uri: str) -> str | None:
    """``http(s)://netloc`` of a URI that urlsplit splits there and nowhere else; None otherwise.

    For such a URI (lower-case http or https scheme, every character printable, so nothing for
    urlsplit to strip or remove), what urlsplit says of the scheme and netloc (port, host, the
    errors it raises) depends on this prefix alone: callers check the prefix once and cache it.
    """
    if uri.startswith("https://"):
        start = 8
    elif uri.startswith("http://"):
        start = 7
    else:
        return None
    if not uri.isprintable():
        return None
    end = len(uri)
    for sep in "/?#":
        at = uri.find(sep, start)
        if at != -1 and at < end:
            end = at
    return uri[:end]


@functools.lru_cache(maxsize=1024)
def _origin_ok(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018
    except ValueError:
        return False
    return bool(parts.hostname)


_HEADER_VALUE = (str, bytes, int, float)  # numbers: hand-written cassettes (Content-Length: 27)


def _headers_problem(headers: Any, part: str) -> str | None:
    if headers is None:
        return None
    if not isinstance(headers, dict):
        return f"{part} headers {_short(headers)} are not a mapping"
    for name, value in headers.items():
        if isinstance(value, list):
            ok = isinstance(name, str)
            for v in value:
                if not isinstance(v, _HEADER_VALUE):
                    ok = False
                    break
        else:
            ok = isinstance(name, str) and isinstance(value, _HEADER_VALUE)
        if not ok:
            return f"{part} header {_short(name)}: {_short(value)} is not a header"
    return None


def _body_problem(body: Any, part: str, *, nested: bool) -> str | None:
    if nested and isinstance(body, dict) and set(body) == {"string"}:
        body = body["string"]  # some writers nest the request body as the response's is
    if body is None or isinstance(body, str | bytes):
        return None
    return f"{part} {_short(body)} is neither text nor bytes"


def _short(value: Any) -> str:
    """``repr`` cut to a few dozen characters (and levels): a message stays one short line."""
    return reprlib.repr(value)


_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is ("a FIFO (named pipe)"); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _NOT_REGULAR if test(mode)), "not a regular file")


def refuse_special_file(path: str | os.PathLike[str], error: type[ChimeTapError]) -> None:
    """``error`` naming ``path`` unless it is a regular file (or missing); symlinks followed."""
    try:
        kind = _kind(os.stat(path).st_mode)
    except OSError:
        return  # missing or unreadable: the open that follows says which
    if kind == "a directory":
        raise error(f"{path}: is a directory, not a file")
    if kind is not None:
        raise error(f"{path}: is {kind}, not a regular file")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):,.0f} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


def _open_input(path: str | os.PathLike[str], error: type[ChimeTapError]) -> tuple[int, int]:
    """(descriptor, size) of a regular file opened for reading without blocking; ``error`` naming
    the file otherwise."""
    refuse_special_file(path, error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)  # swapped between the check and the open
        if kind is not None:
            raise error(f"{path}: is {kind}, not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def _too_big(path: str | os.PathLike[str], error: type[ChimeTapError], limit: int) -> ChimeTapError:
    return error(f"{path}: more than {_mib(limit)}, the most chime-tap reads of a file; not read")


def read_input(
    path: str | os.PathLike[str],
    error: type[ChimeTapError] = CassetteError,
    *,
    limit: int = MAX_INPUT_BYTES,
    head: Callable[[bytes], None] | None = None,
) -> bytes:
    """A file's bytes; ``error`` with one line naming the file when it cannot be read.

    The one place input files are read. Only a regular file is read (a FIFO would block, a
    device never end); it is opened without blocking, its size checked against ``limit``
    before reading, and ``head`` (if given) sees its first bytes first and may refuse the file
    before the rest is read.
    """
    fd, size = _open_input(path, error)
    with os.fdopen(fd, "rb", buffering=0) as f:
        try:
            if size > limit:
                raise _too_big(path, error, limit)
            if head is not None:
                head(f.read(min(size, HEAD_BYTES)) or b"")
                f.seek(0)
            parts = [f.read(size + 1) or b""]  # one read of the whole file, as a rule
            total = len(parts[0])
            # More than fstat said (a file still written to, or /proc's size 0): read on, bounded.
            while total <= limit and (chunk := f.read(1 << 16)):
                parts.append(chunk)
                total += len(chunk)
            if total > limit:
                raise _too_big(path, error, limit)
        except OSError as e:
            raise error(f"{path}: cannot read ({e.strerror})") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def refuse_binary(head: bytes, name: str) -> None:
    """CassetteError for bytes that hold a NUL in their first ``HEAD_BYTES``: no text file does."""
    if b"\x00" in head[:HEAD_BYTES]:
        raise CassetteError(f"{name}: binary data, not a cassette")


def load_cassette(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a vcrpy cassette (YAML or JSON) from disk; CassetteError on any problem."""
    name = str(path)
    return parse_cassette(read_input(path, head=lambda h: refuse_binary(h, name)), name)


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


class DeferredRequest(NamedTuple):
    """An interaction of a big cassette as replay needs it at start: its request's method, uri
    (and the uri's :func:`plain_origin`) and body, read and checked; its status is a recorded
    answer's (not 0). The rest of its line is checked by :func:`check_line` when first played."""

    method: str
    origin: str
    uri: str
    body: str | None


class LineSource:
    """The cassette a deferred line is read from again when played: the file replay read at
    start (its descriptor kept, whatever replaces the path since), with the cassette's name."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self._file = os.fdopen(fd, "rb", buffering=0)  # closed with the last entry that uses it

    def read(self, line: StoredLine, number: int) -> bytes:
        """The bytes of ``line``; CassetteError naming the interaction unless they are the
        bytes read at start (a file changed in place since: truncated, edited, rewritten)."""
        try:
            data = os.pread(self._file.fileno(), line.size, line.offset)
        except OSError as e:
            message = f"{self.name}: interaction {number}: cannot read ({e.strerror})"
            raise CassetteError(message) from None
        if len(data) != line.size or zlib.crc32(data) != line.crc:
            raise CassetteError(
                f"{self.name}: interaction {number}: changed on disk since replay read it at "
                "start; restart replay to read the cassette again"
            )
        return data


class StoredLine(NamedTuple):
    """Where a deferred line lies in its cassette, and its CRC-32: the line itself is not kept
    (a captured day's lines are a gigabyte; an index of where they are, a few dozen MB)."""

    source: LineSource
    offset: int
    size: int
    crc: int

    def read(self, number: int) -> bytes:
        return self.source.read(self, number)


def replay_items(
    path: str | os.PathLike[str], *, defer_checks: bool = False
) -> Iterator[tuple[dict[str, Any] | DeferredRequest, bytes | StoredLine | None]]:
    """Each interaction of a cassette, checked as :func:`load_cassette` checks it, with its line.

    A JSON cassette in the writer's layout (``format.JSON_HEAD``, then one interaction a line)
    is read and parsed a line at a time: a captured day of a million interactions needs neither
    its whole text nor its whole parsed document in memory at once, and the caller may keep
    each interaction as its line (``json.loads(line)`` gives the dict back). Any other file is
    read whole by :func:`load_for_replay` (line None); so is the rest of one that leaves the
    layout at some line (a hand-edited or torn file): the same document, the same errors.

    With ``defer_checks`` (the proxy replay) and such a file over ``DEFER_CHECKS_BYTES``, a
    line the writer wrote (its request in the writer's order and spelling, its status not 0)
    comes as a :class:`DeferredRequest`, its request checked as every reader checks it, the
    rest left to :func:`check_line` at its first play, with a :class:`StoredLine` to read it
    again then instead of the line; any other line is checked whole, as without
    ``defer_checks``.
    """
    fd, size = _open_input(path, CassetteError)
    was_enabled = gc.isenabled()
    gc.disable()  # as in load_for_replay: what the caller builds from the items is long-lived
    try:
        with os.fdopen(fd, "rb", buffering=1 << 20) as f:
            if size > MAX_STREAMED_BYTES:
                raise _too_big(path, CassetteError, MAX_STREAMED_BYTES)
            streamed, done = 0, False
            if f.read(len(JSON_HEAD)) == JSON_HEAD:
                source = None
                if defer_checks and size > DEFER_CHECKS_BYTES:
                    source = LineSource(str(path), os.dup(fd))
                streamed, done = yield from _lines(f, str(path), source)
        if not done:  # not the writer's layout, from this line on: the whole reader decides
            for item in load_for_replay(path)["interactions"][streamed:]:
                yield item, None
    except OSError as e:
        raise CassetteError(f"{path}: cannot read ({e.strerror})") from None
    finally:
        if was_enabled:
            gc.enable()


def _lines(
    f: Any, name: str, source: LineSource | None = None
) -> Generator[tuple[dict[str, Any] | DeferredRequest, bytes | StoredLine], None, tuple[int, bool]]:
    """The interactions of a file in the writer's JSON layout, past its head, with their lines.

    Returns (how many were yielded, whether the file ended as the layout ends). A line that is
    not one whole interaction ends it early: a line of valid JSON followed by a comma is one
    element of the interactions list whatever follows, so the whole-document reader can take
    over from there. With a ``source``, a line :func:`_deferred_request` takes is yielded as
    its request, the rest of it unchecked, and where it lies in ``source``.
    """
    n, total, last = 0, len(JSON_HEAD), False
    while raw := f.readline(MAX_STREAMED_LINE + 1):
        size = len(raw)
        if size > MAX_STREAMED_LINE:
            return n, False  # a huge interaction, or no line at all: the whole reader decides
        total += size
        if total > MAX_STREAMED_BYTES:  # a file that grows while read
            raise _too_big(name, CassetteError, MAX_STREAMED_BYTES)
        if size <= 3 and raw in (b"]}\n", b"]}"):
            return n, not f.read(1 << 16).strip()
        if last or not raw.endswith(b"\n"):
            return n, False  # a torn tail, or a line after the last one
        if raw.endswith(b",\n"):
            line = raw[:-2]
        else:
            line, last = raw[:-1], True
        if source is not None and (request := _deferred_request(line)) is not None:
            stored = (source, total - size, len(line), zlib.crc32(line))
            yield request, _new_tuple(StoredLine, stored)
            n += 1
            continue
        item = _line_item(line)
        if not isinstance(item, dict):
            return n, False
        problem = _interaction_problem(item)
        if problem is not None:
            if _line_item(line, unique=True) is None:
                return n, False  # a duplicate key too: the whole reader says which it meets first
            raise CassetteError(f"{name}: interaction {n}: {problem}")
        if not _unique_line(line, item):
            return n, False  # a duplicate key: the whole reader names it
        yield item, line
        n += 1
    return n, False  # no closing ]}: torn


# A JSON string as RFC 8259 spells it (the bytes of a character not checked here).
_STRING = rb'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"'
# The start of a line as the writer writes it (format.make_interaction's order): the request's
# method, uri (printable ASCII, no escape; group 3 is what plain_origin gives of it) and body
# (null or a string), up to its headers' opening brace.
_WRITERS_REQUEST = re.compile(
    rb'\{"request":\{"method":"([A-Z]{1,20})",'
    rb'"uri":"((https?://[\x20\x21\x24-\x2e\x30-\x3e\x40-\x5b\x5d-\x7e]*)[\x20\x21\x23-\x5b\x5d-\x7e]*)",'
    rb'"body":(null|' + _STRING + rb'),"headers":\{'
)
# Then, with no brace between: the end of the headers and of the request, the response's first
# key, its status, and the status's first key, its code (100-999, checked by _ANSWERED).
#
# When the line is valid JSON, what is taken is what json.loads reads there: a ``"`` after a
# ``,`` opens a string (within a string it follows a backslash), so ``,"response"`` is a key;
# the two braces before it are the first that close anything after the headers' start, as the
# headers hold none: they close the headers and the request.
_RESPONSE_CODE = b'}},"response":{"status":{"code":'
_ANSWERED = re.compile(rb"[1-9][0-9]{2}[,}]")
_REQUEST_AT = len(b'{"request":')


def _deferred_request(line: bytes) -> DeferredRequest | None:
    """The request of a line the writer wrote, its method, uri and body checked as
    :func:`_interaction_problem` checks them, when its status is 100-999; None for any other
    line (or a problem in those), which is checked whole at once.

    What is taken here is what ``json.loads`` reads whenever the whole line is checked good at
    its first play (the request holds no key twice then): see ``_RESPONSE_CODE``. This runs a
    million times for a captured day: one match, three finds, one dict lookup per origin.
    """
    m = _WRITERS_REQUEST.match(line)
    if m is None:
        return None
    start = m.end()
    at = line.find(_RESPONSE_CODE, start)
    if (
        at < 0
        or _ANSWERED.match(line, at + len(_RESPONSE_CODE)) is None
        or line.find(b"{", start, at) >= 0
        or line.find(b"}", start, at) >= 0
    ):
        return None
    method, uri, origin, body = m.group(1, 2, 3, 4)
    origin = _plain_origins.get(origin) or _plain_origin_ok(origin)
    if origin is None:
        return None
    if body == b"null":
        body = None
    else:
        try:
            body = json.loads(body)
        except ValueError:  # not UTF-8
            return None
    method = _METHODS.get(method) or method.decode("ascii")
    # tuple.__new__: a NamedTuple's own __new__ is a Python call, a tenth of this line's cost
    return _new_tuple(DeferredRequest, (method, origin, uri.decode("ascii"), body))


def _plain_origin_ok(origin: bytes) -> str | None:
    """The origin's text when :func:`_uri_problem` accepts it (remembered), None otherwise."""
    text = origin.decode("ascii")
    if not _origin_ok(text):
        return None
    if len(_plain_origins) < 1024:
        _plain_origins[origin] = text
    return text


_plain_origins: dict[bytes, str] = {}
_new_tuple = tuple.__new__
_METHODS = {m.encode(): m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")}


def line_request(line: bytes) -> dict[str, Any]:
    """The request of a line :func:`replay_items` deferred, whatever the rest of the line holds
    (what was read at start, when its headers are no JSON)."""
    m = _WRITERS_REQUEST.match(line)
    if m is None or _deferred_request(line) is None:
        raise ValueError("not a line replay_items deferred")
    end = line.find(_RESPONSE_CODE, m.end()) + 2
    try:
        request = json.loads(line[_REQUEST_AT:end])
    except (ValueError, RecursionError):
        request = None
    if not isinstance(request, dict):
        body = None if m[4] == b"null" else json.loads(m[4])
        request = {"method": m[1].decode(), "uri": m[2].decode(), "body": body}
    return request


def check_line(line: bytes, name: str, number: int) -> dict[str, Any]:
    """The interaction on a line :func:`replay_items` deferred, checked as every reader checks
    one; CassetteError naming the file and the interaction otherwise."""
    where = f"{name}: interaction {number}"
    with _one_line(where):
        item = _line_item(line)
        problem = _interaction_problem(item) if isinstance(item, dict) else ""
        if problem is None and _unique_line(line, item):
            return item
        try:  # a duplicate key comes first, as in the whole reader; then the shape
            item = json.loads(line, object_pairs_hook=_unique_keys)
        except RecursionError:
            raise CassetteError(f"{where}: nested too deeply; not a cassette") from None
        except ValueError as e:
            raise CassetteError(f"{where}: not valid JSON ({e})") from None
        problem = _interaction_problem(item)
        if problem is not None:
            raise CassetteError(f"{where}: {problem}")
        return item


def _line_item(line: bytes, unique: bool = False) -> Any:
    """What one line parses to, or None when it is not JSON or has a duplicate key.

    Parsed without a Python hook per object (several times faster); duplicate keys are caught
    afterwards by counting (:func:`_unique_line`). A line with a backslash-escaped backslash
    before a quote, where that count cannot be taken this simply, goes through the hook.
    """
    try:
        if unique or b'\\\\"' in line:
            return json.loads(line, object_pairs_hook=_unique_keys)
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _unique_line(line: bytes, item: dict[str, Any]) -> bool:
    """Whether every key in ``line``'s text made it into ``item``: each key in the text ends in
    an unescaped ``"\x3a`` (a quote inside a string is escaped), so a duplicate, which json.loads
    folds into one key, leaves the parsed tree with fewer keys than the text has."""
    if b'\\\\"' in line:
        return True  # parsed with the duplicate-refusing hook
    return _interaction_keys(item) == line.count(b'":') - line.count(b'\\":')


def _interaction_keys(item: dict[str, Any]) -> int:
    """How many object keys a checked interaction holds, at every depth.

    The shape check has made sure of the request's keys and that header values are flat, so
    most of the tree is counted with ``len``; only what it lets be anything is walked.
    """
    request, response = item["request"], item["response"]
    n = len(item) + len(request) + len(response)
    for headers in (request.get("headers"), response.get("headers")):
        if headers is not None:
            n += len(headers)
    body = request.get("body")
    if type(body) is dict:
        n += len(body)
    for key, value in response.items():
        if key != "headers" and type(value) in _NESTED:
            n += _count_keys(value)
    for key, value in item.items():
        if key != "request" and key != "response" and type(value) in _NESTED:
            n += _count_keys(value)
    return n


def _count_keys(value: Any) -> int:
    """How many object keys ``value`` holds, at every depth."""
    n = 0
    if type(value) is dict:
        n = len(value)
        value = value.values()
    elif type(value) is not list:
        return 0
    for v in value:
        if type(v) in _NESTED:
            n += _count_keys(v)
    return n


_NESTED = (dict, list)
