"""boto3 answered without HTTP (``chime_tap.botocore_replay``) gives what vcrpy gives.

Every case runs twice on the same cassette file, put back byte for byte before each run: with
the fast path (the default), and with ``botocore_fast_path=False`` (every call through urllib3
and vcrpy's connection stubs). Compared: each call's answer (the parsed boto3 response, or the
exception's type, code and message; for the corpus, botocore's HTTP response: status, headers,
body), the request the cassette was asked with, the play counts, the test's calls
(``chime_calls``), the interactions never played, the miss report, the usage-log entry, and the
file on disk (unchanged). Each case also states how many calls the fast path answered and why
the others went to vcrpy: a fall-through is proven, not assumed.

The corpus: every cassette committed under ``tests/`` and ``cassettes/`` (those the loader
refuses included: both ways refuse them alike), cassettes written as the benchmarks write them
(YAML and JSON), and scripted boto3 sequences recorded through the real ``chime-tap record``
in both namespaces (chime-sdk-voice and the legacy chime host): errors, repeats, misses,
``exhausted``, ``allow_playback_repeats``, record modes none, once and new_episodes,
``redact_phones``, other matchers, a hook, retries, a proxy, a nested cassette, a client that
is not botocore.
"""

from __future__ import annotations

import io
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import urllib3
import vcr
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session
from vcr.request import Request

from bench.bench_replay import write_cassette
from chime_tap.cassettes.reader import load_cassette
from chime_tap.pytest_support import miss_report, use_of
from chime_tap.vcr_config import make_vcr
from chime_tap.vcrpy_internals import patched_cassette
from support.procs import (
    CONNECTOR,
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    FAKE_SESSION_TOKEN,
    VOICE_ENDPOINT,
    chime_tap,
    voice_client,
)

ROOT = Path(__file__).resolve().parent.parent
LEGACY_ENDPOINT = "https://service.chime.aws.amazon.com"
A, B = "+12065550100", "+14015550101"
# Headers that differ between two runs of the same call: the time, its signature, a random id.
VOLATILE = {"x-amz-date", "authorization", "amz-sdk-invocation-id"}


# --- running a case both ways -------------------------------------------------------------------


def _error(e: BaseException) -> tuple:
    response = getattr(e, "response", None) or {}
    return ("error", type(e).__name__, response.get("Error", {}).get("Code"), _masked(str(e)))


def _asked(request: Request) -> tuple:
    """A request the cassette was asked with, volatile header values masked."""
    headers = sorted(
        (k, "*" if k.lower() in VOLATILE else v) for k, v in dict(request.headers).items()
    )
    body = request.body
    body = body.read() if hasattr(body, "read") else body  # vcrpy hands a file body as a new file
    return (request.method, request.uri, body, tuple(headers))


def _masked(text: str | None) -> str | None:
    """A message with what changes between two runs of a call masked (date, signature, id)."""
    if text is None:
        return None
    text = re.sub(r"\d{8}T\d{6}Z", "<date>", text)
    text = re.sub(r"[0-9a-f]{64}", "<signature>", text)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)


def _spy(method: Callable, asked: list) -> Callable:
    def spy(request: Request) -> Any:
        asked.append(_asked(request))
        return method(request)

    return spy


VCR_SETTINGS = ("redact_phones", "record_mode", "before_record_request")


