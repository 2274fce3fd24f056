"""One line per call, for the recorder, replay and the simulator alike, and the summary at exit.

The lines and the summary are built here by plain functions (data in, text out), so what they
say is tested without a proxy; the addons only count and log.

:data:`call_logger` is kept out of mitmproxy's legacy log events. mitmproxy (9 and later) still
turns every log record into a deprecated ``add_log`` event that it sends through every loaded
addon (``mitmproxy.log.LegacyLogEvents``). No built-in addon listens to it, and for a line per
flow it cost the recorder more CPU than validation, scrubbing and writing together (about
140 µs per flow in bench_record). Records of :data:`call_logger` skip that one handler; the
terminal, mitmweb's event log and any handler a user adds still get them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import CodeType, FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chime_tap.api.operations import Route
    from chime_tap.api.validation import Violation

CALLS = "chime_tap.calls"
call_logger = logging.getLogger(CALLS)

LINE_LIMIT = 200  # characters a violation (or an error) may take on a log line
LISTED_LIMIT = 10  # violations listed under a call's line; the count says how many in all
INDENT = "    "
NO_RESPONSE = 0  # the status a call that got no response is counted under
CHIME_TAP_STATUS = 599  # replay's own answer (miss, exhausted): no service sends it


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


def log_call(level: int, line: str) -> None:
    """``call_logger.log(level, line)``, with the same record, made for less.

    ``Logger.log`` looks for its caller on the stack and fills a ``LogRecord`` field by field,
    most of which (where it was called, the thread, the process) are the same on every line of
    a proxy. Here they are found once per place that logs and copied; the time, level and
    message are set per line. Any handler, filter and formatter sees what ``Logger.log`` would
    have given it. With a record factory of someone else's or logging's switches off, it is
    ``Logger.log`` itself; a place that logs from another thread than before has its fields
    found again, and a forked child finds its own.
    """
    if not call_logger.isEnabledFor(level):
        return
    caller = sys._getframe(1)
    code = caller.f_code
    site = _TEMPLATES.get((id(code), caller.f_lasti))
    if (
        site is None
        or site[0] is not code
        or site[1]["thread"] != threading.get_ident()
        or logging.getLogRecordFactory() is not logging.LogRecord
    ):
        if not _template_made(caller):
            call_logger.log(level, line, stacklevel=2)
            return
        site = _TEMPLATES[(id(code), caller.f_lasti)]
    template = site[1]
    record = _Record.__new__(_Record)
    fields = template.copy()  # a dict's copy is one block copied, an update is key by key
    record.__dict__ = fields
    ct = time.time()
    fields["msg"] = line
    fields["levelname"] = logging.getLevelName(level)
    fields["levelno"] = level
    fields["created"] = ct
    fields["msecs"] = int((ct - int(ct)) * 1000) + 0.0  # as LogRecord computes it
    fields["relativeCreated"] = (ct - logging._startTime) * 1000
    call_logger.handle(record)


class _Record(logging.LogRecord):
    """A ``LogRecord`` (same fields, same methods) filled by :func:`log_call`."""


# By call site: the caller's code and the offset of its call instruction (f_lasti is read off the
# frame; f_lineno is worked out from the code's line table on every read, some 7,000
# instructions from the recorder's long hook). Keyed by the code's id, and the code kept to
# check it is the same one: a code object is hashed from its contents on every look-up, some
# 2,400 instructions for the recorder's hook. A forked child starts with none: its records
# carry its own process id.
_TEMPLATES: dict[tuple[int, int], tuple[CodeType, dict[str, object]]] = {}
os.register_at_fork(after_in_child=_TEMPLATES.clear)


def _template_made(caller: FrameType) -> bool:
    """The fields of a record logged from ``caller`` that do not change from line to line,
    kept in ``_TEMPLATES``; False where LogRecord would not give the same (see log_call)."""
    if (
        logging.getLogRecordFactory() is not logging.LogRecord
        or not (logging.logThreads and logging.logProcesses and logging.logMultiprocessing)
        or logging._srcfile is None
        or len(_TEMPLATES) >= 64
    ):
        return False
    code = caller.f_code
    record = logging.LogRecord(CALLS, logging.INFO, code.co_filename, caller.f_lineno,
                               "", (), None, code.co_name)  # fmt: skip
    # Every field, in LogRecord's order; log_call sets the per-line ones (msg, levelname,
    # levelno, created, msecs, relativeCreated) on each copy.
    _TEMPLATES[(id(code), caller.f_lasti)] = (code, dict(record.__dict__))
    return True


# --- the line ---------------------------------------------------------------------------------


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` on one line of at most ``limit`` characters: whitespace runs become one space;
    a longer text keeps its start and its end (where a schema message gives its verdict)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    tail = limit // 4
    return f"{flat[: limit - tail - 5]} ... {flat[-tail:]}"


def what_call(route: Route | None, method: str, path: str, host: str | None = None) -> str:
    """The call a line is about: operation and ids, else the request (``host`` if it is not a
    Chime host's)."""
    if route is None:
        where = f"{host}{path.split('?', 1)[0]}" if host else path.split("?", 1)[0]
        return f"not a proxy-session call: {method} {where}"
    what = f"{route.name} connector={route.voice_connector_id}"
    if route.proxy_session_id is not None:
        what += f" session={route.proxy_session_id}"
    return what


def outcome(status: int, error: str | None, upstream: str | None = None) -> str:
    """The status, or why there is none: ``failed (error; upstream HOST:PORT)``."""
    if error is None:
        return str(status)
    where = f"; upstream {upstream}" if upstream else ""
    return f"failed ({one_line(error)}{where})"


def violations_text(violations: Sequence[Violation]) -> str:
    """``N violation(s)``; with any, the first (part, pointer, message) on the line and the others
    on the lines under it, indented, one each (at most :data:`LISTED_LIMIT` in all)."""
    if not violations:
        return "0 violation(s)"
    shown = [one_line(str(v)) for v in violations[:LISTED_LIMIT]]
    text = f"{len(violations)} violation(s): {shown[0]}"
    for line in shown[1:]:
        text += f"\n{INDENT}{line}"
    if len(violations) > LISTED_LIMIT:
        text += f"\n{INDENT}... and {len(violations) - LISTED_LIMIT} more"
    return text


def call_line(what: str, result: str, duration_ms: float, detail: str = "") -> str:
    """``<what> -> <result> in <ms> ms[, <detail>]``: the shape every proxy's line has."""
    line = f"{what} -> {result} in {duration_ms:.1f} ms"
    return f"{line}, {detail}" if detail else line


# What replay did with a call, on its line.
def hit_detail(label: str, repeated: bool) -> str:
    return (
        f"hit {label} (repeated: every recorded answer was played)" if repeated else f"hit {label}"
    )


def exhausted_detail(count: int) -> str:
    return f"exhausted (all {count} recorded answer(s) were played)"


MISS_DETAIL = "miss"


def forwarded_detail(recorded_as: str | None, error: str | None = None) -> str:
    """A miss sent upstream: where its answer (or its failure) was recorded, if it was."""
    if recorded_as is None:
        return "miss, forwarded upstream, not recorded" + (f" ({error})" if error else "")
    kept = "with no response " if error is not None else ""
    return f"miss, forwarded upstream, recorded {kept}as {recorded_as}"


def injected_detail(fault: str | None, delay_ms: float) -> str:
    """What the simulator injected into a call: an error, added latency, both or nothing."""
    parts = []
    if fault is not None:
        parts.append(f"injected {fault}")
    if delay_ms > 0:
        parts.append(f"injected latency {delay_ms:.1f} ms")
    return ", ".join(parts)


# --- the summary at exit ----------------------------------------------------------------------


def status_classes(statuses: Mapping[int, int]) -> dict[str, int]:
    """Calls per status class, in order: ``2xx``...``5xx``, ``599 chime-tap`` (replay's own
    answers, which no service sends) and ``no response`` (status 0)."""
    classes: dict[str, int] = {}
    for status in sorted(statuses, key=lambda s: (s == NO_RESPONSE, s)):
        if status == NO_RESPONSE:
            name = "no response"
        elif status == CHIME_TAP_STATUS:
            name = "599 chime-tap"
        else:
            name = f"{status // 100}xx"
        classes[name] = classes.get(name, 0) + statuses[status]
    return classes


def summary(label: str, statuses: Mapping[int, int], details: Iterable[str]) -> str:
    """The paragraph a proxy prints at exit: calls, per status class, then ``details``."""
    calls = sum(statuses.values())
    text = f"chime-tap {label}: {calls} call(s)"
    if calls:
        text += (
            " (" + ", ".join(f"{n} {name}" for name, n in status_classes(statuses).items()) + ")"
        )
    return "; ".join([text, *details]) + "."


def record_summary(
    statuses: Mapping[int, int],
    *,
    with_violations: int,
    recorded: int,
    lost: int,
    cassette: str | None,
    held: int,
    refused: int = 0,
    dropped: int = 0,
    controls: int = 0,
    others: int = 0,
    tls_failed: int = 0,
    auth_refused: int = 0,
) -> str:
    """``record``'s paragraph: calls, violations, what was recorded and what could not be.

    ``lost``: calls answered though the cassette could not take them (disk full); ``refused``:
    calls it could not take, answered 507 instead (strict recording); ``dropped``: calls still
    in flight when the cassette closed, cut off unanswered; ``controls``: of the interactions
    recorded, the simulator's control calls (not proxy-session calls, so not among the calls);
    ``others``: of the interactions recorded, other traffic (``--record-all``); ``tls_failed``:
    clients' TLS handshakes with the proxy that failed; ``auth_refused``: requests the proxy
    itself refused for want of proxy credentials (mitmproxy's ``proxyauth``), never sent on.
    """
    if cassette is None:
        kept = "no cassette, nothing recorded"
    else:
        kept = f"{recorded} interaction(s) recorded to {cassette} (it holds {held})"
        if controls:
            kept += f", {controls} of them simulator control call(s)"
        if others:
            kept += f", {others} of them other traffic (--record-all)"
    details = [
        f"{with_violations} with violations",
        kept,
        f"{lost} answered but not recorded (could not be written)",
    ]
    if refused:
        details.append(f"{refused} not recorded and answered 507 instead (strict recording)")
    if dropped:
        details.append(f"{dropped} still in flight at shutdown, cut off unanswered (not recorded)")
    if auth_refused:
        details.append(auth_refused_detail(auth_refused, "never sent on, not recorded"))
    if tls_failed:
        details.append(
            f"{tls_failed} client TLS handshake(s) failed (does the client trust the proxy's CA, "
            "mitmproxy-ca-cert.pem in the confdir?)"
        )
    return summary("record", statuses, details)


def replay_summary(
    statuses: Mapping[int, int],
    *,
    hits: int,
    misses: int,
    exhausted: int,
    forwarded: int,
    forward_failed: int,
    loaded: int,
    never_played: int,
    not_recorded: int = 0,
    withheld: int = 0,
    unreadable: int = 0,
    auth_refused: int = 0,
) -> str:
    """``replay``'s paragraph: calls, hits, misses (and those sent upstream, and of those the
    ones the cassette could not take: ``not_recorded`` answered anyway, ``withheld`` answered
    507 instead), exhausted calls, calls whose recorded answer was found broken when played
    (``unreadable``, said only when there were some), and how many of the interactions loaded
    at start were never played; ``auth_refused`` as :func:`record_summary`'s, said only when
    there were some."""
    missed = f"{misses} miss(es)"
    if forwarded:
        failed = f", {forward_failed} of them got no response" if forward_failed else ""
        if not_recorded:
            failed += f", {not_recorded} answered but not recorded (could not be written)"
        if withheld:
            failed += f", {withheld} not recorded and answered 507 instead (strict recording)"
        missed += f" ({forwarded} forwarded upstream{failed})"
    return summary(
        "replay",
        statuses,
        [
            f"{hits} hit(s), {missed}, {exhausted} exhausted"
            + (f", {unreadable} recorded answer(s) unreadable" if unreadable else ""),
            f"{never_played} of {loaded} recorded interaction(s) never played",
            *([auth_refused_detail(auth_refused, "never answered from the cassette")]
              if auth_refused else []),
        ],
    )  # fmt: skip


def simulate_summary(
    statuses: Mapping[int, int], *, injected: Mapping[str, int], auth_refused: int = 0
) -> str:
    """``simulate``'s paragraph: calls and the faults injected into them, by error type; and
    ``auth_refused`` as :func:`record_summary`'s, said only when there were some."""
    total = sum(injected.values())
    faults = f"{total} fault(s) injected"
    if total:
        faults += " (" + ", ".join(f"{n} {name}" for name, n in sorted(injected.items())) + ")"
    details = [faults]
    if auth_refused:
        details.append(auth_refused_detail(auth_refused, "never answered by the simulator"))
    return summary("simulate", statuses, details)


def auth_refused_detail(count: int, outcome: str) -> str:
    """How many requests the proxy's own authentication (mitmproxy's ``proxyauth``) refused,
    and what the command therefore never did with them."""
    return f"{count} request(s) refused by the proxy's own authentication (proxyauth), {outcome}"
