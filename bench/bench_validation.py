"""Validation throughput on one core: jsonschema-rs (FastEngine) next to jsonschema reused.

Every row checks the same ~600-byte ProxySession response against the same schema document
(``ProxySessionResponse``), in this process, one after the other. The baseline is the jsonschema
library's Draft202012Validator built once and reused on the parsed body; the subject rows are
FastEngine on the parsed body and the full ``validate_response`` path (JSON parsing, status
check, schema check), plus the same two paths for an invalid body, where the error details are
collected too.

    python -m bench validation [-- --duration 1.0 --repeat 5]

Rows run in alternating rounds (``bench.paired``): each round times every row once, and a row's
ratio is the median of its per-round ratios to the baseline of the same round (min and max
printed next to it); msgs/s is the row's median round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jsonschema

from bench.paired import alternate, paired
from chime_tap.api import schemas
from chime_tap.api.hosts import VOICE
from chime_tap.api.operations import OPERATIONS, Route
from chime_tap.api.validation import FastEngine, ReferenceEngine, validate_response

TARGET = 50_000  # validated messages per second on one core (issue 2)
MAX_BATCHES = 10_000  # bounds every timing loop, whatever the duration

SESSION: dict[str, Any] = {
    "Capabilities": ["SMS", "Voice"],
    "CreatedTimestamp": "2020-04-15T16:10:10.288Z",
    "EndedTimestamp": None,
    "ExpiryMinutes": 60,
    "GeoMatchLevel": "AreaCode",
    "GeoMatchParams": {"AreaCode": "206", "Country": "US"},
    "Name": "Ride 42",
    "NumberSelectionBehavior": "PreferSticky",
    "Participants": [
        {"PhoneNumber": "+12065550100", "ProxyPhoneNumber": "+19135550199"},
        {"PhoneNumber": "+14015550101", "ProxyPhoneNumber": "+19135550199"},
    ],
    "ProxySessionId": "123a4bc5-67d8-901e-2f3g-h4ghjk56789l",
    "Status": "Open",
    "UpdatedTimestamp": "2020-04-15T16:10:10.288Z",
    "VoiceConnectorId": "abcdef1ghij2klmno3pqr4",
}
BODY = json.dumps({"ProxySession": SESSION}, separators=(",", ":")).encode()
BAD_BODY = json.dumps(
    {"ProxySession": {**SESSION, "Status": "Active", "ExpiryMinutes": 0}}, separators=(",", ":")
).encode()


def _pin_to_one_core() -> tuple[str, set[int] | None]:
    """Run on one CPU so that 'per core' means what it says: (note for the table, CPUs before)."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)", None
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(cpus)})
    return f"pinned to CPU {max(cpus)} of {len(cpus)}", cpus


def calibrate(fn: Callable[[], object]) -> int:
    """Calls per batch: about 10 ms of ``fn``, so the clock is read rarely."""
    batch = 1
    while batch < 1_000_000:
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        if time.perf_counter() - start >= 0.01:
            break
        batch *= 2
    return batch


def rate(fn: Callable[[], object], batch: int, duration: float) -> float:
    """Calls per second over one run of about ``duration`` seconds."""
    calls, start, batches = 0, time.perf_counter(), 0
    elapsed = 0.0
    while elapsed < duration and batches < MAX_BATCHES:
        for _ in range(batch):
            fn()
        calls += batch
        batches += 1
        elapsed = time.perf_counter() - start
    return calls / elapsed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=1.0, help="seconds per timed run (default 1.0)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="alternating rounds, one timed run of each row per round (default 5)",
    )
    args = parser.parse_args(argv)
    duration, repeat = max(args.duration, 0.01), max(args.repeat, 1)

    pinned, before = _pin_to_one_core()
    try:
        return _measure(duration, repeat, pinned)
    finally:  # other benchmarks run in this process next; give them their CPUs back
        if before is not None:
            os.sched_setaffinity(0, before)


def _measure(duration: float, repeat: int, pinned: str) -> dict:
    name = "ProxySessionResponse"
    reference = jsonschema.Draft202012Validator(schemas.schema_for(name))
    fast = FastEngine()
    route = Route(OPERATIONS["GetProxySession"], VOICE, {})
    instance, bad_instance = json.loads(BODY), json.loads(BAD_BODY)

    # Bench only what is right: every path agrees the good body is valid and the bad one is not.
    assert reference.is_valid(instance) and fast.errors(name, instance) == []
    assert validate_response(route, status=200, body=BODY, engine=fast) == []
    assert not reference.is_valid(bad_instance) and len(fast.errors(name, bad_instance)) == 2
    assert len(validate_response(route, status=200, body=BAD_BODY, engine=fast)) == 2
    assert ReferenceEngine().errors(name, bad_instance) and fast.is_valid(name, instance)

    rows: list[tuple[str, str, Callable[[], object]]] = [
        (
            "baseline",
            "jsonschema Draft202012Validator reused, parsed body",
            lambda: reference.is_valid(instance),
        ),
        (
            "baseline_parse",
            "jsonschema reused, json.loads + is_valid",
            lambda: reference.is_valid(json.loads(BODY)),
        ),
        ("fast_engine", "FastEngine.errors, parsed body", lambda: fast.errors(name, instance)),
        (
            "validate_response",
            "validate_response (parse + status + schema), FastEngine",
            lambda: validate_response(route, status=200, body=BODY, engine=fast),
        ),
        (
            "fast_engine_invalid",
            "FastEngine.errors, invalid body (2 errors)",
            lambda: fast.errors(name, bad_instance),
        ),
        (
            "baseline_invalid",
            "jsonschema reused, iter_errors on invalid body",
            lambda: list(reference.iter_errors(bad_instance)),
        ),
    ]
    figures: dict[str, Any] = {"body_bytes": len(BODY), "cpu": pinned, "target_msgs_per_s": TARGET}
    batches = {key: calibrate(fn) for key, _, fn in rows}
    runs = alternate(
        {key: (lambda _r, fn=fn, key=key: rate(fn, batches[key], duration)) for key, _, fn in rows},
        repeat,
    )
    for key, _, _ in rows:
        figures[f"{key}_msgs_per_s"] = statistics.median(runs[key])
        baseline = "baseline_invalid" if key.endswith("_invalid") else "baseline"
        ratio = paired(runs[key], runs[baseline])
        figures[f"{key}_ratio"] = ratio.median
        figures[f"{key}_ratio_range"] = (ratio.low, ratio.high)
        figures[f"{key}_ratio_text"] = ratio.text(1)
    figures["target_met"] = figures["validate_response_msgs_per_s"] >= TARGET

    print(
        f"validation throughput, {len(BODY)}-byte ProxySession response, {pinned}, "
        f"{repeat} alternating rounds; msgs/s: median round; x baseline: median of per-round "
        "paired ratios (min-max)"
    )
    print(f"{'row':<22} {'msgs/s':>12} {'x baseline (min-max)':>22}  what")
    for key, what, _ in rows:
        print(
            f"{key:<22} {figures[f'{key}_msgs_per_s']:>12,.0f} {figures[f'{key}_ratio_text']:>22}  {what}"
        )
    verdict = "met" if figures["target_met"] else "NOT met"
    print(f"target {TARGET:,} msgs/s for validate_response: {verdict}")
    return figures


if __name__ == "__main__":
    main()
