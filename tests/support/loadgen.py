"""A bounded loopback load client, a loopback upstream, and the readers the load tests need.

The client sends plain HTTP/1.1 through the proxy (absolute-form requests on keep-alive
connections), each request carrying a unique id in its path, and notes for each answer when it
was sent and when it completed. Every loop is bounded by a request count and a deadline.
"""

from __future__ import annotations

import http.client
import itertools
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

CONNECTOR = "abcdef1ghij2klmno3pqr4"


@dataclass(frozen=True)
class Answer:
    """One request the client saw answered."""

    id: str
    conn: int
    sent_ns: int
    done_ns: int
    status: int


@dataclass
class LoadResult:
    sent: int = 0
    answered: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def by_completion(self) -> list[Answer]:
        return sorted(self.answered, key=lambda a: a.done_ns)


def session_path(request_id: str) -> str:
    return f"/voice-connectors/{CONNECTOR}/proxy-sessions/{request_id}"


def run_load(
    proxy_port: int,
    target: str,
    total: int,
    concurrency: int,
    *,
    deadline_s: float = 120.0,
    prefix: str = "r",
    stop: threading.Event | None = None,
    timeout_s: float = 10.0,
    progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """Send ``total`` GETs to ``target`` (``http://host:port``) through the proxy on ``concurrency``
    keep-alive connections; stop early at the deadline, on ``stop``, or when a connection fails.

    ``progress`` is called with the number of answers so far after each answer, under the lock.
    """
    result = LoadResult()
    lock = threading.Lock()
    counter = itertools.count()
    end = time.monotonic() + deadline_s
    host = urlsplit(target).netloc

    def worker(conn_no: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=timeout_s)
        try:
            while time.monotonic() < end and not (stop and stop.is_set()):
                with lock:
                    n = next(counter)
                    if n >= total:
                        return
                    result.sent += 1
                request_id = f"{prefix}-{conn_no:02d}-{n:06d}"
                sent = time.monotonic_ns()
                try:
                    conn.request("GET", target + session_path(request_id), headers={"Host": host})
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException) as e:
                    with lock:
                        result.errors.append(f"{request_id}: {type(e).__name__}: {e}")
                    return  # the proxy is gone or broke the connection: this worker stops
                done = time.monotonic_ns()
                with lock:
                    result.answered.append(Answer(request_id, conn_no, sent, done, response.status))
                    if progress is not None:
                        progress(len(result.answered))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, end - time.monotonic()) + timeout_s + 5)
    return result


def request_id_of(uri: str) -> str:
    return urlsplit(uri).path.rsplit("/", 1)[-1]


def causal_order_violations(
    cassette_ids: list[str], answers: list[Answer]
) -> list[tuple[str, str]]:
    """Pairs (x, y) where the client saw x answered before it sent y, yet x comes after y in the
    cassette. A recorder that writes each interaction before answering yields none."""
    by_id = {a.id: a for a in answers}
    ordered = [by_id[i] for i in cassette_ids if i in by_id]
    found = []
    # Walk the cassette backwards keeping the earliest completion seen so far (the suffix minimum).
    earliest: Answer | None = None
    for a in reversed(ordered):
        if earliest is not None and earliest.done_ns < a.sent_ns:
            found.append((earliest.id, a.id))
        if earliest is None or a.done_ns < earliest.done_ns:
            earliest = a
    return found


def rss_kb(pid: int) -> int:
    """Resident set size of a process in kB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def vcr_load(path: Path) -> list[tuple[object, object]]:
    """Load a cassette the way vcrpy does; (request, response) pairs. Raises what vcrpy raises."""
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serializers import jsonserializer, yamlserializer

    serializer = jsonserializer if str(path).endswith(".json") else yamlserializer
    requests, responses = FilesystemPersister.load_cassette(str(path), serializer)
    return list(zip(requests, responses, strict=True))


def vcr_request_ids(path: Path) -> list[str]:
    """The request ids of a cassette as vcrpy loads it, in its order."""
    return [request_id_of(request.uri) for request, _ in vcr_load(path)]


def chime_tap_request_ids(path: Path) -> list[str]:
    """The request ids of a cassette as chime-tap's reader loads it, in its order."""
    from chime_tap.cassettes.reader import load_cassette

    return [request_id_of(i["request"]["uri"]) for i in load_cassette(path)["interactions"]]


@contextmanager
def worker_processes(count: int) -> Iterator[ProcessPoolExecutor]:
    """Worker processes for the parses of big cassettes (libyaml reads 10,000 recorded calls in
    several CPU-seconds), so they run on the other core beside the test's own work."""
    # spawn, not fork: the test process runs threads (loopback servers, output readers).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(count, mp_context=context) as pool:
        # Start the workers and import the readers now, not in the middle of the first check.
        for _ in range(count):
            pool.submit(_import_readers)
        yield pool


def _import_readers() -> None:
    import vcr.persisters.filesystem
    import vcr.serializers.yamlserializer  # noqa: F401

    import chime_tap.cassettes.reader  # noqa: F401


# --- a loopback upstream ----------------------------------------------------------------------


class _SessionHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: with Nagle's algorithm the body waits for
    # the proxy's delayed ACK of the headers, 40 ms per answer on Linux loopback.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        session_id = request_id_of(self.path)
        body = json.dumps(
            {
                "ProxySession": {
                    "VoiceConnectorId": CONNECTOR,
                    "ProxySessionId": session_id,
                    "Status": "Open",
                    "Capabilities": ["Voice"],
                    "ExpiryMinutes": 60,
                    "CreatedTimestamp": "2020-04-15T16:10:10.288Z",
                    "UpdatedTimestamp": "2020-04-15T16:10:10.288Z",
                    "Participants": [],
                }
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client (the proxy) killed mid-connection is what the kill tests do; not news.
        pass


class Upstream:
    """A threaded HTTP/1.1 server on 127.0.0.1 answering GetProxySession for any id."""

    def __init__(self) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), _SessionHandler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
