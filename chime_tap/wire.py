"""HTTP messages as chime-tap keeps them: header tables and content codings.

Every reader and writer (the recorder, replay, the cassette view, the report loader, the
validator) turns headers into one of the shapes here, so a header is looked up the same way
wherever it came from: a proxied flow, a vcrpy cassette, a HAR file.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

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
    out: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for raw_name, raw_value in fields:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        key = name.lower()
        if key in seen:
            out[seen[key]].append(value)
        else:
            seen[key] = name
            out[name] = [value]
    return out


def decode_message(
    fields: Iterable[tuple[bytes, bytes]], raw: bytes | None
) -> tuple[bytes | None, dict[str, list[str]]]:
    """A message's body without its Content-Encoding, and its headers as vcrpy keeps them."""
    return decode_body(raw, headers_dict(fields))


# --- content codings --------------------------------------------------------------------------

# The HTTP content codings (RFC 9110 section 8.4.1, and the IANA registry's br and zstd).
# Anything else in Content-Encoding is kept as it came: a Python codec name is not a coding.
CONTENT_CODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")


class UndecodableBody(ValueError):
    """A body its Content-Encoding does not decode."""


def _gzip(data: bytes) -> bytes:
    out, rest = [], data
    while rest:  # a gzip body may hold several members, one after another
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(rest))
        if not d.eof:
            raise UndecodableBody("truncated gzip body")
        rest = d.unused_data
    return b"".join(out)


def _deflate(data: bytes) -> bytes:
    # Servers send zlib-wrapped data, as the RFC says, or raw deflate, as some do.
    try:
        return zlib.decompress(data)
    except zlib.error:
        return zlib.decompress(data, -zlib.MAX_WBITS)


def _brotli(data: bytes) -> bytes:
    import brotli

    return brotli.decompress(data)


def _zstd(data: bytes) -> bytes:
    import io

    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.read()


_DECODERS = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
    "identity": lambda data: data,
}


def decode_content(data: bytes, coding: str) -> bytes:
    """``data`` without its content coding; UndecodableBody if it is no HTTP coding or does not decode."""
    decoder = _DECODERS.get(coding.strip().lower())
    if decoder is None:
        raise UndecodableBody(f"{coding!r} is not an HTTP content coding")
    if not data:
        return b""
    try:
        return decoder(data)
    except UndecodableBody:
        raise
    except Exception as e:  # zlib.error, brotli.error, zstandard.ZstdError, ...
        raise UndecodableBody(f"{coding}: {e}") from None


def decode_body(
    raw: bytes | None, headers: dict[str, list[str]]
) -> tuple[bytes | None, dict[str, list[str]]]:
    """The body without its Content-Encoding, and headers to match.

    A body that does not decode, or whose Content-Encoding is no HTTP content coding, is kept as
    it came, with its Content-Encoding header, so the cassette still says what it is.
    """
    if not raw:
        return raw, headers
    name = next((k for k in headers if k.lower() == "content-encoding"), None)
    if name is None:
        return raw, headers
    try:
        body = decode_content(raw, headers[name][0])
    except UndecodableBody:
        return raw, headers
    out = {}
    for k, v in headers.items():
        lowered = k.lower()
        if lowered == "content-encoding":
            continue
        out[k] = [str(len(body))] if lowered == "content-length" else v
    return body, out
