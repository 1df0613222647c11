"""``airlock pack`` / ``unpack``: layouts (and the trust to check them) across the gap as one file.

``pack`` writes the archive of :mod:`airlock.oci.pack`, with the installed TUF mirror as
``trust.tar.gz`` when asked (``airlock trust export`` makes it). ``unpack`` extracts into a
staging directory beside the destination, checking every member against the manifest as it
streams, then verifies every image of every layout (``verify_images``); only when all of that
passed is the staging directory renamed to the destination. On any failure it is removed:
nothing is left behind, and the destination is untouched.

The images are verified against, in this order: what the caller gives (``trusted_root``, or
none for a key with no transparency log); else the TUF mirror the pack carries, which must
chain from the installed mirror (or ``anchor``), as ``trust import`` requires; else the
installed trust (``fallback_trust``). The trust archive stays in the destination, for ``airlock
trust import``; nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airlock.api.images import ImageVerdict, layout_targets, verify_images
from airlock.oci import pack as packing


@dataclass
class Unpacked:
    """What ``unpack`` found: the manifest, one verdict per image (layout name, verdict), and where
    the trust came from. ``ok``: every image verified and the destination is in place."""

    directory: str
    manifest: dict[str, Any]
    verdicts: list[tuple[str, ImageVerdict]] = field(default_factory=list)
    trust: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(verdict.ok for _, verdict in self.verdicts)


def pack(directories: list[str], out: str, *, trust: bool = False, tuf_root: str | None = None,
         compress: str = "gzip") -> dict[str, Any]:
    """Write the pack of the OCI layouts ``directories`` to ``out`` (atomically), with the
    installed TUF mirror (re-verified first) when ``trust``; returns the manifest."""
    if not trust:
        return packing.write(out, directories, compress=compress)
    from airlock.trust.pack import export

    with tempfile.TemporaryDirectory(prefix=".airlock-trust-", dir=os.path.dirname(os.path.abspath(out))) as scratch:
        temp = os.path.join(scratch, "trust.tar")
        export(temp, tuf_root=tuf_root)
        return packing.write(out, directories, trust_archive=temp, compress=compress)


def check_destination(directory: str) -> None:
    """``directory`` must be absent or an empty directory: unpack renames a whole tree onto it."""
    from airlock.errors import UsageError

    if os.path.lexists(directory) and (os.path.islink(directory) or not os.path.isdir(directory)
                                       or os.listdir(directory)):
        raise UsageError(f"--dir {directory}: exists and is not an empty directory")


def unpack(archive: str, directory: str, *, trusted_root: Any = None, use_carried_trust: bool = True,
           fallback_trust: Callable[[], Any] | None = None, anchor: bytes | None = None,
           tuf_root: str | None = None, jobs: int | None = None, max_total: int = packing.MAX_TOTAL,
           **options: Any) -> Unpacked:
    """Check and verify the pack ``archive``; with every image verified, put it at ``directory``
    (``layouts/<name>/`` and ``trust.tar.gz``). ``options``: ``verify_target``'s keywords (``key``,
    ``policy``, ``options``, ...). Verification failures do not raise: the result says which
    image failed, and nothing is left on disk; a bad archive raises (``PackError``)."""
    from airlock.api.images import Verifier
    from airlock.oci.sources import layout_source

    check_destination(directory)
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".airlock-unpack-", dir=parent)
    try:
        manifest = packing.extract(archive, staging, max_total=max_total)
        result = Unpacked(directory, manifest)
        if trusted_root is None and use_carried_trust and manifest["trust"]:
            from airlock.trust.pack import carried_trusted_root
            from airlock.trust.trusted_root import TrustedRoot

            data = carried_trusted_root(os.path.join(staging, packing.TRUST), tuf_root=tuf_root, root=anchor,
                                        workdir=staging)  # checked inside the staging directory
            trusted_root = TrustedRoot.from_json(data, source="the TUF mirror in the pack")
            result.trust = "the TUF mirror in the pack"
        elif trusted_root is None and use_carried_trust and fallback_trust is not None:
            trusted_root = fallback_trust()
            result.trust = "the installed trust"
        verifier = Verifier(trusted_root)
        targets, names = [], []
        for name in manifest["layouts"]:
            found = layout_targets(layout_source(os.path.join(staging, packing.LAYOUTS, name)),
                                   path=os.path.join(directory, packing.LAYOUTS, name))
            targets += found
            names += [name] * len(found)
        for name, verdict in zip(names, verify_images(targets, verifier, jobs=jobs, **options), strict=True):
            result.verdicts.append((name, verdict))
        if not result.ok:
            return result
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp made it private; it becomes an ordinary directory
        try:
            os.rename(staging, directory)  # onto nothing, or an empty directory
        except OSError as exc:  # something appeared there meanwhile
            from airlock.errors import UsageError

            raise UsageError(f"--dir {directory}: cannot put the pack there: {exc.strerror or exc}") from None
        staging = ""
        return result
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
