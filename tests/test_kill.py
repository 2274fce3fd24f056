"""A recording proxy stopped at a random moment of a burst: by SIGKILL the cassette still loads and
holds every call the client saw answered; SIGTERM and SIGINT also flush and exit 0.

The moments come from a seeded generator: the signal goes out once the client has seen a random
number of answers (0 to BURST: before the first answer, anywhere inside the burst, or after its
last answer), a random few milliseconds later. The seed is printed (set CHIME_TAP_KILL_SEED to
replay a run). One cassette per format and signal is reused across the trials, so every restart
also reopens a cassette its predecessor left behind.

A trial waits for nothing else: the next trial's proxy starts while this one runs (it records to
the other format's cassette, which the previous trial left and this test already checked), and
vcrpy reads each cassette in a second process while chime-tap's reader reads it here.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from chime_tap.cassettes.reader import load_cassette
from support.loadgen import (
    LoadResult,
    Upstream,
    request_id_of,
    run_load,
    vcr_request_ids,
    worker_processes,
)
from support.procs import ProxyProcess, chime_tap

TRIALS = 20  # per signal: 60 in all
BURST = 100  # requests per trial; the stop lands somewhere in the burst
CONCURRENCY = 8
JITTER_S = 0.005  # the signal lands this much (at most) after the chosen answer, at random
FORMATS = ("yaml", "json")  # trials alternate between a YAML and a JSON cassette
SEED = int(os.environ.get("CHIME_TAP_KILL_SEED", "20261123"))


@pytest.fixture(scope="module")
def upstream():
    with Upstream() as server:
        yield server


@pytest.fixture(scope="module")
def vcrpy_process():
    with worker_processes(1) as pool:
        yield pool


def _burst_then_signal(
    proxy: ProxyProcess, target: str, prefix: str, answers: int, jitter: float, sig: int
) -> tuple[LoadResult, int | None]:
    """Start a burst, send ``sig`` once ``answers`` calls were answered (and ``jitter`` seconds)."""
    reached = threading.Event()
    if answers == 0:
        reached.set()
    box: dict[str, LoadResult] = {}

    def on_answer(count: int) -> None:
        if count >= answers:
            reached.set()

    def load() -> None:
        try:
            box["r"] = run_load(
                proxy.port, target, BURST, CONCURRENCY,
                deadline_s=60, prefix=prefix, timeout_s=10, progress=on_answer,
            )  # fmt: skip
        finally:
            reached.set()  # the burst ended first (a connection failed): stop now

    client = threading.Thread(target=load, daemon=True)
    client.start()
    assert reached.wait(90), "the load client neither answered nor stopped"
    time.sleep(jitter)
    if sig == signal.SIGKILL:
        os.kill(proxy.proc.pid, signal.SIGKILL)
        code = proxy.proc.wait(30)
    else:
        code = proxy.stop(sig)
    client.join(90)
    assert not client.is_alive(), "the load client did not stop"
    return box["r"], code


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name
)
def test_stop_at_random_points_keeps_every_answered_call(
    tmp_path, upstream, vcrpy_process, sig, figures
):
    rng = random.Random(f"{SEED}-{sig.name}")
    authority = f"127.0.0.1:{upstream.port}"
    cassettes = {fmt: tmp_path / f"{sig.name}.{fmt}" for fmt in FORMATS}
    answered: dict[str, set[str]] = {fmt: set() for fmt in cassettes}
    survived = 0
    mid_burst = 0

    def start(trial: int) -> Future[ProxyProcess]:
        cassette = cassettes[FORMATS[trial % 2]]
        args = ["record", "--cassette", str(cassette), "--hosts", f"{authority}=voice"]
        return starter.submit(chime_tap, args, confdir=tmp_path / "confdir")

    with ThreadPoolExecutor(1) as starter:
        pending: Future[ProxyProcess] | None = start(0)
        try:
            for trial in range(TRIALS):
                fmt = FORMATS[trial % 2]
                cassette = cassettes[fmt]
                answers, jitter = rng.randint(0, BURST), rng.uniform(0, JITTER_S)
                assert pending is not None
                with pending.result() as proxy:
                    pending = start(trial + 1) if trial + 1 < TRIALS else None
                    result, code = _burst_then_signal(
                        proxy, f"http://{authority}", f"t{trial:02d}", answers, jitter, sig
                    )
                context = (
                    f"trial {trial} ({sig.name} after {answers} answer(s) +{jitter * 1000:.1f} ms, "
                    f"{fmt}, CHIME_TAP_KILL_SEED={SEED})"
                )
                if sig == signal.SIGKILL:
                    assert code == -signal.SIGKILL, context
                else:
                    assert code == 0, f"{context}: exit {code}\n{proxy.output[-3000:]}"
                    assert "Traceback" not in proxy.output, f"{context}\n{proxy.output[-3000:]}"
                mid_burst += 0 < len(result.answered) < BURST
                answered[fmt] |= {a.id for a in result.answered}
                in_vcrpy = vcrpy_process.submit(vcr_request_ids, cassette)
                doc = load_cassette(cassette)  # loads after every stop...
                recorded = [request_id_of(i["request"]["uri"]) for i in doc["interactions"]]
                assert in_vcrpy.result(120) == recorded, context  # ...in vcrpy too, the same calls
                assert len(recorded) == len(set(recorded)), (
                    f"{context}: an interaction recorded twice"
                )
                missing = answered[fmt] - set(recorded)
                assert not missing, f"{context}: answered but not recorded: {sorted(missing)[:5]}"
                survived += 1
        finally:
            if pending is not None:  # a failed trial: the next proxy is already starting
                with contextlib.suppress(Exception):
                    pending.result().kill()
    total = sum(len(ids) for ids in answered.values())
    figures.append(
        f"kill trials {sig.name}: {survived}/{TRIALS} survived (YAML and JSON alternating), "
        f"{mid_burst} stopped mid-burst, {total} answered calls all recorded "
        f"(CHIME_TAP_KILL_SEED={SEED})"
    )
    # The stops really landed inside bursts (not all before the first or after the last answer).
    assert mid_burst >= TRIALS // 2
