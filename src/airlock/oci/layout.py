"""OCI image layouts (``cosign save`` directories) read and written without trusting their contents.

A layout is three things (FORMATS.md 3.1)::

    oci-layout        {"imageLayoutVersion": "1.0.0"}
    index.json        an OCI image index: the entry points, tagged by annotations
    blobs/sha256/<hex>  every manifest, index, config and layer, named by its digest

The directory crosses the air gap, so everything in it is hostile input. Every read therefore:

1. accepts only ``sha256:<64 lower-case hex>`` digests, checked before a path is built, so a digest
   such as ``sha256:../../etc/passwd`` never reaches the filesystem;
2. refuses symlinks (``blobs``, ``blobs/sha256`` and the blob itself) and any path that resolves
   outside the layout, opening with ``O_NOFOLLOW`` so the check cannot be raced;
3. refuses a descriptor size above a limit *before* opening anything (a manifest claiming 1 GiB
   fails at once), then checks the file's size against the descriptor and reads no more than that;
4. verifies the SHA-256 of every byte read against the digest.

Manifests and indexes are parsed only after those checks, with JSON duplicate keys refused (two
parsers must never disagree on what a document says). Descriptors stay plain dicts, exactly as
they are on disk: formats are translated at the edge, by the callers that understand them.

Writes are atomic (a temporary file in the same directory, then ``os.replace``), so an interrupted
``save`` never leaves a half-written blob or index behind under a real name.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from typing import Any

from airlock import _wire
from airlock.errors import FormatError, InvalidReferenceError, LayoutError
from airlock.media_types import (  # noqa: F401  (callers read them as oci.NAME: oci/transfer.py, cli/oci.py, tests)
    ANNOTATION_REF_NAME,
    BUNDLE_PREFIX,
    BUNDLE_V03,
    COSIGN_SBOM_ARTIFACT,
    COSIGN_SIG_ARTIFACT,
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DSSE_ENVELOPE,
    IN_TOTO,
    KIND_ATTS,
    KIND_IMAGE,
    KIND_IMAGE_INDEX,
    KIND_SIGS,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_TAR_GZIP,
    OCI_MANIFEST,
    SIMPLESIGNING,
)
from airlock.oci.reference import check_digest, is_digest

# The names this module used to define (media types and annotation keys live in airlock.media_types).
REF_NAME = ANNOTATION_REF_NAME
SIGSTORE_BUNDLE_V03 = BUNDLE_V03
SIGSTORE_BUNDLE_PREFIX = BUNDLE_PREFIX
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})

# The 2-byte ``{}`` blob that bundle referrers use as their config (FORMATS.md 4.5).
EMPTY_CONFIG = b"{}"
EMPTY_CONFIG_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

# cosign's ``kind`` annotation in index.json (FORMATS.md 3.2); its values are in media_types.
KIND = "kind"

# Exactly the bytes cosign (go-containerregistry) writes: 4-space indent, no trailing newline.
OCI_LAYOUT_FILE = b'{\n    "imageLayoutVersion": "1.0.0"\n}'
LAYOUT_VERSION = "1.0.0"

MAX_MANIFEST_SIZE = 4 * 1024 * 1024  # manifests, indexes, configs, index.json
MAX_LAYER_SIZE = 128 * 1024 * 1024  # cosign's attachment limit; pass more for image layers
MAX_DEPTH = 8  # nesting of indexes; real images use 2 (index -> manifest)

# go-containerregistry's field order, so index.json reads like the one cosign writes.
_DESCRIPTOR_ORDER = ("mediaType", "size", "digest", "data", "urls", "annotations", "platform", "artifactType")
_INDEX_ORDER = ("schemaVersion", "mediaType", "artifactType", "manifests", "annotations", "subject")


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``: the name a blob gets in ``blobs/sha256``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def parse_json(data: bytes, what: str) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys (a parser-confusion vector), and
    nesting bounded (``_wire.loads``), so a document nested 100,000 deep is a one-line error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LayoutError(f"{what}: not UTF-8") from None
    try:
        return _wire.loads(text, what, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except LayoutError:
        raise
    except FormatError as exc:
        raise LayoutError(str(exc)) from None


def check_descriptor(item: object, what: str) -> dict[str, Any]:
    """``item`` if it is a well-formed descriptor with a sha256 digest; the error names ``what``."""
    if not isinstance(item, dict):
        raise LayoutError(f"{what}: a descriptor must be a JSON object")
    media_type = item.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise LayoutError(f"{what}: descriptor has no mediaType")
    digest = item.get("digest")
    if not is_digest(digest):
        try:
            check_digest(digest, "descriptor digest")
        except InvalidReferenceError as exc:
            raise LayoutError(f"{what}: {exc}") from None
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise LayoutError(f"{what}: descriptor {digest} has no valid size")
    annotations = item.get("annotations")
    if annotations is not None and not (
        isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())
    ):
        raise LayoutError(f"{what}: descriptor {digest} annotations must map strings to strings")
    artifact_type = item.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise LayoutError(f"{what}: descriptor {digest} artifactType must be a string")
    platform = item.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise LayoutError(f"{what}: descriptor {digest} platform must be an object")
    return item


def _ordered(item: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """``item`` with known keys in go-containerregistry's order, annotations sorted, the rest after."""
    out = {key: item[key] for key in order if key in item}
    out.update((key, value) for key, value in item.items() if key not in out)
    if isinstance(out.get("annotations"), dict):
        out["annotations"] = dict(sorted(out["annotations"].items()))
    return out


