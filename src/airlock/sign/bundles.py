"""What signing produces: Sigstore bundles (v0.3) and cosign's legacy blob bundle, for a key.

Signing inside the air gap has no Rekor to upload to, so these bundles carry no transparency
log entry (``tlogEntries: []``) and verify with ``--key ... --insecure-ignore-tlog``; the key
hint is base64(SHA-256(SPKI DER)) as cosign and sigstore-go write it (FORMATS.md 4.2-4.4).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from airlock.formats.cosign import PREDICATE_TYPES
from airlock.media_types import BUNDLE_V03, IN_TOTO, STATEMENT_V01, STATEMENT_V1

SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def key_hint(public_key_pem: bytes) -> str:
    from airlock.crypto import load_public_key, spki_der

    return b64(hashlib.sha256(spki_der(load_public_key(public_key_pem))).digest())


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def message_bundle(signature: bytes, digest: bytes, public_key_pem: bytes, algorithm: str = "SHA2_256") -> dict:
    return {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": key_hint(public_key_pem)}, "tlogEntries": []},
        "messageSignature": {"messageDigest": {"algorithm": algorithm, "digest": b64(digest)},
                             "signature": b64(signature)},
    }


def dsse_envelope(payload: bytes, signature: bytes, payload_type: str = IN_TOTO) -> dict:
    return {"payload": b64(payload), "payloadType": payload_type, "signatures": [{"sig": b64(signature)}]}


def dsse_bundle(payload: bytes, signature: bytes, public_key_pem: bytes) -> dict:
    return {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": key_hint(public_key_pem)}, "tlogEntries": []},
        "dsseEnvelope": dsse_envelope(payload, signature),
    }


def legacy_blob_bundle(signature: bytes, public_key_pem: bytes) -> dict:
    """cosign's LocalSignedPayload without a Rekor bundle (``cert`` = base64 of the PEM key)."""
    return {"base64Signature": b64(signature), "cert": b64(public_key_pem)}


def image_statement(image_digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """What cosign v3 ``sign`` signs for an image (in-toto Statement v1, FORMATS.md 4.3)."""
    return json.dumps({
        "_type": STATEMENT_V1,
        "subject": [{"digest": {"sha256": image_digest.split(":", 1)[1]}, "annotations": annotations or {}}],
        "predicateType": SIGN_PREDICATE, "predicate": {},
    }, separators=(",", ":")).encode()


def attestation_statement(name: str, image_digest: str, predicate_type: str, predicate_bytes: bytes) -> bytes:
    """What ``cosign attest`` signs (Statement v0.1; a ``custom`` predicate wraps the file's text)."""
    uri = PREDICATE_TYPES.get(predicate_type, predicate_type)
    return json.dumps({
        "_type": STATEMENT_V01, "predicateType": uri,
        "subject": [{"name": name, "digest": {"sha256": image_digest.split(":", 1)[1]}}],
        "predicate": _predicate(predicate_type, predicate_bytes),
    }, separators=(",", ":")).encode()


def blob_statement(name: str, sha256: bytes, predicate_type: str, predicate_bytes: bytes) -> bytes:
    """What ``cosign attest-blob`` signs: a Statement v0.1 whose subject is the file (its base name)."""
    return json.dumps({
        "_type": STATEMENT_V01, "subject": [{"name": name, "digest": {"sha256": sha256.hex()}}],
        "predicateType": PREDICATE_TYPES.get(predicate_type, predicate_type),
        "predicate": _predicate(predicate_type, predicate_bytes),
    }, separators=(",", ":")).encode()


def _predicate(predicate_type: str, predicate_bytes: bytes) -> Any:
    """The predicate as cosign writes it: a ``custom`` predicate wraps the file's text, any other is the
    file's JSON with the keys of every object sorted (cosign re-marshals it as a map). cosign also drops
    the fields a typed predicate (slsaprovenance, ...) does not define; airlock keeps what it was given."""
    if predicate_type == "custom":
        predicate: Any = {"Data": predicate_bytes.decode(errors="replace"),
                          "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    else:
        try:
            predicate = json.loads(predicate_bytes, object_pairs_hook=lambda pairs: dict(sorted(pairs)))
        except ValueError as exc:
            from airlock.errors import UsageError

            raise UsageError(f"--predicate: not JSON (a {predicate_type} predicate must be JSON)") from exc
    return predicate
