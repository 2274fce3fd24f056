"""In-process replay's second path: a boto3 call answered from the cassette without HTTP.

Through vcrpy, a replayed boto3 call goes botocore → urllib3 → vcrpy's connection stub, which
rebuilds the request, asks the cassette and hands urllib3 a response object to read. That
HTTP layer is most of what replay adds to boto3's own cost. This path answers one step
earlier, where botocore hands the signed request to its HTTP session
(``URLLib3Session.send``), from the same vcrpy cassette and through its own methods: its
filters and matchers (``play_indexed``, the lookup vcrpy's stub uses), its play counts, and
``IndexedCassette.note_play`` (the test's calls, latency). Misses, reports and the file on
disk are vcrpy's, because a call this path does not answer goes on to urllib3 and vcrpy
unchanged.

It answers only when it gives what vcrpy would give (``tests/test_inprocess_fast_path.py``
replays the test corpus both ways and compares). Otherwise the call falls through, and the
reason is counted in the cassette's ``fast_path.fell_through``:

- for the whole cassette: switched off (``botocore_fast_path=False``, the
  ``chime_botocore_fast_path`` ini option); a record mode that may write (``all``,
  ``new_episodes``, ``once`` on a new file), or nothing loaded; a ``before_record_request``
  hook other than chime-tap's scrubber (it might count its calls: vcrpy runs it three times
  a call); a matcher neither chime-tap's nor one of vcrpy's own (the same: it might not be
  pure); a recorded response urllib3 would read differently (a redirect, a
  ``Transfer-Encoding``, a header that is not a plain token and ASCII value, a body that is not
  bytes); a cassette not entered through ``make_vcr``;
- for one call: vcrpy's patch for the URL's scheme answers from another cassette (a nested
  one, or botocore's patchers skipped); the client sends through a proxy; the body is streamed;
  the answer is streamed; a URL urllib3 would normalise (case, an escape, a character it
  encodes); no recorded answer (vcrpy then raises its own error, the same as always); an
  error before anything was played (vcrpy then meets it and fails its own way).

botocore's names used beyond its documented API are :data:`BOTOCORE_INTERNALS`, checked by the
same test; vcrpy's (the cassette its patched connection class holds) are in
``chime_tap.vcrpy_internals``.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from vcr import matchers as vcrpy_matchers
from vcr.errors import UnhandledHTTPRequestError

from chime_tap.matching import MATCHERS
from chime_tap.vcrpy_internals import LoadedRequest, patched_cassette

__all__ = ["BOTOCORE_INTERNALS", "FastPath", "install", "uri_of"]

# Each: (name, what this module does with it).
BOTOCORE_INTERNALS = (
    ("botocore.httpsession.URLLib3Session.send", "wraps: where the signed request is sent"),
    ("botocore.httpsession.URLLib3Session._proxy_config", "reads: whether a proxy is in use"),
    ("botocore.awsrequest.HeadersDict._dict", "reads: the request's headers, _HeaderKey._key"),
    ("botocore.awsrequest.AWSHTTPConnectionPool.ConnectionCls", "reads: vcrpy's patch, http"),
    ("botocore.awsrequest.AWSHTTPSConnectionPool.ConnectionCls", "reads: vcrpy's patch, https"),
)

# Matchers known to read only the request's method, URI, body and headers, and nothing else:
# the same live request gives the same answer however many times they run.
PURE_MATCHERS = frozenset(MATCHERS.values()) | {
    vcrpy_matchers.method,
    vcrpy_matchers.uri,
    vcrpy_matchers.host,
    vcrpy_matchers.scheme,
    vcrpy_matchers.port,
    vcrpy_matchers.path,
    vcrpy_matchers.query,
    vcrpy_matchers.raw_body,
    vcrpy_matchers.body,
    vcrpy_matchers.headers,
}

NOT_MAKE_VCR = "the cassette was not entered through make_vcr"

# A URL whose request target urllib3 sends as it is and whose host vcrpy names as written:
# lower-case host, no trailing dot, path and query of the characters urllib3 leaves alone
# (no ';', which botocore's urlparse splits off the path), escapes in upper case.
_URL = re.compile(
    r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([0-9]{1,5}))?"
    r"(/[A-Za-z0-9\-._~!$&'()*+,=:@/%]*)?(?:\?([A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*))?"
)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-F]{2})")
_DEFAULT_PORT = {"http": 80, "https": 443}
# A header line the HTTP message parser vcrpy's response uses reads back as name and value.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_MAX_HEADERS, _MAX_LINE = 100, 60_000  # http.client refuses more than 100 lines, or 64 KiB each


def uri_of(url: str) -> str | None:
    """The URI vcrpy's stub gives a request botocore sends to ``url`` (no proxy), or None
    when urllib3 would change the target or vcrpy would name the host differently."""
    m = _URL.fullmatch(url)
    if m is None:
        return None
    scheme, host, port, path, query = m.groups()
    if port is not None:
        number = int(port)
        if not 0 < number < 65536:
            return None
        port = "" if number == _DEFAULT_PORT[scheme] else f":{number}"
    target = (path or "/") + (f"?{query}" if query else "")
    if "%" in target and _BAD_ESCAPE.search(target):
        return None
    return f"{scheme}://{host}{port or ''}{target}"


def plain_answer(response: Any) -> tuple[int, dict[str, str], bytes] | str:
    """(status, headers as botocore reads them, body) of a recorded response, or why urllib3
    and vcrpy's response object would give botocore something else."""
    refusal = answer_refusal(response)
    if refusal is not None:
        return refusal
    return _answer_of(response)


