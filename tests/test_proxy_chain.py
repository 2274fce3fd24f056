"""The mitmproxy addon chain chime-tap's proxies run: mitmdump's, less the addons that would do
nothing to a flow, and all of it again when a --set asks for one of those."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from mitmproxy import options
from mitmproxy.test import taddons, tflow
from mitmproxy.tools.dump import DumpMaster

from chime_tap.cassettes.reader import load_cassette
from chime_tap.proxy import INERT_BY_DEFAULT, mitmproxy_addons
from support.procs import CONNECTOR, chime_tap, voice_client
from support.upstream import ScriptedUpstream


def mitmdump_chain() -> list[str]:
    """The addon types of a real DumpMaster without its flow printer and terminal log."""

    async def build() -> list[str]:
        master = DumpMaster(options.Options(), with_termlog=False, with_dumper=False)
        try:
            return [type(a).__name__ for a in master.addons.chain]
        finally:
            master._legacy_log_events.uninstall()

    return asyncio.run(build())


def names(addons: list) -> list[str]:
    """The mitmproxy addon each one is (chime-tap's start-up check is mitmproxy's ErrorCheck)."""
    return [
        next(c for c in type(a).__mro__ if c.__module__.startswith("mitmproxy.")).__name__
        for a in addons
    ]


def test_every_dropped_addon_is_one_of_mitmdumps() -> None:
    full = mitmdump_chain()
    assert set(full) >= INERT_BY_DEFAULT, INERT_BY_DEFAULT - set(full)


def test_lean_chain_is_mitmdumps_in_its_order_without_the_idle_addons() -> None:
    full = mitmdump_chain()
    lean = names(mitmproxy_addons())
    assert lean == [n for n in full if n not in INERT_BY_DEFAULT]
    for needed in ("Core", "Proxyserver", "NextLayer", "TlsConfig", "Block", "ErrorCheck"):
        assert needed in lean


@pytest.mark.parametrize("set_options", [(), ("modify_headers=/~s/X/1",)])
def test_the_error_check_is_chime_taps_under_mitmproxys_name(set_options: tuple) -> None:
    """The master asks for "errorcheck" after each start-up step: ours answers, and says why a
    proxy could not listen in chime-tap's words (tests/test_proxy_messages.py)."""
    from mitmproxy.addons.errorcheck import ErrorCheck

    check = mitmproxy_addons(list(set_options))[-1]
    assert isinstance(check, ErrorCheck) and type(check) is not ErrorCheck
    assert check.name == "errorcheck"


@pytest.mark.parametrize(
    ("spec", "full"),
    [
        ("modify_headers=/~s/X-Test/1", True),
        (" map_local = |~q|/tmp", True),
        ("save_stream_file=flows.mitm", True),
        ("scripts=addon.py", True),
        ("server_replay=flows.mitm", True),
        ("mode=dns", True),
        ("ssl_insecure=true", False),  # mitmproxy's core options need none of the idle addons
        ("block_global=false", False),  # the Block addon stays in the lean chain
        ("chime_enforce=true", False),
        ("no_such_option=1", False),  # refused later by mitmproxy, as with the whole chain
    ],
)
def test_a_set_naming_an_idle_addons_option_brings_the_whole_chain_back(
    spec: str, full: bool
) -> None:
    chain = names(mitmproxy_addons([spec]))
    if full:
        assert chain == mitmdump_chain()
    else:
        assert chain == names(mitmproxy_addons())


def run_hook(addon, hook: str, flow) -> None:
    result = getattr(addon, hook)(flow)
    if inspect.isawaitable(result):
        asyncio.run(result)


