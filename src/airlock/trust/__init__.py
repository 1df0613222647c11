"""Trust material: the trusted root (CAs, logs, TSAs and their validity windows)."""

from airlock.trust.trusted_root import (
    CertificateAuthority,
    TransparencyLog,
    TrustedRoot,
    ValidityWindow,
)

__all__ = ["CertificateAuthority", "TransparencyLog", "TrustedRoot", "ValidityWindow"]
