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
mirror offline, starting from the root the operator bootstrapped from (the *trust anchor*: the
record's ``bootstrapRootVersion`` in ``root_history``). Updates and imports keep the anchor: a
new mirror must chain from the installed one's newest root by TUF's rules, so the anchor only
changes when the operator says so (``--replace-anchor``).

Whoever can write ``$TUF_ROOT`` could still replace all of it, anchor included; the operator pins
the anchor outside the mirror with its SHA-256 (``pinned_anchor``): the environment variable
``AIRLOCK_TUF_ROOT_SHA256``, else the file ``$XDG_CONFIG_HOME/airlock/trust-anchor`` (default
``~/.config/airlock/trust-anchor``; one line, ``#`` comments allowed).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Any, NamedTuple

from airlock.errors import TufError

RECORD = "airlock-mirror.json"
DEFAULT_TARGETS = ("trusted_root.json", "signing_config.v0.2.json")
REQUIRED_TARGET = "trusted_root.json"
PIN_ENV = "AIRLOCK_TUF_ROOT_SHA256"


class Pin(NamedTuple):
    sha256: str
    source: str  # where it was set: the environment variable or the file


def pin_file() -> str:
    """``$XDG_CONFIG_HOME/airlock/trust-anchor`` (``~/.config/airlock/trust-anchor`` by default)."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "airlock", "trust-anchor")


def pinned_anchor() -> Pin | None:
    """The SHA-256 the operator pinned the mirror's bootstrap root to, or None if nothing is pinned.

    ``$AIRLOCK_TUF_ROOT_SHA256`` wins over the file. A pin that is set but is not 64 hex digits is an
    error, never ignored.
    """
    value = os.environ.get(PIN_ENV, "")
    source = PIN_ENV
    if not value.strip():
        path = pin_file()
        try:
            with open(path, "rb") as handle:
                data = handle.read(4097)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TufError(f"trust anchor pin {path}: {exc.strerror or exc}") from exc
        try:
            lines = [line.split("#", 1)[0].strip() for line in data[:4096].decode("ascii").splitlines()]
        except UnicodeDecodeError:
            lines = ["?"]
        lines = [line for line in lines if line]
        value, source = (lines[0] if len(lines) == 1 else "?" if lines else ""), path
        if not value:
            raise TufError(f"trust anchor pin {path}: the file is empty; write the SHA-256 of the bootstrap root")
    value = value.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise TufError(f"trust anchor pin {source}: not a SHA-256 (64 hex digits)")
    return Pin(value, source)


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
    from airlock import _wire
    from airlock.errors import FormatError

    try:
        return _wire.loads(data, what)
    except FormatError as exc:
        raise TufError(f"{what}: not valid JSON ({path})") from exc


def cosign_made(directory: str) -> bool:
    """A mirror directory with a ``root.json`` but neither airlock's record nor a root history:
    ``cosign initialize`` made it (an airlock mirror that lost its record is a broken airlock mirror)."""
    return (os.path.isfile(os.path.join(directory, "root.json"))
            and not os.path.lexists(os.path.join(directory, RECORD))
            and not os.path.lexists(os.path.join(directory, "root_history")))


def read_record(directory: str, url: str) -> Any:
    """airlock's record of the mirror in ``directory``. A mirror without one but with a ``root.json``
    was made by ``cosign initialize``: it keeps only the newest root and no time of verification, so
    nothing offline can tell it from a root.json anyone with write access put there. It is refused,
    naming the command that makes one airlock can re-verify (and cosign can use as well)."""
    path = os.path.join(directory, RECORD)
    if cosign_made(directory):
        raise TufError(f"TUF mirror: {directory} has no {RECORD}: it was made by `cosign initialize`, which keeps "
                       "neither the root it was bootstrapped from nor when it was verified, so it cannot be "
                       f"re-verified offline; run `airlock initialize --mirror {url} --root ROOT` on the connected "
                       "side (cosign uses the mirror it writes as well)")
    return read_json(path, "TUF mirror record")


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
