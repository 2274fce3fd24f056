"""vcrpy's internals chime-tap relies on (``chime_tap.vcrpy_internals.INTERNALS``) are still there.

Each internal has one check here. A check takes the vcrpy class it inspects, so the checks are
themselves tested on fakes that changed the way a new vcrpy might. A failure names the
internal, the vcrpy version, and what chime-tap does with it.
"""

from __future__ import annotations

import ast
import copy
import http.client
import inspect
import tempfile
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import vcr
import vcr.matchers
from vcr.cassette import Cassette
from vcr.errors import CannotOverwriteExistingCassetteException, UnhandledHTTPRequestError
from vcr.matchers import requests_match
from vcr.record_mode import RecordMode
from vcr.request import HeadersDict, Request

import chime_tap.vcrpy_internals
from chime_tap.vcrpy_internals import (
    INTERNALS,
    CassetteClassVCR,
    Internal,
    LoadedRequest,
    patched_cassette,
)

ROOT = Path(__file__).resolve().parent.parent
BOUNDARY = Path(chime_tap.vcrpy_internals.__file__).resolve()


def changed(internal: Internal, problem: str, version: str = vcr.__version__) -> str:
    return (
        f"vcrpy {version} changed {internal.name} ({internal.where} {internal.use} it): {problem}"
    )


def _expect(condition: Any, problem: str) -> None:
    if not condition:
        raise AssertionError(problem)


def problem_with(check: Callable[..., None], *target: Any) -> str | None:
    """What ``check`` found wrong (a missing name or a changed signature too), or None."""
    try:
        check(*target)
    except AssertionError as e:
        return str(e)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None


def _params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def _request(uri: str = "https://h.example/p?q=1") -> Request:
    return Request("POST", uri, b'{"a": 1}', {"Content-Type": "application/json"})


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):  # urlparse's result too
        return all(_immutable(v) for v in value)
    return isinstance(value, str | bytes | bool | int | float | frozenset | type(None))


# --- one check per internal: None, or AssertionError("what differs") --------------------------


def check_headers_store(headers_class: type = HeadersDict) -> None:
    headers = headers_class({"Content-Type": "a", "X-Amz-Date": "b"})
    store = getattr(headers, "_store", None)
    expected = {"content-type": ("Content-Type", "a"), "x-amz-date": ("X-Amz-Date", "b")}
    _expect(store == expected, f"_store is {store!r}, not lower-case name -> (name, value)")
    _expect(
        set(vars(headers)) == {"_store"},
        f"a HeadersDict keeps {sorted(vars(headers))}, not _store alone: a copy of _store is partial",
    )
    rebuilt = headers_class.__new__(headers_class)
    rebuilt._store = dict(store)
    _expect(
        dict(rebuilt) == dict(headers) and rebuilt["content-type"] == "a",
        "a HeadersDict around a copy of _store reads differently from the original",
    )


def check_request_headers(request_class: type = Request) -> None:
    request = request_class("POST", "https://h.example/p?q=1", b"{}", {"A": ["b"]})
    state = vars(request)
    _expect(state.get("_headers") is request.headers, "Request.headers is not kept in _headers")
    mutable = {k: type(v).__name__ for k, v in state.items() if k != "_headers"}
    mutable = {k: t for k, t in mutable.items() if not _immutable(state[k])}
    _expect(
        not mutable, f"a Request keeps mutable state besides _headers, {mutable}: copies share it"
    )
    loaded = LoadedRequest("POST", "https://h.example/p?q=1", b"{}", {"A": ["b"]})
    copied, theirs = copy.deepcopy(loaded), copy.deepcopy(request_class(**_fields(loaded)))
    _expect(_fields(copied) == _fields(theirs), "a copied LoadedRequest differs from vcrpy's copy")
    copied.headers["A"] = "changed"
    _expect(loaded.headers["A"] == "b", "a copied LoadedRequest shares its header table")


def _fields(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "uri": request.uri,
        "body": request.body,
        "headers": dict(request.headers),
    }


def check_cassette_responses(cassette_class: type = Cassette) -> None:
    _expect(_params(cassette_class._responses) == ["self", "request"], "not (self, request)")

    class Probe(cassette_class):
        def _responses(self, request: Request) -> Iterator[tuple[int, Any]]:
            yield 0, self.data[0][1]

    cassette = Probe("probe.yaml", match_on=(vcr.matchers.uri,))
    # Recorded for another URI: only the override can answer with it.
    cassette.data.append((_request("https://other.example/"), {"probe": "answer"}))
    cassette.rewound = True
    request = _request()
    _expect(request in cassette, "`request in cassette` does not consult _responses")
    _expect(cassette.can_play_response_for(request), "can_play_response_for does not consult it")
    _expect(
        cassette.play_response(request) == {"probe": "answer"}, "play_response does not consult it"
    )


