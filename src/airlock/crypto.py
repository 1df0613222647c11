"""Public keys and raw signature checks, with the hash each key type implies (FORMATS.md 0.8).

Every signature in Sigstore is verified here, so this is the one place that knows that a
P-384 key means SHA-384, that Ed25519 signs the message itself, and that RSA means PKCS#1 v1.5.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from airlock.errors import FormatError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

try:
    # The loaders `cryptography.hazmat.primitives.serialization` re-exports, without importing that
    # package's SSH and PKCS#12 modules (and through them dataclasses and inspect): about 15 ms of
    # the CLI's start-up. Falls back to the public module if the binding ever moves.
    from cryptography.hazmat.bindings._rust import openssl as _rust_openssl

    _load_der_public_key = _rust_openssl.keys.load_der_public_key
    _load_pem_public_key = _rust_openssl.keys.load_pem_public_key
except (ImportError, AttributeError):  # pragma: no cover
    from cryptography.hazmat.primitives.serialization import load_der_public_key as _load_der_public_key
    from cryptography.hazmat.primitives.serialization import load_pem_public_key as _load_pem_public_key

try:
    # The OIDs `cryptography.x509.oid` re-exports, without importing cryptography.x509 (about 20 ms
    # of a key-signed verification's start-up). Falls back to the public module if they ever move.
    from cryptography.hazmat._oid import ExtendedKeyUsageOID as ExtendedKeyUsageOID
    from cryptography.hazmat._oid import ExtensionOID as ExtensionOID
    from cryptography.hazmat._oid import ObjectIdentifier as ObjectIdentifier
except ImportError:  # pragma: no cover
    from cryptography.x509.oid import ExtendedKeyUsageOID as ExtendedKeyUsageOID
    from cryptography.x509.oid import ExtensionOID as ExtensionOID
    from cryptography.x509.oid import ObjectIdentifier as ObjectIdentifier

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

_CURVE_HASH = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def load_public_key(data: bytes, what: str = "public key") -> PublicKey:
    """A PEM (PUBLIC KEY / RSA PUBLIC KEY) or DER SubjectPublicKeyInfo of a supported type."""
    try:
        pem = data.lstrip().startswith(b"-----BEGIN")
        key = _load_pem_public_key(data) if pem else _load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise FormatError(f"{what}: not a PEM or DER public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise FormatError(f"{what}: unsupported key type {type(key).__name__}")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _CURVE_HASH:
        raise FormatError(f"{what}: unsupported curve {key.curve.name}")
    return key


def certificate_key(cert, what: str = "certificate") -> PublicKey:
    """The public key of an X.509 certificate, if it is of a type airlock verifies with.

    ``cert.public_key()`` raises ``UnsupportedAlgorithm`` (or ``ValueError``) for key types
    OpenSSL does not know: that is malformed input here, with a reason.
    """
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise FormatError(f"{what}: unsupported public key algorithm ({_oid_of(cert)})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise FormatError(f"{what}: unsupported key type {type(key).__name__}")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _CURVE_HASH:
        raise FormatError(f"{what}: unsupported curve {key.curve.name}")
    return key


def certificate_extensions(cert, what: str = "certificate"):
    """``cert.extensions``, which ``cryptography`` parses lazily: a malformed extension (a key usage
    or SCT list that is not valid DER) raises ``ValueError`` on first access, so access it here."""
    try:
        return cert.extensions
    except ValueError as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise FormatError(f"{what}: its extensions do not parse ({detail})") from None


def _oid_of(cert) -> str:
    try:
        return cert.public_key_algorithm_oid.dotted_string
    except Exception:  # the OID itself may be what is broken
        return "unknown algorithm"


def spki_der(key: PublicKey | CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def raw_public_bytes(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def default_hash(key: PublicKey) -> str:
    """The message digest a key implies: the curve's for ECDSA, SHA-256 for RSA and Ed25519ph."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVE_HASH[key.curve.name]
    return "sha256"


def digest(algorithm: str, data: bytes) -> bytes:
    return hashlib.new(algorithm, data).digest()


_ECDSA = {name: ec.ECDSA(algorithm()) for name, algorithm in _HASHES.items()}
_ALGORITHMS = {name: algorithm() for name, algorithm in _HASHES.items()}
_ECDSA_PREHASHED = {name: ec.ECDSA(Prehashed(algorithm())) for name, algorithm in _HASHES.items()}


def verify_message(key: PublicKey, signature: bytes, message: bytes, hash_name: str | None = None) -> bool:
    """Check ``signature`` over ``message``; ``hash_name`` overrides the key's default digest."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, _ECDSA[hash_name or _CURVE_HASH[key.curve.name]])
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, padding.PKCS1v15(), _ALGORITHMS[hash_name or "sha256"])
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_digest(key: PublicKey, signature: bytes, hash_name: str, message_digest: bytes) -> bool:
    """Check a signature made over a message whose digest is all we have (``sha256:<hex>`` input)."""
    algorithm = _ALGORITHMS[hash_name]
    if len(message_digest) != algorithm.digest_size:
        return False
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message_digest, _ECDSA_PREHASHED[hash_name])
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message_digest, padding.PKCS1v15(), Prehashed(algorithm))
        else:
            return False  # Ed25519 signs the message itself; a digest cannot be checked
    except (InvalidSignature, ValueError):
        return False
    return True
