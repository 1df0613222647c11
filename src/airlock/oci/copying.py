"""``airlock copy SRC DST``: an image and its signatures from one registry to another, as
``cosign copy`` does, streamed.

What is copied (cosign v3's ``copy``): the image (every platform of an index, or the one
``platform`` names), and for the image and every manifest under it, the ``sha256-<hex>.sig``,
``.att`` and ``.sbom`` tags (``only`` picks some of them, and then the image itself is not
copied). Beyond cosign: the Sigstore bundle referrers of each of them (with ``only``, those of
the kinds named), which cosign v3 ``sign`` makes by default and ``cosign copy`` leaves behind.

How it runs::

    plan      the manifests, read from the source (the signatures' under a ``FetchBudget`` per
              manifest, as ``save`` reads them); every tag to be written is looked up at the
              destination first: one holding other content stops the copy before anything is
              written, unless ``force``; manifests the destination has (HEAD by digest) are not
              pushed again, nor are the blobs under them looked at
    blobs     each blob the destination lacks (HEAD first), ``jobs`` at a time: mounted from the
              source repository when both are on one registry, else streamed from the source's
              GET into the destination's upload, hashed as it passes; the upload is committed
              only once the digest matched (``RegistryClient.copy_blob``), so a corrupted source
              leaves nothing at the destination
    manifests once every blob is in: children before parents, the signatures' tags and the
              referrers, and the image's own tag last, so whoever sees the tag finds it whole

An interrupted copy, run again, sends only what is missing; a finished one, run again, sends nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airlock._wire import loads
from airlock.errors import RegistryError, UsageError
from airlock.media_types import ANNOTATION_BUNDLE_PREDICATE_TYPE, BUNDLE_V03, COSIGN_SBOM_ARTIFACT, COSIGN_SIG_ARTIFACT
from airlock.oci import layout as oci
from airlock.oci.reference import DEFAULT_TAG, Reference, signature_tag
from airlock.oci.registry import (
    MAX_ATTESTATION_SIZE,
    MAX_SIGNATURE_SIZE,
    FetchBudget,
    Manifest,
)
from airlock.oci.transfer import QUIET, Progress, _Blob, _children, _Plan, _transfer, _Walk, run_bounded

KINDS = ("sig", "att", "sbom")
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"  # a cosign v3 image signature, as a bundle


@dataclass
class Copied:
    """What ``copy`` did: the image digest and where it went, what was sent and what was there."""

    digest: str
    destination: str
    tags: list[str] = field(default_factory=list)  # tags at the destination that name what was copied
    referrers: int = 0
    manifests_pushed: int = 0
    blobs_sent: int = 0
    bytes_sent: int = 0
    blobs_mounted: int = 0
    blobs_present: int = 0


@dataclass
class _Tree:
    """One manifest tree to write: ``manifests`` children before parents; ``tag`` set for a
    signature tag (or the image's), ``subject`` for a referrer."""

    manifests: list[tuple[dict, bytes]]
    tag: str | None = None
    subject: str | None = None
    image: bool = False

    @property
    def top(self) -> tuple[dict, bytes]:
        return self.manifests[-1]


def check_only(only: Sequence[str]) -> tuple[str, ...]:
    """``--only`` values (comma-separated, as cosign splits them), each of sig, att, sbom."""
    chosen: list[str] = []
    for value in only:
        for item in value.split(","):
            item = item.strip()
            if item not in KINDS:
                raise UsageError(f"invalid value for --only: {item!r}; expected sig, att or sbom (comma-separated)")
            if item not in chosen:
                chosen.append(item)
    return tuple(chosen)


def _platform(text: str) -> dict[str, str]:
    """``os/arch[/variant][:osversion]`` as cosign (go-containerregistry) parses ``--platform``."""
    spec, _, os_version = text.partition(":")
    parts = spec.split("/")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise UsageError(f"invalid --platform {text!r}: expected os/arch[/variant][:osversion], e.g. linux/amd64")
    keys = ("os", "architecture", "variant")
    wanted = dict(zip(keys, parts, strict=False))
    if os_version:
        wanted["os.version"] = os_version
    return wanted


def _pick_platform(manifest: Manifest, wanted_text: str, where: str) -> dict:
    """The one child of an index that matches ``--platform`` (empty fields match anything), as
    cosign picks it: none or several is an error."""
    if manifest.media_type not in oci.INDEX_TYPES:
        raise UsageError(f"{where} is not a multi-platform image (an image index): --platform needs one")
    wanted = _platform(wanted_text)
    document = oci.parse_json(manifest.data, f"manifest {manifest.digest}")
    found, offered = [], []
    for child in document.get("manifests") or []:
        child = oci.check_descriptor(child, f"manifest {manifest.digest}")
        platform = child.get("platform")
        if not isinstance(platform, dict):
            continue
        offered.append("/".join(str(platform.get(k)) for k in ("os", "architecture", "variant") if platform.get(k)))
        if all(platform.get(key) == value for key, value in wanted.items()):
            found.append(child)
    if len(found) != 1:
        what = "no image" if not found else f"{len(found)} images"
        raise UsageError(f"{where} has {what} for platform {wanted_text} (it has: {', '.join(offered) or 'none'})")
    return found[0]


def _referrer_kind(manifest: Manifest) -> str | None:
    """sig, att or sbom for a referrer ``--only`` can name (cosign's bundles and OCI 1.1
    artifacts), else None (copied only when nothing is singled out)."""
    document = loads(manifest.data, f"referrer {manifest.digest}")  # walked: a checked manifest
    artifact = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
    predicate = (document.get("annotations") or {}).get(ANNOTATION_BUNDLE_PREDICATE_TYPE)
    if artifact == COSIGN_SBOM_ARTIFACT:
        return "sbom"
    if artifact == COSIGN_SIG_ARTIFACT or predicate == SIGN_PREDICATE:
        return "sig"
    if artifact == BUNDLE_V03 or predicate:
        return "att"
    return None


class _Planner:
    """Reads what one copy moves from the source into trees of manifests and the blobs they need."""

    def __init__(self, client, signatures: tuple[str, str]) -> None:
        self.client, self.signatures = client, signatures
        self.sources: dict[str, _Blob] = {}  # blob digest -> where to read it

    def tree(self, registry: str, repository: str, manifest: Manifest) -> list[tuple[dict, bytes]]:
        walk = _Walk(self.client, registry, repository, _Plan(manifest.digest), self.sources)
        walk.tree(manifest, manifest.descriptor())
        return walk.plan.manifests

    def attachments(self, subjects: list[str], kinds: tuple[str, ...], referrers: set[str] | None,
                    jobs: int) -> list[_Tree]:
        """The signature tags (``kinds``) and referrers (of ``referrers`` kinds; None: all) of
        each subject. The look-ups run ``jobs`` at a time; what they find is read in order, under
        one ``FetchBudget`` per subject."""
        registry, repository = self.signatures
        lookups: list[tuple[str, str | None]] = [(subject, suffix) for subject in subjects for suffix in kinds]
        if referrers is None or referrers:
            lookups += [(subject, None) for subject in subjects]

        def look(item: tuple[str, str | None]) -> Manifest | list[dict] | None:
            subject, suffix = item
            if suffix is None:
                return self.client.referrers(registry, repository, subject)
            return self.client.head_manifest(registry, repository, signature_tag(subject, suffix))

        answers = dict(zip(lookups, run_bounded(jobs, lookups, look), strict=True))
        found: list[_Tree] = []
        for subject in subjects:
            budget = FetchBudget(f"signatures of {subject}")
            for suffix in kinds:
                head = answers[subject, suffix]
                if head is None:
                    continue
                assert isinstance(head, Manifest)
                tag = signature_tag(subject, suffix)
                limit = MAX_SIGNATURE_SIZE if suffix == "sig" else MAX_ATTESTATION_SIZE
                walk = _Walk(self.client, registry, repository, _Plan(tag), self.sources, budget, limit)
                manifest = walk.manifest(head.digest)
                walk.tree(manifest, manifest.descriptor())
                found.append(_Tree(walk.plan.manifests, tag=tag))
            listed = answers.get((subject, None)) or []
            walk = _Walk(self.client, registry, repository, _Plan(subject), self.sources, budget, MAX_ATTESTATION_SIZE)
            for item in listed:
                assert isinstance(item, dict)
                manifest = walk.manifest(item["digest"])
                if referrers is not None and _referrer_kind(manifest) not in referrers:
                    continue
                before = len(walk.plan.manifests)
                walk.tree(manifest, manifest.descriptor())
                found.append(_Tree(walk.plan.manifests[before:], subject=subject))
        return found


def copy(client, source: Reference, destination: Reference, *, only: Sequence[str] = (), platform: str | None = None,
         force: bool = False, jobs: int = 1, progress: Progress = QUIET,
         signatures: tuple[str, str] | None = None) -> Copied:
    """Copy ``source`` (with its signatures, attestations, SBOMs and bundle referrers) to
    ``destination``; see the module docstring. ``signatures``: where the source's signatures
    live (``$COSIGN_REPOSITORY``), else beside the image; they are written beside the copy."""
    kinds = check_only(only)
    registry, repository = destination.registry, destination.repository
    head = client.get_manifest(source.registry, source.repository, source.identifier)
    if platform:
        child = _pick_platform(head, platform, str(source))
        head = client.get_manifest(source.registry, source.repository, child["digest"])
    digest = head.digest
    if destination.digest and destination.digest != digest:
        raise UsageError(f"the destination {destination} names another digest than the source's {digest}")
    planner = _Planner(client, signatures or (source.registry, source.repository))
    image = planner.tree(source.registry, source.repository, head)
    subjects = [descriptor["digest"] for descriptor, _ in image]  # every manifest under the image, itself last
    trees: list[_Tree] = []
    if not kinds:  # the image itself (its tag is written last of all)
        trees.append(_Tree(image, tag=None if destination.digest else destination.tag or DEFAULT_TAG, image=True))
    trees += planner.attachments(subjects, kinds or KINDS, set(kinds) if kinds else None, jobs)

    tags = _check_tags(client, registry, repository, trees, force, jobs)
    present = _present(client, registry, repository, trees, jobs)
    needed: dict[str, dict] = {}
    for tree in trees:
        for descriptor, data in tree.manifests:
            if descriptor["digest"] in present:
                continue
            document = loads(data, f"manifest {descriptor['digest']}")
            for item in _children(document, descriptor["mediaType"]):
                if item["mediaType"] not in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
                    needed.setdefault(item["digest"], item)
    result = Copied(digest, f"{registry}/{repository}@{digest}")
    lock = threading.Lock()
    progress.begin(1, sum(item["size"] for item in needed.values()))

    def move(blob_digest: str) -> Callable[[], None]:
        def run() -> None:
            size = needed[blob_digest]["size"]
            origin = planner.sources[blob_digest]
            if client.blob_exists(registry, repository, blob_digest):
                sent, how = 0, "present"
            else:
                mount = origin.repository if origin.registry == registry else None  # one registry: no bytes move
                sent = client.copy_blob((origin.registry, origin.repository), (registry, repository), blob_digest,
                                        size, mount_from=mount, progress=progress.bytes)
                how = "sent" if sent or not mount else "mounted"
            progress.bytes(size - sent)  # there already, or mounted: done too
            with lock:
                if how == "sent":
                    result.blobs_sent += 1
                    result.bytes_sent += sent
                elif how == "mounted":
                    result.blobs_mounted += 1
                else:
                    result.blobs_present += 1
        return run

    def finish() -> None:
        _push(client, registry, repository, trees, present, tags, result)
        progress.image(f"Copied {source.name}@{digest} to {registry}/{repository}")

    plan = _Plan(f"{source.name}@{digest}", digest, blobs=dict(needed), finish=finish)
    try:
        _transfer(jobs, [plan], {blob: move(blob) for blob in needed}, [])
    finally:
        progress.end()
    return result


def _check_tags(client, registry: str, repository: str, trees: list[_Tree], force: bool, jobs: int
                ) -> dict[str, str | None]:
    """Every tag this copy writes either is free, or names what it would name; else (without
    ``force``) nothing is written at all. Returns what each tag names now (None: free)."""
    tagged = [tree for tree in trees if tree.tag is not None]
    answers = run_bounded(jobs, tagged, lambda tree: client.head_manifest(registry, repository, tree.tag))
    found: dict[str, str | None] = {}
    for tree, there in zip(tagged, answers, strict=True):
        assert tree.tag is not None
        found[tree.tag] = there.digest if there is not None else None
        ours = tree.top[0]["digest"]
        if there is not None and there.digest != ours and not force:
            raise RegistryError(f"{registry}/{repository}:{tree.tag} already exists (as {there.digest}, not "
                                f"{ours}); nothing was copied: use --force to overwrite it")
    return found


def _present(client, registry: str, repository: str, trees: list[_Tree], jobs: int) -> set[str]:
    """The manifests the destination has already (by digest): not pushed again, nor their blobs."""
    digests = list(dict.fromkeys(d["digest"] for tree in trees for d, _ in tree.manifests))
    found = run_bounded(jobs, digests, lambda digest: client.head_manifest(registry, repository, digest))
    return {digest for digest, there in zip(digests, found, strict=True) if there is not None}


def _push(client, registry: str, repository: str, trees: list[_Tree], present: set[str],
          tags: dict[str, str | None], result: Copied) -> None:
    """Manifests by digest (children before parents; a tagged one by its tag), then the
    signature tags and referrer entries, then the image's own tag, last."""
    pushed = set(present)

    def put(ref: str, descriptor: dict, data: bytes) -> None:
        client.put_manifest(registry, repository, ref, data, descriptor["mediaType"])
        pushed.add(descriptor["digest"])
        result.manifests_pushed += 1

    for tree in trees:
        for descriptor, data in tree.manifests[:-1] if tree.tag else tree.manifests:
            if descriptor["digest"] not in pushed:
                put(descriptor["digest"], descriptor, data)
    for tree in sorted(trees, key=lambda tree: tree.image):  # the image last
        descriptor, data = tree.top
        if tree.tag is not None:
            if tags.get(tree.tag) != descriptor["digest"]:
                put(tree.tag, descriptor, data)
            result.tags.append(tree.tag)
        elif tree.subject is not None:
            document = loads(data, f"referrer {descriptor['digest']}")
            entry = {"mediaType": descriptor["mediaType"], "size": len(data), "digest": descriptor["digest"]}
            artifact = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
            if artifact:
                entry["artifactType"] = artifact
            client.add_referrer(registry, repository, tree.subject, entry)
            result.referrers += 1