def check_match_on(cassette_class: type = Cassette) -> None:
    matchers = (vcr.matchers.method, vcr.matchers.path)
    got = getattr(cassette_class("probe.yaml", match_on=matchers), "_match_on", None)
    _expect(
        got is not None and tuple(got) == matchers, f"Cassette(match_on=m)._match_on is {got!r}"
    )


def check_use_cassette(vcr_class: type = vcr.VCR) -> None:
    theirs = inspect.signature(vcr_class._use_cassette)
    ours = inspect.signature(CassetteClassVCR._use_cassette)
    _expect(
        _shape(theirs) == _shape(ours),
        f"it is _use_cassette{theirs}, overridden as _use_cassette{ours}",
    )
    calls = []

    class Probe(vcr_class):
        def _use_cassette(self, with_current_defaults: bool = False, **kwargs: Any):
            calls.append((with_current_defaults, kwargs))
            return lambda function: function

    probe = Probe()
    probe.use_cassette("x.yaml", record_mode="none")
    probe.use_cassette(lambda: None)  # as a decorator
    probe.use_cassette("x.yaml", with_current_defaults=True)
    expected_calls = [
        (False, {"path": "x.yaml", "record_mode": "none"}),
        (False, {}),
        (True, {"path": "x.yaml"}),
    ]
    _expect(calls == expected_calls, f"use_cassette called it as {calls}, not {expected_calls}")


def check_cassette_use(cassette_class: type = Cassette) -> None:
    _check_use(cassette_class, lambda cls, path: cls.use(path=path, record_mode=RecordMode.NONE))


def check_cassette_use_arg_getter(cassette_class: type = Cassette) -> None:
    settings = {"record_mode": RecordMode.NONE}
    _check_use(
        cassette_class,
        lambda cls, path: cls.use_arg_getter(lambda: {"path": path, **settings}),
    )


def _check_use(cassette_class: type, use: Callable[[type, str], Any]) -> None:
    class Probe(cassette_class):
        pass

    with tempfile.TemporaryDirectory() as tmp, use(Probe, str(Path(tmp) / "absent.yaml")) as cas:
        _expect(type(cas) is Probe, f"the context it returns enters a {type(cas).__name__}")


def check_data(cassette_class: type = Cassette) -> None:
    cassette = cassette_class("probe.yaml")
    _expect(cassette.data == [], f"a new Cassette's data is {cassette.data!r}, not []")
    request = _request()
    cassette.append(request, {"status": {"code": 200}})
    _expect(
        cassette.data == [(request, {"status": {"code": 200}})] and len(cassette) == 1,
        f"append(request, response) left data as {cassette.data!r}",
    )


def check_play_counts(cassette_class: type = Cassette) -> None:
    cassette = cassette_class("probe.yaml", record_mode=RecordMode.NONE)
    cassette.append(_request("https://h.example/first"), {"n": 0})
    cassette.append(_request(), {"n": 1})
    cassette.rewound = True
    cassette.play_response(_request())
    counts = dict(cassette.play_counts)
    _expect(counts == {1: 1}, f"playing data[1] once left play_counts as {counts}, not {{1: 1}}")


def check_most_matches(cassette_class: type = Cassette) -> None:
    method = cassette_class.find_requests_with_most_matches
    _expect(_params(method) == ["self", "request"], "not (self, request)")
    asked = []

    class Probe(cassette_class):
        def find_requests_with_most_matches(self, request: Request) -> list:
            asked.append(request)
            return [(self.data[0][0], ["method"], [("uri", "PROBE-DIFFERENCE")])]

    cassette = Probe("probe.yaml", record_mode=RecordMode.NONE)
    cassette.append(_request("https://other.example/"), {"n": 0})
    cassette.rewound = True
    request = _request()
    text = str(CannotOverwriteExistingCassetteException(cassette=cassette, failed_request=request))
    _expect(asked and asked[0] is request, "a miss no longer asks it for the closest requests")
    _expect("PROBE-DIFFERENCE" in text, "a miss no longer shows the (request, ok, failed) it gives")