def run_case(
    path: Path,
    calls: Callable[[Any], list],
    fast: bool,
    prepare: Callable[[Any], None] | None = None,
    **settings: Any,
) -> dict:
    """One run of ``calls(cassette)`` in ``path``: everything a user or report can observe.

    ``prepare`` gets the VCR first (to register a matcher); ``settings`` are ``make_vcr``'s and
    ``use_cassette``'s keywords.
    """
    vcr_settings = {k: v for k, v in settings.items() if k in VCR_SETTINGS}
    cassette_settings = {k: v for k, v in settings.items() if k not in vcr_settings}
    chime = make_vcr(botocore_fast_path=fast, **vcr_settings)
    if prepare is not None:
        prepare(chime)
    before = path.read_bytes()
    asked: list[tuple] = []
    try:
        context = chime.use_cassette(str(path), **cassette_settings)
        cassette = context.__enter__()
    except Exception as e:  # a cassette the loader refuses: refused alike both ways
        return {"enter": _error(e), "file": path.read_bytes() == before}
    try:
        # The requests as sent, before the filters: vcrpy's stub asks can_play_response_for,
        # then play_response; the fast path asks play_indexed.
        for name in ("can_play_response_for", "play_response", "play_indexed"):
            setattr(cassette, name, _spy(getattr(cassette, name), asked))
        answers = calls(cassette)
    finally:
        context.__exit__(None, None, None)
    use = asdict(use_of(cassette, path, "test", True))
    return {
        "answers": answers,
        "asked": list(dict.fromkeys(asked)),  # each distinct request, in order
        "play_counts": dict(cassette.play_counts),
        "calls": cassette.calls,
        "unplayed": [cassette.label_of(n) for n in cassette.unplayed()],
        "misses": _masked(miss_report(cassette)),
        "use": use,
        "file": path.read_bytes() == before,
        "fast_path": (cassette.fast_path.answered, dict(cassette.fast_path.fell_through)),
    }


def both_ways(
    source: Path,
    tmp: Path,
    calls: Callable[[Any], list],
    prepare: Callable[[Any], None] | None = None,
    **settings: Any,
) -> dict:
    """Run ``calls`` with the fast path and through vcrpy on copies of ``source`` at one path;
    assert every observation but the fast path's own counts is equal; return the fast run's."""
    path = tmp / source.name
    runs = {}
    for fast in (True, False):
        shutil.copyfile(source, path)
        runs[fast] = run_case(path, calls, fast, prepare, **settings)
        assert path.read_bytes() == source.read_bytes(), "the cassette on disk changed"
    counts = {fast: run.pop("fast_path", None) for fast, run in runs.items()}
    assert runs[True] == runs[False]
    if counts[False] is not None:  # switched off, it never answered
        assert counts[False][0] == 0
        assert set(counts[False][1]) <= {"botocore_fast_path=False"}
        runs[True]["fast_path"] = counts[True]
    return runs[True]


# --- the corpus at botocore's HTTP layer -------------------------------------------------------


def corpus() -> list[Path]:
    """Every cassette file committed under tests/ and cassettes/."""
    found = []
    for base in (ROOT / "tests", ROOT / "cassettes"):
        for p in sorted(base.rglob("*")):
            cassette = p.suffix in (".yaml", ".yml", ".json") and p.is_file()
            if cassette and b"interactions" in p.read_bytes()[:1_000_000]:
                found.append(p)
    return found


def _headers(recorded: Any) -> dict[str, str]:
    if not isinstance(recorded, dict):
        return {}
    return {
        k: ", ".join(v) if isinstance(v, list) else str(v)
        for k, v in recorded.items()
        if isinstance(k, str)
    }


def _sent(interactions: list[dict]) -> list[tuple]:
    out = []
    for item in interactions:
        request = item["request"]
        body = request.get("body")
        body = body.get("string") if isinstance(body, dict) else body
        out.append((request["method"], request["uri"], _headers(request.get("headers")), body))
    return out


def _wire(session: URLLib3Session, method: str, url: str, headers: dict, body: Any) -> tuple:
    try:
        prepared = AWSRequest(method=method, url=url, headers=headers, data=body).prepare()
        response = session.send(prepared)
    except Exception as e:
        return _error(e)
    return ("ok", response.status_code, list(response.headers.items()), response.content)


def replay_wire(requests: list[tuple]) -> Callable[[Any], list]:
    """Each recorded request sent as recorded through botocore's HTTP session, twice over."""

    def calls(cassette: Any) -> list:
        session = URLLib3Session()
        return [_wire(session, *request) for request in requests + requests]

    return calls


