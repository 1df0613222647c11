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

import os
from collections.abc import Callable
from typing import Any

from airlock._wire import loads
from airlock.errors import UsageError
from airlock.oci import layout as oci
from airlock.oci.reference import Reference, signature_tag
from airlock.oci.registry import (
    MAX_ATTESTATION_SIZE,
    MAX_MANIFEST_SIZE,
    MAX_SIGNATURE_SIZE,
    FetchBudget,
    Manifest,
    RegistryError,
)
from airlock.oci.sources import SUBJECT

Progress = Callable[[str], None]
MAX_IMAGE_LAYER = 16 * 1024 * 1024 * 1024


def _children(document: dict, media_type: str) -> list[dict]:
    """The descriptors under a manifest or index (its shape was checked by the registry client)."""
    if media_type in oci.INDEX_TYPES:
        return list(document.get("manifests") or [])
    return [document["config"], *document.get("layers", [])]


class _Copy:
    """One ``save``: where from, where to, and (for signatures) the budget of what may be fetched."""

    def __init__(self, client: Any, registry: str, repository: str, layout: oci.OciLayout, say: Progress,
                 budget: FetchBudget | None = None, item_limit: int = MAX_IMAGE_LAYER) -> None:
        self.client, self.registry, self.repository = client, registry, repository
        self.layout, self.say = layout, say
        self.budget, self.item_limit = budget, item_limit
        self.seen: set[str] = set()

    def manifest(self, digest: str) -> Manifest:
        manifest = self.client.get_manifest(self.registry, self.repository, digest)
        if self.budget is not None:
            self.budget.take(len(manifest.data), f"manifest {digest}", limit=MAX_MANIFEST_SIZE)
        return manifest

    def tree(self, manifest: Manifest, descriptor: dict, depth: int = 0) -> None:
        """Copy a manifest or index and everything under it from the registry into the layout.

        Blobs are streamed to disk (digest- and size-checked, then renamed into place); the
        manifest itself is written last, once everything it references is there.
        """
        if depth > oci.MAX_DEPTH:
            raise oci.LayoutError(f"{descriptor['digest']} is nested deeper than {oci.MAX_DEPTH} levels")
        if manifest.media_type != descriptor["mediaType"]:
            raise RegistryError(f"registry {self.registry}: manifest {manifest.digest} is served as "
                                f"{manifest.media_type}, but it is listed as {descriptor['mediaType']}")
        document = oci.parse_json(manifest.data, f"manifest {manifest.digest}")
        children = _children(document, manifest.media_type)
        if self.budget is not None:
            self.budget.expect(len(children), f"manifest {manifest.digest}")
        for child in children:
            child = oci.check_descriptor(child, f"manifest {manifest.digest}")
            if child["digest"] in self.seen:
                continue
            self.seen.add(child["digest"])
            if child["mediaType"] in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
                self.tree(self.manifest(child["digest"]), child, depth + 1)
            elif not self.layout.has_blob(child["digest"]):
                self.blob(child)
        self.layout.write_blob(manifest.data)

    def blob(self, descriptor: dict) -> None:
        digest, size = descriptor["digest"], descriptor["size"]
        if self.budget is not None:
            self.budget.take(size, f"blob {digest}", limit=self.item_limit)
        elif size > self.item_limit:
            raise RegistryError(f"registry {self.registry}: blob {digest} claims {size} bytes, over the "
                                f"limit of {self.item_limit}")
        path = self.layout._blob_path(digest)  # a checked sha256 digest: blobs/sha256/<hex>, inside the layout
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as exc:
            raise oci.LayoutError(f"OCI layout {self.layout.path}: cannot create blobs/sha256: "
                                  f"{exc.strerror or exc}") from None
        self.layout._check_directories()  # never write through a symlinked blobs directory
        self.client.copy_blob_to(self.registry, self.repository, digest, path, size=size)
        self.say(f"  blob {digest} ({size} bytes)")


