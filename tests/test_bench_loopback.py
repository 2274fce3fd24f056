"""The benchmarks' loopback upstream: the same body every answer, or one that differs each time."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from bench.bench_record import upstream_server
from bench.loopback import PROXY_SESSION_BODY
from chime_tap.api.operations import classify_path
from chime_tap.api.validation import validate_response

PATH = "/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions/s"


def answers(tmp_path: Path, vary: bool, n: int = 3) -> list[bytes]:
    server = upstream_server(tmp_path, vary=vary)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        out = []
        for _ in range(n):
            conn.request("GET", PATH)
            out.append(conn.getresponse().read())
        conn.close()
        return out
    finally:
        server.kill()


def test_a_varying_upstream_answers_a_different_valid_body_each_time(tmp_path: Path) -> None:
    bodies = answers(tmp_path, vary=True)
    assert len(set(bodies)) == len(bodies)
    route = classify_path("GET", PATH, "voice")
    for body in bodies:
        assert len(body) == len(PROXY_SESSION_BODY)
        assert json.loads(body)["ProxySession"]["UpdatedTimestamp"].startswith("2020-04-15T00:00:0")
        assert validate_response(route, status=200, body=body) == []


def test_the_default_upstream_answers_the_same_body(tmp_path: Path) -> None:
    assert answers(tmp_path, vary=False) == [PROXY_SESSION_BODY] * 3