@pytest.mark.parametrize("source", corpus(), ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.parametrize(
    "settings",
    [{}, {"exhausted": "repeat"}, {"allow_playback_repeats": True}],
    ids=["fail", "repeat", "allow_playback_repeats"],
)
def test_every_committed_cassette_answers_alike_both_ways(source: Path, settings, tmp_path):
    try:
        requests = _sent(load_cassette(source)["interactions"])
    except Exception:
        requests = []  # refused by the loader: both ways refuse it on entering
    observed = both_ways(source, tmp_path, replay_wire(requests), **settings)
    if "enter" in observed:
        return
    answered, fell = observed["fast_path"]
    playable = sum(1 for a in observed["answers"] if a[0] == "ok")
    assert answered + sum(fell.values()) == 2 * len(requests)
    assert answered <= playable


def test_the_corpus_holds_cassettes_both_ways_answer_and_refuse(tmp_path):
    """The committed corpus is no vacuous case: calls are answered and cassettes refused."""
    answered = refused = 0
    for source in corpus():
        try:
            requests = _sent(load_cassette(source)["interactions"])
        except Exception:
            refused += 1
            continue
        path = tmp_path / source.name
        shutil.copyfile(source, path)
        answered += run_case(path, replay_wire(requests), True)["fast_path"][0]
    assert answered >= 70 and refused >= 20


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_bench_cassette_is_answered_by_the_fast_path_alike(fmt, tmp_path):
    source = write_cassette(tmp_path / f"bench.{fmt}", 10)
    requests = _sent(load_cassette(source)["interactions"])
    work = tmp_path / "work"
    work.mkdir()
    observed = both_ways(source, work, replay_wire(requests))
    assert observed["fast_path"] == (10, {"no recorded answer": 10})  # the second pass misses
    assert [a[0] for a in observed["answers"]] == ["ok"] * 10 + ["error"] * 10
    assert observed["unplayed"] == [] and observed["misses"].count("How to fix") == 10


# --- scripted boto3 sequences recorded through the real proxy, both namespaces ------------------


def _create(client, **extra) -> dict:
    return client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=[A, B], Capabilities=["Voice"], **extra
    )


def _steps(client) -> list[Callable[[dict], Any]]:
    """The calls of the script, each taking the state the earlier ones left (session ids)."""

    def sid(state: dict, n: int = 0) -> str:
        return state["ids"][n]

    def created(state: dict, **extra) -> dict:
        answer = _create(client, **extra)
        state["ids"].append(answer["ProxySession"]["ProxySessionId"])
        return answer

    def get(state: dict, n: int = 0) -> dict:
        return client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid(state, n))

    return [
        lambda s: created(s, ExpiryMinutes=60, Name="first"),
        lambda s: get(s),
        lambda s: get(s),  # an identical call, recorded twice
        lambda s: created(
            s, GeoMatchLevel="AreaCode", GeoMatchParams={"Country": "US", "AreaCode": "206"}
        ),
        lambda s: client.update_proxy_session(
            VoiceConnectorId=CONNECTOR,
            ProxySessionId=sid(s),
            Capabilities=["SMS"],
            ExpiryMinutes=30,
        ),
        lambda s: client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open"),
        lambda s: client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, MaxResults=1),
        lambda s: client.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid(s, 1)),
        lambda s: get(s, 1),  # after its delete: NotFound
        lambda s: client.get_proxy_session(
            VoiceConnectorId=CONNECTOR, ProxySessionId="00000000-0000-4000-8000-000000000000"
        ),
        lambda s: _create(client, Name="two\nlines"),  # refused by the service
        lambda s: _create(client, ExpiryMinutes=0),  # refused by botocore: never sent
    ]


def run_script(client, steps: Callable | None = None) -> list:
    """Each step's parsed answer (RetryAttempts and all) or exception, in order."""
    state: dict = {"ids": []}
    out = []
    for step in (steps or _steps)(client):
        try:
            out.append(("ok", step(state)))
        except Exception as e:
            out.append(_error(e))
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict[str, tuple[Path, list]]:
    """The script recorded through `chime-tap record --upstream simulator`, per namespace."""
    out = {}
    for name, endpoint in (("voice", VOICE_ENDPOINT), ("legacy", LEGACY_ENDPOINT)):
        directory = tmp_path_factory.mktemp(name)
        cassette = directory / f"{name}.yaml"
        args = ["record", "--cassette", str(cassette), "--upstream", "simulator"]
        with chime_tap(args, confdir=directory / "conf") as proxy:
            results = run_script(voice_client(proxy, endpoint=endpoint))
            assert proxy.stop() == 0, proxy.output
        out[name] = (cassette, results)
    return out


