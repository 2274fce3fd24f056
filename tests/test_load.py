"""10,000 requests at concurrency 32 through a real `chime-tap record`: nothing lost, nothing out
of order, no proxy error, and the proxy's memory flat after a warm-up."""

from __future__ import annotations

import signal
from collections import defaultdict

import pytest

from chime_tap.cassettes.reader import load_cassette
from support.loadgen import (
    LoadResult,
    Upstream,
    causal_order_violations,
    request_id_of,
    rss_kb,
    run_load,
    vcr_load,
)
from support.procs import chime_tap

WARMUP = 1_000
REQUESTS = 10_000
CONCURRENCY = 32
DEADLINE_S = 400.0  # a bound, not a measurement: the run stops by itself if it is ever this slow
MEMORY_GROWTH_LIMIT_KB = 50 * 1024
CLOSED_PORT = 9  # the simulator answers itself and never connects anywhere


def _check_run(result: LoadResult, total: int, expected_status: int) -> None:
    assert result.errors == [], result.errors[:5]
    assert result.sent == total, f"stopped at the deadline after {result.sent} of {total}"
    assert len(result.answered) == total
    statuses = defaultdict(int)
    for a in result.answered:
        statuses[a.status] += 1
    assert dict(statuses) == {expected_status: total}


@pytest.mark.slow
@pytest.mark.parametrize("upstream", ["loopback", "simulator"])
def test_ten_thousand_requests_all_recorded_in_order_with_flat_memory(tmp_path, upstream, figures):
    cassette = tmp_path / "load.yaml"
    with Upstream() as server:
        if upstream == "loopback":
            authority, expected_status = f"127.0.0.1:{server.port}", 200
            extra = []
        else:  # GetProxySession of ids the simulator never issued: its 404 NotFoundException
            authority, expected_status = f"127.0.0.1:{CLOSED_PORT}", 404
            extra = ["--upstream", "simulator"]
        args = ["record", "--cassette", str(cassette), "--hosts", f"{authority}=voice", *extra]
        with chime_tap(args, confdir=tmp_path / "confdir") as proxy:
            target = f"http://{authority}"
            warm = run_load(
                proxy.port, target, WARMUP, CONCURRENCY, deadline_s=DEADLINE_S, prefix="w"
            )
            _check_run(warm, WARMUP, expected_status)
            rss_warm = rss_kb(proxy.proc.pid)
            main = run_load(
                proxy.port, target, REQUESTS, CONCURRENCY, deadline_s=DEADLINE_S, prefix="m"
            )
            _check_run(main, REQUESTS, expected_status)
            rss_after = rss_kb(proxy.proc.pid)
            assert proxy.stop(signal.SIGTERM) == 0, proxy.output[-3000:]
    output = proxy.output
    assert "Traceback" not in output and "Addon error" not in output, output[-3000:]

    recorded = [request_id_of(i["request"]["uri"]) for i in load_cassette(cassette)["interactions"]]
    answered = warm.answered + main.answered
    lost = {a.id for a in answered} - set(recorded)
    figures.append(
        f"load via {upstream}: sent {warm.sent + main.sent}, answered {len(answered)}, "
        f"recorded {len(recorded)}, lost {len(lost)}; RSS after warm-up {rss_warm} kB, "
        f"after run {rss_after} kB, growth {rss_after - rss_warm} kB"
    )
    assert lost == set()
    assert len(recorded) == len(set(recorded)) == len(answered)  # each exactly once, nothing extra
    assert len(vcr_load(cassette)) == len(answered)  # and vcrpy loads all of it
    # Order of completion: on each keep-alive connection the cassette has the client's order, and
    # nothing the client saw answered before it sent another request comes after that request.
    for run in (warm, main):
        per_conn = defaultdict(list)
        for a in run.by_completion():
            per_conn[a.conn].append(a.id)
        position = {rid: n for n, rid in enumerate(recorded)}
        for ids in per_conn.values():
            assert sorted(ids, key=position.__getitem__) == ids
        assert causal_order_violations(recorded, run.answered) == []
    assert rss_after - rss_warm <= MEMORY_GROWTH_LIMIT_KB, (rss_warm, rss_after)


def test_order_check_catches_a_reordered_cassette():
    """The causal-order check is not vacuous: a swap of two causally ordered records is caught."""
    from support.loadgen import Answer

    a = Answer("a", 0, sent_ns=0, done_ns=10, status=200)
    b = Answer("b", 1, sent_ns=20, done_ns=30, status=200)  # sent after a was answered
    c = Answer("c", 2, sent_ns=5, done_ns=25, status=200)  # overlaps both: either order is fine
    assert causal_order_violations(["a", "c", "b"], [a, b, c]) == []
    assert causal_order_violations(["c", "a", "b"], [a, b, c]) == []
    assert causal_order_violations(["b", "a", "c"], [a, b, c]) == [("a", "b")]
