"""``airlock trust export`` / ``import``: carry a TUF mirror, or a plain trusted root, as one file.

The archive is a gzip'd tar with ``MANIFEST.json`` first: every file's path, size and SHA-256.
Import is strict (the archive is read by :mod:`airlock.tarsafe`, in linear time): regular files
only, no absolute paths, no ``..``, no links, no duplicate names, bounded sizes,
every file present in the manifest with its size and hash and nothing else. A mirror is then
re-verified offline *before* it replaces the one in ``$TUF_ROOT`` (atomically); a trusted root
is loaded (so it parses) before it is written.

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
    with atomic_writer(out) as stream, tarfile.open(fileobj=stream, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, data in [(MANIFEST, json.dumps(manifest, indent=2).encode()), *contents.items()]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return manifest


def read(path: str) -> tuple[dict, dict[str, bytes]]:
    """The manifest and the files of an archive, every one checked against the manifest.

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
    if MANIFEST not in files:
        raise TufError("trust import: the archive has no MANIFEST.json")
    try:
        manifest = _wire.loads(files.pop(MANIFEST), "trust import: MANIFEST.json")
    except FormatError as exc:
        raise TufError(str(exc)) from None
    listed = _manifest_entries(manifest)
    for name in sorted(set(listed) | set(files)):
        if name not in files:
            raise TufError(f"trust import: {name!r} is in the manifest but not in the archive")
        if name not in listed:
            raise TufError(f"trust import: {name!r} is not in the manifest")
        entry, data = listed[name], files[name]
        if entry["size"] != len(data) or entry["sha256"] != hashlib.sha256(data).hexdigest():
            raise TufError(f"trust import: {name!r} does not match its SHA-256 in the manifest")
    return manifest, files


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
    manifest, files = read(path)
    if manifest["kind"] == "trusted-root":
        from airlock.trust.trusted_root import TrustedRoot

        if root is not None or replace_anchor:
            raise TufError("trust import: --root and --replace-anchor apply to a TUF mirror, not a trusted root")
        data = files.get("trusted_root.json")
        if data is None or len(files) != 1:
            raise TufError("trust import: a trusted-root archive holds exactly trusted_root.json")
        TrustedRoot.from_json(data, source="imported trusted_root.json")
        target = out or "trusted_root.json"
        atomic_write(target, data)
        return manifest
    root_dir = os.path.abspath(layout.tuf_root(tuf_root))
    installed = None if replace_anchor else _installed_lineage(root_dir)
    parent = os.path.dirname(root_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".airlock-tuf-", dir=parent)
    try:
        for name, data in files.items():
            destination = os.path.join(staging, *name.split("/"))
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with open(destination, "wb") as output:
                output.write(data)
        mirror = _install(staging, root_dir, installed, root, now)
        staging = ""
    finally:
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

    manifest, files = read(path)
    if manifest["kind"] != "tuf-mirror":
        raise TufError("the pack carries a trusted root, not a TUF mirror: it proves nothing by itself; "
                       "pass --trusted-root FILE (or --key) to say what the images must be verified against")
    root_dir = os.path.abspath(layout.tuf_root(tuf_root))
    installed = _installed_lineage(root_dir)
    if not installed and root is None:
        raise TufError(f"the pack's TUF mirror has nothing to chain from: no mirror is installed under {root_dir}; "
                       "pass --root FILE (the TUF root to anchor to) or --trusted-root FILE")
    staging = tempfile.mkdtemp(prefix=".airlock-tuf-check-", dir=workdir)
    try:
        for name, data in files.items():
            destination = os.path.join(staging, *name.split("/"))
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with open(destination, "wb") as output:
                output.write(data)
        return bytes(_anchor(staging, root_dir, installed, root, now).trusted_root)
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
