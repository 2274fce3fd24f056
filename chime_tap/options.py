"""chime-tap's options, each declared once: name, type, default, choices, help and parser.

One declaration feeds both sides: mitmproxy's ``loader.add_option`` (what ``--set`` and
mitmweb's options editor see) and the ``chime-tap`` command's argparse flags. The value is
checked in one place, :meth:`Option.check`, whichever side it came from, with one message;
the error names the option as the user wrote it (``chime_sim_error_rate`` or ``--error-rate``).

This module knows nothing of mitmproxy: an addon hands in its loader, its options and its
error type.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chime_tap.api.hosts import HostPolicy
from chime_tap.errors import UsageError
from chime_tap.replay_latency import parse as parse_replay_latency
from chime_tap.simulator.faults import parse_latency, parse_rate
from chime_tap.simulator.store import check_advance
from chime_tap.wire import DECODED_BODY_LIMIT


@dataclass(frozen=True)
class Option:
    """One option of an addon, and of the command that runs it when it has a ``flag``."""

    name: str  # mitmproxy's name: chime_<addon>_<what>
    type: Any  # str, bool, int or Sequence[str], as mitmproxy's option manager takes them
    default: Any
    help: str  # one sentence for both mitmproxy's and chime-tap's --help
    flag: str | None = None  # the chime-tap command's flag; None: a mitmproxy option only
    choices: tuple[str, ...] | None = None
    parse: Callable[[Any], Any] | None = None  # value -> parsed value; ValueError(reason)
    cli: Mapping[str, Any] = field(default_factory=dict)  # argparse presentation: metavar, ...
    # Said in mitmproxy's help only: what the option does that the command's flag does not.
    addon_help: str = ""
    aliases: tuple[str, ...] = ()  # other spellings of ``flag`` the command accepts

    @property
    def dest(self) -> str:
        """The attribute argparse stores the flag's value in."""
        assert self.flag is not None
        return self.flag.lstrip("-").replace("-", "_")

    def check(self, value: Any) -> Any:
        """The parsed value; ValueError saying why when ``value`` is not valid."""
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{value!r} is not one of: {', '.join(self.choices)}")
        return self.parse(value) if self.parse is not None else value

    def value_of(self, options: Any, error: type[Exception] = ValueError) -> Any:
        """This option's parsed value in mitmproxy's ``options``; ``error`` naming it if bad."""
        try:
            return self.check(getattr(options, self.name))
        except ValueError as e:
            raise error(f"{self.name}: {e}") from e

    def from_args(self, args: argparse.Namespace) -> Any:
        """This option's parsed value from the command line; UsageError naming the flag if bad."""
        try:
            return self.check(getattr(args, self.dest))
        except ValueError as e:
            raise UsageError(f"{self.flag}: {e}") from None


def add_options(loader: Any, options: Iterable[Option]) -> None:
    """Register ``options`` with mitmproxy's addon loader (an addon's ``load``)."""
    for o in options:
        loader.add_option(
            o.name,
            o.type,
            o.default,
            f"{o.help} {o.addon_help}".strip(),
            choices=list(o.choices) if o.choices else None,
        )


def comma_list(text: str) -> list[str]:
    """argparse type for a repeatable option that also takes comma-separated values.

    One value per flag: an option with ``nargs="+"`` would swallow the positional inputs after it.
    """
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"empty value {text!r}")
    return values


def user_path(text: str) -> str:
    """argparse type for every path a command takes: ``~`` and ``~user`` expanded, as a shell
    expands them unquoted, so a quoted ``'~/x.yaml'`` or ``--cassette=~/x.yaml`` means the same
    file to every command. Anything else (``-``, an empty value) is left as it is."""
    return os.path.expanduser(text)


