"""HTTP messages as chime-tap keeps them: header tables and content codings.

Every reader and writer (the recorder, replay, the cassette view, the report loader, the
validator) turns headers into one of the shapes here, so a header is looked up the same way
wherever it came from: a proxied flow, a vcrpy cassette, a HAR file.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


def authority(host: str, port: int) -> str:
    """``HOST:PORT`` as a URL or a log line writes it: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- header tables ----------------------------------------------------------------------------


def _pairs(raw: Any) -> Iterable[tuple[Any, Any]]:
    """(name, value) pairs of a header table in any of the shapes chime-tap reads.

    vcrpy's ``{name: [values]}`` (or ``{name: value}``), HAR's ``[{"name", "value"}]``, or a
    list of ``(name, value)`` pairs. A list value stands for several values.
    """
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            for v in value if isinstance(value, list | tuple) else (value,):
                yield name, v
    elif isinstance(raw, list | tuple):
        for h in raw:
            if isinstance(h, Mapping):
                if "name" in h:
                    yield h["name"], h.get("value", "")
            elif isinstance(h, list | tuple) and len(h) == 2:
                yield h[0], h[1]


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def header_lists(raw: Any) -> dict[str, list[str]]:
    """Any header table as lower-case name -> list of values, in order."""
    out: dict[str, list[str]] = {}
    for name, value in _pairs(raw):
        out.setdefault(_text(name).lower(), []).append(_text(value))
    return out


def first_values(raw: Any) -> dict[str, str]:
    """Any header table as lower-case name -> its first value."""
    out: dict[str, str] = {}
    if type(raw) is not dict:
        for name, value in _pairs(raw):
            out.setdefault(_text(name).lower(), _text(value))
        return out
    # vcrpy's {name: [values]}: a report reads two per interaction, so no generator and no call
    # per name or value for the usual list of str (the same result as the loop above).
    for name, value in raw.items():
        if type(value) is list or isinstance(value, list | tuple):
            if not value:
                continue
            value = value[0]
        out.setdefault(
            name.lower() if type(name) is str else _text(name).lower(),
            value if type(value) is str else _text(value),
        )
    return out


