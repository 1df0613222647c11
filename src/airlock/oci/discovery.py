"""Finding the signatures of an image digest, in a registry or in an OCI layout.

cosign keeps them in two places (FORMATS.md 1.1, 4.5): legacy signatures and attestations as
layers of the manifests tagged ``sha256-<hex>.sig`` / ``.att`` in the image's repository, and
cosign v3 Sigstore bundles as OCI referrers of the digest (Referrers API, or the
``sha256-<hex>`` fallback index). Both kinds are read through one small ``ImageSource``
protocol, so a registry and a layout are searched the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol

from airlock import _wire
from airlock.errors import AirlockError, FormatError
from airlock.formats.cosign import Layer
from airlock.oci.layout import MAX_LAYER_SIZE, MAX_MANIFEST_SIZE
from airlock.oci.reference import is_digest, signature_tag

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
    """One candidate signature. ``error``: it could not even be read (a junk layer, a missing
    blob, a malformed referrer); it is judged, and fails, on its own, so it cannot hide the others."""

    where: str
    layer: Layer | None = None  # a legacy signature or attestation layer
    bundle: bytes | None = None  # a Sigstore bundle attached as a referrer
    error: AirlockError | None = None


def _document(data: bytes, what: str) -> dict:
    document = _wire.loads(data, what)
    if not isinstance(document, dict):
        raise FormatError(f"{what}: not a JSON object")
    return document


def _descriptor(item: object, what: str) -> tuple[str, str, int, dict]:
    if not isinstance(item, dict):
        raise FormatError(f"{what} is not an object")
    digest, media_type, size = item.get("digest"), item.get("mediaType", ""), item.get("size")
    if not is_digest(digest) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise FormatError(f"{what} has no valid sha256 digest or size")
    if not isinstance(media_type, str):
        raise FormatError(f"{what} has a mediaType that is not a string")
    annotations = item.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise FormatError(f"{what} has annotations that are not strings")
    return digest, media_type, size, annotations


def legacy_layers(source: ImageSource, digest: str, suffix: str = "sig") -> Iterator[Found]:
    """The layers of the ``sha256-<hex>.<suffix>`` manifest: one signature (or attestation) each,
    read one at a time. A layer that cannot be read is one failed candidate; a manifest that
    cannot be read is one failed candidate for all of them."""
    tag = signature_tag(digest, suffix)
    try:
        manifest_digest = source.tagged(tag)
        if manifest_digest is None:
            return
        manifest = _document(source.manifest(manifest_digest), f"the manifest {manifest_digest}")
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            raise FormatError(f"the manifest {manifest_digest} has no layers")
        if len(layers) > MAX_LAYERS:
            raise FormatError(f"the manifest {manifest_digest} has more than {MAX_LAYERS} layers")
    except AirlockError as exc:
        yield Found(tag, error=exc)
        return
    for index, item in enumerate(layers):
        where = f"{tag} layer {index}"
        try:
            layer_digest, media_type, size, annotations = _descriptor(item, "the layer descriptor")
            payload = source.blob(layer_digest, size, MAX_LAYER_SIZE)
        except AirlockError as exc:
            yield Found(where, error=exc)
            continue
        yield Found(where, layer=Layer(media_type, payload, dict(annotations)))


def bundle_referrers(source: ImageSource, digest: str) -> Iterator[Found]:
    """Sigstore bundles attached to ``digest`` as referrers, read one at a time; other referrers
    are skipped. A referrer that cannot be read is one failed candidate."""
    try:
        items = source.referrers(digest)
    except AirlockError as exc:
        yield Found(f"referrers of {digest}", error=exc)
        return
    for position, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        kind = item.get("artifactType")
        if not isinstance(kind, str) or not kind.startswith(BUNDLE_PREFIX):
            continue
        named = item.get("digest")
        where = f"referrer {named}" if is_digest(named) else f"referrer #{position}"
        try:
            bundle = _referrer_bundle(source, item, digest)
        except AirlockError as exc:
            yield Found(where, error=exc)
            continue
        yield Found(where, bundle=bundle)


def _referrer_bundle(source: ImageSource, item: dict, digest: str) -> bytes:
    referrer_digest, _, _, _ = _descriptor(item, "the referrer descriptor")
    manifest = _document(source.manifest(referrer_digest), "the referrer manifest")
    subject = manifest.get("subject")
    if not isinstance(subject, dict) or subject.get("digest") != digest:
        raise FormatError(f"its subject is not {digest}")
    layers = manifest.get("layers")
    layers = [layer for layer in layers if isinstance(layer, dict) and isinstance(layer.get("mediaType"), str)
              and layer["mediaType"].startswith(BUNDLE_PREFIX)] if isinstance(layers, list) else []
    if len(layers) != 1:
        raise FormatError("expected exactly one bundle layer")
    layer_digest, _, size, _ = _descriptor(layers[0], "the bundle layer descriptor")
    return source.blob(layer_digest, size, MAX_MANIFEST_SIZE)
