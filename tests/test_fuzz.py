"""Properties of the pure functions every path runs through, under generated input.

Each property runs a bounded number of examples (FUZZ) with no deadline and no example database
on disk, so a run is bounded and writes nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chime_tap.api import schemas
from chime_tap.api.hosts import NAMESPACES, HostPolicy, parse_host_rule
from chime_tap.api.operations import (
    DOCUMENTED_ERRORS,
    FRONT_DOOR_ERRORS,
    OPERATIONS,
    classify,
    classify_path,
)
from chime_tap.api.validation import (
    FastEngine,
    ReferenceEngine,
    Violation,
    validate_exchange,
    validate_request,
)
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.phones import pseudonymize_phone, redact_phone_numbers
from chime_tap.cassettes.reader import load_cassette, parse_cassette
from chime_tap.cassettes.scrub import scrub_body_credentials, scrub_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.cassettes.yaml_block import dump_item
from chime_tap.errors import CassetteError

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
# The wire's E.164: ASCII digits only (re's \d would take any Unicode digit).
E164 = re.compile(r"\+?[1-9][0-9]{1,14}")
METHODS = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "get", "post", ""])
AWS_HOSTS = st.sampled_from(
    [
        "service.chime.aws.amazon.com",
        "chime.us-east-1.amazonaws.com",
        "voice-chime.us-west-2.amazonaws.com",
        "voice-chime-fips.us-east-1.amazonaws.com",
        "VOICE-CHIME.eu-central-1.amazonaws.com:443",
        "example.com",
        "127.0.0.1:9000",
    ]
)
SEGMENT = st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and "?" not in s)


@st.composite
def chime_paths(draw) -> str:
    """Paths near the proxy-session routes: valid ones, and ones a character away."""
    connector = draw(st.one_of(SEGMENT, st.from_regex(r"[a-z0-9]{21,22}", fullmatch=True)))
    path = "/voice-connectors/" + quote(connector, safe=draw(st.sampled_from(["", "/%", "%"])))
    path += draw(st.sampled_from(["/proxy-sessions", "/proxy-session", "/proxy-sessions/"]))
    if draw(st.booleans()):
        path = path.rstrip("/") + "/" + quote(draw(SEGMENT), safe="")
        path += draw(st.sampled_from(["", "/", "/extra"]))
    if draw(st.booleans()):
        path += "?" + draw(st.text(max_size=20))
    return path


PATHS = st.one_of(chime_paths(), st.text(max_size=80))


# --- the classifier ---------------------------------------------------------------------------


@FUZZ
@given(method=METHODS, host=st.one_of(AWS_HOSTS, st.text(max_size=40)), path=PATHS)
def test_classify_never_raises_and_routes_round_trip(method, host, path):
    route = classify(method, host, path)
    if route is None:
        return
    op = route.operation
    assert route.namespace in NAMESPACES
    assert OPERATIONS[op.name] is op and op.method == method.upper()
    rebuilt = op.path_for(**{k: quote(v, safe="") for k, v in route.path_params.items()})
    assert classify_path(method, rebuilt, route.namespace) == route


@FUZZ
@given(spec=st.text(max_size=40), host=st.text(max_size=40), port=st.none() | st.integers(0, 70000))
def test_host_rules_fail_only_with_value_error(spec, host, port):
    try:
        rule = parse_host_rule(spec)
    except ValueError as e:
        assert str(e)
        return
    assert rule.namespace in NAMESPACES
    assert HostPolicy([rule]).namespace_of(host, port) in (*NAMESPACES, None)


# --- the validator ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
PHONES = st.one_of(
    st.from_regex(r"\+[1-9]\d{1,14}", fullmatch=True), st.text(max_size=16), st.integers()
)
CAPABILITIES = st.lists(st.sampled_from(["Voice", "SMS", "Fax", ""]), max_size=3)
TIMESTAMPS = st.sampled_from(
    ["2020-04-15T16:10:10.288Z", "2020-04-15T16:10:10Z", "yesterday", 1586967010]
)


@st.composite
def near_valid(draw) -> dict:
    """Objects shaped like the API's bodies, each member valid or not: the verdicts vary."""
    session = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "VoiceConnectorId": st.sampled_from(["abcdef1ghij2klmno3pqr4", " ", ""]),
                "ProxySessionId": st.sampled_from(["123a4bc5-67d8-901e-2f3g-h4ghjk56789l", " "]),
                "Name": st.none() | st.from_regex(r"[a-zA-Z0-9 ]{0,32}", fullmatch=True),
                "Status": st.sampled_from(["Open", "InProgress", "Closed", "open"]),
                "ExpiryMinutes": st.none() | st.integers(-2, 100) | st.just(1.5),
                "Capabilities": CAPABILITIES,
                "CreatedTimestamp": TIMESTAMPS,
                "EndedTimestamp": st.none() | TIMESTAMPS,
                "Participants": st.lists(
                    st.fixed_dictionaries({"PhoneNumber": PHONES, "ProxyPhoneNumber": PHONES}),
                    max_size=3,
                ),
                "GeoMatchLevel": st.none() | st.sampled_from(["Country", "AreaCode", "City"]),
                "GeoMatchParams": st.none()
                | st.fixed_dictionaries(
                    {},
                    optional={
                        "Country": st.sampled_from(["US", "us", "", "USA"]),
                        "AreaCode": st.sampled_from(["206", "", "20"]),
                    },
                ),
            },
        )
    )
    request = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "ParticipantPhoneNumbers": st.lists(PHONES, max_size=3),
                "Capabilities": CAPABILITIES,
                "Name": st.from_regex(r"[a-zA-Z0-9 _]{0,32}", fullmatch=True),
                "ExpiryMinutes": st.integers(-1, 3),
                "NumberSelectionBehavior": st.sampled_from(["PreferSticky", "AvoidSticky", "x"]),
                "GeoMatchLevel": st.sampled_from(["Country", "AreaCode"]),
                "GeoMatchParams": st.fixed_dictionaries(
                    {}, optional={"Country": st.just("US"), "AreaCode": st.just("206")}
                ),
            },
        )
    )
    return draw(
        st.sampled_from(
            [
                {"ProxySession": session},
                {"ProxySessions": [session], "NextToken": None},
                request,
                {"Code": "NotFound", "Message": "no such session"},
                {"message": "The security token included in the request is expired"},
                session,
            ]
        )
    )


