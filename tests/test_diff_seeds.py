"""`chime-tap diff` on two real recordings of one workload through the simulator, seeds 1 and 2.

Two `chime-tap record --upstream simulator` processes on loopback, each driven by a real boto3
chime-sdk-voice client over HTTPS with the same workload (the demo's, then ten rounds of
create, get, update, list, delete: every operation at least ten times, so latency is tested
too). Both run at once, so whatever else loads the machine slows both alike.

What the seed changes, found by recording: the session ids (``uuid4`` from the seeded id
stream) and the NextTokens (an HMAC under a seed-derived key). Proxy phone numbers do not
change: the simulator gives each session the first number of its pool that neither participant
holds, whatever the seed. diff lines up both by itself (sessions by their Creates, tokens by
order of issue), so nothing needs ``--ignore``.

Run as a script (``python tests/test_diff_seeds.py OUT.yaml SEED``) it records one cassette:
that is how ``tests/data/diff/recorded.yaml`` was made.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chime_tap.cassettes.reader import load_cassette
from chime_tap.demo_workload import CONNECTOR, PEOPLE, Workload, control_via
from support.procs import chime_tap

ROUNDS = 10


def drive(proxy_url: str, ca_bundle: str) -> None:
    """The demo's workload, then ROUNDS rounds of the five operations, through the proxy."""
    w = Workload(proxy_url, ca_bundle, control_via(proxy_url), progress=lambda line: None)
    try:
        w.run()
        c = w.client
        for i in range(ROUNDS):
            a, b = PEOPLE[i % len(PEOPLE)]
            made = c.create_proxy_session(
                VoiceConnectorId=CONNECTOR,
                ParticipantPhoneNumbers=[a, b],
                Capabilities=["Voice"],
                Name=f"round {i}",
                ExpiryMinutes=30,
            )
            sid = made["ProxySession"]["ProxySessionId"]
            c.get_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
            c.update_proxy_session(
                VoiceConnectorId=CONNECTOR, ProxySessionId=sid, Capabilities=["SMS"]
            )
            c.list_proxy_sessions(VoiceConnectorId=CONNECTOR, Status="Open", MaxResults=2)
            c.delete_proxy_session(VoiceConnectorId=CONNECTOR, ProxySessionId=sid)
    finally:
        w.close()


def record(cassette: Path, seed: int, confdir: Path) -> None:
    """One recording of the workload: a real recording proxy with the simulator, seeded."""
    proxy = chime_tap(
        [
            *("record", "--upstream", "simulator", "--cassette", str(cassette)),
            *("--seed", str(seed), "--latency-ms", "20"),
        ],
        confdir=confdir,
    )
    try:
        drive(proxy.url, str(proxy.ca_cert))
    finally:
        assert proxy.stop(timeout=30) == 0, proxy.output


def _responses(path: Path, member: str) -> list[str]:
    """Every value of ``member`` in the cassette's JSON response bodies, in order."""
    found = []

    def walk(doc):
        if isinstance(doc, dict):
            for k, v in doc.items():
                if k == member and isinstance(v, str):
                    found.append(v)
                walk(v)
        elif isinstance(doc, list):
            for v in doc:
                walk(v)

    for item in load_cassette(path)["interactions"]:
        body = item["response"]["body"]["string"]
        if body and body.startswith("{"):
            walk(json.loads(body))
    return found


def test_same_workload_with_two_seeds_is_equivalent_with_nothing_ignored(tmp_path, cli):
    a, b = tmp_path / "seed1.yaml", tmp_path / "seed2.yaml"
    errors: list[BaseException] = []

    def run(cassette: Path, seed: int) -> None:
        try:
            record(cassette, seed, tmp_path / f"conf{seed}")
        except BaseException as e:  # reported by the test thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(a, 1)), threading.Thread(target=run, args=(b, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    # The seed did change what the service made up: the comparison below has work to do.
    ids_a, ids_b = _responses(a, "ProxySessionId"), _responses(b, "ProxySessionId")
    assert ids_a and len(ids_a) == len(ids_b) and not set(ids_a) & set(ids_b)
    tokens_a, tokens_b = _responses(a, "NextToken"), _responses(b, "NextToken")
    assert tokens_a and len(tokens_a) == len(tokens_b) and not set(tokens_a) & set(tokens_b)
    # ... and not the proxy phone numbers (first free number of the pool, whatever the seed).
    assert _responses(a, "ProxyPhoneNumber") == _responses(b, "ProxyPhoneNumber")

    done = cli("diff", a, b, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["equivalent"] and result["differences"] == 0
    counts = {op["operation"]: (op["calls_a"], op["paired"]) for op in result["operations"]}
    # demo workload + ROUNDS rounds; every call paired
    assert counts == {
        "CreateProxySession": (7 + ROUNDS, 7 + ROUNDS),
        "ListProxySessions": (6 + ROUNDS, 6 + ROUNDS),
        "GetProxySession": (4 + ROUNDS, 4 + ROUNDS),
        "UpdateProxySession": (3 + ROUNDS, 3 + ROUNDS),
        "DeleteProxySession": (3 + ROUNDS, 3 + ROUNDS),
    }
    # latency was compared (enough timed calls), and found unchanged
    for op in result["operations"]:
        assert op["latency"]["p_value"] is not None, op["latency"]
        assert not op["latency"]["changed"]


if __name__ == "__main__":
    out, seed = Path(sys.argv[1]), int(sys.argv[2])
    record(out, seed, out.with_name(out.stem + "-confdir"))
