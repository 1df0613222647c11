"""One exception hierarchy for everything airlock rejects.

The CLI turns every ``AirlockError`` into one line on stderr and a non-zero exit code, so
the message must stand on its own: say what was checked and why it failed.
"""

from __future__ import annotations


class AirlockError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(AirlockError):
    """The command line asks for something impossible or unsafe."""

    exit_code = 2


class FormatError(AirlockError):
    """Input that does not parse: a bundle, a key, a certificate, a log entry."""


class TrustRootError(FormatError):
    """A trusted root that is malformed or incomplete; nothing can be verified with it."""


class VerificationError(AirlockError):
    """A check ran and failed. ``check`` names it, so callers can tell failures apart."""

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"{check}: {reason}")