def _client(endpoint: str, **config: Any):
    """A real boto3 client with test credentials, ``config`` (proxies, retries) over the tests'."""
    import boto3
    from botocore.config import Config

    settings = {"retries": {"mode": "standard", "total_max_attempts": 1}, **config}
    session = boto3.session.Session(
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
        aws_session_token=FAKE_SESSION_TOKEN,
        region_name="us-east-1",
    )
    return session.client("chime-sdk-voice", endpoint_url=endpoint, config=Config(**settings))


def _replay(endpoint: str, extra: Callable | None = None, **config: Any) -> Callable:
    """The script replayed with a new client, then ``extra(client)`` calls, if any."""

    def calls(cassette: Any) -> list:
        client = _client(endpoint, **config)
        answers = run_script(client)
        if extra is not None:
            answers += [extra(client)]
        return answers

    return calls


def _again(client) -> tuple:
    """One more GetProxySession of a session the script got twice: exhausted, or repeated."""
    try:
        sid = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open")
        return ("ok", sid)
    except Exception as e:
        return _error(e)


NAMESPACES = {"voice": VOICE_ENDPOINT, "legacy": LEGACY_ENDPOINT}


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"exhausted": "repeat"},
        {"allow_playback_repeats": True},
        {"record_mode": "once"},
        {"redact_phones": True},
        {
            "match_on": [
                "chime_method",
                "chime_host",
                "chime_path",
                "chime_query",
                "json_body",
                "signed_headers",
            ]
        },
        {"match_on": ["method", "scheme", "host", "port", "path", "query", "body"]},
        {"match_on": ["uri", "method", "raw_body"]},
        {"match_on": ["method", "uri", "headers"]},  # vcrpy's headers: the date differs, all miss
    ],
    ids=[
        "none",
        "repeat",
        "allow_playback_repeats",
        "once",
        "redact_phones",
        "signed_headers",
        "vcrpy_parts",
        "vcrpy_uri",
        "vcrpy_headers",
    ],
)
def test_a_recorded_script_replays_alike_both_ways(namespace, settings, recorded, tmp_path):
    source, results = recorded[namespace]
    endpoint = NAMESPACES[namespace]
    observed = both_ways(source, tmp_path, _replay(endpoint, _again), **settings)
    answered, fell = observed["fast_path"]
    answers = observed["answers"]
    # Answered from the cassette: parsed answers and the service's recorded refusals; the rest
    # are misses (vcrpy's error, raised once each: the client does not retry) or never sent.
    played = [a for a in answers if a[0] == "ok" or a[1].endswith("Exception")]
    missed = [a for a in answers if a[:2] == ("error", "HTTPClientError")]
    assert answered == len(played) and fell == (
        {"no recorded answer": len(missed)} if missed else {}
    )
    assert len(played) + len(missed) < len(answers)  # ParamValidationError, and after a miss
    if "match_on" in settings or "redact_phones" in settings:
        return  # what these play differs from what was recorded; both ways alike
    stripped = [_without_metadata(a) for a in answers[: len(results)]]
    assert stripped == [_without_metadata(r) for r in results]  # what was recorded
    assert ("error", "BadRequestException") in [r[:2] for r in results]
    # the one more call: a miss when exhausted, the repeated answer otherwise
    repeated = settings.get("exhausted") == "repeat" or settings.get("allow_playback_repeats")
    assert answers[-1][0] == ("ok" if repeated else "error")
    assert len(missed) == (0 if repeated else 1)


def _without_metadata(answer: tuple) -> tuple:
    if answer[0] == "ok":
        return ("ok", {k: v for k, v in answer[1].items() if k != "ResponseMetadata"})
    return answer[:3]


# --- where the fast path cannot be sure, vcrpy answers: each fall-through shown -----------------


def _script(namespace: str = "voice") -> Callable:
    return _replay(NAMESPACES[namespace])


def test_new_episodes_may_write_so_every_call_goes_through_vcrpy(recorded, tmp_path):
    source, results = recorded["voice"]
    observed = both_ways(source, tmp_path, _script(), record_mode="new_episodes")
    sent = len(results) - 1  # the ParamValidationError is never sent
    assert observed["fast_path"] == (0, {"record mode new_episodes may write the cassette": sent})
    assert [_without_metadata(a) for a in observed["answers"]] == [
        _without_metadata(r) for r in results
    ]


