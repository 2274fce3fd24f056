"""Recorded traffic (vcrpy cassettes, mitmproxy flow files, HAR) as one tidy DataFrame.

One row per interaction, one typed column per fact (see :data:`COLUMNS`). Each file is read by
its own format's reader, each interaction becomes a row of plain values in one pass, and the
rows become typed columns once per file; nothing appends DataFrame rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from chime_tap.api.hosts import DEFAULT_HOSTS, NAMESPACES, HostPolicy
from chime_tap.api.operations import OPERATIONS, Route, error_type_from_header, route_of
from chime_tap.cassettes.format import META_KEY, Interaction
from chime_tap.cassettes.reader import check_cassette, parse_document, read_input
from chime_tap.errors import CassetteError, InputError
from chime_tap.wire import first_values, header_lists

# pandas is imported by the functions that build frames: the readers alone (read_interactions,
# which validate, check and diff use) need none of it, and it costs half a second to import.
if TYPE_CHECKING:
    import pandas as pd

# The frame's columns and their dtypes, in order. "category" columns get their categories
# from the data, except operation and namespace, whose categories are the catalogue's, and
# origin (ORIGINS).
COLUMNS: dict[str, str] = {
    "source": "category",
    "index": "int64",
    "recorded_at": "datetime64[ns, UTC]",
    "operation": "category",
    "namespace": "category",
    "method": "category",
    "host": "category",
    "path": "str",
    "voice_connector_id": "str",
    "proxy_session_id": "str",
    "status": "int16",
    "error_type": "category",
    "error_message": "str",
    "latency_ms": "float64",
    "request_bytes": "int64",
    "response_bytes": "int64",
    "violation_count": "int32",
    "violations": "str",
    "capabilities": "category",
    "expiry_minutes": "Int32",
    "session_status": "category",
    "created_at": "datetime64[ns, UTC]",
    "updated_at": "datetime64[ns, UTC]",
    "ended_at": "datetime64[ns, UTC]",
    "amz_date": "datetime64[ns, UTC]",
    "response_date": "datetime64[ns, UTC]",
    "clock_skew_s": "float64",
    "answered_by": "category",
    "origin": "category",
    "acknowledged": "bool",
    "listed_sessions": "str",
    "differences": "str",
}
# What the last three columns hold:
# - origin: what wrote the interaction, which says what it can know: ``chime-tap`` (a cassette
#   interaction with chime-tap's metadata: timing, who answered), ``vcrpy`` (a cassette
#   interaction without it: vcrpy keeps no timing), ``flow`` (a mitmproxy flow file), ``har``.
# - acknowledged: the service's 2xx answer acknowledged the row's proxy session: a Create, Get
#   or Update whose ProxySession names it, or a Delete answered 2xx.
# - listed_sessions: the sessions a 2xx ListProxySessions answer named, in a compact form that
#   :func:`listed_sessions` explodes without a Python loop: one record per session, records
#   separated by LISTED_RECORD_SEP (U+001E), fields by LISTED_FIELD_SEP (U+001F), in the order
#   of LISTED_FIELDS; an absent value is an empty field, and ``%``, U+001E and U+001F inside a
#   value are written ``%25``, ``%1E`` and ``%1F``. Null for every other row.
LISTED_RECORD_SEP = "\x1e"
LISTED_FIELD_SEP = "\x1f"
LISTED_FIELDS = (
    "proxy_session_id", "session_status", "created_at", "updated_at", "ended_at", "expiry_minutes",
)  # fmt: skip
ORIGINS = ("chime-tap", "vcrpy", "flow", "har")
# - differences: spy mode's differences from its baseline (record --compare-to), one record per
#   difference, records separated by DIFFERENCE_SEP, kind and what by LISTED_FIELD_SEP (both
#   characters left out of the values); "" for a call compared and found the same, null for a
#   call not compared.
DIFFERENCE_SEP = LISTED_RECORD_SEP

# Violation messages of one interaction are joined with this in the ``violations`` column.
VIOLATION_SEP = "\n"
NO_RESPONSE = "NoResponse"  # error_type of a call that got no response at all (status 0)

_SESSION_OPERATIONS = frozenset({"CreateProxySession", "GetProxySession", "UpdateProxySession"})
_LIST = "ListProxySessions"
_DELETE = "DeleteProxySession"
# Cassettes and HAR are never empty files; an empty file with another name is an empty
# mitmproxy capture (mitmdump -w with no traffic), which holds no interactions.
_NEVER_EMPTY = {".yaml": "a cassette", ".yml": "a cassette", ".json": "a cassette", ".har": "a HAR"}
_HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

SkipHandler = Callable[[str, str], None]
ProgressHandler = Callable[[int, int], None]
Tick = Callable[[float], None]  # fraction of the current file done
_TICK_EVERY = 4096  # interactions between two progress ticks
_PARSED = 0.6  # share of a file's progress reached once its text is parsed


# --- one pass: interactions -> rows -> typed columns --------------------------------------------

# The values _Rows.add writes for an interaction: the frame's columns in COLUMNS order, less
# "source" (one per file) and "clock_skew_s" (computed from two of them), plus "started" (a
# flow's start, the fallback for recorded_at).
_ROW = (
    "index", "recorded_at", "started", "operation", "namespace", "method", "host", "path",
    "voice_connector_id", "proxy_session_id", "status", "error_type", "error_message",
    "latency_ms", "request_bytes", "response_bytes",
    "violation_count", "violations",
    "capabilities", "expiry_minutes", "session_status", "created_at", "updated_at", "ended_at",
    "amz_date", "response_date",
    "answered_by", "origin", "acknowledged", "listed_sessions", "differences",
)  # fmt: skip
_AT = {name: k for k, name in enumerate(_ROW)}  # where each value sits in a row
_TIME_FORMATS = {
    "recorded_at": "ISO8601",
    "created_at": "ISO8601",
    "updated_at": "ISO8601",
    "ended_at": "ISO8601",
    "amz_date": _AMZ_DATE,
    "response_date": _HTTP_DATE,
}


class _Rows:
    """One file's interactions as rows of :data:`_ROW` values, typed into a frame at the end.

    The rows are kept end to end in one flat list, and each column is sliced out just before it
    is typed, while its values are still in cache: a tuple per row, transposed at the end, made
    this step ~15% slower.
    """

    def __init__(self, hosts: HostPolicy, tick: Tick | None = None, *, ids: bool = False) -> None:
        self.hosts = hosts
        self.tick = tick
        self.values: list[Any] = []
        self.digests: list[bytes] | None = [] if ids else None
        self.routes: dict[tuple, tuple[Route | None, str | None, str | None]] = {}

    def add(
        self,
        *,
        index: int,
        method: str,
        uri: str,
        request_headers: dict[str, str],
        request_body: bytes | str | None,
        status: int,
        response_headers: dict[str, str],
        response_body: bytes | str | None,
        meta: dict[str, Any],
        origin: str,
        started: float = math.nan,
        latency: float | None = None,
        interaction: Callable[[], Interaction],
    ) -> None:
        """Append one interaction's row: its route, what was wrong with it, what came back, when."""
        if self.digests is not None:
            self.digests.append(
                _digest(method, uri, request_headers, request_body, status, response_headers,
                        response_body, meta, started, latency)
            )  # fmt: skip
        parts = urlsplit(uri)
        host, path = parts.hostname or request_headers.get("host", ""), parts.path or "/"
        # A file's calls name a few routes many times (a session's Get, Update and Delete; a
        # connector's Create and List): each is named once, from what _route reads.
        key = (method, uri, host, meta.get("namespace"), meta.get("operation"))
        try:
            named = self.routes.get(key)
        except TypeError:  # a note that is not hashable (a list): named each time
            named = key = None
        if named is None:
            named = _route(method, uri, host, meta, self.hosts)
            if key is not None:
                self.routes[key] = named
        route, operation, namespace = named
        if not 0 <= status <= 999:
            raise InputError(f"interaction {index}: status code {status} is not an HTTP status")
        violations = _violations(meta, route, interaction, self.hosts)
        error_type, error_message = _error(status, response_headers, response_body, meta)
        session = _session(status, operation, response_body)
        connector, session_id = _ids(route, session)
        self.values.extend((  # line for line as _ROW names them
            index, meta.get("recorded_at"), started, operation, namespace, method, host, path,
            connector, session_id, status, error_type, error_message,
            _latency(meta, latency), _size(request_body), _size(response_body),
            len(violations), VIOLATION_SEP.join(violations) if violations else None,
            *_session_facts(session),
            request_headers.get("x-amz-date"), response_headers.get("date"),
            _str(meta.get("answered_by")), origin,
            _acknowledged(status, operation, session, session_id),
            _listed(status, operation, response_body),
            _differences(meta),
        ))  # fmt: skip

    def frame(self, source: str) -> pd.DataFrame:
        """The typed frame of this file's interactions."""
        import pandas as pd

        times = {name: _to_utc(self.column(name), fmt) for name, fmt in _TIME_FORMATS.items()}
        started = pd.to_datetime(
            pd.Series(self.column("started"), dtype="float64"), unit="s", utc=True, errors="coerce"
        )
        recorded = times["recorded_at"]
        times["recorded_at"] = recorded.fillna(started.astype(recorded.dtype)).fillna(
            times["response_date"]
        )
        n = len(self.values) // len(_ROW)
        columns = {"source": pd.Series([source] * n, dtype="str")}
        for name, dtype in COLUMNS.items():
            if name in times:
                columns[name] = times[name]
            elif name in _AT:  # categories are typed once, over all files, by finish()
                values = self.column(name)
                columns[name] = pd.Series(values, dtype="str" if dtype == "category" else dtype)
        frame = pd.DataFrame(columns)
        frame["clock_skew_s"] = (times["amz_date"] - times["response_date"]).dt.total_seconds()
        if self.digests is not None:
            frame[INTERACTION_ID] = pd.Series(interaction_ids(self.digests), dtype="str")
        return frame

    def column(self, name: str) -> list[Any]:
        """One column's values, sliced out of the rows just before it is typed (still in cache)."""
        return self.values[_AT[name] :: len(_ROW)]


