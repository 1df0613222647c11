"""Writing cosign's signature and attestation manifests (FORMATS.md 1.2, 9.4), byte for byte.

Used by signing (``attach``, ``sign``, ``attest``) and by tests that need images signed the way
cosign signs them. A manifest holds one layer per signature; adding a signature appends a layer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from airlock.media_types import OCI_CONFIG, OCI_MANIFEST

ZERO_TIME = "0001-01-01T00:00:00Z"


class Blob(NamedTuple):
    digest: str
    data: bytes


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def signature_manifest(layers: list[tuple[str, bytes, dict[str, str]]]) -> tuple[Blob, Blob, list[Blob]]:
    """(manifest, config, layer blobs) for ``layers`` of (media type, payload, annotations).

    The config is go-containerregistry's empty image config after appending the layers, and the
    JSON field order is Go's, so the digests match what cosign would produce for the same layers.
    """
    payloads = [Blob(_digest(payload), payload) for _, payload, _ in layers]
    config = _compact({
        "architecture": "", "created": ZERO_TIME, "history": [{"created": ZERO_TIME} for _ in layers], "os": "",
        "rootfs": {"type": "layers", "diff_ids": [blob.digest for blob in payloads]}, "config": {},
    })
    descriptors = [
        {"mediaType": media_type, "size": len(payload), "digest": blob.digest,
         **({"annotations": dict(sorted(annotations.items()))} if annotations else {})}
        for (media_type, payload, annotations), blob in zip(layers, payloads, strict=True)
    ]
    manifest = _compact({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": _digest(config)},
        "layers": descriptors,
    })
    return Blob(_digest(manifest), manifest), Blob(_digest(config), config), payloads


def existing_layers(manifest: bytes, read_blob) -> list[tuple[str, bytes, dict[str, str]]]:
    """The layers of an existing signature manifest, to append to (``read_blob(digest, size)``).

    The manifest comes from a registry or a layout: anything but a manifest of well-formed layer
    descriptors is a one-line ``FormatError``."""
    from airlock import _wire
    from airlock.errors import FormatError
    from airlock.oci.reference import is_digest

    document = _wire.loads(manifest, "the signature manifest")
    layers = document.get("layers", []) if isinstance(document, dict) else None
    if not isinstance(layers, list):
        raise FormatError("the signature manifest is not a manifest with a layers list")
    found = []
    for position, layer in enumerate(layers):
        what = f"the signature manifest layers[{position}]"
        if not isinstance(layer, dict) or not isinstance(layer.get("mediaType"), str) \
                or not is_digest(layer.get("digest")) or not isinstance(layer.get("size"), int) \
                or isinstance(layer.get("size"), bool) or layer["size"] < 0:
            raise FormatError(f"{what}: not a descriptor with a mediaType, sha256 digest and size")
        annotations = layer.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise FormatError(f"{what}: annotations must map strings to strings")
        found.append((layer["mediaType"], read_blob(layer["digest"], layer["size"]), dict(annotations)))
    return found
