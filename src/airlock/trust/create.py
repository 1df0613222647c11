"""``airlock trusted-root create``: a trusted_root.json for a private Sigstore deployment.

Built from PEM files: Fulcio CA chains, Rekor and CT log public keys, TSA chains, each with a
validity window. The result is loaded back through ``TrustedRoot`` before it is written, so a
file this command writes is always one airlock (and cosign) accepts.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives._serialization import Encoding
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from airlock.crypto import PublicKey, load_public_key, raw_public_bytes, spki_der
from airlock.errors import FormatError, UsageError
from airlock.media_types import TRUSTED_ROOT_TYPES as MEDIA_TYPES
from airlock.trust.trusted_root import TrustedRoot, log_origin

_DER = Encoding.DER


class Window(NamedTuple):
    start: datetime | None
    end: datetime | None


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _valid_for(window: Window) -> dict:
    out = {"start": _time(window.start)}
    if window.end is not None:
        out["end"] = _time(window.end)
    return out


def key_details(key: PublicKey) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                "secp521r1": "PKIX_ECDSA_P521_SHA_512"}[key.curve.name]
    assert isinstance(key, rsa.RSAPublicKey)
    return f"PKIX_RSA_PKCS1V15_{key.key_size}_SHA256"


def log_entry(pem: bytes, url: str, window: Window, what: str) -> dict:
    """A tlogs/ctlogs entry. Log ID: SHA-256 of the SPKI, or for an Ed25519 (Rekor v2) log the
    signed-note key ID of its origin (the URL's host name, no port)."""
    key = load_public_key(pem, what)
    if window.start is None:
        raise UsageError(f"{what}: a transparency log needs a start time (validFor.start)")
    if isinstance(key, ed25519.Ed25519PublicKey):
        origin = log_origin(url)
        log_id = hashlib.sha256(origin.encode() + b"\n\x01" + raw_public_bytes(key)).digest()
    else:
        log_id = hashlib.sha256(spki_der(key)).digest()
    return {
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {"rawBytes": base64.b64encode(spki_der(key)).decode(), "keyDetails": key_details(key),
                      "validFor": _valid_for(window)},
        "logId": {"keyId": base64.b64encode(log_id).decode()},
    }


def authority_entry(pem: bytes, uri: str, window: Window, what: str) -> dict:
    """A certificateAuthorities / timestampAuthorities entry; the PEM lists leaf-most first."""
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise FormatError(f"{what}: not a PEM certificate chain") from exc
    anchor = chain[-1]
    start = window.start or max(c.not_valid_before_utc for c in chain)
    return {
        "subject": {"organization": _attribute(anchor, x509.NameOID.ORGANIZATION_NAME),
                    "commonName": _attribute(anchor, x509.NameOID.COMMON_NAME)},
        "uri": uri,
        "certChain": {"certificates": [{"rawBytes": base64.b64encode(c.public_bytes(_DER)).decode()} for c in chain]},
        "validFor": _valid_for(Window(start, window.end)),
    }


def _attribute(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def create(*, cas: list[tuple[bytes, str, Window]], tlogs: list[tuple[bytes, str, Window]],
           ctlogs: list[tuple[bytes, str, Window]], tsas: list[tuple[bytes, str, Window]]) -> bytes:
    """The trusted_root.json bytes; checked by loading them back."""
    document = {
        "mediaType": MEDIA_TYPES[0],
        "tlogs": [log_entry(pem, url, window, f"Rekor key {i + 1}") for i, (pem, url, window) in enumerate(tlogs)],
        "certificateAuthorities": [authority_entry(pem, uri, window, f"certificate chain {i + 1}")
                                   for i, (pem, uri, window) in enumerate(cas)],
        "ctlogs": [log_entry(pem, url, window, f"CT key {i + 1}") for i, (pem, url, window) in enumerate(ctlogs)],
        "timestampAuthorities": [authority_entry(pem, uri, window, f"timestamp chain {i + 1}")
                                 for i, (pem, uri, window) in enumerate(tsas)],
    }
    data = (json.dumps(document, indent=2) + "\n").encode()
    TrustedRoot.from_json(data, source="created trusted root")
    return data

