"""``airlock initialize``: mirror a Sigstore TUF repository with a full TUF client (connected side).

Workflow: python-tuf's ``ngclient.Updater`` bootstraps from the root the operator gives, walks
the root chain (every signature, threshold, version and expiry), then timestamp, snapshot and
targets, and downloads ``trusted_root.json`` (and the signing config) checking length and
hashes. All of it is written into a fresh directory beside ``$TUF_ROOT``; only when everything
verified is that directory swapped in, so a failed update leaves the previous mirror intact.

The mirror URL may be ``http(s)://`` or ``file://`` (a repository copied onto removable media).

Over an installed mirror, the new one must chain from the installed mirror's newest root by TUF's
rules (``mirror.chain_from``) and keeps its anchor (the root first bootstrapped from), whatever
``--root`` says; a repository with another root lineage is refused. ``replace_anchor=True`` is
the operator's explicit choice of a new lineage: the installed mirror is treated as absent and
``root_json`` becomes the anchor. Either way the anchor must match the operator's pin, if set.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

from airlock.errors import TufError
from airlock.trust.layout import (
    DEFAULT_TARGETS,
    RECORD,
    REQUIRED_TARGET,
    cosign_made,
    host_dir,
    mirror_dir,
    swap_in,
    tuf_root,
)
from airlock.trust.mirror import (
    chain_from,
    graft,
    in_chain,
    installed_lineage,
    refuse_rollback,
    role_versions,
    verify_mirror,
)


def _fetcher():
    from tuf.api import exceptions
    from tuf.ngclient import FetcherInterface, Urllib3Fetcher

    class Fetcher(FetcherInterface):
        """HTTP(S) through python-tuf's own fetcher; ``file://`` read from disk."""

        def __init__(self) -> None:
            self._http = Urllib3Fetcher(app_user_agent="airlock")

        def _fetch(self, url: str) -> Iterator[bytes]:
            parsed = urlparse(url)
            if parsed.scheme in ("http", "https"):
                return self._http._fetch(url)
            if parsed.scheme != "file":
                raise exceptions.DownloadError(f"unsupported mirror URL scheme: {url}")
            path = unquote(parsed.path)
            if not os.path.isfile(path):
                raise exceptions.DownloadHTTPError(f"{path}: not found", 404)
            return _chunks(path)

    return Fetcher()


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            yield chunk


def _reason(exc: Exception) -> str:
    """python-tuf's exception, as one line that says what failed."""
    from tuf.api import exceptions

    names = {
        exceptions.ExpiredMetadataError: "expired",
        exceptions.UnsignedMetadataError: "signature threshold not met",
        exceptions.BadVersionNumberError: "bad version (rollback?)",
        exceptions.EqualVersionNumberError: "bad version (rollback?)",
        exceptions.LengthOrHashMismatchError: "length or hash mismatch",
        exceptions.DownloadLengthMismatchError: "larger than allowed",
        exceptions.DownloadHTTPError: "download failed",
        exceptions.DownloadError: "download failed",
    }
    kind = next((label for cls, label in names.items() if isinstance(exc, cls)), exc.__class__.__name__)
    message = str(exc).splitlines()[0] if str(exc) else ""
    if exc.__cause__ is not None and isinstance(exc, exceptions.DownloadError):
        message = f"{message}: {exc.__cause__}"
    return f"{kind}: {message}" if message else kind


