"""The simulator's own control endpoint, reached through the proxy from any HTTP client.

``GET /clock``, ``POST /clock/advance?seconds=N``, ``POST /reset`` on :data:`CONTROL_HOST`.

Only whoever started the proxy may use it: every call must carry the token the proxy made at
start, as ``Authorization: Bearer TOKEN`` (which the recorder scrubs like any credential). The
token is printed at start and kept in a file only its user can read (:func:`token_file`, one
per proxy port, as Jupyter keeps its server tokens), so that user's own tools find it from the
proxy's URL alone (:func:`read_token`); a client of another user, or of another machine when the
proxy listens beyond loopback, gets 403.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chime_tap.simulator.store import SessionStore, SimClock, format_timestamp

# The simulator's own control endpoint. ``.invalid`` never resolves (RFC 2606), so a request
# to it can only ever be answered by the simulator.
CONTROL_HOST = "sim.chime-tap.invalid"
USAGE = "control endpoints: GET /clock, POST /clock/advance?seconds=N, POST /reset"


def new_token() -> str:
    """A fresh control token: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def authorization(token: str) -> str:
    """The ``Authorization`` header value a control call carries."""
    return f"Bearer {token}"


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (compared in constant time)."""
    if not header or not token:
        return False
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def control(
    clock: SimClock,
    store: SessionStore,
    method: str,
    path: str,
    query: dict[str, str],
    *,
    allowed: bool = True,
) -> tuple[int, dict[str, Any]]:
    """The control endpoint: ``GET /clock``, ``POST /clock/advance?seconds=N``, ``POST /reset``.

    ``allowed``: whether the call carried the token (:func:`authorized`); if not, 403 and
    nothing changes. A ``seconds`` that is not a finite number of seconds, or would move the
    clock backwards or more than a century ahead, is refused with 400 (the clock unchanged).
    """
    if not allowed:
        return 403, {
            "message": "the simulator's control endpoint needs the token its proxy printed at "
            "start, sent as 'Authorization: Bearer TOKEN'"
        }
    path = path.split("?", 1)[0].rstrip("/")
    if path == "/clock/advance" and method == "POST":
        try:
            clock.advance(query.get("seconds", ""))  # type: ignore[arg-type]  # checked there
        except (TypeError, ValueError) as e:
            return 400, {"message": f"seconds: {e}"}
    elif path == "/reset" and method == "POST":
        store.reset()
    elif path != "/clock" or method != "GET":
        return 404, {"message": USAGE}
    now = clock.now()
    return 200, {
        "Now": format_timestamp(now),
        "ClockOffsetSeconds": clock.offset,
        "Sessions": len(store),
    }


# --- where the token is kept for the proxy's user -----------------------------------------------


def token_dir() -> Path:
    """This user's directory for control tokens: ``$XDG_RUNTIME_DIR/chime-tap``, else
    ``<temp dir>/chime-tap-<uid>``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "chime-tap"
    return Path(tempfile.gettempdir()) / f"chime-tap-{os.getuid()}"


def token_file(port: int) -> Path:
    return token_dir() / f"control-{port}.token"


def _private_dir(path: Path) -> None:
    """Create ``path`` (0700), or check that it is this user's and nobody else's; OSError if not."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private directory of this user")


def write_token(port: int, token: str) -> Path:
    """Keep ``token`` for the proxy on ``port`` where only this user can read it; its path.

    OSError when that cannot be done safely (the directory belongs to someone else, or others
    may read it): the printed token still works.
    """
    directory = token_dir()
    _private_dir(directory)
    path = token_file(port)
    tmp = directory / f".{path.name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, token.encode("ascii"))
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def forget_token(port: int, token: str) -> None:
    """Remove the token file of ``port``, if it still holds ``token`` (not a later proxy's)."""
    path = token_file(port)
    with contextlib.suppress(OSError):
        if path.read_text(encoding="ascii") == token:
            path.unlink()


def read_token(proxy_url: str) -> str | None:
    """The control token of the proxy at ``proxy_url``, as its user's token file holds it;
    None when there is none this user may read."""
    port = urlsplit(proxy_url).port
    if port is None:
        return None
    path = token_file(port)
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return None
        return path.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None
