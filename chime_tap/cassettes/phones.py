"""Phone-number pseudonyms: what ``--redact-phone-numbers`` puts on disk instead of real numbers.

The same number with the same key always gets the same pseudonym, so a redacted cassette still
validates and replays. A valid E.164 number gets a valid E.164 pseudonym; any other value of a
phone field keeps its format with other digits, so it breaks the schema the same way. Numbers
are also replaced wherever the interaction quotes them (violation and error messages).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

PHONE_KEYS = frozenset({"PhoneNumber", "ProxyPhoneNumber", "ParticipantPhoneNumbers"})
# ASCII digits and fullmatch: re's \d takes any Unicode digit and $ a trailing newline.
_E164 = re.compile(r"\+?[1-9][0-9]{1,14}")
_PLUS_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# A number quoted inside free text (an error message): at least 8 digits, so that a
# timestamp's "+10:00" offset is left alone.
_PHONE_IN_TEXT = re.compile(r"\+[1-9][0-9]{6,14}\b")
# A +E.164 number that is a whole path segment or query value ("%2B" is how clients send "+").
_PHONE_IN_URI = re.compile(r"(?<=[/=])(\+|%2[Bb])([1-9][0-9]{6,14})(?=$|[/?&#;])")
# The same number URL-encoded inside free text (a message quoting a path): as the URI has it.
_ENCODED_PHONE_IN_TEXT = re.compile(r"(%2[Bb])([1-9][0-9]{6,14})\b")
# A +number cut short where a value was clipped for length (a diff's "+12065..."): no longer a
# number to pseudonymize, but its first digits are the real one's, so they are dropped.
_CLIPPED_PHONE = re.compile(r"\+[0-9]+(?=\.\.\.\Z)")
_DIGIT = re.compile(r"\d")  # any Unicode decimal digit (category Nd), like str.isdecimal
# A phone-field value with fewer digits is not a number anybody can be found by: it is
# pseudonymized in place but not hunted for in free text, where so short a string would
# hit ids, pointers and dates.
_MIN_QUOTED_DIGITS = 4
DEFAULT_REDACT_KEY = b"chime-tap default pseudonym key"
REDACT_KEY_ENV = "CHIME_TAP_REDACT_KEY"
_SHAPED_DOMAIN = b"chime-tap shaped pseudonym\x00"
_QUOTES = frozenset("\"'\\")
_TRIPLETS = tuple(f"{b:03d}" for b in range(256))
# ITU-T E.164's country code 999 is "reserved for future global service": never assigned, so
# no number under it is anybody's. tests/test_hostile_phones.py checks with the phonenumbers
# library that it knows no region or service for it and that no pseudonym is a valid number.
PSEUDONYM_COUNTRY_CODE = "999"


def redact_key() -> bytes:
    """The pseudonym key: ``$CHIME_TAP_REDACT_KEY`` or a fixed default.

    With the default key the mapping is stable across machines (so a cassette recorded here
    replays there) but not secret: numbers are few enough to brute-force. Set a key to make
    the pseudonyms unlinkable to the real numbers.
    """
    env = os.environ.get(REDACT_KEY_ENV)
    return env.encode("utf-8") if env else DEFAULT_REDACT_KEY


def pseudonymize_phone(number: str, key: bytes | None = None) -> str:
    """A pseudonym for what a client sent as a phone number: same input and key, same output.

    An E.164 number gets a fake E.164 number under a country code no country has (+999): the
    leading ``+`` (if any) and the length are kept, the digits after the code come from an
    HMAC. (A number of 3 digits or fewer is no dialable number: it gets "9" and HMAC digits.) Any other string with digits in it
    keeps its shape (length, every non-digit character, the script of every digit, whether
    the first digit is 0) and has its digits replaced, so a malformed number stays exactly as
    malformed (and fails validation the same way) without its real digits. A string without
    digits comes back as it is.
    """
    if not _E164.fullmatch(number):
        return _pseudonymize_shape(number, key or redact_key())
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    mac = hmac.new(key or redact_key(), digits.encode("ascii"), hashlib.sha256).digest()
    # Each byte as three decimal digits; only as many bytes as the length needs.
    stream = "".join(map(_TRIPLETS.__getitem__, mac[: (len(digits) + 2) // 3]))
    # The country code comes first in every E.164 number, and PSEUDONYM_COUNTRY_CODE is no
    # country's: ITU-T has never assigned it, so no number under it can be dialled. (The old
    # pseudonyms kept the first digit and wrote "99" after it: +4 became +499..., Germany.)
    prefix = PSEUDONYM_COUNTRY_CODE if len(digits) > len(PSEUDONYM_COUNTRY_CODE) else "9"
    return plus + (prefix + stream)[: len(digits)]


def _pseudonymize_shape(text: str, key: bytes) -> str:
    """``text`` with each decimal digit replaced by a different digit of the same script.

    The offsets come from an HMAC of the digits' values, so one number written two ways
    ("206-555-0100", "(206) 555-0100") gets the same digits in both. Every digit changes (a
    leading 0 excepted, which stays 0 so that a number that must not start with 0 still
    does): none of the real digits is left in place.
    """
    if not _DIGIT.search(text):
        return text
    positions = [i for i, c in enumerate(text) if c.isdecimal()]
    values = [unicodedata.decimal(text[i]) for i in positions]
    mac = hmac.new(key, _SHAPED_DOMAIN + bytes(48 + v for v in values), hashlib.sha256).digest()
    offsets = hashlib.shake_256(mac).digest(len(positions))
    out = list(text)
    for n, (i, value, offset) in enumerate(zip(positions, values, offsets, strict=True)):
        if n == 0 and value == 0:
            continue
        # Shift by 1-9 (mod 10): never the same digit. The first digit shifts by 1-8 within
        # 1-9 (mod 9), so it stays non-zero.
        new = 1 + (value + offset % 8) % 9 if n == 0 else (value + 1 + offset % 9) % 10
        out[i] = chr(ord(text[i]) - value + new)
    return "".join(out)


def _quoted_forms(value: str) -> Iterator[str]:
    """How a string is spelled inside other text: as it is, JSON-escaped, Python repr'd.

    Validators quote the value they reject: jsonschema-rs as JSON, jsonschema with repr.
    """
    yield value
    if value.isascii() and value.isprintable() and not _QUOTES.intersection(value):
        return  # every spelling is the same
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    yield json.dumps(value)[1:-1]
    yield repr(value)[1:-1]


class _Pseudonyms:
    """One interaction's phone numbers: their pseudonyms, and how to find them in free text."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.quoted: dict[str, str] = {}  # original (as spelled in text) -> pseudonym
        # The first digits of every spelling in ``quoted``: a string whose digits hold none of
        # them quotes none, and is passed over without a search per spelling.
        self._leads: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._fakes: dict[str, str] = {}

    def fake(self, number: str) -> str:
        """``pseudonymize_phone(number)``, computed once per interaction."""
        fake = self._fakes.get(number)
        if fake is None:
            fake = self._fakes[number] = pseudonymize_phone(number, self.key)
        return fake

    def learn(self, value: Any) -> None:
        """Remember the numbers in ``value``'s phone fields (parsed JSON).

        May raise RecursionError on JSON nested too deeply to walk.
        """
        # An integer is quoted as its digits, and pseudonymized as the string of them is.
        strings: set[str] = set()
        _phone_field_values(value, False, strings)
        # Sorted, and every number as it is before any escaped spelling: the table does not
        # depend on the order of the body's members (replay recomputes it from a re-sorted body).
        found = []
        for original in sorted(strings):
            fake = self.fake(original)
            if fake != original and len(_digits_of(original)) >= _MIN_QUOTED_DIGITS:
                found.append(list(zip(_quoted_forms(original), _quoted_forms(fake), strict=True)))
        for spellings in itertools.zip_longest(*found):
            for spelling in spellings:
                if spelling is not None:
                    self.quoted.setdefault(*spelling)
                    self._leads.add(_digits_of(spelling[0])[:_MIN_QUOTED_DIGITS])
        self._pattern = None

    def _may_quote(self, text: str) -> bool:
        if len(self.quoted) <= 8:  # a search per spelling is cheaper than the digits' index
            return bool(self.quoted)
        digits = _digits_of(text)
        n = _MIN_QUOTED_DIGITS
        return any(digits[i : i + n] in self._leads for i in range(len(digits) - n + 1))

    def text(self, text: str) -> str:
        """Free text with the known numbers and any quoted +E.164 number pseudonymized."""
        if not self._may_quote(text) or not any(form in text for form in self.quoted):
            return _PHONE_IN_TEXT.sub(self._replace, text)
        if self._pattern is None:
            # Longest first, one pass: a pseudonym written in is never replaced again.
            forms = sorted(self.quoted, key=lambda f: (-len(f), f))
            known = "|".join(re.escape(f) for f in forms)
            self._pattern = re.compile(
                rf"(?P<known>(?<!\d)(?:{known})(?!\d))|{_PHONE_IN_TEXT.pattern}"
            )
        return self._pattern.sub(self._replace, text)

    def meta_text(self, text: str) -> str:
        """A string of the metadata (a message, a note, a difference): :meth:`text`, and a
        URL-encoded +number it quotes (a path) as the URI's rule writes it; a number cut off
        where the value was clipped (``"+12065...``) keeps none of its digits (``"+...``)."""
        if text.endswith("..."):
            text = _CLIPPED_PHONE.sub("+", text)
        text = self.text(text)
        if "%2" in text:
            text = _ENCODED_PHONE_IN_TEXT.sub(self._replace_encoded, text)
        return text

    def _replace_encoded(self, m: re.Match[str]) -> str:
        return m.group(1) + self.fake("+" + m.group(2))[1:]

    def _replace(self, m: re.Match[str]) -> str:
        if m.lastgroup == "known":
            return self.quoted[m.group(0)]
        return self.fake(m.group(0))

    def walk(self, node: Any, phone_context: bool = False) -> Any:
        """Parsed JSON with phone fields pseudonymized and numbers in other strings replaced."""
        if isinstance(node, dict):
            return {k: self.walk(v, phone_context or k in PHONE_KEYS) for k, v in node.items()}
        if isinstance(node, list):
            return [self.walk(v, phone_context) for v in node]
        if isinstance(node, str):
            if phone_context or _PLUS_E164.fullmatch(node):
                return self.fake(node)
            return self.text(node)
        if phone_context and isinstance(node, int) and not isinstance(node, bool):
            return int(self.fake(str(node)))
        return node


