"""What was signed, as the verifier sees it: the bytes of a file, or only their digest.

``verify-blob sha256:<hex>`` verifies a signature without the file. Digests are computed at
most once per algorithm, and large files are hashed in chunks rather than read whole.
"""

from __future__ import annotations

import hashlib
import os
import re

from airlock.errors import FormatError, UsageError

_CHUNK = 1 << 20
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


class Artifact:
    __slots__ = ("data", "digests", "label", "path")

    def __init__(self, data: bytes | None = None, path: str | None = None,
                 digests: dict[str, bytes] | None = None, label: str = "artifact") -> None:
        self.data = data
        self.path = path
        self.digests = digests or {}
        self.label = label

    @classmethod
    def from_bytes(cls, data: bytes, label: str = "artifact") -> Artifact:
        return cls(data=data, label=label)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> Artifact:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file")
        return cls(path=path, label=path)

    @classmethod
    def from_digest(cls, text: str) -> Artifact:
        """``sha256:<hex>`` (also sha384 / sha512)."""
        match = re.fullmatch(r"(sha256|sha384|sha512):([0-9a-fA-F]+)", text)
        if not match or len(match.group(2)) != 2 * _DIGEST_SIZES[match.group(1)]:
            raise FormatError(f"{text!r} is not a digest like sha256:<64 hex characters>")
        return cls(digests={match.group(1): bytes.fromhex(match.group(2))}, label=text)

    @property
    def has_bytes(self) -> bool:
        return self.data is not None or self.path is not None

    def read(self) -> bytes | None:
        if self.data is None and self.path is not None:
            with open(self.path, "rb") as handle:
                self.data = handle.read()
        return self.data

    def digest(self, algorithm: str) -> bytes | None:
        """The digest with ``algorithm``, or None when only another digest is known."""
        if algorithm in self.digests:
            return self.digests[algorithm]
        if self.data is not None:
            value = hashlib.new(algorithm, self.data).digest()
        elif self.path is not None:
            hasher = hashlib.new(algorithm)
            with open(self.path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    hasher.update(chunk)
            value = hasher.digest()
        else:
            return None
        self.digests[algorithm] = value
        return value
