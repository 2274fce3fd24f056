"""One HTTP/2 request through a proxy: CONNECT, TLS with ALPN h2 (trusting the proxy's CA), one
stream, read to its end. boto3 and urllib3 speak HTTP/1.1 only; these tests need h2 itself."""

from __future__ import annotations

import socket
import ssl

import h2.connection
import h2.events

from support.procs import ProxyProcess


def h2_request(
    proxy: ProxyProcess,
    authority: str,
    headers: list[tuple[str, str]],
    body: bytes | None = None,
    *,
    server_name: str,
    timeout: float = 30.0,
) -> tuple[int, dict[str, str], bytes]:
    """(status, response headers, body) of one h2 request to ``authority`` through ``proxy``.

    ``headers`` are the request's, pseudo-headers first. ``server_name`` is sent as SNI; when
    it is not the authority's host (an IP address), the certificate's name is not checked.
    """
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    try:
        sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            assert chunk, f"proxy closed during CONNECT: {reply!r}"
            reply += chunk
        assert reply.split(b" ")[1] == b"200", reply
        context = ssl.create_default_context(cafile=str(proxy.ca_cert))
        context.set_alpn_protocols(["h2"])
        # mitmproxy's certificate names an IP authority in its SAN, not the SNI name sent
        context.check_hostname = authority.rsplit(":", 1)[0] == server_name
        tls = context.wrap_socket(sock, server_hostname=server_name)
        assert tls.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        conn.send_headers(1, headers, end_stream=body is None)
        if body is not None:
            conn.send_data(1, body, end_stream=True)
        tls.sendall(conn.data_to_send())
        status, answer_headers, data, ended = 0, {}, b"", False
        while not ended:
            chunk = tls.recv(65536)
            assert chunk, "connection closed before the h2 stream ended"
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    answer_headers = {k.decode(): v.decode() for k, v in event.headers}
                    status = int(answer_headers[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    ended = True
            tls.sendall(conn.data_to_send())
        return status, answer_headers, data
    finally:
        sock.close()