def test_once_on_a_new_file_records_so_the_fast_path_stays_out(tmp_path):
    with make_vcr(record_mode="once").use_cassette(str(tmp_path / "new.yaml")) as cassette:
        assert cassette.fast_path.refusal == "no interaction loaded from the file"
    with make_vcr(record_mode="all").use_cassette(str(tmp_path / "new.yaml")) as cassette:
        assert cassette.fast_path.refusal == "record mode all may write the cassette"


def test_a_matcher_of_the_users_own_goes_through_vcrpy(recorded, tmp_path):
    source, _ = recorded["voice"]
    seen: list[str] = []

    def same_path(r1: Any, r2: Any) -> None:
        seen.append(r1.path)  # not pure: vcrpy calls it more often than the fast path would
        assert r1.path == r2.path

    observed = both_ways(
        source,
        tmp_path,
        lambda cas: [seen.clear(), *_script()(cas), len(seen)],
        prepare=lambda v: v.register_matcher("same_path", same_path),
        match_on=["chime_method", "same_path", "json_body"],
    )
    answered, fell = observed["fast_path"]
    assert answered == 0 and list(fell) == ["matcher 'same_path' is not chime-tap's or vcrpy's"]
    assert observed["answers"][-1] > 0  # the same count both ways: both went through vcrpy


def test_a_before_record_request_hook_of_the_users_own_goes_through_vcrpy(recorded, tmp_path):
    source, _ = recorded["voice"]
    seen: list[str] = []

    def counting(request: Any) -> Any:
        seen.append(request.uri)
        return request

    observed = both_ways(
        source,
        tmp_path,
        lambda cas: [seen.clear(), *_script()(cas), len(seen)],
        before_record_request=counting,
    )
    answered, fell = observed["fast_path"]
    assert answered == 0 and list(fell) == ["before_record_request hook 'counting'"]
    assert observed["answers"][-1] > 0


def test_a_client_sending_through_a_proxy_goes_through_vcrpy(recorded, tmp_path):
    source, _ = recorded["voice"]
    proxied = _replay(VOICE_ENDPOINT, proxies={"https": "http://127.0.0.1:9"})
    observed = both_ways(source, tmp_path, proxied)
    answered, fell = observed["fast_path"]
    assert answered == 0 and list(fell) == ["a proxy"]


def test_a_nested_plain_vcrpy_cassette_answers_its_own_calls(recorded, tmp_path):
    source, _ = recorded["voice"]
    inner_file = write_cassette(tmp_path / "inner.yaml", 3)
    uri = load_cassette(inner_file)["interactions"][0]["request"]["uri"]

    def calls(cassette: Any) -> list:
        session = URLLib3Session()
        with vcr.VCR(record_mode="none").use_cassette(str(inner_file)) as inner:
            assert patched_cassette(uri) is inner
            answer = _wire(session, "GET", uri, {}, None)
        return [answer, inner.play_count, patched_cassette(uri) is cassette]

    work = tmp_path / "work"
    work.mkdir()
    observed = both_ways(source, work, calls)
    assert observed["answers"][0][:2] == ("ok", 200) and observed["answers"][1:] == [1, True]
    assert observed["fast_path"] == (0, {})  # never asked: vcrpy's patch named the inner one


def test_a_client_that_is_not_botocore_goes_through_vcrpy(tmp_path):
    source = write_cassette(tmp_path / "bench.yaml", 3)
    uri = load_cassette(source)["interactions"][1]["request"]["uri"]

    def calls(cassette: Any) -> list:
        response = urllib3.PoolManager().request("GET", uri)
        return [(response.status, response.data)]

    work = tmp_path / "work"
    work.mkdir()
    observed = both_ways(source, work, calls)
    assert observed["answers"][0][0] == 200 and observed["fast_path"] == (0, {})
    assert observed["calls"][0].source == "replayed"