def add_arguments(parser: Any, options: Iterable[Option]) -> None:
    """Add the flags of ``options`` to an argparse parser (or argument group)."""
    for o in options:
        if o.flag is None:
            continue
        kwargs: dict[str, Any] = {"help": _cli_help(o)}
        if o.type is bool:
            kwargs["action"] = "store_true"
        elif o.type == Sequence[str] and o.cli.get("nargs") is None:
            kwargs.update(action="extend", type=comma_list, default=[])
        else:
            kwargs["default"] = o.default
            if o.type is int:
                kwargs["type"] = int
            if o.choices is not None:
                kwargs["choices"] = o.choices
        kwargs.update(o.cli)
        parser.add_argument(o.flag, *o.aliases, **kwargs)


def _cli_help(o: Option) -> str:
    text = o.help[0].lower() + o.help[1:].rstrip(".")
    if o.type == Sequence[str] and o.cli.get("nargs") is None:
        text += ". Repeat the option or separate values with commas"
    elif o.type is not bool and o.default not in ("", [], None):
        text += f" (default {o.default})"
    return text


def values_from_args(args: argparse.Namespace, options: Iterable[Option]) -> dict[str, Any]:
    """mitmproxy option values for the flags of ``options`` as given: the addons check them."""
    return {o.name: getattr(args, o.dest) for o in options if o.flag is not None}


def flag_for(message: str) -> str:
    """An addon's ``"chime_x: reason"`` error with the option named as its command's flag."""
    name, sep, rest = message.partition(":")
    option = ALL.get(name.strip())
    if sep and option is not None and option.flag is not None:
        return f"{option.flag}:{rest}"
    return message


# --- the declarations -------------------------------------------------------------------------


def _host_policy(value: Sequence[str]) -> HostPolicy:
    return HostPolicy(value)


def _clock_offset(value: int) -> int:
    return int(check_advance(value))


_SIZE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """A size in bytes from ``N``, ``Nk``, ``Nm`` or ``Ng`` (KiB, MiB, GiB), as mitmproxy's
    ``body_size_limit`` takes it; ValueError unless it is a whole number of at least one byte."""
    value = str(text).strip().lower()
    unit = _SIZE_UNITS.get(value[-1:], 1)
    digits = value[:-1] if unit != 1 else value
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"{text!r} is not a size (a number of bytes, or e.g. 512k, 8m, 1g)")
    return int(digits) * unit


def _not_negative_seconds(value: int) -> int:
    if value < 0:
        raise ValueError(f"{value} is not a number of seconds (0 or more)")
    return value


HOSTS = Option(
    "chime_hosts",
    Sequence[str],
    [],
    "Extra hosts that serve the Chime proxy-session API besides AWS's own: "
    "HOST[:PORT][=voice|legacy] (default voice), e.g. 127.0.0.1:9000=voice; '*' means any host.",
    flag="--hosts",
    parse=_host_policy,
    cli={"metavar": "HOST[:PORT][=NS]"},
)

CASSETTE = Option(
    "chime_cassette",
    str,
    "",
    "Cassette to append proxy-session calls to (vcrpy format: .json for JSON, YAML otherwise); "
    "created if missing, its directory must exist.",
    flag="--cassette",
    cli={"required": True, "metavar": "PATH", "type": user_path},
    addon_help="Empty: validate and log only.",
)
ENFORCE = Option(
    "chime_enforce",
    bool,
    False,
    "Answer requests that fail validation with 400 BadRequestException; they never reach the service.",
    flag="--enforce",
)
REDACT_PHONES = Option(
    "chime_redact_phones",
    bool,
    False,
    "Write deterministic E.164 pseudonyms instead of phone numbers (the cassette still validates and replays).",
    flag="--redact-phone-numbers",
    # The addon option's and make_vcr's word (chime_redact_phones, redact_phones), as a flag.
    aliases=("--redact-phones",),
)
RECORD_ALL = Option(
    "chime_record_all",
    bool,
    False,
    "Record every flow, not only calls to Chime hosts.",
    flag="--record-all",
)
STRICT_RECORDING = Option(
    "chime_strict_recording",
    bool,
    False,
    "Answer 507 Insufficient Storage instead of the real answer when a call cannot be recorded "
    "(disk full, file too large): no client gets an answer the cassette does not hold.",
    flag="--strict-recording",
)
COMPARE_TO = Option(
    "chime_compare_to",
    str,
    "",
    "Spy mode: compare each call's answer with its counterpart in this recorded cassette (found "
    "as replay finds it) and note the differences on its log line, in mitmweb and in the "
    "cassette (chime_tap.differences); the answers themselves pass unchanged. Empty: off.",
    flag="--compare-to",
    cli={"metavar": "CASSETTE", "type": user_path},
)
RECORDER = (CASSETTE, ENFORCE, REDACT_PHONES, RECORD_ALL, STRICT_RECORDING, COMPARE_TO)

