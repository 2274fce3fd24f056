"""Files replaced whole: written beside the target, flushed to disk, renamed over it.

A reader sees the old file or the new one, never a part; a crash leaves at most a hidden
temporary file (``.<name>.<pid>.tmp``) next to the target.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FILE_MODE", "replace_atomically", "write_temporary"]

# What cassettes hold (requests, answers, maybe phone numbers) is nobody else's business.
FILE_MODE = 0o600


def write_temporary(target: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new file next to ``target``, created with ``mode`` (not the umask's 0644)
    and fsynced; its path. Nothing is left behind if writing fails."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def replace_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` (mode ``mode``) in one rename, the rename itself synced."""
    os.replace(write_temporary(path, data, mode), path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