def test_a_streamed_body_and_urls_urllib3_normalises_go_through_vcrpy(tmp_path):
    source = write_cassette(tmp_path / "bench.json", 8)
    uris = [item["request"]["uri"] for item in load_cassette(source)["interactions"]]
    host = "voice-chime.us-east-1.amazonaws.com"
    variants = [
        ("GET", uris[0], {}, io.BytesIO(b"")),  # a file body: streamed
        ("GET", uris[1].replace(host, host.upper()), {}, None),  # urllib3 lower-cases it
        ("GET", uris[2] + "#fragment", {}, None),  # urllib3 drops it
        ("GET", uris[3].replace("/proxy-sessions/", "/proxy-sessions;p/"), {}, None),
        ("GET", uris[4].replace("sess-", "sess%2d"), {}, None),  # a lower-case escape
        ("GET", uris[5].replace("http://", "HTTP://"), {}, None),
        ("GET", uris[6].replace(host, host + ":80"), {}, None),  # the default port: answered
        ("GET", uris[7].replace(host, host + ":8080"), {}, None),  # another port: a miss
    ]

    def calls(cassette: Any) -> list:
        session = URLLib3Session()
        return [_wire(session, *variant) for variant in variants]

    work = tmp_path / "work"
    work.mkdir()
    observed = both_ways(source, work, calls)
    assert observed["fast_path"] == (
        1,
        {
            "a streamed body": 1,
            "a URL urllib3 would normalise": 5,
            "no recorded answer": 1,
        },
    )


def _odd_cassette(path: Path, headers: dict[str, list[str]], status: int = 200) -> Path:
    from chime_tap.cassettes.format import make_interaction
    from chime_tap.cassettes.writer import CassetteWriter

    with CassetteWriter(path) as w:
        w.append(
            make_interaction(
                method="GET",
                uri=f"{VOICE_ENDPOINT}/voice-connectors/{CONNECTOR}/proxy-sessions/s-1",
                request_headers={"Host": ["voice-chime.us-east-1.amazonaws.com"]},
                request_body=None,
                status=status,
                reason="OK",
                response_headers=headers,
                response_body='{"ProxySession": {"ProxySessionId": "s-1"}}',
                fmt=w.fmt,
            )
        )
    return path


@pytest.mark.parametrize(
    ("headers", "status", "why"),
    [
        ({"Transfer-Encoding": ["chunked"]}, 200, "a Transfer-Encoding header"),
        ({"Location": ["https://elsewhere.example/"]}, 302, "status 302"),
        ({"X-Odd": [" leading space"]}, 200, "header X-Odd value ' leading space'"),
    ],
    ids=["transfer-encoding", "redirect", "leading-space"],
)
def test_a_response_urllib3_would_read_otherwise_sends_the_cassette_through_vcrpy(
    headers, status, why, tmp_path
):
    source = _odd_cassette(
        tmp_path / "odd.yaml", {"Content-Type": ["application/json"], **headers}, status
    )
    work = tmp_path / "work"
    work.mkdir()
    observed = both_ways(source, work, _script_get("s-1"))
    answered, fell = observed["fast_path"]
    assert answered == 0 and len(fell) == 1 and why in next(iter(fell))


def _script_get(sid: str) -> Callable:
    def calls(cassette: Any) -> list:
        client = _client(VOICE_ENDPOINT)
        try:
            return [
                ("ok", client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid))
            ]
        except Exception as e:
            return [_error(e)]

    return calls


def test_a_retried_miss_is_sent_and_told_alike(recorded, tmp_path, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)  # botocore's backoff between attempts
    source, _ = recorded["voice"]
    retrying = _replay(
        VOICE_ENDPOINT, _again, retries={"mode": "standard", "total_max_attempts": 3}
    )
    observed = both_ways(source, tmp_path, retrying)
    assert observed["fast_path"][1] == {"no recorded answer": 3}
    assert "sent 3 times (retries included); shown once" in observed["misses"]


def test_switched_off_every_call_goes_through_vcrpy_and_a_bad_value_is_refused(tmp_path):
    source = write_cassette(tmp_path / "bench.yaml", 2)
    with make_vcr(botocore_fast_path=False).use_cassette(str(source)) as cassette:
        assert cassette.fast_path.refusal == "botocore_fast_path=False"
    with make_vcr().use_cassette(str(source), botocore_fast_path=False) as cassette:
        assert cassette.fast_path.refusal == "botocore_fast_path=False"
    with pytest.raises(ValueError, match="botocore_fast_path 'yes' is not one of: True, False"):
        make_vcr(botocore_fast_path="yes")


# --- the plugin's switch ---------------------------------------------------------------------------

