"""``airlock save`` and ``airlock load``: an image with its signatures, across the gap as a layout.

``save`` copies from a registry into an OCI layout: the image (every platform of an index),
its ``.sig`` and ``.att`` manifests, and its Sigstore bundle referrers, each blob digest-checked
on the way. index.json marks them as cosign marks them (``kind``) so ``cosign verify
--local-image`` finds them, plus ``dev.airlock/subject`` so several images can share one
layout. index.json is rewritten only when everything is on disk, so an interrupted save leaves
the layout as it was (and at most some unreferenced blobs).

``load`` pushes the same back into a registry: blobs first, children before parents, then the
image by tag, signatures under ``sha256-<hex>.sig/.att``, referrers by digest (with the
referrers fallback index for registries without the Referrers API).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from airlock.errors import UsageError
from airlock.oci import layout as oci
from airlock.oci.reference import Reference, signature_tag
from airlock.oci.sources import SUBJECT

Progress = Callable[[str], None]
MAX_IMAGE_LAYER = 16 * 1024 * 1024 * 1024


def _children(document: dict, media_type: str) -> list[dict]:
    if media_type in oci.INDEX_TYPES:
        return list(document.get("manifests") or [])
    return [document["config"], *document.get("layers", [])]


def _copy_tree(client: Any, registry: str, repository: str, descriptor: dict, layout: oci.OciLayout,
               say: Progress, depth: int = 0, seen: set[str] | None = None) -> None:
    """Copy a manifest or index and everything under it from the registry into the layout."""
    seen = set() if seen is None else seen
    if depth > oci.MAX_DEPTH:
        raise oci.LayoutError(f"{descriptor['digest']} is nested deeper than {oci.MAX_DEPTH} levels")
    manifest = client.get_manifest(registry, repository, descriptor["digest"])
    document = oci.parse_json(manifest.data, f"manifest {descriptor['digest']}")
    for child in _children(document, manifest.media_type):
        child = oci.check_descriptor(child, f"manifest {descriptor['digest']}")
        if child["digest"] in seen:
            continue
        seen.add(child["digest"])
        if child.get("mediaType") in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
            _copy_tree(client, registry, repository, child, layout, say, depth + 1, seen)
        elif not layout.has_blob(child["digest"]):
            data = client.get_blob(registry, repository, child["digest"], limit=MAX_IMAGE_LAYER)
            layout.write_blob(data)
            say(f"  blob {child['digest']} ({len(data)} bytes)")
    layout.write_blob(manifest.data)


def save(client: Any, reference: Reference, layout: oci.OciLayout, *, say: Progress = lambda _: None,
         signatures: tuple[str, str] | None = None) -> str:
    """Save ``reference`` (image, signatures, attestations, bundles) into ``layout``; return its digest."""
    registry, repository = reference.registry, reference.repository
    head = client.get_manifest(registry, repository, reference.identifier)
    digest = head.digest
    say(f"Saving {reference.name}@{digest}")
    kind = oci.KIND_IMAGE_INDEX if head.media_type in oci.INDEX_TYPES else oci.KIND_IMAGE
    image_descriptor = {"mediaType": head.media_type, "size": len(head.data), "digest": digest}
    _copy_tree(client, registry, repository, image_descriptor, layout, say)
    entries = [{**image_descriptor, "annotations": {oci.KIND: kind, oci.REF_NAME: str(reference)}}]
    sig_registry, sig_repository = signatures or (registry, repository)
    for suffix, sig_kind in (("sig", oci.KIND_SIGS), ("att", oci.KIND_ATTS)):
        found = client.head_manifest(sig_registry, sig_repository, signature_tag(digest, suffix))
        if found is None:
            continue
        descriptor = {"mediaType": found.media_type, "size": 0, "digest": found.digest}
        manifest = client.get_manifest(sig_registry, sig_repository, found.digest)
        descriptor["size"] = len(manifest.data)
        _copy_tree(client, sig_registry, sig_repository, descriptor, layout, say)
        entries.append({**descriptor, "annotations": {oci.KIND: sig_kind, SUBJECT: digest}})
        say(f"  {suffix} manifest {found.digest}")
    for referrer in client.referrers(sig_registry, sig_repository, digest):
        manifest = client.get_manifest(sig_registry, sig_repository, referrer["digest"])
        descriptor = {"mediaType": manifest.media_type, "size": len(manifest.data), "digest": manifest.digest}
        _copy_tree(client, sig_registry, sig_repository, descriptor, layout, say)
        artifact = referrer.get("artifactType")
        entries.append({**descriptor, **({"artifactType": artifact} if artifact else {}),
                        "annotations": {SUBJECT: digest}})
        say(f"  referrer {manifest.digest} ({artifact or 'no artifact type'})")
    index = layout.read_index()
    keep = [e for e in index["manifests"] if (e.get("annotations") or {}).get(SUBJECT) != digest
            and e["digest"] != digest and (e.get("annotations") or {}).get(oci.REF_NAME) != str(reference)]
    index["manifests"] = keep + entries
    layout.write_index(index)
    return digest


def _push_tree(client: Any, registry: str, repository: str, layout: oci.OciLayout, descriptor: dict,
               say: Progress) -> None:
    for item in layout.walk(descriptor):
        if item.get("mediaType") in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
            data = layout.read_blob(item["digest"], size=item.get("size"))
            client.put_manifest(registry, repository, item["digest"], data, item["mediaType"])
        elif not client.blob_exists(registry, repository, item["digest"]):
            data = layout.read_blob(item["digest"], size=item.get("size"), limit=MAX_IMAGE_LAYER)
            client.put_blob(registry, repository, data, digest=item["digest"])
            say(f"  blob {item['digest']} ({len(data)} bytes)")


def load(client: Any, layout: oci.OciLayout, target: Reference, *, image: str | None = None,
         say: Progress = lambda _: None) -> str:
    """Push one image of ``layout`` (with its signatures) to ``target``; return its digest."""
    from airlock.oci.sources import LayoutSource

    source = LayoutSource(layout)
    images = source.images()
    if image is not None:
        images = [e for e in images if image in (e["digest"], (e.get("annotations") or {}).get(oci.REF_NAME))]
    if len(images) != 1:
        names = ", ".join((e.get("annotations") or {}).get(oci.REF_NAME) or e["digest"] for e in source.images())
        raise UsageError(f"the layout holds {len(source.images())} images ({names}); name one with --image")
    entry = images[0]
    digest = entry["digest"]
    registry, repository = target.registry, target.repository
    say(f"Loading {digest} into {target}")
    _push_tree(client, registry, repository, layout, entry, say)
    data = layout.read_blob(digest, size=entry.get("size"))
    client.put_manifest(registry, repository, target.tag or digest, data, entry["mediaType"])
    for suffix in ("sig", "att"):
        manifest_digest = source.tagged(signature_tag(digest, suffix))
        if manifest_digest is None:
            continue
        descriptor = next(e for e in source.entries if e["digest"] == manifest_digest)
        _push_tree(client, registry, repository, layout, descriptor, say)
        client.put_manifest(registry, repository, signature_tag(digest, suffix),
                            layout.read_blob(manifest_digest, size=descriptor.get("size")), descriptor["mediaType"])
        say(f"  {suffix} manifest {manifest_digest}")
    for referrer in source.referrers(digest):
        _push_tree(client, registry, repository, layout, referrer, say)
        manifest = layout.read_blob(referrer["digest"], size=referrer.get("size"))
        document = json.loads(manifest)
        descriptor = {"mediaType": referrer["mediaType"], "size": len(manifest), "digest": referrer["digest"]}
        artifact = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
        if artifact:
            descriptor["artifactType"] = artifact
        client.add_referrer(registry, repository, digest, descriptor)
        say(f"  referrer {referrer['digest']}")
    return digest
