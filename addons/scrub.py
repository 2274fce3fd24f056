"""Scrubbing: the one implementation that keeps credentials (and, on request, phone numbers) off disk.

The recorder, the vcrpy configuration and replay all call these functions, so a cassette
recorded through the proxy and one recorded by vcrpy in a test are scrubbed the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

# Headers whose value is a credential or carries one. Compared lower-case.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-amz-security-token",
        "cookie",
        "set-cookie",
    }
)
# Presigned-URL query parameters (SigV4 query auth). Compared lower-case.
SECRET_QUERY_PARAMS = frozenset({"x-amz-credential", "x-amz-signature", "x-amz-security-token"})

PHONE_KEYS = frozenset({"PhoneNumber", "ProxyPhoneNumber", "ParticipantPhoneNumbers"})
# ASCII digits and fullmatch: re's \d takes any Unicode digit and $ a trailing newline.
_E164 = re.compile(r"\+?[1-9][0-9]{1,14}")
_PLUS_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# A number quoted inside free text (an error message): at least 8 digits, so that a
# timestamp's "+10:00" offset is left alone.
_PHONE_IN_TEXT = re.compile(r"\+[1-9][0-9]{6,14}\b")
DEFAULT_REDACT_KEY = b"chime-tap default pseudonym key"
REDACT_KEY_ENV = "CHIME_TAP_REDACT_KEY"


def is_secret_header(name: str) -> bool:
    return name.lower() in SECRET_HEADERS


def scrub_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``headers`` (name -> value or list of values) without credential headers.

    ``Authorization`` keeps its presence visible as ``REDACTED``; the others are dropped.
    """
    out: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in SECRET_HEADERS:
            if lowered == "authorization":
                out[name] = [REDACTED] if isinstance(value, list | tuple) else REDACTED
            continue
        out[name] = value
    return out


def scrub_uri(uri: str) -> str:
    """The URI with presigned credential parameters replaced by ``REDACTED``."""
    if "?" not in uri:  # no query, nothing presigned: the common case, on every recorded call
        return uri
    parts = urlsplit(uri)
    if not parts.query:
        return uri
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_PARAMS for k, _ in pairs):
        return uri
    cleaned = [(k, REDACTED if k.lower() in SECRET_QUERY_PARAMS else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(cleaned, safe="/:")))


# --- phone numbers ----------------------------------------------------------------------------


def redact_key() -> bytes:
    """The pseudonym key: ``$CHIME_TAP_REDACT_KEY`` or a fixed default.

    With the default key the mapping is stable across machines (so a cassette recorded here
    replays there) but not secret: numbers are few enough to brute-force. Set a key to make
    the pseudonyms unlinkable to the real numbers.
    """
    env = os.environ.get(REDACT_KEY_ENV)
    return env.encode("utf-8") if env else DEFAULT_REDACT_KEY


def pseudonymize_phone(number: str, key: bytes | None = None) -> str:
    """A fake E.164 number for ``number``: same input and key, same output.

    The result keeps the leading ``+`` (if any), the first digit and the length, so it stays
    E.164-valid and looks like the same kind of number; the rest comes from an HMAC.
    """
    if not _E164.fullmatch(number):
        return number
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    mac = hmac.new(key or redact_key(), digits.encode("ascii"), hashlib.sha256).digest()
    stream = "".join(f"{b:03d}" for b in mac)  # plenty of decimal digits
    # First digit kept, then "99": not a real prefix in the numbering plans we see, so a
    # pseudonym is unlikely to be somebody's real number.
    body = (digits[0] + "99" + stream)[: len(digits)]
    return plus + body


def redact_phone_numbers(value: Any, key: bytes | None = None) -> Any:
    """``value`` (parsed JSON) with every phone number replaced by its pseudonym."""
    key = key or redact_key()

    def walk(node: Any, phone_context: bool) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k in PHONE_KEYS) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, phone_context) for v in node]
        if isinstance(node, str):
            if (phone_context and _E164.fullmatch(node)) or _PLUS_E164.fullmatch(node):
                return pseudonymize_phone(node, key)
            return _PHONE_IN_TEXT.sub(lambda m: pseudonymize_phone(m.group(0), key), node)
        return node

    return walk(value, False)


def redact_phone_numbers_in_body(
    body: bytes | str | None, key: bytes | None = None
) -> bytes | str | None:
    """A JSON body with phone numbers pseudonymized; other bodies come back unchanged."""
    if not body:
        return body
    text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
    try:
        parsed = json.loads(text)
        redacted = redact_phone_numbers(parsed, key)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to walk
        # Not JSON (an HTML error page, plain text): numbers quoted in it still go.
        cleaned = _PHONE_IN_TEXT.sub(lambda m: pseudonymize_phone(m.group(0), key), text)
        if cleaned == text:
            return body
        return cleaned.encode("utf-8", "surrogateescape") if isinstance(body, bytes) else cleaned
    if redacted == parsed:
        return body
    out = json.dumps(redacted, separators=(",", ":"))
    return out.encode("utf-8") if isinstance(body, bytes) else out


# --- whole interactions -----------------------------------------------------------------------


def scrub_interaction(
    interaction: dict[str, Any], *, redact_phones: bool = False, key: bytes | None = None
) -> dict[str, Any]:
    """A copy of a vcrpy interaction with every credential removed (and phones pseudonymized).

    Extra interaction-level keys (our metadata) are kept; violation messages can quote a
    phone number, so they are redacted too.
    """
    request = dict(interaction["request"])
    response = dict(interaction["response"])
    request["uri"] = scrub_uri(request.get("uri", ""))
    request["headers"] = scrub_headers(request.get("headers") or {})
    response["headers"] = scrub_headers(response.get("headers") or {})
    out = {**interaction, "request": request, "response": response}
    if redact_phones:
        key = key or redact_key()
        request["body"] = redact_phone_numbers_in_body(request.get("body"), key)
        body = dict(response.get("body") or {})
        body["string"] = redact_phone_numbers_in_body(body.get("string"), key)
        response["body"] = body
        for meta_key, meta in interaction.items():
            if meta_key not in ("request", "response") and isinstance(meta, dict | list):
                out[meta_key] = _redact_text_numbers(meta, key)
    return out


def _redact_text_numbers(value: Any, key: bytes) -> Any:
    if isinstance(value, dict):
        return {k: _redact_text_numbers(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_text_numbers(v, key) for v in value]
    if isinstance(value, str):
        return _PHONE_IN_TEXT.sub(lambda m: pseudonymize_phone(m.group(0), key), value)
    return value
