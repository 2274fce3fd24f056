"""The simulator addon the mitmproxy way: Simulator in taddons.context, driven with tflow flows
through its (async) request hook.

The answers per operation, the schemas, the clock, the control endpoint, faults and the offline
guard are checked here; tests/test_simulator.py keeps the end-to-end runs (real boto3 over TLS
through `chime-tap simulate` and `mitmdump -s addons/simulate.py`) that prove the wiring.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from mitmproxy import exceptions, http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import taddons, tflow

from chime_tap.addons.simulate import Simulator
from chime_tap.api.operations import classify
from chime_tap.api.validation import validate_response
from chime_tap.simulator.faults import FaultInjector, parse_latency

VOICE_HOST = "voice-chime.us-east-1.amazonaws.com"
LEGACY_HOSTS = ("service.chime.aws.amazon.com", "chime.us-east-1.amazonaws.com")
CONTROL = "sim.chime-tap.invalid"
CONNECTOR = "abcdef1ghij2klmno3pqr4"
SESSIONS = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
A, B = "+12065550100", "+14015550101"


def make_flow(
    method: str,
    path: str,
    body: Any = None,
    *,
    host: str = VOICE_HOST,
    port: int = 443,
    scheme: str = "https",
) -> http.HTTPFlow:
    f = tflow.tflow()
    req = f.request
    req.method, req.scheme, req.host, req.port, req.path = method, scheme, host, port, path
    req.headers.clear()
    req.headers["Host"] = host if port in (80, 443) else f"{host}:{port}"
    if body is not None:
        req.headers["Content-Type"] = "application/json"
    req.content = b"" if body is None else json.dumps(body).encode()
    return f


def send(sim: Simulator, method: str, path: str, body: Any = None, **kw: Any) -> http.HTTPFlow:
    """One request through the simulator's request hook, as mitmproxy awaits it."""
    f = make_flow(method, path, body, **kw)
    asyncio.run(sim.request(f))
    return f


def send_all(sim: Simulator, flows: list[http.HTTPFlow]) -> list[http.HTTPFlow]:
    """Requests in flight together, as on many client connections: one event loop for all."""

    async def all_of_them() -> None:
        await asyncio.gather(*(sim.request(f) for f in flows))

    asyncio.run(all_of_them())
    return flows


def doc_of(f: http.HTTPFlow) -> Any:
    assert f.response is not None, "not answered"
    return json.loads(f.response.content) if f.response.content else None


def schema_violations(f: http.HTTPFlow) -> list[str]:
    """What is wrong with the answer for the operation it answers, per the service's schemas."""
    req, resp = f.request, f.response
    assert resp is not None
    route = classify(req.method, req.pretty_host, req.path)
    assert route is not None, f"{req.method} {req.path} is no proxy-session call"
    return [
        f"{route.name} {resp.status_code}: {v}"
        for v in validate_response(
            route, status=resp.status_code, body=resp.content, headers=dict(resp.headers)
        )
    ]


def create_body(**extra: Any) -> dict[str, Any]:
    return {"ParticipantPhoneNumbers": [A, B], "Capabilities": ["Voice"], **extra}


def control(
    sim: Simulator, method: str, path: str, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """A call to the control endpoint with the simulator's token (or ``token``; "" for none)."""
    f = make_flow(method, path, host=CONTROL, port=80, scheme="http")
    token = sim.token if token is None else token
    if token:
        f.request.headers["Authorization"] = f"Bearer {token}"
    asyncio.run(sim.request(f))
    return f.response.status_code, doc_of(f)


def timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def simulator():
    sim = Simulator()
    with taddons.context(sim) as tctx:
        yield sim, tctx


# --- options -----------------------------------------------------------------------------------


def test_options_are_registered_with_type_default_and_help() -> None:
    sim = Simulator()
    with taddons.context(sim) as tctx:
        expected = {
            "chime_sim_throttle_rate": "0",
            "chime_sim_error_rate": "0",
            "chime_sim_latency_ms": "0",
            "chime_sim_seed": None,  # no seed: every run its own ids, faults and latency
            "chime_sim_clock_offset": 0,
            "chime_sim_offline": True,
            "chime_hosts": [],
        }
        for name, default in expected.items():
            assert getattr(tctx.options, name) == default, name
            assert tctx.options._options[name].help, name


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"chime_sim_throttle_rate": "2"}, "chime_sim_throttle_rate: "),
        ({"chime_sim_error_rate": "-1"}, "chime_sim_error_rate: "),
        (
            {"chime_sim_throttle_rate": "0.6", "chime_sim_error_rate": "0.6"},
            "chime_sim_error_rate: .*more than 1",
        ),
        ({"chime_sim_latency_ms": "soon"}, "chime_sim_latency_ms: "),
        ({"chime_hosts": ["example.com=nowhere"]}, "chime_hosts: "),
        ({"chime_sim_clock_offset": -3}, "chime_sim_clock_offset: .*only moves forward"),
    ],
)
def test_a_bad_value_is_an_options_error_naming_the_option(values, message) -> None:
    sim = Simulator()
    with taddons.context(sim) as tctx, pytest.raises(exceptions.OptionsError, match=message):
        tctx.configure(sim, **values)


