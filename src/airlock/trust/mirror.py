"""Offline re-verification of a TUF mirror (disconnected side), and the expiry rule for it.

Before any verifying command trusts ``trusted_root.json`` from ``$TUF_ROOT``, the whole mirror
is verified again with python-tuf's Metadata API, with no network:

1. the root chain: from the root the operator bootstrapped from (``root_history``, the trust
   anchor), each next version must be signed by a threshold of the previous root's root keys and
   of its own, with the next version number; the last one must be ``root.json``. If the operator
   pinned the anchor (``AIRLOCK_TUF_ROOT_SHA256`` or ``$XDG_CONFIG_HOME/airlock/trust-anchor``,
   see ``layout.pinned_anchor``), the bootstrap root must have that SHA-256;
2. timestamp, snapshot, targets: signed by a threshold of the keys the root names; snapshot
   and targets have the versions (and, where listed, the lengths and hashes) the role above
   records;
3. ``trusted_root.json`` has the length and hashes the targets metadata records.

Expiry, offline, follows one rule: root and targets must not have expired *now*; timestamp and
snapshot must have been valid *when the mirror was verified* on the connected side (their
short lifetimes protect online clients from freeze attacks; an air-gapped mirror would
otherwise die within a week of every transfer). The mirror's age is reported, warned about
after ``warn_age`` and refused beyond ``max_age``. Nothing here ignores an expired root.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from airlock.errors import TufError
from airlock.trust.layout import (
    RECORD,
    REQUIRED_TARGET,
    Pin,
    cosign_made,
    mirror_dir,
    pinned_anchor,
    read_json,
    read_record,
    tuf_root,
)

MAX_METADATA_BYTES = {"root": 512_000, "timestamp": 16_384, "snapshot": 2_000_000, "targets": 5_000_000}
MAX_TARGET_BYTES = 16 * 1024 * 1024


class RoleExpiry(NamedTuple):
    role: str
    version: int
    expires: datetime
    checked_at: datetime  # the time the expiry rule compares with
    rule: str  # "now" or "when verified"


class Mirror(NamedTuple):
    url: str
    directory: str
    verified_at: datetime
    roles: tuple[RoleExpiry, ...]
    trusted_root: bytes
    anchor_version: int = 0  # the bootstrap root the chain starts from
    anchor_sha256: str = ""
    pin: Pin | None = None  # the pin it matched, if one is set

    def age(self, now: datetime) -> timedelta:
        return now - self.verified_at


# securesystemslib.signer, which tuf.api.metadata imports for its Key and Signature, imports the optional
# back-end of every signer it offers; with airlock's own extras installed that is boto3 (AWS KMS) and
# python-pkcs11, some 300 ms: more than the rest of a verify-blob from the mirror. Re-verifying metadata
# only checks signatures with the keys the metadata names (SSlibKey, over cryptography).
_SIGNER_BACKENDS = ("boto3", "botocore", "pkcs11", "asn1crypto")


def metadata_class():
    """``tuf.api.metadata.Metadata``. Imported for the first time in a single-threaded process (the
    CLI), the back-ends of securesystemslib's AWS and HSM signers are unimportable during that one
    import, so those signers report themselves unavailable as when their back-end is not installed;
    airlock signs with boto3 and pkcs11 itself, and imports them normally afterwards. With other
    threads running nothing is blocked: one of them might be importing boto3 meanwhile."""
    import sys

    threading = sys.modules.get("threading")
    if "tuf.api.metadata" not in sys.modules and (threading is None or threading.active_count() == 1):
        blocked = [name for name in _SIGNER_BACKENDS if name not in sys.modules]
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]  # None: "import boto3" raises ImportError
        try:
            import tuf.api.metadata  # noqa: F401
        finally:
            for name in blocked:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
    from tuf.api.metadata import Metadata

    return Metadata


def _load(path: str, role: str):
    Metadata = metadata_class()

    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise TufError(f"TUF mirror: {role} metadata is missing ({path})") from exc
    if size > MAX_METADATA_BYTES[role.split(".")[0] if role in MAX_METADATA_BYTES else "targets"]:
        raise TufError(f"TUF mirror: {role} metadata is larger than allowed ({size} bytes)")
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        metadata = Metadata.from_bytes(data)
    except Exception as exc:  # DeserializationError, ValueError, KeyError ...
        raise TufError(f"TUF mirror: {role} metadata does not parse ({path})") from exc
    expected = role if role in MAX_METADATA_BYTES else "root"
    if metadata.signed.type != expected:
        raise TufError(f"TUF mirror: {path} holds {metadata.signed.type} metadata, not {expected}")
    return metadata, data


def _check_signed(delegator, role: str, metadata, what: str) -> None:
    from tuf.api.exceptions import UnsignedMetadataError

    try:
        delegator.signed.verify_delegate(role, metadata.signed_bytes, metadata.signatures)
    except UnsignedMetadataError as exc:
        raise TufError(f"TUF mirror: {what} is not signed by a threshold of {role} keys") from exc


def _load_listed(directory: str, root, role: str, meta, parent: str):
    """A role's metadata, signed by its keys, with the version (and any length and hashes) that
    ``parent`` lists for it."""
    from tuf.api.exceptions import LengthOrHashMismatchError

    metadata, data = _load(os.path.join(directory, f"{role}.json"), role)
    _check_signed(root, role, metadata, f"{role}.json")
    if metadata.signed.version != meta.version:
        raise TufError(f"TUF mirror: {role}.json is version {metadata.signed.version}, {parent} names version "
                       f"{meta.version}")
    try:
        meta.verify_length_and_hashes(data)
    except LengthOrHashMismatchError as exc:
        raise TufError(f"TUF mirror: {role}.json does not match the length or hashes in {parent}") from exc
    return metadata


def _root_chain(directory: str, bootstrap_version: int) -> list[tuple[Any, bytes]]:
    """Every root from the bootstrap root on, each signed by a threshold of the previous one's root
    keys and of its own (expiry is not judged here); the last one is ``root.json``."""
    history = os.path.join(directory, "root_history")
    trusted, trusted_bytes = _load(os.path.join(history, f"{bootstrap_version}.root.json"), "root")
    if trusted.signed.version != bootstrap_version:
        raise TufError(f"TUF mirror: root_history/{bootstrap_version}.root.json has version "
                       f"{trusted.signed.version}")
    _check_signed(trusted, "root", trusted, f"the bootstrap root (version {bootstrap_version})")
    chain = [(trusted, trusted_bytes)]
    versions = sorted(int(m.group(1)) for name in os.listdir(history)
                      if (m := re.fullmatch(r"(\d+)\.root\.json", name)))
    for version in (v for v in versions if v > bootstrap_version):
        new, new_bytes = _load(os.path.join(history, f"{version}.root.json"), "root")
        if new.signed.version != trusted.signed.version + 1:
            raise TufError(f"TUF mirror: root version {new.signed.version} does not follow "
                           f"version {trusted.signed.version}")
        _check_signed(trusted, "root", new, f"root version {version} (by the previous root)")
        _check_signed(new, "root", new, f"root version {version} (by itself)")
        trusted, trusted_bytes = new, new_bytes
        chain.append((trusted, trusted_bytes))
    _, current_bytes = _load(os.path.join(directory, "root.json"), "root")
    if current_bytes != trusted_bytes:
        raise TufError("TUF mirror: root.json is not the last root of the verified chain")
    return chain


def _bootstrap_version(directory: str) -> int:
    record = read_json(os.path.join(directory, RECORD), "TUF mirror record")
    try:
        return int(record["bootstrapRootVersion"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TufError(f"TUF mirror: {RECORD} is malformed") from exc


def check_pin(anchor: bytes, version: int, pin: Pin | None) -> None:
    """The bootstrap root must be the one the operator pinned (if a pin is set)."""
    found = hashlib.sha256(anchor).hexdigest()
    if pin is not None and found != pin.sha256:
        raise TufError(f"TUF mirror: trust anchor mismatch: {pin.source} pins root SHA-256 {pin.sha256}, the "
                       f"mirror's bootstrap root (version {version}) has SHA-256 {found}")


def verify_mirror(root: str | None = None, *, now: datetime | None = None,
                  max_age: timedelta | None = None, pin: bool = True) -> Mirror:
    """Re-verify the mirror under ``root`` (``$TUF_ROOT``) at ``now``; raise ``TufError`` if it fails.

    ``pin=False`` skips the operator's anchor pin (only for a staged mirror about to be re-anchored,
    which is verified again with the pin before it is installed)."""
    from tuf.api.exceptions import LengthOrHashMismatchError

    now = now or datetime.now(UTC)
    base = tuf_root(root)
    url, directory = mirror_dir(base)
    record = read_record(directory, url)
    try:
        verified_at = datetime.strptime(record["verifiedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        bootstrap_version = int(record["bootstrapRootVersion"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TufError(f"TUF mirror: {RECORD} is malformed") from exc

    # 1. the root chain, from the pinned anchor
    the_pin = pinned_anchor() if pin else None
    _, anchor = _load(os.path.join(directory, "root_history", f"{bootstrap_version}.root.json"), "root")
    check_pin(anchor, bootstrap_version, the_pin)
    chain = _root_chain(directory, bootstrap_version)
    trusted = chain[-1][0]
    roles = [RoleExpiry("root", trusted.signed.version, trusted.signed.expires, now, "now")]

    # 2. timestamp -> snapshot -> targets
    timestamp, _ = _load(os.path.join(directory, "timestamp.json"), "timestamp")
    _check_signed(trusted, "timestamp", timestamp, "timestamp.json")
    snapshot = _load_listed(directory, trusted, "snapshot", timestamp.signed.snapshot_meta, "timestamp.json")
    targets_meta = snapshot.signed.meta.get("targets.json")
    if targets_meta is None:
        raise TufError("TUF mirror: snapshot.json does not list targets.json")
    targets = _load_listed(directory, trusted, "targets", targets_meta, "snapshot.json")
    roles += [
        RoleExpiry("timestamp", timestamp.signed.version, timestamp.signed.expires, verified_at, "when verified"),
        RoleExpiry("snapshot", snapshot.signed.version, snapshot.signed.expires, verified_at, "when verified"),
        RoleExpiry("targets", targets.signed.version, targets.signed.expires, now, "now"),
    ]

    # 3. the target
    info = targets.signed.targets.get(REQUIRED_TARGET)
    if info is None:
        raise TufError(f"TUF mirror: targets.json has no {REQUIRED_TARGET}")
    path = os.path.join(directory, "targets", REQUIRED_TARGET)
    try:
        if os.path.getsize(path) > MAX_TARGET_BYTES:
            raise TufError(f"TUF mirror: {REQUIRED_TARGET} is larger than {MAX_TARGET_BYTES} bytes")
        with open(path, "rb") as handle:
            trusted_root = handle.read()
    except OSError as exc:
        raise TufError(f"TUF mirror: {REQUIRED_TARGET} is missing ({path})") from exc
    try:
        info.verify_length_and_hashes(trusted_root)
    except LengthOrHashMismatchError as exc:
        raise TufError(f"TUF mirror: {REQUIRED_TARGET} does not match its length and hashes in targets.json") from exc

    # the expiry rule
    for role in roles:
        if role.expires <= role.checked_at:
            when = "now" if role.rule == "now" else f"when the mirror was verified ({verified_at:%Y-%m-%d})"
            raise TufError(f"TUF mirror: {role.role}.json version {role.version} expired on "
                           f"{role.expires:%Y-%m-%d %H:%M:%SZ} (checked against {when}); refresh the mirror "
                           "with `airlock initialize` on the connected side")
    if verified_at > now + timedelta(minutes=5):
        raise TufError(f"TUF mirror: verified at {verified_at:%Y-%m-%d %H:%M:%SZ}, which is in the future")
    mirror = Mirror(url=url, directory=directory, verified_at=verified_at, roles=tuple(roles),
                    trusted_root=trusted_root, anchor_version=bootstrap_version,
                    anchor_sha256=hashlib.sha256(anchor).hexdigest(), pin=the_pin)
    if max_age is not None and mirror.age(now) > max_age:
        raise TufError(f"TUF mirror: verified {mirror.age(now).days} days ago, more than the maximum age of "
                       f"{max_age.days} days")
    return mirror


def role_versions(directory: str) -> dict[str, int]:
    """The version of each top-level role in a mirror's metadata directory (best effort: files that
    do not parse are left out; this only feeds the rollback check)."""
    Metadata = metadata_class()

    versions: dict[str, int] = {}
    for role in ("root", "timestamp", "snapshot", "targets"):
        try:
            versions[role] = Metadata.from_file(os.path.join(directory, f"{role}.json")).signed.version
        except Exception:
            continue
    return versions


def refuse_rollback(previous: dict[str, int], new: dict[str, int]) -> None:
    """A new mirror must not go back to an older version of any role than the one it replaces."""
    for role, version in previous.items():
        if role in new and new[role] < version:
            raise TufError(f"TUF mirror: {role}.json would go back from version {version} to {new[role]} "
                           "(rollback); the previous mirror is kept")


# ---------------------------------------------------------------------- one lineage across updates


def installed_lineage(root_dir: str) -> list[bytes] | None:
    """The verified root chain of the mirror installed under ``root_dir`` (``$TUF_ROOT``), or None if
    none is installed (no ``remote.json``) or the installed one was made by ``cosign initialize``:
    that one keeps no anchor (only its newest root), and cosign itself replaces it whole on every
    ``initialize``, so the operator's ``--root`` becomes the anchor. One that is there but
    unreadable is an error: it is not silently treated as absent."""
    if not os.path.exists(os.path.join(root_dir, "remote.json")):
        return None
    try:
        directory = mirror_dir(root_dir)[1]
    except TufError as exc:
        raise TufError(f"the installed mirror is unreadable ({exc}); remove the installed mirror, or replace "
                       "its anchor explicitly (--replace-anchor)") from exc
    if cosign_made(directory):
        return None
    return installed_chain(directory)


def installed_chain(directory: str) -> list[bytes]:
    """The roots of the mirror installed in ``directory`` (its metadata directory), from its anchor to
    its newest, each checked by TUF's rules. Expiry is not judged: an expired root still decides
    which root may follow it."""
    try:
        return [data for _, data in _root_chain(directory, _bootstrap_version(directory))]
    except TufError as exc:
        raise TufError(f"the installed mirror's root chain does not verify ({exc}); remove the installed "
                       "mirror, or replace its anchor explicitly (--replace-anchor)") from exc


def chain_from(trusted: bytes, directory: str, what: str) -> None:
    """The mirror staged in ``directory`` must continue from ``trusted`` (a root the operator already
    trusts): every newer root signed by a threshold of the previous root's keys and of its own, by
    the same rules as a TUF client's root update. Raises ``TufError`` naming where it breaks."""
    from tuf.api.exceptions import UnsignedMetadataError
    from tuf.api.metadata import Metadata

    previous = Metadata.from_bytes(trusted)
    start = previous.signed.version
    current, current_bytes = _load(os.path.join(directory, "root.json"), "root")
    final = current.signed.version
    lineage = (f"{what} is from another TUF root lineage than the trusted root version {start}; remove the "
               "installed mirror, or replace the anchor explicitly (--replace-anchor)")
    if final < start:
        raise TufError(f"TUF mirror: root.json would go back from version {start} to {final} (rollback); "
                       "the previous mirror is kept")
    history = os.path.join(directory, "root_history")
    same = os.path.join(history, f"{start}.root.json")
    # the same root is the same signed content (the bytes may differ in whitespace or signatures)
    if ((final == start and not _same_root(current_bytes, previous))
            or (os.path.isfile(same) and not _same_root(_read(same), previous))):
        raise TufError(f"{lineage} (its root version {start} is another root)")
    for version in range(start + 1, final + 1):
        new, new_bytes = _load(os.path.join(history, f"{version}.root.json"), "root")
        if new.signed.version != version:
            raise TufError(f"TUF mirror: root_history/{version}.root.json has version {new.signed.version}")
        for signer, whose in ((previous, f"the keys of root version {version - 1}"), (new, "its own keys")):
            try:
                signer.signed.verify_delegate("root", new.signed_bytes, new.signatures)
            except UnsignedMetadataError as exc:
                raise TufError(f"{lineage} (its root version {version} is not signed by a threshold of "
                               f"{whose})") from exc
        previous = new
        if version == final and new_bytes != current_bytes:
            raise TufError("TUF mirror: root.json is not the last root of the verified chain")