def answer_refusal(response: Any) -> str | None:
    """Why urllib3 and vcrpy's response object would give botocore something else than
    :func:`plain_answer` builds from a recorded response; None: they would not."""
    try:
        status, headers, body = response["status"]["code"], response["headers"], response["body"]
        body = body["string"]
    except (KeyError, TypeError):
        return "a response without status, headers or body"
    if type(status) is not int or not (200 <= status < 300 or 400 <= status < 600):
        return f"status {status!r}"
    if type(body) is not bytes:
        return "a body that is not bytes"
    if type(headers) is not dict:
        return "headers that are not a mapping"
    lines = 0
    for name, values in headers.items():
        if name not in _PLAIN_NAMES:
            refusal = _name_refusal(name)
            if refusal is not None:
                return refusal
            if len(_PLAIN_NAMES) < 1024:  # a hostile cassette's names do not fill memory
                _PLAIN_NAMES.add(name)
        if type(values) is not list:
            return f"header {name} is not a list"
        for value in values:
            # What the HTTP message parser reads back as it was: printable ASCII, no leading
            # space (it strips one), a line http.client reads.
            if not (
                type(value) is str
                and value.isascii()
                and value.isprintable()
                and value[:1] != " "
                and len(name) + len(value) <= _MAX_LINE
            ):
                return f"header {name} value {value!r}"
        lines += len(values)
    if lines > _MAX_HEADERS:
        return f"{lines} header lines, more than http.client reads"
    return None


_PLAIN_NAMES: set[str] = set()  # header names found plain


def _name_refusal(name: Any) -> str | None:
    if type(name) is not str or not _TOKEN.fullmatch(name):
        return f"header name {name!r}"
    if name.lower() == "transfer-encoding":
        return "a Transfer-Encoding header (vcrpy removes it from the cassette's data)"
    return None


def _answer_of(response: Any) -> tuple[int, dict[str, str], bytes]:
    """A plain response as botocore reads vcrpy's: each header name once, its first spelling,
    with the first value recorded under any spelling of it."""
    first: dict[str, tuple[str, str]] = {}
    for name, values in response["headers"].items():
        if values:
            lowered = name.lower()
            if lowered not in first:
                first[lowered] = (name, values[0])
    return response["status"]["code"], dict(first.values()), response["body"]["string"]


