"""One file across the gap: OCI layouts (and a trust archive) in one tar with a SHA-256 manifest.

The archive (``airlock pack``) is a tar, gzip'd or not, whose first member is ``MANIFEST``:
every other member's path, size and SHA-256, the layouts it holds and whether it carries trust.
Members are ``layouts/<name>/oci-layout``, ``layouts/<name>/index.json``,
``layouts/<name>/blobs/<algorithm>/<hex>`` and, optionally, ``trust.tar.gz`` (what ``airlock
trust export`` writes). Nothing else.

Writing streams every file twice (hashed for the manifest, then copied and hashed again: a file
that changed in between is an error), into a temp file renamed into place at the end. A blob
whose content does not match the digest it is named by is refused: a pack never carries damage.

Reading (``extract``) goes through :mod:`airlock.tarsafe` (linear, regular files only, no links,
devices, traversal or duplicates), one member at a time: the manifest first, then each member
must be listed, with the listed size, and hash to the listed SHA-256; each entry of the
manifest must be met. Members are written, as they stream, under a fresh staging directory the
caller owns and only renames into place once everything (and every image) has been checked.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from typing import Any, BinaryIO

from airlock import _wire, tarsafe
from airlock.errors import PackError, UsageError

MANIFEST = "AIRLOCK-PACK.json"
FORMAT = "airlock-pack/v1"
TRUST = "trust.tar.gz"
LAYOUTS = "layouts"
MAX_MANIFEST = 64 * 1024 * 1024
MAX_FILES = 1_000_000
MAX_TOTAL = 1 << 40  # 1 TiB, unless told otherwise (``--max-size``)
COMPRESSIONS = ("gzip", "none")
_CHUNK = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_BLOB = re.compile(r"^blobs/[a-z0-9]+/[a-f0-9]{32,128}$")
_HEX = re.compile(r"^[a-f0-9]{64}$")


def layout_name(path: str) -> str:
    """The name a layout directory goes by in the pack: its base name."""
    name = os.path.basename(os.path.normpath(path))
    if not _NAME.match(name):
        raise UsageError(f"--dir {path}: the directory name {name!r} cannot name a layout in a pack "
                         "(letters, digits, '.', '_' and '-')")
    return name


def layout_files(path: str) -> list[str]:
    """The files of an OCI layout a pack carries: ``oci-layout``, ``index.json`` and every blob,
    relative to ``path``. A symbolic link or anything but a regular file among them is refused;
    other files (a lock file) stay behind."""
    found = []
    for name in ("oci-layout", "index.json"):
        if not _regular(os.path.join(path, name)):
            raise UsageError(f"--dir {path}: no {name} (not an OCI layout)")
        found.append(name)
    blobs = os.path.join(path, "blobs")
    if os.path.islink(blobs) or not os.path.isdir(blobs):
        raise UsageError(f"--dir {path}: blobs/ is missing or a symbolic link")
    for directory, subdirs, names in os.walk(blobs):
        subdirs.sort()
        for name in sorted(names) + [d for d in subdirs if os.path.islink(os.path.join(directory, d))]:
            relative = os.path.relpath(os.path.join(directory, name), path).replace(os.sep, "/")
            if not _BLOB.match(relative) or not _regular(os.path.join(path, relative)):
                raise UsageError(f"--dir {path}: {relative} is not a blob (a regular file blobs/ALGORITHM/HEX)")
            found.append(relative)
    return found


def _regular(path: str) -> bool:
    return not os.path.islink(path) and os.path.isfile(path)


def _hash_file(path: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _Hashing:
    """A file read for the archive, hashed as it goes (tarfile reads exactly ``size`` bytes)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def write(out: str, layouts: list[str], *, trust_archive: str | None = None, compress: str = "gzip") -> dict[str, Any]:
    """Write the pack of ``layouts`` (directories) and ``trust_archive`` to ``out``, atomically;
    returns its manifest."""
    if compress not in COMPRESSIONS:
        raise UsageError(f"--compress {compress}: expected one of {', '.join(COMPRESSIONS)}")
    names = [layout_name(path) for path in layouts]
    if len(set(names)) != len(names):
        raise UsageError("--dir: two layouts have the same directory name; a pack names each layout by it")
    sources: list[tuple[str, str]] = []  # (member name, file on disk)
    for name, path in zip(names, layouts, strict=True):
        sources += [(f"{LAYOUTS}/{name}/{relative}", os.path.join(path, relative)) for relative in layout_files(path)]
    if trust_archive is not None:
        sources.append((TRUST, trust_archive))
    files: list[dict[str, Any]] = []
    for member, path in sources:
        size, sha256 = _hash_file(path)
        blob = member.split("/", 2)[2] if member.startswith(LAYOUTS + "/") else ""
        if _BLOB.match(blob) and blob.startswith("blobs/sha256/") and blob.rsplit("/", 1)[1] != sha256:
            raise PackError(f"pack: {path} does not match its digest: the layout is damaged")
        files.append({"path": member, "size": size, "sha256": sha256})
    manifest = {"format": FORMAT, "layouts": names, "trust": trust_archive is not None, "files": files}
    data = json.dumps(manifest, indent=1).encode()
    from airlock.files import atomic_writer

    try:
        with atomic_writer(out) as raw, contextlib.ExitStack() as stack:
            sink: Any = raw
            if compress == "gzip":  # a fixed header (no time stamp): extract() requires exactly this one
                sink = stack.enter_context(gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0,
                                                         compresslevel=6))
            archive = stack.enter_context(tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT))
            _add(archive, MANIFEST, len(data), io.BytesIO(data))
            for (member, path), entry in zip(sources, files, strict=True):
                with open(path, "rb") as source:
                    reader = _Hashing(source)
                    _add(archive, member, entry["size"], reader)
                    if reader.size != entry["size"] or reader.digest.hexdigest() != entry["sha256"] or source.read(1):
                        raise PackError(f"pack: {path} changed while it was being packed")
    except OSError as exc:
        raise PackError(f"pack: cannot write {out}: {exc.strerror or exc}") from None
    return manifest


