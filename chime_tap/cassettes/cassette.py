"""vcrpy cassettes: loading them safely, and writing them one interaction at a time.

The writer keeps the file a loadable vcrpy cassette after every append: each interaction goes
to disk in a single ``pwrite`` that also rewrites the closing bytes (``]}`` for JSON; nothing
for YAML, whose list is the last key). A process killed between two appends leaves the file
as it was after the last one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chime_tap.cassettes import yaml_depth
from chime_tap.cassettes.scrub import scrub_interaction
from chime_tap.cassettes.yaml_block import dump_item
from chime_tap.errors import CassetteError

try:  # libyaml when available: several times faster
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

FORMAT_VERSION = 1
META_KEY = "chime_tap"  # per-interaction metadata; vcrpy ignores unknown interaction keys
YAML_HEADER = b"# vcrpy cassette written by chime-tap, one interaction at a time\nversion: 1\n"


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


def format_for(path: str | os.PathLike[str]) -> str:
    """``json`` for ``*.json``, ``yaml`` otherwise (vcrpy's default serializer)."""
    return "json" if str(path).lower().endswith(".json") else "yaml"


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
        f"{name}: nested too deeply (more than about {yaml_depth.MAX_DEPTH} levels); not a cassette"
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
        return yaml_depth.load(data, CassetteLoader)
    except yaml_depth.TooDeep:
        raise _too_deep(name) from None
    except yaml.constructor.ConstructorError as e:
        tag = getattr(e, "problem", "") or "an unsupported tag"
        raise CassetteError(
            f"{name}: refused YAML ({tag}); cassettes are read with a safe loader"
        ) from e
    except yaml.YAMLError as e:
        if "nesting depth" in str(getattr(e, "problem", "")):  # libyaml's own cap (PyYAML 6.0.3+)
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


def load_cassette(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a vcrpy cassette (YAML or JSON) from disk; CassetteError on any problem."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CassetteError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CassetteError(f"{path}: is a directory, not a cassette") from None
    except OSError as e:
        raise CassetteError(f"{path}: cannot read ({e.strerror})") from None
    return parse_cassette(data, str(path))


# --- a read view of one interaction -----------------------------------------------------------


def _as_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, dict) and "string" in value:  # some writers nest the request body too
        return _as_bytes(value["string"])
    return str(value).encode("utf-8")


def _headers(raw: Any) -> dict[str, list[str]]:
    """vcrpy headers (name -> list, or name -> value) as lower-case name -> list of str."""
    out: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return out
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        out.setdefault(str(name).lower(), []).extend(str(v) for v in values)
    return out


@dataclass
class Interaction:
    """One recorded exchange, as bytes and lower-case header lists, whatever wrote it."""

    index: int
    method: str
    uri: str
    request_headers: dict[str, list[str]]
    request_body: bytes | None
    status: int
    reason: str
    response_headers: dict[str, list[str]]
    response_body: bytes | None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, item: dict[str, Any], index: int = 0) -> Interaction:
        req, resp = item["request"], item["response"]
        status = resp.get("status") or {}
        body = resp.get("body")
        meta = item.get(META_KEY)
        return cls(
            index=index,
            method=str(req.get("method", "")).upper(),
            uri=str(req.get("uri", "")),
            request_headers=_headers(req.get("headers")),
            request_body=_as_bytes(req.get("body")),
            status=int(status.get("code", 0)),
            reason=str(status.get("message") or ""),
            response_headers=_headers(resp.get("headers")),
            response_body=_as_bytes(body.get("string") if isinstance(body, dict) else body),
            meta=meta if isinstance(meta, dict) else {},
        )

    def header(self, name: str, *, response: bool = True) -> str | None:
        values = (self.response_headers if response else self.request_headers).get(name.lower())
        return values[0] if values else None


def iter_interactions(doc: dict[str, Any]) -> Iterator[Interaction]:
    for i, item in enumerate(doc["interactions"]):
        yield Interaction.from_dict(item, i)


# --- building and writing ---------------------------------------------------------------------


def _text(body: bytes | str | None, fmt: str) -> str | bytes | None:
    """A body as vcrpy stores it: text when it is UTF-8; bytes (YAML !!binary) otherwise."""
    if body is None or isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        # JSON cannot hold bytes; keep what can be kept and say so in the metadata.
        return body.decode("utf-8", "replace") if fmt == "json" else body