# Shared by every proxy: each addon that reads a body registers it (mitmproxy takes the same
# declaration twice), and each command adds its flag.
DECODE_LIMIT = Option(
    "chime_decode_limit",
    str,
    f"{DECODED_BODY_LIMIT // (1024 * 1024)}m",
    "Decode a body's Content-Encoding up to this size (k/m/g suffixes): a body that decodes to "
    "more (a decompression bomb) is kept as it came, with its Content-Encoding and a note.",
    flag="--decode-limit",
    parse=parse_size,
    cli={"metavar": "SIZE"},
)
IDLE_TIMEOUT = Option(
    "chime_idle_timeout",
    int,
    60,
    "Close a client connection after this many seconds without a request in progress "
    "(a half-sent request, an idle keep-alive); 0: never.",
    flag="--idle-timeout",
    parse=_not_negative_seconds,
    cli={"metavar": "SECONDS"},
)
PROXY = (DECODE_LIMIT, IDLE_TIMEOUT)  # every proxy command's flags

REPLAY_CASSETTES = Option(
    "chime_replay_cassettes",
    Sequence[str],
    [],
    "vcrpy cassettes to answer from (YAML, or JSON for *.json), searched in order.",
    flag="--cassette",
    cli={"nargs": "+", "required": True, "metavar": "PATH", "type": user_path},
)
ON_MISS = Option(
    "chime_replay_on_miss",
    str,
    "error",
    "A request no cassette holds: answer 599 (error) or send it upstream and record it (forward).",
    flag="--on-miss",
    choices=("error", "forward"),
)
EXHAUSTED = Option(
    "chime_replay_exhausted",
    str,
    "fail",
    "A call repeated more often than recorded: answer 599 (fail, the default: the recording "
    "does not cover the run), or repeat the last recorded answer (repeat).",
    flag="--exhausted",
    choices=("repeat", "fail"),
)
RECORD_TO = Option(
    "chime_replay_record_to",
    str,
    "",
    "With on-miss forward: the cassette forwarded calls are appended to (default: the first cassette).",
    flag="--record-to",
    cli={"metavar": "PATH", "type": user_path},
)
REPLAY_LATENCY = Option(
    "chime_replay_latency",
    str,
    "none",
    "Hold each replayed answer back: none (answer at once), recorded (by its recorded "
    "duration_ms, as the client waited live) or scale:F (F times that, e.g. scale:0.5).",
    flag="--latency",
    parse=parse_replay_latency,
    cli={"metavar": "none|recorded|scale:F"},
)
REPLAY = (
    REPLAY_CASSETTES,
    ON_MISS,
    EXHAUSTED,
    RECORD_TO,
    STRICT_RECORDING,
    REDACT_PHONES,
    REPLAY_LATENCY,
)

