"""Encoding and key helpers shared by every piece of the test instance.

Everything here writes the wire conventions of FORMATS.md section 0 (standard padded base64,
lower-case hex, RFC 3339 ``Z`` times, DER ECDSA signatures with the hash the key implies), so
the material the instance produces looks exactly like what cosign and Rekor emit.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

#: The fixed "now" every instance uses unless told otherwise. Chosen in the past so that a
#: verifier that (wrongly or rightly) compares against the wall clock never sees the future.
DEFAULT_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

_CURVE_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def b64(data: bytes) -> str:
    """Standard, padded base64 (FORMATS 0.1) as a str."""
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    """Strict standard base64 decode (test-side only; the verifier has its own lenient one)."""
    return base64.b64decode(text, validate=True)


def jcs(obj: Any) -> bytes:
    """RFC 8785 canonical JSON: what Rekor signs in a SET and hashes as a Rekor v2 leaf."""
    return rfc8785.dumps(obj)


def aware(moment: datetime) -> datetime:
    """Refuse naive datetimes: a silent local-time interpretation would make tests flaky."""
    if moment.tzinfo is None:
        raise ValueError("datetimes given to airlock.testing must be timezone-aware")
    return moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """protojson ``google.protobuf.Timestamp``: UTC, ``Z``, 0 or 3/6 fractional digits."""
    moment = aware(moment)
    if moment.microsecond == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if moment.microsecond % 1000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unix_seconds(moment: datetime | int) -> int:
    """Rekor ``integratedTime``: an int passes through, a datetime becomes whole seconds."""
    if isinstance(moment, int):
        return moment
    return int(aware(moment).timestamp())


def unix_millis(moment: datetime | int) -> int:
    """SCT timestamps are Unix milliseconds; an int passes through unchanged."""
    if isinstance(moment, int):
        return moment
    moment = aware(moment)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def valid_for(window: tuple[datetime, datetime | None]) -> dict[str, str]:
    """A trusted_root ``validFor`` object; ``end`` is omitted when None (open-ended)."""
    start, end = window
    result = {"start": rfc3339(start)}
    if end is not None:
        result["end"] = rfc3339(end)
    return result


def public_key_of(key: PrivateKey | PublicKey | x509.Certificate) -> PublicKey:
    """The public half of a private key, a public key, or a certificate's subject key."""
    if isinstance(key, x509.Certificate):
        return key.public_key()  # type: ignore[return-value]
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        return key.public_key()
    return key


def spki_der(key: PrivateKey | PublicKey | x509.Certificate) -> bytes:
    """DER SubjectPublicKeyInfo: the input of every SHA-256 key ID in Sigstore."""
    return public_key_of(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    """PEM ``PUBLIC KEY`` as Go writes it (64-column lines, trailing newline)."""
    return public_key_of(key).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def verifier_pem(verifier: x509.Certificate | PrivateKey | PublicKey) -> bytes:
    """What Rekor v1 bodies embed as the key: certificate PEM, or public-key PEM for keys."""
    if isinstance(verifier, x509.Certificate):
        return cert_pem(verifier)
    return public_key_pem(verifier)


def key_id(key: PrivateKey | PublicKey | x509.Certificate) -> bytes:
    """SHA-256 of the SPKI DER: Rekor v1 log ID, CT log ID, and the managed-key bundle hint."""
    return hashlib.sha256(spki_der(key)).digest()


def new_ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA key (P-256 unless told otherwise); cheap enough to make per instance."""
    return ec.generate_private_key(curve or ec.SECP256R1())


def hash_for_key(key: PrivateKey | PublicKey) -> hashes.HashAlgorithm:
    """The digest a key implies (FORMATS 0.8): curve hash for ECDSA, SHA-256 otherwise."""
    public = public_key_of(key)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _CURVE_HASH[public.curve.name]()
    return hashes.SHA256()


def hash_name(algorithm: hashes.HashAlgorithm) -> str:
    """``sha256`` style name (Rekor v1 hashedrekord ``algorithm`` and hashlib)."""
    return algorithm.name


def protojson_hash_enum(algorithm: hashes.HashAlgorithm) -> str:
    """protobuf-specs ``HashAlgorithm`` enum name (``SHA2_256`` ...)."""
    return {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}[algorithm.name]


def digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    return hashlib.new(algorithm.name, data).digest()


def sign(key: PrivateKey, data: bytes, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    """Sign the way Sigstore clients do: DER ECDSA, pure Ed25519, RSA PKCS#1 v1.5."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    algorithm = algorithm or hash_for_key(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(algorithm))
    return key.sign(data, padding.PKCS1v15(), algorithm)


def key_details(key: PrivateKey | PublicKey | x509.Certificate) -> str:
    """protobuf-specs ``PublicKeyDetails`` for a key (trusted_root and Rekor v2 verifiers)."""
    public = public_key_of(key)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {
            "secp256r1": "PKIX_ECDSA_P256_SHA_256",
            "secp384r1": "PKIX_ECDSA_P384_SHA_384",
            "secp521r1": "PKIX_ECDSA_P521_SHA_512",
        }[public.curve.name]
    return f"PKIX_RSA_PKCS1V15_{public.key_size}_SHA256"


def transparency_log_instance(log: Any, window: tuple[datetime, datetime | None] | None, days: int = 730) -> dict:
    """``log`` (``base_url``, ``key``, ``log_id``, ``now``) as a trusted_root ``tlogs``/``ctlogs``
    element; ``window`` defaults to ``days`` before ``now``, open-ended."""
    return {
        "baseUrl": log.base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": b64(spki_der(log.key)),
            "keyDetails": key_details(log.key),
            "validFor": valid_for(window or (log.now - timedelta(days=days), None)),
        },
        "logId": {"keyId": b64(log.log_id)},
    }


def cert_signing_hash(issuer_key: PrivateKey) -> hashes.HashAlgorithm | None:
    """Hash for X.509 signatures: ecdsa-with-SHA384 for P-384 CAs (like Fulcio), none for Ed25519."""
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return None
    return hash_for_key(issuer_key)


def der_utf8(text: str) -> bytes:
    """DER UTF8String (tag 0x0C): the encoding of Fulcio OIDs .1.8+ and OtherName SANs."""
    return asn1_core.UTF8String(text).dump()


def der_octet_string(data: bytes) -> bytes:
    return asn1_core.OctetString(data).dump()
