"""``airlock save`` and ``airlock load``: images with their signatures, across the gap as a layout.

``save`` copies from a registry into an OCI layout: each image (every platform of an index),
its ``.sig`` and ``.att`` manifests, and its Sigstore bundle referrers, each blob digest-checked
on the way. index.json marks them as cosign marks them (``kind``) so ``cosign verify
--local-image`` finds them, plus ``dev.airlock/subject`` so several images can share one
layout.

``load`` pushes the same back into a registry: blobs first, children before parents, then the
image by tag, signatures under ``sha256-<hex>.sig/.att``, referrers by digest (with the
referrers fallback index for registries without the Referrers API).

How a transfer runs (both directions)::

    plan      per image: the manifests (children before parents) and the blobs they name;
              manifests are small and read first (for save: fetched under the signatures'
              ``FetchBudget``), so every limit is enforced before any blob moves
    blobs     every blob not already at the destination (by digest), each once, ``jobs`` at a
              time (``run_bounded``), streamed and digest-checked; a layout blob is renamed into
              place only once its digest matched, a pushed one is checked by the registry
    finish    an image's manifests are written (pushed) as soon as all its blobs are there,
              never before; index.json is written once, at the end, for the images finished

So an interrupted ``save`` or ``load``, run again, moves only what is missing, and nothing
half-written is visible (at most verified, unreferenced blobs; the temporary file of a save that
was killed is swept by the next save once it is stale).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

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

MAX_IMAGE_LAYER = 16 * 1024 * 1024 * 1024
MAX_JOBS = 64

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """How many transfers run at once unless told: twice the CPUs, at most 8 (the work is I/O)."""
    return min(8, 2 * (os.cpu_count() or 1))


def run_bounded(jobs: int, items: Iterable[T], fn: Callable[[T], R]) -> list[R]:
    """``fn(item)`` for every item, at most ``jobs`` at once (threads); the results in item order.

    The first failure stops the rest: items not started are not started, running ones finish,
    then the failure of the earliest failed item is raised. ``jobs == 1`` runs in this thread.
    """
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix="airlock")
    try:
        futures = [pool.submit(fn, item) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
    return [future.result() for future in futures]


class Progress:
    """What a transfer reports; this one reports nothing (``--quiet``). Methods are called from
    worker threads: implementations lock what they share."""

    def begin(self, images: int, nbytes: int) -> None:
        """The work is known: ``images`` images and ``nbytes`` bytes to move (what is not there yet)."""

    def bytes(self, count: int) -> None:
        """``count`` more bytes moved."""

    def image(self, line: str) -> None:
        """One image done (``line`` says which and where)."""

    def end(self) -> None:
        """The transfer is over (done or failed)."""


QUIET = Progress()


@dataclass
class _Plan:
    """One image: the manifests to write or push (children before parents) and the blobs they need."""

    name: str
    digest: str = ""
    manifests: list[tuple[dict, bytes]] = field(default_factory=list)  # (descriptor, bytes)
    blobs: dict[str, dict] = field(default_factory=dict)  # digest -> descriptor
    entries: list[dict] = field(default_factory=list)  # save: index.json entries
    finish: Callable[[], None] | None = None


def _transfer(jobs: int, plans: Sequence[_Plan], missing: dict[str, Callable[[], None]], finished: list[_Plan]
              ) -> None:
    """Move the ``missing`` blobs (digest -> job), ``jobs`` at a time; finish each plan as soon as
    the last of its blobs is there, adding it to ``finished`` (all of them, unless it raises)."""
    lock = threading.Lock()
    waiting = [set(plan.blobs) & set(missing) for plan in plans]
    users: dict[str, list[int]] = {}
    for number, digests in enumerate(waiting):
        for digest in digests:
            users.setdefault(digest, []).append(number)

    def finish(number: int) -> None:
        plan = plans[number]
        if plan.finish is not None:
            plan.finish()
        with lock:
            finished.append(plan)

    def step(item: tuple[str, Any]) -> None:
        kind, what = item
        if kind == "image":
            finish(what)
            return
        missing[what]()
        with lock:
            ready = []
            for number in users[what]:
                waiting[number].discard(what)
                if not waiting[number]:
                    ready.append(number)
        for number in ready:
            finish(number)

    work: list[tuple[str, Any]] = [("image", n) for n, digests in enumerate(waiting) if not digests]
    work += [("blob", digest) for digest in missing]
    run_bounded(jobs, work, step)


# --- save -----------------------------------------------------------------------------------------


def _children(document: dict, media_type: str) -> list[dict]:
    """The descriptors under a manifest or index (its shape was checked by the registry client)."""
    if media_type in oci.INDEX_TYPES:
        return list(document.get("manifests") or [])
    return [document["config"], *document.get("layers", [])]


@dataclass
class _Blob:
    descriptor: dict
    registry: str
    repository: str


class _Walk:
    """Reads the manifests of one tree from a registry into a plan (and, for signatures, charges
    what may be fetched to the image's budget before fetching it)."""

    def __init__(self, client: Any, registry: str, repository: str, plan: _Plan, sources: dict[str, _Blob],
                 budget: FetchBudget | None = None, item_limit: int = MAX_IMAGE_LAYER) -> None:
        self.client, self.registry, self.repository = client, registry, repository
        self.plan, self.sources = plan, sources
        self.budget, self.item_limit = budget, item_limit
        self.seen: set[str] = set()

    def manifest(self, digest: str) -> Manifest:
        manifest = self.client.get_manifest(self.registry, self.repository, digest)
        if self.budget is not None:
            self.budget.take(len(manifest.data), f"manifest {digest}", limit=MAX_MANIFEST_SIZE)
        return manifest

    def tree(self, manifest: Manifest, descriptor: dict, depth: int = 0) -> None:
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
            else:
                self.blob(child)
        self.plan.manifests.append((descriptor, manifest.data))

    def blob(self, descriptor: dict) -> None:
        digest, size = descriptor["digest"], descriptor["size"]
        if self.budget is not None:
            self.budget.take(size, f"blob {digest}", limit=self.item_limit)
        elif size > self.item_limit:
            raise RegistryError(f"registry {self.registry}: blob {digest} claims {size} bytes, over the "
                                f"limit of {self.item_limit}")
        self.plan.blobs[digest] = descriptor
        self.sources.setdefault(digest, _Blob(descriptor, self.registry, self.repository))


def _plan_save(client: Any, reference: Reference, signatures: tuple[str, str] | None) -> tuple[_Plan, dict]:
    """Read the manifests of one image, its signatures and its referrers (not the blobs)."""
    registry, repository = reference.registry, reference.repository
    sources: dict[str, _Blob] = {}
    head = client.get_manifest(registry, repository, reference.identifier)
    digest = head.digest
    plan = _Plan(f"{reference.name}@{digest}", digest)
    kind = oci.KIND_IMAGE_INDEX if head.media_type in oci.INDEX_TYPES else oci.KIND_IMAGE
    image_descriptor = {"mediaType": head.media_type, "size": len(head.data), "digest": digest}
    _Walk(client, registry, repository, plan, sources).tree(head, image_descriptor)
    plan.entries.append({**image_descriptor, "annotations": {oci.KIND: kind, oci.REF_NAME: str(reference)}})
    sig_registry, sig_repository = signatures or (registry, repository)
    budget = FetchBudget(f"signatures of {digest}")
    for suffix, sig_kind, limit in (("sig", oci.KIND_SIGS, MAX_SIGNATURE_SIZE),
                                    ("att", oci.KIND_ATTS, MAX_ATTESTATION_SIZE)):
        found = client.head_manifest(sig_registry, sig_repository, signature_tag(digest, suffix))
        if found is None:
            continue
        walk = _Walk(client, sig_registry, sig_repository, plan, sources, budget, limit)
        manifest = walk.manifest(found.digest)
        walk.tree(manifest, manifest.descriptor())
        plan.entries.append({**manifest.descriptor(), "annotations": {oci.KIND: sig_kind, SUBJECT: digest}})
    walk = _Walk(client, sig_registry, sig_repository, plan, sources, budget, MAX_ATTESTATION_SIZE)
    for referrer in client.referrers(sig_registry, sig_repository, digest):
        manifest = walk.manifest(referrer["digest"])
        walk.tree(manifest, manifest.descriptor())
        artifact = referrer.get("artifactType")
        plan.entries.append({**manifest.descriptor(), **({"artifactType": artifact} if artifact else {}),
                             "annotations": {SUBJECT: digest}})
    return plan, sources


def save(client: Any, references: Sequence[Reference], layout: oci.OciLayout, *, jobs: int = 1,
         progress: Progress = QUIET, signatures: tuple[str, str] | None = None) -> list[str]:
    """Save ``references`` (images, signatures, attestations, bundles) into ``layout``; return
    their digests.

    Blobs already in the layout are not fetched again; the others are streamed to disk,
    ``jobs`` at a time. What belongs to the signatures (the .sig and .att trees, the referrers)
    is read under one ``FetchBudget`` per image: a registry cannot make ``save`` fetch without
    bound. index.json is written once, at the end, with the images whose every blob and
    manifest is on disk, so an interrupted save leaves the layout valid.
    """
    planned = run_bounded(jobs, references, lambda reference: _plan_save(client, reference, signatures))
    _sweep(layout)
    plans = [plan for plan, _ in planned]
    sources: dict[str, _Blob] = {}
    for _, found in planned:
        for digest, source in found.items():
            sources.setdefault(digest, source)
    missing = {digest: source for digest, source in sources.items()
               if not _in_layout(layout, digest, source.descriptor["size"])}
    progress.begin(len(plans), sum(source.descriptor["size"] for source in missing.values()))

    def fetch(source: _Blob) -> Callable[[], None]:
        def run() -> None:
            digest, size = source.descriptor["digest"], source.descriptor["size"]
            path = layout._blob_path(digest)  # a checked sha256 digest: blobs/sha256/<hex>, inside the layout
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            except OSError as exc:
                raise oci.LayoutError(f"OCI layout {layout.path}: cannot create blobs/sha256: "
                                      f"{exc.strerror or exc}") from None
            layout._check_directories()  # never write through a symlinked blobs directory
            client.copy_blob_to(source.registry, source.repository, digest, path, size=size, progress=progress.bytes,
                                sync=False)  # one sync of the file system before index.json refers to it
        return run

    def finisher(plan: _Plan) -> Callable[[], None]:
        def run() -> None:
            for _, data in plan.manifests:
                _write_manifest(layout, data)
            progress.image(f"Saved {plan.name}")
        return run

    for plan in plans:
        plan.finish = finisher(plan)
    finished: list[_Plan] = []
    try:
        _transfer(jobs, plans, {digest: fetch(source) for digest, source in missing.items()}, finished)
    finally:
        progress.end()
        _record(layout, finished)  # what is complete on disk, even when another image failed
    return [plan.digest for plan in plans]


STALE_SECONDS = 600


def _sweep(layout: oci.OciLayout) -> None:
    """Remove what an earlier save left half-written when it was killed: its temporary files in
    blobs/sha256 untouched for STALE_SECONDS (a download in progress writes to its file all the
    time): dot files ending in .tmp, as ``airlock.files`` names them (a blob is named by its hex
    digest). They were never visible under a digest."""
    import time

    directory = os.path.dirname(layout._blob_path(oci.EMPTY_CONFIG_DIGEST))
    try:
        names = [name for name in os.listdir(directory) if name.startswith(".") and name.endswith(".tmp")]
    except OSError:
        return  # no blobs yet
    for name in names:
        with contextlib.suppress(OSError):
            path = os.path.join(directory, name)
            if os.lstat(path).st_mtime < time.time() - STALE_SECONDS:
                os.unlink(path)


def _in_layout(layout: oci.OciLayout, digest: str, size: int) -> bool:
    """A blob of that size is there (written by a save, so checked before it was renamed into place)."""
    try:
        return layout.has_blob(digest) and os.path.getsize(layout._blob_path(digest)) == size
    except OSError:
        return False


def _write_manifest(layout: oci.OciLayout, data: bytes) -> None:
    """A manifest into the layout, unless an intact copy is there: a temporary file renamed into
    place (``_record`` syncs the file system later)."""
    from airlock.files import atomic_write

    digest = oci.sha256_digest(data)
    if _in_layout(layout, digest, len(data)):
        try:
            layout.read_blob(digest, size=len(data), limit=max(len(data), 1))  # checks its digest
            return
        except oci.LayoutError:
            pass  # a damaged copy: replaced below
    path = layout._blob_path(digest)  # blobs/sha256/<hex>, inside the layout
    layout._check_directories()
    try:
        atomic_write(path, data, sync=False)
    except OSError as exc:
        raise oci.LayoutError(f"OCI layout {layout.path}: cannot write blob {digest}: {exc.strerror or exc}") from None


def _sync(path: str) -> None:
    """Flush the file system holding ``path`` to disk (Linux ``syncfs``; else ``sync``): one flush
    for every blob of a save, instead of one fsync per blob."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _record(layout: oci.OciLayout, plans: Sequence[_Plan]) -> None:
    """index.json with the entries of ``plans``, replacing what they supersede (in one write),
    once every blob it will name is on disk."""
    if not plans:
        return
    _sync(layout.path)
    index = layout.read_index()
    keep = index["manifests"]
    for plan in plans:
        name = next(e["annotations"][oci.REF_NAME] for e in plan.entries if oci.REF_NAME in e["annotations"])
        keep = [e for e in keep if (e.get("annotations") or {}).get(SUBJECT) != plan.digest
                and e["digest"] != plan.digest and (e.get("annotations") or {}).get(oci.REF_NAME) != name]
        keep += plan.entries
    index["manifests"] = keep
    layout.write_index(index)


# --- load -----------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where one image of a layout goes: ``entry`` (its index.json entry) to ``reference``."""

    entry: dict
    reference: Reference


def targets(layout: oci.OciLayout, destination: Reference | None, *, image: str | None = None,
            prefix: tuple[str, str] | None = None) -> list[Target]:
    """Which images of ``layout`` go where.

    ``destination``: one image (``--image`` picks it when the layout holds several). ``prefix``
    (registry, path): every image, each to ``registry/path/<its repository>:<its tag>`` (the name
    it was saved under, in ``org.opencontainers.image.ref.name``).
    """
    from airlock.oci.reference import parse_reference
    from airlock.oci.sources import LayoutSource

    source = LayoutSource(layout)
    images = source.images()
    if prefix is None:
        assert destination is not None, "one destination or a prefix"
        chosen = images
        if image is not None:
            chosen = [e for e in images if image in (e["digest"], (e.get("annotations") or {}).get(oci.REF_NAME))]
        if len(chosen) != 1:
            names = ", ".join((e.get("annotations") or {}).get(oci.REF_NAME) or e["digest"] for e in images)
            raise UsageError(f"the layout holds {len(images)} images ({names}); name one with --image")
        return [Target(chosen[0], destination)]
    registry, path = prefix
    found = []
    for entry in images:
        name = (entry.get("annotations") or {}).get(oci.REF_NAME)
        if not name:
            raise UsageError(f"image {entry['digest']} of the layout has no name ({oci.REF_NAME}); "
                             f"load it with --image and a destination")
        saved = parse_reference(name)
        repository = f"{path}/{saved.repository}" if path else saved.repository
        found.append(Target(entry, Reference(registry, repository, saved.tag, None)))
    if not found:
        raise UsageError(f"the layout {layout.path} holds no images")
    return found


def _plan_load(layout: oci.OciLayout, source: Any, target: Target) -> _Plan:
    """The manifests to push for one image (its tree, .sig, .att, referrers) and the blobs they need."""
    entry = target.entry
    digest = entry["digest"]
    plan = _Plan(f"{target.reference.name}@{digest}", digest)

    def walk(descriptor: dict) -> None:
        for item in layout.walk(descriptor):
            if item.get("mediaType") in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
                plan.manifests.append((item, layout.read_blob(item["digest"], size=item.get("size"))))
            else:
                plan.blobs.setdefault(item["digest"], item)

    walk(entry)
    for suffix in ("sig", "att"):
        manifest_digest = source.tagged(signature_tag(digest, suffix))
        if manifest_digest is not None:
            descriptor = next(e for e in source.entries if e["digest"] == manifest_digest)
            walk(descriptor)
            plan.entries.append({"tag": signature_tag(digest, suffix), **descriptor})
    for referrer in source.referrers(digest):
        walk(referrer)
        plan.entries.append({"referrer": True, **referrer})
    return plan


def load(client: Any, layout: oci.OciLayout, destinations: Sequence[Target], *, jobs: int = 1,
         progress: Progress = QUIET) -> list[str]:
    """Push images of ``layout`` (with their signatures) to their destinations; return their digests.

    Blobs go first, ``jobs`` at a time, each digest once: skipped when the repository has it,
    mounted from another repository of this load on the same registry when one already has
    it, else streamed from its (checked) file. An image's manifests are pushed, children before
    parents, only once all its blobs are in.
    """
    from airlock.oci.sources import LayoutSource

    source = LayoutSource(layout)  # index.json read once, whatever the number of images
    plans = [_plan_load(layout, source, target) for target in destinations]
    uploads: dict[str, list[tuple[str, str]]] = {}  # digest -> [(registry, repository)]
    descriptors: dict[str, dict] = {}
    for plan, target in zip(plans, destinations, strict=True):
        for digest, descriptor in plan.blobs.items():
            place = (target.reference.registry, target.reference.repository)
            if place not in uploads.setdefault(digest, []):
                uploads[digest].append(place)
            descriptors.setdefault(digest, descriptor)
    progress.begin(len(plans), sum(d["size"] for d in descriptors.values()))

    def push(digest: str) -> Callable[[], None]:
        def run() -> None:
            there: dict[str, str] = {}  # registry -> a repository that has the blob
            sent = 0
            for registry, repository in uploads[digest]:
                if not client.blob_exists(registry, repository, digest):
                    sent += _push_blob(client, registry, repository, layout, descriptors[digest],
                                       mount_from=there.get(registry), progress=progress)
                there.setdefault(registry, repository)
            progress.bytes(max(0, descriptors[digest]["size"] - sent))  # there already, or mounted: done too
        return run

    def finisher(plan: _Plan, target: Target) -> Callable[[], None]:
        def run() -> None:
            _push_manifests(client, target, plan)
            progress.image(f"Loaded {plan.name}")
        return run

    for plan, target in zip(plans, destinations, strict=True):
        plan.finish = finisher(plan, target)
    try:
        _transfer(jobs, plans, {digest: push(digest) for digest in uploads}, [])
    finally:
        progress.end()
    return [plan.digest for plan in plans]


def _push_manifests(client: Any, target: Target, plan: _Plan) -> None:
    registry, repository = target.reference.registry, target.reference.repository
    tagged = {item["digest"] for item in plan.entries if "tag" in item}
    if target.reference.tag:
        tagged.add(plan.digest)
    data: dict[str, bytes] = {}
    for descriptor, manifest in plan.manifests:  # children before parents
        if descriptor["digest"] not in data and descriptor["digest"] not in tagged:  # those: once, by tag
            client.put_manifest(registry, repository, descriptor["digest"], manifest, descriptor["mediaType"])
        data[descriptor["digest"]] = manifest
    entry = target.entry
    client.put_manifest(registry, repository, target.reference.tag or plan.digest, data[plan.digest],
                        entry["mediaType"])
    for item in plan.entries:
        if "tag" in item:
            client.put_manifest(registry, repository, item["tag"], data[item["digest"]], item["mediaType"])
            continue
        manifest = data[item["digest"]]
        document = loads(manifest, f"referrer {item['digest']}")  # walked: a manifest
        descriptor = {"mediaType": item["mediaType"], "size": len(manifest), "digest": item["digest"]}
        artifact = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
        if artifact:
            descriptor["artifactType"] = artifact
        client.add_referrer(registry, repository, plan.digest, descriptor)


class _Counted:
    """A binary file that reports the bytes read from it (what an upload sends)."""

    def __init__(self, handle: Any, report: Callable[[int], None]) -> None:
        self.handle, self.report = handle, report
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.sent += len(chunk)
        self.report(len(chunk))
        return chunk

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()


def _push_blob(client: Any, registry: str, repository: str, layout: oci.OciLayout, descriptor: dict, *,
               mount_from: str | None = None, progress: Progress = QUIET) -> int:
    """Upload a layout blob from its file, never all in memory: checked as ``read_blob`` checks
    (no symlink, a regular file of the descriptor's size, the right digest), then streamed. The
    registry checks the digest again as it stores the blob. Returns the bytes sent (none when
    the registry mounted it from ``mount_from``)."""
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
        counted = _Counted(handle, progress.bytes)
        client.put_blob(registry, repository, counted, digest=digest, mount_from=mount_from, skip_existing=False)
    return counted.sent