@FUZZ
@given(name=st.sampled_from(schemas.names()), instance=st.one_of(near_valid(), JSON))
def test_fast_and_reference_engines_agree(name, instance):
    fast, reference = _engines()
    verdict = fast.is_valid(name, instance)
    assert verdict == reference.is_valid(name, instance)
    assert (fast.errors(name, instance) == []) == verdict
    assert (reference.errors(name, instance) == []) == verdict


_ENGINES: list = []


def _engines() -> tuple[FastEngine, ReferenceEngine]:
    if not _ENGINES:
        _ENGINES.extend([FastEngine(), ReferenceEngine()])
    return _ENGINES[0], _ENGINES[1]


BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text(max_size=200),
    JSON.map(json.dumps),
    near_valid().map(lambda d: json.dumps(d).encode()),
)
ERROR_TYPES = st.sampled_from(
    [
        *DOCUMENTED_ERRORS,
        *FRONT_DOOR_ERRORS,
        "NotFoundException:http://internal.amazon.com/",
        ":",
        "Bogus",
    ]
)
HEADERS = st.dictionaries(
    st.sampled_from(["x-amzn-ErrorType", "X-AMZN-ERRORTYPE", "Content-Type", "x-other"]),
    st.one_of(ERROR_TYPES, st.text(max_size=30), st.lists(ERROR_TYPES, max_size=2)),
    max_size=3,
)
QUERIES = st.dictionaries(
    st.sampled_from(["status", "max-results", "next-token", "X-Amz-Signature", "other"]),
    st.one_of(
        st.text(max_size=10),
        st.lists(st.text(max_size=10), max_size=3),
        st.just("99999999999999999999"),
    ),
    max_size=4,
)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    path=chime_paths(),
    namespace=st.sampled_from(NAMESPACES),
    query=QUERIES,
    request_body=BODIES,
    status=st.none() | st.integers(0, 999),
    response_body=BODIES,
    headers=HEADERS,
)
def test_validator_never_raises_and_engines_agree_per_part(
    method, path, namespace, query, request_body, status, response_body, headers
):
    route = classify_path(method, path, namespace)
    if route is None:
        return
    verdicts = []
    for engine in _engines():
        found = validate_exchange(
            route,
            query=query,
            request_body=request_body,
            status=status,
            response_body=response_body,
            response_headers=headers,
            engine=engine,
        )
        assert all(isinstance(v, Violation) and v.message and "\n" not in v.part for v in found)
        verdicts.append({v.part for v in found})
    assert verdicts[0] == verdicts[1]


