"""One line of JSON for one cassette interaction, scrubbed as it is written: on every recorded flow.

A JSON cassette's line is the interaction as ``json.dumps(item, ensure_ascii=False,
separators=(",", ":"))`` writes it (:func:`dump_item`). The recorder scrubs each interaction
first: a scrubbed copy, then an encoding of the copy, some 160,000 instructions per call. Here
the usual interaction is scrubbed and encoded in one walk (:func:`dump_scrubbed_item`): the
scrubbing is the scrubber's (its functions, called on the same parts), the strings are encoded
by json's own string encoder, and header entries and metadata strings that repeat from call to
call are encoded once (cassettes/memo.py). Anything else goes the
generic way; the bytes are the same either way (tests/test_json_block.py).
"""

from __future__ import annotations

import json
from typing import Any

from chime_tap.cassettes.memo import SHORT, remember, remember_header
from chime_tap.cassettes.scrub import (
    scrub_body_credentials,
    scrub_headers,
    scrub_interaction,
    scrub_response_string,
    scrub_strings,
    scrub_text,
    scrub_uri,
)

# json.dumps(item, ...) builds this encoder on every call: built once.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# What that encoder writes for a string (json's C function when there is one).
_encode_string = json.encoder.encode_basestring


def dump_item(item: dict[str, Any]) -> bytes:
    """``item`` as one line of JSON, UTF-8 (JSON strings hold no raw newline)."""
    return _encode(item).encode("utf-8")


def dump_scrubbed_item(item: dict[str, Any]) -> bytes:
    """``dump_item(scrub_interaction(item))``, the usual interaction scrubbed as it is written.

    One walk instead of a scrubbed copy and then an encoding of the copy. An interaction of
    another shape, or one the walk cannot encode (bytes, a lone surrogate, a cycle), goes the
    generic way, which writes the same bytes or raises its own error.
    """
    try:
        text = _interaction(item)
        if text is not None:
            return text.encode("utf-8")
    except Exception:  # the generic path below decides: the same bytes, or its own error
        pass
    return dump_item(scrub_interaction(item))


_REQUEST_KEYS = ("method", "uri", "body", "headers")
_RESPONSE_KEYS = ("status", "headers", "body")

# Short strings, header entries and metadata strings are encoded once (memo).
_strings: dict[str, str] = {}


def _interaction(item: dict[str, Any]) -> str | None:
    """``item`` scrubbed and encoded, for the usual interaction (request, response, then any
    metadata keys) in its usual layout; None for any other."""
    if type(item) is not dict:
        return None
    keys = tuple(item)
    if keys[:2] != ("request", "response"):
        return None
    req, resp = item["request"], item["response"]
    if type(req) is not dict or type(resp) is not dict:
        return None
    if tuple(req) != _REQUEST_KEYS or tuple(resp) != _RESPONSE_KEYS:
        return None
    method, uri, request_body, request_headers = req.values()
    status, response_headers, body = resp.values()
    if type(body) is not dict or tuple(body) != ("string",) or type(uri) is not str:
        return None
    parts = [
        '{"request":{"method":',
        _strings.get(method) or _value(method),
        ',"uri":',
        _value(scrub_uri(uri)),
        ',"body":',
        "null" if request_body is None else _value(scrub_body_credentials(request_body)),
        ',"headers":',
        _headers(request_headers),
        '},"response":{"status":',
        _status(status),
        ',"headers":',
        _headers(response_headers),
        ',"body":{"string":',
        _value(scrub_response_string(uri, body["string"])),
        "}}",
    ]
    for name in keys[2:]:  # scrub_interaction scrubs every other key as metadata
        if type(name) is not str:
            return None
        parts += [",", _str(name), ":", _meta(item[name])]
    parts.append("}")
    return "".join(parts)


def _str(s: str) -> str:
    if len(s) > SHORT:
        return _encode_string(s)
    out = _strings.get(s)
    return out if out is not None else remember(_strings, s, _encode_string(s))


def _value(v: Any) -> str:
    """Any value as the encoder writes it; the usual scalars without a call into it."""
    t = type(v)
    if t is str:
        return _str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int.__repr__(v)
    if t is float and v - v == 0.0:  # finite: the encoder writes float's repr
        return float.__repr__(v)
    return _encode(v)


def _status(status: Any) -> str:
    if type(status) is dict and tuple(status) == ("code", "message"):
        code, message = status.values()
        return f'{{"code":{_value(code)},"message":{_strings.get(message) or _value(message)}}}'
    return _encode(status)


class _NotFast(Exception):
    """A part the walk leaves to the generic path (a key that is not a string)."""


def _headers(headers: Any) -> str:
    """``scrub_headers(headers or {})`` encoded: each header by the scrubber's rule for it
    alone (it keeps, changes or drops each header by its own name and value)."""
    if type(headers) is not dict:
        return _encode(scrub_headers(headers or {}))
    parts = []
    for name, values in headers.items():
        if type(values) is not list or len(values) != 1:
            entry = _entry(scrub_headers({name: values}))
        else:
            entry = _secret_entries.get(name)  # first: a credential's value is never hashed
            if entry is None:
                entry = _scrubbed.get((name, values[0]))
                if entry is None:
                    entry = _scrubbed_entry(name, values[0])
        if entry:  # "": a header the scrubber leaves out
            parts.append(entry)
    return "{" + ",".join(parts) + "}"