# --- the five operations ------------------------------------------------------------------------


def test_lifecycle_answers_every_operation_as_the_service_does(simulator) -> None:
    sim, _ = simulator
    answered: list[http.HTTPFlow] = []

    def call(method: str, path: str, body: Any = None) -> http.HTTPFlow:
        f = send(sim, method, path, body)
        answered.append(f)
        return f

    made = [
        call("POST", SESSIONS, create_body(Name=f"demo {i}", ExpiryMinutes=60)) for i in range(5)
    ]
    assert {f.response.status_code for f in made} == {201}
    sessions = [doc_of(f)["ProxySession"] for f in made]
    assert [s["Status"] for s in sessions] == ["Open"] * 5
    assert len({s["ProxySessionId"] for s in sessions}) == 5
    assert all(
        s["VoiceConnectorId"] == CONNECTOR and s["CreatedTimestamp"] == s["UpdatedTimestamp"]
        for s in sessions
    )
    first = sessions[0]["ProxySessionId"]

    got = call("GET", f"{SESSIONS}/{first}")
    assert got.response.status_code == 200
    assert doc_of(got)["ProxySession"]["Participants"] == sessions[0]["Participants"]
    assert doc_of(got)["ProxySession"]["Name"] == "demo 0"

    assert control(sim, "POST", "/clock/advance?seconds=1")[0] == 200
    updated = call("POST", f"{SESSIONS}/{first}", {"Capabilities": ["SMS"], "ExpiryMinutes": 90})
    assert updated.response.status_code == 201
    session = doc_of(updated)["ProxySession"]
    assert session["Capabilities"] == ["SMS"] and session["ExpiryMinutes"] == 90
    assert session["UpdatedTimestamp"] > doc_of(got)["ProxySession"]["UpdatedTimestamp"]

    pages, token = [], ""
    for _ in range(10):  # bounded: follow NextToken
        page = call("GET", f"{SESSIONS}?max-results=2" + (f"&next-token={token}" if token else ""))
        assert page.response.status_code == 200
        pages.append(doc_of(page))
        token = pages[-1]["NextToken"]
        if not token:
            break
    assert [len(p["ProxySessions"]) for p in pages] == [2, 2, 1]
    assert [s["ProxySessionId"] for p in pages for s in p["ProxySessions"]] == [
        s["ProxySessionId"] for s in sessions
    ]

    deleted = call("DELETE", f"{SESSIONS}/{first}")
    assert deleted.response.status_code == 204 and deleted.response.content == b""
    gone = call("GET", f"{SESSIONS}/{first}")
    assert gone.response.status_code == 404
    assert gone.response.headers["x-amzn-ErrorType"] == "NotFoundException"
    assert doc_of(gone)["Code"] == "NotFound"
    remaining = call("GET", SESSIONS)
    assert len(doc_of(remaining)["ProxySessions"]) == 4

    headers = made[0].response.headers
    assert headers["Content-Type"] == "application/json" and headers["x-amzn-RequestId"]
    assert headers["Date"].endswith("GMT")
    assert headers["Content-Length"] == str(len(made[0].response.content))
    assert [v for f in answered for v in schema_violations(f)] == []
    assert len(answered) == 13


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", SESSIONS, {"ParticipantPhoneNumbers": [A], "Capabilities": ["Voice"]}),
        ("POST", SESSIONS, {"ParticipantPhoneNumbers": [A, B], "Capabilities": ["Fax"]}),
        ("POST", f"{SESSIONS}/x", {"Capabilities": ["Voice"], "ExpiryMinutes": 0}),
        ("GET", f"{SESSIONS}?max-results=500", None),
        ("GET", "/voice-connectors/UPPER-case/proxy-sessions?status=Open", None),
    ],
    ids=["one-phone", "fax", "expiry-0", "max-results-500", "bad-connector-id"],
)
def test_invalid_input_is_a_bad_request_from_the_schemas(simulator, method, path, body) -> None:
    sim, _ = simulator
    f = send(sim, method, path, body)
    assert f.response.status_code == 400
    assert f.response.headers["x-amzn-ErrorType"] == "BadRequestException"
    error = doc_of(f)
    assert error["Code"] == "BadRequest"
    assert error["Message"].startswith(("1 validation error", "2 validation errors"))
    assert schema_violations(f) == []