def _add(archive: tarfile.TarFile, name: str, size: int, reader: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    archive.addfile(info, reader)  # short reads raise: a file that shrank is an error too


# -- reading --------------------------------------------------------------------------------------------

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no flags, mtime 0, as write() makes it


def _compression(handle: BinaryIO, what: str) -> str:
    magic = handle.read(len(GZIP_HEADER))
    handle.seek(0)
    if magic[:2] == b"\x1f\x8b":
        if magic != GZIP_HEADER:  # its time stamp and OS bytes would otherwise change unnoticed
            raise PackError(f"{what}: the gzip header is not the one airlock pack writes")
        return "gzip"
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        raise PackError(f"{what}: the archive is zstd-compressed, which airlock does not read; decompress it first")
    return "none"


def _entries(manifest: object, what: str, max_total: int) -> dict[str, dict[str, Any]]:
    """The manifest's files by path, every field checked, every path one a pack may hold."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackError(f"{what}: {MANIFEST} is not an {FORMAT} manifest")
    layouts, files = manifest.get("layouts"), manifest.get("files")
    if not isinstance(layouts, list) or not all(isinstance(n, str) and _NAME.match(n) for n in layouts) \
            or len(set(layouts)) != len(layouts) or not isinstance(manifest.get("trust"), bool) \
            or not isinstance(files, list):
        raise PackError(f"{what}: {MANIFEST} is malformed (layouts, trust and files)")
    if len(files) > MAX_FILES:
        raise PackError(f"{what}: {MANIFEST} lists more than {MAX_FILES} files")
    listed: dict[str, dict[str, Any]] = {}
    total = 0
    for number, entry in enumerate(files):
        if not (isinstance(entry, dict) and set(entry) == {"path", "size", "sha256"}
                and isinstance(entry["path"], str) and type(entry["size"]) is int and entry["size"] >= 0
                and isinstance(entry["sha256"], str) and _HEX.match(entry["sha256"])):
            raise PackError(f"{what}: {MANIFEST} is malformed (file {number} needs a path, size and sha256)")
        path = entry["path"]
        tarsafe.check_name(path, what)
        parts = path.split("/", 2)
        if not (path == TRUST and manifest["trust"]) and not (
                len(parts) == 3 and parts[0] == LAYOUTS and parts[1] in layouts
                and (parts[2] in ("oci-layout", "index.json") or _BLOB.match(parts[2]))):
            raise PackError(f"{what}: {MANIFEST} lists {path!r}, which is not a file of a pack")
        if path in listed:
            raise PackError(f"{what}: {MANIFEST} lists {path!r} twice")
        total += entry["size"]
        if total > max_total:
            raise PackError(f"{what}: the files add up to more than {max_total} bytes (--max-size)")
        listed[path] = entry
    if manifest["trust"] and TRUST not in listed:
        raise PackError(f"{what}: {MANIFEST} says the pack carries trust, and lists no {TRUST}")
    return listed


def extract(archive: str, staging: str, *, max_total: int = MAX_TOTAL, what: str = "unpack") -> dict[str, Any]:
    """Check ``archive`` member by member against its manifest while writing each member under
    ``staging`` (an empty directory the caller made, and removes on error); return the manifest.
    ``PackError`` (a ``FormatError``) on any departure from the manifest or from tarsafe's rules."""
    try:
        handle = open(archive, "rb")  # noqa: SIM115 -- closed below; the error says which file
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {archive}: {exc.strerror or exc}") from None
    with handle:
        reader = tarsafe.TarReader(handle, what, max_files=MAX_FILES + 1, max_file=max(max_total, MAX_MANIFEST),
                                   max_total=max_total + MAX_MANIFEST, compression=_compression(handle, what),
                                   canonical=True)
        first = reader.next()
        if first is None or first[0] != MANIFEST:
            raise PackError(f"{what}: the first member is {first[0] if first else None!r}, not {MANIFEST}")
        if first[1] > MAX_MANIFEST:
            raise PackError(f"{what}: {MANIFEST} is {first[1]} bytes, more than {MAX_MANIFEST}")
        manifest = _wire.loads(reader.read(first[1]), f"{what}: {MANIFEST}")
        listed = _entries(manifest, what, max_total)
        seen: set[str] = set()
        while (member := reader.next()) is not None:
            name, size = member
            entry = listed.get(name)
            if entry is None:
                raise PackError(f"{what}: member {name!r} is not in the manifest")
            if size != entry["size"]:
                raise PackError(f"{what}: member {name!r} is {size} bytes, the manifest says {entry['size']}")
            _write_member(reader, os.path.join(staging, *name.split("/")), entry, what)
            seen.add(name)
        missing = sorted(set(listed) - seen)
        if missing:
            raise PackError(f"{what}: {missing[0]!r} is in the manifest but not in the archive")
    return manifest


def _write_member(reader: tarsafe.TarReader, destination: str, entry: dict[str, Any], what: str) -> None:
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    digest = hashlib.sha256()
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "wb") as out:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != entry["sha256"]:
        raise PackError(f"{what}: member {entry['path']!r} does not match its SHA-256 in the manifest")