@pytest.mark.parametrize("name", sorted(INERT_BY_DEFAULT))
def test_idle_addons_leave_flows_alone_with_default_options(name: str) -> None:
    """What makes dropping them safe: at their defaults, their flow hooks change nothing."""
    from mitmproxy.addons import default_addons
    from mitmproxy.addons.keepserving import KeepServing
    from mitmproxy.addons.readfile import ReadFileStdin

    kinds = {type(a).__name__: type(a) for a in [*default_addons(), KeepServing(), ReadFileStdin()]}
    addon = kinds[name]()

    def hooks(flow, *which: str) -> None:
        before = flow.get_state()
        for hook in which:
            if hasattr(addon, hook):
                run_hook(addon, hook, flow)
        assert flow.get_state() == before, f"{name} changed the flow in {which}"

    with taddons.context(addon):
        flow = tflow.tflow()  # as mitmproxy runs them: request, then response (or error)
        hooks(flow, "requestheaders", "request")
        flow.response = tflow.tresp()
        hooks(flow, "responseheaders", "response")
        hooks(tflow.tflow(err=True), "error")


def test_record_with_a_set_for_an_idle_addon_runs_it_before_the_recorder(tmp_path: Path) -> None:
    """--set modify_headers loads mitmdump's whole chain: the client gets the header, and the
    cassette holds the response as the client got it (mitmproxy's addons run first)."""
    cassette = tmp_path / "calls.yaml"
    with ScriptedUpstream() as up:
        argv = ["record", "--cassette", str(cassette), "--hosts", up.host]
        argv += ["--set", "modify_headers=/~s/X-Chime-Tap-Test/added"]
        with chime_tap(argv, confdir=tmp_path / "conf") as proxy:
            client = voice_client(proxy, endpoint=up.url)
            got = client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
            assert proxy.stop() == 0
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-chime-tap-test"] == "added"
    (item,) = load_cassette(cassette)["interactions"]
    assert item["response"]["headers"]["X-Chime-Tap-Test"] == ["added"]


def test_flows_saved_by_record_carry_the_recorders_mark_comment_and_metadata(
    tmp_path: Path,
) -> None:
    """--set save_stream_file writes each flow once it is answered: after the recorder has put
    its comment and metadata on it (the file held bare flows when it ran first)."""
    from mitmproxy import io

    cassette, saved = tmp_path / "calls.yaml", tmp_path / "flows.mitm"
    with ScriptedUpstream() as up:
        argv = ["record", "--cassette", str(cassette), "--hosts", up.host]
        argv += ["--set", f"save_stream_file={saved}"]
        with chime_tap(argv, confdir=tmp_path / "conf") as proxy:
            client = voice_client(proxy, endpoint=up.url)
            client.list_proxy_sessions(VoiceConnectorId=CONNECTOR)
            assert proxy.stop() == 0
    with saved.open("rb") as f:
        (flow,) = list(io.FlowReader(f).stream())
    (item,) = load_cassette(cassette)["interactions"]
    assert flow.comment.splitlines()[0] == "ListProxySessions"
    assert flow.metadata["chime_tap"] == item["chime_tap"]
    saved.unlink()  # mitmproxy's own capture is raw, credentials included (README: Security)


def startup_hint(name: str):
    from chime_tap import hints

    return {
        "none": None,
        "record": hints.record_hint(),
        "replay": hints.replay_hint,
        "simulate": hints.simulator_hint("simulate"),
    }[name]


