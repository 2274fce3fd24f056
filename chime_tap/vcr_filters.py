"""vcrpy filters with vcrpy's shape (``replace_x(request, ...) -> request``): the recorder's scrubber."""

from __future__ import annotations

from typing import Any

from vcr.request import Request

from chime_tap.cassettes.scrub import (
    scrub_body_credentials,
    scrub_headers,
    scrub_interaction,
    scrub_uri,
)
from chime_tap.vcrpy_internals import header_items, header_table

__all__ = ["replace_credentials", "scrub_response"]


# Set on each request this filter returned. vcrpy filters a live request, then filters the
# result again (``can_play_response_for`` hands it to ``in``), and pseudonymizing a phone is no
# idempotent step: twice made every call with a number in it a miss under redact_phones=True.
_SCRUBBED = "chime_tap_scrubbed"


def replace_credentials(request: Request, redact_phones: bool = False) -> Request:
    """The request with credentials removed (and phones pseudonymized), by the recorder's scrubber.

    A request it returned comes back as it is: it is scrubbed once, however often vcrpy asks.
    """
    if vars(request).get(_SCRUBBED) == redact_phones:
        return request
    body = request.body
    plain = {  # chime_tap.wire.text_headers, inline: this runs on every replayed call
        (k.decode("utf-8", "surrogateescape") if isinstance(k, bytes) else k): (
            v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v
        )
        for k, v in header_items(request.headers)
    }
    if redact_phones:
        scrubbed = scrub_interaction(
            {
                "request": {"uri": request.uri, "headers": plain, "body": body},
                "response": {"headers": {}},
            },
            redact_phones=True,
        )["request"]
    else:  # what scrub_interaction does to a request, without building an interaction for it
        scrubbed = {
            "uri": scrub_uri(request.uri),
            "headers": scrub_headers(plain),
            "body": scrub_body_credentials(body),
        }
    # Assign only what changed: rebuilding vcrpy's header table is most of the cost of a
    # request that was already clean (every request loaded from a chime-tap cassette).
    if scrubbed["uri"] != request.uri:
        request.uri = scrubbed["uri"]
    if scrubbed["headers"] != plain:
        request.headers = header_table(scrubbed["headers"].items())
    if scrubbed["body"] is not body and not hasattr(body, "read"):
        request.body = scrubbed["body"]
    vars(request)[_SCRUBBED] = redact_phones
    return request


def scrub_response(response: dict[str, Any], redact_phones: bool = False) -> dict[str, Any]:
    """A vcrpy response dict without credential headers (and phones pseudonymized)."""
    scrubbed = scrub_interaction(
        {"request": {"uri": "", "headers": {}}, "response": response}, redact_phones=redact_phones
    )["response"]
    return scrubbed