# --- the scrubber -----------------------------------------------------------------------------

# Long enough that a generated value never happens to occur anywhere else by chance.
SECRET_VALUES = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=20, max_size=60
)
# Written here, not taken from the scrubber's own lists: dropping a name there fails here.
CREDENTIAL_HEADERS = [
    "Authorization",
    "X-Amz-Security-Token",
    "Cookie",
    "Set-Cookie",
    "Proxy-Authorization",
    "x-amz-sso_bearer_token",
]
CREDENTIAL_QUERY_PARAMS = ["X-Amz-Credential", "X-Amz-Signature", "X-Amz-Security-Token"]
# Body fields of the calls that hand out credentials (STS, SSO, SSO-OIDC, IMDS/ECS, Cognito,
# OAuth), as words: spelled below in each casing APIs use.
JSON_CREDENTIAL_FIELDS = [
    ("secret", "access", "key"),
    ("session", "token"),
    ("access", "token"),
    ("refresh", "token"),
    ("id", "token"),
    ("token",),
    ("secret", "key"),
    ("client", "secret"),
    ("authorization", "token"),
    ("password",),
    ("aws", "secret", "access", "key"),
    ("aws", "session", "token"),
]
XML_CREDENTIAL_FIELDS = ["SecretAccessKey", "SessionToken", "Token"]
# Form-encoded requests: STS's query protocol, OAuth token endpoints.
FORM_CREDENTIAL_FIELDS = [
    "WebIdentityToken",
    "SAMLAssertion",
    "refresh_token",
    "client_secret",
    "Password",
]
ACCESS_KEY_ID = ("access", "key", "id")  # no secret alone; redacted beside a credential
CASINGS = {
    "camel": lambda w: w[0] + "".join(x.title() for x in w[1:]),
    "pascal": lambda w: "".join(x.title() for x in w),
    "snake": "_".join,
    "upper": lambda w: "_".join(w).upper(),
    "kebab": "-".join,
}


def _case_variants(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flags: "".join(
            c.upper() if f else c.lower() for c, f in zip(name, flags, strict=True)
        )
    )


