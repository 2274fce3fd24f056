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

import functools
import io
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import urllib3
import vcr
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session
from vcr.request import Request

from bench.bench_replay import write_cassette
from chime_tap import botocore_replay
from chime_tap.cassettes.reader import load_cassette
from chime_tap.pytest_support import miss_report, use_of
from chime_tap.vcr_config import make_vcr
from chime_tap.vcrpy_internals import LoadedRequest, patched_cassette
from support.procs import CONNECTOR, chime_tap, voice_client

ROOT = Path(__file__).resolve().parent.parent
LEGACY_ENDPOINT = "https://service.chime.aws.amazon.com"
VOICE_ENDPOINT = "https://voice-chime.us-east-1.amazonaws.com"
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
    return (request.method, request.uri, request.body, tuple(headers))


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


def run_case(path: Path, calls: Callable[[Any], list], fast: bool, **settings: Any) -> dict:
    """One run of ``calls(cassette)`` in ``path``: everything a user or report can observe."""
    vcr_settings = {k: v for k, v in settings.items() if k in ("redact_phones", "record_mode")}
    cassette_settings = {k: v for k, v in settings.items() if k not in vcr_settings}
    chime = make_vcr(botocore_fast_path=fast, **vcr_settings)
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


def both_ways(source: Path, tmp: Path, calls: Callable[[Any], list], **settings: Any) -> dict:
    """Run ``calls`` with the fast path and through vcrpy on copies of ``source`` at one path;
    assert every observation but the fast path's own counts is equal; return the fast run's."""
    path = tmp / source.name
    runs = {}
    for fast in (True, False):
        shutil.copyfile(source, path)
        runs[fast] = run_case(path, calls, fast, **settings)
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
            if p.suffix in (".yaml", ".yml", ".json") and p.is_file():
                if b"interactions" in p.read_bytes()[:1_000_000]:
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
    return voice_client(None, endpoint=endpoint, **config)


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