def header_value(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """The first value of header ``name`` (any case) in a table of values or lists of values."""
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if str(key).lower() == lowered:
            if isinstance(value, list | tuple):
                return value[0] if value else None
            return value
    return None


def text_headers(headers: Mapping[Any, Any] | None) -> dict[Any, Any]:
    """A header table with bytes names and values as UTF-8 text; names spelled as they came.

    botocore hands vcrpy some header values as bytes: as text they fit a JSON cassette too.
    Bytes that are not UTF-8 survive as surrogate escapes; other values are kept as they are.
    """

    def text(value: Any) -> Any:
        return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value

    return {text(k): text(v) for k, v in headers.items()} if headers else {}


def headers_dict(fields: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """Raw header fields as vcrpy headers: name -> list of values, the first spelling kept."""
    return _headers_and_coding(fields)[0]


def _headers_and_coding(fields: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, list[str]], bool]:
    """:func:`headers_dict`, and whether a Content-Encoding was among the fields (noted on the
    way: most bodies have none, and then that is all ``decode`` has to know)."""
    out: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    coded = False
    for raw_name, raw_value in fields:
        spelled = _SPELLINGS.get(raw_name) if type(raw_name) is bytes else None
        if spelled is None:
            spelled = _spelling(raw_name)
        name, key = spelled
        value = raw_value.decode("latin-1")
        if key in seen:
            out[seen[key]].append(value)
        else:
            seen[key] = name
            out[name] = [value]
            coded = coded or key == "content-encoding"
    return out, coded


# A header name as text and its lower-case key, by its bytes: the same few names come on every
# message (one look-up instead of a decode and a lower per header). Bounded: cleared when full.
_SPELLINGS: dict[bytes, tuple[str, str]] = {}


def _spelling(raw_name: bytes) -> tuple[str, str]:
    name = raw_name.decode("latin-1")
    spelled = (name, name.lower())
    if type(raw_name) is bytes and len(raw_name) <= 64:
        if len(_SPELLINGS) >= 1024:
            _SPELLINGS.clear()
        _SPELLINGS[raw_name] = spelled
    return spelled


# --- content codings --------------------------------------------------------------------------

# The HTTP content codings (RFC 9110 section 8.4.1, and the IANA registry's br and zstd).
# Anything else in Content-Encoding is kept as it came: a Python codec name is not a coding.
CONTENT_CODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")


class UndecodableBody(ValueError):
    """A body its Content-Encoding does not decode."""


class BodyTooLarge(UndecodableBody):
    """A body that decodes to more than the cap: a decompression bomb, or just too big to keep."""

    def __init__(self, coding: str, limit: int) -> None:
        super().__init__(f"{coding} decodes to more than {_size(limit)} (the decoding cap)")
        self.coding, self.limit = coding, limit


# What a coded body may decode to. A proxy-session answer is a few KB (a List of 100 sessions
# is about 100 KB), so 8 MiB keeps every real one with room to spare, while a bomb (1,617 bytes
# of brotli that would become 1 GiB) stops there: memory stays a few times this, in one flow.
DECODED_BODY_LIMIT = 8 * 1024 * 1024
# zstd's content coding (RFC 8878 section 3.1.1.1.2): a window above 8 MiB is not to be expected,
# and a frame that asks for more (up to 2 GiB) would make the decoder allocate it.
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024
# How much coded input goes in per step of a decoder that has no output limit (brotli 1.1's
# process(), zstd's decompressobj): each step's output is bounded by what that much input can
# describe. brotli: one byte ends at most one 16 MiB meta-block (a meta-block header is at
# least 19 bits), so 4 bytes make at most ~48 MiB; zstd: a 4-byte RLE block makes 128 KiB, so
# 256 bytes make at most 8 MiB.
_BROTLI_STEP = 4
_ZSTD_STEP = 256


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n:,} bytes"


class _Output:
    """Decoded bytes that may not grow past ``limit``; BodyTooLarge once they would."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding, self.limit = coding, limit
        self.parts: list[bytes] = []
        self.size = 0

    @property
    def room(self) -> int:
        """What may still come, plus one byte to tell "exactly the cap" from "more"."""
        return self.limit - self.size + 1

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge(self.coding, self.limit)
        self.parts.append(data)

    def value(self) -> bytes:
        return b"".join(self.parts)


def _zlib(data: bytes, wbits: int, out: _Output, *, members: bool) -> bytes:
    """zlib, raw deflate or gzip (``members``: one after another), never past the cap."""
    rest = data
    while True:
        d = zlib.decompressobj(wbits)
        pending = rest
        while not d.eof:
            # max_length bounds the output of each step; 0 would mean "no limit", never reached
            # here since out.room is at least 1.
            chunk = d.decompress(pending, out.room)
            out.add(chunk)
            if not chunk and not pending:
                raise UndecodableBody(f"truncated {out.coding} body")
            pending = d.unconsumed_tail
        rest = d.unused_data
        if not members or not rest:
            return out.value()


def _gzip(data: bytes, out: _Output) -> bytes:
    return _zlib(data, 16 + zlib.MAX_WBITS, out, members=True)


def _deflate(data: bytes, out: _Output) -> bytes:
    # Servers send zlib-wrapped data, as the RFC says, or raw deflate, as some do.
    try:
        return _zlib(data, zlib.MAX_WBITS, out, members=False)
    except zlib.error:
        out.parts.clear()
        out.size = 0
        return _zlib(data, -zlib.MAX_WBITS, out, members=False)


def _brotli(data: bytes, out: _Output) -> bytes:
    import brotli

    # Brotli 1.1 (which mitmproxy 11 requires) has no output limit: a few bytes per step.
    d = brotli.Decompressor()
    view = memoryview(data)
    for at in range(0, len(data), _BROTLI_STEP):
        out.add(d.process(view[at : at + _BROTLI_STEP]))
    if not d.is_finished():
        raise UndecodableBody(f"truncated {out.coding} body")
    return out.value()


def _zstd(data: bytes, out: _Output) -> bytes:
    import zstandard

    decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
    rest = data
    while rest:  # frames, one after another
        d = decompressor.decompressobj()
        view = memoryview(rest)
        at = 0
        while not d.eof and at < len(rest):
            out.add(d.decompress(view[at : at + _ZSTD_STEP]))
            at += _ZSTD_STEP
        if not d.eof:
            raise UndecodableBody(f"truncated {out.coding} body")
        rest = d.unused_data + rest[at:] if at < len(rest) else d.unused_data
    return out.value()


_DECODERS = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
    "identity": lambda data, out: data,
}


def decode_content(data: bytes, coding: str, limit: int = DECODED_BODY_LIMIT) -> bytes:
    """``data`` without its content coding, at most ``limit`` bytes of it.

    UndecodableBody if ``coding`` is no HTTP content coding (a Python codec name such as
    rot13 or base64 is none) or the data does not decode; BodyTooLarge past ``limit``.
    """
    name = coding.strip().lower()
    decoder = _DECODERS.get(name)
    if decoder is None:
        raise UndecodableBody(f"{coding!r} is not an HTTP content coding")
    if not data:
        return b""
    try:
        return decoder(data, _Output(name, limit))
    except UndecodableBody:
        raise
    except Exception as e:  # zlib.error, brotli.error, zstandard.ZstdError, ...
        raise UndecodableBody(f"{coding}: {e}") from None


class Decoded(NamedTuple):
    """A message's body as kept, its headers to match, and why it was kept as it came (if so)."""

    body: bytes | None
    headers: dict[str, list[str]]
    # None when the body was decoded (or had no Content-Encoding); else one line for the
    # cassette's metadata: the body is kept as received, with its Content-Encoding.
    note: str | None = None