@st.composite
def credential_body(draw, secrets: list[str]) -> str:
    """A JSON, XML or form body carrying ``secrets`` in credential fields, with other fields."""
    kind = draw(st.sampled_from(["json", "xml", "form"]))
    casing = CASINGS[draw(st.sampled_from(sorted(CASINGS)))]
    if kind == "form":
        fields = [(draw(st.sampled_from(FORM_CREDENTIAL_FIELDS)), s) for s in secrets]
        fields.insert(draw(st.integers(0, len(fields))), ("Action", "AssumeRoleWithSAML"))
        return "&".join(f"{k}={v}" for k, v in fields)
    if kind == "xml":
        names = st.sampled_from(XML_CREDENTIAL_FIELDS)
        fields = [(draw(names), s) for s in secrets]
        items = "".join(f"<{k}>{v}</{k}>" for k, v in fields)
        return f"<Result><Credentials>{items}<Expiration>2020</Expiration></Credentials></Result>"
    members = [{casing(draw(st.sampled_from(JSON_CREDENTIAL_FIELDS))): s} for s in secrets]
    members.append({"NextToken": "page2", "tokenType": "Bearer", "expiresIn": 3600})
    return json.dumps(
        {"items": draw(st.permutations(members))}, indent=draw(st.none() | st.just(2))
    )


@st.composite
def credentialed_interaction(draw) -> tuple[dict, list[str]]:
    """An interaction carrying credentials wherever they travel, and the secrets."""
    secrets = draw(st.lists(SECRET_VALUES, min_size=1, max_size=5, unique=True))
    headers: dict = {
        "Host": ["voice-chime.us-east-1.amazonaws.com"],
        "Content-Type": ["application/json"],
    }
    response_headers: dict = {"Content-Type": ["application/json"]}
    query: list[tuple[str, str]] = [("max-results", "5")]
    in_body: dict[str, list[str]] = {"request body": [], "response body": []}
    places = ["request header", "response header", "query", "request body", "response body"]
    for secret in secrets:
        where = draw(st.sampled_from(places))
        if where in in_body:
            in_body[where].append(secret)
            continue
        if where == "query":
            name = draw(st.sampled_from(CREDENTIAL_QUERY_PARAMS).flatmap(_case_variants))
            query.append((name, secret))
            continue
        name = draw(st.sampled_from(CREDENTIAL_HEADERS).flatmap(_case_variants))
        value = draw(
            st.sampled_from(
                [
                    f"AWS4-HMAC-SHA256 Credential={secret}/20200415/us-east-1/chime/aws4_request, Signature=abc",
                    secret,
                    f"session={secret}; Path=/",
                    f"Bearer {secret}",
                ]
            )
        )
        target = headers if where == "request header" else response_headers
        if name in target:  # the same header twice: both values, as a list
            target[name] = (
                [*target[name], value] if isinstance(target[name], list) else [target[name], value]
            )
        else:
            target[name] = draw(st.sampled_from([[value], value, ["other", value]]))
    bodies = {}
    for where, carried in in_body.items():
        if carried and draw(st.booleans()):  # an access key id goes along
            carried.append(draw(SECRET_VALUES.filter(lambda v: v not in secrets)))
            secrets.append(carried[-1])
        bodies[where] = draw(credential_body(carried)) if carried else None
    query = draw(st.permutations(query))
    uri = (
        "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/c/proxy-sessions?"
        + urlencode(query)
    )
    as_bytes = draw(st.booleans())
    interaction = make_interaction(
        method="GET",
        uri=uri,
        request_headers=headers,
        request_body=(
            bodies["request body"].encode()
            if as_bytes and bodies["request body"]
            else bodies["request body"]
        ),
        status=200,
        reason="OK",
        response_headers=response_headers,
        response_body=bodies["response body"] or b'{"ProxySessions": [], "NextToken": "x"}',
        meta={"operation": "ListProxySessions"},
    )
    return interaction, secrets


def _as_written(item: dict) -> list[str]:
    """The interaction as the cassette writer puts it on disk (YAML, JSON), and ASCII-escaped."""
    return [dump_item(item).decode(), json.dumps(item, ensure_ascii=False), json.dumps(item)]


@FUZZ
@given(case=credentialed_interaction(), redact=st.booleans())
def test_scrubbed_interactions_hold_no_secret(case, redact):
    interaction, secrets = case
    raw = dump_item(interaction).decode()
    assert all(s in raw for s in secrets)  # the property below is not vacuous
    scrubbed = scrub_interaction(interaction, redact_phones=redact)
    for text in _as_written(scrubbed):
        for secret in secrets:
            assert secret not in text
            assert quote(secret, safe="") not in text


