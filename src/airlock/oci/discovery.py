"""Finding the signatures of an image digest, in a registry or in an OCI layout.

cosign keeps them in two places (FORMATS.md 1.1, 4.5): legacy signatures and attestations as
layers of the manifests tagged ``sha256-<hex>.sig`` / ``.att`` in the image's repository, and
cosign v3 Sigstore bundles as OCI referrers of the digest (Referrers API, or the
``sha256-<hex>`` fallback index). Both kinds are read through one small ``ImageSource``
protocol, so a registry and a layout are searched the same way.

What is fetched is bounded (``airlock.oci.registry.FetchBudget``, one per image, shared by the
.sig/.att layers and the referrers), and each item is fetched only once the previous one has
been judged, so memory holds one signature at a time:

- one item over its own limit (a .sig layer or a bundle claiming more than
  ``MAX_SIGNATURE_SIZE``, an .att layer more than ``MAX_ATTESTATION_SIZE``) is not fetched: it is
  one failed candidate, judged on its own, so it cannot hide a good signature beside it (as
  cosign, whose per-layer size check fails only that signature);
- more than ``MAX_SIGNATURES`` items (a .sig manifest listing more layers, too many referrers)
  or more than ``MAX_SIGNATURE_BYTES`` in all stops discovery with ``BudgetExceeded``, before the
  items over the count are fetched: a registry answering that is hostile or broken, and nothing
  it lists is trusted (as cosign refuses a .sig manifest of more than 1000 layers as a whole;
  cosign has no total, and caps ``download signature`` at 100 signatures, not ``verify``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol

from airlock import _wire
from airlock.errors import AirlockError, BudgetExceeded, FormatError
from airlock.formats.cosign import Layer
from airlock.media_types import ANNOTATION_BUNDLE_PREDICATE_TYPE, BUNDLE_PREFIX, DOCKER_MANIFEST_LIST, OCI_INDEX
from airlock.oci.reference import is_digest, signature_tag
from airlock.oci.registry import MAX_ATTESTATION_SIZE, MAX_SIGNATURE_SIZE, FetchBudget


class ImageSource(Protocol):
    """What discovery needs from a registry or a layout. Every read is digest-checked by the source."""

    def manifest(self, digest: str) -> bytes: ...

    def blob(self, digest: str, size: int, limit: int) -> bytes: ...

    def tagged(self, tag: str) -> str | None:
        """The digest a tag in the image's repository points at, or None."""

    def referrers(self, digest: str) -> list[dict]: ...

    # optional: ``tagged_manifest(tag) -> (digest, bytes) | None``, the manifest a tag points at in
    # one read (a registry's GET by tag, digest-checked against its Docker-Content-Digest) instead
    # of ``tagged`` then ``manifest`` (a HEAD, then a GET by digest)


class Found(NamedTuple):
    """One candidate signature. ``error``: it could not even be read (a junk layer, a missing
    blob, a malformed referrer, one over its size limit); it is judged, and fails, on its own, so
    it cannot hide the others."""

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
    if not isinstance(digest, str) or not is_digest(digest) or not isinstance(size, int) or isinstance(size, bool) \
            or size < 0:
        raise FormatError(f"{what} has no valid sha256 digest or size")
    if not isinstance(media_type, str):
        raise FormatError(f"{what} has a mediaType that is not a string")
    annotations = item.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise FormatError(f"{what} has annotations that are not strings")
    return digest, media_type, size, annotations


def budget_for(digest: str) -> FetchBudget:
    """The fetch budget of the signatures, attestations and referrers of one image."""
    return FetchBudget(f"signatures of {digest}")


def signatures(source: ImageSource, digest: str, *, attestation: bool = False, bundles: bool = True,
               legacy: bool = True) -> Iterator[Found]:
    """Every candidate signature (or attestation) of ``digest``, read lazily under one budget:
    the Sigstore bundle referrers, then the legacy .sig (or .att) layers."""
    budget = budget_for(digest)
    if bundles:
        yield from bundle_referrers(source, digest, budget,
                                    limit=MAX_ATTESTATION_SIZE if attestation else MAX_SIGNATURE_SIZE)
    if legacy:
        yield from legacy_layers(source, digest, "att" if attestation else "sig", budget)


def _tagged_manifest(source: ImageSource, tag: str) -> tuple[str, bytes] | None:
    digest = source.tagged(tag)
    return None if digest is None else (digest, source.manifest(digest))


