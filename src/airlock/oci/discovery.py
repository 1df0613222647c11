"""Finding the signatures of an image digest, in a registry or in an OCI layout.

cosign keeps them in two places (FORMATS.md 1.1, 4.5): legacy signatures and attestations as
layers of the manifests tagged ``sha256-<hex>.sig`` / ``.att`` in the image's repository, and
cosign v3 Sigstore bundles as OCI referrers of the digest (Referrers API, or the
``sha256-<hex>`` fallback index). Both kinds are read through one small ``ImageSource``
protocol, so a registry and a layout are searched the same way.
"""

from __future__ import annotations

import json
from typing import NamedTuple, Protocol

from airlock.errors import FormatError
from airlock.formats.cosign import Layer
from airlock.oci.layout import MAX_LAYER_SIZE, MAX_MANIFEST_SIZE
from airlock.oci.reference import signature_tag

BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
MAX_LAYERS = 1000  # signatures honoured per manifest, as cosign


class ImageSource(Protocol):
    """What discovery needs from a registry or a layout. Every read is digest-checked by the source."""

    def manifest(self, digest: str) -> bytes: ...

    def blob(self, digest: str, size: int, limit: int) -> bytes: ...

    def tagged(self, tag: str) -> str | None:
        """The digest a tag in the image's repository points at, or None."""

    def referrers(self, digest: str) -> list[dict]: ...


class Found(NamedTuple):
    where: str
    layer: Layer | None = None  # a legacy signature or attestation layer
    bundle: bytes | None = None  # a Sigstore bundle attached as a referrer


def _document(data: bytes, what: str) -> dict:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{what}: not JSON") from exc
    if not isinstance(document, dict):
        raise FormatError(f"{what}: not a JSON object")
    return document


def _descriptor(item: object, what: str) -> tuple[str, str, int, dict]:
    if not isinstance(item, dict):
        raise FormatError(f"{what}: a descriptor is not an object")
    digest, media_type, size = item.get("digest"), item.get("mediaType", ""), item.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise FormatError(f"{what}: a descriptor has no valid digest or size")
    annotations = item.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise FormatError(f"{what}: descriptor annotations must be strings")
    return digest, str(media_type), size, annotations


def legacy_layers(source: ImageSource, digest: str, suffix: str = "sig") -> list[Found]:
    """The layers of the ``sha256-<hex>.<suffix>`` manifest: one signature (or attestation) each."""
    tag = signature_tag(digest, suffix)
    manifest_digest = source.tagged(tag)
    if manifest_digest is None:
        return []
    manifest = _document(source.manifest(manifest_digest), tag)
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise FormatError(f"{tag}: the manifest has no layers")
    if len(layers) > MAX_LAYERS:
        raise FormatError(f"{tag}: more than {MAX_LAYERS} signatures")
    found = []
    for index, item in enumerate(layers):
        layer_digest, media_type, size, annotations = _descriptor(item, tag)
        payload = source.blob(layer_digest, size, MAX_LAYER_SIZE)
        found.append(Found(f"{tag} layer {index}", layer=Layer(media_type, payload, dict(annotations))))
    return found


def bundle_referrers(source: ImageSource, digest: str) -> list[Found]:
    """Sigstore bundles attached to ``digest`` as referrers; other referrers are skipped."""
    found = []
    for item in source.referrers(digest):
        if not isinstance(item, dict):
            continue
        kind = item.get("artifactType") or ""
        if not str(kind).startswith(BUNDLE_PREFIX):
            continue
        referrer_digest, _, _, _ = _descriptor(item, "referrer")
        manifest = _document(source.manifest(referrer_digest), f"referrer {referrer_digest}")
        if (manifest.get("subject") or {}).get("digest") != digest:
            raise FormatError(f"referrer {referrer_digest}: its subject is not {digest}")
        layers = [layer for layer in manifest.get("layers") or []
                  if isinstance(layer, dict) and str(layer.get("mediaType", "")).startswith(BUNDLE_PREFIX)]
        if len(layers) != 1:
            raise FormatError(f"referrer {referrer_digest}: expected exactly one bundle layer")
        layer_digest, _, size, _ = _descriptor(layers[0], f"referrer {referrer_digest}")
        found.append(Found(f"referrer {referrer_digest}", bundle=source.blob(layer_digest, size, MAX_MANIFEST_SIZE)))
    return found
