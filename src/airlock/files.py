"""Writing a file all at once: the one atomic-write helper.

A temporary file is created in the target's directory with its final mode, filled, flushed and
fsynced, then renamed over the target with ``os.replace``. A crash or an error at any step leaves
the old file (or no file) and no temporary behind, never half the new content. Ground floor:
imports nothing from airlock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import BinaryIO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: int = 0o644, *, overwrite: bool = True,
                  sync: bool = True) -> Iterator[BinaryIO]:
    """A binary stream whose content replaces ``path`` when the block exits without an error.

    ``mode`` is set on the temporary file before anything is written, so a private key is never
    readable by others even briefly. With ``overwrite`` False an existing ``path`` is left alone
    and ``FileExistsError`` raised (a hard link, which fails if the name exists, so there is no
    race between a check and the rename). ``sync=False`` skips the fsync, for a caller that syncs
    the file system once after many files, before anything refers to them. ``OSError`` escapes as
    is: callers name the file in their own error.
    """
    import tempfile  # only writers need it; verification should start fast

    target = os.fspath(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)[:32]}.", suffix=".tmp",
                                         dir=os.path.dirname(target) or ".")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            yield stream
            stream.flush()
            if sync:
                os.fsync(stream.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            _link_new(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, overwrite: bool = True,
                 sync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (see ``atomic_writer``)."""
    with atomic_writer(path, mode, overwrite=overwrite, sync=sync) as stream:
        stream.write(data)


def _link_new(temporary: str, target: str) -> None:
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: fall back to check-then-rename
        if os.path.lexists(target):
            raise FileExistsError(f"{target} exists") from None
        os.replace(temporary, target)
