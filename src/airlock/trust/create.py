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
from airlock.media_types import SIGNING_CONFIG_V02
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



# -- signing-config create -------------------------------------------------------------------------

_SERVICE_KEYS = ("url", "api-version", "start-time", "end-time", "operator")


def service_spec(text: str, flag: str) -> dict:
    """One service of ``signing-config create`` (``--fulcio url=...,api-version=1,start-time=...,
    operator=...[,end-time=...]``, as cosign spells it) as a SigningConfig service entry. Unlike
    cosign, an unknown key is refused: a misspelt ``end-time`` would silently never end."""
    from airlock import _wire

    values: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _SERVICE_KEYS:
            raise UsageError(f"{flag} {text!r}: {key or part!r} is not one of {', '.join(_SERVICE_KEYS)} (key=value)")
        if key in values:
            raise UsageError(f"{flag} {text!r}: {key} given twice")
        values[key] = value.strip()
    for key in ("url", "api-version", "start-time", "operator"):
        if not values.get(key):
            raise UsageError(f"{flag} {text!r}: missing required key {key}")
    if not values["api-version"].isdigit():
        raise UsageError(f"{flag} {text!r}: api-version {values['api-version']!r} is not a whole number")

    def when(key: str) -> str:
        try:
            return _time(_wire.timestamp(values[key], f"{flag} {key}")) or ""
        except FormatError as exc:
            raise UsageError(str(exc)) from None

    valid_for = {"start": when("start-time")}
    if values.get("end-time"):
        valid_for["end"] = when("end-time")
    return {"url": values["url"], "majorApiVersion": int(values["api-version"]), "validFor": valid_for,
            "operator": values["operator"]}


def selector(text: str | None, flag: str) -> dict:
    """``ANY``, ``ALL`` or ``EXACT:N``: how many of the Rekor logs (TSAs) a client uses."""
    if text is None:
        return {}
    name, _, count = text.partition(":")
    if name in ("ANY", "ALL") and not count:
        return {"selector": name}
    if name == "EXACT" and count.isdigit() and int(count) > 0:
        return {"selector": "EXACT", "count": int(count)}
    raise UsageError(f"{flag} {text!r}: not ANY, ALL or EXACT:<count>")


def signing_config(*, fulcio: list[str], rekor: list[str], oidc: list[str], tsa: list[str],
                   rekor_config: str | None, tsa_config: str | None) -> bytes:
    """A Sigstore SigningConfig v0.2, byte for byte as ``cosign signing-config create`` writes the
    same services (compact JSON, the same field order; lists that are empty are left out)."""
    document: dict = {"mediaType": SIGNING_CONFIG_V02}
    for name, specs, flag in (("caUrls", fulcio, "--fulcio"), ("oidcUrls", oidc, "--oidc-provider"),
                              ("rekorTlogUrls", rekor, "--rekor")):
        if specs:
            document[name] = [service_spec(spec, flag) for spec in specs]
    document["rekorTlogConfig"] = selector(rekor_config, "--rekor-config")
    if tsa:
        document["tsaUrls"] = [service_spec(spec, "--tsa") for spec in tsa]
    document["tsaConfig"] = selector(tsa_config, "--tsa-config")
    return json.dumps(document, separators=(",", ":")).encode()