def decode(
    raw: bytes | None, headers: dict[str, list[str]], limit: int = DECODED_BODY_LIMIT
) -> Decoded:
    """The body without its Content-Encoding, and headers to match; a note when it was kept coded.

    A body that does not decode, whose Content-Encoding is no HTTP content coding (or a list
    of codings), or that decodes to more than ``limit`` bytes is kept as it came, with its
    Content-Encoding header, so the cassette still says what it is; the note says why.
    """
    if not raw:
        return Decoded(raw, headers)
    name = next((k for k in headers if k.lower() == "content-encoding"), None)
    if name is None:
        return Decoded(raw, headers)
    try:
        body = decode_content(raw, headers[name][0], limit)
    except UndecodableBody as e:
        return Decoded(raw, headers, f"body kept as received ({len(raw):,} bytes): {e}")
    out = {}
    for k, v in headers.items():
        lowered = k.lower()
        if lowered == "content-encoding":
            continue
        out[k] = [str(len(body))] if lowered == "content-length" else v
    return Decoded(body, out)


def decode_body(
    raw: bytes | None, headers: dict[str, list[str]], limit: int = DECODED_BODY_LIMIT
) -> tuple[bytes | None, dict[str, list[str]]]:
    """``decode`` without the note: the body and its headers."""
    body, out, _ = decode(raw, headers, limit)
    return body, out


def decode_fields(
    fields: Iterable[tuple[bytes, bytes]], raw: bytes | None, limit: int = DECODED_BODY_LIMIT
) -> Decoded:
    """``decode`` from a message's raw header fields: body, vcrpy headers, note."""
    headers, coded = _headers_and_coding(fields)
    if not raw or not coded:
        return Decoded(raw, headers)
    return decode(raw, headers, limit)


def decode_message(
    fields: Iterable[tuple[bytes, bytes]], raw: bytes | None, limit: int = DECODED_BODY_LIMIT
) -> tuple[bytes | None, dict[str, list[str]]]:
    """A message's body without its Content-Encoding, and its headers as vcrpy keeps them."""
    body, headers, _ = decode_fields(fields, raw, limit)
    return body, headers
