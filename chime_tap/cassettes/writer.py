"""Writing cassettes one interaction at a time, keeping the file loadable after every append.

Each interaction goes to disk in a single ``pwrite`` that also rewrites the closing bytes
(``]}`` for JSON; nothing for YAML, whose list is the last key). A process killed between two
appends leaves the file as it was after the last one; one killed during a large write leaves a
torn last interaction, which no reader takes for a whole one (JSON: it does not parse; YAML: it
lacks its end mark, ``format.END_LINE``) and which the next writer moves aside (the rule, which
the readers share to say so, is in ``torn.py``). A path replaced
by another program (an editor, ``git checkout``, vcrpy re-saving) is noticed after each write:
the write is taken back from the file the path no longer names, and the writer moves to the new
file. Everything is scrubbed on the way in.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chime_tap.cassettes import json_block, yaml_block
from chime_tap.cassettes.atomic import FILE_MODE, write_temporary
from chime_tap.cassettes.format import EMPTY_TAIL, END_LINE, JSON_HEAD, YAML_HEADER, format_for
from chime_tap.cassettes.reader import (
    find_torn_tail,
    parse_cassette,
    read_input,
    refuse_binary,
    refuse_special_file,
)
from chime_tap.cassettes.scrub import scrub_interaction
from chime_tap.cassettes.torn import is_writers_layout
from chime_tap.errors import CassetteError

_JSON_HEAD = JSON_HEAD

# One line per interaction: JSON strings hold no raw newline.
_dump_json_item = json_block.dump_item


def _dump_yaml_item(item: dict[str, Any]) -> bytes:
    return yaml_block.dump_item(item) + END_LINE


def check_recordable(path: str | os.PathLike[str]) -> None:
    """Refuse, with the one-line CassetteError a writer would raise on opening it, a cassette
    that cannot be recorded into: unreadable, not a cassette, or broken. One whose only fault is
    a torn last interaction of our layout passes: the writer moves that tail aside."""
    p = Path(path).expanduser()
    if not p.exists() or not p.stat().st_size:
        return
    data = read_input(p, head=lambda h: refuse_binary(h, str(path)))
    if not data.strip():
        return
    try:
        parse_cassette(data, str(path))
    except CassetteError:
        fmt = format_for(p)
        if not is_writers_layout(fmt, data):
            raise
        find_torn_tail(fmt, data, str(path))


# The layout on disk. JSON: {"version":1,"interactions":[\n<item>,\n<item>\n]}\n
# YAML: header, "interactions:\n", then "- request: ..." items, each ending with END_LINE.
def _layout(fmt: str, items: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """A cassette of ``items`` in the writer's layout, and the closing bytes the next append
    overwrites."""
    if fmt == "json":
        body = b",\n".join(_dump_json_item(i) for i in items)
        tail = b"\n]}\n" if items else EMPTY_TAIL["json"]
        return _JSON_HEAD + body + tail, tail
    if not items:
        return YAML_HEADER + EMPTY_TAIL["yaml"], EMPTY_TAIL["yaml"]
    return YAML_HEADER + b"interactions:\n" + b"".join(map(_dump_yaml_item, items)), b""


class CassetteWriter:
    """Appends interactions to a cassette file, keeping it loadable after every append.

    An existing cassette is loaded first (a broken one is refused, never overwritten; a torn
    last interaction of our own layout is moved aside to ``<name>.torn``) and, if another tool
    wrote it, rewritten once atomically into the append-friendly layout. An exclusive lock on
    the file keeps a second writer out. What the writer had to do on its own (a torn tail moved
    aside, a replaced file reopened) is one line each in ``notices`` and, if given, passed to
    ``on_notice`` as it happens (the recorder logs it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        redact_phones: bool = False,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._os_path = os.fspath(self.path)  # stat'ed twice per append: no Path.__fspath__ calls
        self.fmt = format_for(self.path)
        self.redact_phones = redact_phones
        self.on_notice = on_notice
        self.notices: list[str] = []
        self.count = 0
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file _fd is
        self._tail = b""  # closing bytes the next append overwrites
        self._open()

    def _notice(self, line: str) -> None:
        self.notices.append(line)
        if self.on_notice is not None:
            self.on_notice(line)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A FIFO, a device, a socket: refused, never opened (a FIFO would block) nor replaced.
        refuse_special_file(self.path, CassetteError)
        for _ in range(5):
            fd = os.open(
                self.path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, FILE_MODE
            )
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
            if self._same_file(fd):
                break
            os.close(fd)
        else:  # pragma: no cover - only under a storm of renames
            raise CassetteError(f"{self.path}: could not lock the cassette")
        self._fd, self._identity = fd, None
        data = self._read_all()
        try:
            items = parse_cassette(data, str(self.path))["interactions"] if data.strip() else []
        except CassetteError:
            if not is_writers_layout(self.fmt, data):
                raise  # somebody else's broken file: refused, left alone
            data = self._cut_torn_tail(data)
            items = parse_cassette(data, str(self.path))["interactions"] if data.strip() else []
        content, tail = _layout(self.fmt, items)
        if data != content and not is_writers_layout(self.fmt, data):
            self._replace(content)
        elif not data.strip():
            os.pwrite(self._fd, content, 0)
        else:
            self._end_with(data, tail, bool(items))
        self._tail = tail
        self.count = len(items)

    def _end_with(self, data: bytes, tail: bytes, items: bool) -> None:
        """Make a file of our layout end exactly as the next append expects (``tail``).

        A kill can leave a whole last interaction without the bytes after it (YAML: the final
        newline of its end mark; JSON: ``\\n]}\\n``, partly): the next append would land on its
        line, or overwrite its last byte.
        """
        assert self._fd is not None
        if data.endswith(tail) and (self.fmt == "json" or data.endswith(b"\n")):
            return
        if self.fmt == "yaml":
            keep, end = len(data), b"\n"
        else:
            body = data.rstrip(b" \t\r\n")
            body = body[:-2] if body.endswith(b"]}") else body
            keep = len(body.rstrip(b"\n")) if items else len(_JSON_HEAD)
            end = tail
        os.pwrite(self._fd, end, keep)
        os.ftruncate(self._fd, keep + len(end))

    def _same_file(self, fd: int) -> bool:
        """Whether ``fd`` is still the file at ``self.path`` (not renamed over, not deleted)."""
        try:
            on_disk = os.stat(self._os_path)
        except FileNotFoundError:
            return False
        if fd != self._fd or self._identity is None:
            mine = os.fstat(fd)
            identity = (mine.st_dev, mine.st_ino)
            if fd != self._fd:
                return (on_disk.st_dev, on_disk.st_ino) == identity
            self._identity = identity  # an open descriptor's file never changes: asked once
        return (on_disk.st_dev, on_disk.st_ino) == self._identity

    def _read_all(self) -> bytes:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        return os.pread(self._fd, size, 0) if size else b""

    # --- a torn tail --------------------------------------------------------------------------

    def _cut_torn_tail(self, data: bytes) -> bytes:
        """Move a torn last interaction to ``<name>.torn`` and cut the file after the last whole one."""
        assert self._fd is not None
        cut, kept, whole = find_torn_tail(self.fmt, data, str(self.path))
        aside = self._aside(".torn", data[cut:])
        os.pwrite(self._fd, kept, 0)
        os.ftruncate(self._fd, len(kept))
        os.fsync(self._fd)
        self._notice(
            f"{self.path}: the last interaction was torn (cut off mid-write, {len(data) - cut:,} "
            f"bytes): moved to {aside}; {whole} whole interaction(s) kept"
        )
        return kept

    def _aside(self, suffix: str, data: bytes) -> Path:
        """``data`` in a new file next to the cassette (``name.torn``, ``name.1.torn``, ...)."""
        for n in range(1000):
            aside = self.path.with_name(
                f"{self.path.name}{suffix}" if n == 0 else f"{self.path.name}.{n}{suffix}"
            )
            try:
                fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            except FileExistsError:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            return aside
        raise CassetteError(f"{self.path}: no free name for a {suffix} file next to it")

    def _replace(self, content: bytes) -> None:
        """Write ``content`` to a temporary file and rename it over the cassette, keeping the lock.

        The temporary file is created with FILE_MODE: through ``open(tmp, "wb")`` it was
        0666 less the umask (0644), and the rename made that the cassette's mode. A symlinked
        cassette is written through to its target: the link stays a link.
        """
        target = Path(os.path.realpath(self.path))
        tmp = write_temporary(target, content, FILE_MODE)
        new_fd = os.open(tmp, os.O_RDWR | os.O_CLOEXEC)
        fcntl.flock(new_fd, fcntl.LOCK_EX)
        os.replace(tmp, target)
        assert self._fd is not None
        os.close(self._fd)
        self._fd, self._identity = new_fd, None

    # --- appending ----------------------------------------------------------------------------

    def _follow_replacement(self) -> None:
        """The path now names another file (renamed over, or deleted): move to it, keep ours aside.

        What this writer had written is saved next to the cassette first (``name.replaced``):
        the program that replaced the file may or may not have kept it.
        """
        assert self._fd is not None
        before = self.count
        aside = self._aside(".replaced", self._read_all())
        os.close(self._fd)
        self._fd = None
        self._open()
        self._notice(
            f"{self.path}: replaced by another program while recording; the file as this "
            f"recorder had it ({before} interaction(s)) is kept as {aside}; appending to the "
            f"new file ({self.count} interaction(s))"
        )

    def append(self, interaction: dict[str, Any]) -> None:
        """Scrub and append one interaction; on return it is in the file at ``self.path``."""
        if self._fd is None:
            raise CassetteError(f"{self.path}: cassette is closed")
        if self.redact_phones:  # a scrubbed copy first: phones are found across its parts
            item = scrub_interaction(interaction, redact_phones=True)
            line = _dump_json_item(item) if self.fmt == "json" else _dump_yaml_item(item)
        elif self.fmt == "json":  # scrubbed as it is written: one walk of the interaction, not two
            line = json_block.dump_scrubbed_item(interaction)
        else:
            line = yaml_block.dump_scrubbed_item(interaction) + END_LINE
        body, new_tail = (line + b"\n]}\n", b"\n]}\n") if self.fmt == "json" else (line, b"")
        # The path is looked up once per append, after the write (a stat costs some 7,000
        # instructions): a file renamed over it or deleted since the last append, or while
        # this one was written, has the write taken back, and the interaction goes to the file
        # the path names now.
        for _ in range(3):
            tail = self._tail
            offset = self._write(body, new_tail)
            if self._same_file(self._fd):
                return
            self._take_back(offset, tail)
            self._follow_replacement()
        raise CassetteError(f"{self.path}: replaced again and again while recording; stopped")

    def _write(self, body: bytes, new_tail: bytes) -> int:
        """Append ``body`` over the current ending; where it was written."""
        assert self._fd is not None
        if self.fmt == "json":
            data = (b",\n" if self.count else b"") + body
        else:
            data = (b"interactions:\n" if not self.count else b"") + body
        end = os.lseek(
            self._fd, 0, os.SEEK_END
        )  # the size, as fstat gives it, without a stat_result
        offset = end - len(self._tail)
        written = os.pwrite(self._fd, data, offset)
        if written != len(data):  # disk full: put the old ending back so the file still loads
            self._end_at(offset, self._tail)
            raise CassetteError(
                f"{self.path}: short write ({written} of {len(data)} bytes); interaction not recorded"
            )
        if len(data) < len(self._tail):  # pragma: no cover - data always outgrows the tail
            os.ftruncate(self._fd, offset + len(data))
        self._tail = new_tail
        self.count += 1
        return offset

    def _take_back(self, offset: int, tail: bytes) -> None:
        """Undo the last :meth:`_write` (at ``offset``, over the ending ``tail``)."""
        self._end_at(offset, tail)
        self._tail = tail
        self.count -= 1

    def _end_at(self, offset: int, tail: bytes) -> None:
        """Make the file end with ``tail`` at ``offset``, as it did before a write there."""
        assert self._fd is not None
        os.pwrite(self._fd, tail, offset)
        os.ftruncate(self._fd, offset + len(tail))

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
