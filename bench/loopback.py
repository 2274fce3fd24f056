"""What the proxy benchmarks share: a trivial loopback upstream and a bounded keep-alive client.

Everything listens on and talks to 127.0.0.1; every run is bounded by a request count and a
time cap, and stops by itself.
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TIME_CAP = 60.0  # seconds per measured run, whatever the request count

# A valid GetProxySession answer (~530 bytes, the size of the simulator's): what the trivial
# upstream sends back, and what the in-process measurements validate.
PROXY_SESSION_BODY = b'{"ProxySession":{"Capabilities":["SMS","Voice"],"CreatedTimestamp":"2020-04-15T16:10:10.288Z","EndedTimestamp":null,"ExpiryMinutes":60,"GeoMatchLevel":null,"GeoMatchParams":null,"Name":null,"NumberSelectionBehavior":null,"Participants":[{"PhoneNumber":"+12065550100","ProxyPhoneNumber":"+19135550199"},{"PhoneNumber":"+14015550101","ProxyPhoneNumber":"+19135550199"}],"ProxySessionId":"123a4bc5-67d8-901e-2f3g-h4ghjk56789l","Status":"Open","UpdatedTimestamp":"2020-04-15T16:10:10.288Z","VoiceConnectorId":"abcdef1ghij2klmno3pqr4"}}'

# A keep-alive HTTP/1.1 server answering every request with one body; as cheap as it gets.
# VARY: where in the body 12 bytes of a time (HH:MM:SS.mmm) are replaced by the answer's
# number, so every answer differs (None: the same body every time).
_SERVER = textwrap.dedent(
    """
    import asyncio
    BODY = %r
    VARY = %r
    HEAD = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %%d\\r\\n\\r\\n" %% len(BODY)
    answered = 0
    def body():
        global answered
        answered += 1
        if VARY is None:
            return BODY
        n = answered
        stamp = b"%%02d:%%02d:%%02d.%%03d" %% (n // 3600000 %% 24, n // 60000 %% 60, n // 1000 %% 60, n %% 1000)
        return BODY[:VARY] + stamp + BODY[VARY + 12:]
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                n = 0
                for line in head.split(b"\\r\\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                if n:
                    await reader.readexactly(n)
                writer.write(HEAD + body())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print("listening at 127.0.0.1:%%d" %% server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()
    asyncio.run(main())
    """
)


def upstream_script(body: bytes, vary: bytes | None = None) -> str:
    """Python source of a loopback server that answers every request 200 with ``body``.

    ``vary``: the bytes just before a time (``HH:MM:SS.mmm``) in ``body`` that each answer
    replaces with its own number, so that no two answers are the same bytes (a cache of
    verdicts by body, as the recorder has, then never hits).
    """
    at = None
    if vary is not None:
        at = body.index(vary) + len(vary)
    return _SERVER % (body, at)


# PROXY_SESSION_BODY's UpdatedTimestamp, the time each answer of a varying upstream changes.
VARY_UPDATED = b'"UpdatedTimestamp":"2020-04-15T'


class Connection:
    """A minimal keep-alive HTTP/1.1 client through a forward proxy: one write per request.

    Headers and body go out in one ``sendall`` (urllib3 writes them separately, which meets
    delayed ACKs on loopback and measures 40 ms timers instead of the proxy).
    """

    def __init__(self, proxy_port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method: str, url: str, body: bytes | None, headers: str = "") -> int:
        """Send one request (``headers``: extra ``Name: value\\r\\n`` lines); its status code."""
        host = urlsplit(url).netloc
        head = f"{method} {url} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body or b'')}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        self.sock.sendall((head + headers).encode() + b"\r\n" + (body or b""))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        header, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(v)
                for k, _, v in (x.partition(b":") for x in lines[1:])
                if k.strip().lower() == b"content-length"
            ),
            0,
        )
        while len(self.buf) < length:
            self._fill()
        self.buf = self.buf[length:]
        return status

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("proxy closed the connection")
        self.buf += data

    def close(self) -> None:
        self.sock.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    proxy_port: int,
    method: str,
    url: str | Callable[[int, int], str],
    body: Callable[[int], bytes] | None,
    total: int,
    concurrency: int,
    headers: str = "",
    time_cap: float = TIME_CAP,
) -> dict[str, Any]:
    """Send ``total`` requests over ``concurrency`` keep-alive connections; count statuses.

    ``url`` is one URL or ``url(thread, i)``; ``body(n)`` gives the n-th request's body. A
    connection that fails ends its thread's share of the run (counted in ``errors``). The run
    stops after ``time_cap`` seconds, whatever is left to send.
    """
    per_thread = [
        total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)
    ]
    statuses: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + time_cap

    def work(thread: int, n: int) -> None:
        local: dict[int, int] = {}
        try:
            conn = Connection(proxy_port)
            try:
                for i in range(n):
                    if time.monotonic() > deadline:
                        break
                    target = url(thread, i) if callable(url) else url
                    data = body(thread * 1_000_000 + i) if body else None
                    status = conn.request(method, target, data, headers)
                    local[status] = local.get(status, 0) + 1
            finally:
                conn.close()
        except (OSError, ConnectionError) as e:
            with lock:
                errors.append(f"{type(e).__name__}: {e}")
        finally:
            with lock:
                for k, v in local.items():
                    statuses[k] = statuses.get(k, 0) + v

    threads = [
        threading.Thread(target=work, args=(i, n), daemon=True) for i, n in enumerate(per_thread)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_cap + 30)
    elapsed = time.perf_counter() - start
    done = sum(statuses.values())
    return {
        "requests": done,
        "seconds": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "statuses": statuses,
        "errors": errors,
    }
