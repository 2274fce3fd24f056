"""Errors a user can cause. Each ends in a one-line message; the CLI prints it, never a traceback."""

from __future__ import annotations


class ChimeTapError(Exception):
    """Base for every error meant for the user. ``exit_code`` is what the CLI returns."""

    exit_code = 2

    def __str__(self) -> str:
        # One line, whatever the cause carried.
        return " ".join(super().__str__().split())


class UsageError(ChimeTapError):
    """A wrong option or argument."""


class CassetteError(ChimeTapError):
    """A cassette that is missing, unreadable, not a cassette, or in use."""


class InputError(ChimeTapError):
    """An input file for a report that cannot be read."""