# --- an interaction's identity: its content -----------------------------------------------------

# The column load_file(..., ids=True) adds: what a dataset knows an interaction by.
INTERACTION_ID = "interaction_id"


# What json.dumps(parts, sort_keys=True, default=repr, ensure_ascii=False, allow_nan=True) makes
# them into: json's own C encoder, made once (JSONEncoder.encode makes one per call, and its
# markers for a circular check, which parsed data never needs: a quarter of the hash's cost).
# Where the C encoder is missing, json's Python encoder (the same text).
_CANONICAL = json.JSONEncoder(sort_keys=True, default=repr, ensure_ascii=False, allow_nan=True)
_C_CANONICAL = (
    None
    if json.encoder.c_make_encoder is None or json.encoder.c_encode_basestring is None
    else json.encoder.c_make_encoder(
        None, repr, json.encoder.c_encode_basestring, None, ": ", ", ", True, False, True
    )
)


def _digest(*parts: Any) -> bytes:
    """A hash of everything a row is made from (not the file's name, nor the place in it)."""
    text = "".join(_C_CANONICAL(parts, 0)) if _C_CANONICAL else _CANONICAL.encode(parts)
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def interaction_ids(digests: list[bytes]) -> list[str]:
    """Each row's id: its content's hash and how many rows of the same content came before it
    in the file, so a file's identical interactions (vcrpy keeps no time) stay apart, and the
    same file read again, copied or appended to gives its old rows the same ids."""
    seen: dict[bytes, int] = {}
    ids = []
    for d in digests:
        nth = seen.get(d, 0)
        seen[d] = nth + 1
        ids.append(hashlib.blake2b(d + nth.to_bytes(8, "big"), digest_size=16).hexdigest())
    return ids


