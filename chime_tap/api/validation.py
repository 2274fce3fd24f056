"""Check one proxy-session exchange (request, status, response) against the JSON Schemas.

Two engines check the same schema documents: ``jsonschema_rs`` on the hot path (it runs on
every proxied flow) and the ``jsonschema`` library as the reference. A test holds the two to
identical verdicts.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from chime_tap import jsondoc
from chime_tap.api import schemas
from chime_tap.api.hosts import DEFAULT_HOSTS, NAMESPACES, HostPolicy
from chime_tap.api.operations import (
    DOCUMENTED_ERRORS,
    FRONT_DOOR_ERRORS,
    Route,
    error_type_from_header,
    route_of,
)
from chime_tap.cassettes.scrub import scrub_text
from chime_tap.wire import header_value

PATH = "path"
QUERY = "query"
REQUEST_BODY = "request body"
STATUS = "status"
RESPONSE_BODY = "response body"
PARTS = (PATH, QUERY, REQUEST_BODY, STATUS, RESPONSE_BODY)


@dataclass(frozen=True)
class Violation:
    """One thing wrong with an exchange, located by part and JSON pointer."""

    operation: str | None
    part: str
    pointer: str
    message: str

    def __str__(self) -> str:
        where = f"{self.part} {self.pointer}" if self.pointer else self.part
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    def errors(self, schema_name: str, instance: Any) -> list[tuple[str, str]]:
        """(JSON pointer, message) for each error; empty when the instance is valid."""
        ...


class _Compiled:
    """An engine's validators, compiled once per schema name and reused."""

    def __init__(self, compile_schema: Any) -> None:
        self._compile = compile_schema
        self._validators: dict[str, Any] = {}

    def _validator(self, name: str) -> Any:
        v = self._validators.get(name)
        if v is None:
            v = self._validators[name] = self._compile(schemas.schema_for(name))
        return v

    def is_valid(self, schema_name: str, instance: Any) -> bool:
        return self._validator(schema_name).is_valid(instance)


class FastEngine(_Compiled):
    """jsonschema-rs: compiled once per schema name, ``is_valid`` first, details only on failure.

    It compiles the schemas' patterns as Rust spells them (:func:`rust_spelling`).
    """

    def __init__(self) -> None:
        import jsonschema_rs

        super().__init__(lambda schema: jsonschema_rs.Draft202012Validator(rust_spelling(schema)))

    def errors(self, schema_name: str, instance: Any) -> list[tuple[str, str]]:
        v = self._validator(schema_name)
        if v.is_valid(instance):
            return []
        return [
            (jsondoc.pointer(e.instance_path), _plain(e.message, e.instance))
            for e in v.iter_errors(instance)
        ]


def _plain(message: str, instance: Any = None) -> str:
    """jsonschema-rs's words, where they do not tell a person what is wrong."""
    if message.startswith("Error executing regex"):  # e.g. its backtracking limit on a 10 MB value
        return f"value too long to match against its pattern ({message})"
    return _worded(message, instance)


def _worded(message: str, instance: Any) -> str:
    """An engine's message as chime-tap shows it: patterns as the reference pages write them,
    and a value too long to quote clipped, with its own length."""
    return clip(readable_patterns(message), value=instance)


# The schemas' end anchor, $(?!\n), is there for Python's re, whose $ also matches before a
# final newline. Rust's regex (jsonschema-rs) reads a plain $ as ECMA 262 does, at the very end
# only, so the two spell the same anchor; and the lookahead sends jsonschema-rs from its linear
# regex engine to its backtracking one: some 17,000 instructions more to check a ProxySession
# answer, and an error instead of a verdict on a value long enough to reach its backtracking
# limit.
_END_ANCHOR = "$(?!\\n)"
_DATA_KEYWORDS = frozenset({"const", "default", "enum", "examples"})  # instances, not schemas


