"""A synthetic Sigstore-style TUF repository for tests, and a local HTTP server to serve it.

Why: airlock mirrors the Sigstore TUF repository and re-verifies mirrors offline. The real
repository (``../shared/fixtures/tuf-public-good``) is one frozen state; tests also need fresh
states, root rotations, and every way a repository or a mirror can be broken. ``TufRepo`` builds
them with python-tuf's Metadata API and securesystemslib signers, keys kept in memory.

Layout, as ``tuf-repo-cdn.sigstore.dev`` serves it (``consistent_snapshot: true``)::

    <dir>/N.root.json                every root version, kept forever
    <dir>/timestamp.json             the only unversioned file
    <dir>/N.snapshot.json            every published version is kept
    <dir>/N.targets.json             (and N.<delegated-role>.json)
    <dir>/targets/<sha256>.<name>    "a/b.json" is served as targets/a/<sha256>.b.json

Files are pretty-printed like the real CDN (indent 1, sorted keys); signatures are ECDSA P-256
(``ecdsa-sha2-nistp256``) over canonical JSON. Keys: root keys (``root_keys``/``root_threshold``),
targets keys, and one online key shared by timestamp and snapshot, as in Sigstore. Timestamp and
snapshot meta list only versions unless ``meta_hashes=True`` adds length and hashes.

Clock: ``repo.now`` (default: the real current time) dates everything; every operation takes
``now=`` and ``expires={role: datetime | timedelta}`` to override it per call. Default lifetimes:
root 180 days, timestamp 7 days, snapshot and targets 3650 days (``lifetimes=`` to change).

Workflow::

    repo = TufRepo(tmp_path / "repo", now=now)          # v1 of everything, published
    repo.set_target("trusted_root.json", data)          # new targets, snapshot, timestamp
    repo.rotate_root(new_keys=3, threshold=2)           # writes 2.root.json
    with serve(repo) as server:                         # server.url == "http://127.0.0.1:PORT/"
        ...client run...
        repo.publish()                                  # the server serves the live directory
        server.serve(other_dir)                         # or switch what it serves

Breaking operations (each one states what a client must see):

- ``publish(expires=..., signers=..., versions=..., meta=..., pad=...)``: expired roles,
  roles signed by the wrong keys, version rollbacks signed by the online key, meta pointing at
  another version, metadata padded past a size limit.
- ``rotate_root(..., sign_with_old=k, sign_with_new=k)``: a new root without a threshold of the
  old or of its own keys.
- ``freeze()``: the timestamp stops being re-signed; returns when it has expired.
- ``rollback(role, version)`` / ``serve_as(role, from_version, as_version)``: re-serve older or
  other published bytes under the name a client fetches now (``signed=True``: a freshly signed
  parent that points at the older version instead).
- ``fork(role)``: a second, validly signed file with the same version and length, other content.
- ``tamper_target(name, how)`` and ``set_target(..., length=, sha256=)``: wrong target bytes, or
  metadata that lists the wrong length or hash.
- ``oversize(role, size)``: a validly signed role larger than the client's download limit.
- Module helpers ``flip_byte(path_or_dir, pattern)`` and ``edit_json(path, mutate)`` change files
  in any directory (a repository, a mirror, a client cache) without re-signing anything.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import http.server
import json
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

TOP_LEVEL_ROLES = ("root", "timestamp", "snapshot", "targets")
DEFAULT_LIFETIMES = {
    "root": timedelta(days=180),
    "timestamp": timedelta(days=7),
    "snapshot": timedelta(days=3650),
    "targets": timedelta(days=3650),
}
# python-tuf ngclient's UpdaterConfig defaults (go-tuf v2 uses the same numbers).
MAX_LENGTHS = {"root": 512_000, "timestamp": 16_384, "snapshot": 2_000_000, "targets": 5_000_000}
SPEC_VERSION = "1.0"  # what Sigstore's metadata says
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
PADDING_FIELD = "x-airlock-padding"

_PRETTY = JSONSerializer(compact=False)  # indent 1, sorted keys: the CDN's formatting

Keys = int | Sequence[Signer]
Expiry = datetime | timedelta
Signing = bool | int


def new_signer() -> CryptoSigner:
    """A fresh in-memory ECDSA P-256 signer (scheme ``ecdsa-sha2-nistp256``), as Sigstore uses."""
    return CryptoSigner.generate_ecdsa()


@functools.cache
def default_trusted_root() -> bytes:
    """``SigstoreInstance().trusted_root()`` as JSON bytes, made once per process (any bytes will do)."""
    from airlock.testing import SigstoreInstance

    return json.dumps(SigstoreInstance().trusted_root(), indent=2).encode()


def default_signing_config() -> bytes:
    """A small SigningConfig v0.2 document pointing at test URLs."""
    service = {"majorApiVersion": 1, "validFor": {"start": "2024-01-01T00:00:00.000Z"}, "operator": "test"}
    config = {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [{"url": "https://fulcio.test.local", **service}],
        "oidcUrls": [{"url": "https://oauth2.test.local/auth", **service}],
        "rekorTlogUrls": [{"url": "https://rekor.test.local", **service}],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaUrls": [{"url": "https://timestamp.test.local/api/v1/timestamp", **service}],
        "tsaConfig": {"selector": "ANY"},
    }
    return json.dumps(config, indent=2).encode()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("use timezone-aware datetimes")
    return moment.astimezone(UTC)


def _keys(spec: Keys) -> list[Signer]:
    return [new_signer() for _ in range(spec)] if isinstance(spec, int) else list(spec)


def _majority(count: int) -> int:
    return count // 2 + 1


def _pick(signers: Sequence[Signer], which: Signing) -> list[Signer]:
    """True: all of them; False: none; an int k: the first k."""
    if which is True:
        return list(signers)
    if which is False:
        return []
    return list(signers[:which])


class TufRepo:
    """A consistent-snapshot TUF repository in ``directory``, published at version 1 on creation.

    ``root_keys`` / ``targets_keys`` / ``online_keys`` are a count of fresh keys or a list of
    signers; thresholds default to a majority (1 of 1, 2 of 3, 3 of 5). ``trusted_root`` and
    ``signing_config`` are the contents of the two default targets (bytes, or a dict serialized
    with indent 2); ``targets`` adds more. ``meta_hashes=True`` makes timestamp and snapshot meta
    list length and sha256 (Sigstore lists versions only).

    State: ``md[role]`` is the current genuine ``Metadata`` of every role (delegated ones too),
    ``signers[role]`` the private keys that role's metadata is signed with, ``history[role]
    [version]`` the exact bytes signed for each version, ``target_data[name]`` each target's
    genuine content. Breaking operations never rewrite ``history`` except to record metadata
    they really sign (``publish(versions=...)``).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        now: datetime | None = None,
        root_keys: Keys = 1,
        root_threshold: int | None = None,
        targets_keys: Keys = 1,
        targets_threshold: int | None = None,
        online_keys: Keys = 1,
        online_threshold: int | None = None,
        lifetimes: Mapping[str, timedelta] | None = None,
        trusted_root: bytes | Mapping[str, Any] | None = None,
        signing_config: bytes | Mapping[str, Any] | None = None,
        targets: Mapping[str, bytes] | None = None,
        meta_hashes: bool = False,
        expires: Mapping[str, Expiry] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "targets").mkdir(exist_ok=True)
        self.now = _utc(now) if now else datetime.now(UTC)
        self.lifetimes = {**DEFAULT_LIFETIMES, **(lifetimes or {})}
        self.meta_hashes = meta_hashes
        self.frozen = False
        self.md: dict[str, Metadata] = {}
        self.signers: dict[str, list[Signer]] = {}
        self.history: dict[str, dict[int, bytes]] = {}
        self.target_data: dict[str, bytes] = {}
        self._target_role: dict[str, str] = {}
        self._unpublished: set[str] = set()
        self._changed: set[str] = set()

        online = _keys(online_keys)
        self.signers = {
            "root": _keys(root_keys),
            "timestamp": online,
            "snapshot": online,
            "targets": _keys(targets_keys),
        }
        thresholds = {
            "root": root_threshold,
            "timestamp": online_threshold,
            "snapshot": online_threshold,
            "targets": targets_threshold,
        }
        root = Root(spec_version=SPEC_VERSION, expires=self._expiry("root", self.now, expires))
        for role in TOP_LEVEL_ROLES:
            for signer in self.signers[role]:
                root.add_key(signer.public_key, role)
            root.roles[role].threshold = thresholds[role] or _majority(len(self.signers[role]))
        self.md["root"] = Metadata(root)
        self._store("root", self._sign("root", self.md["root"], self.signers["root"]))

        for role, cls in (("targets", Targets), ("snapshot", Snapshot), ("timestamp", Timestamp)):
            self.md[role] = Metadata(cls(spec_version=SPEC_VERSION, expires=self._expiry(role, self.now, expires)))
        self._unpublished.update(("targets", "snapshot", "timestamp"))
        initial = {
            "trusted_root.json": _as_bytes(trusted_root) if trusted_root is not None else default_trusted_root(),
            "signing_config.v0.2.json": (
                _as_bytes(signing_config) if signing_config is not None else default_signing_config()
            ),
            **(targets or {}),
        }
        for name, data in initial.items():
            self.set_target(name, data, publish=False)
        self.publish(expires=expires)

    # ------------------------------------------------------------------ reading the state

    def version(self, role: str) -> int:
        """The current genuine version of ``role``."""
        return self.md[role].signed.version

    @property
    def root_version(self) -> int:
        return self.version("root")

    def root_bytes(self, version: int | None = None) -> bytes:
        """The signed bytes of root ``version`` (default: the latest), e.g. to bootstrap a client."""
        return self.history["root"][version or self.root_version]

    def path(self, role: str, version: int | None = None) -> Path:
        """The file a client fetches for ``role`` at ``version`` (default: the current one)."""
        if role == "timestamp":
            return self.directory / "timestamp.json"
        return self.directory / f"{version or self.version(role)}.{role}.json"

    def target_path(self, name: str, sha256: str | None = None) -> Path:
        """Where target ``name`` is served: ``targets/<dir>/<sha256>.<basename>``."""
        if sha256 is None:
            sha256 = self.target_info(name).hashes["sha256"]
        posix = PurePosixPath(name)
        return self.directory / "targets" / posix.parent / f"{sha256}.{posix.name}"

    def target_info(self, name: str) -> TargetFile:
        """The ``TargetFile`` currently listed for ``name``."""
        return self.md[self._target_role[name]].signed.targets[name]

    # ------------------------------------------------------------------ honest operations

    def publish(
        self,
        *,
        now: datetime | None = None,
        roles: Collection[str] | None = None,
        expires: Mapping[str, Expiry] | None = None,
        signers: Mapping[str, Sequence[Signer]] | None = None,
        versions: Mapping[str, int] | None = None,
        meta: Mapping[str, int] | None = None,
        pad: Mapping[str, int] | None = None,
    ) -> None:
        """Publish a new consistent state: bump, re-date, re-sign and write ``roles``.

        Default roles: every targets role changed since the last publish, ``targets``,
        ``snapshot`` and ``timestamp``. Parents are always added (a changed targets role bumps
        snapshot, a changed snapshot bumps timestamp). While frozen, the timestamp is left alone.

        Breaking knobs, per role: ``expires`` (an absolute datetime may lie in the past),
        ``signers`` (sign with these instead, e.g. ``[new_signer()]`` or ``[]``), ``versions``
        (the new version number instead of +1, e.g. a lower one: a rollback signed by the
        online key), ``meta`` (``{"snapshot.json": 3}`` or ``{"targets.json": 1}``: the version
        the timestamp or snapshot lists instead of the current one), ``pad`` (grow the signed
        metadata to at least this many bytes with an ``x-airlock-padding`` field).
        """
        now = _utc(now) if now else self.now
        wanted = set(roles) if roles is not None else {"targets", "snapshot", "timestamp", *self._changed}
        if "root" in wanted:
            raise ValueError("use rotate_root() for root")
        if wanted - {"snapshot", "timestamp"} or (meta and set(meta) - {"snapshot.json"}):
            wanted.add("snapshot")
        if "snapshot" in wanted or (meta and "snapshot.json" in meta):
            wanted.add("timestamp")
        signers = signers or {}
        pad = pad or {}
        order = [r for r in wanted if r not in ("targets", "snapshot", "timestamp")]
        order += [r for r in ("targets", "snapshot", "timestamp") if r in wanted]
        for role in order:
            if role == "timestamp" and self.frozen:
                continue
            signed = self.md[role].signed
            if role in self._unpublished:
                self._unpublished.discard(role)
            else:
                signed.version += 1
            if versions and role in versions:
                signed.version = versions[role]
            signed.expires = self._expiry(role, now, expires)
            if role == "snapshot":
                signed.meta = {f"{r}.json": self._meta(r, meta) for r in self._targets_roles()}
            elif role == "timestamp":
                signed.snapshot_meta = self._meta("snapshot", meta)
            data = self._sign(role, self.md[role], signers.get(role, self.signers[role]), pad.get(role))
            self._store(role, data)
            self._changed.discard(role)

    def set_target(
        self,
        name: str,
        data: bytes,
        *,
        role: str = "targets",
        custom: Mapping[str, Any] | None = None,
        length: int | None = None,
        sha256: str | None = None,
        publish: bool = True,
        now: datetime | None = None,
    ) -> Path:
        """Add or replace target ``name`` in ``role`` and (by default) publish; returns the file.

        ``length`` / ``sha256`` make the signed metadata list a wrong length or hash for the real
        bytes (the file is written under the listed hash, so a client finds it and must reject
        it). Old target files stay on disk, as on the CDN.
        """
        digest = hashlib.sha256(data).hexdigest()
        info = TargetFile(
            length=len(data) if length is None else length,
            hashes={"sha256": sha256 or digest},
            path=name,
            unrecognized_fields={"custom": dict(custom)} if custom else None,
        )
        if name in self._target_role and self._target_role[name] != role:
            self.remove_target(name, publish=False)
        self.md[role].signed.targets[name] = info
        self._target_role[name] = role
        self.target_data[name] = data
        path = self.target_path(name, info.hashes["sha256"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self._changed.add(role)
        if publish:
            self.publish(now=now)
        return path

    def remove_target(self, name: str, *, publish: bool = True, now: datetime | None = None) -> None:
        """Drop ``name`` from its targets role (its file stays on disk) and (by default) publish."""
        role = self._target_role.pop(name)
        del self.md[role].signed.targets[name]
        del self.target_data[name]
        self._changed.add(role)
        if publish:
            self.publish(now=now)

    def delegate(
        self,
        name: str,
        paths: Sequence[str],
        *,
        keys: Keys = 1,
        threshold: int | None = None,
        terminating: bool = True,
        expires: Mapping[str, Expiry] | None = None,
        publish: bool = True,
        now: datetime | None = None,
    ) -> None:
        """Delegate ``paths`` (fnmatch patterns) from targets to a new role ``name``, like Sigstore's
        ``registry.npmjs.org``; its metadata is served as ``N.<name>.json``."""
        now = _utc(now) if now else self.now
        signers = _keys(keys)
        targets = self.md["targets"].signed
        if targets.delegations is None:
            targets.delegations = Delegations(keys={}, roles={})
        assert targets.delegations.roles is not None
        targets.delegations.roles[name] = DelegatedRole(
            name=name,
            keyids=[],
            threshold=threshold or _majority(len(signers)),
            terminating=terminating,
            paths=list(paths),
        )
        for signer in signers:
            targets.add_key(signer.public_key, name)
        self.signers[name] = signers
        self.md[name] = Metadata(Targets(spec_version=SPEC_VERSION, expires=self._expiry(name, now, expires)))
        self._unpublished.add(name)
        self._changed.update(("targets", name))
        if publish:
            self.publish(now=now, expires=expires)

    def rotate_root(
        self,
        new_keys: Keys | None = None,
        threshold: int | None = None,
        *,
        sign_with_old: Signing = True,
        sign_with_new: Signing = True,
        timestamp_keys: Keys | None = None,
        snapshot_keys: Keys | None = None,
        targets_keys: Keys | None = None,
        now: datetime | None = None,
        expires: Mapping[str, Expiry] | None = None,
        pad_to: int | None = None,
        publish: bool | None = None,
    ) -> bytes:
        """Write root version N+1 and return its bytes.

        ``new_keys`` (a count of fresh keys or signers) replaces the root keys; None keeps them.
        ``threshold`` is the new root threshold (default: keep it, capped to the key count).
        ``timestamp_keys`` / ``snapshot_keys`` / ``targets_keys`` replace those roles' keys too
        (timestamp and snapshot then stop sharing a key unless given the same signers).

        Signatures: ``sign_with_old`` / ``sign_with_new`` are True (all keys of the previous /
        the new root), False (none) or k (only the first k). A spec-compliant client needs a
        threshold of both, so ``sign_with_old=old_threshold - 1`` or ``sign_with_new=False`` make
        the broken variants. ``expires={"root": past}`` makes it expired; ``pad_to`` oversizes it.

        The repository adopts the new root whatever its signatures. When other roles' keys
        change it republishes them (``publish=`` forces or prevents that).
        """
        now = _utc(now) if now else self.now
        old_signers = self.signers["root"]
        old_threshold = self.md["root"].signed.roles["root"].threshold
        md: Metadata[Root] = copy.deepcopy(self.md["root"])
        root = md.signed
        root.version += 1
        root.expires = self._expiry("root", now, expires)
        root.unrecognized_fields.pop(PADDING_FIELD, None)
        replaced = {"root": new_keys, "timestamp": timestamp_keys, "snapshot": snapshot_keys, "targets": targets_keys}
        new_signers = dict(self.signers)
        for role, spec in replaced.items():
            if spec is None:
                continue
            signers = _keys(spec)
            for keyid in list(root.roles[role].keyids):
                root.revoke_key(keyid, role)
            for signer in signers:
                root.add_key(signer.public_key, role)
            new_signers[role] = signers
            if role != "root":
                root.roles[role].threshold = min(root.roles[role].threshold, len(signers))
        root.roles["root"].threshold = threshold or min(old_threshold, len(new_signers["root"]))
        chosen: dict[str, Signer] = {}
        for signer in _pick(old_signers, sign_with_old) + _pick(new_signers["root"], sign_with_new):
            chosen.setdefault(signer.public_key.keyid, signer)
        data = self._sign("root", md, list(chosen.values()), pad_to)
        self.md["root"] = md
        self.signers = new_signers
        self._store("root", data)
        others_changed = any(spec is not None for role, spec in replaced.items() if role != "root")
        if publish if publish is not None else others_changed:
            self.publish(now=now, expires={k: v for k, v in (expires or {}).items() if k != "root"})
        return data

    # ------------------------------------------------------------------ breaking operations

    def freeze(self) -> datetime:
        """Stop re-signing the timestamp: later publishes leave ``timestamp.json`` as it is.

        Returns the first second at which that stale timestamp has expired (pass it as ``now`` to
        a later publish or to the code under test). ``thaw()`` resumes normal publishing.
        """
        self.frozen = True
        return self.md["timestamp"].signed.expires + timedelta(seconds=1)

    def thaw(self) -> None:
        self.frozen = False

    def serve_as(self, role: str, from_version: int, as_version: int | None = None) -> Path:
        """Serve the bytes this repository signed for ``role`` version ``from_version`` under the
        file name of version ``as_version`` (default: the current one; timestamp: timestamp.json).

        Mix and match: ``serve_as("snapshot", 1)`` at snapshot v3 makes the timestamp point at
        3.snapshot.json whose content is v1 from another publication (client: version mismatch,
        or hash mismatch when meta lists hashes). The genuine state is not changed.
        """
        path = self.path(role, as_version)
        path.write_bytes(self.history[role][from_version])
        return path

    def rollback(
        self,
        role: str,
        to_version: int | None = None,
        *,
        signed: bool = False,
        now: datetime | None = None,
    ) -> Path:
        """Roll ``role`` back to ``to_version`` (default: current - 1); returns the file changed.

        ``signed=False``: re-serve the old bytes as the current file (``serve_as``): timestamp.json
        becomes an old timestamp, N.snapshot.json / N.targets.json an old version, the latest
        N.root.json an old root. ``signed=True``: publish a freshly signed parent that points
        at the old version: a timestamp listing an older snapshot, a snapshot listing an older
        targets (timestamp: a new timestamp with the old version number; root: not possible).
        """
        if to_version is None:
            to_version = self.version(role) - 1
        if not signed:
            return self.serve_as(role, to_version)
        if role == "timestamp":
            self.publish(roles=("timestamp",), versions={"timestamp": to_version}, now=now)
        elif role == "root":
            raise ValueError("root has no parent to sign a rollback; use signed=False")
        else:
            self.publish(roles=("snapshot", "timestamp"), meta={f"{role}.json": to_version}, now=now)
        return self.path("timestamp" if role == "snapshot" else "snapshot")

    def fork(self, role: str) -> bytes:
        """Serve a second, validly signed ``role`` with the current version number, the same
        length and different content (``expires`` one second earlier) under the current name.

        A client that knows only versions accepts it (that is TUF); with ``meta_hashes=True``
        the hash listed by the parent no longer matches. The genuine state and ``history`` are
        unchanged.
        """
        md = copy.deepcopy(self.md[role])
        md.signed.expires -= timedelta(seconds=1)
        genuine = self.history[role][self.version(role)]
        for _ in range(100):  # ECDSA signatures vary in length: re-sign until the lengths agree
            data = self._sign(role, md, self.signers[role])
            if len(data) == len(genuine):
                break
        self.path(role).write_bytes(data)
        return data

    def tamper_target(self, name: str, how: Literal["hash", "longer", "shorter"] | bytes = "hash") -> Path:
        """Serve other bytes under target ``name``'s hashed file name; returns the file.

        "hash": same length, one byte changed (client: hash mismatch); "longer": one byte appended
        (client: more bytes than the listed length); "shorter": last byte dropped (length
        mismatch); bytes: exactly these.
        """
        data = self.target_data[name]
        if how == "hash":
            middle = len(data) // 2
            new = data[:middle] + bytes([_flipped(data[middle])]) + data[middle + 1 :] if data else b"x"
        elif how == "longer":
            new = data + b"\n"
        elif how == "shorter":
            new = data[:-1]
        elif isinstance(how, bytes):
            new = how
        else:
            raise ValueError(f"unknown tampering {how!r}")
        path = self.target_path(name)
        path.write_bytes(new)
        return path

    def oversize(self, role: str, size: int | None = None, *, now: datetime | None = None) -> bytes:
        """Publish a validly signed ``role`` of at least ``size`` bytes (default: one more than the
        client limit, ``MAX_LENGTHS``: timestamp 16 384, root 512 000, snapshot 2 000 000, targets
        5 000 000). Root: a new root version; others: a normal publish with padding."""
        size = size or MAX_LENGTHS[role] + 1
        if role == "root":
            return self.rotate_root(pad_to=size, now=now)
        self.publish(roles=(role,), pad={role: size}, now=now)
        return self.history[role][self.version(role)]

    # ------------------------------------------------------------------ internals

    def _expiry(self, role: str, now: datetime, expires: Mapping[str, Expiry] | None) -> datetime:
        override = (expires or {}).get(role)
        if isinstance(override, datetime):
            return _utc(override)
        lifetime = override if override is not None else self.lifetimes.get(role, self.lifetimes["targets"])
        return now + lifetime

    def _targets_roles(self) -> list[str]:
        return [role for role in self.md if role not in ("root", "timestamp", "snapshot")]

    def _meta(self, role: str, meta: Mapping[str, int] | None) -> MetaFile:
        version = (meta or {}).get(f"{role}.json", self.version(role))
        data = self.history.get(role, {}).get(version)
        if not self.meta_hashes or data is None:
            return MetaFile(version=version)
        return MetaFile(version=version, length=len(data), hashes={"sha256": hashlib.sha256(data).hexdigest()})

    def _sign(self, role: str, md: Metadata, signers: Sequence[Signer], pad_to: int | None = None) -> bytes:
        def signed_bytes() -> bytes:
            md.signatures.clear()
            for signer in signers:
                md.sign(signer, append=True)
            return md.to_bytes(_PRETTY)

        md.signed.unrecognized_fields.pop(PADDING_FIELD, None)
        data = signed_bytes()
        if pad_to:
            md.signed.unrecognized_fields[PADDING_FIELD] = ""
            while len(data := signed_bytes()) < pad_to:
                field = md.signed.unrecognized_fields[PADDING_FIELD]
                md.signed.unrecognized_fields[PADDING_FIELD] = field + "x" * (pad_to - len(data))
        return data

    def _store(self, role: str, data: bytes) -> None:
        self.history.setdefault(role, {})[self.version(role)] = data
        self.path(role).write_bytes(data)


def _as_bytes(content: bytes | Mapping[str, Any]) -> bytes:
    return content if isinstance(content, bytes) else json.dumps(content, indent=2).encode()


# ---------------------------------------------------------------------- tampering any directory

_CYCLES = ("0123456789", "abcdef", "ABCDEF", "ghijklmnopqrstuvwxyz", "GHIJKLMNOPQRSTUVWXYZ")


def _flipped(byte: int) -> int:
    """Another byte of the same kind (digit, hex letter, letter), so JSON stays JSON."""
    char = chr(byte)
    for cycle in _CYCLES:
        if char in cycle:
            return ord(cycle[(cycle.index(char) + 1) % len(cycle)])
    return byte ^ 0x01


def _default_offset(data: bytes) -> int:
    start = data.find(b'"signed"')
    found = re.compile(rb'"expires":\s*"').search(data, max(start, 0))
    if start >= 0 and found:
        return found.end() + 18  # the units digit of the seconds: still a valid date
    middle = len(data) // 2
    for offset in range(middle, len(data)):
        if chr(data[offset]).isalnum():
            return offset
    return middle


def flip_byte(target: str | Path, pattern: str | None = None, *, offset: int | None = None) -> Path:
    """Change one byte of a file and return its path; nothing is re-signed.

    ``target`` is a file, or a directory plus a glob ``pattern`` (searched recursively) that must
    match exactly one file, e.g. ``flip_byte(mirror, "*.trusted_root.json")``. The default byte
    keeps the file parseable: in TUF metadata the last digit of ``signed.expires`` (a signature
    failure), elsewhere an alphanumeric byte near the middle (a hash failure).
    """
    path = Path(target)
    if pattern is not None:
        matches = [p for p in path.rglob(pattern) if p.is_file()]
        if len(matches) != 1:
            raise ValueError(f"{pattern!r} matches {len(matches)} files under {path}")
        path = matches[0]
    data = bytearray(path.read_bytes())
    if not data:
        raise ValueError(f"{path} is empty")
    at = _default_offset(bytes(data)) if offset is None else offset
    data[at] = _flipped(data[at])
    path.write_bytes(bytes(data))
    return path


def edit_json(path: str | Path, mutate: Callable[[Any], Any]) -> Path:
    """Rewrite a JSON file through ``mutate(document)`` (which edits in place or returns a new
    document), keeping the CDN's formatting; nothing is re-signed."""
    path = Path(path)
    document = json.loads(path.read_bytes())
    result = mutate(document)
    document = document if result is None else result
    path.write_bytes(json.dumps(document, indent=1, sort_keys=True).encode())
    return path


# ---------------------------------------------------------------------- serving over HTTP


class RepoServer:
    """A quiet ``ThreadingHTTPServer`` on 127.0.0.1 (random port) serving one directory at a time.

    ``url`` is ``http://127.0.0.1:PORT/``. ``serve(source)`` switches the directory (a path, a
    ``TufRepo`` = its live directory, or None = 404 for everything) between client runs.
    ``requests`` records each request path in order; ``errors[path] = status`` makes a path
    (e.g. ``"/timestamp.json"``) answer with that HTTP status.
    """

    def __init__(self, source: str | Path | TufRepo | None = None) -> None:
        self.directory: Path | None = None
        self.requests: list[str] = []
        self.errors: dict[str, int] = {}
        self.serve(source)
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(server.directory or "/nonexistent"), **kwargs)

            def send_head(self) -> Any:
                server.requests.append(self.path)
                status = server.errors.get(self.path)
                if server.directory is None:
                    status = status or 404
                if status:
                    self.send_error(status)
                    return None
                return super().send_head()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def serve(self, source: str | Path | TufRepo | None) -> None:
        """Serve another directory from now on."""
        if isinstance(source, TufRepo):
            source = source.directory
        self.directory = None if source is None else Path(source)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@contextmanager
def serve(source: str | Path | TufRepo | None = None) -> Iterator[RepoServer]:
    """Serve ``source`` on 127.0.0.1 for the duration of the block; yields the ``RepoServer``."""
    server = RepoServer(source)
    try:
        yield server
    finally:
        server.close()