def check_play_response(cassette_class: type = Cassette) -> None:
    _expect(_params(cassette_class.play_response) == ["self", "request"], "not (self, request)")
    asked: list[str] = []

    class Probe(cassette_class):
        def __contains__(self, request: Request) -> bool:
            asked.append("in")
            return True  # no recorded match: only the overrides can answer

        def play_response(self, request: Request) -> Any:
            asked.append("play_response")
            answer = {"status": {"code": 200, "message": "OK"}, "headers": {}}
            return {**answer, "body": {"string": b"PROBE-ANSWER"}}

    with (
        tempfile.TemporaryDirectory() as tmp,
        Probe.use(path=str(Path(tmp) / "absent.yaml"), record_mode=RecordMode.NONE) as cas,
    ):
        cas.rewound = True  # as after loading a recorded cassette
        connection = http.client.HTTPConnection("h.example", 80)
        try:
            connection.request("GET", "/p")
            body = connection.getresponse().read()
        except Exception as e:
            body = f"{type(e).__name__}: {e}".encode()
    _expect("in" in asked, "an HTTP stub no longer asks `request in cassette` before playing")
    _expect(
        asked[-1:] == ["play_response"] and body == b"PROBE-ANSWER",
        f"an HTTP stub no longer answers with play_response (asked {asked}, got {body[:80]!r})",
    )


def check_connection_cassette(cassette_class: type = Cassette) -> None:
    urls = ("https://h.example/p", "http://h.example/p")
    with (
        tempfile.TemporaryDirectory() as tmp,
        cassette_class.use(path=str(Path(tmp) / "absent.yaml"), record_mode=RecordMode.NONE) as cas,
    ):
        found = [patched_cassette(url) for url in urls]
        _expect(
            found == [cas, cas], f"botocore's connection classes name {found}, not the cassette"
        )
    after = [patched_cassette(url) for url in urls]
    _expect(after == [None, None], f"after the cassette, botocore's classes still name {after}")


CHECKS: dict[str, Callable[..., None]] = {
    "HeadersDict._store": check_headers_store,
    "Request._headers": check_request_headers,
    "Cassette._responses": check_cassette_responses,
    "Cassette._match_on": check_match_on,
    "VCR._use_cassette": check_use_cassette,
    "Cassette.use": check_cassette_use,
    "Cassette.use_arg_getter": check_cassette_use_arg_getter,
    "Cassette.data": check_data,
    "Cassette.play_counts": check_play_counts,
    "Cassette.find_requests_with_most_matches": check_most_matches,
    "Cassette.play_response": check_play_response,
    "VCRConnection.cassette": check_connection_cassette,
}


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda i: i.name)
def test_vcrpy_still_has(internal: Internal) -> None:
    check = CHECKS.get(internal.name)
    if check is None:
        pytest.fail(f"{internal.name} is in INTERNALS with no check: add one to CHECKS", False)
    problem = problem_with(check)
    if problem:
        pytest.fail(changed(internal, problem), pytrace=False)


def test_every_check_is_of_a_listed_internal() -> None:
    assert set(CHECKS) == {i.name for i in INTERNALS}


def test_the_boundary_docstring_names_every_internal() -> None:
    doc = chime_tap.vcrpy_internals.__doc__
    assert [i.name for i in INTERNALS if f"``{i.name}``" not in doc] == []


# --- the checks fail when vcrpy changes: fakes that changed as a new vcrpy might --------------


class _StoreRenamed(MutableMapping):
    """A header table like HeadersDict whose storage is no longer ``_store``."""

    def __init__(self, data: Any = None) -> None:
        self._table = {k.lower(): (k, v) for k, v in dict(data or {}).items()}

    def __getitem__(self, key: str) -> Any:
        return self._table[key.lower()][1]

    def __setitem__(self, key: str, value: Any) -> None:
        self._table[key.lower()] = (key, value)

    def __delitem__(self, key: str) -> None:
        del self._table[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._table.values())

    def __len__(self) -> int:
        return len(self._table)


class _HeadersElsewhere(Request):
    @property
    def headers(self) -> HeadersDict:
        return self._header_table

    @headers.setter
    def headers(self, value: Any) -> None:
        self._header_table = HeadersDict(value)


class _WalksData(Cassette):
    """A Cassette that plays by walking ``data``, never consulting ``_responses``."""

    def _walk(self, request: Request) -> Iterator[tuple[int, Any]]:
        for n, (stored, response) in enumerate(self.data):
            if requests_match(request, stored, self._match_on):
                yield n, response

    def __contains__(self, request: Request) -> bool:
        return any(True for _ in self._walk(request))

    def play_response(self, request: Request) -> Any:
        for _, response in self._walk(request):
            return response
        raise UnhandledHTTPRequestError("no match")


class _MatchOnRenamed(Cassette):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._matchers = vars(self).pop("_match_on")


