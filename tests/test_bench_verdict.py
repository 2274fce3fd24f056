"""bench record's verdict on a throughput target, read against the run's control."""

from __future__ import annotations

import pytest

from bench.bench_record import _verdict


@pytest.mark.parametrize(
    ("subject", "control", "verdict"),
    [
        (0.99, (1.01, 0.93), "met"),  # the control within 3% of 1: the target decides
        (0.95, (1.01, 0.93), "MISSED"),
        (0.90, (0.966, 0.85), "NOT SHOWN (the control measured 0.966, not 1)"),  # noise too wide
        (1.02, (1.12, 0.95), "NOT SHOWN (the control measured 1.120, not 1)"),
        (0.80, (0.966, 0.85), "MISSED"),  # below every round of the control: a miss, noise or not
    ],
)
def test_a_target_is_judged_against_the_control(subject, control, verdict) -> None:
    median, low = control
    assert _verdict({"median": subject}, {"median": median, "min": low}) == verdict
