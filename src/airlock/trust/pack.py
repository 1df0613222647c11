"""``airlock trust export`` / ``import``: carry a TUF mirror, or a plain trusted root, as one file.

The archive is a gzip'd tar with ``MANIFEST.json`` first: every file's path, size and SHA-256.
Import is strict (the archive is read by :mod:`airlock.tarsafe`, in linear time): regular files
only, no absolute paths, no ``..``, no links, no duplicate names, bounded sizes,
every file present in the manifest with its size and hash and nothing else. Import streams:
each member goes from the archive to a file in a staging directory beside ``$TUF_ROOT``, hashed
as it passes, so memory does not grow with the archive (a hostile archive may hold 256 MiB; a
real mirror's is about 16 KB); nothing is placed until every member matched the manifest. A
mirror is then re-verified offline *before* it replaces the one in ``$TUF_ROOT`` (atomically); a
trusted root is loaded (so it parses) before it is written. Export reads the mirror it has just
re-verified into memory: about 100 KB, the local files, so streaming would buy nothing there.

The archive's own bootstrap root proves nothing: an imported mirror must chain, by TUF's rules,
from the installed mirror's newest root and keeps the installed anchor (``_install``); the
anchor must match the operator's pin. Another lineage needs ``--replace-anchor --root FILE``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from datetime import datetime

from airlock import _wire, tarsafe
from airlock.errors import FormatError, TufError
from airlock.files import atomic_write, atomic_writer

MANIFEST = "MANIFEST.json"
FORMAT = "airlock-trust-pack/v1"
MAX_FILE = 16 * 1024 * 1024
MAX_TOTAL = 256 * 1024 * 1024
MAX_FILES = 10_000
MAX_MANIFEST = 4 * 1024 * 1024  # MANIFEST.json is read whole: 10,000 entries take about 1.2 MB


def _files(base: str) -> list[str]:
    found = []
    for directory, subdirs, names in os.walk(base):
        subdirs.sort()
        for name in sorted(names):
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                raise TufError(f"trust export: {path} is not a regular file")
            found.append(os.path.relpath(path, base).replace(os.sep, "/"))
    return found


def export(out: str, *, tuf_root: str | None = None, trusted_root_file: str | None = None,
           now: datetime | None = None) -> dict:
    """Write the archive to ``out`` (atomically); a mirror is re-verified first."""
    from airlock.trust import layout
    from airlock.trust.mirror import verify_mirror

    if trusted_root_file:
        from airlock.trust.trusted_root import TrustedRoot

        TrustedRoot.from_file(trusted_root_file)
        base, names, kind = os.path.dirname(os.path.abspath(trusted_root_file)), None, "trusted-root"
        with open(trusted_root_file, "rb") as handle:
            contents = {"trusted_root.json": handle.read()}
    else:
        base = layout.tuf_root(tuf_root)
        verify_mirror(base, now=now)
        names, kind = _files(base), "tuf-mirror"
        contents = {}
        for name in names:
            with open(os.path.join(base, name), "rb") as handle:
                contents[name] = handle.read()
    manifest = {"format": FORMAT, "kind": kind,
                "files": [{"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                          for name, data in contents.items()]}
    try:
        with atomic_writer(out) as stream, \
                tarfile.open(fileobj=stream, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
            for name, data in [(MANIFEST, json.dumps(manifest, indent=2).encode()), *contents.items()]:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                archive.addfile(info, io.BytesIO(data))
    except OSError as exc:
        raise TufError(f"trust export: cannot write {out}: {exc.strerror or exc}") from None
    return manifest


def read(path: str) -> tuple[dict, dict[str, bytes]]:
    """The manifest and the files of an archive, every one checked against the manifest (in
    memory: for small archives and tests; ``import_`` streams to disk through ``_extract``).

    The archive is read by :mod:`airlock.tarsafe` (never ``tarfile``): linear time, bounded sizes,
    regular files with safe, distinct names only.
    """
    try:
        with open(path, "rb") as handle:
            files = tarsafe.read_tar_gz(handle, "trust import", max_files=MAX_FILES, max_file=MAX_FILE,
                                        max_total=MAX_TOTAL)
    except OSError as exc:
        raise TufError(f"trust import: cannot read {path}: {exc.strerror or exc}") from None
    except FormatError as exc:
        raise TufError(str(exc)) from None
    manifest = _check_members(files.pop(MANIFEST, None),
                              {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in files.items()})
    return manifest, files


def _check_members(manifest_data: bytes | None, members: dict[str, tuple[int, str]]) -> dict:
    """The parsed manifest, once every member (name -> size, SHA-256) is listed with its size and
    hash and every listed file is a member."""
    if manifest_data is None:
        raise TufError("trust import: the archive has no MANIFEST.json")
    try:
        manifest = _wire.loads(manifest_data, "trust import: MANIFEST.json")
    except FormatError as exc:
        raise TufError(str(exc)) from None
    listed = _manifest_entries(manifest)
    for name in sorted(set(listed) | set(members)):
        if name not in members:
            raise TufError(f"trust import: {name!r} is in the manifest but not in the archive")
        if name not in listed:
            raise TufError(f"trust import: {name!r} is not in the manifest")
        entry, (size, digest) = listed[name], members[name]
        if entry["size"] != size or entry["sha256"] != digest:
            raise TufError(f"trust import: {name!r} does not match its SHA-256 in the manifest")
    return manifest


def _extract(path: str, staging: str) -> tuple[dict, dict[str, str]]:
    """Stream the archive's members into files in the empty directory ``staging``, each hashed as
    it passes (one chunk in memory at a time), under numbered names: no member is placed under its
    own name before the whole archive was read by :mod:`airlock.tarsafe` and matched the
    manifest. Returns the manifest and member name -> its file."""
    staged: dict[str, str] = {}
    members: dict[str, tuple[int, str]] = {}
    manifest_data: bytes | None = None
    try:
        handle = open(path, "rb")  # noqa: SIM115 -- closed below; its errors are told apart from the staging's
    except OSError as exc:
        raise TufError(f"trust import: cannot read {path}: {exc.strerror or exc}") from None
    try:
        with handle:
            reader = tarsafe.TarReader(handle, "trust import", max_files=MAX_FILES, max_file=MAX_FILE,
                                       max_total=MAX_TOTAL)
            while (member := reader.next()) is not None:
                name, size = member
                if name == MANIFEST:
                    if size > MAX_MANIFEST:
                        raise TufError(f"trust import: {MANIFEST} is {size} bytes, more than {MAX_MANIFEST}")
                    manifest_data = reader.read(size)
                    continue
                target = os.path.join(staging, str(len(staged)))
                hasher = hashlib.sha256()
                with open(target, "xb") as output:
                    while chunk := reader.read():
                        hasher.update(chunk)
                        output.write(chunk)
                staged[name] = target
                members[name] = (size, hasher.hexdigest())
    except OSError as exc:
        raise TufError(f"trust import: cannot read {path} into {staging}: {exc.strerror or exc}") from None
    except FormatError as exc:
        raise TufError(str(exc)) from None
    return _check_members(manifest_data, members), staged


def _place(staged: dict[str, str], directory: str) -> None:
    """Move checked members from their numbered files to their names under ``directory`` (a
    rename; a copy when ``directory`` is on another file system)."""
    for name, source in staged.items():
        destination = os.path.join(directory, *name.split("/"))
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.move(source, destination)


def _manifest_entries(manifest: object) -> dict[str, dict]:
    """``files`` of a well-formed manifest by path; every field of the right type, no path twice."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise TufError("trust import: MANIFEST.json is malformed (no list of files)")
    if manifest.get("format") != FORMAT or manifest.get("kind") not in ("tuf-mirror", "trusted-root"):
        raise TufError("trust import: unknown archive format")
    listed: dict[str, dict] = {}
    for number, entry in enumerate(manifest["files"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                and type(entry.get("size")) is int and isinstance(entry.get("sha256"), str)):
            raise TufError(f"trust import: MANIFEST.json is malformed (file {number} needs a path, size and sha256)")
        if entry["path"] in listed:
            raise TufError(f"trust import: MANIFEST.json lists {entry['path']!r} twice")
        listed[entry["path"]] = entry
    return listed


def import_(path: str, *, tuf_root: str | None = None, out: str | None = None,
            now: datetime | None = None, root: bytes | None = None, replace_anchor: bool = False) -> dict:
    """Check the archive, then install the mirror (re-verified) or write the trusted root.

    A mirror's own bootstrap root proves nothing (it comes with the archive): the mirror must chain,
    by TUF's rules, from the installed mirror's newest root (and keeps the installed anchor), and
    from ``root`` if the operator names one (which then becomes the anchor when nothing is
    installed). ``replace_anchor=True`` (needs ``root``) drops the installed lineage, as if that
    mirror had been removed. The anchor must match the operator's pin, if one is set.
    """
    from airlock.trust import layout

    if replace_anchor and root is None:
        raise TufError("trust import: --replace-anchor needs --root FILE, the new root to anchor to")
    root_dir = os.path.abspath(layout.tuf_root(tuf_root))
    parent = os.path.dirname(root_dir)
    target = out or "trusted_root.json"
    # the members are checked in a private scratch directory (what kind of archive it is is not known
    # yet); they are moved (copied across file systems) to where they go only once all are checked
    incoming = tempfile.mkdtemp(prefix="airlock-trust-import-")
    staging = ""
    try:
        manifest, staged = _extract(path, incoming)
        if manifest["kind"] == "trusted-root":
            from airlock.trust.trusted_root import TrustedRoot

            if root is not None or replace_anchor:
                raise TufError("trust import: --root and --replace-anchor apply to a TUF mirror, not a trusted root")
            if set(staged) != {"trusted_root.json"}:
                raise TufError("trust import: a trusted-root archive holds exactly trusted_root.json")
            with open(staged["trusted_root.json"], "rb") as handle:
                data = handle.read()  # one file, at most MAX_FILE: it is parsed whole anyway
            TrustedRoot.from_json(data, source="imported trusted_root.json")
            try:
                atomic_write(target, data)
            except OSError as exc:
                raise TufError(f"trust import: cannot write {target}: {exc.strerror or exc}") from None
            return manifest
        installed = None if replace_anchor else _installed_lineage(root_dir)
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".airlock-tuf-", dir=parent)
        _place(staged, staging)
        mirror = _install(staging, root_dir, installed, root, now)
        staging = ""
    except OSError as exc:
        raise TufError(f"trust import: cannot install the mirror under {root_dir}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    origin = "installed mirror" if installed else "--root" if root is not None else "archive"
    return {**manifest, "anchor": {"rootVersion": mirror.anchor_version, "sha256": mirror.anchor_sha256,
                                   "from": origin, "pinned": mirror.pin is not None}}


def _installed_lineage(root_dir: str) -> list[bytes] | None:
    from airlock.trust.mirror import installed_lineage

    return installed_lineage(root_dir)


def _install(staging: str, root_dir: str, installed: list[bytes] | None, root: bytes | None,
             now: datetime | None):
    """Anchor the mirror unpacked in ``staging``, re-verify it from that anchor, and swap it in."""
    from airlock.trust import layout

    mirror = _anchor(staging, root_dir, installed, root, now)
    layout.swap_in(staging, root_dir)
    return mirror


def carried_trusted_root(path: str, *, tuf_root: str | None = None, root: bytes | None = None,
                         now: datetime | None = None, workdir: str | None = None) -> bytes:
    """The trusted_root.json of the TUF mirror in the trust archive at ``path`` (one an ``airlock
    pack`` carries), checked as ``import_`` checks it, installing nothing: the mirror must chain
    from the installed mirror's newest root (or from ``root``), not roll back what is installed,
    and match the operator's pin. A plain trusted root carried beside the images proves nothing
    by itself, so it is refused. The mirror is checked in a temporary directory under ``workdir``."""
    from airlock.trust import layout

    staging = tempfile.mkdtemp(prefix=".airlock-tuf-check-", dir=workdir)
    try:
        incoming = os.path.join(staging, "in")
        os.mkdir(incoming)
        manifest, staged = _extract(path, incoming)
        if manifest["kind"] != "tuf-mirror":
            raise TufError("the pack carries a trusted root, not a TUF mirror: it proves nothing by itself; "
                           "pass --trusted-root FILE (or --key) to say what the images must be verified against")
        root_dir = os.path.abspath(layout.tuf_root(tuf_root))
        installed = _installed_lineage(root_dir)
        if not installed and root is None:
            raise TufError(f"the pack's TUF mirror has nothing to chain from: no mirror is installed under "
                           f"{root_dir}; pass --root FILE (the TUF root to anchor to) or --trusted-root FILE")
        mirror = os.path.join(staging, "mirror")
        os.mkdir(mirror)
        _place(staged, mirror)
        return bytes(_anchor(mirror, root_dir, installed, root, now).trusted_root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _anchor(staging: str, root_dir: str, installed: list[bytes] | None, root: bytes | None,
            now: datetime | None):
    """Anchor the mirror unpacked in ``staging`` and re-verify it from that anchor (and the pin);
    an installed mirror's roles must not roll back."""
    from airlock.trust import layout
    from airlock.trust.mirror import chain_from, graft, metadata_class, refuse_rollback, role_versions, verify_mirror

    mirror = verify_mirror(staging, now=now, pin=False)  # consistent in itself; the anchor comes next
    anchor = None
    if root is not None:
        try:
            metadata_class().from_bytes(root)
        except Exception as exc:  # DeserializationError, ValueError, KeyError ...
            raise TufError("trust import: --root is not a TUF root") from exc
        chain_from(root, mirror.directory, "the archive")
        anchor = [root]
    if installed:
        chain_from(installed[-1], mirror.directory, "the archive")
        anchor = installed
    if anchor:
        graft(mirror.directory, anchor)
    mirror = verify_mirror(staging, now=now)  # the whole chain from the anchor, and the pin
    if installed:
        refuse_rollback(role_versions(layout.mirror_dir(root_dir)[1]), role_versions(mirror.directory))
    return mirror
