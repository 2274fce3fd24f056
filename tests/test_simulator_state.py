"""The simulator's pure parts: the session store, the wire answers, the fault injector, the addon."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
from collections import Counter

import pytest

from chime_tap.api.hosts import LEGACY, VOICE
from chime_tap.api.operations import OPERATIONS, classify
from chime_tap.api.validation import validate_response
from chime_tap.simulator.faults import FaultInjector, Latency, parse_latency, parse_rate
from chime_tap.simulator.service import answer
from chime_tap.simulator.store import (
    CLOSED,
    OPEN,
    Listing,
    SessionStore,
    SimClock,
    SimError,
    decode_token,
    encode_token,
    format_timestamp,
    token_key,
)

CONNECTOR = "abcdef1ghij2klmno3pqr4"
T0 = 1586967010.288  # 2020-04-15T16:10:10.288Z, the documented sample's CreatedTimestamp
A, B, C = "+12065550100", "+14015550101", "+13125550102"


def create_body(**extra):
    return {"ParticipantPhoneNumbers": [A, B], "Capabilities": ["SMS", "Voice"], **extra}


def voice_route(method, path):
    route = classify(method, "voice-chime.us-east-1.amazonaws.com", path)
    assert route is not None
    return route


# --- store ----------------------------------------------------------------------------------


def test_timestamp_has_milliseconds_and_z():
    assert format_timestamp(T0) == "2020-04-15T16:10:10.288Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_create_answers_the_documented_member_set_with_nulls():
    store = SessionStore()
    s = store.create(VOICE, CONNECTOR, create_body(ExpiryMinutes=60), T0)
    sample = (
        '{"Capabilities":["SMS","Voice"],"CreatedTimestamp":"2020-04-15T16:10:10.288Z","EndedTimestamp":null,'
        '"ExpiryMinutes":60,"GeoMatchLevel":null,"GeoMatchParams":null,"Name":null,"NumberSelectionBehavior":null,'
        '"Participants":[],"ProxySessionId":"x","Status":"Open","UpdatedTimestamp":"2020-04-15T16:10:10.288Z",'
        '"VoiceConnectorId":"abcdef1ghij2klmno3pqr4"}'
    )
    assert list(s) == list(json.loads(sample))  # same members, same order as the sample
    assert s["Status"] == OPEN
    assert s["CreatedTimestamp"] == s["UpdatedTimestamp"] == "2020-04-15T16:10:10.288Z"
    assert s["EndedTimestamp"] is None and s["Name"] is None and s["GeoMatchParams"] is None
    assert [p["PhoneNumber"] for p in s["Participants"]] == [A, B]
    proxies = {p["ProxyPhoneNumber"] for p in s["Participants"]}
    assert len(proxies) == 1 and proxies.isdisjoint({A, B})
    route = voice_route("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions")
    assert validate_response(route, status=201, body=json.dumps({"ProxySession": s})) == []


def test_ids_are_reproducible_per_seed_and_unique():
    ids = [
        [
            SessionStore(seed=s).create(VOICE, CONNECTOR, create_body(), T0)["ProxySessionId"]
            for _ in range(2)
        ]
        for s in (1, 1, 2)
    ]
    assert ids[0] == ids[1] and ids[0] != ids[2]
    store = SessionStore(seed=3)
    made = {store.create(VOICE, CONNECTOR, create_body(), T0)["ProxySessionId"] for _ in range(50)}
    assert len(made) == 50


def test_without_a_seed_every_store_is_a_new_run_with_ids_of_its_own():
    # Two runs of `chime-tap simulate` without --seed, appended to one cassette, must never
    # hand out the same session id (a report would merge the two sessions into one).
    runs = [SessionStore(), SessionStore(seed=None), SessionStore(seed=4)]
    runs[2].reseed(None)  # the option set back to no seed: a new run, not seed 4's ids
    made = [
        [run.create(VOICE, CONNECTOR, create_body(), T0)["ProxySessionId"] for _ in range(20)]
        for run in runs
    ]
    assert len({sid for run in made for sid in run}) == 60
    assert made[2] != [
        SessionStore(seed=4).create(VOICE, CONNECTOR, create_body(), T0)["ProxySessionId"]
        for _ in range(20)
    ]
    # ...and their NextTokens are their own: another run's token is a bad request.
    for run in runs[:2]:
        for _ in range(2):
            run.create(VOICE, CONNECTOR, create_body(), T0)
    token = runs[0].list(VOICE, CONNECTOR, T0, max_results=2)[1]
    assert token is not None and runs[0].list(VOICE, CONNECTOR, T0, next_token=token)[0]
    with pytest.raises(SimError) as e:
        runs[1].list(VOICE, CONNECTOR, T0, next_token=token)
    assert e.value.status == 400


def test_each_namespace_keeps_its_own_sessions():
    store = SessionStore(seed=1)
    voice = store.create(VOICE, CONNECTOR, create_body(ExpiryMinutes=1), T0)["ProxySessionId"]
    legacy = store.create(LEGACY, CONNECTOR, create_body(ExpiryMinutes=10), T0)["ProxySessionId"]
    assert len(store) == 2
    # Listed, read, updated and deleted only through the namespace that created it.
    assert [s["ProxySessionId"] for s in store.list(VOICE, CONNECTOR, T0)[0]] == [voice]
    assert [s["ProxySessionId"] for s in store.list(LEGACY, CONNECTOR, T0)[0]] == [legacy]
    calls = (
        lambda ns, sid: store.get(ns, CONNECTOR, sid, T0),
        lambda ns, sid: store.update(ns, CONNECTOR, sid, {"Capabilities": ["SMS"]}, T0),
        lambda ns, sid: store.delete(ns, CONNECTOR, sid, T0),
    )
    for namespace, elsewhere in ((VOICE, legacy), (LEGACY, voice)):
        for call in calls:
            with pytest.raises(SimError) as e:
                call(namespace, elsewhere)
            assert (e.value.status, e.value.code) == (404, "NotFound")
    # Proxy numbers: a participant's open session in one namespace holds no number in the other.
    assert (
        store.get(VOICE, CONNECTOR, voice, T0)["Participants"]
        == store.get(LEGACY, CONNECTOR, legacy, T0)["Participants"]
    )
    # Expiry per namespace, on the one clock.
    assert store.get(VOICE, CONNECTOR, voice, T0 + 60)["Status"] == CLOSED
    assert store.get(LEGACY, CONNECTOR, legacy, T0 + 60)["Status"] == OPEN
    assert store.list(LEGACY, CONNECTOR, T0 + 60, status=CLOSED) == ([], None)
    store.delete(VOICE, CONNECTOR, voice, T0 + 60)
    assert store.get(LEGACY, CONNECTOR, legacy, T0 + 60)["ProxySessionId"] == legacy
    # A NextToken is bound to its namespace too.
    for namespace in (VOICE, LEGACY):
        for _ in range(2):
            store.create(namespace, CONNECTOR, create_body(), T0 + 60)
    token = store.list(VOICE, CONNECTOR, T0 + 60, max_results=1)[1]
    assert token is not None
    with pytest.raises(SimError) as e:
        store.list(LEGACY, CONNECTOR, T0 + 60, max_results=1, next_token=token)
    assert e.value.status == 400
    # Reset forgets both.
    store.reset()
    assert len(store) == 0
    assert store.list(VOICE, CONNECTOR, T0) == store.list(LEGACY, CONNECTOR, T0) == ([], None)
    with pytest.raises(ValueError, match="namespace"):
        store.list("neither", CONNECTOR, T0)


def test_a_legacy_listing_on_the_wire_shows_no_voice_session():
    store = SessionStore()
    path = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
    made = answer(
        store, voice_route("POST", path), query={}, body=json.dumps(create_body()).encode(), now=T0
    )
    assert made.status == 201
    listing = classify("GET", "service.chime.aws.amazon.com", path)
    r = answer(store, listing, query={}, body=None, now=T0)
    assert (r.status, json.loads(r.body)) == (200, {"NextToken": None, "ProxySessions": []})
    sid = json.loads(made.body)["ProxySession"]["ProxySessionId"]
    get = classify("GET", "chime.us-east-1.amazonaws.com", f"{path}/{sid}")
    assert answer(store, get, query={}, body=None, now=T0).status == 404
    assert (
        answer(store, voice_route("GET", f"{path}/{sid}"), query={}, body=None, now=T0).status
        == 200
    )


def test_get_update_delete_and_not_found():
    store = SessionStore()
    sid = store.create(VOICE, CONNECTOR, create_body(ExpiryMinutes=60), T0)["ProxySessionId"]
    assert store.get(VOICE, CONNECTOR, sid, T0)["ProxySessionId"] == sid
    updated = store.update(
        VOICE, CONNECTOR, sid, {"Capabilities": ["Voice"], "ExpiryMinutes": 90}, T0
    )
    assert updated["Capabilities"] == ["Voice"] and updated["ExpiryMinutes"] == 90
    # Later than before even when the clock has not moved.
    assert updated["UpdatedTimestamp"] > updated["CreatedTimestamp"]
    again = store.update(VOICE, CONNECTOR, sid, {"Capabilities": ["SMS"]}, T0 + 5)
    assert again["ExpiryMinutes"] == 90 and again["UpdatedTimestamp"] == format_timestamp(T0 + 5)
    with pytest.raises(SimError) as e:
        store.get(VOICE, "otherconnector000000001", sid, T0)
    assert e.value.status == 404
    store.delete(VOICE, CONNECTOR, sid, T0)
    for call in (
        lambda: store.get(VOICE, CONNECTOR, sid, T0),
        lambda: store.delete(VOICE, CONNECTOR, sid, T0),
    ):
        with pytest.raises(SimError) as e:
            call()
        assert (e.value.status, e.value.error_type, e.value.code) == (
            404,
            "NotFoundException",
            "NotFound",
        )


def test_sessions_close_at_their_expiry():
    store = SessionStore()
    short = store.create(VOICE, CONNECTOR, create_body(ExpiryMinutes=1), T0)["ProxySessionId"]
    extended = store.create(VOICE, CONNECTOR, create_body(ExpiryMinutes=1), T0)["ProxySessionId"]
    forever = store.create(VOICE, CONNECTOR, create_body(), T0)["ProxySessionId"]
    store.update(
        VOICE, CONNECTOR, extended, {"Capabilities": ["Voice"], "ExpiryMinutes": 10}, T0 + 30
    )
    assert store.get(VOICE, CONNECTOR, short, T0 + 59.9)["Status"] == OPEN
    closed = store.get(VOICE, CONNECTOR, short, T0 + 60)
    assert closed["Status"] == CLOSED and closed["EndedTimestamp"] == format_timestamp(T0 + 60)
    assert store.get(VOICE, CONNECTOR, extended, T0 + 61)["Status"] == OPEN
    assert store.get(VOICE, CONNECTOR, extended, T0 + 600)["Status"] == CLOSED
    assert store.get(VOICE, CONNECTOR, forever, T0 + 10**7)["Status"] == OPEN
    with pytest.raises(SimError) as e:
        store.update(VOICE, CONNECTOR, short, {"Capabilities": ["Voice"]}, T0 + 61)
    assert e.value.status == 400


def test_list_pages_in_creation_order_with_status_filter():
    store = SessionStore()
    made = [
        store.create(VOICE, CONNECTOR, create_body(ExpiryMinutes=1 if i % 3 == 0 else 60), T0)[
            "ProxySessionId"
        ]
        for i in range(7)
    ]
    seen, token, pages = [], None, 0
    while pages < 10:
        page, token = store.list(VOICE, CONNECTOR, T0, max_results=3, next_token=token)
        seen += [s["ProxySessionId"] for s in page]
        pages += 1
        if token is None:
            break
    assert seen == made and pages == 3
    closed, token = store.list(VOICE, CONNECTOR, T0 + 120, status=CLOSED)
    assert [s["ProxySessionId"] for s in closed] == made[0::3] and token is None
    open_, _ = store.list(VOICE, CONNECTOR, T0 + 120, status=OPEN, max_results=100)
    assert {s["ProxySessionId"] for s in open_} == set(made) - set(made[0::3])
    assert store.list(VOICE, "nosuchconnector00000001", T0) == ([], None)


def test_next_token_round_trip_and_rejection():
    key = token_key(0)
    everything, open_only = Listing(VOICE, CONNECTOR, None), Listing(VOICE, CONNECTOR, OPEN)
    assert decode_token(key, everything, encode_token(key, everything, 42)) == 42
    assert decode_token(key, open_only, encode_token(key, open_only, 7)) == 7
    good = encode_token(key, everything, 1)
    forged = base64.urlsafe_b64encode(b"chime-tap-sim:1").decode().rstrip("=")  # the old form
    for bad in ("garbage!", good[:-2] + "zz", "bm90LW91cnM6MQ", forged, good + "AA"):
        with pytest.raises(SimError) as e:
            decode_token(key, everything, bad)
        assert (e.value.status, e.value.error_type) == (400, "BadRequestException")
    # Opaque: nothing in it reads as the connector or the position.
    raw = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4))
    assert CONNECTOR.encode() not in raw and b"chime-tap" not in raw
    # Same seed, same tokens (recorded runs stay reproducible); another seed, other tokens.
    assert encode_token(token_key(0), everything, 1) == good
    assert encode_token(token_key(1), everything, 1) != good
    # The same listing in the other namespace is another listing.
    with pytest.raises(SimError):
        decode_token(key, Listing(LEGACY, CONNECTOR, None), good)
    # No seed: a key of its own, never the same twice.
    assert token_key(None) != token_key(None)


def _first_page(store, connector, **kw):
    page, token = store.list(VOICE, connector, T0, max_results=2, **kw)
    assert len(page) == 2 and token is not None
    return token


def test_a_next_token_is_bound_to_its_connector_and_status_filter():
    other = "zyxwvu9tsrq8ponml7kji6"
    store = SessionStore()
    for connector in (CONNECTOR, other):
        for _ in range(5):
            store.create(VOICE, connector, create_body(ExpiryMinutes=60), T0)
    token = _first_page(store, CONNECTOR)
    # Another connector, or another status filter: 400, never a page of someone else's listing.
    for connector, status in ((other, None), (CONNECTOR, OPEN), (other, OPEN)):
        with pytest.raises(SimError) as e:
            store.list(VOICE, connector, T0, max_results=2, status=status, next_token=token)
        assert (e.value.status, e.value.code) == (400, "BadRequest")
        assert "NextToken" in e.value.message
    with pytest.raises(SimError):  # a connector with no sessions at all checks it too
        store.list(VOICE, "nosuchconnector00000001", T0, next_token=token)
    # The same listing goes on; its page size may change from one page to the next.
    rest, end = store.list(VOICE, CONNECTOR, T0, max_results=10, next_token=token)
    assert len(rest) == 3 and end is None
    filtered = _first_page(store, CONNECTOR, status=OPEN)
    with pytest.raises(SimError):
        store.list(VOICE, CONNECTOR, T0, max_results=2, next_token=filtered)
    page, _ = store.list(VOICE, CONNECTOR, T0, max_results=2, status=OPEN, next_token=filtered)
    assert len(page) == 2
    # A token from a store with another seed (another simulator run) is not this one's.
    other_store = SessionStore(seed=9)
    for _ in range(3):
        other_store.create(VOICE, CONNECTOR, create_body(), T0)
    with pytest.raises(SimError):
        other_store.list(VOICE, CONNECTOR, T0, max_results=2, next_token=token)


def test_a_next_token_from_another_connector_is_a_bad_request_on_the_wire():
    other = "zyxwvu9tsrq8ponml7kji6"
    store = SessionStore()
    for connector in (CONNECTOR, other):
        for _ in range(3):
            store.create(VOICE, connector, create_body(), T0)
    listing = voice_route("GET", f"/voice-connectors/{CONNECTOR}/proxy-sessions")
    first = answer(store, listing, query={"max-results": ["2"]}, body=None, now=T0)
    token = json.loads(first.body)["NextToken"]
    assert first.status == 200 and token
    elsewhere = voice_route("GET", f"/voice-connectors/{other}/proxy-sessions")
    r = answer(
        store, elsewhere, query={"max-results": ["2"], "next-token": [token]}, body=None, now=T0
    )
    assert r.status == 400 and r.headers["x-amzn-ErrorType"] == "BadRequestException"
    doc = json.loads(r.body)
    assert doc["Code"] == "BadRequest" and "NextToken" in doc["Message"]
    assert validate_response(elsewhere, status=r.status, body=r.body, headers=r.headers) == []
    open_only = {"status": ["Open"], "next-token": [token]}
    assert answer(store, listing, query=open_only, body=None, now=T0).status == 400
    ok = answer(store, listing, query={"next-token": [token]}, body=None, now=T0)
    assert ok.status == 200 and len(json.loads(ok.body)["ProxySessions"]) == 1


def test_proxy_numbers_are_not_shared_by_open_sessions_of_a_participant():
    store = SessionStore()
    first = store.create(VOICE, CONNECTOR, create_body(ExpiryMinutes=1), T0)
    second = store.create(
        VOICE, CONNECTOR, {"ParticipantPhoneNumbers": [A, C], "Capabilities": ["Voice"]}, T0
    )
    unrelated = store.create(
        VOICE,
        CONNECTOR,
        {"ParticipantPhoneNumbers": [C, "+15555550123"], "Capabilities": ["Voice"]},
        T0,
    )
    p1, p2, p3 = (s["Participants"][0]["ProxyPhoneNumber"] for s in (first, second, unrelated))
    assert p1 != p2  # A is in both
    assert p3 not in (p2,)  # C is in both
    # After the first closes, PreferSticky gives B its old number back; AvoidSticky never does.
    sticky = store.create(
        VOICE,
        CONNECTOR,
        {
            "ParticipantPhoneNumbers": [B, "+16175550199"],
            "Capabilities": ["Voice"],
            "NumberSelectionBehavior": "PreferSticky",
        },
        T0 + 61,
    )
    avoid = store.create(
        VOICE,
        CONNECTOR,
        {
            "ParticipantPhoneNumbers": [B, "+16175550198"],
            "Capabilities": ["Voice"],
            "NumberSelectionBehavior": "AvoidSticky",
        },
        T0 + 61,
    )
    assert sticky["Participants"][0]["ProxyPhoneNumber"] == p1
    assert avoid["Participants"][0]["ProxyPhoneNumber"] not in (p1,)
    area = store.create(
        VOICE,
        CONNECTOR,
        create_body(GeoMatchLevel="AreaCode", GeoMatchParams={"Country": "US", "AreaCode": "617"}),
        T0,
    )
    assert area["Participants"][0]["ProxyPhoneNumber"].startswith("+1617")
    assert area["GeoMatchParams"] == {"Country": "US", "AreaCode": "617"}


def test_pool_exhaustion_is_a_bad_request():
    store = SessionStore()
    for i in range(100):
        store.create(
            VOICE,
            CONNECTOR,
            {"ParticipantPhoneNumbers": [A, f"+1206555{i:04d}"], "Capabilities": ["Voice"]},
            T0,
        )
    with pytest.raises(SimError) as e:
        store.create(VOICE, CONNECTOR, create_body(), T0)
    assert e.value.status == 400


def test_concurrent_creates_are_safe():
    store = SessionStore()
    ids: list[str] = []

    def work(n):
        for i in range(50):
            ids.append(
                store.create(
                    VOICE,
                    f"connector{n:02d}aaaaaaaaaaaaa",
                    {"ParticipantPhoneNumbers": [A, f"+1312555{i:04d}"], "Capabilities": ["Voice"]},
                    T0,
                )["ProxySessionId"]
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ids) == len(set(ids)) == len(store) == 400


def test_clock_only_moves_forward():
    now = [1000.0]
    clock = SimClock(source=lambda: now[0])
    clock.advance(60)
    assert clock.now() == 1060.0
    with pytest.raises(ValueError):
        clock.advance(-1)


# --- wire answers ---------------------------------------------------------------------------


def test_answers_have_the_service_shape():
    store = SessionStore()
    create = voice_route("POST", f"/voice-connectors/{CONNECTOR}/proxy-sessions")
    r = answer(store, create, query={}, body=json.dumps(create_body()).encode(), now=T0)
    assert r.status == 201 and r.headers["Content-Type"] == "application/json"
    assert (
        r.headers["Date"] == "Wed, 15 Apr 2020 16:10:10 GMT"
        and len(r.headers["x-amzn-RequestId"]) == 36
    )
    assert validate_response(create, status=r.status, body=r.body, headers=r.headers) == []
    sid = json.loads(r.body)["ProxySession"]["ProxySessionId"]
    item = f"/voice-connectors/{CONNECTOR}/proxy-sessions/{sid}"

    d = answer(store, voice_route("DELETE", item), query={}, body=None, now=T0)
    assert (d.status, d.body, "Content-Type" in d.headers) == (204, b"", False)
    g = answer(store, voice_route("GET", item), query={}, body=None, now=T0)
    assert g.status == 404 and g.headers["x-amzn-ErrorType"] == "NotFoundException"
    assert json.loads(g.body)["Code"] == "NotFound"
    assert (
        validate_response(voice_route("GET", item), status=g.status, body=g.body, headers=g.headers)
        == []
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "needle"),
    [
        (
            "POST",
            "/proxy-sessions",
            {},
            {"ParticipantPhoneNumbers": ["+1"], "Capabilities": ["Voice"]},
            "/ParticipantPhoneNumbers",
        ),
        ("POST", "/proxy-sessions", {}, {"ParticipantPhoneNumbers": [A, B]}, "Capabilities"),
        (
            "POST",
            "/proxy-sessions/x",
            {},
            {"Capabilities": ["Voice"], "ExpiryMinutes": 0},
            "/ExpiryMinutes",
        ),
        ("GET", "/proxy-sessions", {"max-results": ["101"]}, None, "max-results"),
        ("GET", "/proxy-sessions", {"status": ["Gone"]}, None, "status"),
        ("GET", "/proxy-sessions", {"next-token": ["not-ours"]}, None, "NextToken"),
    ],
)
def test_invalid_requests_are_bad_requests(method, path, query, body, needle):
    route = voice_route(method, f"/voice-connectors/{CONNECTOR}{path}")
    r = answer(
        SessionStore(), route, query=query, body=json.dumps(body).encode() if body else None, now=T0
    )
    assert r.status == 400 and r.headers["x-amzn-ErrorType"] == "BadRequestException"
    doc = json.loads(r.body)
    assert doc["Code"] == "BadRequest" and needle in doc["Message"]
    assert validate_response(route, status=r.status, body=r.body, headers=r.headers) == []


def test_legacy_namespace_limits_pages_to_99():
    route = classify(
        "GET", "service.chime.aws.amazon.com", "/voice-connectors/legacy-connector/proxy-sessions"
    )
    assert (
        answer(SessionStore(), route, query={"max-results": ["99"]}, body=None, now=T0).status
        == 200
    )
    assert (
        answer(SessionStore(), route, query={"max-results": ["100"]}, body=None, now=T0).status
        == 400
    )


def test_every_operation_has_an_answer():
    names = set()
    store = SessionStore()
    sid = store.create(VOICE, CONNECTOR, create_body(), T0)["ProxySessionId"]
    for op in OPERATIONS.values():
        route = voice_route(op.method, op.path_for(voiceConnectorId=CONNECTOR, proxySessionId=sid))
        body = {
            "CreateProxySession": create_body(),
            "UpdateProxySession": {"Capabilities": ["Voice"]},
        }.get(op.name)
        if op.name == "DeleteProxySession":
            continue
        r = answer(store, route, query={}, body=json.dumps(body).encode() if body else None, now=T0)
        assert r.status == op.success_status
        assert validate_response(route, status=r.status, body=r.body, headers=r.headers) == []
        names.add(op.name)
    assert len(names) == 4


# --- faults ---------------------------------------------------------------------------------


def test_same_seed_same_faults():
    a = FaultInjector(0.2, 0.1, parse_latency("uniform:1:9"), seed=5)
    b = FaultInjector(0.2, 0.1, parse_latency("uniform:1:9"), seed=5)
    c = FaultInjector(0.2, 0.1, parse_latency("uniform:1:9"), seed=6)
    seq_a = [(d.status, d.delay) for d in (a.decide() for _ in range(200))]
    seq_b = [(d.status, d.delay) for d in (b.decide() for _ in range(200))]
    seq_c = [(d.status, d.delay) for d in (c.decide() for _ in range(200))]
    assert seq_a == seq_b and seq_a != seq_c
    # Latency has its own stream: changing it leaves the faults where they were.
    d = FaultInjector(0.2, 0.1, parse_latency("lognormal:20:0.5"), seed=5)
    assert [x.status for x in (d.decide() for _ in range(200))] == [s for s, _ in seq_a]


def test_without_a_seed_every_injector_draws_afresh():
    # No seed is another run: other faults, other latency (the same seed repeats them: above).
    latency = parse_latency("uniform:1:9")
    runs = [FaultInjector(0.2, 0.1, latency), FaultInjector(0.2, 0.1, latency, seed=None)]
    statuses, delays = [], []
    for run in runs:
        decisions = [run.decide() for _ in range(200)]
        statuses.append([d.status for d in decisions])
        delays.append([d.delay for d in decisions])
    assert statuses[0] != statuses[1] and delays[0] != delays[1]
    assert all(run.seed is None for run in runs)


def test_fault_rates_are_what_was_asked():
    n = 20000
    inj = FaultInjector(0.2, 0.1, seed=9)
    counts = Counter(d.status for d in (inj.decide() for _ in range(n)))
    assert abs(counts[429] / n - 0.2) < 0.015
    assert abs((counts[500] + counts[503]) / n - 0.1) < 0.015
    assert counts[500] > 0 and counts[503] > 0
    assert set(counts) == {None, 429, 500, 503}
    assert Counter(
        d.status for d in (FaultInjector(0, 0, seed=9).decide() for _ in range(100))
    ) == {None: 100}


def test_latency_forms():
    rng = random.Random(1)
    assert parse_latency("25") == Latency("fixed", 25.0)
    assert parse_latency("fixed:7").sample_ms(rng) == 7.0
    samples = [parse_latency("uniform:10:50").sample_ms(rng) for _ in range(1000)]
    assert min(samples) >= 10 and max(samples) <= 50
    logn = sorted(parse_latency("lognormal:20:0.5").sample_ms(rng) for _ in range(4001))
    assert 18 < logn[2000] < 22  # the median is the first parameter
    expo = [parse_latency("exponential:30").sample_ms(rng) for _ in range(4000)]
    assert 27 < sum(expo) / len(expo) < 33
    for bad in ("fast", "uniform:5", "uniform:9:1", "-3", "lognormal:a:b", "nan"):
        with pytest.raises(ValueError):
            parse_latency(bad)


def test_rates_are_checked():
    assert parse_rate("0.25") == 0.25
    for bad in ("-0.1", "1.5", "many"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    with pytest.raises(ValueError):
        FaultInjector(0.7, 0.6)


# --- the addon in mitmproxy's test context ------------------------------------------------


def test_addon_options_and_offline_settings():
    from mitmproxy import exceptions
    from mitmproxy.test import taddons

    from chime_tap.addons.simulate import Simulator

    sim = Simulator()
    with taddons.context(sim) as tctx:
        assert tctx.options.upstream_cert is True  # mitmproxy's default
        sim.running()
        assert tctx.options.upstream_cert is False
        tctx.configure(sim, upstream_cert=True)
        assert tctx.options.upstream_cert is False  # forced back: nothing may go upstream
        for option, value in (
            ("chime_sim_throttle_rate", "2"),
            ("chime_sim_latency_ms", "soon"),
            ("chime_sim_clock_offset", -5),
        ):
            with pytest.raises(exceptions.OptionsError, match=option):
                tctx.configure(sim, **{option: value})
        tctx.configure(sim, chime_sim_clock_offset=3600)
        assert sim.clock.offset == 3600
        tctx.command(sim.advance, 60)
        assert sim.clock.offset == 3660
        with pytest.raises(exceptions.CommandError):
            sim.advance(-1)


def test_addon_answers_in_the_request_hook():
    asyncio.run(_answers_in_the_request_hook())


async def _answers_in_the_request_hook():
    from mitmproxy.test import taddons, tflow, tutils

    from chime_tap.addons.simulate import Simulator

    sim = Simulator()
    with taddons.context(sim):
        flow = tflow.tflow()
        flow.request = tutils.treq(
            host="voice-chime.us-east-1.amazonaws.com",
            port=443,
            scheme=b"https",
            method=b"GET",
            path=f"/voice-connectors/{CONNECTOR}/proxy-sessions".encode(),
            content=b"",
        )
        await sim.request(flow)
        assert flow.response.status_code == 200
        assert json.loads(flow.response.content) == {"NextToken": None, "ProxySessions": []}
        other = tflow.tflow()
        await sim.request(other)  # address.com: not a Chime host, and the simulator stays offline
        assert other.response.status_code == 502


def test_a_simulator_bug_is_a_500_not_a_dead_hook(monkeypatch):
    asyncio.run(_bug_is_a_500(monkeypatch))


async def _bug_is_a_500(monkeypatch):
    from mitmproxy.test import taddons, tflow, tutils

    from chime_tap.addons.simulate import Simulator

    sim = Simulator()

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(sim.store, "list", broken)
    with taddons.context(sim):
        flow = tflow.tflow()
        flow.request = tutils.treq(
            host="voice-chime.us-east-1.amazonaws.com",
            port=443,
            scheme=b"https",
            method=b"GET",
            path=f"/voice-connectors/{CONNECTOR}/proxy-sessions".encode(),
            content=b"",
        )
        await sim.request(flow)
        assert flow.response.status_code == 500
        assert flow.response.headers["x-amzn-ErrorType"] == "ServiceFailureException"
