"""A loopback test upstream for the proxy-session API: scripted, schema-valid answers and errors.

Not the product's simulator: a small threaded HTTP/1.1 server on 127.0.0.1 (plain, or HTTPS with a
self-signed certificate generated here) that keeps sessions in a dict, answers the five operations
as the service does, and answers the next calls with scripted errors (400, 404, 429, 500, 503) in
the service's own format, or drops the connection. Every request it sees is kept in ``seen``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import itertools
import json
import re
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

# status -> (x-amzn-ErrorType, body Code), as the service sends them.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequestException", "BadRequest"),
    401: ("UnauthorizedClientException", "Unauthorized"),
    403: ("ForbiddenException", "Forbidden"),
    404: ("NotFoundException", "NotFound"),
    429: ("ThrottledClientException", "Throttled"),
    500: ("ServiceFailureException", "ServiceFailure"),
    503: ("ServiceUnavailableException", "ServiceUnavailable"),
}
RESET = "reset"  # scripted: close the connection without answering
PROXY_NUMBER = "+12065550199"
_PATH_RE = re.compile(r"^/voice-connectors/([^/]+)/proxy-sessions(?:/([^/]+))?/?$")
_TIMESTAMP = "2020-04-15T16:10:10.288Z"


@dataclass(frozen=True)
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def error_body(status: int, message: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of a service error with this status."""
    error_type, code = ERRORS[status]
    headers = {"x-amzn-ErrorType": f"{error_type}:", "Content-Type": "application/json"}
    return headers, json.dumps({"Code": code, "Message": message}).encode()


def make_session(connector: str, session_id: str, request: dict) -> dict:
    """A schema-valid ProxySession for a Create request's members."""
    numbers = request.get("ParticipantPhoneNumbers") or []
    return {
        "VoiceConnectorId": connector,
        "ProxySessionId": session_id,
        "Name": request.get("Name"),
        "Status": "Open",
        "ExpiryMinutes": request.get("ExpiryMinutes", 60),
        "Capabilities": request.get("Capabilities", ["Voice"]),
        "CreatedTimestamp": _TIMESTAMP,
        "UpdatedTimestamp": _TIMESTAMP,
        "EndedTimestamp": None,
        "Participants": [{"PhoneNumber": n, "ProxyPhoneNumber": PROXY_NUMBER} for n in numbers],
        "NumberSelectionBehavior": request.get("NumberSelectionBehavior"),
        "GeoMatchLevel": request.get("GeoMatchLevel"),
        "GeoMatchParams": request.get("GeoMatchParams"),
    }


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(cert.pem, key.pem): a fresh self-signed certificate for ``host`` and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "upstream-cert.pem", directory / "upstream-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        up = self.server.owner
        up.record(Seen(self.command, self.path, dict(self.headers.items()), body))
        scripted = up.next_script()
        if scripted == RESET:
            self.close_connection = True
            self.connection.shutdown(2)  # the proxy sees the connection die mid-call
            return
        if scripted is not None:
            headers, payload = error_body(
                scripted, f"scripted {scripted} for {self.command} {self.path}"
            )
            return self._send(scripted, headers, payload)
        status, headers, payload = up.answer(self.command, self.path, body)
        self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        if (
            payload
            and self.server.owner.gzip
            and "gzip" in (self.headers.get("Accept-Encoding") or "")
        ):
            payload = gzip.compress(payload)
            headers = {**headers, "Content-Encoding": "gzip"}
        self.send_response(status)
        self.send_header("x-amzn-RequestId", f"req-{next(self.server.owner.ids)}")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = _handle

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedUpstream


class ScriptedUpstream:
    """The proxy-session API on 127.0.0.1, stateful enough for a lifecycle, with scripted errors."""

    def __init__(self, *, tls_dir: Path | None = None, gzip_responses: bool = False) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.owner = self
        self.port = self.server.server_address[1]
        self.tls = tls_dir is not None
        self.gzip = gzip_responses
        if tls_dir is not None:
            cert, key = self_signed_cert(tls_dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.seen: list[Seen] = []
        self.sessions: dict[tuple[str, str], dict] = {}
        self.ids = itertools.count(1)
        self._script: deque[int | str] = deque()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- scripting ---

    def fail_next(self, *answers: int | str) -> None:
        """Answer the next calls, in order, with these error statuses (or RESET)."""
        for a in answers:
            if a != RESET and a not in ERRORS:
                raise ValueError(f"no scripted answer {a!r}")
        with self._lock:
            self._script.extend(answers)

    def next_script(self) -> int | str | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    # --- the API ---

    def answer(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        m = _PATH_RE.match(parts.path)
        if m is None:
            headers, payload = error_body(404, f"no such route: {method} {parts.path}")
            return 404, headers, payload
        connector = unquote(m.group(1))
        session_id = unquote(m.group(2)) if m.group(2) else None
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            headers, payload = error_body(400, "body is not JSON")
            return 400, headers, payload
        json_type = {"Content-Type": "application/json"}
        with self._lock:
            if session_id is None and method == "POST":
                new_id = f"{next(self.ids):08d}-aaaa-bbbb-cccc-ddddeeeeffff"
                session = make_session(connector, new_id, request)
                self.sessions[(connector, new_id)] = session
                return 201, json_type, json.dumps({"ProxySession": session}).encode()
            if session_id is None and method == "GET":
                status = parse_qs(parts.query).get("status", [None])[0]
                found = [
                    s
                    for (c, _), s in self.sessions.items()
                    if c == connector and (status is None or s["Status"] == status)
                ]
                return (
                    200,
                    json_type,
                    json.dumps({"ProxySessions": found, "NextToken": None}).encode(),
                )
            session = self.sessions.get((connector, session_id or ""))
            if session is None:
                headers, payload = error_body(404, f"proxy session {session_id} not found")
                return 404, headers, payload
            if method == "GET":
                return 200, json_type, json.dumps({"ProxySession": session}).encode()
            if method == "POST":
                session.update(
                    {k: request[k] for k in ("Capabilities", "ExpiryMinutes") if k in request}
                )
                return 201, json_type, json.dumps({"ProxySession": session}).encode()
            if method == "DELETE":
                del self.sessions[(connector, session_id or "")]
                return 204, {}, b""
        headers, payload = error_body(404, f"no such route: {method} {parts.path}")
        return 404, headers, payload

    def __enter__(self) -> ScriptedUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