class _Raw:
    """What botocore reads a body from (``AWSResponse.raw.stream()``)."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class FastPath:
    """One cassette's second path: whether it may answer, what it answered, why it did not."""

    def __init__(self, cassette: Any, refusal: str | None) -> None:
        self.cassette = cassette
        self.configured_refusal = refusal
        self.answered = 0
        self.fell_through: Counter[str] = Counter()
        self._refusal: str | None = None
        self._checked = False  # whether the cassette was looked over (on its first call)
        self._unplain: tuple[int, str] | None = None  # the first response answered otherwise

    @property
    def refusal(self) -> str | None:
        """Why no call of this cassette is answered here (None: calls may be)."""
        if not self._checked:
            self._refusal = self._cassette_refusal()
            self._checked = True
        return self._refusal

    def _cassette_refusal(self) -> str | None:
        cassette = self.cassette
        if self.configured_refusal:
            return self.configured_refusal
        mode = getattr(cassette.record_mode, "value", cassette.record_mode)
        if mode not in ("none", "once"):
            return f"record mode {mode} may write the cassette"
        if cassette.loaded == 0 or len(cassette.data) != cassette.loaded:
            return "no interaction loaded from the file"  # once on a new file records
        for m in cassette.match_on:
            if m not in PURE_MATCHERS:
                return f"matcher {getattr(m, '__name__', m)!r} is not chime-tap's or vcrpy's"
        if self._unplain is not None:
            position, refusal = self._unplain
            return f"recorded response {cassette.label_of(position)}: {refusal}"
        return None

    def note_loaded(self, position: int, response: Any) -> None:
        """Look a response over as the cassette loads it (its position in ``data``): one the
        fast path would answer otherwise than vcrpy sends the whole cassette through vcrpy."""
        if self._unplain is None and self.configured_refusal is None:
            refusal = answer_refusal(response)
            if refusal is not None:
                self._unplain = (position, refusal)

    def _fall(self, reason: str) -> None:
        self.fell_through[reason] += 1

    def answer(self, session: Any, request: Any) -> Any:
        """botocore's response to ``request`` from the cassette, or None: vcrpy's turn."""
        refusal = self.refusal
        if refusal is not None:
            return self._fall(refusal)
        if request.stream_output:
            return self._fall("a streamed answer")
        body = request.body
        if not (body is None or isinstance(body, bytes | str)):
            return self._fall("a streamed body")
        proxies = getattr(getattr(session, "_proxy_config", None), "_proxies", None)
        if proxies is None or (proxies and session._proxy_config.proxy_url_for(request.url)):
            return self._fall("a proxy")
        headers = request.headers
        if "Transfer-Encoding" in headers:
            return self._fall("a chunked request")
        uri = uri_of(request.url)
        if uri is None:
            return self._fall("a URL urllib3 would normalise")
        live = LoadedRequest.sent(request.method, uri, body, _items(headers))
        plays = self.cassette.plays_noted
        try:
            _, recorded = self.cassette.play_indexed(live)
        except UnhandledHTTPRequestError:
            return self._fall("no recorded answer")
        except Exception as e:
            if self.cassette.plays_noted == plays:  # nothing played: vcrpy fails its own way
                return self._fall(f"an error: {type(e).__name__}")
            # Played, then failed (noting the play): botocore's session wraps it so.
            from botocore.exceptions import HTTPClientError

            raise HTTPClientError(error=e) from e
        status, answer_headers, answer_body = _answer_of(recorded)
        self.answered += 1
        response = _response_class()(request.url, status, answer_headers, _Raw(answer_body))
        response.content  # noqa: B018 - read now, as botocore's session does
        return response


def _items(headers: Any) -> Any:
    """(name, value) of botocore's ``HeadersDict``, without a lookup per name."""
    table = getattr(headers, "_dict", None)
    if type(table) is dict:
        return ((key._key, value) for key, value in table.items())
    return headers.items()


@functools.cache
def _response_class() -> type:
    from botocore.awsrequest import AWSResponse

    return AWSResponse


_installed: list[Any] = []  # the send it wraps, once installed


def install() -> None:
    """Wrap botocore's ``URLLib3Session.send`` (once per process): a call goes to the cassette
    vcrpy's patch holds when that cassette's fast path answers it, else on to urllib3.

    Outside a cassette (vcrpy's patch not in place) the wrapper only calls the original.
    """
    if _installed:
        return
    from botocore.httpsession import URLLib3Session

    original = URLLib3Session.send

    def send(self: Any, request: Any) -> Any:
        fast = getattr(patched_cassette(request.url), "fast_path", None)
        if fast is not None:
            response = fast.answer(self, request)
            if response is not None:
                return response
        return original(self, request)

    send.__wrapped__ = original  # type: ignore[attr-defined]
    URLLib3Session.send = send
    _installed.append(original)