@pytest.mark.parametrize("host", LEGACY_HOSTS)
def test_legacy_hosts_answer_in_the_legacy_namespace(simulator, host) -> None:
    sim, _ = simulator
    base = "/voice-connectors/legacy-connector-1/proxy-sessions"
    answered: list[http.HTTPFlow] = []

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        f = send(sim, method, path, body, host=host)
        answered.append(f)
        return f.response.status_code, doc_of(f)

    status, made = call(
        "POST", base, {"ParticipantPhoneNumbers": [A, B], "Capabilities": ["SMS", "Voice"]}
    )
    assert status == 201 and made["ProxySession"]["VoiceConnectorId"] == "legacy-connector-1"
    sid = made["ProxySession"]["ProxySessionId"]
    assert call("GET", f"{base}/{sid}") == (200, made)
    assert call("POST", f"{base}/{sid}", {"Capabilities": ["Voice"]})[0] == 201
    assert call("GET", f"{base}?max-results=99")[0] == 200
    status, error = call("GET", f"{base}?max-results=100")  # the legacy namespace allows 1-99
    assert status == 400 and error["Code"] == "BadRequest"
    assert call("DELETE", f"{base}/{sid}") == (204, None)
    assert call("GET", f"{base}/{sid}")[0] == 404
    assert [v for f in answered for v in schema_violations(f)] == []


def test_state_is_per_voice_connector_whichever_host_served_the_call(simulator) -> None:
    sim, tctx = simulator
    tctx.configure(sim, chime_hosts=["127.0.0.1:9000=voice"])
    made = send(sim, "POST", SESSIONS, create_body(), host="127.0.0.1", port=9000, scheme="http")
    assert made.response.status_code == 201
    listed = doc_of(send(sim, "GET", SESSIONS))["ProxySessions"]
    assert [s["ProxySessionId"] for s in listed] == [doc_of(made)["ProxySession"]["ProxySessionId"]]


# --- the clock and the control endpoint ---------------------------------------------------------


def test_sessions_expire_on_the_injected_clock(simulator) -> None:
    sim, _ = simulator
    short = doc_of(send(sim, "POST", SESSIONS, create_body(ExpiryMinutes=5)))["ProxySession"]
    long = doc_of(send(sim, "POST", SESSIONS, create_body(ExpiryMinutes=60)))["ProxySession"]
    _, before = control(sim, "GET", "/clock")
    status, after = control(sim, "POST", "/clock/advance?seconds=301")
    assert status == 200
    assert after["ClockOffsetSeconds"] - before["ClockOffsetSeconds"] == 301
    assert after["Sessions"] == 2
    closed = doc_of(send(sim, "GET", f"{SESSIONS}/{short['ProxySessionId']}"))["ProxySession"]
    assert closed["Status"] == "Closed"
    assert timestamp(closed["EndedTimestamp"]) == timestamp(short["CreatedTimestamp"]) + timedelta(
        minutes=5
    )
    opened = doc_of(send(sim, "GET", f"{SESSIONS}/{long['ProxySessionId']}"))["ProxySession"]
    assert opened["Status"] == "Open"
    by_status = {
        s: [
            x["ProxySessionId"]
            for x in doc_of(send(sim, "GET", f"{SESSIONS}?status={s}"))["ProxySessions"]
        ]
        for s in ("Open", "Closed")
    }
    assert by_status == {"Open": [long["ProxySessionId"]], "Closed": [short["ProxySessionId"]]}
    update = send(sim, "POST", f"{SESSIONS}/{short['ProxySessionId']}", {"Capabilities": ["Voice"]})
    assert update.response.status_code == 400
    assert update.response.headers["x-amzn-ErrorType"] == "BadRequestException"


