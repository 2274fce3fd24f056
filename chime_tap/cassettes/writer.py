"""Writing cassettes one interaction at a time, keeping the file loadable after every append.

Each interaction goes to disk in a single ``pwrite`` that also rewrites the closing bytes
(``]}`` for JSON; nothing for YAML, whose list is the last key). A process killed between two
appends leaves the file as it was after the last one. Everything is scrubbed on the way in.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from chime_tap.cassettes.format import YAML_HEADER, format_for
from chime_tap.cassettes.reader import parse_cassette
from chime_tap.cassettes.scrub import scrub_interaction
from chime_tap.cassettes.yaml_block import dump_item
from chime_tap.errors import CassetteError


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