@pytest.mark.parametrize("hint", ["none", "record", "replay", "simulate"])
def test_the_announcement_leaves_the_chain_once_it_has_run(
    hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Out of the way of every later flow, whatever it had to say."""
    from mitmproxy.hooks import RunningHook

    from chime_tap.addons.announce import Announce

    addon = Announce("record", startup_hint(hint))
    with taddons.context(addon) as tctx:
        assert addon in tctx.master.addons.chain
        tctx.master.addons.invoke_addon_sync(addon, RunningHook())
        assert addon not in tctx.master.addons.chain
    assert "chime-tap record: press Ctrl+C to stop" in capsys.readouterr().out


def test_hints_name_the_proxy_and_the_ca_and_how_to_reach_them() -> None:
    from chime_tap import hints
    from chime_tap.simulator.control import CONTROL_HOST

    url, ca = "http://127.0.0.1:8080", "/conf/mitmproxy-ca-cert.pem"
    at = hints.Listener(url, ca)  # a regular (forward) proxy
    trust = (
        f"chime-tap record: clients must trust the CA certificate {ca} (e.g. AWS_CA_BUNDLE={ca})"
    )
    # Where it records, the recorder says itself (once): not the hint.
    assert hints.record_hint()(at) == [
        trust,
        "chime-tap record: point any AWS client at it, with its own credentials:",
        f"  export HTTPS_PROXY={url}",
        f"  export AWS_CA_BUNDLE={ca}",
    ]
    replay = hints.replay_hint(at)
    assert replay == [
        "chime-tap replay: point any AWS client at it (any credentials; nothing is sent to AWS):",
        f"  export HTTPS_PROXY={url}",
        f"  export AWS_CA_BUNDLE={ca}",
        "  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test  # any will do",
    ]
    simulate = hints.simulator_hint("simulate")(at)
    assert simulate[:4] == [line.replace("replay", "simulate") for line in replay]
    assert simulate[4] == (
        "  aws chime-sdk-voice list-proxy-sessions --region us-east-1 "
        "--voice-connector-id abcdef1ghij2klmno3pqr4"
    )
    assert f"curl -x {url} -X POST 'http://{CONTROL_HOST}/clock/advance" in simulate[-1]
    # record --upstream simulator says what simulate says, under its own name.
    on_simulator = hints.record_hint(simulator=True)(at)
    assert on_simulator == [trust, *(line.replace("simulate", "record") for line in simulate)]


@pytest.mark.parametrize("simulator", [False, True])
def test_a_reverse_proxy_to_no_chime_host_says_it_records_nothing(simulator: bool) -> None:
    """Reverse mode in front of a local fake: unless --hosts names the target, its calls are
    no Chime host's, passed on unrecorded; the start-up lines say so, and what to pass."""
    from chime_tap import hints
    from chime_tap.api.hosts import HostPolicy

    def lines(target: str, hosts: HostPolicy | None = None) -> list[str]:
        at = hints.Listener("http://127.0.0.1:8082", "/ca.pem", mode=f"reverse:{target}")
        return hints.record_hint(simulator=simulator, hosts=hosts)(at)

    warning = (
        "chime-tap record: warning: 127.0.0.1:8084, the reverse proxy's target, is no Chime "
        "host: its calls are passed on and not recorded; name it with --hosts "
        "127.0.0.1:8084=voice (or =legacy)"
    )
    assert lines("http://127.0.0.1:8084")[-1] == warning
    assert warning not in lines("http://127.0.0.1:8084", HostPolicy(["127.0.0.1:8084=legacy"]))
    # The port is the URL's, or its scheme's default: a rule for another port does not cover it.
    assert lines("http://127.0.0.1", HostPolicy(["127.0.0.1:8084"]))[-1].startswith(
        "chime-tap record: warning: 127.0.0.1:80, "
    )
    assert not any(
        "warning" in line for line in lines("https://voice-chime.us-east-1.amazonaws.com")
    )


def test_replay_forwarding_misses_does_not_say_nothing_is_sent_to_aws(tmp_path: Path) -> None:
    from chime_tap import hints

    lines = hints.forwarding_replay_hint(str(tmp_path / "new.yaml"))(
        hints.Listener("http://127.0.0.1:1", "/ca.pem")
    )
    assert "nothing is sent to AWS" not in "\n".join(lines)
    assert lines[0] == (
        "chime-tap replay: point any AWS client at it; a call no cassette holds goes to the "
        f"service, signed with the client's own credentials, and is recorded to {tmp_path / 'new.yaml'}:"
    )
    assert "AWS_ACCESS_KEY_ID" not in "\n".join(lines)  # real credentials: no fake ones offered