def initialize(mirror: str, root_json: bytes, destination: str | None = None,
               targets: tuple[str, ...] = DEFAULT_TARGETS, progress=None, *, replace_anchor: bool = False) -> dict:
    """Verify ``mirror`` from ``root_json`` and install it under ``destination`` (``$TUF_ROOT``).

    Returns airlock's record of the mirror, plus ``anchorSha256``. Raises ``TufError`` naming the
    failed check.
    """
    from tuf.api import exceptions
    from tuf.api.metadata import Metadata
    from tuf.ngclient import Updater

    say = progress or (lambda message: None)
    scheme = urlparse(mirror).scheme
    if scheme not in ("http", "https", "file"):
        raise TufError(f"--mirror {mirror}: use an http://, https:// or file:// URL")
    base = mirror.rstrip("/") + "/"
    root_dir = os.path.abspath(tuf_root(destination))
    parent = os.path.dirname(root_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".airlock-tuf-", dir=parent)
    try:
        os.chmod(staging, 0o700)
        metadata = os.path.join(staging, host_dir(mirror))
        target_dir = os.path.join(metadata, "targets")
        os.makedirs(target_dir)
        installed = None if replace_anchor else installed_lineage(root_dir)
        if installed is None and os.path.isfile(os.path.join(root_dir, "remote.json")):
            old_url, old_directory = mirror_dir(root_dir)
            if cosign_made(old_directory):
                say(f"replacing the mirror of {old_url} that `cosign initialize` made (it keeps no trust anchor; "
                    "--root becomes the anchor)")
        previous = (_installed(root_dir) or os.path.join(root_dir, host_dir(mirror))) if installed else ""
        if previous:
            _seed_cache(previous, metadata)
        try:
            bootstrap, given_version = root_json, Metadata.from_bytes(root_json).signed.version
            if installed and given_version > Metadata.from_bytes(installed[-1]).signed.version:
                # a newer --root than the installed root: walk from the installed root (its
                # successors are fetched and checked), and --root must turn up in that chain
                bootstrap = installed[-1]
            bootstrap_version = Metadata.from_bytes(bootstrap).signed.version
            updater = Updater(metadata, base, target_dir, base + "targets/", fetcher=_fetcher(),
                              bootstrap=bootstrap)
        except (exceptions.RepositoryError, ValueError, TypeError, KeyError) as exc:
            raise TufError(f"--root: not a usable TUF root ({_reason(exc)})") from exc
        say(f"verifying {mirror} from root version {bootstrap_version}")
        try:
            updater.refresh()
        except (exceptions.RepositoryError, exceptions.DownloadError) as exc:
            raise TufError(f"TUF update from {mirror} failed: {_reason(exc)}") from exc
        fetched = []
        for name in targets:
            try:
                info = updater.get_targetinfo(name)
                if info is None:
                    if name == REQUIRED_TARGET:
                        raise TufError(f"TUF repository {mirror} has no target {name}")
                    continue
                updater.download_target(info, os.path.join(target_dir, name))
            except (exceptions.RepositoryError, exceptions.DownloadError) as exc:
                raise TufError(f"TUF target {name} from {mirror} failed verification: {_reason(exc)}") from exc
            fetched.append(name)
            say(f"verified target {name}")
        _root_file_not_link(metadata)
        if installed:
            chain_from(installed[-1], metadata, f"the repository at {mirror}")
            if bootstrap is not root_json:
                in_chain(root_json, metadata, "--root")
            bootstrap_version = graft(metadata, installed)
        now = datetime.now(UTC)
        record = {
            "mirror": mirror,
            "verifiedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "bootstrapRootVersion": bootstrap_version,
            "rootVersion": Metadata.from_file(os.path.join(metadata, "root.json")).signed.version,
            "targets": fetched,
            "client": "python-tuf ngclient",
        }
        _write_json(os.path.join(metadata, RECORD), record, pretty=True)
        _write_json(os.path.join(staging, "remote.json"), {"mirror": mirror})
        _write_json(os.path.join(staging, host_dir(mirror) + ".json"),
                    {"lastTimestamp": now.isoformat().replace("+00:00", "Z")})
        # What the disconnected side will check is checked here too, before anything is replaced:
        # a mirror that verify_mirror would refuse must never replace a good one.
        verified = verify_mirror(staging, now=now)
        if previous:
            refuse_rollback(role_versions(previous), role_versions(metadata))
        swap_in(staging, root_dir)
        staging = ""
        return {**record, "anchorSha256": verified.anchor_sha256}
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def _installed(root_dir: str) -> str | None:
    """The metadata directory of the mirror installed now, whatever URL it came from: a copy of
    the same repository under another path (removable media) must not roll it back either."""
    from airlock.trust.layout import mirror_dir

    if not os.path.exists(os.path.join(root_dir, "remote.json")):
        return None
    try:
        return mirror_dir(root_dir)[1]
    except TufError:
        return None


def _seed_cache(previous: str, metadata: str) -> None:
    """Give ngclient the previous mirror's metadata as its cache, so that versions never go back.

    A client bootstrapped afresh from ``--root`` would accept an older, still validly signed
    state (a replayed timestamp, a withheld newer root); with the previous metadata cached,
    python-tuf's own rollback checks apply across updates.
    """
    if not os.path.isdir(previous):
        return
    history = os.path.join(previous, "root_history")
    if os.path.isdir(history):
        shutil.copytree(history, os.path.join(metadata, "root_history"),
                        ignore=lambda _, names: [n for n in names if not n.endswith(".root.json")])
    for name in ("timestamp.json", "snapshot.json", "targets.json"):
        path = os.path.join(previous, name)
        if os.path.isfile(path) and not os.path.islink(path):
            shutil.copyfile(path, os.path.join(metadata, name))


def _root_file_not_link(metadata: str) -> None:
    """ngclient leaves root.json as a symlink into root_history; cosign's layout has a file."""
    link = os.path.join(metadata, "root.json")
    target = os.path.realpath(link)
    os.unlink(link)
    shutil.copyfile(target, link)


def _write_json(path: str, value: dict, pretty: bool = False) -> None:
    text = json.dumps(value, indent=2) + "\n" if pretty else json.dumps(value, separators=(",", ":"))
    with open(path, "w") as handle:
        handle.write(text)
