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
    UNPACK = "unpack"  # unpack's summary: an image of the pack did not verify
    ADMIT = "admit"  # the admission gate's summary: an image was denied


class VerificationError(AirlockError):
    """A check ran and failed. ``check`` names it (a ``Check``; a string is converted, and one that
    names no check is a bug: ``ValueError``), so callers can tell failures apart."""

    def __init__(self, check: Check | str, reason: str) -> None:
        check = Check(check)
        self.check = check
        self.reason = reason
        super().__init__(f"{check}: {reason}")


class InvalidReferenceError(FormatError):
    """An image reference, tag or digest that cannot name an image."""


class LayoutError(FormatError):
    """An OCI layout that is missing, malformed, tampered with, or unsafe to read."""


class RegistryError(AirlockError):
    """A registry refused or failed a request, or answered with something that cannot be trusted.

    ``status`` is the HTTP status (None when no answer came), ``code`` the registry's error code
    (``MANIFEST_UNKNOWN``, ``UNAUTHORIZED``...) when it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class DigestMismatchError(RegistryError):
    """Bytes from (or for) a registry do not hash to the digest they are supposed to have."""


class BudgetExceeded(RegistryError):
    """More signatures, attestations, referrers or bytes than one image may have fetched (a
    ``FetchBudget`` refusing its count or its total, or a listing of too many referrers): the
    registry is hostile or broken, so discovery stops here, rather than counting one more failed
    candidate. (One item over its own size limit is a plain ``RegistryError``.)"""


class SignerError(AirlockError):
    """A signer could not be set up or could not sign: token, KMS, or key trouble."""


class KeyReferenceError(UsageError):
    """A key reference (a ``pkcs11:`` or ``awskms://`` URI) that is malformed or unsupported."""


class KeyFileError(AirlockError):
    """A key file that cannot be used: not a key, wrong password, unsupported parameters or type."""


class AttachError(AirlockError):
    """A signature or attestation that cannot be attached to an image."""


class TufError(AirlockError):
    """A TUF repository or mirror that cannot be trusted, with the reason."""


class CheckpointError(AirlockError):
    """A log checkpoint that is malformed or not signed by the expected log."""


class ProofError(AirlockError):
    """A Merkle proof does not prove what it claims."""


class Unsupported(AirlockError):
    """A certificate feature Go's JSON rendering of certificates (formats/go_x509) does not model."""


class ServiceError(AirlockError):
    """A Sigstore service (Fulcio, Rekor, the TSA, the OIDC token source) failed or refused."""


class KeylessError(AirlockError):
    """A service answered, and what it answered cannot be trusted or used."""


class PackError(FormatError):
    """An archive that is not a whole, untouched airlock pack."""


class PolicyError(FormatError):
    """An admission policy that cannot be used: the message names the file, the document and the field."""


class CacheTimeout(AirlockError, TimeoutError):
    """Waiting for a verdict another request is computing took longer than the caller may wait."""