# A header's entry scrubbed and encoded (``"Name":["value"]``): by name and value, or by name
# alone for a credential header (scrubbed the same whatever its values, which change on every
# call), in memos.
_scrubbed: dict[tuple[str, str], str] = {}
_secret_entries: dict[str, str] = {}


def _scrubbed_entry(name: str, value: str) -> str:
    if type(name) is not str:
        raise _NotFast
    entry = _entry(scrub_headers({name: [value]}))  # the scrubber's own rule, for this one header
    if type(value) is not str:
        return entry
    return remember_header(name, value, entry, _secret_entries, _scrubbed)


def _entry(kept: dict[str, Any]) -> str:
    """A header table of at most one header, encoded without its braces."""
    return _encode(kept)[1:-1]


# The recorder's metadata (recording.recording_meta), then in spy mode what
# spy.Comparison.meta adds: the counterpart, and each difference.
_META_KEYS = ("recorded_at", "duration_ms", "operation", "namespace", "violations", "answered_by")
_SPY_KEYS = ("baseline", "differences")
_COUNTERPART_KEYS = ("interaction", "match")
_DIFFERENCE_KEYS = ("kind", "what", "baseline", "live")


def _meta(meta: Any) -> str:
    """``scrub_strings(meta)`` encoded; the recorder's metadata without a copy.

    The encoder writes a dict's entries one after another, each alone, and ``scrub_strings``
    scrubs each value alone: each entry is encoded on its own, by a template when it is one of
    the recorder's, by :func:`_meta_value` otherwise.
    """
    if type(meta) is not dict:
        return _encode(scrub_strings(meta))
    keys = tuple(meta)
    if keys[:6] == _META_KEYS:
        at, ms, operation, namespace, violations, by = list(meta.values())[:6]
        if type(violations) is list and not violations:
            get = _scrubbed_strings.get  # a repeated string's encoding without a call
            head = (
                f'{{"recorded_at":{_meta_value(at)},"duration_ms":{_meta_value(ms)},'
                f'"operation":{get(operation) or _meta_value(operation)},'
                f'"namespace":{get(namespace) or _meta_value(namespace)},'
                f'"violations":[],"answered_by":{get(by) or _meta_value(by)}'
            )
            if len(keys) == 6:
                return head + "}"
            if keys[6:] == _SPY_KEYS:
                counterpart, differences = meta["baseline"], meta["differences"]
                return (
                    f'{head},"baseline":{_counterpart(counterpart)},'
                    f'"differences":{_differences(differences)}}}'
                )
    parts = []
    for k, v in meta.items():
        if type(k) is not str:
            raise _NotFast
        if k == "baseline":
            text = _counterpart(v)
        elif k == "differences":
            text = _differences(v)
        else:
            text = _meta_value(v)
        parts.append(f"{_str(k)}:{text}")
    return "{" + ",".join(parts) + "}"


def _counterpart(value: Any) -> str:
    """Spy mode's ``baseline`` (``{"interaction": "base.yaml #12", "match": "exact"}``) as
    :func:`_meta_value` encodes it."""
    if type(value) is dict and tuple(value) == _COUNTERPART_KEYS:
        interaction, match = value.values()
        if type(interaction) is str:  # a label: a new one on most calls, so not remembered
            label = _encode_string(scrub_text(interaction))
        else:
            label = _meta_value(interaction)
        return f'{{"interaction":{label},"match":{_meta_value(match)}}}'
    return _meta_value(value)


def _differences(value: Any) -> str:
    """Spy mode's ``differences`` (a list of ``{kind, what, baseline, live}``) as
    :func:`_meta_value` encodes it."""
    if type(value) is not list:
        return _meta_value(value)
    parts = []
    for difference in value:
        if type(difference) is dict and tuple(difference) == _DIFFERENCE_KEYS:
            kind, what, a, b = difference.values()
            parts.append(
                f'{{"kind":{_meta_value(kind)},"what":{_meta_value(what)},'
                f'"baseline":{_meta_value(a)},"live":{_meta_value(b)}}}'
            )
        else:
            parts.append(_meta_value(difference))
    return "[" + ",".join(parts) + "]"


# A metadata string's encoding once scrubbed (scrub_text): the operation, the namespace and who
# answered repeat on every call.
_scrubbed_strings: dict[str, str] = {}


def _meta_value(v: Any) -> str:
    """A value of the metadata as ``scrub_strings`` leaves it, encoded."""
    t = type(v)
    if t is str:
        text = _scrubbed_strings.get(v)
        if text is None:
            if len(v) > SHORT or v[:1].isdigit():  # a time: it will not come again
                return _encode_string(scrub_text(v))
            text = remember(_scrubbed_strings, v, _str(scrub_text(v)))
        return text
    if v is None or t is float or t is int or t is bool:  # scrub_strings keeps these
        return _value(v)
    return _encode(scrub_strings(v))
