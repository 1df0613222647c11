"""What a Rekor log entry claims (FORMATS.md 2.3 and 7.5).

A log entry body is opaque for hashing (the leaf hash and the SET cover its exact bytes), but
its content must match the signature being verified: same signature bytes, same certificate
or key, same digest (the CVE-2022-36056 class of bugs). This module reads the bodies of the
kinds cosign and the Sigstore clients write into one ``EntryClaims``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any

from airlock import _wire
from airlock.errors import FormatError
from airlock.material import EntryClaims

_HASH_NAMES = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512",
               "SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


def claims_fields(body: bytes) -> dict[str, Any]:
    """The ``claims`` / ``claims_error`` fields of a ``TlogEntry`` with this body: a body that does
    not parse is not an error here (the log may not be checked at all) but the reason the
    tlog-entry check fails, if it runs."""
    try:
        return {"claims": parse_body(body)}
    except FormatError as exc:
        return {"claims_error": str(exc)}


def parse_body(body: bytes) -> EntryClaims:
    document = _wire.loads(body, "log entry body")
    kind = _wire.field(document, "kind", "log entry body", str)
    version = _wire.field(document, "apiVersion", "log entry body", str)
    spec = _wire.field(document, "spec", "log entry body", dict)
    reader = _READERS.get((kind, version))
    if reader is None:
        raise FormatError(f"log entry kind {kind} {version} is not supported")
    try:
        return reader(spec)
    except FormatError as exc:
        raise FormatError(f"{kind} {version} entry: {exc}") from exc


def _hex_hash(obj: Any, what: str) -> tuple[str, bytes]:
    algorithm = _wire.field(obj, "algorithm", what, str)
    if algorithm not in _HASH_NAMES:
        raise FormatError(f"{what}: unsupported algorithm {algorithm}")
    try:
        return _HASH_NAMES[algorithm], bytes.fromhex(_wire.field(obj, "value", what, str))
    except ValueError as exc:
        raise FormatError(f"{what}: value is not hex") from exc


def pem_or_der_to_der(data: bytes, what: str) -> bytes:
    """Normalise a PEM certificate or public key (as Rekor stores them) to its DER bytes."""
    text = data.strip()
    if not text.startswith(b"-----BEGIN"):
        return data
    lines = text.splitlines()
    label = lines[0].decode(errors="replace")
    if not lines[-1].startswith(b"-----END"):
        raise FormatError(f"{what}: truncated PEM")
    try:
        der = base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{what}: bad PEM body") from exc
    del label  # certificate or public key: callers compare the DER bytes, never trust them
    return der


def _pem_field(value: Any, what: str) -> bytes:
    return pem_or_der_to_der(_wire.b64decode(value, what), what)


def _hashedrekord_v001(spec: dict) -> EntryClaims:
    algorithm, value = _hex_hash(
        _wire.field(_wire.field(spec, "data", "spec", dict), "hash", "spec.data", dict), "spec.data.hash"
    )
    signature = _wire.field(spec, "signature", "spec", dict)
    content = _wire.b64decode(_wire.field(signature, "content", "spec.signature"), "spec.signature.content")
    public_key = _wire.field(signature, "publicKey", "spec.signature", dict)
    verifier = _pem_field(_wire.field(public_key, "content", "spec.signature.publicKey"), "publicKey")
    return EntryClaims("hashedrekord", "0.0.1", (content,), (verifier,), algorithm, value)


def _rekord_v001(spec: dict) -> EntryClaims:
    claims = _hashedrekord_v001(spec)
    return EntryClaims("rekord", "0.0.1", claims.signatures, claims.verifiers, claims.digest_algorithm,
                       claims.digest)


def _hashedrekord_v002(spec: dict) -> EntryClaims:
    inner = _wire.field(spec, "hashedRekordV002", "spec", dict, snake="hashed_rekord_v002")
    data = _wire.field(inner, "data", "spec", dict)
    algorithm = _wire.field(data, "algorithm", "spec.data", str)
    if algorithm not in _HASH_NAMES:
        raise FormatError(f"unsupported digest algorithm {algorithm}")
    digest = _wire.b64decode(_wire.field(data, "digest", "spec.data"), "spec.data.digest")
    signature = _wire.field(inner, "signature", "spec", dict)
    content = _wire.b64decode(_wire.field(signature, "content", "spec.signature"), "spec.signature.content")
    verifier = _wire.field(signature, "verifier", "spec.signature", dict)
    certificate = _wire.optional(verifier, "x509Certificate", "spec.signature.verifier", dict,
                                 snake="x509_certificate")
    public_key = _wire.optional(verifier, "publicKey", "spec.signature.verifier", dict, snake="public_key")
    if (certificate is None) == (public_key is None):
        raise FormatError("spec.signature.verifier: needs exactly one of x509Certificate or publicKey")
    raw = _wire.field(certificate or public_key, "rawBytes", "spec.signature.verifier", str, snake="raw_bytes")
    return EntryClaims("hashedrekord", "0.0.2", (content,),
                       (_wire.b64decode(raw, "spec.signature.verifier"),), _HASH_NAMES[algorithm], digest)


def _dsse_v001(spec: dict) -> EntryClaims:
    _, envelope_hash = _hex_hash(_wire.field(spec, "envelopeHash", "spec", dict), "spec.envelopeHash")
    _, payload_hash = _hex_hash(_wire.field(spec, "payloadHash", "spec", dict), "spec.payloadHash")
    signatures, verifiers = [], []
    for i, item in enumerate(_wire.field(spec, "signatures", "spec", list)):
        signatures.append(_wire.b64decode(_wire.field(item, "signature", f"signatures[{i}]"), "signature"))
        verifiers.append(_pem_field(_wire.field(item, "verifier", f"signatures[{i}]"), "verifier"))
    return EntryClaims("dsse", "0.0.1", tuple(signatures), tuple(verifiers),
                       envelope_hash=envelope_hash, payload_hash=payload_hash)


def _intoto_v001(spec: dict) -> EntryClaims:
    content = _wire.field(spec, "content", "spec", dict)
    _, envelope_hash = _hex_hash(_wire.field(content, "hash", "spec.content", dict), "spec.content.hash")
    payload = _wire.optional(content, "payloadHash", "spec.content", dict)
    payload_hash = _hex_hash(payload, "spec.content.payloadHash")[1] if payload is not None else None
    verifier = _pem_field(_wire.field(spec, "publicKey", "spec"), "spec.publicKey")
    return EntryClaims("intoto", "0.0.1", (), (verifier,), envelope_hash=envelope_hash,
                       payload_hash=payload_hash)


def _intoto_v002(spec: dict) -> EntryClaims:
    content = _wire.field(spec, "content", "spec", dict)
    envelope = _wire.field(content, "envelope", "spec.content", dict)
    _, envelope_hash = _hex_hash(_wire.field(content, "hash", "spec.content", dict), "spec.content.hash")
    payload = _wire.optional(content, "payloadHash", "spec.content", dict)
    payload_hash = _hex_hash(payload, "spec.content.payloadHash")[1] if payload is not None else None
    signatures, verifiers = [], []
    for i, item in enumerate(_wire.field(envelope, "signatures", "envelope", list)):
        # intoto v0.0.2 stores the DSSE signature base64-encoded once more.
        sig = _wire.b64decode(_wire.field(item, "sig", f"signatures[{i}]"), "sig")
        with contextlib.suppress(binascii.Error, ValueError):
            sig = base64.b64decode(sig, validate=True)
        signatures.append(sig)
        verifiers.append(_pem_field(_wire.field(item, "publicKey", f"signatures[{i}]"), "publicKey"))
    return EntryClaims("intoto", "0.0.2", tuple(signatures), tuple(verifiers), envelope_hash=envelope_hash,
                       payload_hash=payload_hash)


_READERS = {
    ("hashedrekord", "0.0.1"): _hashedrekord_v001,
    ("hashedrekord", "0.0.2"): _hashedrekord_v002,
    ("rekord", "0.0.1"): _rekord_v001,
    ("dsse", "0.0.1"): _dsse_v001,
    ("intoto", "0.0.1"): _intoto_v001,
    ("intoto", "0.0.2"): _intoto_v002,
}