def _digits_of(text: str) -> str:
    return "".join(_DIGIT.findall(text))


def _phone_field_values(node: Any, phone_context: bool, found: set[str]) -> None:
    """Add the strings and integers (as text) in ``node``'s phone fields to ``found``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict | list) or phone_context or k in PHONE_KEYS:
                _phone_field_values(v, phone_context or k in PHONE_KEYS, found)
    elif isinstance(node, list):
        for v in node:
            _phone_field_values(v, phone_context, found)
    elif isinstance(node, str):
        if phone_context:
            found.add(node)
    elif phone_context and isinstance(node, int) and not isinstance(node, bool):
        found.add(str(node))


def redact_phone_numbers(value: Any, key: bytes | None = None) -> Any:
    """``value`` (parsed JSON) with every phone number replaced by its pseudonym.

    Everything in a phone field is pseudonymized (see ``pseudonymize_phone``); in other
    strings, the numbers of the phone fields and any ``+``-number are replaced.
    """
    names = _Pseudonyms(key or redact_key())
    names.learn(value)
    return names.walk(value)


class _Body:
    """A body as given, and parsed when it is JSON."""

    __slots__ = ("body", "is_json", "parsed", "text")

    def __init__(self, body: Any) -> None:
        self.body = body
        self.is_json = False
        self.parsed: Any = None
        self.text: str | None = None
        if not body or not isinstance(body, str | bytes):
            return
        self.text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
        try:
            self.parsed = json.loads(self.text)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            return
        self.is_json = True

    def learn_into(self, names: _Pseudonyms) -> None:
        if not self.is_json:
            return
        try:
            names.learn(self.parsed)
        except RecursionError:  # parsed, but nested too deeply to walk: redact it as text
            self.is_json = False

    def redacted(self, names: _Pseudonyms) -> Any:
        if self.text is None:
            return self.body
        if self.is_json:
            try:
                redacted = names.walk(self.parsed)
                if redacted == self.parsed:
                    return self.body
            except RecursionError:
                pass
            else:
                out = json.dumps(redacted, separators=(",", ":"))
                return out.encode("utf-8") if isinstance(self.body, bytes) else out
        # Not JSON (an HTML error page, plain text): numbers quoted in it still go.
        cleaned = names.text(self.text)
        if cleaned == self.text:
            return self.body
        return (
            cleaned.encode("utf-8", "surrogateescape") if isinstance(self.body, bytes) else cleaned
        )


def redact_phone_numbers_in_body(
    body: bytes | str | None, key: bytes | None = None
) -> bytes | str | None:
    """A body with phone numbers pseudonymized; a body without any comes back unchanged."""
    parsed = _Body(body)
    names = _Pseudonyms(key or redact_key())
    parsed.learn_into(names)
    return parsed.redacted(names)


def redact_phone_numbers_in_uri(uri: str, key: bytes | None = None) -> str:
    """The URI with +E.164 numbers that are a whole path segment or query value pseudonymized.

    The proxy-session routes carry none; other Chime APIs do (``/phone-numbers/%2B1206...``).
    """
    if "+" not in uri and "%2" not in uri:
        return uri
    key = key or redact_key()
    return _PHONE_IN_URI.sub(
        lambda m: m.group(1) + pseudonymize_phone("+" + m.group(2), key)[1:], uri
    )


class CallPhones:
    """One call's phone numbers and the pseudonyms the cassette carries for them, for what the
    recorder says about the call (its log line, mitmweb's comment): every string redacted as
    the writer redacts the metadata that keeps it (:func:`redact_interaction_phones`), the
    request's path as it redacts the URI."""

    __slots__ = ("_bodies", "_key", "_names")

    def __init__(self, request_body: Any, response_body: Any, key: bytes | None = None) -> None:
        self._key = key or redact_key()
        self._bodies = (request_body, response_body)
        self._names: _Pseudonyms | None = None  # learned at the first text(): most lines need none

    def text(self, text: str) -> str:
        """A string of the call's metadata (a violation's field, an error, a note, a
        difference) as the cassette holds it."""
        if self._names is None:
            # What redact_interaction_phones has learned once it redacts the metadata.
            self._names = _Pseudonyms(self._key)
            for body in self._bodies:
                _Body(body).learn_into(self._names)
        return self._names.meta_text(text)

    def uri(self, uri: str) -> str:
        """A request's URI or path as the cassette holds it."""
        return redact_phone_numbers_in_uri(uri, self._key)

    def segment(self, segment: str) -> str:
        """One path segment (an id the path carries) as the cassette's URI holds it."""
        return self.uri("/" + segment)[1:]


def redact_interaction_phones(
    out: dict[str, Any], request: dict[str, Any], response: dict[str, Any], key: bytes
) -> None:
    names = _Pseudonyms(key)
    request["uri"] = redact_phone_numbers_in_uri(request["uri"], key)
    sent = _Body(request.get("body"))
    sent.learn_into(names)
    # The request body's redaction depends on the request alone: replay computes it from
    # the live request (matching.body_variants) and must get the same.
    if "body" in request:
        request["body"] = sent.redacted(names)
    body = dict(response.get("body") or {})
    answer = _Body(body.get("string"))
    answer.learn_into(names)
    body["string"] = answer.redacted(names)
    response["body"] = body
    # The metadata with both bodies' numbers known: what CallPhones learns for the line.
    for meta_key, meta in out.items():
        if meta_key not in ("request", "response") and isinstance(meta, dict | list):
            out[meta_key] = _redact_meta(meta, names)


def _redact_meta(value: Any, names: _Pseudonyms) -> Any:
    if isinstance(value, dict):
        return {k: _redact_meta(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_meta(v, names) for v in value]
    if isinstance(value, str):
        return names.meta_text(value)
    return value
