"""Rekor v1 and Rekor v2 transparency logs with real Merkle trees (FORMATS.md 2, 7).

Both logs keep an in-memory RFC 6962 tree. Each log starts with a few deterministic dummy
leaves and ``append`` adds a few more after the entry, so an entry is never the first or last
leaf and its inclusion proof exercises both the "inner" and the "border" part of the
verification algorithm (FORMATS 7.2). Proofs and checkpoints describe the tree as it stands
right after the append.

Rekor v1 is sharded like public-good Rekor: the global ``logIndex`` (signed in the SET) is the
shard offset plus the tree index (``inclusionProof.logIndex``), so a verifier that swaps the two
fails. Rekor v2 is a single tile log: Ed25519 checkpoints, no SET, no integratedTime.

Entry bodies are built by ``make_hashedrekord_body``, ``make_dsse_body`` and
``make_hashedrekord_v002_body``; they take the signature, digest and verifier separately so a
test can log a body that disagrees with the bundle in exactly one field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from airlock.testing._common import (
    PrivateKey,
    PublicKey,
    aware,
    b64,
    b64d,
    cert_der,
    jcs,
    key_details,
    key_id,
    new_ec_key,
    public_key_of,
    sign,
    spki_der,
    transparency_log_instance,
    unix_seconds,
    verifier_pem,
)

EM_DASH = "\u2014"


# --------------------------------------------------------------------------- Merkle tree


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleTree:
    """An append-only RFC 6962 tree over leaf hashes (MTH and PATH of RFC 6962 2.1)."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        # Full power-of-two subtrees never change in an append-only tree, so their hashes are
        # cached; this keeps thousands of appends on one instance cheap.
        self._complete: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self.leaves)

    def append(self, data: bytes) -> int:
        """Add a leaf (raw entry bytes); return its index."""
        self.leaves.append(leaf_hash(data))
        return len(self.leaves) - 1

    def root(self, size: int | None = None) -> bytes:
        size = len(self.leaves) if size is None else size
        if size == 0:
            return hashlib.sha256(b"").digest()
        return self._subtree(0, size)

    def _subtree(self, start: int, end: int) -> bytes:
        if end - start == 1:
            return self.leaves[start]
        cached = self._complete.get((start, end))
        if cached is not None:
            return cached
        split = _largest_power_of_two_below(end - start)
        result = node_hash(self._subtree(start, start + split), self._subtree(start + split, end))
        if (end - start) & (end - start - 1) == 0:
            self._complete[(start, end)] = result
        return result

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path for leaf ``index`` in the tree of ``size`` leaves, leaf-to-root order."""
        size = len(self.leaves) if size is None else size
        if not 0 <= index < size <= len(self.leaves):
            raise ValueError("index out of range for this tree size")
        return self._path(index, 0, size)

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        split = _largest_power_of_two_below(end - start)
        if index < split:
            return [*self._path(index, start, start + split), self._subtree(start + split, end)]
        return [*self._path(index - split, start + split, end), self._subtree(start, start + split)]


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------- signed notes


def note_key_hint(key: PrivateKey | PublicKey, name: str) -> bytes:
    """The 4-byte signed-note key hint (FORMATS 7.4).

    ECDSA (Rekor v1 style): SHA-256(SPKI DER)[:4]. Ed25519 (C2SP note):
    SHA-256(name || 0x0A || 0x01 || raw key)[:4].
    """
    public = public_key_of(key)
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    return key_id(public)[:4]


def note_text(origin: str, size: int, root_hash: bytes, extra_lines: Sequence[str] = ()) -> str:
    """The signed body of a checkpoint: origin, size, base64 root, extension lines."""
    lines = [origin, str(size), b64(root_hash), *extra_lines]
    return "".join(line + "\n" for line in lines)


def note_signature_line(text: str, name: str, key: PrivateKey, *, key_hint: bytes | None = None) -> str:
    """One ``— <name> <base64(hint || signature)>`` line signing ``text`` with ``key``."""
    hint = key_hint if key_hint is not None else note_key_hint(key, name)
    signature = sign(key, text.encode())
    return f"{EM_DASH} {name} {b64(hint + signature)}\n"


def signed_note(text: str, signature_lines: Sequence[str]) -> str:
    """Assemble note text, the blank separator line and the signature lines."""
    return text + "\n" + "".join(signature_lines)


# --------------------------------------------------------------------------- entry bodies


def make_hashedrekord_body(
    signature: bytes,
    artifact_digest: bytes,
    verifier: x509.Certificate | PrivateKey | PublicKey | bytes,
    *,
    algorithm: str = "sha256",
) -> bytes:
    """A Rekor v1 ``hashedrekord`` 0.0.1 canonical body (FORMATS 2.3).

    ``verifier`` is the certificate or key whose PEM goes into ``publicKey.content``; raw bytes
    are taken as that PEM verbatim (to log garbage or a mismatching document).
    """
    pem = verifier if isinstance(verifier, bytes) else verifier_pem(verifier)
    return jcs(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": algorithm, "value": artifact_digest.hex()}},
                "signature": {"content": b64(signature), "publicKey": {"content": b64(pem)}},
            },
        }
    )


def make_dsse_body(
    envelope_json: bytes,
    payload: bytes,
    signatures: Sequence[tuple[bytes, x509.Certificate | PrivateKey | PublicKey | bytes]],
    *,
    payload_hash: bytes | None = None,
    envelope_hash: bytes | None = None,
) -> bytes:
    """A Rekor v1 ``dsse`` 0.0.1 canonical body (FORMATS 2.3).

    ``envelopeHash`` is SHA-256 of the exact envelope JSON submitted and ``payloadHash`` is
    SHA-256 of the decoded payload; both can be overridden with wrong values. Signatures are
    sorted by their base64 text like Rekor does.
    """
    entries = sorted(
        (
            {
                "signature": b64(sig),
                "verifier": b64(v if isinstance(v, bytes) else verifier_pem(v)),
            }
            for sig, v in signatures
        ),
        key=lambda entry: entry["signature"],
    )
    return jcs(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": (envelope_hash or hashlib.sha256(envelope_json).digest()).hex(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": (payload_hash or hashlib.sha256(payload).digest()).hex(),
                },
                "signatures": entries,
            },
        }
    )


def make_hashedrekord_v002_body(
    signature: bytes,
    artifact_digest: bytes,
    verifier: x509.Certificate | PrivateKey | PublicKey,
    *,
    algorithm: str = "SHA2_256",
    verifier_key_details: str | None = None,
) -> bytes:
    """A Rekor v2 ``hashedrekord`` 0.0.2 entry, JCS-canonicalised (FORMATS 7.5).

    A certificate verifier is embedded as ``x509Certificate.rawBytes`` (DER), a key as
    ``publicKey.rawBytes`` (SPKI DER). For DSSE the digest is of the PAE bytes.
    """
    if isinstance(verifier, x509.Certificate):
        material: dict[str, Any] = {"x509Certificate": {"rawBytes": b64(cert_der(verifier))}}
    else:
        material = {"publicKey": {"rawBytes": b64(spki_der(verifier))}}
    return jcs(
        {
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {
                "hashedRekordV002": {
                    "data": {"algorithm": algorithm, "digest": b64(artifact_digest)},
                    "signature": {
                        "content": b64(signature),
                        "verifier": {"keyDetails": verifier_key_details or key_details(verifier), **material},
                    },
                }
            },
        }
    )


def _kind_version(body: bytes) -> dict[str, str]:
    try:
        parsed = json.loads(body)
        return {"kind": str(parsed["kind"]), "version": str(parsed["apiVersion"])}
    except (ValueError, KeyError, TypeError):
        return {"kind": "hashedrekord", "version": "0.0.1"}


# --------------------------------------------------------------------------- logs


class _Log:
    """What both Rekor generations share: the tree, padding, checkpoints and entry layout."""

    #: How long before ``now`` the default trusted_root ``validFor`` starts.
    valid_days = 730
    log_id: bytes  # set by each generation: a key ID (v1) or the v2 checkpoint-derived ID

    def __init__(self, now: datetime, key: PrivateKey, origin: str, note_name: str, padding: int) -> None:
        self.now = aware(now)
        self.key: PrivateKey = key
        self.origin = origin
        self.note_name = note_name
        self.tree = MerkleTree()
        self._dummies = 0
        self._pad(padding)

    def _pad(self, count: int) -> None:
        for _ in range(count):
            self.tree.append(f"airlock-testing dummy leaf {self._dummies} of {self.origin}".encode())
            self._dummies += 1

    def checkpoint(
        self,
        size: int | None = None,
        *,
        root_hash: bytes | None = None,
        origin: str | None = None,
        key: PrivateKey | None = None,
        name: str | None = None,
        key_hint: bytes | None = None,
        extra_lines: Sequence[str] = (),
        extra_signature_lines: Sequence[str] = (),
        sign_note: bool = True,
    ) -> str:
        """A signed checkpoint (signed note) for the tree at ``size`` (FORMATS 7.3).

        Every field is overridable to make broken notes: ``root_hash``, ``origin``, ``key``
        (foreign signer, still announced with the log's key hint), ``name``, ``key_hint``;
        ``extra_signature_lines`` adds witness or junk lines after the log's own;
        ``sign_note=False`` leaves only those.
        """
        size = len(self.tree) if size is None else size
        text = note_text(
            origin if origin is not None else self.origin,
            size,
            root_hash if root_hash is not None else self.tree.root(size),
            extra_lines,
        )
        lines = []
        if sign_note:
            # The hint always names the log's own key unless overridden, so a foreign ``key``
            # yields a line the verifier selects and must reject on the signature itself.
            hint = key_hint if key_hint is not None else note_key_hint(self.key, name or self.note_name)
            lines.append(note_signature_line(text, name or self.note_name, key or self.key, key_hint=hint))
        return signed_note(text, [*lines, *extra_signature_lines])

    def _append(
        self, raw: bytes, trailing_leaves: int, kind_version: Mapping[str, str] | None, index_offset: int = 0
    ) -> tuple[int, dict[str, Any]]:
        """Log ``raw`` before ``trailing_leaves`` dummies; its tree index and first entry fields."""
        index = self.tree.append(raw)
        self._pad(trailing_leaves)
        return index, {
            "logIndex": str(index_offset + index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": dict(kind_version or _kind_version(raw)),
        }

    def _finish(
        self,
        entry: dict[str, Any],
        raw: bytes,
        index: int,
        include_proof: bool,
        checkpoint_key: PrivateKey | None,
        checkpoint_options: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Add the inclusion proof (unless dropped) and the body: the last entry fields."""
        if include_proof:
            size = len(self.tree)
            entry["inclusionProof"] = {
                "logIndex": str(index),
                "rootHash": b64(self.tree.root(size)),
                "treeSize": str(size),
                "hashes": [b64(h) for h in self.tree.inclusion_proof(index, size)],
                "checkpoint": {"envelope": self.checkpoint(size, key=checkpoint_key, **dict(checkpoint_options or {}))},
            }
        entry["canonicalizedBody"] = b64(raw)
        return entry

    def trusted_root_entry(self, valid_for_window: tuple[datetime, datetime | None] | None = None) -> dict:
        """This log as a trusted_root ``tlogs`` element."""
        return transparency_log_instance(self, valid_for_window, self.valid_days)


class RekorV1Log(_Log):
    """A Rekor v1 shard: ECDSA P-256 key, SETs, origin ``<host> - <tree id>``."""

    def __init__(
        self,
        now: datetime,
        *,
        base_url: str = "https://rekor.test.local",
        tree_id: int = 1234567890,
        shard_offset: int = 1_000_000,
        key: PrivateKey | None = None,
        padding: int = 5,
    ) -> None:
        self.base_url = base_url
        self.host = urlparse(base_url).hostname or base_url
        self.tree_id = tree_id
        self.shard_offset = shard_offset
        super().__init__(now, key or new_ec_key(), f"{self.host} - {tree_id}", self.host, padding)
        self.log_id = key_id(self.key)

    def signed_entry_timestamp(
        self,
        body: bytes,
        integrated_time: int,
        log_index: int,
        *,
        key: PrivateKey | None = None,
        log_id: bytes | None = None,
    ) -> bytes:
        """The SET: signature over JCS{body, integratedTime, logID(hex), logIndex} (FORMATS 2.1)."""
        payload = jcs(
            {
                "body": b64(body),
                "integratedTime": integrated_time,
                "logID": (log_id or self.log_id).hex(),
                "logIndex": log_index,
            }
        )
        return sign(key or self.key, payload)

    def append(
        self,
        body: bytes,
        integrated_time: datetime | int | None = None,
        *,
        set_signing_key: PrivateKey | None = None,
        checkpoint_key: PrivateKey | None = None,
        checkpoint_options: Mapping[str, Any] | None = None,
        trailing_leaves: int = 3,
        include_promise: bool = True,
        include_proof: bool = True,
        kind_version: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Log ``body`` and return its protojson ``tlogEntries`` element.

        ``integrated_time`` defaults to the log's ``now``; ``set_signing_key`` signs the SET
        with a foreign key; ``checkpoint_key``/``checkpoint_options`` break the checkpoint;
        ``include_promise``/``include_proof`` drop those parts (v0.1 vs v0.2+ bundles).
        """
        index, entry = self._append(body, trailing_leaves, kind_version, self.shard_offset)
        seconds = unix_seconds(integrated_time if integrated_time is not None else self.now)
        entry["integratedTime"] = str(seconds)
        if include_promise:
            set_bytes = self.signed_entry_timestamp(body, seconds, self.shard_offset + index, key=set_signing_key)
            entry["inclusionPromise"] = {"signedEntryTimestamp": b64(set_bytes)}
        return self._finish(entry, body, index, include_proof, checkpoint_key, checkpoint_options)


def legacy_rekor_bundle(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a Rekor v1 protojson tlog entry to cosign's legacy ``rekorBundle`` (FORMATS 1.4).

    Key order and casing are exactly what Go writes: ``SignedEntryTimestamp``, ``Payload`` with
    ``body``, ``integratedTime``, ``logIndex`` (global), ``logID`` (hex).
    """
    return {
        "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logIndex": int(entry["logIndex"]),
            "logID": b64d(entry["logId"]["keyId"]).hex(),
        },
    }


class RekorV2Log(_Log):
    """A Rekor v2 (rekor-tiles) log: Ed25519 checkpoints, origin = base URL host, no SET."""

    valid_days = 365

    def __init__(
        self,
        now: datetime,
        *,
        base_url: str = "https://log2025-test.rekor.local",
        key: ed25519.Ed25519PrivateKey | None = None,
        padding: int = 5,
    ) -> None:
        self.base_url = base_url
        host = urlparse(base_url).hostname or base_url
        super().__init__(now, key or ed25519.Ed25519PrivateKey.generate(), host, host, padding)
        self.log_id = rekor_v2_log_id(host, self.key.public_key())  # type: ignore[arg-type]

    def append(
        self,
        body: bytes | Mapping[str, Any],
        *,
        checkpoint_key: PrivateKey | None = None,
        checkpoint_options: Mapping[str, Any] | None = None,
        trailing_leaves: int = 3,
        include_proof: bool = True,
        kind_version: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Log an entry (JCS bytes, or a protojson ``Entry`` dict that gets canonicalised)."""
        raw = body if isinstance(body, bytes) else jcs(dict(body))
        index, entry = self._append(raw, trailing_leaves, kind_version)
        return self._finish(entry, raw, index, include_proof, checkpoint_key, checkpoint_options)


def rekor_v2_log_id(origin: str, public_key: ed25519.Ed25519PublicKey) -> bytes:
    """SHA-256(origin || 0x0A || 0x01 || raw Ed25519 key) (FORMATS 7.5)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()