def legacy_layers(source: ImageSource, digest: str, suffix: str = "sig", budget: FetchBudget | None = None
                  ) -> Iterator[Found]:
    """The layers of the ``sha256-<hex>.<suffix>`` manifest: one signature (or attestation) each,
    fetched one at a time, each only when the previous one has been consumed. A layer that cannot
    be read (or is over its size limit) is one failed candidate; a manifest that cannot be read is
    one failed candidate for all of them. ``BudgetExceeded`` (more layers or bytes than the
    budget allows) stops discovery."""
    budget = budget if budget is not None else budget_for(digest)
    limit = MAX_ATTESTATION_SIZE if suffix == "att" else MAX_SIGNATURE_SIZE
    tag = signature_tag(digest, suffix)
    try:
        read = getattr(source, "tagged_manifest", None)
        found = read(tag) if read is not None else _tagged_manifest(source, tag)
        if found is None:
            return
        manifest_digest, data = found
        budget.charge(len(data), f"the manifest {manifest_digest}")
        manifest = _document(data, f"the manifest {manifest_digest}")
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            raise FormatError(f"the manifest {manifest_digest} has no layers")
        budget.expect(len(layers), tag)  # before any layer is fetched
    except BudgetExceeded:
        raise
    except AirlockError as exc:
        yield Found(tag, error=exc)
        return
    for index, item in enumerate(layers):
        where = f"{tag} layer {index}"
        try:
            layer_digest, media_type, size, annotations = _descriptor(item, "the layer descriptor")
            budget.take(size, where, limit=limit)
            payload = source.blob(layer_digest, size, size)  # never read past what the descriptor claims
        except BudgetExceeded:
            raise
        except AirlockError as exc:
            yield Found(where, error=exc)
            continue
        yield Found(where, layer=Layer(media_type, payload, dict(annotations)))


def bundle_referrers(source: ImageSource, digest: str, budget: FetchBudget | None = None, *,
                     limit: int = MAX_SIGNATURE_SIZE) -> Iterator[Found]:
    """Sigstore bundles attached to ``digest`` as referrers, fetched one at a time (each bundle at
    most ``limit`` bytes); other referrers are skipped. A referrer that cannot be read is one
    failed candidate; ``BudgetExceeded`` (too many referrers, too many bytes) stops discovery."""
    budget = budget if budget is not None else budget_for(digest)
    try:
        items = source.referrers(digest)
    except BudgetExceeded:
        raise
    except AirlockError as exc:
        yield Found(f"referrers of {digest}", error=exc)
        return
    bundles = [(position, item) for position, item in enumerate(items if isinstance(items, list) else [])
               if isinstance(item, dict) and isinstance(item.get("artifactType"), str)
               and item["artifactType"].startswith(BUNDLE_PREFIX)]
    budget.expect(len(bundles), f"the referrers of {digest}")  # a layout's listing has no other bound
    for position, item in bundles:
        named = item.get("digest")
        where = f"referrer {named}" if is_digest(named) else f"referrer #{position}"
        try:
            bundle = _referrer_bundle(source, item, digest, budget, where, limit)
        except BudgetExceeded:
            raise
        except AirlockError as exc:
            yield Found(where, error=exc)
            continue
        yield Found(where, bundle=bundle)


def _referrer_bundle(source: ImageSource, item: dict, digest: str, budget: FetchBudget, where: str,
                     limit: int) -> bytes:
    referrer_digest, _, _, _ = _descriptor(item, "the referrer descriptor")
    data = source.manifest(referrer_digest)
    budget.charge(len(data), f"the manifest of {where}")
    manifest = _document(data, "the referrer manifest")
    subject = manifest.get("subject")
    if not isinstance(subject, dict) or subject.get("digest") != digest:
        raise FormatError(f"its subject is not {digest}")
    layers = manifest.get("layers")
    layers = [layer for layer in layers if isinstance(layer, dict) and isinstance(layer.get("mediaType"), str)
              and layer["mediaType"].startswith(BUNDLE_PREFIX)] if isinstance(layers, list) else []
    if len(layers) != 1:
        raise FormatError("expected exactly one bundle layer")
    layer_digest, _, size, _ = _descriptor(layers[0], "the bundle layer descriptor")
    budget.take(size, f"the bundle of {where}", limit=limit)
    return source.blob(layer_digest, size, size)


# -- what is attached to an image, as ``cosign tree`` lists it ------------------------------------------

LEGACY_KINDS = ("att", "sig", "sbom")  # the .att, .sig and .sbom tags, in the order cosign tree reads them


class Attached(NamedTuple):
    """One group of artifacts attached to an image, as ``cosign tree`` groups them: the layers of a
    legacy ``sha256-<hex>.<kind>`` manifest (``kind`` ``att``, ``sig`` or ``sbom``, ``where`` the
    tag), or of a referrer (``kind`` ``referrer``, ``where`` its manifest digest, ``artifact_type``
    its artifact type, or the bundle's predicate type its manifest names). ``layers`` are the
    digests its manifest lists (nothing is fetched but manifests). ``error``: a referrer that could
    not be read (cosign skips it with a message)."""

    kind: str
    where: str
    layers: tuple[str, ...] = ()
    artifact_type: str = ""
    error: AirlockError | None = None


def _layer_digests(data: bytes, what: str) -> tuple[str, ...]:
    manifest = _document(data, what)
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise FormatError(f"{what} has no layers")
    return tuple(_descriptor(item, f"a layer descriptor of {what}")[0] for item in layers)


