"""The cassette format: vcrpy's, plus chime-tap's per-interaction metadata.

``{"version": 1, "interactions": [{"request": {...}, "response": {...}, "chime_tap": {...}}]}``.
vcrpy ignores the ``chime_tap`` key (and drops it when vcrpy itself re-saves a cassette). What
is defined here: the constants of the format, the dict of one interaction
(:func:`make_interaction`), the read view every reader uses (:class:`Interaction`), and what a
call that got no response looks like (:func:`is_unanswered`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chime_tap.wire import header_lists

FORMAT_VERSION = 1
META_KEY = "chime_tap"  # per-interaction metadata; vcrpy ignores unknown interaction keys
# The start of a YAML cassette in the writer's append layout. LAYOUT_KEY says that every
# interaction ends with END_LINE, the last line the writer puts down for it: an interaction
# without it was cut off mid-write (a kill during a large write), and no reader takes it for a
# whole one. vcrpy ignores the extra keys, as it ignores META_KEY.
LAYOUT_KEY = "chime_tap_end_marks"
YAML_HEADER = (
    b"# vcrpy cassette written by chime-tap, one interaction at a time\n"
    b"version: 1\n"
    b"chime_tap_end_marks: true\n"
)
# The header of the layout before end marks: still read, rewritten once by the next writer.
OLD_YAML_HEADER = b"# vcrpy cassette written by chime-tap, one interaction at a time\nversion: 1\n"
END_KEY = "chime_tap_end"
# The start of a JSON cassette in the writer's append layout: then one interaction per line, each
# but the last followed by a comma, then ``]}``.
JSON_HEAD = b'{"version":1,"interactions":[\n'
END_LINE = b"  chime_tap_end: true\n"
# What follows the head (JSON_HEAD, YAML_HEADER) in a cassette of the writer's layout with no
# interaction yet; the first append overwrites it.
EMPTY_TAIL = {"json": b"]}\n", "yaml": b"interactions: []\n"}
# The status the recorder writes for a call that got no response at all (connection refused,
# reset, timeout), with ``chime_tap.answered_by: none``. No HTTP response has it.
NO_RESPONSE_STATUS = 0


def format_for(path: str | os.PathLike[str]) -> str:
    """``json`` for ``*.json``, ``yaml`` otherwise (vcrpy's default serializer)."""
    return "json" if str(path).lower().endswith(".json") else "yaml"


def is_unanswered(response: Mapping[str, Any]) -> bool:
    """True for a recorded response that is no response: a failed call, which replay never serves.

    The status code decides, not the ``chime_tap`` metadata beside it: vcrpy drops that
    metadata when it re-saves a cassette, and never hands it to a persister's caller.
    """
    status = response.get("status")
    code = status.get("code") if isinstance(status, Mapping) else status
    return code == NO_RESPONSE_STATUS


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
            request_headers=header_lists(req.get("headers")),
            request_body=_as_bytes(req.get("body")),
            status=int(status.get("code", 0)),
            reason=str(status.get("message") or ""),
            response_headers=header_lists(resp.get("headers")),
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