def rust_spelling(schema: Any) -> Any:
    """A copy of ``schema`` whose patterns end with ``$`` instead of ``$(?!\\n)``: the same
    anchor, in jsonschema-rs's regex syntax."""
    if isinstance(schema, dict):
        return {
            key: (
                value.replace(_END_ANCHOR, "$")
                if key == "pattern" and isinstance(value, str)
                else value
                if key in _DATA_KEYWORDS
                else rust_spelling(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [rust_spelling(value) for value in schema]
    return schema


# How the schemas spell what the reference pages write (see the schema's description): an end
# anchor that Python's re and ECMA 262 read alike, and the ECMA white-space class for \s.
_SPELLED = (
    (_END_ANCHOR, "$"),
    (
        "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]",
        ".*\\S.*",  # an unanchored search for one such character: the pages' .*\S.*
    ),
)


def readable_pattern(pattern: str) -> str:
    """A schema pattern as the reference pages write it (``^$|^[a-zA-Z0-9 ]{0,30}$``)."""
    for spelled, meant in _SPELLED:
        pattern = pattern.replace(spelled, meant)
    return pattern


@cache
def _pattern_texts() -> tuple[tuple[str, str], ...]:
    """(how an engine quotes a schema pattern, how chime-tap shows it), for every pattern."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schemas.document())
    pairs = []
    for pattern in sorted(found):
        meant = readable_pattern(pattern)
        # jsonschema-rs quotes the pattern it compiled (rust_spelling), jsonschema with repr()
        rust = pattern.replace(_END_ANCHOR, "$")
        if meant != rust:
            pairs.append((f'"{rust}"', f'"{meant}"'))
        if meant != pattern:
            pairs.append((repr(pattern), repr(meant)))
    return tuple(pairs)


def readable_patterns(message: str) -> str:
    """``message`` with every schema pattern it quotes shown as the reference pages write it."""
    if "does not match" not in message:
        return message
    for quoted, meant in _pattern_texts():
        message = message.replace(quoted, meant)
    return message


class ReferenceEngine(_Compiled):
    """The jsonschema library's Draft202012Validator, built once per schema name and reused."""

    def __init__(self) -> None:
        import jsonschema

        super().__init__(jsonschema.Draft202012Validator)

    def errors(self, schema_name: str, instance: Any) -> list[tuple[str, str]]:
        found = sorted(
            self._validator(schema_name).iter_errors(instance), key=lambda e: list(e.path)
        )
        return [(jsondoc.pointer(e.path), _worded(e.message, e.instance)) for e in found]


@cache
def default_engine() -> Engine:
    return FastEngine()


MAX_MESSAGE = 300
_NO_VALUE = object()
_VALUE_HEAD, _VALUE_TAIL = 40, 12  # characters of a clipped value a message keeps


def clip(message: str, limit: int = MAX_MESSAGE, value: Any = _NO_VALUE) -> str:
    """A message of at most ``limit`` characters: schema messages quote the offending value, which
    can be a 65 KB token.

    When ``value`` (the offending value) is quoted in the message, it is the value that is
    clipped, followed by its own length: ``"xxxx ... xxxx" (70,000 characters) is longer
    than 65535 characters``. Otherwise the start and the end (where the verdict is) are kept,
    and the message says how many characters were left out.
    """
    if len(message) <= limit:
        return message
    shown = None if value is _NO_VALUE else _quoted(message, value)
    if shown is not None:
        short = f"{shown[:_VALUE_HEAD]} ... {shown[-_VALUE_TAIL:]} ({_size(value, shown)})"
        message = message.replace(shown, short, 1)
        if len(message) <= limit:
            return message
    tail = limit // 4
    head = limit - tail - len(f" ... ({len(message):,} characters left out) ... ")
    middle = f" ... ({len(message) - head - tail:,} characters left out) ... "
    return message[:head] + middle + message[-tail:]


def _quoted(message: str, value: Any) -> str | None:
    """``value`` as the message quotes it (JSON for jsonschema-rs, repr for jsonschema)."""
    candidates: list[str] = []
    with contextlib.suppress(TypeError, ValueError, RecursionError):  # a value too deep to render
        candidates.append(repr(value))
        candidates.append(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        candidates.append(json.dumps(value, ensure_ascii=False))
    for text in candidates:
        if len(text) > _VALUE_HEAD + _VALUE_TAIL + 5 and text in message:
            return text
    return None


def _size(value: Any, shown: str) -> str:
    if isinstance(value, str):
        return f"{len(value):,} characters"
    if isinstance(value, list | dict):
        things = "items" if isinstance(value, list) else "members"
        return f"{len(value):,} {things}, {len(shown):,} characters"
    return f"{len(shown):,} characters"


# --- parsing the parts ------------------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?[0-9]{1,18}")
_MISSING = object()


def parse_json_body(body: bytes | str | None) -> tuple[Any, str | None]:
    """(parsed JSON or _MISSING for an empty body, error message or None)."""
    if body is None:
        return _MISSING, None
    if isinstance(body, bytes):
        if not body.strip():
            return _MISSING, None
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as e:
            return _MISSING, f"body is not UTF-8 ({e.reason} at byte {e.start})"
    if not body.strip():
        return _MISSING, None
    try:
        return _loads(body), None
    except ValueError as e:
        return _MISSING, f"body is not valid JSON ({e})"
    except RecursionError:  # e.g. 100,000 nested brackets: refused, never a crash of the hook
        return _MISSING, "body is not valid JSON (nested too deeply)"


# json.loads' own scanner (the C one), reached without the calls and the two whitespace matches
# around it: some 8,000 instructions of the 44,000 json.loads takes on a ProxySession answer.
_scan_once = json.JSONDecoder().scan_once


def _loads(text: str) -> Any:
    """``json.loads(text)``: its scanner alone where the text is one JSON value with nothing
    around it (what services send), ``json.loads`` itself for anything else and for errors."""
    try:
        value, end = _scan_once(text, 0)
    except (StopIteration, ValueError):  # not a value at 0 (white space, a BOM), or broken
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def query_instance(query: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Query parameters as a JSON object for the schema, plus problems found on the way.

    Integers are converted (the wire carries text); presigned ``X-Amz-*`` parameters are not
    part of the API and are left out.
    """
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in query.items():
        if name.lower().startswith("x-amz-"):
            continue
        values = list(value) if isinstance(value, list | tuple) else [value]
        if len(values) != 1:
            problems.append(f"query parameter {name!r} is given {len(values)} times")
            continue
        text = values[0]
        # Only integer-typed parameters are converted: a next-token of digits stays a string.
        is_int = (
            name in _integer_query_params() and isinstance(text, str) and _INT_RE.fullmatch(text)
        )
        out[name] = int(text) if is_int else text
    return out, problems


@cache
def _integer_query_params() -> frozenset[str]:
    """Query parameter names the schemas type as integers, in any namespace."""
    defs = schemas.document()["$defs"]
    return frozenset(
        name
        for ns in NAMESPACES
        for name, prop in defs["ListQuery" + ns.capitalize()]["properties"].items()
        if prop.get("type") == "integer"
    )


# --- validation -------------------------------------------------------------------------------


@lru_cache(maxsize=64)  # bounded: it holds each engine it is asked about
def _accepts_empty(engine: Engine, schema_name: str) -> bool:
    """The engine's verdict on ``{}``, asked once per schema instead of once per call."""
    return not engine.errors(schema_name, {})


def validate_request(
    route: Route,
    *,
    query: Mapping[str, Any] | None = None,
    body: bytes | str | None = None,
    engine: Engine | None = None,
) -> list[Violation]:
    """Violations of the request: path parameters, query parameters and body."""
    engine = engine or default_engine()
    op = route.operation
    found: list[Violation] = []

    def add(part: str, pointer: str, message: str) -> None:
        found.append(Violation(op.name, part, pointer, clip(scrub_text(message))))

    for pointer, message in engine.errors(op.path_schema(route.namespace), route.path_params):
        add(PATH, pointer, message)

    q, problems = query_instance(query or {})
    for message in problems:
        add(QUERY, "", message)
    query_schema = op.query_schema(route.namespace)
    if q or not _accepts_empty(engine, query_schema):  # most calls have no query at all
        for pointer, message in engine.errors(query_schema, q):
            add(QUERY, pointer, message)

    parsed, problem = parse_json_body(body)
    if op.request_schema is None:
        if parsed is not _MISSING or problem:
            add(REQUEST_BODY, "", f"{op.name} takes no request body")
    elif problem:
        add(REQUEST_BODY, "", problem)
    elif parsed is _MISSING:
        add(REQUEST_BODY, "", f"request body is empty; {op.name} needs a JSON object")
    else:
        for pointer, message in engine.errors(op.request_schema, parsed):
            add(REQUEST_BODY, pointer, message)
    return found


# Verdicts on responses already checked: the same bytes get the same violations. A client that
# polls a session, a List that did not change, an error the service repeats: each is parsed and
# checked once. Bounded by size and count (cleared when full).
_VERDICTS: dict[tuple[Any, ...], tuple[Violation, ...]] = {}
_VERDICTS_MAX = 256
_VERDICT_BODY_MAX = 16 * 1024


def validate_response(
    route: Route,
    *,
    status: int,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> list[Violation]:
    """Violations of the response: its status code and its body (success or error)."""
    engine = engine or default_engine()
    if body is not None and len(body) > _VERDICT_BODY_MAX:
        return _validate_response(route, status, body, headers, engine)
    error_type = header_value(headers, "x-amzn-errortype") if status >= 400 else None
    key = (engine, route.operation.name, route.namespace, status, error_type, type(body), body)
    found = _VERDICTS.get(key)
    if found is None:
        found = tuple(_validate_response(route, status, body, headers, engine))
        if len(_VERDICTS) >= _VERDICTS_MAX:
            _VERDICTS.clear()
        _VERDICTS[key] = found
    return list(found)


def _validate_response(
    route: Route,
    status: int,
    body: bytes | str | None,
    headers: Mapping[str, str] | None,
    engine: Engine,
) -> list[Violation]:
    op = route.operation
    found: list[Violation] = []

    def add(part: str, pointer: str, message: str) -> None:
        found.append(Violation(op.name, part, pointer, clip(scrub_text(message))))

    parsed, problem = parse_json_body(body)
    if status < 400:
        if status != op.success_status:
            add(STATUS, "", f"{op.name} answers {op.success_status} on success, got {status}")
        response_schema = op.response_schema_for(route.namespace)
        if response_schema is None:
            if parsed is not _MISSING or problem:
                add(RESPONSE_BODY, "", f"{op.name} answers with an empty body")
        elif problem:
            add(RESPONSE_BODY, "", problem)
        elif parsed is _MISSING:
            add(RESPONSE_BODY, "", f"response body is empty; {op.name} answers with a JSON object")
        else:
            for pointer, message in engine.errors(response_schema, parsed):
                add(RESPONSE_BODY, pointer, message)
        return found

    error_type = error_type_from_header(header_value(headers, "x-amzn-errortype"))
    documented = {DOCUMENTED_ERRORS[e]: e for e in op.errors}
    if error_type in FRONT_DOOR_ERRORS:
        body_schema = "FrontDoorErrorBody"
        if status != FRONT_DOOR_ERRORS[error_type]:
            add(
                STATUS,
                "",
                f"{error_type} comes with status {FRONT_DOOR_ERRORS[error_type]}, got {status}",
            )
    else:
        body_schema = "ErrorBody"
        if status not in documented:
            codes = ", ".join(f"{c} {n}" for c, n in sorted(documented.items()))
            add(STATUS, "", f"status {status} is not a documented error of {op.name} ({codes})")
        if error_type is not None:
            if error_type not in op.errors:
                add(
                    STATUS,
                    "",
                    f"x-amzn-ErrorType {error_type} is not a documented error of {op.name}",
                )
            elif DOCUMENTED_ERRORS[error_type] != status:
                add(
                    STATUS,
                    "",
                    f"{error_type} comes with status {DOCUMENTED_ERRORS[error_type]}, got {status}",
                )
    if problem:
        add(RESPONSE_BODY, "", f"error {problem}")
    elif parsed is _MISSING:
        add(RESPONSE_BODY, "", 'error response has an empty body; expected {"Code", "Message"}')
    else:
        for pointer, message in engine.errors(body_schema, parsed):
            add(RESPONSE_BODY, pointer, message)
    return found


def validate_exchange(
    route: Route,
    *,
    query: Mapping[str, Any] | None = None,
    request_body: bytes | str | None = None,
    status: int | None = None,
    response_body: bytes | str | None = None,
    response_headers: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> list[Violation]:
    """All violations of one exchange. ``status=None`` means there was no response to check."""
    found = validate_request(route, query=query, body=request_body, engine=engine)
    if status is not None:
        found += validate_response(
            route, status=status, body=response_body, headers=response_headers, engine=engine
        )
    return found


class RecordedCall(Protocol):
    """What validation reads of a recorded interaction (``chime_tap.cassettes.format.Interaction``)."""

    method: str
    uri: str
    request_body: bytes | None
    status: int
    response_headers: dict[str, list[str]]
    response_body: bytes | None
    meta: dict[str, Any]


def route_of_interaction(
    interaction: RecordedCall, hosts: HostPolicy = DEFAULT_HOSTS
) -> Route | None:
    """The operation a recorded interaction calls (see :func:`~chime_tap.api.operations.route_of`)."""
    return route_of(
        interaction.method, interaction.uri, hosts, namespace=interaction.meta.get("namespace")
    )


BAD_REQUEST = "BadRequestException"


def rejected_as_bad_request(interaction: RecordedCall, violations: Sequence[Violation]) -> bool:
    """Whether the service answered these violations as a deliberate bad call deserves: a 400
    with a BadRequest error type, and every violation is in the request (none in the answer).

    What ``validate --allow-rejected`` accepts, and what ``check`` does not call staleness.
    """
    if interaction.status != 400 or not violations:
        return False
    if any(v.part not in (PATH, QUERY, REQUEST_BODY) for v in violations):
        return False
    values = interaction.response_headers.get("x-amzn-errortype")
    error_type = error_type_from_header(values[0] if values else None)
    if error_type is not None:
        return error_type == BAD_REQUEST
    body, _ = parse_json_body(interaction.response_body)  # no header: the body's Code says it
    return isinstance(body, dict) and body.get("Code") in ("BadRequest", BAD_REQUEST)


def validate_interaction(
    interaction: RecordedCall, hosts: HostPolicy = DEFAULT_HOSTS, engine: Engine | None = None
) -> tuple[Route | None, list[Violation]]:
    """Classify and validate one recorded interaction; (None, []) when it is not a proxy-session call."""
    route = route_of_interaction(interaction, hosts)
    if route is None:
        return None, []
    query = parse_qs(urlsplit(interaction.uri).query, keep_blank_values=True)
    headers = {k: v[0] for k, v in interaction.response_headers.items() if v}
    # status 0: the recorder saw no response (upstream failure); only the request is checked.
    status = interaction.status or None
    return route, validate_exchange(
        route,
        query=query,
        request_body=interaction.request_body,
        status=status,
        response_body=interaction.response_body,
        response_headers=headers,
        engine=engine,
    )