# --- the steps of one row: data in, data out --------------------------------------------------


def _route(
    method: str, uri: str, host: str, meta: dict[str, Any], hosts: HostPolicy
) -> tuple[Route | None, str | None, str | None]:
    """(route, operation, namespace) of a call: the recorder's notes first, then its URI."""
    noted = meta.get("namespace")
    if not isinstance(noted, str) or noted not in NAMESPACES:
        noted = None
    route = route_of(method, uri, hosts, namespace=noted, host=host)
    operation = meta.get("operation") or (route.name if route else None)
    if not isinstance(operation, str) or operation not in OPERATIONS:
        operation = None
    return route, operation, noted or (route.namespace if route else None)


def _violations(
    meta: dict[str, Any],
    route: Route | None,
    interaction: Callable[[], Interaction],
    hosts: HostPolicy,
) -> list[str]:
    """The call's violation messages: as the recorder noted them, else found now (API calls)."""
    noted = meta.get("violations")
    if isinstance(noted, list):
        return [_violation_text(v) for v in noted]
    if route is None:
        return []
    from chime_tap.api.validation import validate_interaction

    _, found = validate_interaction(interaction(), hosts)
    return [str(v) for v in found]


def _violation_text(noted: Any) -> str:
    """A recorded violation (``Violation.to_dict()``) as ``str(Violation)`` writes it."""
    if not isinstance(noted, dict):
        return str(noted)
    from chime_tap.api.validation import Violation

    return str(
        Violation(
            operation=noted.get("operation"),
            part=noted.get("part") or "",
            pointer=noted.get("pointer") or "",
            message=noted.get("message", ""),
        )
    )


