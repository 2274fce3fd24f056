"""The built-in Chime proxy-session simulator: the proxy answers itself, nothing goes upstream.

    mitmdump -s addons/simulate.py --set chime_sim_throttle_rate=0.1

Clients configured as for the real service (endpoint https://voice-chime.<region>.amazonaws.com,
this proxy, mitmproxy's CA trusted) get stateful, schema-valid answers offline. The clock moves
with ``:chime.sim.advance SECONDS`` or, through the proxy, with
``POST http://sim.chime-tap.invalid/clock/advance?seconds=N`` carrying the control token as
``Authorization: Bearer TOKEN`` (logged at start, and kept where only this user can read it:
``chime_tap.simulator.control``). Each call is logged in one line (status, injected fault and
latency); at exit, a summary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from mitmproxy import command, ctx, exceptions, http
from mitmproxy.log import LegacyLogEvents

from chime_tap import options
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import Route, classify
from chime_tap.calllog import (
    call_line,
    call_logger,
    injected_detail,
    simulate_summary,
    skip_legacy_log_events,
    what_call,
)
from chime_tap.recording import SIMULATE_AUTH_OUTCOME, AuthRefusals, elapsed_ms
from chime_tap.simulator.control import (
    CONTROL_HOST,
    authorized,
    control,
    forget_token,
    new_token,
    write_token,
)
from chime_tap.simulator.faults import SERVICE_FAILURE, Decision, FaultInjector
from chime_tap.simulator.service import SimResponse, answer, error_response, not_a_session_call
from chime_tap.simulator.store import SessionStore, SimClock, format_timestamp
from chime_tap.wire import DECODED_BODY_LIMIT, decode_fields

logger = logging.getLogger(__name__)


def request_body(req: http.Request, limit: int) -> bytes | None:
    """The request body without its Content-Encoding, decoded at most to ``limit`` bytes; as it
    came if it has none, if it does not decode, or if its coding is no HTTP content coding."""
    if "content-encoding" not in req.headers:
        return req.raw_content
    return decode_fields(req.headers.fields, req.raw_content, limit).body


def _to_flow_response(r: SimResponse) -> http.Response:
    # The constructor directly: Response.make re-encodes the body and rewrites Content-Length,
    # which SimResponse already carries.
    now = time.time()
    headers = http.Headers([(k.encode(), v.encode()) for k, v in r.headers.items()])
    return http.Response(b"HTTP/1.1", r.status, r.reason.encode(), headers, r.body, None, now, now)


class Simulator:
    """Answers the five proxy-session operations from an in-memory store, with injected faults.

    ``log_calls``: log a line per call and a summary at exit. ``chime-tap record --upstream
    simulator`` turns it off: the recorder logs every call already.
    """

    def __init__(self, log_calls: bool = True) -> None:
        self.hosts: HostPolicy = DEFAULT_HOSTS
        self.clock = SimClock()
        self.store = SessionStore()
        self.injector = FaultInjector()
        self.offline = True
        self.refused = 0  # upstream connections refused; each is also logged as a warning
        self.started = False  # the proxy runs
        self.auth = AuthRefusals(SIMULATE_AUTH_OUTCOME)  # the proxy's own 407s
        self.log_calls = log_calls
        self.statuses: dict[int, int] = {}  # calls answered, by status
        self.injected: dict[str, int] = {}  # faults injected, by error type
        self.decode_limit = DECODED_BODY_LIMIT
        self.token = new_token()  # the control endpoint's (chime_sim_control_token overrides it)
        self.token_ports: list[int] = []  # ports whose token file this simulator wrote

    def load(self, loader) -> None:
        options.add_options(loader, (options.HOSTS, *options.SIMULATOR, options.DECODE_LIMIT))

    def configure(self, updated: set[str]) -> None:
        error = exceptions.OptionsError
        if options.HOSTS.name in updated:
            self.hosts = options.HOSTS.value_of(ctx.options, error)
        faults = (options.THROTTLE_RATE, options.ERROR_RATE, options.LATENCY, options.SEED)
        if updated & {o.name for o in faults}:
            throttle, errors, latency, seed = (o.value_of(ctx.options, error) for o in faults)
            try:
                self.injector = FaultInjector(throttle, errors, latency, seed=seed)
            except ValueError as e:  # the two rates together are more than 1
                raise error(f"{options.ERROR_RATE.name}: {e}") from e
        if options.SEED.name in updated:
            self.store.reseed(ctx.options.chime_sim_seed)
        if options.CLOCK_OFFSET.name in updated:
            self.clock.offset = float(options.CLOCK_OFFSET.value_of(ctx.options, error))
        if options.SIM_OFFLINE.name in updated:
            self.offline = ctx.options.chime_sim_offline
        if options.DECODE_LIMIT.name in updated:
            self.decode_limit = options.DECODE_LIMIT.value_of(ctx.options, error)
        if options.CONTROL_TOKEN.name in updated and ctx.options.chime_sim_control_token:
            self.token = ctx.options.chime_sim_control_token  # else our own, said in running
        if updated & {options.SIM_OFFLINE.name, *options.OFFLINE}:
            self._stay_offline()

    def running(self) -> None:
        skip_legacy_log_events(LegacyLogEvents)
        self.started = True
        self._stay_offline()
        self._keep_token()

    def _keep_token(self) -> None:
        """Keep the control token where this user's tools find it by the proxy's port; say it
        unless the command that started the proxy printed it (it set the option)."""
        server = ctx.master.addons.get("proxyserver")
        ports = sorted({addr[1] for addr in server.listen_addrs()}) if server else []
        kept = []
        for port in ports:
            try:
                kept.append(str(write_token(port, self.token)))
                self.token_ports.append(port)
            except OSError as e:
                logger.warning(f"simulator control token not kept for port {port}: {e}")
        if not ctx.options.chime_sim_control_token:
            where = f" (kept in {', '.join(kept)})" if kept else ""
            logger.info(
                f"simulator control endpoint http://{CONTROL_HOST}/: send "
                f"'Authorization: Bearer {self.token}'{where}"
            )

    def _stay_offline(self) -> None:
        # mitmproxy would otherwise connect upstream to sniff certificates or connect eagerly.
        changes = options.offline_changes(ctx.options) if self.offline else {}
        if changes:
            ctx.options.update(**changes)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            # the proxy's own 407 (proxyauth) is set before this hook
            if flow.response is not None and (line := self.auth.seen(flow.request, flow.response)):
                logger.warning(line)
            return
        req = flow.request
        if req.pretty_host == CONTROL_HOST:
            allowed = authorized(req.headers.get("authorization"), self.token)
            status, doc = control(
                self.clock, self.store, req.method, req.path, dict(req.query), allowed=allowed
            )
            if not allowed:
                logger.warning(
                    f"simulator control call refused (no valid token): {req.method} "
                    f"{req.path.split('?', 1)[0]} from {flow.client_conn.peername}"
                )
            flow.response = http.Response.make(
                status, json.dumps(doc).encode(), {"Content-Type": "application/json"}
            )
            return
        route = classify(req.method, req.pretty_host, req.path, self.hosts, req.port)
        if route is None:
            self._not_a_session_call(flow)
            return
        decision = self.injector.decide() if self.injector.active else None
        if decision and decision.delay > 0:
            await asyncio.sleep(decision.delay)  # other flows keep being served meanwhile
        if not flow.live:
            return
        now = self.clock.now()
        if decision and decision.fault is not None:
            flow.response = _to_flow_response(error_response(decision.fault, now))
            self._answered(flow, route, decision)
            return
        body = request_body(req, self.decode_limit)
        query = {k: req.query.get_all(k) for k in req.query} if "?" in req.path else {}
        try:
            result = answer(self.store, route, query=query, body=body, now=now)
        except Exception as e:  # a simulator bug answers like a service bug: 500, one log line
            logger.error(f"simulator failed on {route.name}: {e!r}")
            result = error_response(SERVICE_FAILURE, now)
        flow.response = _to_flow_response(result)
        self._answered(flow, route, decision)

    def _not_a_session_call(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        result = not_a_session_call(
            self.hosts, req.pretty_host, req.port, req.method, req.path,
            offline=self.offline, now=self.clock.now(),
        )  # fmt: skip
        if result is not None:
            flow.response = _to_flow_response(result)
            self._answered(flow, None, None)

    def _answered(
        self, flow: http.HTTPFlow, route: Route | None, decision: Decision | None
    ) -> None:
        """Count the answer by status (and its injected fault), and log its line."""
        if not self.log_calls:
            return
        assert flow.response is not None
        status = flow.response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        fault, delay_ms = None, 0.0
        if decision is not None:
            fault = decision.fault.error_type if decision.fault is not None else None
            delay_ms = decision.delay * 1000.0
            if fault is not None:
                self.injected[fault] = self.injected.get(fault, 0) + 1
        req = flow.request
        what = what_call(route, req.method, req.path, None if route else req.pretty_host)
        took = elapsed_ms(req.timestamp_start)
        call_logger.info(call_line(what, str(status), took, injected_detail(fault, delay_ms)))

    def server_connect(self, data) -> None:
        # The last line of defence: whatever asked for it, no connection leaves the machine.
        if self.offline:
            self.refused += 1
            data.server.error = (
                "chime-tap simulator: upstream connections are disabled "
                "(the simulator answers every call itself)"
            )
            logger.warning(f"refused an upstream connection to {data.server.address}")

    def done(self) -> None:
        for port in self.token_ports:
            forget_token(port, self.token)
        self.token_ports = []
        if self.log_calls:
            logger.info(
                simulate_summary(
                    self.statuses, injected=self.injected, auth_refused=self.auth.count
                )
            )

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """An HTTPS client's CONNECT, which the proxy's own authentication refused (mitmproxy's
        ProxyAuth answers before this hook): counted for the summary, and said."""
        if line := self.auth.seen(flow.request, flow.response):
            logger.warning(line)

    @command.command("chime.sim.advance")
    def advance(self, seconds: int) -> None:
        """Move the simulator's clock forward by SECONDS (sessions past their expiry close)."""
        try:
            self.clock.advance(seconds)
        except ValueError as e:
            raise exceptions.CommandError(str(e)) from None
        logger.info(f"simulator clock now {format_timestamp(self.clock.now())}")

    @command.command("chime.sim.reset")
    def reset(self) -> None:
        """Forget every proxy session."""
        self.store.reset()


_script = Simulator()  # as a mitmdump script: a bad value at start is one line
_script.configure = options.script_configure(  # type: ignore[method-assign]
    _script.configure, lambda: _script.started, exceptions.OptionsError, logger.error
)
addons = [_script]
