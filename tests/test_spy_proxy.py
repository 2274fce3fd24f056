"""Spy mode through a real `chime-tap record --compare-to` process, a real boto3 client and the
simulator as upstream, against a baseline recorded the same way just before (another seed, so
every session id and NextToken differs and must be lined up).

The second run changes two things on purpose, and nothing else:

- its Update asks for ``["Voice"]`` where the baseline's asked for ``["SMS"]``: no recorded
  request matches, so it is compared with the closest one (the baseline's Update of the same
  session), and both the request and the answer's ``Capabilities`` differ, and so does that
  session's item in the List that follows;
- it sends the List once more than the baseline did: that last List has no recorded
  counterpart (the baseline's one answer to it was compared already).

Every other call must be found exactly and be the same as the baseline's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chime_tap.cassettes.reader import load_cassette
from support.procs import CONNECTOR, chime_tap, voice_client

A, B, C, D = "+12065550100", "+14015550101", "+12065550102", "+14015550103"


def workload(client, *, update_to: list[str], lists: int) -> list[str]:
    """Create two sessions, read and update the first, list, delete the second."""
    made = []
    for people, name in (((A, B), "alpha"), ((C, D), "beta")):
        answer = client.create_proxy_session(
            VoiceConnectorId=CONNECTOR,
            ParticipantPhoneNumbers=list(people),
            Capabilities=["Voice", "SMS"],
            Name=name,
            ExpiryMinutes=30,
        )
        made.append(answer["ProxySession"]["ProxySessionId"])
    first, second = made
    client.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=first)
    client.update_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=first, Capabilities=update_to
    )
    for _ in range(lists):
        client.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open")
    client.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=second)
    return made


def record(
    tmp_path: Path, name: str, seed: int, *extra: str, **work
) -> tuple[Path, list[str], str]:
    cassette = tmp_path / f"{name}.yaml"
    proxy = chime_tap(
        ["record", "--upstream", "simulator", "--seed", str(seed), "--cassette", str(cassette),
         *extra],
        confdir=tmp_path / f"conf-{name}",
    )  # fmt: skip
    try:
        made = workload(voice_client(proxy), **work)
    finally:
        assert proxy.stop(timeout=30) == 0, proxy.output
    return cassette, made, proxy.output


def test_spy_mode_notes_what_differs_from_the_baseline(tmp_path, cli):
    base, base_ids, _ = record(tmp_path, "base", 1, update_to=["SMS"], lists=1)
    live, live_ids, output = record(
        tmp_path, "live", 2, "--compare-to", str(base), update_to=["Voice"], lists=2
    )
    assert not set(base_ids) & set(live_ids)  # the seed gave other ids: they had to line up

    # --- the cassette: each call's counterpart and differences (chime_tap.differences) ---
    items = load_cassette(live)["interactions"]
    calls = [(i["request"]["method"], i["chime_tap"]) for i in items]
    assert [m["operation"] for _, m in calls] == [
        "CreateProxySession", "CreateProxySession", "GetProxySession", "UpdateProxySession",
        "ListProxySessions", "ListProxySessions", "DeleteProxySession",
    ]  # fmt: skip
    baseline = [m["baseline"] for _, m in calls]
    assert baseline == [
        {"interaction": "base.yaml #0", "match": "exact"},
        {"interaction": "base.yaml #1", "match": "exact"},
        {"interaction": "base.yaml #2", "match": "exact"},
        {"interaction": "base.yaml #3", "match": "closest"},
        {"interaction": "base.yaml #4", "match": "exact"},
        {"interaction": None, "match": "none"},
        {"interaction": "base.yaml #5", "match": "exact"},
    ]
    differences = [m["differences"] for _, m in calls]
    assert differences[:3] == [[], [], []] and differences[6] == []
    # Capabilities is a set, as diff compares it: SMS removed, Voice added
    assert differences[4] == [
        {
            "kind": "member removed",
            "what": "/ProxySessions/*/Capabilities/*",
            "baseline": '"SMS"',
            "live": "(missing)",
        },
        {
            "kind": "member added",
            "what": "/ProxySessions/*/Capabilities/*",
            "baseline": "(missing)",
            "live": '"Voice"',
        },
    ]
    assert differences[3] == [
        {
            "kind": "request differs",
            "what": 'body differs at /Capabilities/0: this request "Voice", recorded "SMS"',
            "baseline": None,
            "live": None,
        },
        {
            "kind": "member removed",
            "what": "/ProxySession/Capabilities/*",
            "baseline": '"SMS"',
            "live": "(missing)",
        },
        {
            "kind": "member added",
            "what": "/ProxySession/Capabilities/*",
            "baseline": "(missing)",
            "live": '"Voice"',
        },
    ]
    assert differences[5] == [
        {
            "kind": "no recorded counterpart",
            "what": "all 1 recorded answer(s) to this request compared already",
            "baseline": None,
            "live": None,
        }
    ]
    # nothing changed on the wire: the answers are the simulator's, as without spy mode
    update = json.loads(items[3]["response"]["body"]["string"])
    assert update["ProxySession"]["Capabilities"] == ["Voice"]
    assert all(
        "x-chime-tap-replay" not in {k.lower() for k in i["response"]["headers"]} for i in items
    )

    # --- the log: each call's line says it ---
    lines = [line for line in output.splitlines() if " -> " in line and "connector=" in line]
    assert len(lines) == 7, output
    assert sum("as baseline base.yaml #" in line for line in lines) == 4
    [update_line] = [line for line in lines if "] UpdateProxySession " in line]
    assert (
        "0 violation(s); 3 difference(s) from baseline base.yaml #3 (closest): request: body "
        'differs at /Capabilities/0: this request "Voice"'
    ) in update_line
    # the line is clipped in its middle: the removal begins, the addition ends it
    assert '"SMS"; member remo' in update_line
    assert update_line.endswith('/ProxySession/Capabilities/*: (missing) -> "Voice"')
    assert re.search(
        r"ListProxySessions .* no recorded counterpart in the baseline \(all 1 recorded "
        r"answer\(s\) to this request compared already\)",
        output,
    )
    assert (
        "spy: 7 call(s) compared with baseline base.yaml: 3 with differences (1 without a "
        "recorded counterpart)"
    ) in output

    # --- the report: a differences-from-baseline section, in every format ---
    done = cli("report", live, "--format", "json")
    assert done.returncode == 0, done.stderr
    section = json.loads(done.stdout)["differences_from_baseline"]
    assert section["compared"] == 7 and section["with_differences"] == 3
    rows = {(r["operation"], r["kind"], r["what"]): r["count"] for r in section["differences"]}
    assert rows == {
        ("UpdateProxySession", "request differs",
         'body differs at /Capabilities/0: this request "Voice", recorded "SMS"'): 1,
        ("UpdateProxySession", "member removed", "/ProxySession/Capabilities/*"): 1,
        ("UpdateProxySession", "member added", "/ProxySession/Capabilities/*"): 1,
        ("ListProxySessions", "member removed", "/ProxySessions/*/Capabilities/*"): 1,
        ("ListProxySessions", "member added", "/ProxySessions/*/Capabilities/*"): 1,
        ("ListProxySessions", "no recorded counterpart",
         "all 1 recorded answer(s) to this request compared already"): 1,
    }  # fmt: skip
    text = cli("report", live).stdout
    assert "Differences from baseline" in text and "/ProxySession/Capabilities/*" in text
    assert "3 of 7 compared call(s) differ" in text
    # ... and a recording without spy mode has no such section
    assert "differences_from_baseline" not in json.loads(
        cli("report", base, "--format", "json").stdout
    )
    assert "Differences from baseline" not in cli("report", base).stdout


def test_a_baseline_that_is_missing_or_no_file_is_refused_in_one_line(tmp_path, cli):
    for baseline, message in (
        (tmp_path / "nope.yaml", f"--compare-to: {tmp_path / 'nope.yaml'}: no such file"),
        (tmp_path, f"--compare-to: {tmp_path}: not a cassette file"),
    ):
        done = cli("record", "--cassette", tmp_path / "c.yaml", "--compare-to", baseline)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [f"chime-tap: {message}"], done.stderr


def test_a_baseline_that_cannot_be_read_stops_the_proxy_in_one_line(tmp_path):
    """What is inside the baseline is read by the recorder as it loads: a real process."""
    import subprocess

    from chime_tap.process import chime_tap_argv

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ninteractions: [\n")
    done = subprocess.run(
        chime_tap_argv(["record", "--cassette", str(tmp_path / "c.yaml"), "--compare-to",
                        str(broken), "--listen-port", "0", "--confdir", str(tmp_path / "conf")]),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [x for x in done.stderr.strip().splitlines() if "broken.yaml" in x]
    assert line.startswith("chime-tap: --compare-to: ") and "Traceback" not in done.stderr
