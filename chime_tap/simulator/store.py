"""The simulator's state: proxy sessions per namespace and voice connector, on a movable clock.

Pure Python, no mitmproxy: the Simulator addon wires this to flows, tests drive it directly.
The legacy Amazon Chime API and the Amazon Chime SDK Voice API are separate APIs on the service:
a session created in one namespace is never seen, listed, updated or deleted through the other.
Behaviour follows the reference pages and the wire (DESIGN.md): ISO 8601 timestamps with
milliseconds and ``Z``, ``null`` for members without a value, ids shaped like the service's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import math
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

from chime_tap.api.hosts import NAMESPACES

OPEN = "Open"
IN_PROGRESS = "InProgress"
CLOSED = "Closed"

# Fictitious numbers (NANP 555-0100..0199) so nothing the simulator hands out can ring a phone.
DEFAULT_AREA_CODE = "913"
POOL_SIZE = 100


class SimError(Exception):
    """A service error the simulator answers with: status, x-amzn-ErrorType, body Code."""

    def __init__(self, status: int, error_type: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code
        self.message = message


def bad_request(message: str) -> SimError:
    return SimError(400, "BadRequestException", "BadRequest", message)


def not_found(message: str) -> SimError:
    return SimError(404, "NotFoundException", "NotFound", message)


# How far ahead of the wall clock the simulator's clock may run: a century is more than any
# ExpiryMinutes needs, and keeps every timestamp it writes a four-digit year (a clock moved by
# 1e12 seconds made every later answer fail to render).
MAX_CLOCK_OFFSET = 100 * 365 * 24 * 3600


def check_advance(seconds: float, offset: float = 0.0) -> float:
    """``seconds`` as a float, if moving a clock ``offset`` seconds ahead by them is allowed;
    ValueError saying why not (not a finite number, backwards, or past :data:`MAX_CLOCK_OFFSET`)."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"{seconds!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise ValueError(f"{seconds!r} is not a number of seconds")
    if value < 0:
        raise ValueError(f"the simulator's clock only moves forward (got {seconds} seconds)")
    if offset + value > MAX_CLOCK_OFFSET:
        raise ValueError(
            f"the simulator's clock runs at most {MAX_CLOCK_OFFSET:,} seconds (100 years) ahead "
            f"of the wall clock; it is {offset:,.0f} ahead, and {value:,.0f} more is too far"
        )
    return value


class SimClock:
    """Wall-clock time plus an offset that only moves forward: expiry without sleeping."""

    def __init__(self, offset_seconds: float = 0.0, source=time.time) -> None:
        self.offset = check_advance(offset_seconds)
        self._source = source

    def now(self) -> float:
        return self._source() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward; ValueError (the clock unchanged) for a value :func:`check_advance`
        refuses: NaN, infinities, negative, or too far."""
        self.offset += check_advance(seconds, self.offset)
        return self.offset


def format_timestamp(epoch: float) -> str:
    """``2020-04-15T16:10:10.288Z``: what the service sends (milliseconds, UTC, ``Z``)."""
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _ms(epoch: float) -> int:
    return int(epoch * 1000)


@dataclass
class Session:
    """One proxy session as stored; ``to_wire`` renders the service's JSON member set."""

    seq: int
    voice_connector_id: str
    proxy_session_id: str
    participants: list[tuple[str, str]]
    capabilities: list[str]
    created_ms: int
    updated_ms: int
    expiry_minutes: int | None = None
    name: str | None = None
    number_selection_behavior: str | None = None
    geo_match_level: str | None = None
    geo_match_params: dict[str, str] | None = None
    status: str = OPEN
    ended_ms: int | None = None
    _wire: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def changed(self) -> None:
        """Call after any mutation: the rendered member set is cached until then."""
        self._wire = None

    def expires_at_ms(self) -> int | None:
        """Sessions expire ExpiryMinutes after creation; without ExpiryMinutes they stay open."""
        if self.expiry_minutes is None:
            return None
        return self.created_ms + self.expiry_minutes * 60_000

    def to_wire(self) -> dict[str, Any]:
        """The ProxySession member set (callers must not mutate it: it is cached)."""
        if self._wire is None:
            self._wire = self._render()
        return self._wire

    def _render(self) -> dict[str, Any]:
        # Members in the order the documented samples send them (alphabetical).
        return {
            "Capabilities": list(self.capabilities),
            "CreatedTimestamp": format_timestamp(self.created_ms / 1000),
            "EndedTimestamp": format_timestamp(self.ended_ms / 1000)
            if self.ended_ms is not None
            else None,
            "ExpiryMinutes": self.expiry_minutes,
            "GeoMatchLevel": self.geo_match_level,
            "GeoMatchParams": dict(self.geo_match_params)
            if self.geo_match_params is not None
            else None,
            "Name": self.name,
            "NumberSelectionBehavior": self.number_selection_behavior,
            "Participants": [
                {"PhoneNumber": p, "ProxyPhoneNumber": x} for p, x in self.participants
            ],
            "ProxySessionId": self.proxy_session_id,
            "Status": self.status,
            "UpdatedTimestamp": format_timestamp(self.updated_ms / 1000),
            "VoiceConnectorId": self.voice_connector_id,
        }


@dataclass
class _Connector:
    sessions: dict[str, Session] = field(default_factory=dict)  # insertion order = creation order
    # participant number -> the proxy number it last had (PreferSticky reuses it)
    last_proxy: dict[str, str] = field(default_factory=dict)
    # participant number -> proxy numbers its open sessions hold (with counts)
    busy: dict[str, Counter[str]] = field(default_factory=dict)
    # (expiry ms, seq, session id) of open sessions; stale entries are skipped when popped
    expiries: list[tuple[int, int, str]] = field(default_factory=list)

    def hold(self, session: Session) -> None:
        for phone, proxy in session.participants:
            self.busy.setdefault(phone, Counter())[proxy] += 1

    def release(self, session: Session) -> None:
        for phone, proxy in session.participants:
            held = self.busy.get(phone)
            if held is not None:
                held[proxy] -= 1
                if held[proxy] <= 0:
                    del held[proxy]
                if not held:
                    del self.busy[phone]

    def schedule(self, session: Session) -> None:
        end = session.expires_at_ms()
        if end is not None:
            heapq.heappush(self.expiries, (end, session.seq, session.proxy_session_id))


@cache
def _pool(area: str) -> tuple[str, ...]:
    return tuple(f"+1{area}55501{i:02d}" for i in range(POOL_SIZE))


# --- NextToken: opaque, and valid only for the listing that issued it -------------------------
#
# A token is a version byte, the creation sequence number the next page starts after, and an
# HMAC of (namespace, voice connector, status filter, that number) under a key derived from the
# seed (same seed, same tokens: recorded runs stay reproducible; no seed, a random key per run).
# A token used in the other namespace, on another voice connector or with another status filter
# is rejected with 400 BadRequestException, as AWS APIs reject a token from a different query.
# max-results is not bound: AWS list APIs let a caller change the page size from one page to
# the next.

_TOKEN_VERSION = b"\x01"
_TOKEN_SEQ_BYTES = 8
_TOKEN_TAG_BYTES = 16
_TOKEN_BYTES = len(_TOKEN_VERSION) + _TOKEN_SEQ_BYTES + _TOKEN_TAG_BYTES


class Listing(NamedTuple):
    """The listing a NextToken belongs to: one namespace, one voice connector, one status filter."""

    namespace: str
    voice_connector_id: str
    status: str | None


def token_key(seed: int | None) -> bytes:
    """The key a store built with ``seed`` signs its NextTokens with; None: a random key."""
    if seed is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(f"chime-tap-sim-tokens:{seed}".encode()).digest()


def _token_tag(key: bytes, listing: Listing, seq: int) -> bytes:
    namespace, connector_id, status = listing
    scope = "\x00".join((namespace, connector_id, status or "", str(seq))).encode()
    return hmac.new(key, scope, hashlib.sha256).digest()[:_TOKEN_TAG_BYTES]


def encode_token(key: bytes, listing: Listing, seq: int) -> str:
    """An opaque NextToken for the page of ``listing`` that starts after ``seq``."""
    raw = _TOKEN_VERSION + seq.to_bytes(_TOKEN_SEQ_BYTES, "big") + _token_tag(key, listing, seq)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(key: bytes, listing: Listing, token: str) -> int:
    """The sequence number a NextToken points after; BadRequest unless ``listing`` issued it."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        raise bad_request("Invalid NextToken.") from None
    if len(raw) != _TOKEN_BYTES or not raw.startswith(_TOKEN_VERSION):
        raise bad_request("Invalid NextToken.")
    seq_end = len(_TOKEN_VERSION) + _TOKEN_SEQ_BYTES
    seq = int.from_bytes(raw[len(_TOKEN_VERSION) : seq_end], "big")
    if not hmac.compare_digest(raw[seq_end:], _token_tag(key, listing, seq)):
        raise bad_request(
            "Invalid NextToken: it was not issued for this API, voice connector and status filter."
        )
    return seq


class SessionStore:
    """Proxy sessions per namespace and voice connector; every method is safe from any thread.

    Each namespace (``legacy``, ``voice``) keeps its own connectors, sessions, proxy numbers and
    expiries: every operation names the namespace first, as the service's two APIs are separate.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._namespaces: dict[str, dict[str, _Connector]] = {ns: {} for ns in NAMESPACES}
        self._seq = 0
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Same seed, same ids and NextTokens, run after run; None: fresh ones in every run."""
        with self._lock:
            self._ids = random.Random(None if seed is None else f"chime-tap-sim-ids:{seed}")
            self._token_key = token_key(seed)

    def reset(self) -> None:
        """Forget every session, in both namespaces."""
        with self._lock:
            for connectors in self._namespaces.values():
                connectors.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(
                len(c.sessions)
                for connectors in self._namespaces.values()
                for c in connectors.values()
            )

    # --- the five operations (bodies already validated against the schemas) ---------------

    def create(
        self, namespace: str, connector_id: str, body: dict[str, Any], now: float
    ) -> dict[str, Any]:
        with self._lock:
            conn = self._connectors(namespace).setdefault(connector_id, _Connector())
            self._expire(conn, now)
            numbers = list(body["ParticipantPhoneNumbers"])
            proxy = self._allocate(conn, numbers, body)
            self._seq += 1
            session_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
            created = _ms(now)
            session = Session(
                seq=self._seq,
                voice_connector_id=connector_id,
                proxy_session_id=session_id,
                participants=[(n, proxy) for n in numbers],
                capabilities=list(body["Capabilities"]),
                created_ms=created,
                updated_ms=created,
                expiry_minutes=body.get("ExpiryMinutes"),
                name=body.get("Name"),
                number_selection_behavior=body.get("NumberSelectionBehavior"),
                geo_match_level=body.get("GeoMatchLevel"),
                geo_match_params=body.get("GeoMatchParams"),
            )
            conn.sessions[session_id] = session
            conn.hold(session)
            conn.schedule(session)
            for n in numbers:
                conn.last_proxy[n] = proxy
            return session.to_wire()

    def get(self, namespace: str, connector_id: str, session_id: str, now: float) -> dict[str, Any]:
        with self._lock:
            return self._find(namespace, connector_id, session_id, now)[1].to_wire()

    def update(
        self, namespace: str, connector_id: str, session_id: str, body: dict[str, Any], now: float
    ) -> dict[str, Any]:
        with self._lock:
            conn, session = self._find(namespace, connector_id, session_id, now)
            if session.status == CLOSED:
                raise bad_request(f"Proxy session {session_id} is closed and cannot be updated.")
            session.capabilities = list(body["Capabilities"])
            if "ExpiryMinutes" in body and body["ExpiryMinutes"] != session.expiry_minutes:
                session.expiry_minutes = body["ExpiryMinutes"]
                conn.schedule(session)
            # Strictly later than before, even when the clock has not moved a millisecond.
            session.updated_ms = max(_ms(now), session.updated_ms + 1)
            session.changed()
            self._expire(conn, now)
            return session.to_wire()

    def delete(self, namespace: str, connector_id: str, session_id: str, now: float) -> None:
        with self._lock:
            conn, session = self._find(namespace, connector_id, session_id, now)
            if session.status != CLOSED:
                conn.release(session)
            del conn.sessions[session_id]

    def list(
        self,
        namespace: str,
        connector_id: str,
        now: float,
        *,
        status: str | None = None,
        max_results: int = 100,
        next_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of sessions in creation order, and the token of the next page (or None).

        ``next_token`` must come from a listing of the same namespace and connector with the
        same ``status``.
        """
        with self._lock:
            key, listing = self._token_key, Listing(namespace, connector_id, status)
            after = decode_token(key, listing, next_token) if next_token else 0
            conn = self._connectors(namespace).get(connector_id)
            if conn is None:
                return [], None
            self._expire(conn, now)
            page: list[Session] = []
            more = False
            for s in conn.sessions.values():
                if s.seq <= after or (status is not None and s.status != status):
                    continue
                if len(page) == max_results:
                    more = True
                    break
                page.append(s)
            token = encode_token(key, listing, page[-1].seq) if more else None
            return [s.to_wire() for s in page], token

    # --- internals (called with the lock held) ----------------------------------------------

    def _connectors(self, namespace: str) -> dict[str, _Connector]:
        try:
            return self._namespaces[namespace]
        except KeyError:
            raise ValueError(
                f"unknown namespace {namespace!r} (one of: {', '.join(NAMESPACES)})"
            ) from None

    def _find(
        self, namespace: str, connector_id: str, session_id: str, now: float
    ) -> tuple[_Connector, Session]:
        conn = self._connectors(namespace).get(connector_id)
        session = conn.sessions.get(session_id) if conn else None
        if conn is None or session is None:
            raise not_found(
                f"Proxy session {session_id} not found on voice connector {connector_id}."
            )
        self._expire(conn, now)
        return conn, session

    def _expire(self, conn: _Connector, now: float) -> None:
        now_ms = _ms(now)
        heap = conn.expiries
        while heap and heap[0][0] <= now_ms:
            end, _, session_id = heapq.heappop(heap)
            s = conn.sessions.get(session_id)
            if s is None or s.status == CLOSED or s.expires_at_ms() != end:
                continue  # deleted, already closed, or its expiry was changed since
            s.status = CLOSED
            s.ended_ms = end
            s.updated_ms = max(end, s.updated_ms)
            s.changed()
            conn.release(s)

    def _allocate(self, conn: _Connector, numbers: list[str], body: dict[str, Any]) -> str:
        """One proxy number for the session, not in use by an open session of either participant.

        Both participants get the same number, as in the documented samples. PreferSticky
        reuses the number a participant had before; AvoidSticky skips it.
        """
        params = body.get("GeoMatchParams") or {}
        area = params.get("AreaCode") if body.get("GeoMatchLevel") == "AreaCode" else None
        area = area or DEFAULT_AREA_CODE
        busy = {proxy for phone in numbers for proxy in conn.busy.get(phone, ())}
        pool = _pool(area)
        behavior = body.get("NumberSelectionBehavior")
        previous = {conn.last_proxy[n] for n in numbers if n in conn.last_proxy}
        if behavior == "PreferSticky":
            for candidate in pool:
                if candidate in previous and candidate not in busy:
                    return candidate
        for candidate in pool:
            if candidate in busy or (behavior == "AvoidSticky" and candidate in previous):
                continue
            return candidate
        raise bad_request(
            f"No proxy phone number is available in area code {area} for these participants."
        )
