"""The logger for one line per proxy-session call, kept out of mitmproxy's legacy log events.

mitmproxy (9 and later) still turns every log record into a deprecated ``add_log`` event that it
sends through every loaded addon (``mitmproxy.log.LegacyLogEvents``). No built-in addon listens
to it, and for a line per flow it cost the recorder more CPU than validation, scrubbing and
writing together (about 140 µs per flow in bench_record). Records of :data:`call_logger` skip that
one handler; the terminal, mitmweb's event log and any handler a user adds still get them.
"""

from __future__ import annotations

import logging

CALLS = "chime_tap.calls"
call_logger = logging.getLogger(CALLS)


class _NotPerCallLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != CALLS


_FILTER = _NotPerCallLines()


def skip_legacy_log_events(handler_type: type[logging.Handler]) -> None:
    """Attach the filter to the root logger's handlers of ``handler_type`` (mitmproxy's
    ``LegacyLogEvents``, which the addon passes in: this module never imports mitmproxy);
    idempotent."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, handler_type) and _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