def _check_index_document(document: object, what: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise LayoutError(f"{what}: not a JSON object")
    if document.get("schemaVersion") != 2 or isinstance(document.get("schemaVersion"), bool):
        raise LayoutError(f"{what}: schemaVersion must be 2")
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise LayoutError(f"{what}: no manifests list")
    for position, item in enumerate(manifests):
        check_descriptor(item, f"{what} manifests[{position}]")
    return document


def _check_manifest_document(document: object, what: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise LayoutError(f"{what}: not a JSON object")
    if document.get("schemaVersion") != 2 or isinstance(document.get("schemaVersion"), bool):
        raise LayoutError(f"{what}: schemaVersion must be 2")
    check_descriptor(document.get("config"), f"{what} config")
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise LayoutError(f"{what}: no layers list")
    for position, item in enumerate(layers):
        check_descriptor(item, f"{what} layers[{position}]")
    if document.get("subject") is not None:
        check_descriptor(document["subject"], f"{what} subject")
    return document


class OciLayout:
    """One OCI image layout directory. Reads are digest-, size- and path-checked (module docstring)."""

    def __init__(self, path: str, *, create: bool = False) -> None:
        self.path = os.path.realpath(path)
        self._blobs = os.path.join(self.path, "blobs", "sha256")
        if create:
            self._create()
        self._check_layout_file()

    def __repr__(self) -> str:
        return f"OciLayout({self.path!r})"

    # -- the layout itself -------------------------------------------------------------------------

    def _create(self) -> None:
        """Make the directories and, when absent, ``oci-layout`` and an empty ``index.json``."""
        try:
            os.makedirs(self._blobs, exist_ok=True)
        except OSError as exc:
            raise LayoutError(f"OCI layout {self.path}: cannot create it: {exc.strerror or exc}") from None
        self._check_directories()
        if not os.path.lexists(os.path.join(self.path, "oci-layout")):
            self._write_atomic(self.path, "oci-layout", OCI_LAYOUT_FILE)
        if not os.path.lexists(os.path.join(self.path, "index.json")):
            self.write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})

    def _check_layout_file(self) -> None:
        if not os.path.isdir(self.path):
            raise LayoutError(f"OCI layout {self.path}: not a directory")
        data = self._read_file(os.path.join(self.path, "oci-layout"), "oci-layout", 64 * 1024)
        document = parse_json(data, f"OCI layout {self.path}: oci-layout")
        version = document.get("imageLayoutVersion") if isinstance(document, dict) else None
        if version != LAYOUT_VERSION:
            raise LayoutError(
                f"OCI layout {self.path}: oci-layout has imageLayoutVersion {version!r}, expected {LAYOUT_VERSION!r}"
            )

    def _check_directories(self) -> None:
        """``blobs`` and ``blobs/sha256`` must be real directories, not symlinks out of the layout."""
        for path in (os.path.dirname(self._blobs), self._blobs):
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue  # a layout with no blobs yet; reads then report the missing blob
            except OSError as exc:
                raise LayoutError(f"OCI layout {self.path}: {exc.strerror or exc} ({path})") from None
            if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
                rel = os.path.relpath(path, self.path)
                raise LayoutError(f"OCI layout {self.path}: {rel} is a symlink or not a directory; refusing it")

    def _open(self, path: str, what: str, limit: int, expected: int | None, *, parent_checked: bool) -> int:
        """A descriptor open on the regular file ``path``, never through a symlink, its size checked
        against ``expected`` and ``limit`` (see ``_read_file``). The caller closes it."""
        if not parent_checked:
            real = os.path.realpath(path)
            if real != path and not real.startswith(self.path + os.sep):
                raise LayoutError(f"OCI layout {self.path}: {what} resolves outside the layout; refusing it")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise LayoutError(f"OCI layout {self.path}: {what} is missing") from None
        except OSError as exc:
            if os.path.islink(path):
                raise LayoutError(f"OCI layout {self.path}: {what} is a symlink; refusing it") from None
            raise LayoutError(f"OCI layout {self.path}: cannot read {what}: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise LayoutError(f"OCI layout {self.path}: {what} is not a regular file")
            if expected is not None and info.st_size != expected:
                raise LayoutError(
                    f"OCI layout {self.path}: {what} is {info.st_size} bytes, the descriptor says {expected}"
                )
            if info.st_size > limit:
                raise LayoutError(f"OCI layout {self.path}: {what} is {info.st_size} bytes, over the limit of {limit}")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read_file(self, path: str, what: str, limit: int, expected: int | None = None, *,
                   parent_checked: bool = False) -> bytes:
        """Read a regular file, never through a symlink, never more than ``limit`` bytes.

        ``parent_checked``: the directory is ``blobs/sha256``, checked to be a real directory just
        before (``_check_directories``), and the name is a validated hex digest, so only the last
        component can be a link, and O_NOFOLLOW refuses that; resolving the path again per blob
        would cost more than the rest of the read.
        """
        fd = self._open(path, what, limit, expected, parent_checked=parent_checked)
        cap = limit if expected is None else expected
        try:
            with os.fdopen(fd, "rb", closefd=True) as handle:
                data = handle.read(cap + 1)
        except OSError as exc:
            raise LayoutError(f"OCI layout {self.path}: cannot read {what}: {exc.strerror or exc}") from None
        if len(data) > cap:  # the file grew after fstat
            raise LayoutError(f"OCI layout {self.path}: {what} grew while being read; refusing it")
        return data

    def _write_atomic(self, directory: str, name: str, data: bytes) -> None:
        """Write ``directory/name`` all at once (``airlock.files.atomic_write``)."""
        from airlock.files import atomic_write

        try:
            atomic_write(os.path.join(directory, name), data)
        except OSError as exc:
            raise LayoutError(f"OCI layout {self.path}: cannot write {name}: {exc.strerror or exc}") from None

    # -- blobs ---------------------------------------------------------------------------------------

    def _blob_path(self, digest: object) -> str:
        """The path of a blob; only a valid sha256 digest ever becomes a path."""
        if not is_digest(digest):
            try:
                check_digest(digest, "blob digest")
            except InvalidReferenceError as exc:
                raise LayoutError(f"OCI layout {self.path}: {exc}") from None
        return os.path.join(self._blobs, str(digest)[len("sha256:"):])

    def has_blob(self, digest: str) -> bool:
        """Whether a regular file is stored under ``digest`` (not verified: ``read_blob`` does that)."""
        try:
            return stat.S_ISREG(os.lstat(self._blob_path(digest)).st_mode)
        except OSError:
            return False

    def read_blob(self, digest: str, *, size: int | None = None, limit: int = MAX_MANIFEST_SIZE) -> bytes:
        """The verified bytes of a blob.

        ``size`` is the descriptor's claim: above ``limit`` it is refused before anything is opened,
        and the file must have exactly that size. Pass a larger ``limit`` (e.g. ``MAX_LAYER_SIZE``)
        for layers; manifests, indexes and configs never need more than ``MAX_MANIFEST_SIZE``.
        """
        path = self._blob_path(digest)
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise LayoutError(f"OCI layout {self.path}: blob {digest} has an invalid size {size!r}")
            if size > limit:
                raise LayoutError(
                    f"OCI layout {self.path}: blob {digest} claims {size} bytes, over the limit of {limit}"
                )
        self._check_directories()
        data = self._read_file(path, f"blob {digest}", limit, expected=size, parent_checked=True)
        actual = sha256_digest(data)
        if actual != digest:
            raise LayoutError(f"OCI layout {self.path}: blob {digest} does not match its digest (content is {actual})")
        return data

    def check_blob(self, digest: str, size: int, *, hash_content: bool = True) -> None:
        """The blob ``digest`` is present, a regular file of exactly ``size`` bytes and, unless
        ``hash_content`` is false, its SHA-256 is ``digest``. Read in chunks: image layers can be
        gigabytes, so they are hashed as they stream and never held in memory."""
        path = self._blob_path(digest)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise LayoutError(f"OCI layout {self.path}: blob {digest} has an invalid size {size!r}")
        self._check_directories()
        what = f"blob {digest}"
        fd = self._open(path, what, size, size, parent_checked=True)
        if not hash_content:
            os.close(fd)
            return
        hasher, total = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "rb", closefd=True) as handle:
                while chunk := handle.read(min(1 << 20, size - total + 1)):
                    total += len(chunk)
                    if total > size:
                        raise LayoutError(f"OCI layout {self.path}: {what} grew while being read; refusing it")
                    hasher.update(chunk)
        except OSError as exc:
            raise LayoutError(f"OCI layout {self.path}: cannot read {what}: {exc.strerror or exc}") from None
        if total != size:
            raise LayoutError(f"OCI layout {self.path}: {what} shrank while being read; refusing it")
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise LayoutError(f"OCI layout {self.path}: blob {digest} does not match its digest (content is {actual})")

    def write_blob(self, data: bytes) -> str:
        """Store ``data`` under its digest and return the digest. Idempotent; atomic."""
        digest = sha256_digest(data)
        path = self._blob_path(digest)
        try:
            os.makedirs(self._blobs, exist_ok=True)
        except OSError as exc:
            raise LayoutError(f"OCI layout {self.path}: cannot create blobs/sha256: {exc.strerror or exc}") from None
        self._check_directories()
        if self.has_blob(digest) and os.path.getsize(path) == len(data):
            try:
                self.read_blob(digest, size=len(data), limit=max(len(data), 1))
                return digest  # already there and intact
            except LayoutError:
                pass  # a damaged copy: replace it below
        self._write_atomic(self._blobs, digest[len("sha256:"):], data)
        return digest

    def blob_digests(self) -> list[str]:
        """The digests of the files in ``blobs/sha256`` whose names are valid digests (sorted)."""
        self._check_directories()
        try:
            names = os.listdir(self._blobs)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise LayoutError(f"OCI layout {self.path}: cannot list blobs: {exc.strerror or exc}") from None
        return sorted(f"sha256:{name}" for name in names if is_digest(f"sha256:{name}"))

    # -- index.json ----------------------------------------------------------------------------------

    def read_index(self) -> dict[str, Any]:
        """``index.json``, which must be an OCI image index with well-formed descriptors."""
        what = f"OCI layout {self.path}: index.json"
        data = self._read_file(os.path.join(self.path, "index.json"), "index.json", MAX_MANIFEST_SIZE)
        document = _check_index_document(parse_json(data, what), what)
        media_type = document.get("mediaType")
        if media_type is not None and media_type != OCI_INDEX:
            raise LayoutError(f"{what}: mediaType is {media_type!r}, not {OCI_INDEX}")
        return document

    def write_index(self, index: dict[str, Any]) -> None:
        """Validate and atomically write ``index.json`` as go-containerregistry does (3-space indent)."""
        what = f"OCI layout {self.path}: new index.json"
        _check_index_document(index, what)
        if index.get("mediaType", OCI_INDEX) != OCI_INDEX:
            raise LayoutError(f"{what}: mediaType must be {OCI_INDEX}")
        document = _ordered({"schemaVersion": 2, "mediaType": OCI_INDEX, **index}, _INDEX_ORDER)
        document["manifests"] = [_ordered(item, _DESCRIPTOR_ORDER) for item in index["manifests"]]
        data = json.dumps(document, indent=3, ensure_ascii=False).encode("utf-8")
        self._write_atomic(self.path, "index.json", data)

    def add_manifest(self, descriptor: dict[str, Any]) -> None:
        """Add ``descriptor`` to index.json, replacing the entry it supersedes.

        An entry is superseded when it has the same digest and the same tag name
        (``org.opencontainers.image.ref.name``, both possibly absent), or when the new descriptor
        has a tag name and the entry has the same one: a tag names one manifest. Several tags for
        one digest therefore coexist, as in layouts umoci and skopeo write.
        """
        check_descriptor(descriptor, f"OCI layout {self.path}: new index.json entry")
        name = (descriptor.get("annotations") or {}).get(REF_NAME)
        index = self.read_index()
        kept = []
        for item in index["manifests"]:
            item_name = (item.get("annotations") or {}).get(REF_NAME)
            if (item["digest"] == descriptor["digest"] and item_name == name) or (
                name is not None and item_name == name
            ):
                continue
            kept.append(item)
        kept.append(descriptor)
        self.write_index({**index, "manifests": kept})

    def find(self, key: str, value: str | None = None) -> list[dict[str, Any]]:
        """index.json descriptors whose annotation ``key`` equals ``value`` (or is present, if None)."""
        found = []
        for item in self.read_index()["manifests"]:
            annotations = item.get("annotations") or {}
            if key in annotations and (value is None or annotations[key] == value):
                found.append(item)
        return found

    def find_kind(self, kind: str) -> dict[str, Any] | None:
        """The one descriptor of a cosign ``kind`` (``KIND_IMAGE`` ...), None if absent, error if several."""
        found = self.find(KIND, kind)
        if len(found) > 1:
            raise LayoutError(f"OCI layout {self.path}: index.json has {len(found)} entries of kind {kind}")
        return found[0] if found else None

    def find_ref(self, name: str) -> dict[str, Any] | None:
        """The descriptor tagged ``name`` (``org.opencontainers.image.ref.name``), None if absent."""
        found = self.find(REF_NAME, name)
        if len({item["digest"] for item in found}) > 1:
            raise LayoutError(f"OCI layout {self.path}: index.json tags {len(found)} manifests as {name!r}")
        return found[0] if found else None

    # -- manifests -----------------------------------------------------------------------------------

    def read_manifest(self, descriptor: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """The verified bytes and parsed document of the manifest or index ``descriptor`` points at.

        The descriptor's media type decides what the document must be; a ``mediaType`` inside
        the document must agree with it, so a manifest cannot pose as an index or vice versa.
        """
        check_descriptor(descriptor, f"OCI layout {self.path}")
        digest, media_type = descriptor["digest"], descriptor["mediaType"]
        if media_type not in MANIFEST_TYPES and media_type not in INDEX_TYPES:
            raise LayoutError(f"OCI layout {self.path}: {digest} has media type {media_type}, not a manifest or index")
        data = self.read_blob(digest, size=descriptor["size"], limit=MAX_MANIFEST_SIZE)
        what = f"OCI layout {self.path}: manifest {digest}"
        document = parse_json(data, what)
        if isinstance(document, dict) and "mediaType" in document and document["mediaType"] != media_type:
            shown = document["mediaType"]
            raise LayoutError(f"{what}: document says mediaType {shown!r}, descriptor says {media_type}")
        if media_type in INDEX_TYPES:
            _check_index_document(document, what)
        else:
            _check_manifest_document(document, what)
        return data, document

    def walk(self, descriptor: dict[str, Any], *, max_depth: int = MAX_DEPTH) -> Iterator[dict[str, Any]]:
        """Every descriptor reachable from ``descriptor``, children before parents, each digest once.

        Children of indexes are followed; a manifest contributes its config and layers (never its
        ``subject``, which points back at what it annotates and is not part of it). Children come
        first so that a registry push in this order never references what it has not yet sent.
        Blobs that are not manifests or indexes are yielded without being read: the caller reads
        them with the limit it chooses. A cycle or nesting deeper than ``max_depth`` is an error.
        """
        check_descriptor(descriptor, f"OCI layout {self.path}")
        yield from self._walk(descriptor, [], set(), set(), max_depth)

    def _walk(
        self, descriptor: dict[str, Any], path: list[str], seen: set[str], expanded: set[str], max_depth: int
    ) -> Iterator[dict[str, Any]]:
        """``path``: the manifests above this one (cycle check); ``seen``: digests already yielded;
        ``expanded``: manifests whose children were already walked (shared children are common)."""
        digest, media_type = descriptor["digest"], descriptor["mediaType"]
        if (media_type in MANIFEST_TYPES or media_type in INDEX_TYPES) and digest not in expanded:
            if digest in path:
                raise LayoutError(f"OCI layout {self.path}: cycle: {digest} contains itself (at level {len(path)})")
            if len(path) >= max_depth:
                raise LayoutError(f"OCI layout {self.path}: {digest} is nested deeper than {max_depth} levels")
            _, document = self.read_manifest(descriptor)
            children = document["manifests"] if media_type in INDEX_TYPES else [document["config"], *document["layers"]]
            path.append(digest)
            for child in children:
                yield from self._walk(child, path, seen, expanded, max_depth)
            path.pop()
            expanded.add(digest)
        if digest not in seen:
            seen.add(digest)
            yield descriptor

    def check_image(self, descriptor: dict[str, Any], *, layer_digests: bool = True, max_depth: int = MAX_DEPTH,
                    checked: set[tuple] | None = None) -> None:
        """The image (or index) ``descriptor`` is complete and intact in this layout.

        Every manifest and index it names is read and checked (size, digest, structure); every
        config and layer must be present with the size its descriptor gives, and its SHA-256 is
        checked too, for layers unless ``layer_digests`` is false (the cost of verifying a large
        image is hashing its layers). An index's children are checked in turn: a multi-platform
        image is intact only when every platform is. ``checked``: digests already read and hashed
        in this run, as (digest, size[, media type]) (images of one layout share base layers),
        updated as blobs pass.
        """
        check_descriptor(descriptor, f"OCI layout {self.path}")
        self._check_image(descriptor, [], set() if checked is None else checked, layer_digests, max_depth)

    def _check_image(self, descriptor: dict[str, Any], path: list[str], done: set[tuple], layer_digests: bool,
                     max_depth: int) -> None:
        digest, media_type = descriptor["digest"], descriptor["mediaType"]
        if (digest, descriptor["size"], media_type) in done:
            return
        if digest in path:
            raise LayoutError(f"OCI layout {self.path}: cycle: {digest} contains itself (at level {len(path)})")
        if len(path) >= max_depth:
            raise LayoutError(f"OCI layout {self.path}: {digest} is nested deeper than {max_depth} levels")
        _, document = self.read_manifest(descriptor)
        path.append(digest)
        if media_type in INDEX_TYPES:
            for child in document["manifests"]:
                if child["mediaType"] in MANIFEST_TYPES or child["mediaType"] in INDEX_TYPES:
                    self._check_image(child, path, done, layer_digests, max_depth)
                elif (child["digest"], child["size"]) not in done:  # not an image: still there, whole
                    self.check_blob(child["digest"], child["size"])
                    done.add((child["digest"], child["size"]))
        else:
            config = document["config"]
            if config["size"] > MAX_MANIFEST_SIZE:
                raise LayoutError(f"OCI layout {self.path}: config {config['digest']} claims {config['size']} "
                                  f"bytes, over the limit of {MAX_MANIFEST_SIZE}")
            for blob, hashed in ((config, True), *((layer, layer_digests) for layer in document["layers"])):
                if (blob["digest"], blob["size"]) not in done:
                    self.check_blob(blob["digest"], blob["size"], hash_content=hashed)
                    if hashed:
                        done.add((blob["digest"], blob["size"]))
        path.pop()
        done.add((digest, descriptor["size"], media_type))

    def referrers(self, subject: str) -> list[dict[str, Any]]:
        """Descriptors of the manifests in ``blobs/`` whose ``subject`` is ``subject``.

        ``cosign save`` keeps v3 bundle referrers only as orphan blobs (FORMATS.md 3.3), so they are
        found by scanning, as cosign does. Blobs over the manifest limit or that are not JSON
        manifests are skipped; every blob read is still digest-verified.
        """
        check_digest(subject, "subject digest")
        found = []
        for entry in self.scan_manifests():
            if entry.pop("_subject") == subject:
                found.append(entry)
        return found

    def scan_manifests(self) -> Iterator[dict[str, Any]]:
        """Every manifest blob that has a ``subject``, as a descriptor plus ``_subject`` (one pass)."""
        for digest in self.blob_digests():
            try:
                size = os.lstat(self._blob_path(digest)).st_size
            except OSError:
                continue
            if size > MAX_MANIFEST_SIZE or size < 2:
                continue
            try:
                data = self.read_blob(digest, size=size)
            except LayoutError:
                continue  # a symlink, a FIFO, a blob not matching its name: not a referrer to trust
            if not data.lstrip().startswith(b"{"):
                continue
            try:
                document = parse_json(data, "blob")
            except LayoutError:
                continue
            if not isinstance(document, dict) or not isinstance(document.get("subject"), dict):
                continue
            subject = document["subject"].get("digest")
            if not isinstance(subject, str) or not isinstance(document.get("layers"), list):
                continue
            media_type = document.get("mediaType") or OCI_MANIFEST
            if media_type not in MANIFEST_TYPES:
                continue
            artifact_type = document.get("artifactType")
            if not isinstance(artifact_type, str) or not artifact_type:
                config = document.get("config")
                artifact_type = config.get("mediaType") if isinstance(config, dict) else None
            entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size, "_subject": subject}
            if isinstance(artifact_type, str) and artifact_type:
                entry["artifactType"] = artifact_type
            if isinstance(document.get("annotations"), dict):
                entry["annotations"] = document["annotations"]
            yield entry
