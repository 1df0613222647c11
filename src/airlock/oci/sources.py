"""``ImageSource``s: the places discovery reads signatures from.

``LayoutSource`` reads an OCI image layout written by ``airlock save`` or ``cosign save``.
Several images may share one airlock layout, so airlock marks the signature, attestation and
referrer entries of index.json with the digest they belong to (``dev.airlock/subject``);
cosign's layouts hold one image and carry only ``kind``, and its v3 bundle referrers are
unlisted blobs, found by scanning (once) as cosign does.
"""

from __future__ import annotations

from typing import Any

from airlock.errors import FormatError
from airlock.oci import layout as oci
from airlock.oci.reference import check_digest

SUBJECT = "dev.airlock/subject"
IMAGE_KINDS = (oci.KIND_IMAGE, oci.KIND_IMAGE_INDEX)


class LayoutSource:
    """Signatures and images in one OCI layout. Every read is digest- and size-checked."""

    def __init__(self, layout: oci.OciLayout) -> None:
        self.layout = layout
        self.entries = layout.read_index()["manifests"]
        self._scanned: dict[str, list[dict[str, Any]]] | None = None
        # (kind or None, subject) -> entries: one pass, so a layout of N images is not read N times
        self._by_subject: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
        for entry in self.entries:
            notes = entry.get("annotations") or {}
            if SUBJECT in notes:
                self._by_subject.setdefault((notes.get(oci.KIND), notes[SUBJECT]), []).append(entry)

    def images(self) -> list[dict[str, Any]]:
        """The images of the layout: entries of kind image/imageIndex, else every untyped entry."""
        typed = [e for e in self.entries if (e.get("annotations") or {}).get(oci.KIND) in IMAGE_KINDS]
        if typed:
            return typed
        return [e for e in self.entries if not (e.get("annotations") or {}).get(SUBJECT)
                and e.get("mediaType") in oci.MANIFEST_TYPES | oci.INDEX_TYPES]

    def manifest(self, digest: str) -> bytes:
        return self.layout.read_blob(digest, limit=oci.MAX_MANIFEST_SIZE)

    def blob(self, digest: str, size: int, limit: int) -> bytes:
        return self.layout.read_blob(digest, size=size, limit=limit)

    def tagged(self, tag: str) -> str | None:
        """The .sig/.att manifest of a digest, from index.json (``sha256-<hex>.<suffix>``)."""
        stem, _, suffix = tag.partition(".")
        kind = {"sig": oci.KIND_SIGS, "att": oci.KIND_ATTS}.get(suffix)
        if kind is None:
            return None
        digest = stem.replace("-", ":", 1)
        marked = self._by_subject.get((kind, digest))
        if marked:
            return marked[0]["digest"]
        if self._by_subject:
            return None  # an airlock layout: every signature manifest is marked with its image
        unmarked = [e for e in self.entries if (e.get("annotations") or {}).get(oci.KIND) == kind]
        if unmarked and [i["digest"] for i in self.images()] == [digest]:
            return unmarked[0]["digest"]  # a cosign layout: one image, its sigs/atts by kind alone
        return None

    def referrers(self, digest: str) -> list[dict[str, Any]]:
        check_digest(digest, "subject digest")
        if self._by_subject:
            return list(self._by_subject.get((None, digest), []))
        if self._scanned is None:  # a cosign-made layout: v3 bundles are unlisted blobs
            self._scanned = {}
            for entry in self.layout.scan_manifests():
                subject = entry.pop("_subject")
                self._scanned.setdefault(subject, []).append(entry)
        return self._scanned.get(digest, [])


def image_digest(entry: dict[str, Any]) -> str:
    digest = entry.get("digest")
    if not isinstance(digest, str):
        raise FormatError("index.json: an image entry has no digest")
    return digest


class RegistrySource:
    """Signatures and images in one repository of a registry (``COSIGN_REPOSITORY`` may move the
    signatures to another). Manifests and blobs are digest-checked by the client."""

    def __init__(self, client: Any, registry: str, repository: str, signatures: tuple[str, str] | None = None) -> None:
        self.client = client
        self.registry = registry
        self.repository = repository
        self.signature_registry, self.signature_repository = signatures or (registry, repository)

    def manifest(self, digest: str) -> bytes:
        return self._get_manifest(digest).data

    def _get_manifest(self, digest: str):
        try:
            return self.client.get_manifest(self.signature_registry, self.signature_repository, digest)
        except Exception as exc:
            if getattr(exc, "status", None) != 404 or (self.signature_registry, self.signature_repository) == \
                    (self.registry, self.repository):
                raise
            return self.client.get_manifest(self.registry, self.repository, digest)

    def blob(self, digest: str, size: int, limit: int) -> bytes:
        if size > limit:
            raise FormatError(f"blob {digest} claims {size} bytes, over the limit of {limit}")
        # read at most what the descriptor claims: a longer body is cut off there, not buffered up to ``limit``
        data = self.client.get_blob(self.signature_registry, self.signature_repository, digest, limit=size)
        if len(data) != size:
            raise FormatError(f"blob {digest} is {len(data)} bytes, the descriptor says {size}")
        return data

    def tagged(self, tag: str) -> str | None:
        found = self.client.head_manifest(self.signature_registry, self.signature_repository, tag)
        return found.digest if found else None

    def tagged_manifest(self, tag: str) -> tuple[str, bytes] | None:
        """The manifest ``tag`` points at, and its digest, in one GET (as cosign reads a .sig tag):
        a HEAD for the digest and a GET by digest cost the registry two requests for the same bytes."""
        try:
            found = self.client.get_manifest(self.signature_registry, self.signature_repository, tag)
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        return found.digest, found.data

    def referrers(self, digest: str) -> list[dict[str, Any]]:
        return self.client.referrers(self.signature_registry, self.signature_repository, digest)


def signature_repository() -> tuple[str, str] | None:
    """``COSIGN_REPOSITORY=registry/repo`` keeps signatures in another repository (FORMATS.md 1.1)."""
    import os

    from airlock.oci.reference import parse_reference

    value = os.environ.get("COSIGN_REPOSITORY")
    if not value:
        return None
    reference = parse_reference(value)
    return reference.registry, reference.repository


def registry_client(*, insecure: bool = False, allow_http: bool = False, timeout: float | None = None) -> Any:
    """A ``RegistryClient`` (``insecure``: plain HTTP and unverified TLS allowed; ``allow_http``:
    plain HTTP allowed, TLS still verified; ``timeout``: the deadline of each request, else
    ``$AIRLOCK_REGISTRY_TIMEOUT``, else 60s). Callers say so when either is chosen."""
    from airlock.oci.registry import RegistryClient

    return RegistryClient(insecure=insecure, allow_http=allow_http, timeout=timeout)


def layout_source(path: str) -> LayoutSource:
    """The images and signatures of the OCI layout in directory ``path``."""
    return LayoutSource(oci.OciLayout(path))