def make_interaction(
    *,
    method: str,
    uri: str,
    request_headers: dict[str, list[str]],
    request_body: bytes | str | None,
    status: int,
    reason: str,
    response_headers: dict[str, list[str]],
    response_body: bytes | str | None,
    meta: dict[str, Any] | None = None,
    fmt: str = "yaml",
) -> dict[str, Any]:
    """A vcrpy interaction dict (not yet scrubbed: the writer scrubs)."""
    item: dict[str, Any] = {
        "request": {
            "method": method.upper(),
            "uri": uri,
            "body": _text(request_body, fmt) if request_body else None,
            "headers": request_headers,
        },
        "response": {
            "status": {"code": int(status), "message": reason},
            "headers": response_headers,
            "body": {"string": _text(response_body, fmt) if response_body is not None else ""},
        },
    }
    if meta is not None:
        item[META_KEY] = meta
    return item


def _dump_json_item(item: dict[str, Any]) -> bytes:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class CassetteWriter:
    """Appends interactions to a cassette file, keeping it loadable after every append.

    An existing cassette is loaded first (a broken one is refused, never overwritten) and, if
    another tool wrote it, rewritten once atomically into the append-friendly layout. An
    exclusive lock on the file keeps a second writer out.
    """

    def __init__(self, path: str | os.PathLike[str], *, redact_phones: bool = False) -> None:
        self.path = Path(path)
        self.fmt = format_for(self.path)
        self.redact_phones = redact_phones
        self.count = 0
        self._fd: int | None = None
        self._tail = b""  # closing bytes the next append overwrites
        self._open()

    # The layout on disk. JSON: {"version":1,"interactions":[\n<item>,\n<item>\n]}\n
    # YAML: header, "interactions:\n", then "- request: ..." items to the end of the file.
    def _layout(self, items: list[dict[str, Any]]) -> tuple[bytes, bytes]:
        if self.fmt == "json":
            body = b",\n".join(_dump_json_item(i) for i in items)
            tail = b"\n]}\n" if items else b"]}\n"
            return b'{"version":1,"interactions":[\n' + body + tail, tail
        if not items:
            return YAML_HEADER + b"interactions: []\n", b"interactions: []\n"
        return YAML_HEADER + b"interactions:\n" + b"".join(dump_item(i) for i in items), b""

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    raise CassetteError(
                        f"{self.path}: another chime-tap recorder is writing this cassette"
                    ) from None
                raise
            # The file may have been replaced between open and lock; lock the one on disk.
            if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                break
            os.close(fd)
        else:  # pragma: no cover - only under a storm of renames
            raise CassetteError(f"{self.path}: could not lock the cassette")
        self._fd = fd
        data = self._read_all()
        items: list[dict[str, Any]] = []
        if data.strip():
            doc = parse_cassette(data, str(self.path))
            items = doc["interactions"]
        content, tail = self._layout(items)
        if data != content and not self._is_our_layout(data):
            self._replace(content)
        elif not data.strip():
            os.pwrite(self._fd, content, 0)
        self._tail = tail
        self.count = len(items)

    def _is_our_layout(self, data: bytes) -> bool:
        if self.fmt == "json":
            return data.startswith(b'{"version":1,"interactions":[\n') and data.endswith(b"]}\n")
        return (
            data.startswith(YAML_HEADER + b"interactions:\n")
            or data == YAML_HEADER + b"interactions: []\n"
        )

    def _read_all(self) -> bytes:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        return os.pread(self._fd, size, 0) if size else b""

    def _replace(self, content: bytes) -> None:
        """Write ``content`` to a temporary file and rename it over the cassette, keeping the lock."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        new_fd = os.open(tmp, os.O_RDWR)
        fcntl.flock(new_fd, fcntl.LOCK_EX)
        os.replace(tmp, self.path)
        assert self._fd is not None
        os.close(self._fd)
        self._fd = new_fd

    def append(self, interaction: dict[str, Any]) -> None:
        """Scrub and append one interaction; on return it is in the file."""
        if self._fd is None:
            raise CassetteError(f"{self.path}: cassette is closed")
        item = scrub_interaction(interaction, redact_phones=self.redact_phones)
        if self.fmt == "json":
            data = (b",\n" if self.count else b"") + _dump_json_item(item) + b"\n]}\n"
            new_tail = b"\n]}\n"
        else:
            lead = b"interactions:\n" if not self.count else b""
            data = lead + dump_item(item)
            new_tail = b""
        end = os.fstat(self._fd).st_size
        offset = end - len(self._tail)
        written = os.pwrite(self._fd, data, offset)
        if written != len(data):  # disk full: put the old ending back so the file still loads
            os.pwrite(self._fd, self._tail, offset)
            os.ftruncate(self._fd, offset + len(self._tail))
            raise CassetteError(
                f"{self.path}: short write ({written} of {len(data)} bytes); interaction not recorded"
            )
        if len(data) < len(self._tail):  # pragma: no cover - data always outgrows the tail
            os.ftruncate(self._fd, offset + len(data))
        self._tail = new_tail
        self.count += 1

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
