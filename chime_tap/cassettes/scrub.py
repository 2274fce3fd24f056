"""Scrubbing: the one implementation that keeps credentials (and, on request, phone numbers) off disk.

The recorder, the vcrpy configuration and replay all call these functions, so a cassette
recorded through the proxy and one recorded by vcrpy in a test are scrubbed the same way.
Credentials go from headers, presigned query parameters and the bodies of the calls that hand
them out (STS, SSO, IMDS, ...: a recorder run with ``chime_record_all`` records those too).
Phone numbers get the pseudonyms of :mod:`chime_tap.cassettes.phones`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chime_tap.cassettes.phones import redact_interaction_phones, redact_key

REDACTED = "REDACTED"

# Headers whose value is a credential or carries one. Compared lower-case.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-amz-security-token",
        "cookie",
        "set-cookie",
        # Bearer tokens botocore sends in a header of their own (from the service models).
        "x-amz-sso_bearer_token",  # IAM Identity Center portal: GetRoleCredentials, ListAccounts
        "x-amz-bearer",  # Connect participant connection token
        "authentication",  # WorkDocs user token
        "grafana-token",  # Grafana Labs account token (AssociateLicense)
        "x-aws-ec2-metadata-token",  # IMDSv2 session token
        # SSE-C: the customer's own encryption key, in clear.
        "x-amz-server-side-encryption-customer-key",
        "x-amz-copy-source-server-side-encryption-customer-key",
        # API keys and tokens outside AWS (API Gateway keys, OpenStack, many SaaS APIs).
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-xsrf-token",
        "private-token",
        "x-goog-api-key",
    }
)
# Headers whose value is a URL: a presigned one carries its credentials in the query.
URL_HEADERS = frozenset({"referer", "location", "content-location", "origin"})
# Presigned-URL query parameters (SigV4 and SigV2 query auth). Compared lower-case.
SECRET_QUERY_PARAMS = frozenset(
    {
        "x-amz-credential",
        "x-amz-signature",
        "x-amz-security-token",
        "awsaccesskeyid",
        "signature",
        "securitytoken",  # SigV2 with session credentials
    }
)

# Body fields that hold a credential in the answers (and requests) of the calls that hand out
# credentials: STS (AssumeRole*, GetSessionToken, GetFederationToken), IAM CreateAccessKey,
# SSO GetRoleCredentials, SSO-OIDC RegisterClient/CreateToken, IMDS and ECS/EKS container
# credentials, Cognito, ECR/CodeArtifact GetAuthorizationToken, Chime attendee join tokens,
# OAuth token endpoints. Matched case-insensitively, words joined by nothing, "_" or "-",
# optionally prefixed "aws": JSON members, XML elements and form fields.
CREDENTIAL_FIELDS = (
    "AccessKeyId",
    "SecretAccessKey",
    "SecretKey",
    "SessionToken",
    "SecurityToken",
    "Token",
    "AccessToken",
    "RefreshToken",
    "IdToken",
    "ClientSecret",
    "AuthorizationToken",
    "WebIdentityToken",
    "JoinToken",
    "SAMLAssertion",
    "Password",
    "DbPassword",
    "Signature",  # SigV2 in a form body (the query protocol's POST)
    # What --record-all records from other services: Secrets Manager, KMS data keys, private
    # keys (ACM ExportCertificate, EC2 CreateKeyPair, IoT), API keys.
    "SecretString",
    "SecretBinary",
    "Plaintext",
    "PrivateKey",
    "KeyMaterial",
    "ApiKey",
)
# A member or field whose (canonical) name ends with one of these holds a secret too
# (GITHUB_TOKEN, MY_APP_SECRET, SMTP_PASSWORD as environment variables), unless it is one of
# the pagination and idempotency tokens APIs hand out, which are no secrets and are matched on.
_SECRET_SUFFIXES = ("secret", "token", "password", "passwd", "apikey", "privatekey", "secretkey")
_NOT_SECRET = frozenset(
    {
        "nexttoken",
        "continuationtoken",
        "paginationtoken",
        "clienttoken",
        "idempotencytoken",
        "nextcontinuationtoken",
        "startingtoken",
        "synctoken",
        "pagetoken",
        "nextpagetoken",
        "marker",
    }
)
# IMDSv2: PUT /latest/api/token answers with the session token as the whole body.
_IMDS_TOKEN_PATH = "/latest/api/token"


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
        if lowered in URL_HEADERS:  # a Referer holding a presigned URL
            if isinstance(value, list | tuple):
                value = [scrub_uri(v) if isinstance(v, str) else v for v in value]
            elif isinstance(value, str):
                value = scrub_uri(value)
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


# --- credentials in bodies --------------------------------------------------------------------


def _canonical(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


# A field name as compared: lower-case, separators dropped, with or without an "aws" prefix.
_CREDENTIAL_NAMES = frozenset(
    prefix + _canonical(n) for n in CREDENTIAL_FIELDS for prefix in ("", "aws")
)
# What follows a credential field's name, up to and including its value (group "value"):
# a JSON member (the name quoted), an XML element (the name after "<" or "<prefix:"), a form
# field (the name at the start or after &, ? or ;).
_JSON_VALUE = r'"\s*:\s*"(?P<value>(?:[^"\\]++|\\.)*+)"'
_XML_VALUE = r"(?:\s[^<>]*)?>(?P<value>(?:[^<]++|<!\[CDATA\[[\s\S]*?\]\]>)*+)<"
_FORM_VALUE = r"=(?P<value>[^&\s\"'<>]*+)"
# A member of a Python repr (a validator's message quoting a request value) and one of JSON
# quoted inside a JSON string (an error message, a SecretString): \"name\": \"value\".
_REPR_VALUE = r"'\s*:\s*'(?P<value>(?:[^'\\]++|\\.)*+)'"
_ESCAPED_JSON_VALUE = r'(?P<q>\\+)"\s*:\s*(?P=q)"(?P<value>(?:(?!(?P=q)").)*+)(?P=q)"'
_VALUE_AFTER = {
    "'": re.compile(_REPR_VALUE),
    "\\": re.compile(_ESCAPED_JSON_VALUE),
    '"': re.compile(_JSON_VALUE),
    "<": re.compile(_XML_VALUE),
    ":": re.compile(_XML_VALUE),
    "&": re.compile(_FORM_VALUE),
}
_VALUE_AFTER["?"] = _VALUE_AFTER[";"] = _VALUE_AFTER[""] = _VALUE_AFTER["&"]
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_XML_PREFIX = re.compile(r"[\w.-]+")

# The fast path's needles. Every name in CREDENTIAL_FIELDS holds one of them in the casings
# APIs use: camelCase, PascalCase, snake_case, UPPER_SNAKE_CASE.
_UPPER = ("OKEN", "ECRET", "ASSWORD", "SSERTION")  # AWS_SESSION_TOKEN, CLIENT_SECRET, ...
# An access key id is no secret by itself (IAM lists them): it goes where a credential does.
_ACCESS_KEY_ID = ("ccessKeyId", "ccessKeyID", "ccess_key_id", "ccess-key-id", "CCESS_KEY_ID")


def is_secret_name(name: str) -> bool:
    """Whether a member, element, field or variable of this name holds a credential."""
    canonical = _canonical(name)
    if canonical in _CREDENTIAL_NAMES:
        return True
    return canonical.endswith(_SECRET_SUFFIXES) and canonical not in _NOT_SECRET


def _needles_in(text: str) -> list[str]:
    """The needles ``text`` holds: none for a body that names no CREDENTIAL_FIELDS.

    This is the fast path, run on every recorded body, so it does as little as it can: two
    substring scans for a body without those words (a ProxySession answer); the rarer
    needles stand behind a one-character test (memchr, some 20x cheaper than a substring scan).
    """
    found = []
    if "oken" in text:  # token, Token
        found.append("oken")
    if "ecret" in text:  # secret, Secret
        found.append("ecret")
    if "_" in text or "K" in text:  # AWS_SESSION_TOKEN, TOKEN
        found += [n for n in _UPPER if n in text]
    if "w" in text or "W" in text:
        found += [n for n in ("assword", "ASSWORD") if n in text]
    if "=" in text:  # SAMLAssertion travels form-encoded (STS's query protocol)
        found += [n for n in ("ssertion", "SSERTION") if n in text]
    for letter, needle in _RARE:  # a plain loop: most bodies hold a few of these letters
        if letter in text and needle in text:
            found.append(needle)
    return found


# Needles of the rarer fields (key material, SigV2 signatures, API keys, password variants),
# each behind a letter it holds: a one-character test first, the substring scan only then.
_RARE = (
    ("g", "ignature"),
    ("x", "laintext"),
    ("K", "rivateKey"),
    ("K", "piKey"),
    ("_", "PRIVATE_KEY"),
    ("_", "API_KEY"),
    ("M", "eyMaterial"),
    ("W", "PASSWD"),
    ("w", "asswd"),
)


def _credential_values(text: str, needles: list[str]) -> list[tuple[int, int]]:
    """The spans of the values of credential fields in ``text``, in order, not overlapping."""
    spans = set()
    for needle in needles:
        at = text.find(needle)
        while at >= 0:
            start, end = at, at + len(needle)
            while start and text[start - 1] in _NAME_CHARS:
                start -= 1
            while end < len(text) and text[end] in _NAME_CHARS:
                end += 1
            at = text.find(needle, end)
            if not is_secret_name(text[start:end]):
                continue  # NextToken, tokenEndpoint, ...
            before = text[start - 1] if start else ""
            if before == '"' and start > 1 and text[start - 2] == "\\":
                before = "\\"  # a member of JSON inside a JSON string
            value = _VALUE_AFTER.get(before)
            if value is None or (before == ":" and not _xml_prefixed(text, start - 1)):
                continue
            m = value.match(text, end)
            if m:
                spans.add(m.span("value"))
    spans.update(_pair_values(text))
    return sorted(spans)


# Name/value pairs whose name is a secret's (environment variables of Lambda, ECS, CodeBuild;
# tags): the value is redacted. And SSM parameters of type SecureString: their Value.
_PAIR = re.compile(
    r'"(?:Name|name|Key|key)"\s*:\s*"(?P<name>[^"\\]{1,256})"\s*,\s*'
    r'"(?:Value|value)"\s*:\s*"(?P<value>(?:[^"\\]++|\\.)*+)"'
)
_PAIR_REVERSED = re.compile(
    r'"(?:Value|value)"\s*:\s*"(?P<value>(?:[^"\\]++|\\.)*+)"\s*,\s*'
    r'"(?:Name|name|Key|key)"\s*:\s*"(?P<name>[^"\\]{1,256})"'
)
_FLAT_OBJECT = re.compile(r"\{[^{}]*\}")
_SECURE_VALUE = re.compile(r'"Value"\s*:\s*"(?P<value>(?:[^"\\]++|\\.)*+)"')


def _pair_values(text: str) -> list[tuple[int, int]]:
    spans = []
    if "alue" in text:
        for pattern in (_PAIR, _PAIR_REVERSED):
            spans += [m.span("value") for m in pattern.finditer(text) if is_secret_name(m["name"])]
        if "SecureString" in text:
            for obj in _FLAT_OBJECT.finditer(text):
                if re.search(r'"Type"\s*:\s*"SecureString"', obj.group()):
                    m = _SECURE_VALUE.search(text, obj.start(), obj.end())
                    if m:
                        spans.append(m.span("value"))
    return spans


def _xml_prefixed(text: str, colon: int) -> bool:
    """Whether the ":" at ``colon`` ends a namespace prefix just after a "<"."""
    lt = text.rfind("<", max(0, colon - 64), colon)  # a prefix is short; never rescan the text
    return lt >= 0 and _XML_PREFIX.fullmatch(text, lt + 1, colon) is not None


def scrub_body_credentials(body: Any) -> Any:
    """``body`` (str or bytes) with the values of credential fields replaced by ``REDACTED``.

    Anything else (None, a body without those fields, a file object) comes back as it is, the
    same object, so callers can tell nothing changed with ``is``.
    """
    if isinstance(body, str):
        text = body
    elif isinstance(body, bytes):
        text = body.decode("latin-1")  # one character per byte: the spans hold for both
    else:
        return body
    needles = _needles_in(text)
    if not needles and not ("alue" in text and ('"' in text)):
        return body
    spans = _credential_values(text, needles)
    if not spans:
        return body
    spans = sorted({*spans, *_credential_values(text, [n for n in _ACCESS_KEY_ID if n in text])})
    pieces, done = [], 0
    for start, end in spans:
        if start < done:  # pragma: no cover - values do not nest
            continue
        pieces += [text[done:start], REDACTED]
        done = end
    pieces.append(text[done:])
    cleaned = "".join(pieces)
    return cleaned.encode("latin-1") if isinstance(body, bytes) else cleaned


def scrub_text(text: str) -> str:
    """Free text (a violation or error message) without the credentials it quotes.

    Messages quote request values as JSON or as Python reprs, and URLs: credential fields and
    presigned query parameters are redacted wherever they appear.
    """
    if len(text) <= _SHORT:  # the metadata's names, ids and times, the same on many calls
        if text[:1].isdigit() and _INERT(text):  # a time or a number: nothing to scrub
            return text
        return _scrub_short_text(text)
    return _scrub_text(text)


_SHORT = 64
# Digits and the punctuation of times and numbers: no credential name, pair or URL is made of
# these (every needle above has a lower-case letter or a letter other than T and Z).
_INERT = re.compile(r"[0-9TZ:.+-]*").fullmatch


@functools.lru_cache(maxsize=4096)
def _scrub_short_text(text: str) -> str:
    return _scrub_text(text)


def _scrub_text(text: str) -> str:
    text = scrub_body_credentials(text)
    if "?" in text and "=" in text:
        text = _URL_IN_TEXT.sub(lambda m: scrub_uri(m.group()), text)
    return text


_URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+")


def scrub_strings(value: Any) -> Any:
    """``value`` (metadata: dicts, lists, strings) with every string passed through ``scrub_text``."""
    if type(value) is dict:  # the recorder's metadata: its strings and numbers scrubbed here
        out = {}
        for k, v in value.items():
            t = type(v)
            if t is str:
                out[k] = scrub_text(v)
            elif v is None or t is float or t is int or t is bool:
                out[k] = v
            else:
                out[k] = scrub_strings(v)
        return out
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_strings(v) for v in value]
    return value


# --- whole interactions -----------------------------------------------------------------------


def scrub_response_string(uri: str, string: Any) -> Any:
    """A response body (``body.string``) of a request to ``uri`` (as sent, before
    ``scrub_uri``) without credentials: the same object when there are none."""
    if string and uri.endswith(_IMDS_TOKEN_PATH):  # the whole body is the token
        return REDACTED.encode() if isinstance(string, bytes) else REDACTED
    return scrub_body_credentials(string)


def scrub_interaction(
    interaction: dict[str, Any], *, redact_phones: bool = False, key: bytes | None = None
) -> dict[str, Any]:
    """A copy of a vcrpy interaction with every credential removed (and phones pseudonymized).

    Extra interaction-level keys (our metadata) are kept, with every string in them scrubbed as
    free text: violation messages quote request values, credentials included. Violation
    messages can quote a phone number too, so with ``redact_phones`` every number of the
    bodies' phone fields is replaced in them.
    """
    request = dict(interaction["request"])
    response = dict(interaction["response"])
    uri = request.get("uri", "")
    request["uri"] = scrub_uri(uri)
    request["headers"] = scrub_headers(request.get("headers") or {})
    response["headers"] = scrub_headers(response.get("headers") or {})
    if "body" in request:
        request["body"] = scrub_body_credentials(request["body"])
    body = response.get("body")
    if isinstance(body, dict) and "string" in body:
        string = body["string"]
        cleaned = scrub_response_string(uri, string)
        if cleaned is not string:
            response["body"] = {**body, "string": cleaned}
    out = {**interaction, "request": request, "response": response}
    for name, value in interaction.items():
        if name not in ("request", "response"):
            out[name] = scrub_strings(value)
    if redact_phones:
        redact_interaction_phones(out, request, response, key or redact_key())
    return out