PLUGIN_TEST = """
import pytest
from support.procs import voice_client, CONNECTOR

@pytest.mark.chime_cassette("bench.yaml")
def test_gets(chime_cassette, chime_calls):
    client = voice_client(None, endpoint="http://voice-chime.us-east-1.amazonaws.com")
    for sid in ("sess-000000-0000-4000-8000-000000000000", "sess-000001-0000-4000-8000-000000000000"):
        client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    print("FAST", chime_cassette.fast_path.answered, dict(chime_cassette.fast_path.fell_through))
    print("CALLS", [c.interaction for c in chime_calls])
"""


@pytest.mark.parametrize("ini", [None, "true", "false"])
def test_the_plugin_uses_the_fast_path_unless_the_ini_option_says_false(ini, pytester, monkeypatch):
    (pytester.path / "cassettes").mkdir()
    write_cassette(pytester.path / "cassettes" / "bench.yaml", 3)
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests"))
    pytester.makepyfile(test_fast=PLUGIN_TEST)
    args = ["-p", "no:cacheprovider", "-s"] + (
        ["-o", f"chime_botocore_fast_path={ini}"] if ini else []
    )
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    fast = ini != "false"
    expected = "FAST 2 {}" if fast else "FAST 0 {}"  # off: botocore's send left unwrapped
    result.stdout.fnmatch_lines([f"*{expected}", "CALLS ['bench.yaml #0', 'bench.yaml #1']"])
    result.stdout.fnmatch_lines(["*bench.yaml: 1 of 3 recorded interaction(s) never played*"])


# --- the bad-input requests, recorded: what tests generate from hostile traffic -----------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """Every bad-input request case the manifest sends as HTTP/1.1 (generated giants left out),
    recorded by a real `chime-tap record --upstream simulator`: failed calls, refusals, odd
    bodies and encodings, chunked framing, between good calls."""
    from test_bad_input import REQUESTS, raw_request, send_raw

    directory = tmp_path_factory.mktemp("hostile")
    cassette = directory / "hostile.yaml"
    host = "voice-chime.us-east-1.amazonaws.com"
    args = ["record", "--cassette", str(cassette), "--upstream", "simulator"]
    sent = 0
    with chime_tap(args, confdir=directory / "conf") as proxy:
        client = voice_client(proxy, endpoint=VOICE_ENDPOINT)
        _create(client, Name="good")
        for case in REQUESTS.values():
            if case.get("generate") or case.get("protocol") == "h2" or "bomb" in case:
                continue
            send_raw(proxy.port, raw_request(case, host))
            sent += 1
        _create(client, Name="good again")
        assert proxy.stop() == 0, proxy.output
    assert sent >= 20
    return cassette


@pytest.mark.parametrize(
    "settings",
    [{}, {"exhausted": "repeat"}, {"allow_playback_repeats": True}, {"record_mode": "once"}],
    ids=["none", "repeat", "allow_playback_repeats", "once"],
)
def test_recorded_hostile_traffic_answers_alike_both_ways(hostile, settings, tmp_path):
    requests = _sent(load_cassette(hostile)["interactions"])
    observed = both_ways(hostile, tmp_path, replay_wire(requests), **settings)
    answered, fell = observed["fast_path"]
    assert answered >= 20 and answered + sum(fell.values()) == 2 * len(requests)


def test_an_error_before_anything_played_is_left_to_vcrpy_to_fail_its_way(tmp_path):
    source = write_cassette(tmp_path / "bench.yaml", 3)
    uri = load_cassette(source)["interactions"][0]["request"]["uri"]

    def calls(cassette: Any) -> list:
        lookup, broken = cassette._candidates, [True]

        def candidates(request: Any) -> Any:  # a matcher's bug, during the first call only
            if broken[0]:
                raise ValueError("a broken matcher")
            return lookup(request)

        cassette._candidates = candidates
        session = URLLib3Session()
        first = _wire(session, "GET", uri, {}, None)
        broken[0] = False
        return [first, _wire(session, "GET", uri, {}, None)]

    work = tmp_path / "work"
    work.mkdir()
    observed = both_ways(source, work, calls)
    assert [a[:2] for a in observed["answers"]] == [("error", "HTTPClientError"), ("ok", 200)]
    assert "a broken matcher" in observed["answers"][0][3]
    assert observed["fast_path"] == (1, {"an error: ValueError": 1})