@FUZZ
@given(body=near_valid().map(json.dumps), as_bytes=st.booleans())
def test_chime_bodies_pass_the_credential_scrubber_untouched(body, as_bytes):
    body = body.encode() if as_bytes else body
    assert scrub_body_credentials(body) is body


def _digits(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if c.isdecimal()]


PHONE_LIKE = st.one_of(
    st.from_regex(r"\+?[1-9][0-9]{1,14}", fullmatch=True),  # E.164
    st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True),  # leading 0, too short, too long
    st.from_regex(
        r"(\+?1[ .-]?)?\(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}( ?x[0-9]{1,4})?",
        fullmatch=True,
    ),
    st.text(
        st.characters(categories=["Nd", "Zs", "Pd", "Ps", "Pe"]) | st.sampled_from("+x"),
        max_size=20,
    ),
    st.text(max_size=20),
)


@FUZZ
@given(number=PHONE_LIKE, key=st.binary(min_size=1, max_size=32))
def test_phone_pseudonyms_keep_shape_and_validity_and_lose_the_digits(number, key):
    fake = pseudonymize_phone(number, key)
    assert fake == pseudonymize_phone(number, key)
    assert len(fake) == len(number)
    valid = bool(E164.fullmatch(number))
    assert bool(E164.fullmatch(fake)) == valid  # valid stays valid, invalid stays invalid
    fast, _ = _engines()
    assert fast.is_valid("E164PhoneNumber", fake) == fast.is_valid("E164PhoneNumber", number)
    digits = _digits(number)
    assert _digits(fake) == digits
    for i, (a, b) in enumerate(zip(number, fake, strict=True)):
        if i not in digits:
            assert a == b
        else:  # a digit of the same script
            assert ord(a) - unicodedata.decimal(a) == ord(b) - unicodedata.decimal(b)
    if valid:  # E.164 pseudonyms: country code 999 (no country's), then HMAC digits
        if len(digits) > 3:
            assert "".join(fake[i] for i in digits[:3]) == "999"
            if "".join(number[i] for i in digits[:3]) != "999":
                assert fake != number
    else:  # no real digit left in place, but a leading 0
        for n, i in enumerate(digits):
            assert fake[i] != number[i] or (n == 0 and unicodedata.decimal(number[i]) == 0)
        if len(digits) >= 2:
            assert fake != number


SEPARATORS = st.sampled_from(["", "", "", " ", "-", ".", "(", ")", "'", '"', "\\", "/"])


@st.composite
def spelled_numbers(draw) -> tuple[object, str]:
    """A real-looking number as clients mistype it, and its digits."""
    digits = draw(st.from_regex(r"[1-9][0-8][0-9]{5,12}", fullmatch=True))
    if draw(st.integers(0, 5)) == 0:
        return int(digits), digits
    seps = draw(st.lists(SEPARATORS, min_size=len(digits) + 1, max_size=len(digits) + 1))
    spelled = "".join(s + d for s, d in zip(seps, digits + "\0", strict=True))[:-1]
    return draw(st.sampled_from(["", "+"])) + spelled, digits