class _UseCassetteTakesPath(vcr.VCR):
    def _use_cassette(self, path: str | None = None, **kwargs: Any):
        return super()._use_cassette(path=path, **kwargs)


class _UseReturnsPlainCassettes(Cassette):
    @classmethod
    def use(cls, **kwargs: Any):
        return Cassette.use(**kwargs)

    @classmethod
    def use_arg_getter(cls, arg_getter: Callable[[], dict]):
        return Cassette.use_arg_getter(arg_getter)


class _DataRenamed(Cassette):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interactions = vars(self).pop("data")


class _CountsByRequest(Cassette):
    def play_response(self, request: Request) -> Any:
        for _, response in self._responses(request):
            self.play_counts[request.uri] += 1
            return response
        raise UnhandledHTTPRequestError("no match")


class _PlaysWithoutAsking(Cassette):
    """A Cassette whose play check walks ``data`` itself, never asking ``in``."""

    def can_play_response_for(self, request: Request) -> bool:
        return any(requests_match(request, r, self._match_on) for r, _ in self.data)


class _ExplainsWithoutAsking(Cassette):
    def find_requests_with_most_matches(self, request: Request, limit: int = 3) -> list:
        return []


class _PatchesNoBotocore(Cassette):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_patchers = ("boto3",)


FAKES: dict[str, type] = {
    "HeadersDict._store": _StoreRenamed,
    "Request._headers": _HeadersElsewhere,
    "Cassette._responses": _WalksData,
    "Cassette._match_on": _MatchOnRenamed,
    "VCR._use_cassette": _UseCassetteTakesPath,
    "Cassette.use": _UseReturnsPlainCassettes,
    "Cassette.use_arg_getter": _UseReturnsPlainCassettes,
    "Cassette.data": _DataRenamed,
    "Cassette.play_counts": _CountsByRequest,
    "Cassette.find_requests_with_most_matches": _ExplainsWithoutAsking,
    "Cassette.play_response": _PlaysWithoutAsking,
    "VCRConnection.cassette": _PatchesNoBotocore,
}


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda i: i.name)
def test_the_check_fails_when_vcrpy_changes_the_internal(internal: Internal) -> None:
    problem = problem_with(CHECKS[internal.name], FAKES[internal.name])
    assert problem, f"the check of {internal.name} passes on {FAKES[internal.name].__name__}"
    message = changed(internal, problem, version="10.0.0")
    assert message.startswith(f"vcrpy 10.0.0 changed {internal.name} ({internal.where} ")


def test_every_internal_has_a_fake_its_check_fails_on() -> None:
    assert set(FAKES) == {i.name for i in INTERNALS}


def test_the_message_names_the_internal_the_version_and_the_use() -> None:
    responses = next(i for i in INTERNALS if i.name == "Cassette._responses")
    assert changed(responses, "gone", version="10.0.0") == (
        "vcrpy 10.0.0 changed Cassette._responses (chime_tap/vcrpy_internals.py overrides it): gone"
    )


# --- only the boundary uses vcrpy's private names ---------------------------------------------


def _vcrpy_private_names() -> set[str]:
    """The private (single underscore) names of vcrpy's Cassette, VCR, Request and HeadersDict."""
    probes = [
        Cassette("probe.yaml"),
        vcr.VCR(),
        _request(),
        HeadersDict(),
        Cassette,
        vcr.VCR,
        Request,
        HeadersDict,
    ]
    names = {n for probe in probes for n in dir(probe)}
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _private_uses(source: str, private: set[str]) -> list[tuple[int, str]]:
    """Attribute reads/writes and method definitions in ``source`` that use a name in ``private``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in private:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in private:
                    found.append((item.lineno, item.name))
    return found


def test_no_module_but_the_boundary_uses_a_vcrpy_private_name() -> None:
    private = _vcrpy_private_names()
    paths = [p for d in ("chime_tap", "addons", "analysis") for p in (ROOT / d).rglob("*.py")]
    uses = {
        str(p.relative_to(ROOT)): found
        for p in paths
        if p.resolve() != BOUNDARY and (found := _private_uses(p.read_text("utf-8"), private))
    }
    assert uses == {}, f"vcrpy private names outside {BOUNDARY.name} (move them there): {uses}"


def test_the_private_name_scan_finds_a_use() -> None:
    source = "class C(Cassette):\n    def _responses(self, r):\n        return self._match_on\n"
    assert _private_uses(source, {"_responses", "_match_on"}) == [
        (2, "_responses"),
        (3, "_match_on"),
    ]
