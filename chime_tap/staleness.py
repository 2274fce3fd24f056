"""Stale cassettes: recorded calls that no longer fit the API as a botocore model defines it.

The model is botocore's current ``chime-sdk-voice`` ``service-2`` (or a file given instead).
For each recorded proxy-session call: is its operation still there, do its method and URI
still fit the operation's ``requestUri``, is every request member (query and body) and every
member of a 2xx answer still in its shape, is every required input member there, and is every
enum value still one of the shape's. Also: how old a cassette is, and which SDK recorded its
proxy-session calls (from the ``User-Agent``).

A request the service rejected as invalid when it was recorded (the caller says which: ``check``
passes those ``validate --allow-rejected`` accepts, a 400 BadRequestException for violations of
the request) is no sign of staleness: the recording already shows the request did not fit the
API, so its members and values are not checked against the model (its operation and URI are).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chime_tap.api.hosts import VOICE
from chime_tap.api.operations import OPERATIONS, Route, classify_path
from chime_tap.cassettes.format import Interaction
from chime_tap.cassettes.reader import refuse_special_file
from chime_tap.errors import InputError

__all__ = [
    "Finding",
    "Model",
    "check_interaction",
    "load_model",
    "parse_age",
    "recorded_by",
    "recorded_since",
]

SERVICE = "chime-sdk-voice"
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_CLIP = 60


@dataclass(frozen=True)
class Finding:
    """One way a recorded call no longer fits the model."""

    cassette: str
    index: int
    operation: str
    kind: str  # operation-removed, uri-changed, member-removed, now-required, enum-value-gone
    pointer: str  # JSON pointer into the request ("request/...") or the answer ("response/...")
    message: str

    def line(self) -> str:
        return f"{self.cassette} #{self.index} {self.operation}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Model:
    """The parts of a botocore service model a staleness check reads."""

    def __init__(self, doc: dict[str, Any], source: str) -> None:
        try:
            self.operations: dict[str, Any] = doc["operations"]
            self.shapes: dict[str, Any] = doc["shapes"]
            self.version = str(doc.get("metadata", {}).get("apiVersion", "?"))
        except (KeyError, TypeError, AttributeError):
            raise InputError(f"{source}: not a botocore service model") from None
        if not isinstance(self.operations, dict) or not isinstance(self.shapes, dict):
            raise InputError(f"{source}: not a botocore service model")
        self.source = source

    def shape(self, name: str | None) -> dict[str, Any]:
        found = self.shapes.get(name or "")
        return found if isinstance(found, dict) else {}


def load_model(path: str | None = None) -> Model:
    """botocore's newest ``chime-sdk-voice`` model, or the ``service-2.json[.gz]`` at ``path``."""
    if path is None:
        import botocore
        from botocore.loaders import Loader

        doc = Loader().load_service_model(SERVICE, "service-2")
        return Model(doc, f"botocore {botocore.__version__} {SERVICE}")
    refuse_special_file(path, InputError)  # a directory, a FIFO: named as such, as any input
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        doc = json.loads(raw)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: cannot read the model ({e})") from None
    return Model(doc, str(path))


def parse_age(text: str) -> float:
    """Seconds from ``90d``, ``12h``, ``2w``, ``30m``, ``45s``; ValueError otherwise."""
    m = _AGE.fullmatch(str(text).strip().lower())
    if m is None:
        raise ValueError(f"{text!r} is not an age (a number and a unit: s, m, h, d or w; e.g. 90d)")
    return float(m.group(1)) * _AGE_UNITS[m.group(2)]


# --- who and when -----------------------------------------------------------------------------


def sdk_of(user_agent: str | None) -> str:
    """The SDK a ``User-Agent`` names: its first product, with botocore's version if it says."""
    if not user_agent:
        return "unknown (no User-Agent)"
    tokens = user_agent.split()
    first = tokens[0]
    core = next((t for t in tokens[1:] if t.lower().startswith("botocore/")), None)
    return f"{first} ({core})" if core and not first.lower().startswith("botocore/") else first


def recorded_by(interactions: Iterable[Interaction]) -> list[str]:
    """Each SDK that made a proxy-session call of the cassette, in order of first appearance
    (not the clients of other traffic, such as the simulator's control calls)."""
    seen: dict[str, None] = {}
    for i in interactions:
        if _route(i) is not None:
            seen.setdefault(sdk_of(i.header("user-agent", response=False)), None)
    return list(seen)


def recorded_since(interactions: Iterable[Interaction], file_time: float) -> tuple[datetime, str]:
    """When the oldest call was recorded (``recorded_at``), else the file's modification time."""
    times = []
    for i in interactions:
        value = i.meta.get("recorded_at")
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                continue
            times.append(when if when.tzinfo else when.replace(tzinfo=UTC))
    if times:
        return min(times), "recorded_at"
    return datetime.fromtimestamp(file_time, UTC), "file time"


# --- one interaction against the model --------------------------------------------------------


def _template_re(template: str) -> re.Pattern[str]:
    path = template.split("?", 1)[0]
    parts = re.split(r"(\{[^}]+\})", path)
    out = ""
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            out += "(.+)" if part.endswith("+}") else "([^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out + "/?")


