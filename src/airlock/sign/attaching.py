"""Attaching signatures, attestations and bundles to an image, in a registry or an OCI layout.

Legacy signatures accumulate as layers of one ``sha256-<hex>.sig`` manifest (``.att`` for
attestations): attaching reads the manifest, appends a layer and writes it back. That is a
read-modify-write on a tag, racy by design in cosign. Here every write is followed by a
read-back, and a signature lost to a concurrent writer is merged again (bounded retries), so
two concurrent ``sign`` runs keep both signatures or one fails cleanly. Blobs are always pushed
before the manifest that names them, so an interrupted attach leaves the previous signatures
as they were. In a layout, index.json updates are serialised with a lock file, and signing many
images in one run (``LayoutTarget.batch``) reads and writes index.json once, not per signature.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from airlock.errors import AttachError
from airlock.media_types import (
    ANNOTATION_BUNDLE_CONTENT,
    ANNOTATION_BUNDLE_PREDICATE_TYPE,
    ANNOTATION_CREATED,
    ANNOTATION_SIGNATURE,
    BUNDLE_V03,
)
from airlock.oci import layout as oci
from airlock.oci.attach import existing_layers, signature_manifest
from airlock.oci.reference import signature_tag
from airlock.oci.sources import SUBJECT

Layer = tuple[str, bytes, dict[str, str]]
RETRIES = 8


def _same_claims(old: Layer, new: Layer) -> bool:
    def claims(layer: Layer) -> dict[str, str]:
        return {k: v for k, v in layer[2].items() if k != ANNOTATION_SIGNATURE}

    return old[0] == new[0] and old[1] == new[1] and claims(old) == claims(new)


def merge(layers: list[Layer], new: Layer, already_signed: Callable[[Layer], bool] | None) -> list[Layer] | None:
    """The layers with ``new`` appended, or None when an equivalent signature is already there
    (cosign's rule: same payload, media type and annotations, and a signature that verifies with
    this signer's key)."""
    for old in layers:
        if old == new or (_same_claims(old, new) and already_signed is not None and already_signed(old)):
            return None
    return [*layers, new]


class RegistryTarget:
    def __init__(self, client: Any, registry: str, repository: str) -> None:
        self.client, self.registry, self.repository = client, registry, repository

    def layers(self, digest: str, suffix: str) -> list[Layer]:
        found = self.client.head_manifest(self.registry, self.repository, signature_tag(digest, suffix))
        if found is None:
            return []
        manifest = self.client.get_manifest(self.registry, self.repository, found.digest)
        return existing_layers(manifest.data, lambda d, size: self.client.get_blob(self.registry, self.repository, d,
                                                                                    limit=max(size, 1)))

    def write(self, digest: str, suffix: str, layers: list[Layer]) -> None:
        manifest, config, blobs = signature_manifest(layers)
        for blob in (config, *blobs):
            self.client.put_blob(self.registry, self.repository, blob.data, digest=blob.digest)
        self.client.put_manifest(self.registry, self.repository, signature_tag(digest, suffix), manifest.data,
                                 oci.OCI_MANIFEST)

    def delete(self, digest: str, suffix: str) -> bool:
        found = self.client.head_manifest(self.registry, self.repository, signature_tag(digest, suffix))
        if found is None:
            return False
        self.client.delete_manifest(self.registry, self.repository, found.digest)
        return True

    def delete_referrers(self, digest: str) -> int:
        """Delete every referrer of ``digest`` and the referrers fallback index, if any."""
        from airlock.oci.registry import referrers_tag

        found = self.client.referrers(self.registry, self.repository, digest)
        for referrer in found:
            self.client.delete_manifest(self.registry, self.repository, referrer["digest"])
        fallback = self.client.head_manifest(self.registry, self.repository, referrers_tag(digest))
        if fallback is not None:
            self.client.delete_manifest(self.registry, self.repository, fallback.digest)
        return len(found)

    def add_referrer(self, digest: str, manifest: bytes, blobs: list[bytes], artifact_type: str) -> str:
        for blob in blobs:
            self.client.put_blob(self.registry, self.repository, blob)
        referrer = oci.sha256_digest(manifest)
        self.client.put_manifest(self.registry, self.repository, referrer, manifest, oci.OCI_MANIFEST)
        self.client.add_referrer(self.registry, self.repository, digest, {
            "mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": referrer, "artifactType": artifact_type})
        return referrer

    def subject(self, digest: str) -> dict:
        manifest = self.client.get_manifest(self.registry, self.repository, digest)
        return {"mediaType": manifest.media_type, "size": len(manifest.data), "digest": digest}

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        yield  # a registry has no lock: the read-back in append() handles concurrent writers


class LayoutTarget:
    def __init__(self, layout: oci.OciLayout) -> None:
        self.layout = layout
        self._index: dict | None = None  # index.json held in memory (and locked) during batch()
        self._changed = False

    def _read_index(self) -> dict:
        if self._index is None:
            return self.layout.read_index()
        return {**self._index, "manifests": list(self._index["manifests"])}

    def _write_index(self, index: dict) -> None:
        if self._index is None:
            self.layout.write_index(index)
        else:
            self._index, self._changed = index, True

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the layout lock and index.json in memory while many signatures are attached;
        index.json is written once at the end (also when one of them failed: every entry
        already added names blobs written before it). Blobs are still written as they come."""
        if self._index is not None:
            yield
            return
        with self.locked():
            self._index, self._changed = self.layout.read_index(), False
            try:
                yield
            finally:
                index, changed, self._index = self._index, self._changed, None
                if changed:
                    self.layout.write_index(index)

    def _entry(self, digest: str, suffix: str, index: dict | None = None) -> dict | None:
        kind = {"sig": oci.KIND_SIGS, "att": oci.KIND_ATTS}.get(suffix)
        if kind is None:
            return None  # a layout has no .sbom attachments
        for entry in (index or self._read_index())["manifests"]:
            notes = entry.get("annotations") or {}
            if notes.get(oci.KIND) == kind and notes.get(SUBJECT, digest) == digest:
                return entry
        return None

    def layers(self, digest: str, suffix: str) -> list[Layer]:
        entry = self._entry(digest, suffix)
        if entry is None:
            return []
        data = self.layout.read_blob(entry["digest"], size=entry["size"])
        return existing_layers(data, lambda d, size: self.layout.read_blob(d, size=size, limit=oci.MAX_LAYER_SIZE))

    def write(self, digest: str, suffix: str, layers: list[Layer]) -> None:
        manifest, config, blobs = signature_manifest(layers)
        for blob in (config, *blobs, manifest):
            self.layout.write_blob(blob.data)
        index = self._read_index()
        old = self._entry(digest, suffix, index)
        kind = {"sig": oci.KIND_SIGS, "att": oci.KIND_ATTS}[suffix]
        index["manifests"] = [e for e in index["manifests"] if old is None or e["digest"] != old["digest"]] + [
            {"mediaType": oci.OCI_MANIFEST, "size": len(manifest.data), "digest": manifest.digest,
             "annotations": {oci.KIND: kind, SUBJECT: digest}}]
        self._write_index(index)

    def delete(self, digest: str, suffix: str) -> bool:
        index = self._read_index()
        old = self._entry(digest, suffix, index)
        if old is None:
            return False
        index["manifests"] = [e for e in index["manifests"] if e["digest"] != old["digest"]]
        self._write_index(index)
        return True

    def delete_referrers(self, digest: str) -> int:
        index = self._read_index()
        keep = [e for e in index["manifests"] if not ((e.get("annotations") or {}).get(SUBJECT) == digest
                                                      and oci.KIND not in (e.get("annotations") or {}))]
        removed = len(index["manifests"]) - len(keep)
        if removed:
            index["manifests"] = keep
            self._write_index(index)
        return removed

    def add_referrer(self, digest: str, manifest: bytes, blobs: list[bytes], artifact_type: str) -> str:
        for blob in (*blobs, manifest):
            self.layout.write_blob(blob)
        referrer = oci.sha256_digest(manifest)
        index = self._read_index()
        index["manifests"].append({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": referrer,
                                   "artifactType": artifact_type, "annotations": {SUBJECT: digest}})
        self._write_index(index)
        return referrer

    def subject(self, digest: str) -> dict:
        for entry in self._read_index()["manifests"]:
            if entry["digest"] == digest:
                return {"mediaType": entry["mediaType"], "size": entry["size"], "digest": digest}
        raise AttachError(f"OCI layout {self.layout.path}: no image {digest}")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        import fcntl

        if self._index is not None:  # batch() holds the lock already (flock is per open file)
            yield
            return
        with open(os.path.join(self.layout.path, ".airlock.lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def append(target: Any, digest: str, suffix: str, layer: Layer,
           already_signed: Callable[[Layer], bool] | None = None) -> bool:
    """Add ``layer`` to the image's ``.sig``/``.att`` manifest; False if an equivalent one exists.

    A registry has no conditional write, so a concurrent writer that read the manifest before
    ours was written can still overwrite it after our read-back. Every writer therefore checks
    again after a settle time longer than its own read-modify-write took, and merges again if its
    signature is gone: both signatures survive unless writers keep colliding (then an error).
    """
    import random
    import time

    added = False
    with target.locked():
        for _ in range(RETRIES):
            started = time.monotonic()
            merged = merge(target.layers(digest, suffix), layer, already_signed)
            if merged is None and not added:
                return False
            if merged is not None:
                target.write(digest, suffix, merged)
                added = True
            took = time.monotonic() - started
            if not isinstance(target, RegistryTarget):
                return True  # a layout is locked: nobody else wrote meanwhile
            time.sleep(3 * took + 0.2 + random.uniform(0, 0.2))
            if layer in target.layers(digest, suffix):
                return True
    raise AttachError(f"could not attach the signature to {signature_tag(digest, suffix)}: it kept being "
                      "overwritten by concurrent writers")


def bundle_referrer(subject: dict, bundle_json: bytes, predicate_type: str) -> tuple[bytes, list[bytes]]:
    """The referrer manifest cosign v3 attaches for a bundle (FORMATS.md 4.5), and its blobs."""
    from datetime import UTC, datetime

    artifact = BUNDLE_V03
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_EMPTY, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST, "artifactType": artifact},
        "layers": [{"mediaType": artifact, "size": len(bundle_json), "digest": oci.sha256_digest(bundle_json)}],
        "annotations": {ANNOTATION_BUNDLE_CONTENT: "dsse-envelope",
                        ANNOTATION_BUNDLE_PREDICATE_TYPE: predicate_type,
                        ANNOTATION_CREATED: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "subject": subject, "artifactType": artifact,
    }, separators=(",", ":")).encode()
    return manifest, [oci.EMPTY_CONFIG, bundle_json]