@FUZZ
@given(
    numbers=st.lists(spelled_numbers(), min_size=1, max_size=3, unique_by=lambda n: n[1]),
    engine=st.sampled_from(["fast", "reference"]),
    answer=st.sampled_from(["error", "session"]),
)
def test_redaction_leaves_no_trace_of_malformed_numbers_and_keeps_the_violations(
    numbers, engine, answer
):
    route = classify(
        "POST",
        "voice-chime.us-east-1.amazonaws.com",
        "/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions",
    )
    validator = dict(zip(["fast", "reference"], _engines(), strict=True))[engine]
    values = [v for v, _ in numbers]
    request = json.dumps({"ParticipantPhoneNumbers": values, "Capabilities": ["Voice"]})
    violations = validate_request(route, body=request, engine=validator)
    if answer == "error":
        response = {"Code": "BadRequest", "Message": f"Invalid phone number {values[0]}"}
    else:
        response = {"ProxySession": {"Participants": [{"PhoneNumber": v} for v in values]}}
    interaction = make_interaction(
        method="POST",
        uri="https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions",
        request_headers={},
        request_body=request.encode(),
        status=400 if answer == "error" else 201,
        reason="",
        response_headers={},
        response_body=json.dumps(response).encode(),
        meta={"violations": [v.to_dict() for v in violations]},
    )
    scrubbed = scrub_interaction(interaction, redact_phones=True)
    assert scrub_interaction(interaction, redact_phones=True) == scrubbed
    for value, digits in numbers:
        for text in _as_written(scrubbed):
            assert digits not in text
            assert str(value) not in text
            assert json.dumps(str(value))[1:-1] not in text
    # The redacted request fails validation exactly as the scrubbed metadata says it did.
    again = validate_request(route, body=scrubbed["request"]["body"], engine=validator)
    assert [v.to_dict() for v in again] == scrubbed["chime_tap"]["violations"]


# Realistic numbers: 8+ digits, second digit not 9 (a pseudonym's second digit always is).
REAL_NUMBERS = st.from_regex(r"\+[1-9][0-8][0-9]{6,13}", fullmatch=True)


@FUZZ
@given(
    a=REAL_NUMBERS,
    b=REAL_NUMBERS,
    proxy=REAL_NUMBERS,
    capabilities=st.lists(st.sampled_from(["Voice", "SMS"]), min_size=1, max_size=2, unique=True),
)
def test_redaction_removes_numbers_and_keeps_the_cassette_valid(a, b, proxy, capabilities):
    request = {"ParticipantPhoneNumbers": [a, b], "Capabilities": capabilities}
    response = {
        "ProxySession": {
            "VoiceConnectorId": "abcdef1ghij2klmno3pqr4",
            "ProxySessionId": "s1",
            "Status": "Open",
            "Capabilities": capabilities,
            "Participants": [
                {"PhoneNumber": a, "ProxyPhoneNumber": proxy},
                {"PhoneNumber": b, "ProxyPhoneNumber": proxy},
            ],
        }
    }
    route = classify(
        "POST",
        "voice-chime.us-east-1.amazonaws.com",
        "/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions",
    )
    interaction = make_interaction(
        method="POST",
        uri="https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions",
        request_headers={},
        request_body=json.dumps(request).encode(),
        status=201,
        reason="Created",
        response_headers={"Content-Type": ["application/json"]},
        response_body=json.dumps(response).encode(),
        meta={"violations": [f"number {a} was rejected"]},
    )
    scrubbed = scrub_interaction(interaction, redact_phones=True)
    text = json.dumps(scrubbed)
    for number in {a, b, proxy}:
        assert number not in text
    assert scrub_interaction(interaction, redact_phones=True) == scrubbed
    body = scrubbed["request"]["body"]
    assert (
        validate_request(route, body=body)
        == validate_request(route, body=interaction["request"]["body"])
        == []
    )
    assert redact_phone_numbers(response) == json.loads(scrubbed["response"]["body"]["string"])


# --- the cassette loader ----------------------------------------------------------------------


def _only_cassette_errors(data: bytes) -> None:
    try:
        doc = parse_cassette(data, "fuzz.yaml")
    except CassetteError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.yaml")
        return
    assert isinstance(doc, dict) and isinstance(doc["interactions"], list)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_loader_on_arbitrary_bytes_raises_only_cassette_error(data):
    _only_cassette_errors(data)


