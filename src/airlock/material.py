"""The one in-memory model every signature format is translated into.

Whatever arrived (a Sigstore bundle v0.1-v0.3, a legacy cosign ``--bundle`` file, an OCI
signature layer), the checks only ever see a ``Material``: what was signed, the signature, the
signer (certificate chain or key), the transparency-log entries and any RFC 3161 timestamps.
The raw bytes that signatures cover are kept exactly as received: signed data is never
re-serialised.

Records are ``NamedTuple``s: immutable, and far cheaper to import than dataclasses, which
matters for the CLI's start-up time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # key-signed material never loads cryptography.x509 (start-up time)
    from cryptography import x509


class MessageSignature(NamedTuple):
    """A signature over the artifact bytes. ``digest`` is the bundle's unauthenticated hint."""

    signature: bytes
    digest_algorithm: str | None = None  # "sha256" | "sha384" | "sha512"
    digest: bytes | None = None


class DsseEnvelope(NamedTuple):
    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]

    def pae(self) -> bytes:
        """DSSE pre-authentication encoding: the bytes the signature covers (FORMATS.md 9.2)."""
        kind = self.payload_type.encode()
        return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(self.payload), self.payload)


class InclusionProof(NamedTuple):
    log_index: int  # index in this tree (shard-local for Rekor v1)
    tree_size: int
    root_hash: bytes
    hashes: tuple[bytes, ...]
    checkpoint: str | None


class EntryClaims(NamedTuple):
    """What a Rekor log entry body claims (read by ``airlock.formats.rekor`` when material is built)."""

    kind: str
    version: str
    signatures: tuple[bytes, ...]
    verifiers: tuple[bytes, ...]  # DER: a certificate, or a SubjectPublicKeyInfo
    digest_algorithm: str | None = None  # hashedrekord / rekord: digest of the signed message
    digest: bytes | None = None
    envelope_hash: bytes | None = None  # dsse / intoto: sha256 of the envelope JSON
    payload_hash: bytes | None = None  # dsse / intoto: sha256 of the DSSE payload


class TlogEntry(NamedTuple):
    log_index: int  # global index, the one the SET covers
    log_id: bytes
    kind: str
    version: str
    body: bytes  # the canonicalized entry, exactly as logged
    integrated_time: int | None = None
    signed_entry_timestamp: bytes | None = None
    inclusion_proof: InclusionProof | None = None
    # what ``body`` claims, parsed when the material is built; or why it does not parse (a reason for
    # the tlog-entry check, which runs only if the log is checked at all)
    claims: EntryClaims | None = None
    claims_error: str | None = None


class Material(NamedTuple):
    """Everything needed to verify one signature, whatever format it came in."""

    content: MessageSignature | DsseEnvelope
    certificate_chain: tuple[x509.Certificate, ...] = ()  # leaf first; empty for keys
    public_key_hint: str | None = None  # set for managed-key bundles
    tlog_entries: tuple[TlogEntry, ...] = ()
    rfc3161_timestamps: tuple[bytes, ...] = ()
    format: str = "bundle-0.3"  # "bundle-0.1" | "bundle-0.2" | "bundle-0.3" | "cosign-legacy"
    # a legacy attestation layer: sha256 of the envelope bytes as stored, which the envelope hash of
    # its dsse / intoto log entry must be (as cosign checks); None where no bytes are kept (bundles)
    stored_envelope_sha256: bytes | None = None

    @property
    def leaf(self) -> x509.Certificate | None:
        return self.certificate_chain[0] if self.certificate_chain else None

    @property
    def signature(self) -> bytes:
        if isinstance(self.content, MessageSignature):
            return self.content.signature
        return self.content.signatures[0]
