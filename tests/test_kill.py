"""A recording proxy stopped at a random moment of a burst: by SIGKILL the cassette still loads and
holds every call the client saw answered; SIGTERM and SIGINT also flush and exit 0.

The moments come from a seeded generator; the seed is printed (set CHIME_TAP_KILL_SEED to replay
a run). One cassette per signal is reused across the trials, so every restart also reopens a
cassette its predecessor left behind.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from chime_tap.cassettes.reader import load_cassette
from support.loadgen import LoadResult, Upstream, request_id_of, run_load, vcr_load
from support.procs import chime_tap

TRIALS = 20
BURST = 300  # requests per trial; the stop lands somewhere inside the burst
CONCURRENCY = 8
SEED = int(os.environ.get("CHIME_TAP_KILL_SEED", "20261123"))


@pytest.fixture(scope="module")
def upstream():
    with Upstream() as server:
        yield server


def _burst_then_signal(
    proxy, target: str, prefix: str, delay: float, sig: int
) -> tuple[LoadResult, int | None]:
    box: dict[str, LoadResult] = {}
    load = threading.Thread(
        target=lambda: box.setdefault(
            "r",
            run_load(
                proxy.port, target, BURST, CONCURRENCY, deadline_s=60, prefix=prefix, timeout_s=10
            ),
        ),
        daemon=True,
    )
    load.start()
    time.sleep(delay)
    if sig == signal.SIGKILL:
        os.kill(proxy.proc.pid, signal.SIGKILL)
        code = proxy.proc.wait(30)
    else:
        code = proxy.stop(sig)
    load.join(90)
    assert not load.is_alive(), "the load client did not stop"
    return box["r"], code


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name
)
def test_stop_at_random_points_keeps_every_answered_call(tmp_path, upstream, sig, figures):
    rng = random.Random(f"{SEED}-{sig.name}")
    authority = f"127.0.0.1:{upstream.port}"
    # Trials alternate between a YAML and a JSON cassette, each reused across its trials.
    cassettes = {fmt: tmp_path / f"{sig.name}.{fmt}" for fmt in ("yaml", "json")}
    answered: dict[str, set[str]] = {fmt: set() for fmt in cassettes}
    survived = 0
    mid_burst = 0
    for trial in range(TRIALS):
        fmt = ("yaml", "json")[trial % 2]
        cassette = cassettes[fmt]
        delay = rng.uniform(0.05, 1.5)
        args = ["record", "--cassette", str(cassette), "--hosts", f"{authority}=voice"]
        with chime_tap(args, confdir=tmp_path / "confdir") as proxy:
            result, code = _burst_then_signal(
                proxy, f"http://{authority}", f"t{trial:02d}", delay, sig
            )
        context = (
            f"trial {trial} ({sig.name} after {delay:.3f}s, {fmt}, CHIME_TAP_KILL_SEED={SEED})"
        )
        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL, context
        else:
            assert code == 0, f"{context}: exit {code}\n{proxy.output[-3000:]}"
            assert "Traceback" not in proxy.output, f"{context}\n{proxy.output[-3000:]}"
        mid_burst += 0 < len(result.answered) < BURST
        answered[fmt] |= {a.id for a in result.answered}
        doc = load_cassette(cassette)  # loads after every stop...
        recorded = [request_id_of(i["request"]["uri"]) for i in doc["interactions"]]
        assert len(vcr_load(cassette)) == len(recorded), context  # ...in vcrpy too
        assert len(recorded) == len(set(recorded)), f"{context}: an interaction recorded twice"
        missing = answered[fmt] - set(recorded)
        assert not missing, f"{context}: answered but not recorded: {sorted(missing)[:5]}"
        survived += 1
    total = sum(len(ids) for ids in answered.values())
    figures.append(
        f"kill trials {sig.name}: {survived}/{TRIALS} survived (YAML and JSON alternating), "
        f"{mid_burst} stopped mid-burst, {total} answered calls all recorded "
        f"(CHIME_TAP_KILL_SEED={SEED})"
    )
    # The stops really landed inside bursts (not all before the first or after the last answer).
    assert mid_burst >= TRIALS // 2