@FUZZ
@given(text=st.text(max_size=500))
def test_loader_on_arbitrary_text_raises_only_cassette_error(text):
    _only_cassette_errors(text.encode("utf-8", "surrogatepass"))


MUTATIONS = st.sampled_from(["truncate", "flip", "insert", "delete", "duplicate"])


@FUZZ
@given(
    source=st.sampled_from(["yaml", "json"]),
    steps=st.lists(
        st.tuples(MUTATIONS, st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=4,
    ),
)
def test_loader_on_mutated_cassettes_raises_only_cassette_error(source, steps):
    data = bytearray(_valid_cassette(source))
    for kind, where, junk in steps:
        pos = where % (len(data) + 1)
        if kind == "truncate":
            del data[pos:]
        elif kind == "flip" and pos < len(data):
            data[pos] ^= junk[0] or 1
        elif kind == "insert":
            data[pos:pos] = junk
        elif kind == "delete":
            del data[pos : pos + len(junk) * 8]
        elif kind == "duplicate":
            data[pos:pos] = data[pos : pos + 200]
    _only_cassette_errors(bytes(data))


_VALID: dict[str, bytes] = {}


def _valid_cassette(fmt: str) -> bytes:
    if fmt not in _VALID:
        if fmt == "yaml":
            _VALID[fmt] = REFERENCE.read_bytes()
        else:
            _VALID[fmt] = json.dumps(load_cassette(REFERENCE)).encode()
    return _VALID[fmt]


@FUZZ
@given(
    tag=st.sampled_from(
        [
            "!!python/object/apply:os.system",
            "!!python/object/new:os.system",
            "!!python/name:os.system",
            "!!python/object:builtins.object",
            "!!python/module:os",
            "!<tag:yaml.org,2002:python/object/apply:subprocess.call>",
        ]
    ),
    where=st.sampled_from(["version", "uri", "body", "interactions"]),
)
def test_python_tags_are_refused(tag, where, tmp_path_factory):
    marker = tmp_path_factory.getbasetemp() / "tag-executed"
    payload = f'{tag} ["touch {marker}"]'
    doc = {
        "version": "version: " + payload + "\ninteractions: []\n",
        "interactions": "version: 1\ninteractions: " + payload + "\n",
        "uri": "version: 1\ninteractions:\n- request: {method: GET, uri: "
        + payload
        + "}\n  response: {status: {code: 200}}\n",
        "body": "version: 1\ninteractions:\n- request: {method: GET, uri: /, body: "
        + payload
        + "}\n  response: {status: {code: 200}}\n",
    }[where]
    try:
        parse_cassette(doc.encode(), "tagged.yaml")
    except CassetteError as e:
        assert "safe loader" in str(e) or "not valid YAML" in str(e)
    else:
        raise AssertionError("a cassette with a python tag was accepted")
    assert not marker.exists()


@FUZZ
@given(
    items=st.lists(
        st.tuples(st.sampled_from(["GET", "POST"]), st.binary(max_size=60), st.text(max_size=30)),
        max_size=6,
    ),
    fmt=st.sampled_from(["yaml", "json"]),
)
def test_writer_output_always_loads(items, fmt, tmp_path_factory):
    """Whatever bytes the bodies hold, what the writer appends loads back, one item per append."""
    path = tmp_path_factory.mktemp("writer") / f"c.{fmt}"
    with CassetteWriter(path) as writer:
        for method, body, reason in items:
            writer.append(
                make_interaction(
                    method=method,
                    uri="http://127.0.0.1/voice-connectors/c/proxy-sessions",
                    request_headers={"X-Body": [reason]},
                    request_body=body,
                    status=200,
                    reason=reason,
                    response_headers={},
                    response_body=body,
                    fmt=fmt,
                )
            )
            assert len(load_cassette(path)["interactions"]) == writer.count
    doc = load_cassette(path)
    assert [i["request"]["method"] for i in doc["interactions"]] == [m for m, _, _ in items]
    path.unlink()