def in_chain(root: bytes, directory: str, what: str) -> None:
    """``root`` (which parses) must be the root of its version in the chain staged in ``directory``."""
    from tuf.api.metadata import Metadata

    version = Metadata.from_bytes(root).signed.version
    path = os.path.join(directory, "root_history", f"{version}.root.json")
    if not os.path.isfile(path) or not _same_root(_read(path), Metadata.from_bytes(root)):
        raise TufError(f"{what} (root version {version}) is not the repository's root version {version}, which "
                       "chains from the installed root; remove the installed mirror, or replace the anchor "
                       "explicitly (--replace-anchor)")


def graft(directory: str, chain: list[bytes]) -> int:
    """Make ``chain[0]`` the anchor of the mirror staged in ``directory`` (which ``chain_from`` has
    checked continues ``chain[-1]``): the trusted roots go into its root history and its record
    starts there. Returns the anchor's version."""
    from tuf.api.metadata import Metadata

    history = os.path.join(directory, "root_history")
    os.makedirs(history, exist_ok=True)
    versions = []
    for data in chain:
        version = Metadata.from_bytes(data).signed.version
        versions.append(version)
        with open(os.path.join(history, f"{version}.root.json"), "wb") as handle:
            handle.write(data)
    current = os.path.join(directory, "root.json")
    if Metadata.from_bytes(_read(current)).signed.version == versions[-1]:  # no newer root: the trusted one
        with open(current, "wb") as handle:
            handle.write(chain[-1])
    path = os.path.join(directory, RECORD)
    if os.path.exists(path):
        record = read_json(path, "TUF mirror record")
        if not isinstance(record, dict):
            raise TufError(f"TUF mirror: {RECORD} is malformed")
        record["bootstrapRootVersion"] = versions[0]
        with open(path, "w") as handle:
            handle.write(json.dumps(record, indent=2) + "\n")
    return versions[0]


def _same_root(data: bytes, trusted) -> bool:
    from tuf.api.metadata import Metadata

    try:
        return Metadata.from_bytes(data).signed_bytes == trusted.signed_bytes
    except Exception:  # does not parse: not the trusted root
        return False


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(MAX_METADATA_BYTES["root"] + 1)