def save(client: Any, reference: Reference, layout: oci.OciLayout, *, say: Progress = lambda _: None,
         signatures: tuple[str, str] | None = None) -> str:
    """Save ``reference`` (image, signatures, attestations, bundles) into ``layout``; return its digest.

    Image layers are streamed to disk. What belongs to the signatures (the .sig and .att trees,
    the referrers) is fetched under one ``FetchBudget`` per image: a registry cannot make ``save``
    fetch without bound. index.json is written last, so a failed save leaves the layout as it
    was, plus at most some verified, unreferenced blobs.
    """
    registry, repository = reference.registry, reference.repository
    head = client.get_manifest(registry, repository, reference.identifier)
    digest = head.digest
    say(f"Saving {reference.name}@{digest}")
    kind = oci.KIND_IMAGE_INDEX if head.media_type in oci.INDEX_TYPES else oci.KIND_IMAGE
    image_descriptor = {"mediaType": head.media_type, "size": len(head.data), "digest": digest}
    _Copy(client, registry, repository, layout, say).tree(head, image_descriptor)
    entries = [{**image_descriptor, "annotations": {oci.KIND: kind, oci.REF_NAME: str(reference)}}]
    sig_registry, sig_repository = signatures or (registry, repository)
    budget = FetchBudget(f"signatures of {digest}")
    for suffix, sig_kind, limit in (("sig", oci.KIND_SIGS, MAX_SIGNATURE_SIZE),
                                    ("att", oci.KIND_ATTS, MAX_ATTESTATION_SIZE)):
        found = client.head_manifest(sig_registry, sig_repository, signature_tag(digest, suffix))
        if found is None:
            continue
        copy = _Copy(client, sig_registry, sig_repository, layout, say, budget, limit)
        manifest = copy.manifest(found.digest)
        descriptor = {"mediaType": manifest.media_type, "size": len(manifest.data), "digest": manifest.digest}
        copy.tree(manifest, descriptor)
        entries.append({**descriptor, "annotations": {oci.KIND: sig_kind, SUBJECT: digest}})
        say(f"  {suffix} manifest {found.digest}")
    copy = _Copy(client, sig_registry, sig_repository, layout, say, budget, MAX_ATTESTATION_SIZE)
    for referrer in client.referrers(sig_registry, sig_repository, digest):
        manifest = copy.manifest(referrer["digest"])
        descriptor = {"mediaType": manifest.media_type, "size": len(manifest.data), "digest": manifest.digest}
        copy.tree(manifest, descriptor)
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
            size = _push_blob(client, registry, repository, layout, item)
            say(f"  blob {item['digest']} ({size} bytes)")


def _push_blob(client: Any, registry: str, repository: str, layout: oci.OciLayout, descriptor: dict) -> int:
    """Upload a layout blob from its file, never all in memory: checked as ``read_blob`` checks
    (no symlink, a regular file of the descriptor's size, the right digest), then streamed. The
    registry checks the digest again as it stores the blob."""
    import hashlib
    import stat

    digest, size = descriptor["digest"], descriptor["size"]
    where = f"OCI layout {layout.path}: blob {digest}"
    if size > MAX_IMAGE_LAYER:
        raise oci.LayoutError(f"{where} claims {size} bytes, over the limit of {MAX_IMAGE_LAYER}")
    path = layout._blob_path(digest)  # a checked sha256 digest: blobs/sha256/<hex>, inside the layout
    layout._check_directories()
    try:  # O_NONBLOCK: a FIFO planted as a blob must not block the open
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise oci.LayoutError(f"{where} is missing") from None
    except OSError as exc:
        raise oci.LayoutError(f"{where}: cannot read it ({exc.strerror or exc}; a symlink?)") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise oci.LayoutError(f"{where} is not a regular file")
        if info.st_size != size:
            raise oci.LayoutError(f"{where} is {info.st_size} bytes, the descriptor says {size}")
        hasher, total = hashlib.sha256(), 0
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)
            total += len(chunk)
        if total != size or f"sha256:{hasher.hexdigest()}" != digest:
            raise oci.LayoutError(f"{where} does not match its digest or size")
        handle.seek(0)
        client.put_blob(registry, repository, handle, digest=digest)
    return size


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
        document = loads(manifest, f"OCI layout {layout.path}: referrer {referrer['digest']}")  # walked: a manifest
        descriptor = {"mediaType": referrer["mediaType"], "size": len(manifest), "digest": referrer["digest"]}
        artifact = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
        if artifact:
            descriptor["artifactType"] = artifact
        client.add_referrer(registry, repository, digest, descriptor)
        say(f"  referrer {referrer['digest']}")
    return digest
