"""The ``chime-tap`` command: one subcommand per module in ``chime_tap.commands``."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence

from chime_tap import __version__
from chime_tap.errors import ChimeTapError

# Subcommands in the order --help lists them; each module has add_arguments(parser) and
# run(args) -> exit code, and keeps heavy imports inside run().
COMMANDS = (
    "demo", "record", "simulate", "replay", "validate", "report", "diff", "check", "prune", "ingest",
)  # fmt: skip
INTERNAL_ERROR = 3  # an exception nobody expected: a bug in chime-tap, reported in one line
DEBUG_ENV = "CHIME_TAP_DEBUG"  # set to 1 to get the traceback of an internal error instead
EPILOG = (
    "exit status: 0 success; 1 and 2 as each command's --help says; "
    f"{INTERNAL_ERROR} internal error (a bug: set {DEBUG_ENV}=1 for its traceback); 130 interrupted."
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (exit 2), not a usage dump, and takes
    no abbreviation of an option: argparse's default took ``--redact`` for the one flag it
    begins, so a mistyped flag could start a proxy that does something else than asked."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _CommandParser(_Parser):
    """A subcommand's parser: it reports its own unknown arguments, before anything missing.

    argparse checks required arguments first and leaves unknown ones to the top-level parser,
    so ``record --casette x`` said ``--cassette`` was missing, and ``simulate --mode x`` pointed
    to ``chime-tap --help`` instead of ``chime-tap simulate --help``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._relaxed: list[argparse.Action] = []  # the required ones, while _unknown looks

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        unknown = self._unknown(args)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}{self._did_you_mean(unknown)}")
        return super().parse_known_args(args, namespace)

    def _did_you_mean(self, unknown: Sequence[str]) -> str:
        """``; did you mean --X?`` for the first unknown option close to one of this command's
        flags (difflib's ratio), else nothing."""
        flags = [s for s in self._option_string_actions if s.startswith("--")]
        for token in unknown:
            if token.startswith("--"):
                close = difflib.get_close_matches(token.partition("=")[0], flags, n=1)
                return f"; did you mean {close[0]}?" if close else ""
        return ""

    def _unknown(self, args: Sequence[str] | None) -> list[str]:
        """The arguments this command does not know, found with nothing required."""
        self._relaxed = [a for a in self._actions if a.required]
        try:
            with _required(self._relaxed, False):
                _, unknown = super().parse_known_args(args, argparse.Namespace())
        finally:
            self._relaxed = []
        return unknown

    def format_help(self) -> str:
        # --help is acted on while _unknown looks: its usage line shows them required still
        # (`--cassette PATH`, not `[--cassette PATH]`).
        with _required(self._relaxed, True):
            return super().format_help()


@contextlib.contextmanager
def _required(actions: Sequence[argparse.Action], required: bool) -> Iterator[None]:
    """``actions`` required (or not) for the duration, then the other way again."""
    for action in actions:
        action.required = required
    try:
        yield
    finally:
        for action in actions:
            action.required = not required


def summary(module_doc: str | None, name: str) -> str:
    """A command's line in ``chime-tap --help``: its docstring's first paragraph, in one line
    (a first sentence may wrap over several)."""
    first = (module_doc or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split()) or name


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chime-tap",
        description="Record/replay proxy and traffic analyzer for the Amazon Chime proxy-session API.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"chime-tap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    for name in COMMANDS:
        module_name = f"chime_tap.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        line = summary(module.__doc__, name)
        p = sub.add_parser(name, help=line, description=(module.__doc__ or line).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that left shows here, not at interpreter exit
        return code
    except ChimeTapError as e:
        print(f"chime-tap: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `chime-tap report ... | head`: normal in a pipeline
        _discard_stdout()
        return 0
    except Exception as e:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        print(internal_error_line(e), file=sys.stderr)
        return INTERNAL_ERROR


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    _refuse_options_before_the_command(parser, argv)
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args._run(args) or 0)


def _refuse_options_before_the_command(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """An option before the command's name is one the top level does not have: refused by
    name at once (argparse would hand it on and first complain that the command's own
    arguments are missing, never naming it)."""
    known = parser._option_string_actions  # -h, --help, --version: as build_parser made them
    for token in argv:
        if token in COMMANDS or token == "--":
            return
        if token.startswith("-") and token not in known:
            parser.error(f"{token} before the command: a command's options go after its name")


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so what is still buffered for a reader that closed the pipe
    goes nowhere at exit instead of raising again ("Exception ignored ... BrokenPipeError")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (in-process tests)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def internal_error_line(e: BaseException, limit: int = 300) -> str:
    """The one line an unexpected exception gets: its type and message, never a traceback."""
    message = " ".join(str(e).split())
    if len(message) > limit:  # some messages quote a whole input
        message = message[: limit - 3] + "..."
    return (
        f"chime-tap: internal error: {type(e).__name__}: {message} "
        f"(set {DEBUG_ENV}=1 for the traceback)"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