def _clip(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _CLIP else text[: _CLIP - 3] + "..."


def _json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class _Check:
    def __init__(self, model: Model, cassette: str, interaction: Interaction, operation: str):
        self.model, self.cassette, self.i, self.op = model, cassette, interaction, operation
        self.found: list[Finding] = []

    def add(self, kind: str, pointer: str, message: str) -> None:
        self.found.append(Finding(self.cassette, self.i.index, self.op, kind, pointer, message))

    def walk(self, value: Any, shape_name: str, pointer: str, side: str) -> None:
        shape = self.model.shape(shape_name)
        kind = shape.get("type")
        if value is None:
            return
        if kind == "structure" and isinstance(value, dict):
            members = shape.get("members") or {}
            for key, item in value.items():
                if key not in members:
                    self.add(
                        "member-removed",
                        f"{side}{pointer}/{key}",
                        f"{side} member {pointer}/{key} = {_clip(item)} is not in {shape_name} "
                        "any more",
                    )
                else:
                    self.walk(item, members[key].get("shape"), f"{pointer}/{key}", side)
        elif kind == "list" and isinstance(value, list):
            member = (shape.get("member") or {}).get("shape")
            for n, item in enumerate(value):
                self.walk(item, member, f"{pointer}/{n}", side)
        elif kind == "map" and isinstance(value, dict):
            member = (shape.get("value") or {}).get("shape")
            for key, item in value.items():
                self.walk(item, member, f"{pointer}/{key}", side)
        elif (
            kind == "string" and isinstance(value, str) and value not in shape.get("enum", [value])
        ):
            self.add(
                "enum-value-gone",
                f"{side}{pointer}",
                f"{side} value {pointer} = {value!r} is no longer one of {shape_name}'s: "
                f"{', '.join(map(str, shape['enum']))}",
            )


def _route(interaction: Interaction) -> Route | None:
    """The proxy-session operation an interaction calls, by its method and path; None for other
    traffic."""
    return classify_path(interaction.method, urlsplit(interaction.uri).path or "/", VOICE)


def check_interaction(
    model: Model, cassette: str, interaction: Interaction, *, rejected: bool = False
) -> list[Finding]:
    """Every way one recorded proxy-session call no longer fits ``model``; [] for other calls.

    ``rejected``: the service rejected the request as invalid when it was recorded; only its
    operation and URI are checked (see the module docstring).
    """
    url = urlsplit(interaction.uri)
    route = _route(interaction)
    if route is None:
        return []
    check = _Check(model, cassette, interaction, route.name)
    spec = model.operations.get(route.name)
    if not isinstance(spec, dict):
        check.add("operation-removed", "", f"the model has no operation {route.name} any more")
        return check.found
    http = spec.get("http") or {}
    method, template = str(http.get("method", "")), str(http.get("requestUri", ""))
    if method.upper() != interaction.method or not _template_re(template).fullmatch(url.path):
        check.add(
            "uri-changed",
            "",
            f"recorded as {interaction.method} {url.path}; the model now says {method} {template}",
        )
    if not rejected:
        _check_request(check, model.shape((spec.get("input") or {}).get("shape")), url.query)
    output = (spec.get("output") or {}).get("shape")
    if output and 200 <= interaction.status < 300:
        check.walk(_json(interaction.response_body), output, "", "response")
    return check.found


def _check_request(check: _Check, shape: dict[str, Any], query: str) -> None:
    members = shape.get("members") or {}
    in_query = {
        m.get("locationName"): name
        for name, m in members.items()
        if m.get("location") == "querystring"
    }
    body_members = {name for name, m in members.items() if not m.get("location")}
    given: set[str] = set()
    for wire, value in parse_qsl(query, keep_blank_values=True):
        name = in_query.get(wire)
        if name is None:
            if not _known_query(wire):
                continue
            check.add(
                "member-removed",
                f"request?{wire}",
                f"query parameter {wire}={_clip(value)} is not in the model's input any more",
            )
            continue
        given.add(name)
        check.walk(value, members[name].get("shape"), f"?{wire}", "request")
    body = _json(check.i.request_body)
    if isinstance(body, dict):
        for key, value in body.items():
            if key not in body_members:
                check.add(
                    "member-removed",
                    f"request/{key}",
                    f"request member /{key} = {_clip(value)} is not in the model's input any more",
                )
                continue
            given.add(key)
            check.walk(value, members[key].get("shape"), f"/{key}", "request")
    uri_members = {name for name, m in members.items() if m.get("location") == "uri"}
    for name in shape.get("required") or ():
        if name in uri_members or name in given or name not in members:
            continue
        where = members[name].get("location") or "body"
        check.add(
            "now-required",
            f"request/{name}",
            f"the model now requires {name} ({where}); the recorded call has none",
        )


def _known_query(wire: str) -> bool:
    """A query parameter the catalogue knew when it was recorded (others are not the API's)."""
    return any(p.wire_name == wire for op in OPERATIONS.values() for p in op.query_params)


def check_all(
    model: Model,
    cassette: str,
    interactions: Iterable[Interaction],
    rejected: Container[int] = (),
) -> Iterator[Finding]:
    """Every finding of every interaction; ``rejected``: the indexes of those whose request the
    service rejected as invalid when it was recorded."""
    for interaction in interactions:
        yield from check_interaction(
            model, cassette, interaction, rejected=interaction.index in rejected
        )
