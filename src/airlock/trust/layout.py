"""Where a mirrored TUF repository lives on disk: cosign's layout under ``$TUF_ROOT``.

```
$TUF_ROOT/remote.json                    {"mirror": URL}
$TUF_ROOT/<host-dir>.json                {"lastTimestamp": RFC 3339}   (cosign's refresh record)
$TUF_ROOT/<host-dir>/root.json           the newest verified root (a file, not a symlink)
$TUF_ROOT/<host-dir>/root_history/N.root.json   every root from the bootstrap root on
$TUF_ROOT/<host-dir>/{timestamp,snapshot,targets}.json
$TUF_ROOT/<host-dir>/targets/trusted_root.json  (and the other targets fetched)
$TUF_ROOT/<host-dir>/airlock-mirror.json        airlock's record: when, from where, which root
```
The root history and airlock's record are what lets the disconnected side re-verify the whole
mirror offline, starting from the root the operator bootstrapped from.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

from airlock.errors import AirlockError

RECORD = "airlock-mirror.json"
DEFAULT_TARGETS = ("trusted_root.json", "signing_config.v0.2.json")
REQUIRED_TARGET = "trusted_root.json"


class TufError(AirlockError):
    """A TUF repository or mirror that cannot be trusted, with the reason."""


def tuf_root(path: str | None = None) -> str:
    """``path``, else ``$TUF_ROOT``, else ``~/.sigstore/root`` (as cosign)."""
    return path or os.environ.get("TUF_ROOT") or os.path.join(os.path.expanduser("~"), ".sigstore", "root")


def host_dir(mirror_url: str) -> str:
    """cosign's directory name for a mirror: scheme stripped, ``/`` and ``:`` as ``-``, lower case."""
    name = mirror_url
    for scheme in ("https://", "http://", "file://"):
        if name.startswith(scheme):
            name = name[len(scheme):]
            break
    return name.rstrip("/").replace("/", "-").replace(":", "-").lower() or "mirror"


def read_json(path: str, what: str, limit: int = 1 << 20) -> Any:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise TufError(f"{what}: {exc.strerror or exc} ({path})") from exc
    if len(data) > limit:
        raise TufError(f"{what}: larger than {limit} bytes ({path})")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise TufError(f"{what}: not valid JSON ({path})") from exc


def mirror_dir(root: str) -> tuple[str, str]:
    """(mirror URL, metadata directory) of the mirror installed under ``root``."""
    remote = read_json(os.path.join(root, "remote.json"), "TUF mirror")
    url = remote.get("mirror") if isinstance(remote, dict) else None
    if not isinstance(url, str) or not url:
        raise TufError(f"TUF mirror: {root}/remote.json names no mirror")
    return url, os.path.join(root, host_dir(url))


def swap_in(staging: str, root_dir: str) -> None:
    """Put ``staging`` where ``root_dir`` is; the old mirror stays whole until the last step."""
    if not os.path.exists(root_dir):
        os.rename(staging, root_dir)
        return
    old = tempfile.mkdtemp(prefix=".airlock-tuf-old-", dir=os.path.dirname(root_dir))
    os.rmdir(old)
    os.rename(root_dir, old)
    try:
        os.rename(staging, root_dir)
    except OSError:
        os.rename(old, root_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