def test_control_endpoint_reads_and_moves_the_clock_and_resets(simulator) -> None:
    sim, _ = simulator
    send(sim, "POST", SESSIONS, create_body())
    status, clock = control(sim, "GET", "/clock")
    assert status == 200 and clock["Sessions"] == 1 and clock["ClockOffsetSeconds"] == 0
    assert clock["Now"].endswith("Z")
    assert control(sim, "POST", "/clock/advance?seconds=60")[1]["ClockOffsetSeconds"] == 60
    status, error = control(sim, "POST", "/clock/advance?seconds=soon")
    assert status == 400 and error["message"].startswith("seconds:")
    status, error = control(sim, "POST", "/clock/advance?seconds=-5")  # only forward
    assert status == 400 and control(sim, "GET", "/clock")[1]["ClockOffsetSeconds"] == 60
    status, error = control(sim, "GET", "/nothing-here")
    assert status == 404 and "GET /clock" in error["message"]
    status, reset = control(sim, "POST", "/reset")
    assert status == 200 and reset["Sessions"] == 0
    assert doc_of(send(sim, "GET", SESSIONS))["ProxySessions"] == []


def test_commands_and_clock_offset_option_move_the_clock(simulator) -> None:
    sim, tctx = simulator
    tctx.configure(sim, chime_sim_clock_offset=3600)
    assert control(sim, "GET", "/clock")[1]["ClockOffsetSeconds"] == 3600
    tctx.command(sim.advance, "60")
    assert control(sim, "GET", "/clock")[1]["ClockOffsetSeconds"] == 3660
    with pytest.raises(exceptions.CommandError):
        sim.advance(-1)
    send(sim, "POST", SESSIONS, create_body())
    tctx.command(sim.reset)
    assert doc_of(send(sim, "GET", SESSIONS))["ProxySessions"] == []


# --- runs and seeds -----------------------------------------------------------------------------


def one_run(**settings: Any) -> tuple[list[str], list[int]]:
    """One simulator run with these options: the ids of 3 sessions it creates, and the statuses
    of 40 calls with faults injected."""
    sim = Simulator()
    with taddons.context(sim) as tctx:
        tctx.configure(sim, **settings)
        ids = [
            doc_of(send(sim, "POST", SESSIONS, create_body()))["ProxySession"]["ProxySessionId"]
            for _ in range(3)
        ]
        tctx.configure(sim, chime_sim_throttle_rate="0.25", chime_sim_error_rate="0.15")
        statuses = [
            send(sim, "GET", f"{SESSIONS}/no-such-session").response.status_code for _ in range(40)
        ]
    return ids, statuses


def test_without_a_seed_every_run_has_its_own_ids_and_faults() -> None:
    # Two runs appended to one cassette must never share a session id: a report would take
    # two sessions for one.
    (ids_a, faults_a), (ids_b, faults_b) = one_run(), one_run()
    assert len(set(ids_a) | set(ids_b)) == 6
    assert faults_a != faults_b  # 40 calls alike by chance: about 1 in 10**14
    # Set back to no seed after one: a new run, not the seed's.
    assert one_run(chime_sim_seed=7)[0] != one_run(chime_sim_seed=None)[0]


def test_the_same_seed_is_the_same_run() -> None:
    first, again = one_run(chime_sim_seed=7), one_run(chime_sim_seed=7)
    assert first == again
    assert {429, 404} <= set(first[1])  # the faults were in play
    assert one_run(chime_sim_seed=8)[0] != first[0]


# --- faults -------------------------------------------------------------------------------------


def test_fault_injection_counts_match_the_seeded_injector(simulator) -> None:
    sim, tctx = simulator
    n, throttle, errors, seed, latency = 40, 0.25, 0.15, 11, "uniform:0:2"
    tctx.configure(
        sim,
        chime_sim_throttle_rate=str(throttle),
        chime_sim_error_rate=str(errors),
        chime_sim_seed=seed,
        chime_sim_latency_ms=latency,
    )
    expected_injector = FaultInjector(throttle, errors, parse_latency(latency), seed=seed)
    expected = Counter(expected_injector.decide().status or 404 for _ in range(n))
    flows = [send(sim, "GET", f"{SESSIONS}/no-such-session") for _ in range(n)]
    assert Counter(f.response.status_code for f in flows) == expected
    names = Counter(f.response.headers["x-amzn-ErrorType"] for f in flows)
    assert names == {
        "NotFoundException": expected[404],
        "ThrottledClientException": expected[429],
        "ServiceFailureException": expected[500],
        "ServiceUnavailableException": expected[503],
    }
    assert expected[429] and expected[500] + expected[503]  # the seed exercises faults at all
    assert [v for f in flows for v in schema_violations(f)] == []


