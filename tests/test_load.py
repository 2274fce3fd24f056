"""10,000 requests at concurrency 32 through a real `chime-tap record`: nothing lost, nothing out
of order, no proxy error, and the proxy's memory flat after a warm-up.

Both runs happen in one module fixture, one after the other: reading back 11,000 YAML
interactions (chime-tap's reader and vcrpy, several CPU-seconds each) goes on in two worker
processes while the next run loads the proxy, which leaves a core idle (the proxy is the
bottleneck). Each test then checks its own run.
"""

from __future__ import annotations

import signal
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.loadgen import (
    Answer,
    LoadResult,
    Upstream,
    causal_order_violations,
    chime_tap_request_ids,
    rss_kb,
    run_load,
    vcr_request_ids,
    worker_processes,
)
from support.procs import chime_tap

WARMUP = 1_000
REQUESTS = 10_000
CONCURRENCY = 32
DEADLINE_S = 400.0  # a bound, not a measurement: the run stops by itself if it is ever this slow
MEMORY_GROWTH_LIMIT_KB = 50 * 1024
CLOSED_PORT = 9  # the simulator answers itself and never connects anywhere
# How each run reaches an answer, and the status every answer must have.
UPSTREAMS = {
    "loopback": 200,
    # GetProxySession of ids the simulator never issued: its 404 NotFoundException
    "simulator": 404,
}


@dataclass
class Run:
    """What one load run left: the client's view, the proxy's memory and exit, the cassette."""

    warm: LoadResult
    main: LoadResult
    rss_warm: int
    rss_after: int
    exit_code: int
    output: str
    recorded: Future[list[str]]  # request ids, as chime-tap's reader loads the cassette
    in_vcrpy: Future[list[str]]  # the same, as vcrpy loads it


def _load_run(upstream: str, server: Upstream, directory: Path, readers) -> Run:
    cassette = directory / "load.yaml"
    if upstream == "loopback":
        authority, extra = f"127.0.0.1:{server.port}", []
    else:
        authority, extra = f"127.0.0.1:{CLOSED_PORT}", ["--upstream", "simulator"]
    args = ["record", "--cassette", str(cassette), "--hosts", f"{authority}=voice", *extra]
    with chime_tap(args, confdir=directory / "confdir") as proxy:
        target = f"http://{authority}"
        warm = run_load(proxy.port, target, WARMUP, CONCURRENCY, deadline_s=DEADLINE_S, prefix="w")
        rss_warm = rss_kb(proxy.proc.pid)
        main = run_load(
            proxy.port, target, REQUESTS, CONCURRENCY, deadline_s=DEADLINE_S, prefix="m"
        )
        rss_after = rss_kb(proxy.proc.pid)
        code = proxy.stop(signal.SIGTERM)
    return Run(
        warm, main, rss_warm, rss_after, code, proxy.output,
        readers.submit(chime_tap_request_ids, cassette),
        readers.submit(vcr_request_ids, cassette),
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    with Upstream() as server, worker_processes(2) as readers:
        yield {
            upstream: _load_run(upstream, server, tmp_path_factory.mktemp(upstream), readers)
            for upstream in UPSTREAMS
        }


def _check_run(result: LoadResult, total: int, expected_status: int) -> None:
    assert result.errors == [], result.errors[:5]
    assert result.sent == total, f"stopped at the deadline after {result.sent} of {total}"
    assert len(result.answered) == total
    statuses = defaultdict(int)
    for a in result.answered:
        statuses[a.status] += 1
    assert dict(statuses) == {expected_status: total}


@pytest.mark.slow
@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_ten_thousand_requests_all_recorded_in_order_with_flat_memory(runs, upstream, figures):
    run = runs[upstream]
    _check_run(run.warm, WARMUP, UPSTREAMS[upstream])
    _check_run(run.main, REQUESTS, UPSTREAMS[upstream])
    assert run.exit_code == 0, run.output[-3000:]
    assert "Traceback" not in run.output and "Addon error" not in run.output, run.output[-3000:]

    recorded = run.recorded.result(DEADLINE_S)
    answered = run.warm.answered + run.main.answered
    lost = {a.id for a in answered} - set(recorded)
    figures.append(
        f"load via {upstream}: sent {run.warm.sent + run.main.sent}, answered {len(answered)}, "
        f"recorded {len(recorded)}, lost {len(lost)}; RSS after warm-up {run.rss_warm} kB, "
        f"after run {run.rss_after} kB, growth {run.rss_after - run.rss_warm} kB"
    )
    assert lost == set()
    assert len(recorded) == len(set(recorded)) == len(answered)  # each exactly once, nothing extra
    assert run.in_vcrpy.result(DEADLINE_S) == recorded  # and vcrpy loads all of it, in order
    # Order of completion: on each keep-alive connection the cassette has the client's order, and
    # nothing the client saw answered before it sent another request comes after that request.
    position = {rid: n for n, rid in enumerate(recorded)}
    for load in (run.warm, run.main):
        per_conn = defaultdict(list)
        for a in load.by_completion():
            per_conn[a.conn].append(a.id)
        for ids in per_conn.values():
            assert sorted(ids, key=position.__getitem__) == ids
        assert causal_order_violations(recorded, load.answered) == []
    assert run.rss_after - run.rss_warm <= MEMORY_GROWTH_LIMIT_KB, (run.rss_warm, run.rss_after)


def test_order_check_catches_a_reordered_cassette():
    """The causal-order check is not vacuous: a swap of two causally ordered records is caught."""
    a = Answer("a", 0, sent_ns=0, done_ns=10, status=200)
    b = Answer("b", 1, sent_ns=20, done_ns=30, status=200)  # sent after a was answered
    c = Answer("c", 2, sent_ns=5, done_ns=25, status=200)  # overlaps both: either order is fine
    assert causal_order_violations(["a", "c", "b"], [a, b, c]) == []
    assert causal_order_violations(["c", "a", "b"], [a, b, c]) == []
    assert causal_order_violations(["b", "a", "c"], [a, b, c]) == [("a", "b")]
