"""Trust material: the trusted root (CAs, logs, TSAs and their validity windows), the TUF mirror.

Names are imported lazily so that the CLI can register its commands without loading
``cryptography``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CertificateAuthority", "TransparencyLog", "TrustedRoot", "ValidityWindow"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airlock.trust import trusted_root

        return getattr(trusted_root, name)
    raise AttributeError(name)