THROTTLE_RATE = Option(
    "chime_sim_throttle_rate",
    str,
    "0",
    "Simulator: fraction of calls answered 429 ThrottledClientException (0-1).",
    flag="--throttle-rate",
    parse=parse_rate,
    cli={"metavar": "RATE"},
)
ERROR_RATE = Option(
    "chime_sim_error_rate",
    str,
    "0",
    "Simulator: fraction of calls answered 500 ServiceFailure / 503 ServiceUnavailable (0-1).",
    flag="--error-rate",
    parse=parse_rate,
    cli={"metavar": "RATE"},
)
LATENCY = Option(
    "chime_sim_latency_ms",
    str,
    "0",
    "Simulator: added latency in ms: N, uniform:LOW:HIGH, lognormal:MEDIAN:SIGMA or exponential:MEAN.",
    flag="--latency-ms",
    parse=parse_latency,
    cli={"metavar": "MS"},
)
SEED = Option(
    "chime_sim_seed",
    int | None,  # mitmproxy's Optional[int]: None (no seed) until a number is set
    None,
    "Simulator: seed for ids, faults and latency: the same seed gives the same run; "
    "without one, every run gets fresh session ids, faults and latency.",
    flag="--seed",
    cli={"type": int, "metavar": "N"},
)
CLOCK_OFFSET = Option(
    "chime_sim_clock_offset",
    int,
    0,
    "Simulator: starting offset in seconds added to the wall clock (sessions expire sooner).",
    parse=_clock_offset,
)
SIM_OFFLINE = Option(
    "chime_sim_offline",
    bool,
    True,
    "Simulator: never connect upstream; answer non-Chime hosts with 502 and refuse every server connection.",
)
CONTROL_TOKEN = Option(
    "chime_sim_control_token",
    str,
    "",
    "Simulator: the token its control endpoint (http://sim.chime-tap.invalid/) requires, as "
    "'Authorization: Bearer TOKEN'; empty: a new random one at each start, logged then.",
)
SIMULATOR = (THROTTLE_RATE, ERROR_RATE, LATENCY, SEED, CLOCK_OFFSET, SIM_OFFLINE, CONTROL_TOKEN)

# vcrpy's record modes: make_vcr's record_mode and the pytest plugin's --chime-record-mode.
RECORD_MODES = ("none", "once", "new_episodes", "all")

ALL: dict[str, Option] = {o.name: o for o in (HOSTS, *RECORDER, *REPLAY, *SIMULATOR, *PROXY)}

# mitmproxy options a proxy that answers from disk or memory pins: no certificate sniffing
# upstream, no eager upstream connection. Only a forwarded call may open a connection.
OFFLINE = {"upstream_cert": False, "connection_strategy": "lazy"}


# mitmproxy options a proxy that forwards calls sets unless the user's --set says otherwise:
# connect upstream when a request needs it, not when the client's CONNECT arrives. mitmproxy's
# eager default fails the CONNECT itself when the service cannot be reached: the client blames
# the proxy ("Failed to connect to proxy URL") and no HTTP flow exists to record. Lazily, the
# call is a flow that fails: recorded with status 0 and its error, and answered with a 502.
FORWARDING = {"connection_strategy": "lazy"}

# mitmproxy options every chime-tap proxy sets unless the user's --set says otherwise. A body
# (request or response) is read whole before it is checked and recorded: past this size the
# call fails instead (recorded with status 0, the reason and the limit), so an endless or huge
# body cannot take the proxy's memory. A proxy-session answer is a few KB; 32 MiB leaves room
# for the other traffic --record-all keeps, and keeps a proxy with one such body in flight
# under 256 MB.
BODY_SIZE_LIMIT = "32m"
BOUNDED = {"body_size_limit": BODY_SIZE_LIMIT}


def script_configure(
    configure: Callable[[set[str]], None],
    running: Callable[[], bool],
    error: type[Exception],
    log: Callable[[str], None],
) -> Callable[[set[str]], None]:
    """An addon's ``configure`` as a mitmdump script's: a bad value found before the proxy runs
    is logged as one error line (mitmdump then stops: "Error logged during startup") instead of
    raised as ``error``, which mitmproxy reports with the script's whole traceback. Once the
    proxy runs (``running()``) it is raised, so that mitmproxy refuses the change and says why."""

    def configure_script(updated: set[str]) -> None:
        try:
            configure(updated)
        except error as e:
            if running():
                raise
            log(str(e))

    return configure_script


def offline_changes(options: Any) -> dict[str, Any]:
    """The mitmproxy option values to set so that ``options`` keep the proxy offline."""
    return {k: v for k, v in OFFLINE.items() if k in options and getattr(options, k) != v}
