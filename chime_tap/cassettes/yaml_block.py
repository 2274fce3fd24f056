"""Block YAML for one cassette interaction, cheap enough to run on every recorded flow.

PyYAML's Python representer costs about 0.5 ms per interaction, a quarter of what mitmproxy
itself spends forwarding a flow. This emitter covers the plain data an interaction holds (dict,
list, str, int, float, bool, None) and hands anything else to PyYAML.

Strings are written plain only when no YAML 1.1 resolver could read them as anything but a
string; otherwise single-quoted when they are one line of printable ASCII (a JSON body stays
readable: nothing in it is escaped), else double-quoted with JSON's escapes (a subset of
YAML's), ASCII only. What loads is exactly what was written, with libyaml and with PyYAML
alike (tests/test_record_yaml.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

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

try:  # libyaml when available
    from yaml import CSafeDumper as _SafeDumper
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _SafeDumper  # type: ignore[assignment]


def dump_item(item: dict[str, Any]) -> bytes:
    """``item`` as one ``- ...`` entry of a block-YAML list at column 0, as PyYAML lays it out."""
    try:
        out: list[str] = []
        if not _interaction(item, out):
            _seq([item], "", out)
        return "".join(out).encode("ascii")
    except _NotFast:
        return yaml.dump(
            [item],
            Dumper=_SafeDumper,
            default_flow_style=False,
            allow_unicode=True,
            sort_keys=False,
            width=1 << 16,
        ).encode("utf-8")


def dump_scrubbed_item(item: dict[str, Any]) -> bytes:
    """``dump_item(scrub_interaction(item))``, the usual interaction scrubbed as it is written.

    The recorder's every flow: one walk instead of a scrubbed copy of the interaction and then
    a walk of the copy. The scrubbing is the scrubber's (its functions, called on the same
    parts); the bytes are the same (tests/test_record_scrub_yaml.py).
    """
    try:
        out: list[str] = []
        if _interaction(item, out, scrub=True):
            return "".join(out).encode("ascii")
    except _NotFast:
        pass
    return dump_item(scrub_interaction(item))


class _NotFast(Exception):
    """A value left to PyYAML (bytes, non-string keys, lone surrogates, inf/nan, subclasses)."""


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# YAML 1.1 booleans and null, compared lower-case: these are never written plain.
_NOT_PLAIN = frozenset(["y", "yes", "n", "no", "true", "false", "on", "off", "null"])
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")
_LONE_SURROGATE = re.compile(r"\\ud[89a-f]")
_MAX_KEY = 1000  # YAML caps implicit keys at 1024 characters; PyYAML writes "? key" beyond

# Short strings, and whole one-value entries ("  Name:\n  - value\n"), are rendered once (memo).
_strings: dict[str, str] = {}
_entries: dict[tuple[str, str, str], str] = {}


def _astral(m: re.Match[str]) -> str:
    high, low = int(m.group(1), 16), int(m.group(2), 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"


def _render(s: str) -> str:
    if _PLAIN.fullmatch(s) and s.lower() not in _NOT_PLAIN:
        return s
    if s.isascii() and _printable_ascii(s):  # one line, nothing to escape: single quotes, as PyYAML
        return "'" + s.replace("'", "''") + "'" if "'" in s else "'" + s + "'"
    q = json.dumps(s)  # ASCII, JSON escapes; YAML reads every one of them
    if "\x7f" in q:  # DEL is ASCII but not printable in YAML
        q = q.replace("\x7f", "\\x7f")
    if "\\ud" in q:  # YAML wants \U for astral characters and has no lone surrogates
        q = _SURROGATE_PAIR.sub(_astral, q)
        if _LONE_SURROGATE.search(q):
            raise _NotFast
    return q


# ASCII's non-printable characters (the C0 controls and DEL) to NUL, every other byte to itself.
_CONTROLS_TO_NUL = bytes(0 if c < 0x20 or c == 0x7F else c for c in range(256))


def _printable_ascii(s: str) -> bool:
    """``s.isprintable()`` for an ASCII string, at a fraction of its cost on a body: one table
    look-up per byte instead of a Unicode category per character, and a table that deletes
    nothing (bytes.translate's fast loop), then one memchr."""
    return b"\0" not in s.encode("ascii").translate(_CONTROLS_TO_NUL)


def _str(s: str) -> str:
    if len(s) > SHORT:
        return _render(s)
    out = _strings.get(s)
    return out if out is not None else remember(_strings, s, _render(s))


def _scalar(v: Any) -> str:
    t = type(v)
    if t is str:
        return _str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        if v != v or v in (float("inf"), float("-inf")):
            raise _NotFast
        r = repr(v)
        return r if "." in r else r.replace("e", ".0e")  # YAML 1.1 floats need a dot
    if t is dict and not v:
        return "{}"
    if t is list and not v:
        return "[]"
    # Subclasses (an IntEnum, a str subclass) as their base type: PyYAML's safe dumper refuses them.
    for base in (bool, int, float, str):
        if isinstance(v, base):
            return _scalar(base(v))
    raise _NotFast


def _key(k: Any) -> str:
    if type(k) is not str:
        if not isinstance(k, str):
            raise _NotFast
        k = str(k)
    out = _str(k)
    if len(out) > _MAX_KEY:
        raise _NotFast
    return out


def _map(d: dict[str, Any], pad: str, out: list[str]) -> None:
    for k, v in d.items():
        t = type(v)
        if t is list and len(v) == 1 and type(v[0]) is str:  # a header: one entry, cached
            value = v[0]
            entry = _entries.get((pad, k, value))
            if entry is None:
                entry = f"{pad}{_key(k)}:\n{pad}- {_str(value)}\n"
                if len(value) <= SHORT:
                    remember(_entries, (pad, k, value), entry)
            out.append(entry)
        elif t is dict and v:
            out.append(f"{pad}{_key(k)}:\n")
            _map(v, pad + "  ", out)
        elif t is list and v:
            out.append(f"{pad}{_key(k)}:\n")
            _seq(v, pad, out)  # indentless, as PyYAML writes it
        else:
            out.append(f"{pad}{_key(k)}: {_scalar(v)}\n")


_REQUEST_KEYS = ("method", "uri", "body", "headers")
_RESPONSE_KEYS = ("status", "headers", "body")
# The recorder's per-interaction metadata (recording.recording_meta), then in spy mode what
# spy.Comparison.meta adds: the counterpart, and each difference.
_META_KEYS = ("recorded_at", "duration_ms", "operation", "namespace", "violations", "answered_by")
_COUNTERPART_KEYS = ("interaction", "match")
_DIFFERENCE_KEYS = ("kind", "what", "baseline", "live")


def _interaction(item: dict[str, Any], out: list[str], scrub: bool = False) -> bool:
    """The usual interaction (request, response, metadata) from one template; False otherwise.

    Same output as the generic walk, with a fraction of its calls: it runs on every flow. With
    ``scrub``, what it writes is ``scrub_interaction(item)``, scrubbed as it is written (see
    :func:`dump_scrubbed_item`).
    """
    keys = tuple(item)
    if keys[:2] != ("request", "response") or len(keys) > 3:
        return False
    req, resp = item["request"], item["response"]
    if type(req) is not dict or type(resp) is not dict:
        return False
    if tuple(req) != _REQUEST_KEYS or tuple(resp) != _RESPONSE_KEYS:
        return False
    status, body, qh, rh = resp["status"], resp["body"], req["headers"], resp["headers"]
    if type(status) is not dict or tuple(status) != ("code", "message"):
        return False
    if type(body) is not dict or tuple(body) != ("string",):
        return False
    if type(qh) is not dict or type(rh) is not dict:
        return False
    uri, request_body, response_body = req["uri"], req["body"], body["string"]
    if scrub:
        response_body = scrub_response_string(uri, response_body)
        uri = scrub_uri(uri)
        if request_body is not None:  # None is kept as it is
            request_body = scrub_body_credentials(request_body)
    get = _strings.get  # a cached string's rendering without a call (None for anything else)
    method, message = req["method"], status["message"]
    out.append(
        f"- request:\n    method: {get(method) or _scalar(method)}\n    uri: {_scalar(uri)}\n"
        f"    body: {_scalar(request_body)}\n"
    )
    _headers(qh, out, scrub)
    out.append(
        f"  response:\n    status:\n      code: {_scalar(status['code'])}\n"
        f"      message: {get(message) or _scalar(message)}\n"
    )
    _headers(rh, out, scrub)
    out.append(f"    body:\n      string: {_scalar(response_body)}\n")
    if len(keys) == 3:
        _meta(keys[2], item[keys[2]], out, scrub)
    return True


def _meta(name: Any, meta: Any, out: list[str], scrub: bool) -> None:
    """``{name: meta}`` at the interaction's level as the walk writes it (with ``scrub``,
    ``scrub_strings(meta)``): the recorder's metadata, spy mode's or not, from templates.

    ``_map`` writes a dict's entries one after another, each alone, and ``scrub_strings``
    scrubs each value alone: any entry can be written by the walk on its own (``_generic``:
    violations, an error, a body note) between entries written from a template, and the bytes
    are the walk's.
    """
    keys = tuple(meta) if type(meta) is dict else ()
    if keys[:6] != _META_KEYS:
        _map({name: scrub_strings(meta) if scrub else meta}, "  ", out)
        return
    violations = meta["violations"]
    if not scrub and type(violations) is list and not violations:
        out.append(
            f"  {_key(name)}:\n    recorded_at: {_scalar(meta['recorded_at'])}\n"
            f"    duration_ms: {_scalar(meta['duration_ms'])}\n"
            f"    operation: {_scalar(meta['operation'])}\n"
            f"    namespace: {_scalar(meta['namespace'])}\n"
            f"    violations: []\n    answered_by: {_scalar(meta['answered_by'])}\n"
        )
    else:
        out.append(f"  {_key(name)}:\n")
        for key in _META_KEYS:
            value = meta[key]
            t = type(value)
            if (t is list or t is dict) and value:  # violations
                _generic(key, value, out, scrub)
            elif scrub:
                text = _scrubbed_strings.get(value) if t is str else None
                out.append(f"    {key}: {text or _scrubbed_scalar(value)}\n")
            else:
                out.append(f"    {key}: {_scalar(value)}\n")
    for key in keys[6:]:  # spy mode's baseline and differences; an error, a body note
        if key == "baseline":
            _counterpart(meta[key], out, scrub)
        elif key == "differences":
            _differences(meta[key], out, scrub)
        else:
            _generic(key, meta[key], out, scrub)


def _generic(key: str, value: Any, out: list[str], scrub: bool) -> None:
    """One entry of the metadata (``key: value``) as the walk writes it, scrubbed with ``scrub``."""
    _map({key: scrub_strings(value) if scrub else value}, "    ", out)


def _flat(value: Any, scrub: bool) -> str | None:
    """A string, None or number of spy mode's entries rendered (scrubbed with ``scrub``), as
    the walk writes it after ``key: ``; None for any other value (the walk's to write)."""
    t = type(value)
    if t is str:
        if not scrub:
            return _str(value)
        return _scrubbed_strings.get(value) or _scrubbed_scalar(value)
    if value is None or t is int or t is float or t is bool:
        return _scalar(value)
    return None


def _counterpart(value: Any, out: list[str], scrub: bool) -> None:
    """Spy mode's ``baseline`` entry: ``{"interaction": "base.yaml #12", "match": "exact"}``."""
    if type(value) is dict and tuple(value) == _COUNTERPART_KEYS:
        interaction, match = value.values()
        if type(interaction) is str:  # a label: a new one on most calls, so not remembered
            label = _render(scrub_text(interaction) if scrub else interaction)
        else:
            label = _flat(interaction, scrub)
        how = _flat(match, scrub)
        if label is not None and how is not None:
            out.append(f"    baseline:\n      interaction: {label}\n      match: {how}\n")
            return
    _generic("baseline", value, out, scrub)


def _differences(value: Any, out: list[str], scrub: bool) -> None:
    """Spy mode's ``differences`` entry: a list of ``{kind, what, baseline, live}``."""
    if type(value) is list:
        if not value:
            out.append("    differences: []\n")
            return
        start = len(out)
        out.append("    differences:\n")
        for difference in value:  # indentless, as the walk writes a list in a mapping
            if type(difference) is not dict or tuple(difference) != _DIFFERENCE_KEYS:
                break
            kind, what, a, b = (_flat(v, scrub) for v in difference.values())
            if kind is None or what is None or a is None or b is None:
                break
            out.append(
                f"    - kind: {kind}\n      what: {what}\n      baseline: {a}\n      live: {b}\n"
            )
        else:
            return
        del out[start:]
    _generic("differences", value, out, scrub)


# A metadata string's rendering once scrubbed (scrub_text): the operation, the namespace and
# who answered repeat on every call. Bounded like the caches above.
_scrubbed_strings: dict[str, str] = {}


def _scrubbed_scalar(value: Any) -> str:
    """A value of the recorder's metadata as ``scrub_strings`` leaves it, rendered."""
    t = type(value)
    if value is None or t is float or t is int or t is bool:  # scrub_strings keeps these
        return _scalar(value)
    if t is list and not value:
        return "[]"
    if t is not str:
        return _scalar(scrub_strings(value))
    text = _str(scrub_text(value))
    if len(value) <= SHORT and not value[:1].isdigit():  # not a time: it may come again
        remember(_scrubbed_strings, value, text)
    return text


def _headers(headers: dict[str, Any], out: list[str], scrub: bool) -> None:
    """A message's ``headers`` key at the template's place; with ``scrub``, scrubbed."""
    if not scrub:
        _entry("    ", "headers", headers, out)
        return
    start = len(out)
    out.append("    headers:\n")
    for name, values in headers.items():
        if type(values) is not list or len(values) != 1 or type(values[0]) is not str:
            del out[start:]  # an unusual table: scrubbed whole, then written as the walk does
            _entry("    ", "headers", scrub_headers(headers), out)
            return
        value = values[0]
        entry = _secret_entries.get(name)  # first: a credential's value is never hashed
        if entry is None:
            entry = _scrubbed.get((name, value)) if len(value) <= SHORT else None
            if entry is None:
                entry = _scrubbed_entry(name, value)
        if entry:  # "": a header the scrubber leaves out
            out.append(entry)
    if len(out) == start + 1:  # nothing kept (or nothing there)
        out[start] = "    headers: {}\n"


# A header rendered scrubbed, whole, as the walk writes it under a message: by name and value,
# or by name alone for a credential header (scrubbed the same whatever its value, which
# changes on every call), in memos.
_scrubbed: dict[tuple[str, str], str] = {}
_secret_entries: dict[str, str] = {}


def _scrubbed_entry(name: str, value: str) -> str:
    kept = scrub_headers({name: [value]})  # the scrubber's own rule, for this one header
    out: list[str] = []
    if kept:
        _map(kept, "      ", out)
    entry = "".join(out)
    return remember_header(name, value, entry, _secret_entries, _scrubbed)


def _entry(pad: str, key: str, value: dict[str, Any], out: list[str]) -> None:
    if value:
        out.append(f"{pad}{key}:\n")
        _map(value, pad + "  ", out)
    else:
        out.append(f"{pad}{key}: {{}}\n")


def _seq(items: list[Any], pad: str, out: list[str]) -> None:
    inner = pad + "  "
    for v in items:
        t = type(v)
        if (t is dict or t is list) and v:
            start = len(out)
            if t is dict:
                _map(v, inner, out)
            else:
                _seq(v, inner, out)
            out[start] = pad + "- " + out[start][len(inner) :]
        else:
            out.append(f"{pad}- {_scalar(v)}\n")