def test_flows_in_flight_together_with_latency_all_get_their_own_session(simulator) -> None:
    sim, tctx = simulator
    tctx.configure(sim, chime_sim_latency_ms="fixed:20")  # each answer waits 20 ms, concurrently
    creates = send_all(
        sim,
        [
            make_flow(
                "POST",
                SESSIONS,
                {"ParticipantPhoneNumbers": [f"+1312555{i:04d}", B], "Capabilities": ["Voice"]},
            )
            for i in range(40)
        ],
    )
    assert {f.response.status_code for f in creates} == {201}
    ids = [doc_of(f)["ProxySession"]["ProxySessionId"] for f in creates]
    gets = send_all(sim, [make_flow("GET", f"{SESSIONS}/{sid}") for sid in ids])
    assert [doc_of(f)["ProxySession"]["ProxySessionId"] for f in gets] == ids
    assert len(set(ids)) == 40
    listed = doc_of(send(sim, "GET", f"{SESSIONS}?max-results=100"))["ProxySessions"]
    assert {s["ProxySessionId"] for s in listed} == set(ids)


def test_a_flow_that_ends_while_its_latency_runs_gets_no_answer(simulator) -> None:
    sim, tctx = simulator
    tctx.configure(sim, chime_sim_latency_ms="fixed:20")
    f = make_flow("GET", SESSIONS)

    async def client_goes_away() -> None:
        task = asyncio.ensure_future(sim.request(f))
        await asyncio.sleep(0)  # the hook is waiting out its latency
        f.live = False
        await task

    asyncio.run(client_goes_away())
    assert f.response is None


# --- what is not a proxy-session call, and the offline guard -------------------------------------


def test_a_chime_host_answers_404_for_what_is_no_operation(simulator) -> None:
    sim, _ = simulator
    unknown = send(sim, "GET", "/voice-connectors")
    assert unknown.response.status_code == 404
    assert unknown.response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert doc_of(unknown)["message"] == "no such operation: GET /voice-connectors"
    wrong_method = send(sim, "PUT", f"{SESSIONS}/s1")
    assert wrong_method.response.status_code == 404
    assert doc_of(wrong_method)["message"] == f"method not allowed: PUT {SESSIONS}/s1"


def test_another_host_is_502_while_offline_and_left_alone_otherwise(simulator) -> None:
    sim, tctx = simulator
    other = send(sim, "GET", "/", host="example.com", port=80, scheme="http")
    assert other.response.status_code == 502
    assert b"never goes upstream" in other.response.content
    tctx.configure(sim, chime_sim_offline=False)
    passed = send(sim, "GET", "/", host="example.com", port=80, scheme="http")
    assert passed.response is None  # goes upstream
    data = server_connect(sim)
    assert data.server.error is None and sim.refused == 0


def server_connect(sim: Simulator) -> ServerConnectionHookData:
    data = ServerConnectionHookData(server=tflow.tserver_conn(), client=tflow.tclient_conn())
    sim.server_connect(data)
    return data


def test_offline_the_proxy_never_connects_upstream(caplog: pytest.LogCaptureFixture) -> None:
    sim = Simulator()
    # With mitmproxy's proxy server, whose defaults would connect upstream: to sniff
    # certificates (upstream_cert) and as soon as a client connects (connection_strategy).
    with taddons.context(Proxyserver(), sim) as tctx:
        assert (tctx.options.upstream_cert, tctx.options.connection_strategy) == (True, "eager")
        sim.running()
        assert (tctx.options.upstream_cert, tctx.options.connection_strategy) == (False, "lazy")
        tctx.configure(sim, upstream_cert=True, connection_strategy="eager")
        # Set back: nothing may go upstream.
        assert (tctx.options.upstream_cert, tctx.options.connection_strategy) == (False, "lazy")
        caplog.set_level(logging.WARNING)
        data = server_connect(sim)  # the last line of defence
        assert "upstream connections are disabled" in data.server.error
        assert sim.refused == 1
        assert "refused an upstream connection" in caplog.text


