"""Signed checkpoints: C2SP signed notes as Rekor v1 and v2 write them (FORMATS.md 7.3-7.4).

A checkpoint is the log's signed statement "my tree of size N has root R". The note text
(every line up to the blank line) is what is signed; each signature line names a key and
starts with its 4-byte key hint. Witness cosignatures from other keys may follow and are
ignored: a checkpoint is accepted when a line from *this log's* key verifies.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import NamedTuple

from airlock.crypto import PublicKey, verify_message
from airlock.errors import CheckpointError

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_UINT64_MAX = 2**64 - 1


class Checkpoint(NamedTuple):
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...]
    text: bytes  # the signed part of the note
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (name, key hint, signature)


def parse(note: str) -> Checkpoint:
    separator = note.rfind("\n\n")
    if separator < 0:
        raise CheckpointError("the note has no blank line before its signatures")
    text, block = note[: separator + 1], note[separator + 2 :]
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError("a checkpoint needs an origin, a tree size and a root hash")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise CheckpointError("the checkpoint has no origin")
    # ASCII digits only (str.isdigit accepts "³" and "٣"), no leading zero, at most a uint64 (C2SP tlog-checkpoint)
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > _UINT64_MAX:
        raise CheckpointError(f"the checkpoint size {size_text[:32]!r} is not a decimal number below 2^64")
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError("the checkpoint root hash is not base64") from exc
    if len(root_hash) != 32:
        raise CheckpointError("the checkpoint root hash is not 32 bytes")
    if not block or not block.endswith("\n"):
        raise CheckpointError("the checkpoint has no signature lines")
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise CheckpointError("a checkpoint signature line does not start with an em dash")
        parts = line[2:].split(" ")
        if len(parts) != 2 or not parts[0]:
            raise CheckpointError("a checkpoint signature line is malformed")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CheckpointError("a checkpoint signature is not base64") from exc
        if len(blob) < 5:
            raise CheckpointError("a checkpoint signature is too short")
        signatures.append((parts[0], blob[:4], blob[4:]))
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root_hash,
                      extensions=tuple(extensions), text=text.encode(), signatures=tuple(signatures))


def verify(checkpoint: Checkpoint, key: PublicKey, key_hint: bytes, name: str | None = None) -> None:
    """Accept when some line with this key's hint (and ``name``, if given) verifies."""
    candidates = [
        sig for signer, hint, sig in checkpoint.signatures
        if hint == key_hint and (name is None or signer == name)
    ]
    if not candidates:
        raise CheckpointError("no checkpoint signature from the log's key"
                              + (f" named {name}" if name else ""))
    if not any(verify_message(key, sig, checkpoint.text) for sig in candidates):
        raise CheckpointError("the checkpoint signature does not verify with the log's key")
