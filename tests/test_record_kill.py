"""kill -9 in the middle of a burst: the cassette loads and holds every call the client saw answered."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.reader import load_cassette
from support.loadgen import (
    LoadResult,
    Upstream,
    causal_order_violations,
    request_id_of,
    run_load,
    vcr_load,
)
from support.procs import chime_tap

TOTAL = 3000  # more than the proxy can answer before the kill
CONCURRENCY = 8
KILL_AFTER = 150  # answers seen by the client before the kill


def served(lines: list[str]) -> int:
    return sum(1 for line in list(lines) if "GetProxySession" in line and "-> 200" in line)


@pytest.mark.parametrize("name", ["burst.yaml", "burst.json"])
def test_kill_9_mid_burst_loses_no_answered_call(tmp_path: Path, name: str) -> None:
    cassette = tmp_path / name
    with Upstream() as up:
        proxy = chime_tap(
            ["record", "--cassette", str(cassette), "--hosts", f"127.0.0.1:{up.port}"],
            confdir=tmp_path / "conf",
        )
        try:
            stop = threading.Event()
            result = LoadResult()

            def load() -> None:
                nonlocal result
                result = run_load(proxy.port, up.url, TOTAL, CONCURRENCY, deadline_s=90, stop=stop)

            client = threading.Thread(target=load, daemon=True)
            client.start()
            # The recorder logs one line per call: kill once enough calls went through.
            deadline = time.monotonic() + 60
            while (
                served(proxy.lines) < KILL_AFTER
                and time.monotonic() < deadline
                and client.is_alive()
            ):
                time.sleep(0.01)
            assert client.is_alive()  # still sending: the kill comes mid-burst
            proxy.kill()  # SIGKILL to the process group: no shutdown hook runs
            stop.set()
            client.join(60)
            assert not client.is_alive()
        finally:
            proxy.kill()

    answered = [a for a in result.answered if a.status == 200]
    assert len(answered) >= KILL_AFTER // 2, (len(answered), result.errors[:3])
    assert len(answered) < TOTAL  # the kill really came mid-burst
    assert result.errors  # calls in flight when the proxy died failed on the client side

    pairs = vcr_load(cassette)  # plain vcrpy loads what the killed recorder left
    items = load_cassette(cassette)["interactions"]
    assert len(pairs) == len(items)
    recorded = [request_id_of(i["request"]["uri"]) for i in items]
    missing = {a.id for a in answered} - set(recorded)
    assert not missing, (
        f"{len(missing)} answered call(s) not in the cassette, e.g. {sorted(missing)[:3]}"
    )
    assert len(recorded) == len(set(recorded))  # each call once
    assert all(i[META_KEY]["operation"] == "GetProxySession" for i in items)
    # Written before answering: nothing the client saw answered comes after a later request.
    assert causal_order_violations(recorded, answered) == []