def test_answered_failed_or_replayed_flows_are_left_alone(simulator) -> None:
    sim, _ = simulator
    answered = make_flow("GET", SESSIONS)
    answered.response = http.Response.make(204)
    failed = make_flow("GET", SESSIONS)
    failed.error = tflow.terr()
    not_live = make_flow("GET", SESSIONS)
    not_live.live = False
    for f in (answered, failed, not_live):
        asyncio.run(sim.request(f))
    assert answered.response.status_code == 204
    assert failed.response is None and not_live.response is None


# --- hostile use of the control endpoint (issue 15, item 12) ------------------------------------


@pytest.mark.parametrize("token", ["", "a-guess", "Bearer"])
def test_the_control_endpoint_needs_the_token(simulator, token: str) -> None:
    """Any client of the proxy could reset everyone's sessions or move everyone's clock."""
    sim, _ = simulator
    send(sim, "POST", SESSIONS, create_body())
    for method, path in (("POST", "/reset"), ("POST", "/clock/advance?seconds=600")):
        status, error = control(sim, method, path, token=token)
        assert status == 403 and "token" in error["message"]
    status, clock = control(sim, "GET", "/clock")  # with the token: nothing had changed
    assert status == 200 and clock["Sessions"] == 1 and clock["ClockOffsetSeconds"] == 0


def test_the_token_is_the_options_when_set(simulator) -> None:
    sim, tctx = simulator
    tctx.configure(sim, chime_sim_control_token="chosen-token")
    assert control(sim, "GET", "/clock", token="chosen-token")[0] == 200


@pytest.mark.parametrize(
    "seconds", ["nan", "NaN", "inf", "-inf", "1e12", "3153600001", "1e400", "", "0x10", "soon"]
)
def test_a_clock_advance_that_is_no_sensible_number_is_refused(simulator, seconds: str) -> None:
    """nan, inf or 1e12 were accepted, and every later call got a 502 with a traceback."""
    sim, _ = simulator
    status, error = control(sim, "POST", f"/clock/advance?seconds={seconds}")
    assert status == 400 and error["message"].startswith("seconds: ")
    assert control(sim, "GET", "/clock")[1]["ClockOffsetSeconds"] == 0  # unchanged
    created = send(sim, "POST", SESSIONS, create_body(ExpiryMinutes=5))
    assert created.response.status_code == 201  # and every later call is served
    assert schema_violations(created) == []


def test_the_clock_runs_at_most_a_century_ahead_whichever_way_it_moves(simulator) -> None:
    sim, tctx = simulator
    century = 100 * 365 * 24 * 3600
    assert control(sim, "POST", f"/clock/advance?seconds={century - 10}")[0] == 200
    status, error = control(sim, "POST", "/clock/advance?seconds=11")
    assert status == 400 and "100 years" in error["message"]
    with pytest.raises(exceptions.CommandError, match="100 years"):
        sim.advance(11)
    assert control(sim, "POST", "/clock/advance?seconds=10")[0] == 200
    created = send(sim, "POST", SESSIONS, create_body())
    assert created.response.status_code == 201 and schema_violations(created) == []
    with pytest.raises(exceptions.OptionsError, match=r"chime_sim_clock_offset: .*100 years"):
        tctx.configure(sim, chime_sim_clock_offset=10**12)


@pytest.mark.parametrize(
    ("coding", "raw"),
    [
        ("rot13", b'{"CnegvpvcnagCubarAhzoref": ["+12065550100", "+14015550101"]}'),
        # a valid Create once base64-decoded
        (
            "base64",
            b"eyJQYXJ0aWNpcGFudFBob25lTnVtYmVycyI6IFsiKzEyMDY1NTUwMTAwIiwgIisxNDAxNTU1MDEwMSJd"
            b"LCAiQ2FwYWJpbGl0aWVzIjogWyJWb2ljZSJdfQ==",
        ),
    ],
)
def test_a_body_in_a_python_codec_is_no_json_body(simulator, coding: str, raw: bytes) -> None:
    """mitmproxy's decoder raised a TypeError for rot13 (the call died with a traceback), and
    turned base64 into JSON the service would never have seen."""
    sim, _ = simulator
    f = make_flow("POST", SESSIONS, {})
    f.request.headers["Content-Encoding"] = coding
    f.request.raw_content = raw
    asyncio.run(sim.request(f))
    assert f.response.status_code == 400
    assert f.response.headers["x-amzn-ErrorType"] == "BadRequestException"
