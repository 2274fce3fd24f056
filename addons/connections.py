"""Close client connections that hold a descriptor and do nothing.

    mitmdump -s addons/connections.py --set chime_idle_timeout=30

mitmproxy closes a connection after ten minutes without a byte. Until then a client that
opens a connection and never finishes its request (a half-sent request, a stalled TLS
handshake, a keep-alive it forgot) holds a file descriptor; a thousand of them exhaust a
1024-descriptor process. This addon closes a client connection that has had no request in
progress for ``chime_idle_timeout`` seconds: since it connected, since its last answer, or
since a request began that it has not finished sending. A call waiting for its answer (a slow
service, a long simulated latency) is never idle. What it closed is said in one line per sweep.
Every ``chime-tap`` proxy runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from mitmproxy import connection, ctx, exceptions, http

from chime_tap import options

logger = logging.getLogger(__name__)


class _Client:
    __slots__ = ("client", "in_progress", "since")

    def __init__(self, client: connection.Client, now: float) -> None:
        self.client = client
        self.since = now  # last time it was not idle: connected, request begun, answered
        self.in_progress: set[str] = set()  # flows whose request it sent and that await an answer


def idle_clients(clients: dict[str, _Client], now: float, timeout: float) -> list[_Client]:
    """The clients with no call in progress for more than ``timeout`` seconds, as of ``now``."""
    return [c for c in clients.values() if not c.in_progress and now - c.since > timeout]


def sweep_interval(timeout: float) -> float:
    """How often to look: a quarter of the timeout, between 0.25 s and 5 s."""
    return min(5.0, max(0.25, timeout / 4))


class IdleClients:
    """Closes client connections without a request in progress for ``chime_idle_timeout`` s."""

    def __init__(self) -> None:
        self.timeout = float(options.IDLE_TIMEOUT.default)
        self.clients: dict[str, _Client] = {}
        self.closed = 0  # client connections closed for idleness
        self._sweeper: asyncio.Task | None = None

    def load(self, loader) -> None:
        options.add_options(loader, [options.IDLE_TIMEOUT])

    def configure(self, updated: set[str]) -> None:
        if options.IDLE_TIMEOUT.name in updated:
            self.timeout = float(
                options.IDLE_TIMEOUT.value_of(ctx.options, exceptions.OptionsError)
            )

    def running(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def done(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    # --- what each client is doing --------------------------------------------------------------

    def client_connected(self, client: connection.Client) -> None:
        self.clients[client.id] = _Client(client, time.monotonic())

    def client_disconnected(self, client: connection.Client) -> None:
        self.clients.pop(client.id, None)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._touch(flow)  # a request begins: its body has the whole timeout to arrive

    def request(self, flow: http.HTTPFlow) -> None:
        state = self._touch(flow)
        if state is not None:
            state.in_progress.add(flow.id)  # all sent: now the answer is awaited

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._touch(flow)  # the tunnel is open: its first request has the timeout to begin

    def response(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def _touch(self, flow: http.HTTPFlow) -> _Client | None:
        state = self.clients.get(flow.client_conn.id)
        if state is not None:
            state.since = time.monotonic()
        return state

    def _finished(self, flow: http.HTTPFlow) -> None:
        state = self._touch(flow)
        if state is not None:
            state.in_progress.discard(flow.id)

    # --- closing --------------------------------------------------------------------------------

    async def _sweep(self) -> None:
        while True:
            timeout = self.timeout
            await asyncio.sleep(sweep_interval(timeout) if timeout > 0 else 1.0)
            if timeout > 0:
                self.close_idle(time.monotonic(), timeout)

    def close_idle(self, now: float, timeout: float) -> int:
        """Close every client idle for more than ``timeout`` seconds; how many were closed."""
        idle = idle_clients(self.clients, now, timeout)
        server = ctx.master.addons.get("proxyserver")
        closed = 0
        for state in idle:
            handler = server.connections.get(state.client.id) if server else None
            io = handler.transports.get(handler.client) if handler is not None else None
            if io is None or io.handler is None:
                continue
            # What mitmproxy's own inactivity timeout does, without its line per connection.
            with contextlib.suppress(RuntimeError):
                io.handler.cancel("idle")
            self.clients.pop(state.client.id, None)
            closed += 1
        if closed:
            self.closed += closed
            logger.info(
                f"closed {closed} idle client connection(s): no request in progress for "
                f"{timeout:g} s ({options.IDLE_TIMEOUT.flag}, option {options.IDLE_TIMEOUT.name})"
            )
        return closed


addons = [IdleClients()]