def _error(
    status: int, headers: dict[str, str], body: bytes | str | None, meta: dict[str, Any]
) -> tuple[str | None, str | None]:
    """(error type, error message) of a call: from an error response, or the recorder's note."""
    error_type = error_type_from_header(headers.get("x-amzn-errortype"))
    error_message = None
    if status >= 400:
        doc = _json_object(body)
        error_type = error_type or _str(doc.get("__type") or doc.get("Code") or doc.get("code"))
        error_message = _str(doc.get("Message") or doc.get("message"))
    elif status == 0:
        error_type, error_message = NO_RESPONSE, _str(meta.get("error"))
    if error_message is None and meta.get("error"):
        error_message = _str(meta["error"])
    return error_type, error_message


def _session(status: int, operation: str | None, body: bytes | str | None) -> dict[str, Any]:
    """The ProxySession a successful Create, Get or Update answered with; {} for other calls.

    Bodies are parsed only where they say something the frame keeps: one session, or an error.
    """
    if operation not in _SESSION_OPERATIONS or not 200 <= status < 300:
        return {}
    found = _json_object(body).get("ProxySession")
    return found if isinstance(found, dict) else {}


def _ids(route: Route | None, session: dict[str, Any]) -> tuple[str | None, str | None]:
    """(voice connector, proxy session) of a call: from its path, else the session it created."""
    if route is None:
        return None, _str(session.get("ProxySessionId"))
    return route.voice_connector_id, route.proxy_session_id or _str(session.get("ProxySessionId"))


def _acknowledged(
    status: int, operation: str | None, session: dict[str, Any], session_id: str | None
) -> bool:
    """The 2xx answer names the row's session (Create/Get/Update), or deleted it (Delete)."""
    if session_id is None or not 200 <= status < 300:
        return False
    if operation == _DELETE:
        return True
    return bool(session) and _str(session.get("ProxySessionId")) == session_id


def _differences(meta: dict[str, Any]) -> str | None:
    """Spy mode's differences from the baseline (``chime_tap.differences``) as DIFFERENCE_SEP
    records of kind and what; "" for a call compared and found the same, None if not compared."""
    noted = meta.get("differences")
    if not isinstance(noted, list):
        return None
    clean = str.maketrans(DIFFERENCE_SEP + LISTED_FIELD_SEP, "  ")
    return DIFFERENCE_SEP.join(
        str(d.get("kind")).translate(clean)
        + LISTED_FIELD_SEP
        + str(d.get("what") or "").translate(clean)
        if isinstance(d, dict)
        else str(d).translate(clean)
        for d in noted
    )


def _listed(status: int, operation: str | None, body: bytes | str | None) -> str | None:
    """The sessions a 2xx ListProxySessions answer names, as :data:`LISTED_FIELDS` records."""
    if operation != _LIST or not 200 <= status < 300:
        return None
    found = _json_object(body).get("ProxySessions")
    if not isinstance(found, list):
        return None
    records = [
        LISTED_FIELD_SEP.join(_listed_field(v) for v in _listed_values(item))
        for item in found
        if isinstance(item, dict) and item.get("ProxySessionId") not in (None, "")
    ]
    return LISTED_RECORD_SEP.join(records) if records else None


def _listed_values(item: dict[str, Any]) -> tuple[Any, ...]:
    expiry = item.get("ExpiryMinutes")
    return (
        item.get("ProxySessionId"), item.get("Status"), item.get("CreatedTimestamp"),
        item.get("UpdatedTimestamp"), item.get("EndedTimestamp"), expiry if _int32(expiry) else None,
    )  # fmt: skip


