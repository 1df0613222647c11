"""cosign's legacy image-signature formats: the simple-signing payload and the layer annotations.

A legacy signature is one layer of the ``sha256-<hex>.sig`` manifest (FORMATS.md 1.2-1.6): the
layer blob is the payload that was signed; annotations carry the base64 signature, the
certificate and chain, the Rekor bundle (SET, no proof) and an RFC 3161 timestamp. Attestations
(``.att``) are the same with a DSSE envelope as the layer and an empty signature annotation.
This module turns a layer into a ``Material`` and reads and writes payloads; nothing here
decides whether a signature is good.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, NamedTuple

from airlock import _wire
from airlock.errors import FormatError
from airlock.formats.bundle import parse_dsse, parse_legacy_rekor_bundle
from airlock.material import Material, MessageSignature, TlogEntry
from airlock.media_types import (  # noqa: F401  (callers read them as cosign.NAME)
    ANNOTATION_BUNDLE,
    ANNOTATION_CERTIFICATE,
    ANNOTATION_CHAIN,
    ANNOTATION_RFC3161,
    ANNOTATION_SIGNATURE,
    DSSE_ENVELOPE,
    SIMPLESIGNING,
)

DSSE = DSSE_ENVELOPE  # callers read it as cosign.DSSE
SIGNATURE_TYPE = "cosign container image signature"
ANNOTATION_PREDICATE_TYPE = "predicateType"
# cosign's --type short names for in-toto predicate types (FORMATS.md 9.3); others are URIs.
PREDICATE_TYPES = {
    "custom": "https://cosign.sigstore.dev/attestation/v1",
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
}


def _go_string(text: str) -> str:
    """A JSON string as Go's encoding/json writes it (HTML characters and U+2028/9 escaped)."""
    encoded = json.dumps(text, ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        encoded = encoded.replace(raw, escaped)
    return encoded


def simplesigning_payload(docker_reference: str, manifest_digest: str,
                          annotations: dict[str, str] | None = None) -> bytes:
    """The bytes ``cosign sign`` signs, exactly as cosign writes them (FORMATS.md 1.6)."""
    optional = "null"
    if annotations:
        optional = "{" + ",".join(f"{_go_string(k)}:{_go_string(str(v))}" for k, v in sorted(annotations.items())) + "}"
    return ('{"critical":{"identity":{"docker-reference":' + _go_string(docker_reference) + '},"image":'
            '{"docker-manifest-digest":' + _go_string(manifest_digest) + '},"type":' + _go_string(SIGNATURE_TYPE)
            + '},"optional":' + optional + "}").encode()


class Payload(NamedTuple):
    """The claims of a simple-signing payload (keys matched case-insensitively, as Go does)."""

    docker_reference: str | None
    manifest_digest: str | None
    type: str | None
    optional: dict[str, Any]
    document: dict


def _lower(obj: Any) -> dict:
    return {str(k).lower(): v for k, v in obj.items()} if isinstance(obj, dict) else {}


def parse_payload(data: bytes) -> Payload:
    document = _wire.loads(data, "signature payload")
    if not isinstance(document, dict):
        raise FormatError(f"signature payload must be a JSON object, not {_wire.json_kind(document)}")
    fields = _lower(document)
    critical = _lower(fields.get("critical"))
    optional = fields.get("optional")
    digest = _lower(critical.get("image")).get("docker-manifest-digest")
    reference = _lower(critical.get("identity")).get("docker-reference")
    kind = critical.get("type")
    return Payload(reference if isinstance(reference, str) else None, digest if isinstance(digest, str) else None,
                   kind if isinstance(kind, str) else None, optional if isinstance(optional, dict) else {}, document)


class Layer(NamedTuple):
    """One signature or attestation layer: what a registry or layout holds."""

    media_type: str
    payload: bytes
    annotations: dict[str, str]


def layer_material(layer: Layer) -> Material:
    """Translate a cosign layer into the verifier's model."""
    notes = layer.annotations
    signature_text = notes.get(ANNOTATION_SIGNATURE)
    if signature_text is None:
        raise FormatError(f"signature layer has no {ANNOTATION_SIGNATURE} annotation")
    if layer.media_type == DSSE:
        envelope = parse_dsse(_wire.loads(layer.payload, "attestation layer"), "attestation layer")
        if not envelope.signatures:
            raise FormatError("attestation layer has no DSSE signature")
        content: Any = envelope
    else:
        if not signature_text:
            raise FormatError("signature layer has an empty signature annotation")
        content = MessageSignature(signature=_wire.b64decode(signature_text, ANNOTATION_SIGNATURE))
    chain = []
    certificate = notes.get(ANNOTATION_CERTIFICATE)
    if certificate:
        chain = _pem_certificates(certificate, ANNOTATION_CERTIFICATE)
        if len(chain) != 1:
            raise FormatError(f"{ANNOTATION_CERTIFICATE} must hold one certificate")
        # The chain annotation is never trusted: anchors come from the trusted root (FORMATS.md 1.3).
    entries: tuple[TlogEntry, ...] = ()
    if notes.get(ANNOTATION_BUNDLE):
        entries = (parse_legacy_rekor_bundle(notes[ANNOTATION_BUNDLE]),)
    timestamps: tuple[bytes, ...] = ()
    if notes.get(ANNOTATION_RFC3161):
        wrapper = _wire.loads(notes[ANNOTATION_RFC3161], ANNOTATION_RFC3161)
        if not isinstance(wrapper, dict):
            raise FormatError(f"{ANNOTATION_RFC3161}: must be a JSON object, not {_wire.json_kind(wrapper)}")
        wrapper = _lower(wrapper)
        timestamps = (_wire.b64decode(wrapper.get("signedrfc3161timestamp"), ANNOTATION_RFC3161),)
    stored = hashlib.sha256(layer.payload).digest() if layer.media_type == DSSE else None
    return Material(content=content, certificate_chain=tuple(chain), tlog_entries=entries,
                    rfc3161_timestamps=timestamps, format="cosign-legacy", stored_envelope_sha256=stored)


def _pem_certificates(text: str, what: str) -> list:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise FormatError(f"{what}: not PEM certificates") from exc


def signature_annotation(signature: bytes) -> str:
    return base64.b64encode(signature).decode()
