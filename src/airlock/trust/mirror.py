"""Offline re-verification of a TUF mirror (disconnected side), and the expiry rule for it.

Before any verifying command trusts ``trusted_root.json`` from ``$TUF_ROOT``, the whole mirror
is verified again with python-tuf's Metadata API, with no network:

1. the root chain: from the root the operator bootstrapped from (``root_history``), each next
   version must be signed by a threshold of the previous root's root keys and of its own, with
   the next version number; the last one must be ``root.json``;
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

import os
import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from airlock.trust.layout import RECORD, REQUIRED_TARGET, TufError, mirror_dir, read_json, tuf_root

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

    def age(self, now: datetime) -> timedelta:
        return now - self.verified_at


def _load(path: str, role: str):
    from tuf.api.metadata import Metadata

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


def verify_mirror(root: str | None = None, *, now: datetime | None = None,
                  max_age: timedelta | None = None) -> Mirror:
    """Re-verify the mirror under ``root`` (``$TUF_ROOT``) at ``now``; raise ``TufError`` if it fails."""
    from tuf.api.exceptions import LengthOrHashMismatchError

    now = now or datetime.now(UTC)
    base = tuf_root(root)
    url, directory = mirror_dir(base)
    record = read_json(os.path.join(directory, RECORD), "TUF mirror record")
    try:
        verified_at = datetime.strptime(record["verifiedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        bootstrap_version = int(record["bootstrapRootVersion"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TufError(f"TUF mirror: {RECORD} is malformed") from exc

    # 1. the root chain
    history = os.path.join(directory, "root_history")
    trusted, trusted_bytes = _load(os.path.join(history, f"{bootstrap_version}.root.json"), "root")
    if trusted.signed.version != bootstrap_version:
        raise TufError(f"TUF mirror: root_history/{bootstrap_version}.root.json has version "
                       f"{trusted.signed.version}")
    _check_signed(trusted, "root", trusted, f"the bootstrap root (version {bootstrap_version})")
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
    _, current_bytes = _load(os.path.join(directory, "root.json"), "root")
    if current_bytes != trusted_bytes:
        raise TufError("TUF mirror: root.json is not the last root of the verified chain")
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
                    trusted_root=trusted_root)
    if max_age is not None and mirror.age(now) > max_age:
        raise TufError(f"TUF mirror: verified {mirror.age(now).days} days ago, more than the maximum age of "
                       f"{max_age.days} days")
    return mirror


def role_versions(directory: str) -> dict[str, int]:
    """The version of each top-level role in a mirror's metadata directory (best effort: files that
    do not parse are left out; this only feeds the rollback check)."""
    from tuf.api.metadata import Metadata

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