def _listed_field(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if "%" in text or LISTED_RECORD_SEP in text or LISTED_FIELD_SEP in text:
        text = text.replace("%", "%25").replace(LISTED_RECORD_SEP, "%1E")
        text = text.replace(LISTED_FIELD_SEP, "%1F")
    return text


def listed_sessions(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per session a List answer named: the List row's index label (``row``), its time,
    voice connector and namespace, and the session's :data:`LISTED_FIELDS`, typed."""
    import pandas as pd

    listing = frame.loc[frame["listed_sessions"].notna()]
    records = listing["listed_sessions"].str.split(LISTED_RECORD_SEP).explode()
    fields = records.str.split(LISTED_FIELD_SEP, expand=True)
    fields = fields.reindex(columns=range(len(LISTED_FIELDS)))
    fields.columns = list(LISTED_FIELDS)
    out = {
        "row": pd.Series(records.index, index=records.index, dtype="int64"),
        "recorded_at": listing["recorded_at"].reindex(records.index),
        "voice_connector_id": listing["voice_connector_id"].reindex(records.index),
        "namespace": listing["namespace"].reindex(records.index),
    }
    for name in LISTED_FIELDS:
        values = _unescape(fields[name].astype("str").replace("", None))
        if name in _TIME_FORMATS:
            out[name] = _to_utc(values, _TIME_FORMATS[name])
        elif name == "expiry_minutes":
            out[name] = pd.to_numeric(values, errors="coerce").astype("Int32")
        else:
            out[name] = values
    return pd.DataFrame(out).reset_index(drop=True)


def _unescape(values: pd.Series) -> pd.Series:
    if not values.str.contains("%", regex=False).any():
        return values
    values = values.str.replace("%1F", LISTED_FIELD_SEP, regex=False)
    return values.str.replace("%1E", LISTED_RECORD_SEP, regex=False).str.replace(
        "%25", "%", regex=False
    )


_NO_SESSION = (None,) * 6


def _session_facts(session: dict[str, Any]) -> tuple[Any, ...]:
    """(capabilities, expiry_minutes, session_status, created_at, updated_at, ended_at)."""
    if not session:
        return _NO_SESSION
    caps = session.get("Capabilities")
    expiry = session.get("ExpiryMinutes")
    return (
        ",".join(sorted(map(str, caps))) if isinstance(caps, list) else None,
        expiry if _int32(expiry) else None,
        _str(session.get("Status")),
        _str(session.get("CreatedTimestamp")),
        _str(session.get("UpdatedTimestamp")),
        _str(session.get("EndedTimestamp")),
    )


def _int32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _latency(meta: dict[str, Any], measured: float | None) -> float | None:
    """The recorder's duration_ms, else what the file's format measured; None unless finite."""
    duration = _finite(meta.get("duration_ms"))
    return duration if duration is not None else _finite(measured)


def _to_utc(values: list[Any] | pd.Series, fmt: str) -> pd.Series:
    """Timestamps as ``datetime64[ns, UTC]``; missing or unparsable ones become NaT."""
    import pandas as pd

    parsed = pd.to_datetime(pd.Series(values, dtype="str"), format=fmt, utc=True, errors="coerce")
    return parsed.astype("datetime64[ns, UTC]")


def _finite(value: Any) -> float | None:
    """A number as a finite float; None for anything else (inf, nan, 10**400, text, True)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _size(body: bytes | str | None) -> int:
    if not body:
        return 0
    return len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogateescape"))


def _json_object(body: bytes | str | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        doc = json_loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def json_loads(text: bytes | str) -> Any:
    """``json.loads(text)``, by orjson (about five times as fast on a body) where orjson reads
    what json reads; json itself for the rest: what orjson refuses (NaN, 1e400, a lone
    surrogate, bytes not UTF-8), an integer past 64 bits (orjson makes it a float: 19 digits
    in a row anywhere send the text to json), and a text that may nest deeper than json's
    limit (the interpreter's recursion limit, less the frames in use) but not orjson's."""
    if within_orjson_depth(text):
        raw = text.encode("utf-8", "surrogatepass") if type(text) is str else text
        if not has_long_digits(raw):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
    return json.loads(text)


def within_orjson_depth(text: bytes | str) -> bool:
    """Whether ``text`` surely nests no deeper than json's limit and orjson's (which differ):
    it is short, or holds few brackets."""
    if len(text) < 2 * _ORJSON_DEPTH:
        return True
    if type(text) is str:
        return text.count("[") + text.count("{") < _ORJSON_DEPTH
    return text.count(b"[") + text.count(b"{") < _ORJSON_DEPTH


def has_long_digits(raw: bytes) -> bool:
    """Whether ``raw`` holds 19 digits in a row: an integer there may be past 64 bits, which
    orjson makes a float and json an int."""
    return _LONG_DIGITS in raw.translate(_DIGITS)


_ORJSON_DEPTH = 512  # a text with fewer brackets (a shorter text has fewer) nests no deeper
# Each digit as 0, anything else as a dot: 19 digits in a row are 19 zeros. (2**63 has 19.)
_DIGITS = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_LONG_DIGITS = b"0" * 19


# --- readers: one per format ------------------------------------------------------------------


def _vcr_headers(raw: Any) -> dict[str, str]:
    """A cassette's headers (vcrpy's name -> list or value) as lower-case name -> first value."""
    return first_values(raw) if isinstance(raw, dict) else {}


def _vcr_body(value: Any) -> bytes | str | None:
    if isinstance(value, dict):
        value = value.get("string")
    if value is None or isinstance(value, bytes | str):
        return value
    return str(value)


def _read_cassette(doc: dict[str, Any], cols: _Rows | _Interactions) -> None:
    items = doc["interactions"]
    for i, item in enumerate(items):
        if cols.tick is not None and not i % _TICK_EVERY:
            cols.tick(_PARSED + (1 - _PARSED) * i / len(items))
        req, resp = item["request"], item["response"]
        meta = item.get(META_KEY)
        meta = meta if isinstance(meta, dict) else {}
        cols.add(
            index=i,
            method=str(req["method"]).upper(),
            uri=str(req["uri"]),
            request_headers=_vcr_headers(req.get("headers")),
            request_body=_vcr_body(req.get("body")),
            status=int(resp["status"]["code"]),
            response_headers=_vcr_headers(resp.get("headers")),
            response_body=_vcr_body(resp.get("body")),
            meta=meta,
            origin="chime-tap" if meta else "vcrpy",
            interaction=lambda item=item, i=i: Interaction.from_dict(item, i),
        )


def _read_har(doc: dict[str, Any], name: str, cols: _Rows | _Interactions) -> None:
    entries = doc["log"].get("entries")
    if not isinstance(entries, list):
        raise InputError(f"{name}: HAR without an entries list")
    for i, entry in enumerate(entries):
        if cols.tick is not None and not i % _TICK_EVERY:
            cols.tick(_PARSED + (1 - _PARSED) * i / len(entries))
        _add_har_entry(entry, i, name, cols)


def _add_har_entry(entry: Any, i: int, name: str, cols: _Rows | _Interactions) -> None:
    try:
        req, resp = entry["request"], entry.get("response") or {}
        method, uri = str(req["method"]).upper(), str(req["url"])
    except (KeyError, TypeError):
        raise InputError(f"{name}: HAR entry {i} has no request method and url") from None
    request_headers, response_headers = _har_headers(req), _har_headers(resp)
    request_body, response_body = _har_bodies(req, resp)
    status = _har_status(resp, f"{name}: HAR entry {i}")
    latency = _har_latency(entry)
    meta = _har_meta(entry, resp, status)

    def view() -> Interaction:
        return Interaction(
            index=i, method=method, uri=uri,
            request_headers=header_lists(request_headers), request_body=_bytes(request_body),
            status=status, reason=str(resp.get("statusText") or ""),
            response_headers=header_lists(response_headers), response_body=_bytes(response_body),
            meta=meta,
        )  # fmt: skip

    cols.add(
        index=i,
        method=method,
        uri=uri,
        request_headers=first_values(request_headers),
        request_body=request_body,
        status=status,
        response_headers=first_values(response_headers),
        response_body=response_body,
        meta=meta,
        origin="har",
        latency=latency,
        interaction=view,
    )


def _har_headers(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A HAR request's or response's headers: its {name, value} objects (anything else is none)."""
    raw = message.get("headers")
    return [h for h in raw if isinstance(h, dict)] if isinstance(raw, list) else []


def _har_bodies(req: dict[str, Any], resp: dict[str, Any]) -> tuple[Any, Any]:
    """The request's postData text and the response's content text (base64 decoded)."""
    post = req.get("postData") or {}
    request_body = post.get("text") if isinstance(post, dict) else None
    content = resp.get("content") or {}
    response_body = content.get("text") if isinstance(content, dict) else None
    if response_body and content.get("encoding") == "base64":
        import base64

        response_body = base64.b64decode(response_body)
    return request_body, response_body


def _har_status(resp: dict[str, Any], where: str) -> int:
    try:
        return int(resp.get("status") or 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 parses as inf
        raise InputError(f"{where} has no numeric status") from None


def _har_meta(entry: dict[str, Any], resp: dict[str, Any], status: int) -> dict[str, Any]:
    """The recorder's notes (``_chime_tap``), else HAR's own start time and error."""
    meta = entry.get("_" + META_KEY)
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta.setdefault("recorded_at", entry.get("startedDateTime"))
    if status == 0 and resp.get("_error"):
        meta.setdefault("error", resp["_error"])
    return meta


def _har_latency(entry: dict[str, Any]) -> float | None:
    """Request sent to response received, as flow files measure it: HAR ``time`` minus set-up.

    ``time`` also counts DNS, connect and TLS set-up for the first call on a connection.
    """
    timings = entry.get("timings")
    if isinstance(timings, dict):
        parts = [_finite(timings.get(k)) for k in ("send", "wait", "receive")]
        if all(p is not None and p >= 0 for p in parts):
            return _finite(sum(parts))
    total = _finite(entry.get("time"))
    return total if total is not None and total >= 0 else None


def _bytes(body: bytes | str | None) -> bytes | None:
    return body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body


def _read_flows(path: Path, cols: _Rows | _Interactions) -> None:
    from mitmproxy import http
    from mitmproxy.exceptions import FlowReadException
    from mitmproxy.io import FlowReader

    size = max(1, path.stat().st_size)
    with open(path, "rb") as f:
        try:
            for i, flow in enumerate(FlowReader(f).stream()):
                if cols.tick is not None and not i % _TICK_EVERY:
                    cols.tick(f.tell() / size)
                if isinstance(flow, http.HTTPFlow):
                    _add_flow(flow, i, cols)
        except FlowReadException as e:
            raise InputError(f"{path}: not a readable mitmproxy flow file ({e})") from None
        except (
            ValueError,
            KeyError,
            TypeError,
        ) as e:  # a damaged file can trip the decoder anywhere
            raise InputError(
                f"{path}: damaged mitmproxy flow file ({type(e).__name__}: {e})"
            ) from None


def _add_flow(flow: Any, i: int, cols: _Rows | _Interactions) -> None:
    req, resp = flow.request, flow.response
    request_body = req.get_content(strict=False)
    response_body = resp.get_content(strict=False) if resp is not None else None
    meta = flow.metadata.get(META_KEY)
    meta = dict(meta) if isinstance(meta, dict) else {}
    if resp is None and flow.error is not None:
        meta.setdefault("error", flow.error.msg)
    latency = None
    if resp is not None and resp.timestamp_end and req.timestamp_start:
        latency = 1000.0 * (resp.timestamp_end - req.timestamp_start)
    request_headers = {k.lower(): v for k, v in req.headers.items()}
    response_headers = {k.lower(): v for k, v in resp.headers.items()} if resp is not None else {}
    uri = req.pretty_url

    def view() -> Interaction:
        return Interaction(
            index=i, method=req.method, uri=uri,
            request_headers={k.lower(): req.headers.get_all(k) for k in req.headers},
            request_body=request_body, status=resp.status_code if resp is not None else 0,
            reason=resp.reason if resp is not None else "",
            response_headers={k.lower(): resp.headers.get_all(k) for k in resp.headers} if resp is not None else {},
            response_body=response_body, meta=meta,
        )  # fmt: skip

    cols.add(
        index=i,
        method=req.method.upper(),
        uri=uri,
        request_headers=request_headers,
        request_body=request_body,
        status=resp.status_code if resp is not None else 0,
        response_headers=response_headers,
        response_body=response_body,
        meta=meta,
        origin="flow",
        started=req.timestamp_start or math.nan,
        latency=latency,
        interaction=view,
    )


# --- sniffing and loading ---------------------------------------------------------------------


def _parse_text(data: bytes, name: str) -> Any:
    """JSON or YAML, parsed as cassettes are (one parser, one set of messages); else InputError."""
    try:
        return parse_document(data, name)
    except CassetteError as e:
        raise InputError(str(e)) from None


def _is_flow_file(data: bytes) -> bool:
    """mitmproxy flow files are tnetstrings: ``<length>:<payload><type>``, a dict first."""
    head, sep, _ = data[:12].partition(b":")
    return bool(sep) and head.isdigit()


def load_file(
    path: str | os.PathLike[str],
    *,
    hosts: HostPolicy | None = None,
    tick: Tick | None = None,
    ids: bool = False,
) -> pd.DataFrame:
    """One file's interactions as a frame; InputError (one line) when it cannot be read.

    ``ids``: add :data:`INTERACTION_ID`, each row's identity by content (see interaction_ids).
    """
    path = Path(path)
    cols = _Rows(hosts or DEFAULT_HOSTS, tick, ids=ids)
    with _one_line(str(path)):
        _read_any(path, cols, tick)
        return cols.frame(str(path))


class _Interactions:
    """What the readers read, as the view validation takes, with no frame built."""

    tick: Tick | None = None

    def __init__(self) -> None:
        self.items: list[Interaction] = []

    def add(self, *, interaction: Callable[[], Interaction], latency: Any = None, **_: Any) -> None:
        item = interaction()
        # A HAR entry's or a flow's measured time, where no recorder noted one (diff reads it).
        if latency is not None and "duration_ms" not in item.meta:
            item.meta = {**item.meta, "duration_ms": latency}
        self.items.append(item)


def read_interactions(path: str | os.PathLike[str]) -> list[Interaction]:
    """Every interaction of a cassette, flow file or HAR, read by the readers :func:`load_file`
    uses (so both accept and refuse the same files); InputError (one line) when unreadable."""
    path = Path(path)
    found = _Interactions()
    with _one_line(str(path)):
        _read_any(path, found, None)
    return found.items


@contextmanager
def _one_line(name: str) -> Iterator[None]:
    """Whatever goes wrong reading ``name``: one InputError line that names it."""
    try:
        yield
    except InputError as e:
        message = str(e)
        raise InputError(message if message.startswith(name) else f"{name}: {message}") from None
    except Exception as e:  # a shape no check foresaw (or RecursionError): skip this file only
        raise InputError(f"{name}: unreadable interaction ({type(e).__name__}: {e})") from None


def _read_any(path: Path, cols: _Rows | _Interactions, tick: Tick | None) -> None:
    """Fill ``cols`` from a file of any supported format, told apart by its content."""
    name = str(path)
    data = read_input(path, InputError)  # only this frame holds the bytes: freed once parsed
    if not data.strip():
        claimed = _NEVER_EMPTY.get(path.suffix.lower())
        if claimed:
            raise InputError(f"{name}: empty file, not {claimed}")
        return  # an empty capture (mitmdump -w with no traffic): no rows
    if _is_flow_file(data):
        del data
        _read_flows(path, cols)
        return
    if b"\x00" in data[:8192]:
        if data.startswith(b"PAR1"):  # one of a dataset's files: the dataset is its directory
            raise InputError(
                f"{name}: a Parquet file, not a cassette, flow file or HAR; a dataset is "
                "named by its directory, the one holding the date=YYYY-MM-DD folders"
            )
        raise InputError(f"{name}: binary data, not a cassette, flow file or HAR")
    doc = _parse_text(data, name)
    del data
    if tick is not None:
        tick(_PARSED)
    if isinstance(doc, dict) and isinstance(doc.get("log"), dict):
        _read_har(doc, name, cols)
    else:
        if not isinstance(doc, dict) or "interactions" not in doc:
            raise InputError(f"{name}: not a vcrpy cassette, mitmproxy flow file or HAR")
        try:
            check_cassette(doc, name)
        except CassetteError as e:
            raise InputError(str(e)) from None
        _read_cassette(doc, cols)


def empty_frame() -> pd.DataFrame:
    """A frame with every column and no rows."""
    return finish([])


def finish(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-file frames and give every column its final dtype."""
    import pandas as pd

    if not frames:
        frames = [_Rows(DEFAULT_HOSTS).frame("")]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out = {}
    for name, dtype in COLUMNS.items():
        col = frame[name]
        if name == "operation":
            col = pd.Categorical(col, categories=list(OPERATIONS))
        elif name == "namespace":
            col = pd.Categorical(col, categories=list(NAMESPACES))
        elif name == "origin":
            col = pd.Categorical(col, categories=list(ORIGINS))
        else:
            col = col.astype(dtype)
        out[name] = col
    return pd.DataFrame(out)


def iter_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    for p in paths:
        yield Path(p)


def load_frame(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    hosts: HostPolicy | Iterable[str] | None = None,
    on_skip: SkipHandler | None = None,
    on_progress: ProgressHandler | None = None,
) -> pd.DataFrame:
    """Load cassettes (YAML/JSON), mitmproxy flow files and HAR files into one tidy frame.

    ``hosts``: a HostPolicy (or host specs like ``"127.0.0.1:9000=voice"``) naming extra hosts
    that serve the API, for traffic recorded without chime-tap's metadata. A file that cannot
    be read raises InputError, unless ``on_skip(path, message)`` is given: then it is called
    and the file skipped. ``on_progress(bytes_done, bytes_total)`` is called as files are read.
    A dataset directory (``chime-tap ingest``) given alone loads as its frame plus ``interaction_id``.
    """
    if hosts is not None and not isinstance(hosts, HostPolicy):
        try:
            hosts = HostPolicy(list(hosts))
        except ValueError as e:
            raise InputError(f"hosts: {e}") from None
    todo = list(iter_paths(paths))
    if len(todo) == 1 and todo[0].is_dir():  # a dataset (chime-tap ingest): its rows and ids
        from chime_tap.analysis.engines import load_dataset

        return load_dataset(todo[0])
    sizes = [_size_of(p) for p in todo]
    total, done = sum(sizes), 0
    frames = []
    for path, size in zip(todo, sizes, strict=True):
        tick = None
        if on_progress is not None:

            def tick(fraction: float, start: int = done, size: int = size) -> None:
                on_progress(start + int(size * fraction), total)

        try:
            frames.append(load_file(path, hosts=hosts, tick=tick))
        except InputError as e:
            if on_skip is None:
                raise
            on_skip(str(path), str(e))
        done += size
        if on_progress is not None:
            on_progress(done, total)
    return finish(frames)


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
