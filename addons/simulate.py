"""The built-in Chime proxy-session simulator: the proxy answers itself, nothing goes upstream.

    mitmdump -s addons/simulate.py --set chime_sim_throttle_rate=0.1

Clients configured as for the real service (endpoint https://voice-chime.<region>.amazonaws.com,
this proxy, mitmproxy's CA trusted) get stateful, schema-valid answers offline. The clock moves
with ``:chime.sim.advance SECONDS`` or, from any HTTP client through the proxy, with
``POST http://sim.chime-tap.invalid/clock/advance?seconds=N``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from mitmproxy import command, ctx, exceptions, http

from chime_tap.addons.options import HOSTS, add_hosts_option, host_policy
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import classify, is_chime_path
from chime_tap.simulator.control import CONTROL_HOST, control
from chime_tap.simulator.faults import SERVICE_FAILURE, FaultInjector, parse_latency, parse_rate
from chime_tap.simulator.service import SimResponse, answer, error_response, front_door_error
from chime_tap.simulator.store import SessionStore, SimClock, format_timestamp

logger = logging.getLogger(__name__)

OFFLINE_OPTIONS = {"upstream_cert": False, "connection_strategy": "lazy"}


def _to_flow_response(r: SimResponse) -> http.Response:
    # The constructor directly: Response.make re-encodes the body and rewrites Content-Length,
    # which SimResponse already carries.
    now = time.time()
    headers = http.Headers([(k.encode(), v.encode()) for k, v in r.headers.items()])
    return http.Response(b"HTTP/1.1", r.status, r.reason.encode(), headers, r.body, None, now, now)


class Simulator:
    """Answers the five proxy-session operations from an in-memory store, with injected faults."""

    def __init__(self) -> None:
        self.hosts: HostPolicy = DEFAULT_HOSTS
        self.clock = SimClock()
        self.store = SessionStore()
        self.injector = FaultInjector()
        self.offline = True
        self.refused = 0  # upstream connections refused; each is also logged as a warning

    def load(self, loader) -> None:
        add_hosts_option(loader)
        loader.add_option(
            "chime_sim_throttle_rate",
            str,
            "0",
            "Simulator: fraction of calls answered 429 ThrottledClientException (0-1).",
        )
        loader.add_option(
            "chime_sim_error_rate",
            str,
            "0",
            "Simulator: fraction of calls answered 500 ServiceFailure / 503 ServiceUnavailable (0-1).",
        )
        loader.add_option(
            "chime_sim_latency_ms",
            str,
            "0",
            "Simulator: added latency in ms: N, uniform:LOW:HIGH, lognormal:MEDIAN:SIGMA or exponential:MEAN.",
        )
        loader.add_option(
            "chime_sim_seed",
            int,
            0,
            "Simulator: seed for ids, faults and latency (same seed, same run).",
        )
        loader.add_option(
            "chime_sim_clock_offset",
            int,
            0,
            "Simulator: starting offset in seconds added to the wall clock (sessions expire sooner).",
        )
        loader.add_option(
            "chime_sim_offline",
            bool,
            True,
            "Simulator: never connect upstream; answer non-Chime hosts with 502 and refuse every server connection.",
        )

    def configure(self, updated: set[str]) -> None:
        if HOSTS in updated:
            self.hosts = host_policy(ctx.options.chime_hosts)
        fault_keys = {
            "chime_sim_throttle_rate",
            "chime_sim_error_rate",
            "chime_sim_latency_ms",
            "chime_sim_seed",
        }
        if updated & fault_keys:
            self.injector = _injector(ctx.options)
        if "chime_sim_seed" in updated:
            self.store.reseed(ctx.options.chime_sim_seed)
        if "chime_sim_clock_offset" in updated:
            if ctx.options.chime_sim_clock_offset < 0:
                raise exceptions.OptionsError(
                    f"chime_sim_clock_offset: the clock only moves forward (got {ctx.options.chime_sim_clock_offset})"
                )
            self.clock.offset = float(ctx.options.chime_sim_clock_offset)
        if "chime_sim_offline" in updated:
            self.offline = ctx.options.chime_sim_offline
        if updated & {"chime_sim_offline", *OFFLINE_OPTIONS}:
            self._stay_offline()

    def running(self) -> None:
        self._stay_offline()

    def _stay_offline(self) -> None:
        # mitmproxy would otherwise connect upstream to sniff certificates or connect eagerly.
        if self.offline:
            wrong = {
                k: v
                for k, v in OFFLINE_OPTIONS.items()
                if k in ctx.options and getattr(ctx.options, k) != v
            }
            if wrong:
                ctx.options.update(**wrong)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        req = flow.request
        if req.pretty_host == CONTROL_HOST:
            status, doc = control(self.clock, self.store, req.method, req.path, dict(req.query))
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
            return
        try:
            body = req.content
        except ValueError:  # undecodable Content-Encoding
            body = req.raw_content
        query = {k: req.query.get_all(k) for k in req.query} if "?" in req.path else {}
        try:
            result = answer(self.store, route, query=query, body=body, now=now)
        except Exception as e:  # a simulator bug answers like a service bug: 500, one log line
            logger.error(f"simulator failed on {route.name}: {e!r}")
            result = error_response(SERVICE_FAILURE, now)
        flow.response = _to_flow_response(result)

    def _not_a_session_call(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        now = self.clock.now()
        if self.hosts.namespace_of(req.pretty_host, req.port) is not None:
            what = "method not allowed" if is_chime_path(req.path) else "no such operation"
            flow.response = _to_flow_response(
                front_door_error(
                    404,
                    "UnknownOperationException",
                    f"{what}: {req.method} {req.path.split('?')[0]}",
                    now,
                )
            )
        elif self.offline:
            message = f"chime-tap simulator: {req.pretty_host} is not a Chime host and the simulator never goes upstream (add it with --hosts / chime_hosts)"
            flow.response = http.Response.make(
                502, message.encode(), {"Content-Type": "text/plain"}
            )

    def server_connect(self, data) -> None:
        # The last line of defence: whatever asked for it, no connection leaves the machine.
        if self.offline:
            self.refused += 1
            data.server.error = (
                "chime-tap simulator: upstream connections are disabled (chime_sim_offline)"
            )
            logger.warning(f"refused an upstream connection to {data.server.address}")

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


def _injector(options) -> FaultInjector:
    try:
        throttle = parse_rate(options.chime_sim_throttle_rate, "rate")
    except ValueError as e:
        raise exceptions.OptionsError(f"chime_sim_throttle_rate: {e}") from e
    try:
        error = parse_rate(options.chime_sim_error_rate, "rate")
    except ValueError as e:
        raise exceptions.OptionsError(f"chime_sim_error_rate: {e}") from e
    try:
        latency = parse_latency(options.chime_sim_latency_ms)
    except ValueError as e:
        raise exceptions.OptionsError(f"chime_sim_latency_ms: {e}") from e
    try:
        return FaultInjector(throttle, error, latency, seed=options.chime_sim_seed)
    except ValueError as e:
        raise exceptions.OptionsError(f"chime_sim_error_rate: {e}") from e


addons = [Simulator()]
