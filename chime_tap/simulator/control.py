"""The simulator's own control endpoint, reached through the proxy from any HTTP client.

``GET /clock``, ``POST /clock/advance?seconds=N``, ``POST /reset`` on :data:`CONTROL_HOST`.
"""

from __future__ import annotations

from typing import Any

from chime_tap.simulator.store import SessionStore, SimClock, format_timestamp

# The simulator's own control endpoint. ``.invalid`` never resolves (RFC 2606), so a request
# to it can only ever be answered by the simulator.
CONTROL_HOST = "sim.chime-tap.invalid"


def control(
    clock: SimClock, store: SessionStore, method: str, path: str, query: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """The control endpoint: ``GET /clock``, ``POST /clock/advance?seconds=N``, ``POST /reset``."""
    path = path.split("?", 1)[0].rstrip("/")
    if path == "/clock/advance" and method == "POST":
        try:
            clock.advance(float(query.get("seconds", "")))
        except ValueError as e:
            return 400, {"message": f"seconds: {e}"}
    elif path == "/reset" and method == "POST":
        store.reset()
    elif path != "/clock" or method != "GET":
        return 404, {
            "message": "control endpoints: GET /clock, POST /clock/advance?seconds=N, POST /reset"
        }
    now = clock.now()
    return 200, {
        "Now": format_timestamp(now),
        "ClockOffsetSeconds": clock.offset,
        "Sessions": len(store),
    }
