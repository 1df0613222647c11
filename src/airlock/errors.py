"""One exception hierarchy for everything airlock rejects.

The CLI turns every ``AirlockError`` into one line on stderr and a non-zero exit code, so
the message must stand on its own: say what was checked and why it failed.
"""

from __future__ import annotations

from enum import StrEnum


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


class Check(StrEnum):
    """The name of every check a verification can fail or pass. The values are what ``--output
    json`` prints and callers compare with; a ``Check`` is a ``str`` and equals its value."""

    SIGNER = "signer"  # key or certificate: the policy and the material disagree on how it was signed
    TLOG = "tlog"
    SET = "set"
    INCLUSION_PROOF = "inclusion-proof"
    CHECKPOINT = "checkpoint"
    TLOG_ENTRY = "tlog-entry"
    TIMESTAMP = "timestamp"
    CERTIFICATE_CHAIN = "certificate-chain"
    SCT = "sct"
    IDENTITY = "identity"
    SIGNATURE = "signature"
    ARTIFACT = "artifact"  # the in-toto subject of a DSSE envelope
    CLAIMS = "claims"  # an image signature's payload names the image and the annotations
    ANNOTATIONS = "annotations"
    TYPE = "type"  # an attestation's predicate type
    VERIFY = "verify"  # the CLI's summary over several images


class VerificationError(AirlockError):
    """A check ran and failed. ``check`` names it (a ``Check``; a string is converted, and one that
    names no check is a bug: ``ValueError``), so callers can tell failures apart."""

    def __init__(self, check: Check | str, reason: str) -> None:
        check = Check(check)
        self.check = check
        self.reason = reason
        super().__init__(f"{check}: {reason}")