def _is_index(manifest: dict, media_type: str = "") -> bool:
    """Whether a manifest is an image index (or a Docker manifest list): by its descriptor's or its
    own media type, or, naming none, by listing manifests and no layers."""
    if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST) or manifest.get("mediaType") in (OCI_INDEX,
                                                                                        DOCKER_MANIFEST_LIST):
        return True
    return not manifest.get("mediaType") and "manifests" in manifest and "layers" not in manifest


def _for_linux_amd64(item: object, what: str) -> bool:
    """Whether an index entry is for linux/amd64 as go-containerregistry's default platform
    matches it (cosign's ``remote.Image`` of an index): an entry naming no platform is taken to be
    linux/amd64; one naming a platform must name that OS and architecture, whatever its variant,
    OS version or features."""
    platform = item.get("platform") if isinstance(item, dict) else None
    if platform is None:
        return True
    if not isinstance(platform, dict) or not all(isinstance(platform.get(key, ""), str)
                                                 for key in ("os", "architecture")):
        raise FormatError(f"{what} has a platform that is not an object of strings")
    return platform.get("os") == "linux" and platform.get("architecture") == "amd64"


def _referrer_image(source: ImageSource, budget: FetchBudget, referrer_digest: str, name: str
                    ) -> tuple[str, bytes]:
    """The digest and bytes of the image manifest a referrer stands for: the referrer's own
    manifest, or, for an image index, its first linux/amd64 entry (cosign's default platform). An
    index whose entry is an index again is not followed (cosign recurses; here one level only), so
    a referrer costs at most two manifest reads, both charged to the budget."""
    data = source.manifest(referrer_digest)
    budget.charge(len(data), f"the manifest of referrer {referrer_digest}")
    manifest = _document(data, f"the referrer manifest {referrer_digest}")
    if not _is_index(manifest):
        return referrer_digest, data
    entries = manifest.get("manifests")
    if not isinstance(entries, list):
        raise FormatError(f"the referrer index {referrer_digest} has no manifests")
    what = f"an entry of the referrer index {referrer_digest}"
    chosen = next((item for item in entries if _for_linux_amd64(item, what)), None)
    if chosen is None:  # cosign's (go-containerregistry's) words
        raise FormatError(f"no child with platform linux/amd64 in index {name}@{referrer_digest}" if name
                          else f"no child with platform linux/amd64 in index {referrer_digest}")
    child_digest, media_type, _, _ = _descriptor(chosen, what)
    data = source.manifest(child_digest)
    budget.charge(len(data), f"the manifest {child_digest} of referrer {referrer_digest}")
    child = _document(data, f"the manifest {child_digest}")
    if _is_index(child, media_type):
        raise FormatError(f"the linux/amd64 entry {child_digest} of the referrer index {referrer_digest} is an "
                          "index again: not followed")
    return child_digest, data


def attached(source: ImageSource, digest: str, *, name: str = "") -> list[Attached]:
    """What is attached to ``digest``: the .att, .sig and .sbom manifests that exist (a legacy
    manifest that cannot be read is an error, as in cosign), then the referrers with an artifact
    type, in the order listed (one that cannot be read is an ``Attached`` with its ``error``). A
    referrer that is an image index stands for its linux/amd64 image, as in cosign. Manifests only,
    under one fetch budget; ``BudgetExceeded`` stops discovery. ``name``: the image's repository,
    as cosign names an index in its error."""
    budget = budget_for(digest)
    found: list[Attached] = []
    for kind in LEGACY_KINDS:
        tag = signature_tag(digest, kind)
        manifest_digest = source.tagged(tag)
        if manifest_digest is None:
            continue
        data = source.manifest(manifest_digest)
        budget.charge(len(data), f"the manifest {manifest_digest}")
        layers = _layer_digests(data, f"the manifest {manifest_digest} ({tag})")
        if layers:  # cosign lists a tag only when its manifest has layers
            found.append(Attached(kind, tag, layers))
    items = source.referrers(digest)
    typed = [item for item in (items if isinstance(items, list) else [])
             if isinstance(item, dict) and isinstance(item.get("artifactType"), str) and item["artifactType"]]
    budget.expect(len(typed), f"the referrers of {digest}")
    for position, item in enumerate(typed):
        named = item.get("digest")
        where = named if isinstance(named, str) and is_digest(named) else f"referrer #{position}"
        try:
            referrer_digest, _, _, _ = _descriptor(item, "the referrer descriptor")
            image_digest, data = _referrer_image(source, budget, referrer_digest, name)
            manifest = _document(data, f"the referrer manifest {image_digest}")
            annotations = manifest.get("annotations")
            predicate = annotations.get(ANNOTATION_BUNDLE_PREDICATE_TYPE) if isinstance(annotations, dict) else None
            layers = _layer_digests(data, f"the referrer manifest {image_digest}")
        except BudgetExceeded:
            raise
        except AirlockError as exc:
            found.append(Attached("referrer", where, artifact_type=item["artifactType"], error=exc))
            continue
        found.append(Attached("referrer", referrer_digest, layers,
                              predicate if isinstance(predicate, str) else item["artifactType"]))
    return found
