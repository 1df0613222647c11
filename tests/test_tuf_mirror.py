"""Acceptance tests for airlock's TUF mirror, with repositories made by the test code
(``tests/tuf_repo.py``) and served over HTTP on 127.0.0.1.

Connected side: ``airlock.trust.tuf.initialize`` (and ``airlock initialize``) must follow good
repositories and refuse every broken one with a specific one-line reason, leaving the previous
mirror byte for byte as it was (``Site.refused``). Disconnected side: ``verify_mirror`` must
refuse every tampered mirror and apply the expiry rule (root and targets judged now, timestamp
and snapshot judged when the mirror was verified).

python-tuf's ngclient judges expiry by the real clock, so repositories are dated from the real
now; offline checks take ``now=``.

Rollback: ``initialize`` seeds ngclient's cache with the previous mirror's metadata, so
python-tuf's own rollback checks apply across updates (an older, validly signed, unexpired state
is refused: ``test_rollback_to_an_older_valid_state``), and refuses any role whose version would
go down (``refuse_rollback``, also on ``airlock trust import``). One consequence: old bytes served
under the *current* name are never fetched (ngclient keeps the valid cached copy), so those
updates succeed and the mirror stays at the genuine state (``kept``); the same bytes under the
name of a *new* version are still refused. Within one update ngclient catches metadata whose
version is not the one its parent names. The remaining gap (another mirror URL of the same
repository) is a strict xfail: ``test_another_mirror_url_of_the_same_repository``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api import exceptions
from tuf.api.metadata import Metadata
from tuf.ngclient import Updater

from airlock.errors import TufError
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, bundle_bytes
from airlock.trust.layout import RECORD, host_dir
from airlock.trust.mirror import verify_mirror
from airlock.trust.pack import export
from airlock.trust.status import CRITICAL, OK, WARNING, assess
from airlock.trust.tuf import initialize
from conftest import one_line_error, run_cli
from tuf_repo import MAX_LENGTHS, RepoServer, TufRepo, edit_json, flip_byte, new_signer


def tree_digest(path: Path) -> str:
    """Every entry under ``path``: name, kind and content (a symlink by its target)."""
    digest = hashlib.sha256()
    for entry in sorted(path.rglob("*")):
        digest.update(str(entry.relative_to(path)).encode() + b"\0")
        if entry.is_symlink():
            digest.update(b"L" + os.readlink(entry).encode())
        elif entry.is_file():
            digest.update(b"F" + entry.read_bytes())
        else:
            digest.update(b"D")
        digest.update(b"\0")
    return digest.hexdigest()


class Site:
    """One repository, the server that serves it, and one TUF root (``<tmp>/tuf/root``)."""

    def __init__(self, repo: TufRepo, server: RepoServer, tuf_root: Path) -> None:
        self.repo = repo
        self.server = server
        self.url = server.url
        self.tuf_root = tuf_root
        tuf_root.parent.mkdir(parents=True, exist_ok=True)
        server.serve(repo)

    @property
    def metadata(self) -> Path:
        """The mirror's metadata directory (cosign layout: ``<TUF_ROOT>/<host-dir>``)."""
        return self.tuf_root / self.url.removeprefix("http://").rstrip("/").replace(":", "-")

    def initialize(self, bootstrap: bytes | None = None) -> dict:
        return initialize(self.url, bootstrap or self.repo.root_bytes(1), str(self.tuf_root))

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.tuf_root.parent.iterdir() if p.name.startswith(".airlock-tuf-"))

    def refused(self, bootstrap: bytes | None = None) -> str:
        """Run ``initialize``; it must raise ``TufError`` and leave the mirror as it was."""
        before = tree_digest(self.tuf_root) if self.tuf_root.exists() else None
        try:
            record = self.initialize(bootstrap)
        except TufError as exc:
            message = str(exc)
        else:
            raise AssertionError(f"initialize accepted it: {record}")
        assert (tree_digest(self.tuf_root) if self.tuf_root.exists() else None) == before, "mirror changed"
        assert self.leftovers() == []
        return message

    def cli_refused(self, bootstrap: bytes | None = None) -> str:
        """The same through ``airlock initialize``: exit 1, one ``Error:`` line, the mirror unchanged."""
        root_file = self.tuf_root.parent / "bootstrap-root.json"
        root_file.write_bytes(bootstrap or self.repo.root_bytes(1))
        before = tree_digest(self.tuf_root)
        result = run_cli("initialize", "--mirror", self.url, "--root", root_file, "--tuf-root", self.tuf_root)
        # initialize prints progress ("verifying URL from root version N") before the one error line
        lines = result.stderr.strip().splitlines()
        assert result.code == 1 and "Traceback" not in result.stderr, result
        assert [line for line in lines if line.startswith("Error: ")] == lines[-1:], result.stderr
        assert all(line.startswith("verifying ") for line in lines[:-1]), result.stderr
        line = lines[-1]
        assert tree_digest(self.tuf_root) == before
        assert self.leftovers() == []
        return line

    def version(self, role: str) -> int:
        return json.loads((self.metadata / f"{role}.json").read_bytes())["signed"]["version"]

    def versions(self) -> dict[str, int]:
        return {role: self.version(role) for role in ("root", "timestamp", "snapshot", "targets")}


@pytest.fixture
def make_site(tmp_path: Path, tuf_server: RepoServer) -> Callable[..., Site]:
    """``make_site(**TufRepo_options)``: a repository dated by the real clock, served, no mirror yet."""
    count = 0

    def make(**options) -> Site:
        nonlocal count
        count += 1
        repo = TufRepo(tmp_path / f"repo{count}", **options)
        return Site(repo, tuf_server, tmp_path / f"tuf{count}" / "root")

    return make


@pytest.fixture
def site(make_site) -> Site:
    """A repository with one good mirror of it already installed."""
    site = make_site()
    site.initialize()
    return site


def update_failed(site: Site, reason: str) -> str:
    return f"TUF update from {site.url} failed: {reason}"


def target_failed(site: Site, reason: str) -> str:
    return f"TUF target trusted_root.json from {site.url} failed verification: {reason}"


# ---------------------------------------------------------------------- 1. happy path


def test_happy_path_initialize_status_and_verify_blob(make_site, tmp_path: Path, monkeypatch) -> None:
    now = datetime.now(UTC)
    inst = SigstoreInstance(now=now)
    site = make_site(trusted_root=inst.trusted_root())
    root_file = tmp_path / "root.json"
    root_file.write_bytes(site.repo.root_bytes(1))

    result = run_cli("initialize", "--mirror", site.url, "--root", root_file, "--tuf-root", site.tuf_root)
    assert result.code == 0, result.stderr
    assert f"Mirrored {site.url}: root v1 -> v1, targets trusted_root.json, signing_config.v0.2.json" in result.stderr
    assert json.loads((site.tuf_root / "remote.json").read_bytes()) == {"mirror": site.url}
    record = json.loads((site.metadata / RECORD).read_bytes())
    assert record["bootstrapRootVersion"] == record["rootVersion"] == 1
    assert (site.metadata / "targets" / "trusted_root.json").read_bytes() == site.repo.target_data["trusted_root.json"]
    assert not (site.metadata / "root.json").is_symlink()
    assert site.leftovers() == []

    mirror = verify_mirror(str(site.tuf_root), now=now)
    assert mirror.url == site.url
    assert mirror.trusted_root == site.repo.target_data["trusted_root.json"]
    assert [(r.role, r.version, r.rule) for r in mirror.roles] == [
        ("root", 1, "now"), ("timestamp", 1, "when verified"), ("snapshot", 1, "when verified"), ("targets", 1, "now"),
    ]
    report = assess(tuf_root=str(site.tuf_root), now=now)
    assert (report.level, report.problems) == (OK, ())
    status = run_cli("trust", "status", "--json", "--tuf-root", site.tuf_root)
    assert status.code == 0 and json.loads(status.stdout)["verdict"] == "ok"

    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"signed for the air gap")
    bundle = tmp_path / "artifact.sigstore.json"
    bundle.write_bytes(bundle_bytes(inst.sign_blob(artifact.read_bytes())))
    monkeypatch.setenv("TUF_ROOT", str(site.tuf_root))
    identity = ("--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER)
    verified = run_cli("verify-blob", artifact, "--bundle", bundle, *identity)
    assert verified.code == 0, verified.stderr
    assert "Verified OK" in verified.stderr

    foreign = tmp_path / "foreign.sigstore.json"  # the mirror's trusted root is what decides
    foreign.write_bytes(bundle_bytes(SigstoreInstance(now=now).sign_blob(artifact.read_bytes())))
    line = one_line_error(run_cli("verify-blob", artifact, "--bundle", foreign, *identity))
    assert line.startswith("Error: tlog: log entry ") and "is from a log not in the trusted root" in line


def test_refresh_installs_the_new_publication(site: Site) -> None:
    site.repo.set_target("trusted_root.json", b'{"mediaType": "second"}')
    site.repo.publish(roles=("timestamp",))
    record = site.initialize()
    assert site.versions() == {"root": 1, "timestamp": 3, "snapshot": 2, "targets": 2}
    assert verify_mirror(str(site.tuf_root)).trusted_root == b'{"mediaType": "second"}'
    assert record["rootVersion"] == 1 and site.leftovers() == []


# ---------------------------------------------------------------------- 2. root rotation


def root_threshold(path: Path) -> tuple[int, int]:
    role = json.loads(path.read_bytes())["signed"]["roles"]["root"]
    return role["threshold"], len(role["keyids"])


def test_root_rotation_with_threshold_changes_is_followed(site: Site) -> None:
    repo = site.repo
    repo.rotate_root(new_keys=3, threshold=2)  # 1-of-1 -> 2-of-3: signed by the old key and all 3 new
    repo.rotate_root(new_keys=5, threshold=3, sign_with_old=2, sign_with_new=3,  # exactly both thresholds
                     timestamp_keys=1, snapshot_keys=1, targets_keys=3)  # and new keys for every other role
    record = site.initialize()
    assert (record["bootstrapRootVersion"], record["rootVersion"]) == (1, 3)
    history = site.metadata / "root_history"
    assert sorted(p.name for p in history.iterdir()) == ["1.root.json", "2.root.json", "3.root.json"]
    assert [root_threshold(history / f"{v}.root.json") for v in (1, 2, 3)] == [(1, 1), (2, 3), (3, 5)]
    assert (site.metadata / "root.json").read_bytes() == repo.root_bytes(3)
    assert site.versions() == {"root": 3, "timestamp": 2, "snapshot": 2, "targets": 2}
    mirror = verify_mirror(str(site.tuf_root))
    assert mirror.roles[0][:2] == ("root", 3)

    record = site.initialize(repo.root_bytes(2))  # bootstrapping from a later root works too
    # over an installed mirror the anchor stays the root first installed (v1): the update had to
    # chain from the installed root v3, whatever --root said
    assert (record["bootstrapRootVersion"], record["rootVersion"]) == (1, 3)
    assert sorted(p.name for p in history.iterdir()) == ["1.root.json", "2.root.json", "3.root.json"]
    assert all((history / f"{v}.root.json").read_bytes() == repo.root_bytes(v) for v in (1, 2, 3))
    assert (site.metadata / "root.json").read_bytes() == repo.root_bytes(3)
    mirror = verify_mirror(str(site.tuf_root))
    assert mirror.roles[0][:2] == ("root", 3)
    assert (mirror.anchor_version, mirror.anchor_sha256) == (1, hashlib.sha256(repo.root_bytes(1)).hexdigest())

    flip_byte(history / "2.root.json")  # a root of the chain
    assert offline_refused(site) == not_signed("root version 2 (by the previous root)", "root")
    (history / "2.root.json").write_bytes(repo.root_bytes(2))
    verify_mirror(str(site.tuf_root))
    flip_byte(history / "1.root.json")  # the bootstrap root itself
    assert offline_refused(site) == not_signed("the bootstrap root (version 1)", "root")


BROKEN_ROTATIONS = {
    # the mirror is at root v2 (2-of-3); each makes root v3
    "one of the old 2-of-3 keys": ({"new_keys": 3, "sign_with_old": 1}, "root was signed by 1/2 keys"),
    "same keys, one signature": ({"sign_with_old": 1, "sign_with_new": 1}, "root was signed by 1/2 keys"),
    "not signed by its own keys": ({"new_keys": 3, "sign_with_new": False}, "root was signed by 0/2 keys"),
    "two of its own 3-of-5": ({"new_keys": 5, "threshold": 3, "sign_with_new": 2}, "root was signed by 2/3 keys"),
    "no old key at all": ({"new_keys": 1, "threshold": 1, "sign_with_old": False}, "root was signed by 0/2 keys"),
}


@pytest.mark.parametrize("case", BROKEN_ROTATIONS)
def test_broken_root_rotation_keeps_the_previous_mirror(make_site, case: str) -> None:
    rotation, reason = BROKEN_ROTATIONS[case]
    site = make_site()
    site.repo.rotate_root(new_keys=3, threshold=2)
    site.initialize()
    assert site.version("root") == 2
    site.repo.rotate_root(**rotation)
    assert site.refused() == update_failed(site, f"signature threshold not met: {reason}")
    assert site.version("root") == 2


def test_expired_final_root_keeps_the_previous_mirror(site: Site) -> None:
    site.repo.rotate_root(expires={"root": datetime.now(UTC) - timedelta(minutes=1)})
    assert site.refused() == update_failed(site, "expired: Final root.json is expired")
    assert site.cli_refused() == "Error: " + update_failed(site, "expired: Final root.json is expired")


def test_root_with_the_wrong_version_number(site: Site) -> None:
    site.repo.rotate_root()
    site.repo.rotate_root()
    site.repo.path("root", 2).write_bytes(site.repo.root_bytes(3))  # version 3 served as 2.root.json
    reason = "bad version (rollback?): Expected root version 2 instead got version 3"
    assert site.refused() == update_failed(site, reason)


def flipped(data: bytes) -> bytes:
    at = data.index(b'"expires": "') + len(b'"expires": "') + 18  # the last digit of the seconds
    return data[:at] + (b"1" if data[at:at + 1] == b"0" else b"0") + data[at + 1:]


BAD_BOOTSTRAPS = {
    "timestamp metadata": (lambda repo: repo.history["timestamp"][1],
                           "RepositoryError: Expected 'root', got 'timestamp'"),
    "not JSON": (lambda repo: b"{not json", "DeserializationError: Failed to deserialize JSON"),
    "not self-signed": (lambda repo: flipped(repo.root_bytes(1)),
                        "signature threshold not met: root was signed by 0/1 keys"),
}


@pytest.mark.parametrize("case", BAD_BOOTSTRAPS)
def test_unusable_bootstrap_root(site: Site, case: str) -> None:
    make, reason = BAD_BOOTSTRAPS[case]
    assert site.refused(make(site.repo)) == f"--root: not a usable TUF root ({reason})"


# ---------------------------------------------------------------------- 3. rollback


def advanced(site: Site) -> dict[str, int]:
    """Move the repository to root v3 and everything else v3, with a new trusted root at v2,
    then mirror it; return the mirror's versions."""
    repo = site.repo
    repo.rotate_root()
    repo.set_target("trusted_root.json", b'{"mediaType": "newer trusted root"}')
    repo.rotate_root()
    repo.publish()
    site.initialize()
    versions = site.versions()
    assert versions == {"root": 3, "timestamp": 3, "snapshot": 3, "targets": 3}
    return versions


def kept(site: Site, before: dict[str, int], trusted_root: bytes) -> None:
    """An update that went through without going back: every role at the version it had, holding
    exactly the bytes the repository signed for that version, the same trusted_root.json, and a
    mirror that verifies offline."""
    assert site.versions() == before
    for role, version in before.items():
        assert (site.metadata / f"{role}.json").read_bytes() == site.repo.history[role][version], role
    assert (site.metadata / "targets" / "trusted_root.json").read_bytes() == trusted_root
    assert verify_mirror(str(site.tuf_root)).trusted_root == trusted_root
    assert site.leftovers() == []


def trusted_root_of(site: Site) -> bytes:
    return (site.metadata / "targets" / "trusted_root.json").read_bytes()


def fresh(site: Site, tmp_path: Path) -> Site:
    """The same repository and server, mirrored into an empty TUF root (a machine with no mirror yet)."""
    return Site(site.repo, site.server, tmp_path / "fresh" / "root")


def publish_version_4(site: Site, role: str) -> None:
    if role == "root":
        site.repo.rotate_root()  # 4.root.json, same keys
    else:
        site.repo.publish()  # 4.targets.json, 4.snapshot.json, timestamp v4


# role: python-tuf's words when the file of the version the parent names holds version 1
# (with the previous mirror cached: version 4 is named; with no mirror yet: version 3)
CAUGHT_ROLLBACKS = {
    # the cached snapshot v3 lists targets v3, and python-tuf checks that before the version
    "snapshot": ("Expected targets.json version 1, got 3.", "Expected snapshot version 3, got 1"),
    "targets": ("Expected targets v4, got v1.", "Expected targets v3, got v1."),
    "root": ("Expected root version 4 instead got version 1", "Expected root version 3 instead got version 1"),
}


@pytest.mark.parametrize("role", CAUGHT_ROLLBACKS)
def test_rollback_caught_within_one_update(make_site, role: str) -> None:
    """Old bytes under the name of the version the parent names now: ngclient must fetch that file
    (its cache holds v3) and compares its version with the parent's."""
    site = make_site()
    before = advanced(site)
    publish_version_4(site, role)
    site.repo.rollback(role, 1)  # e.g. 4.snapshot.json now holds snapshot version 1
    assert site.refused() == update_failed(site, f"bad version (rollback?): {CAUGHT_ROLLBACKS[role][0]}")
    assert site.versions() == before


@pytest.mark.parametrize("role", CAUGHT_ROLLBACKS)
def test_old_bytes_under_the_current_name_leave_the_mirror_as_it_was(make_site, tmp_path: Path, role: str) -> None:
    """Old bytes under the name of the version the mirror already has: ngclient keeps its valid
    cached copy instead of downloading, so the update succeeds, and nothing goes back. A machine
    with no previous mirror fetches the file and refuses it."""
    site = make_site()
    before = advanced(site)
    trusted_root = trusted_root_of(site)
    site.repo.rollback(role, 1)  # e.g. 3.snapshot.json now holds snapshot version 1
    site.initialize()
    kept(site, before, trusted_root)
    first = fresh(site, tmp_path)
    assert first.refused() == update_failed(site, f"bad version (rollback?): {CAUGHT_ROLLBACKS[role][1]}")
    assert not first.tuf_root.exists()


def test_rolled_back_root_under_rotated_keys_is_unsigned(site: Site) -> None:
    site.repo.rotate_root(new_keys=1)
    site.repo.rotate_root()
    site.initialize()
    site.repo.rotate_root()
    site.repo.rollback("root", 1)  # 4.root.json is v1, signed by a key v3 no longer trusts
    assert site.refused() == update_failed(site, "signature threshold not met: root was signed by 0/1 keys")
    assert site.version("root") == 3


def replay_whole_repository(site: Site, stale: Path) -> None:
    site.server.serve(stale)


# case: (how to serve it, what python-tuf says with the previous mirror as its cache; None: no error)
OLDER_VALID_STATES: dict[str, tuple[Callable[[Site, Path], object], str | None]] = {
    # each is validly signed and unexpired; only the previous mirror shows that it is older
    "timestamp v1 replayed": (
        lambda site, stale: site.repo.rollback("timestamp", 1), "New timestamp version 1 must be >= 3"),
    "timestamp re-signed with a lower version": (
        lambda site, stale: site.repo.rollback("timestamp", 1, signed=True), "New timestamp version 1 must be >= 3"),
    "timestamp names snapshot v1": (
        lambda site, stale: site.repo.rollback("snapshot", 1, signed=True),
        "New snapshot version must be >= 3, got version 1"),
    "snapshot names targets v1": (
        lambda site, stale: site.repo.rollback("targets", 1, signed=True), "Expected targets.json version 1, got 3."),
    "newest root withheld (404)": (
        lambda site, stale: site.server.errors.update({"/3.root.json": 404}), None),
    "whole repository as served earlier": (replay_whole_repository, "New timestamp version 1 must be >= 3"),
}


def older_state(site: Site, tmp_path: Path, case: str) -> dict[str, int]:
    """Mirror the repository at v3 of everything, then serve ``case``; return the mirror's versions."""
    stale = tmp_path / "stale"
    shutil.copytree(site.repo.directory, stale)  # the repository as served at version 1
    before = advanced(site)
    OLDER_VALID_STATES[case][0](site, stale)
    return before


@pytest.mark.parametrize("case", OLDER_VALID_STATES)
def test_rollback_to_an_older_valid_state(make_site, tmp_path: Path, case: str) -> None:
    """``initialize`` with the previous mirror as ngclient's cache refuses every older state and
    keeps the previous mirror byte for byte; a withheld newest root just is not updated (root v3
    comes from the cache, it does not go back to v2)."""
    site = make_site()
    before = older_state(site, tmp_path, case)
    trusted_root = trusted_root_of(site)
    refusal = OLDER_VALID_STATES[case][1]
    if refusal is None:
        site.initialize()
    else:
        assert site.refused() == update_failed(site, f"bad version (rollback?): {refusal}")
    kept(site, before, trusted_root)


@pytest.mark.parametrize("case", OLDER_VALID_STATES)
def test_previous_mirror_as_ngclient_cache_never_goes_back(make_site, tmp_path: Path, case: str) -> None:
    """python-tuf alone, with the previous mirror's metadata as its local cache (what ``initialize``
    does): refuses every case above with a BadVersionNumberError, or keeps the newer state."""
    site = make_site()
    before = older_state(site, tmp_path, case)
    cache = tmp_path / "cache"
    shutil.copytree(site.metadata, cache, ignore=shutil.ignore_patterns("targets", RECORD))
    updater = Updater(str(cache), site.url, str(tmp_path), site.url + "targets/", bootstrap=site.repo.root_bytes(1))
    refusal = OLDER_VALID_STATES[case][1]
    if refusal is None:
        updater.refresh()
        after = {role: Metadata.from_file(str(cache / f"{role}.json")).signed.version for role in before}
        assert after == before
    else:
        with pytest.raises(exceptions.BadVersionNumberError) as caught:
            updater.refresh()
        assert str(caught.value) == refusal


def test_versions_reset_under_new_online_keys_are_refused(make_site) -> None:
    """After a root rotation replaces the timestamp and snapshot keys, python-tuf no longer trusts
    the cached timestamp and snapshot (TUF 5.3.11, recovery from a fast-forward attack) and accepts
    lower versions signed by the new keys; airlock's own version check still refuses to install
    them over the previous mirror."""
    site = make_site()
    before = advanced(site)
    online = new_signer()
    site.repo.rotate_root(timestamp_keys=[online], snapshot_keys=[online], publish=False)  # root v4
    site.repo.publish(versions={"timestamp": 1, "snapshot": 1})  # targets v4, snapshot v1, timestamp v1
    cache = site.tuf_root.parent / "cache"  # python-tuf does accept it
    shutil.copytree(site.metadata, cache, ignore=shutil.ignore_patterns("targets", RECORD))
    Updater(str(cache), site.url, bootstrap=site.repo.root_bytes(1)).refresh()
    assert Metadata.from_file(str(cache / "timestamp.json")).signed.version == 1
    shutil.rmtree(cache)
    assert site.refused() == ("TUF mirror: timestamp.json would go back from version 3 to 1 (rollback); "
                              "the previous mirror is kept")
    assert site.versions() == before




def test_another_mirror_url_of_the_same_repository(make_site, tmp_path: Path) -> None:
    site = make_site()
    stale = tmp_path / "stale"
    shutil.copytree(site.repo.directory, stale)  # the repository at version 1, e.g. an old removable disk
    before = advanced(site)
    trusted_root = trusted_root_of(site)
    digest = tree_digest(site.tuf_root)
    try:
        initialize(stale.as_uri(), site.repo.root_bytes(1), str(site.tuf_root))
    except TufError:
        assert tree_digest(site.tuf_root) == digest  # refused: the newer mirror must be kept as it was
    else:
        directory = site.tuf_root / host_dir(stale.as_uri())
        installed = {role: Metadata.from_file(str(directory / f"{role}.json")).signed.version for role in before}
        rolled_back = (directory / "targets" / "trusted_root.json").read_bytes() != trusted_root
        raise AssertionError(f"rollback installed from {stale.as_uri()}: mirror versions {before} -> {installed}, "
                             f"trusted_root.json {'rolled back' if rolled_back else 'unchanged'}")


def test_trust_import_refuses_an_older_mirror(site: Site, tmp_path: Path) -> None:
    first = trusted_root_of(site)
    older = tmp_path / "older.tar.gz"
    export(str(older), tuf_root=str(site.tuf_root))  # root, timestamp, snapshot, targets v1
    site.repo.set_target("trusted_root.json", b'{"mediaType": "newer"}')
    site.initialize()
    assert site.versions() == {"root": 1, "timestamp": 2, "snapshot": 2, "targets": 2}
    newer = tmp_path / "newer.tar.gz"
    export(str(newer), tuf_root=str(site.tuf_root))

    digest = tree_digest(site.tuf_root)
    line = one_line_error(run_cli("trust", "import", older, "--tuf-root", site.tuf_root))
    assert line == ("Error: TUF mirror: timestamp.json would go back from version 2 to 1 (rollback); "
                    "the previous mirror is kept")
    assert tree_digest(site.tuf_root) == digest and site.leftovers() == []
    assert verify_mirror(str(site.tuf_root)).trusted_root == b'{"mediaType": "newer"}'

    other = tmp_path / "other" / "root"  # the older one where there is no mirror, then the newer over it
    assert run_cli("trust", "import", older, "--tuf-root", other).code == 0
    assert verify_mirror(str(other)).trusted_root == first
    assert run_cli("trust", "import", older, "--tuf-root", other).code == 0  # the same versions again: fine
    assert run_cli("trust", "import", newer, "--tuf-root", other).code == 0
    assert tree_digest(other) == digest


# ---------------------------------------------------------------------- 4. freeze


def test_freeze_a_stale_timestamp_is_refused(make_site, tmp_path: Path) -> None:
    """With a previous good mirror (timestamp v2), a stale timestamp v1 is refused as a rollback
    before its expiry is even looked at; an expired timestamp newer than the mirror's, as expired."""
    now = datetime.now(UTC)
    site = make_site(now=now - timedelta(days=8))  # timestamp v1 expired a day ago
    frozen = tmp_path / "frozen"
    shutil.copytree(site.repo.directory, frozen)
    site.repo.publish(now=now)
    site.initialize()
    before = site.versions()
    assert before["timestamp"] == 2
    rolled_back = "Error: " + update_failed(site, "bad version (rollback?): New timestamp version 1 must be >= 2")

    site.server.serve(frozen)  # a mirror that stopped updating 8 days ago
    assert site.cli_refused() == rolled_back
    site.server.serve(site.repo)  # the repository goes on, but timestamp.json is the stale one
    site.repo.set_target("signing_config.v0.2.json", b"{}", now=now)
    site.repo.rollback("timestamp", 1)
    assert site.cli_refused() == rolled_back
    site.repo.publish(roles=("timestamp",), now=now, expires={"timestamp": now - timedelta(seconds=1)})
    assert site.version("timestamp") == 2 and site.repo.version("timestamp") == 4
    assert site.cli_refused() == "Error: " + update_failed(site, "expired: timestamp.json is expired")
    assert site.versions() == before


def install_as_of(site: Site, verified_at: datetime) -> None:
    """Install the repository's current state (root v1) as ``initialize`` would have mirrored it at
    ``verified_at``: ngclient judges expiry by the real clock, so an older mirror is written here."""
    repo, metadata = site.repo, site.metadata
    assert repo.root_version == 1
    (metadata / "root_history").mkdir(parents=True)
    (metadata / "targets").mkdir()
    (metadata / "root_history" / "1.root.json").write_bytes(repo.root_bytes(1))
    for role in ("root", "timestamp", "snapshot", "targets"):
        (metadata / f"{role}.json").write_bytes(repo.history[role][repo.version(role)])
    for name, data in repo.target_data.items():
        (metadata / "targets" / name).write_bytes(data)
    record = {"mirror": site.url, "verifiedAt": stamp(verified_at), "bootstrapRootVersion": 1, "rootVersion": 1,
              "targets": sorted(repo.target_data), "client": "python-tuf ngclient"}
    (metadata / RECORD).write_text(json.dumps(record))
    (site.tuf_root / "remote.json").write_text(json.dumps({"mirror": site.url}))


def test_a_week_old_mirror_and_a_frozen_repository(make_site) -> None:
    """The usual air-gapped case: the previous mirror's timestamp has expired since it was verified.
    A repository frozen at that very timestamp (same version: ngclient keeps its cached copy) must
    still be refused as expired, not installed with a new verifiedAt (offline, the timestamp is
    judged when verified, so that would make a frozen mirror look fresh); once the repository moves
    on, the expired cache does not stand in the way."""
    now = datetime.now(UTC)
    site = make_site(now=now - timedelta(days=8))  # timestamp v1 expired a day ago
    install_as_of(site, now - timedelta(days=8) + timedelta(minutes=1))
    assert verify_mirror(str(site.tuf_root), now=now).roles[1][:2] == ("timestamp", 1)
    assert site.refused() == update_failed(site, "expired: timestamp.json is expired")

    site.repo.publish(now=now)
    record = site.initialize()
    assert site.versions() == {"root": 1, "timestamp": 2, "snapshot": 2, "targets": 2}
    assert verify_mirror(str(site.tuf_root)).verified_at == datetime.strptime(
        record["verifiedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_frozen_timestamp_on_a_first_initialize(make_site) -> None:
    now = datetime.now(UTC)
    site = make_site(now=now - timedelta(days=8))
    assert site.repo.freeze() <= now  # timestamp.json is no longer re-signed
    site.repo.set_target("trusted_root.json", b"{}", now=now)
    assert site.refused() == update_failed(site, "expired: timestamp.json is expired")
    assert not site.tuf_root.exists()


# ---------------------------------------------------------------------- 5. mix and match


def test_snapshot_from_another_publication(site: Site) -> None:
    site.repo.publish()
    site.repo.publish()
    site.repo.serve_as("snapshot", from_version=1)  # 3.snapshot.json holds version 1
    assert site.refused() == update_failed(site, "bad version (rollback?): Expected snapshot version 3, got 1")


def test_targets_from_another_publication(site: Site) -> None:
    site.repo.set_target("trusted_root.json", b"{}")
    site.repo.serve_as("targets", from_version=1, as_version=2)
    assert site.refused() == update_failed(site, "bad version (rollback?): Expected targets v2, got v1.")


def test_newer_snapshot_under_an_older_timestamp(site: Site, tmp_path: Path) -> None:
    before, trusted_root = site.versions(), trusted_root_of(site)
    site.repo.publish()
    site.repo.publish()
    site.repo.rollback("timestamp", 1)  # an unexpired timestamp naming snapshot v1 ...
    site.repo.serve_as("snapshot", from_version=3, as_version=1)  # ... and snapshot v3 in its place
    site.initialize()  # the mirror has timestamp v1 and snapshot v1: ngclient keeps them, nothing changes
    kept(site, before, trusted_root)
    first = fresh(site, tmp_path)  # without a previous mirror the snapshot is fetched and compared
    assert first.refused() == update_failed(site, "bad version (rollback?): Expected snapshot version 1, got 3")

    site.repo.publish()  # with a previous mirror (v1) and a timestamp newer than it (v2): fetched and compared
    site.repo.rollback("timestamp", 2)
    site.repo.serve_as("snapshot", from_version=4, as_version=2)
    assert site.refused() == update_failed(site, "bad version (rollback?): Expected snapshot version 2, got 4")
    assert site.versions() == before


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_same_version_fork_is_caught_by_meta_hashes(make_site, role: str) -> None:
    site = make_site(meta_hashes=True)
    site.initialize()
    before, trusted_root = site.versions(), trusted_root_of(site)
    site.repo.fork(role)  # the version the mirror has: ngclient keeps its cached genuine copy
    site.initialize()
    kept(site, before, trusted_root)

    site.repo.publish()  # snapshot and targets v2 ...
    genuine = site.repo.history[role][2]
    fork = site.repo.fork(role)  # ... forked: same version and length, other content, validly signed
    observed, expected = hashlib.sha256(fork).hexdigest(), hashlib.sha256(genuine).hexdigest()
    assert observed != expected and len(fork) == len(genuine)
    assert site.refused() == update_failed(
        site, f"length or hash mismatch: Observed hash {observed} does not match expected hash {expected}")
    assert site.versions() == before


def test_timestamp_names_a_snapshot_that_does_not_exist(site: Site) -> None:
    site.repo.publish(roles=("timestamp",), meta={"snapshot.json": 99})
    assert site.refused() == update_failed(site, "download failed: HTTP error occurred with status 404")


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_signed_by_an_unknown_key(site: Site, role: str) -> None:
    site.repo.publish(signers={role: [new_signer()]})
    assert site.refused() == update_failed(site, f"signature threshold not met: {role} was signed by 0/1 keys")


# ---------------------------------------------------------------------- 6. trusted_root.json hash and length

TARGET = b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}'
HASHES = "length or hash mismatch: Observed hash {observed} does not match expected hash {listed}"
WRONG_TARGETS = {
    "one byte changed": ({"tamper": "hash"}, HASHES),
    "one byte shorter": ({"tamper": "shorter"}, "length or hash mismatch: Observed length 73 does not match "
                                                "expected length 74"),
    "one byte longer": ({"tamper": "longer"}, "larger than allowed: Downloaded 75 bytes exceeding the maximum "
                                              "allowed length of 74"),
    "listed length too small": ({"length": 10}, "larger than allowed: Downloaded 74 bytes exceeding the maximum "
                                                "allowed length of 10"),
    "listed length too large": ({"length": 10_000}, "length or hash mismatch: Observed length 74 does not match "
                                                    "expected length 10000"),
    "listed hash wrong": ({"sha256": "ab" * 32}, HASHES),
}


@pytest.mark.parametrize("case", WRONG_TARGETS)
def test_wrong_hash_or_length_of_trusted_root(site: Site, case: str) -> None:
    how, reason = WRONG_TARGETS[case]
    listed = {k: v for k, v in how.items() if k != "tamper"}
    site.repo.set_target("trusted_root.json", TARGET, **listed)
    if "tamper" in how:
        site.repo.tamper_target("trusted_root.json", how["tamper"])
    served = site.repo.target_path("trusted_root.json").read_bytes()
    listed_hash = site.repo.target_info("trusted_root.json").hashes["sha256"]
    reason = reason.format(observed=hashlib.sha256(served).hexdigest(), listed=listed_hash)
    assert site.refused() == target_failed(site, reason)


def test_no_trusted_root_target(site: Site) -> None:
    site.repo.remove_target("trusted_root.json")
    assert site.refused() == f"TUF repository {site.url} has no target trusted_root.json"


# ---------------------------------------------------------------------- 7. oversized metadata

@pytest.mark.parametrize("role", ["timestamp", "root", "snapshot", "targets"])
def test_oversized_metadata(site: Site, role: str) -> None:
    data = site.repo.oversize(role)  # validly signed, one chunk more than the client's limit
    assert len(data) > MAX_LENGTHS[role]
    assert site.refused() == update_failed(site, f"larger than allowed: Downloaded {len(data)} bytes exceeding the "
                                                 f"maximum allowed length of {MAX_LENGTHS[role]}")
    assert site.version(role) == 1


def unusable_big_root(site: Site) -> bytes:
    big = site.repo.oversize("root", 512_100)  # v2, validly signed; bootstrap from it
    site.repo.rotate_root()
    return big


def unusable_big_target(site: Site) -> None:
    site.repo.set_target("trusted_root.json", b" " * (16 * 1024 * 1024 + 1))


def unusable_delegated_target(site: Site) -> None:
    site.repo.delegate("sigstore-trust", ["trusted_root.json"])
    site.repo.set_target("trusted_root.json", site.repo.target_data["trusted_root.json"], role="sigstore-trust")


# case: (how the repository is broken, what verify_mirror says about the staged mirror)
UNUSABLE = {
    # ngclient accepts each of these; the disconnected side would refuse the mirror. Except the first
    # one now: --root v2 is newer than the installed root v1, so ngclient walks from v1 and refuses
    # the oversized v2 itself
    "bootstrap root over 512000 bytes": (unusable_big_root, "TUF update from {url} failed: larger than allowed: "
                                                            "Downloaded {size} bytes exceeding the maximum allowed "
                                                            "length of 512000"),
    "trusted_root.json over 16 MiB": (unusable_big_target, "TUF mirror: trusted_root.json is larger than "
                                                           "16777216 bytes"),
    "trusted_root.json delegated": (unusable_delegated_target, "TUF mirror: targets.json has no trusted_root.json"),
}


@pytest.mark.parametrize("case", UNUSABLE)
def test_initialize_never_installs_a_mirror_that_fails_offline(site: Site, case: str) -> None:
    """initialize verifies the staged mirror offline before the swap: what the disconnected side
    would refuse is refused here, and the previous mirror stays, byte for byte, and verifies."""
    breaking, message = UNUSABLE[case]
    bootstrap = breaking(site)
    assert site.refused(bootstrap) == message.format(size=len(bootstrap or b""), url=site.url)
    assert site.versions() == {"root": 1, "timestamp": 1, "snapshot": 1, "targets": 1}
    verify_mirror(str(site.tuf_root))


def test_oversized_bootstrap_root_on_a_first_initialize(make_site) -> None:
    """With no mirror installed, ngclient bootstraps from the oversized root as given; the offline
    check of the staged mirror refuses it."""
    site = make_site()
    big = unusable_big_root(site)
    assert site.refused(big) == f"TUF mirror: root metadata is larger than allowed ({len(big)} bytes)"
    assert not site.tuf_root.exists()


def test_cli_refuses_a_root_over_512000_bytes(site: Site, tmp_path: Path) -> None:
    """``--root`` is read whole up to the limit: one byte more is refused (not truncated), the limit
    itself is fine (trailing whitespace keeps the root's signatures valid)."""
    root = site.repo.root_bytes(1)
    root_file = tmp_path / "root.json"
    root_file.write_bytes(root + b" " * (512_001 - len(root)))
    before = tree_digest(site.tuf_root)
    result = run_cli("initialize", "--mirror", site.url, "--root", root_file, "--tuf-root", site.tuf_root)
    assert result.code == 2
    assert one_line_error(result) == f"Error: --root {root_file}: larger than 512000 bytes, the most a TUF root may be"
    assert tree_digest(site.tuf_root) == before

    root_file.write_bytes(root + b" " * (512_000 - len(root)))
    result = run_cli("initialize", "--mirror", site.url, "--root", root_file, "--tuf-root", site.tuf_root)
    assert result.code == 0, result.stderr
    # the same root (same signed content) over the installed mirror: the installed anchor is kept
    assert (site.metadata / "root_history" / "1.root.json").read_bytes() == root
    verify_mirror(str(site.tuf_root))


# ---------------------------------------------------------------------- 8. tampering, disconnected side


@pytest.fixture
def rotated(make_site) -> Site:
    """A mirror with a root chain 1 -> 2 -> 3 (root_history/1..3) and timestamp v3 etc."""
    site = make_site()
    site.repo.rotate_root(new_keys=3, threshold=2)
    site.repo.publish()
    site.repo.rotate_root()
    site.repo.publish()
    site.initialize()
    verify_mirror(str(site.tuf_root))
    return site


def offline_refused(site: Site, **options) -> str:
    with pytest.raises(TufError) as caught:
        verify_mirror(str(site.tuf_root), **options)
    return str(caught.value)


def not_signed(what: str, role: str) -> str:
    return f"TUF mirror: {what} is not signed by a threshold of {role} keys"


FLIPPED = {
    "root.json": "TUF mirror: root.json is not the last root of the verified chain",
    "root_history/2.root.json": not_signed("root version 2 (by the previous root)", "root"),
    "root_history/3.root.json": not_signed("root version 3 (by the previous root)", "root"),
    "timestamp.json": not_signed("timestamp.json", "timestamp"),
    "snapshot.json": not_signed("snapshot.json", "snapshot"),
    "targets.json": not_signed("targets.json", "targets"),
    "targets/trusted_root.json": "TUF mirror: trusted_root.json does not match its length and hashes in targets.json",
}


@pytest.mark.parametrize("name", FLIPPED)
def test_flipped_byte_in_the_mirror(rotated: Site, name: str) -> None:
    flip_byte(rotated.metadata / name)
    assert offline_refused(rotated) == FLIPPED[name]


def test_a_tampered_mirror_is_critical_and_stops_verify_blob(rotated: Site, tmp_path: Path, monkeypatch) -> None:
    flip_byte(rotated.metadata / "targets.json")
    report = assess(tuf_root=str(rotated.tuf_root))
    assert report.level == CRITICAL and report.problems == (FLIPPED["targets.json"],)
    status = run_cli("trust", "status", "--tuf-root", rotated.tuf_root)
    assert status.code == CRITICAL and FLIPPED["targets.json"] in status.stdout
    artifact = tmp_path / "a.txt"
    artifact.write_bytes(b"a")
    bundle = tmp_path / "a.sigstore.json"
    bundle.write_bytes(bundle_bytes(SigstoreInstance().sign_blob(b"a")))
    monkeypatch.setenv("TUF_ROOT", str(rotated.tuf_root))
    line = one_line_error(run_cli("verify-blob", artifact, "--bundle", bundle, "--certificate-identity",
                                  DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER))
    assert line == "Error: " + FLIPPED["targets.json"]


def test_flipped_byte_in_the_bootstrap_root(rotated: Site) -> None:
    """The bootstrap root must be signed by a threshold of its own root keys (TUF 5.2), even when
    later roots follow it (a changed bootstrap root whose key list still verifies root v2)."""
    flip_byte(rotated.metadata / "root_history" / "1.root.json")  # its expires: the signatures no longer match
    assert offline_refused(rotated) == not_signed("the bootstrap root (version 1)", "root")


def test_flipped_byte_in_a_single_root_mirror(site: Site) -> None:
    flip_byte(site.metadata / "root_history" / "1.root.json")
    assert offline_refused(site) == not_signed("the bootstrap root (version 1)", "root")
    (site.metadata / "root_history" / "1.root.json").write_bytes(site.repo.root_bytes(1))  # genuine again ...
    flip_byte(site.metadata / "root.json")  # ... and root.json changed: it must equal the last root
    assert offline_refused(site) == "TUF mirror: root.json is not the last root of the verified chain"


DELETED = {
    "root.json": "TUF mirror: root metadata is missing",
    "root_history/1.root.json": "TUF mirror: root metadata is missing",
    "root_history/2.root.json": "TUF mirror: root version 3 does not follow version 1",
    "root_history/3.root.json": "TUF mirror: root.json is not the last root of the verified chain",
    "timestamp.json": "TUF mirror: timestamp metadata is missing",
    "snapshot.json": "TUF mirror: snapshot metadata is missing",
    "targets.json": "TUF mirror: targets metadata is missing",
    "targets/trusted_root.json": "TUF mirror: trusted_root.json is missing",
    RECORD: "TUF mirror record: No such file or directory",
}


@pytest.mark.parametrize("name", DELETED)
def test_deleted_file_in_the_mirror(rotated: Site, name: str) -> None:
    (rotated.metadata / name).unlink()
    message = offline_refused(rotated)
    assert message.startswith(DELETED[name])


def test_deleted_remote_json(rotated: Site) -> None:
    (rotated.tuf_root / "remote.json").unlink()
    assert offline_refused(rotated).startswith("TUF mirror: No such file or directory")


def metadata_bytes(site: Site, role: str, version: int) -> bytes:
    return site.repo.history[role][version]


SWAPPED = {
    # a validly signed file from another publication put in the mirror
    "snapshot.json": ("snapshot", 1, "TUF mirror: snapshot.json is version 1, timestamp.json names version 3"),
    "targets.json": ("targets", 1, "TUF mirror: targets.json is version 1, snapshot.json names version 3"),
    "timestamp.json": ("timestamp", 1, "TUF mirror: snapshot.json is version 3, timestamp.json names version 1"),
    "root_history/2.root.json": ("root", 3, "TUF mirror: root version 3 does not follow version 1"),
    "root.json": ("root", 2, "TUF mirror: root.json is not the last root of the verified chain"),
}


@pytest.mark.parametrize("name", SWAPPED)
def test_validly_signed_file_from_another_publication(rotated: Site, name: str) -> None:
    role, version, message = SWAPPED[name]
    (rotated.metadata / name).write_bytes(metadata_bytes(rotated, role, version))
    assert offline_refused(rotated) == message


def test_role_file_holding_another_role(rotated: Site) -> None:
    (rotated.metadata / "snapshot.json").write_bytes(metadata_bytes(rotated, "targets", 3))
    assert offline_refused(rotated) == (f"TUF mirror: {rotated.metadata / 'snapshot.json'} holds targets metadata, "
                                        "not snapshot")


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_same_version_fork_in_the_mirror_is_caught_by_meta_hashes(make_site, role: str) -> None:
    site = make_site(meta_hashes=True)
    site.initialize()
    (site.metadata / f"{role}.json").write_bytes(site.repo.fork(role))
    parent = "timestamp" if role == "snapshot" else "snapshot"
    assert offline_refused(site) == f"TUF mirror: {role}.json does not match the length or hashes in {parent}.json"


def test_another_trusted_root_in_the_mirror(rotated: Site) -> None:
    other = json.dumps(SigstoreInstance().trusted_root(), indent=2).encode()
    (rotated.metadata / "targets" / "trusted_root.json").write_bytes(other)
    assert offline_refused(rotated) == FLIPPED["targets/trusted_root.json"]


def test_oversized_file_in_the_mirror(rotated: Site) -> None:
    padded = rotated.repo.oversize("timestamp")  # validly signed, 16 389 bytes
    (rotated.metadata / "timestamp.json").write_bytes(padded)
    assert offline_refused(rotated) == f"TUF mirror: timestamp metadata is larger than allowed ({len(padded)} bytes)"


def set_record(site: Site, **fields) -> None:
    edit_json(site.metadata / RECORD, lambda record: record.update(fields))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_verified_at_moved_after_the_timestamp_expired(site: Site) -> None:
    expires = site.repo.md["timestamp"].signed.expires
    now = expires + timedelta(days=1)
    verify_mirror(str(site.tuf_root), now=now)  # an expired timestamp that was valid when verified: fine
    verified = expires + timedelta(seconds=1)
    set_record(site, verifiedAt=stamp(verified))
    assert offline_refused(site, now=now) == (
        f"TUF mirror: timestamp.json version 1 expired on {expires:%Y-%m-%d %H:%M:%SZ} (checked against when the "
        f"mirror was verified ({verified:%Y-%m-%d})); refresh the mirror with `airlock initialize` on the "
        "connected side"
    )
    set_record(site, verifiedAt=stamp(expires))  # expiry is exclusive: expired at that very second
    assert "timestamp.json version 1 expired" in offline_refused(site, now=now)


def test_verified_at_in_the_future(site: Site) -> None:
    now = datetime.now(UTC)
    set_record(site, verifiedAt=stamp(now + timedelta(hours=1)))
    assert offline_refused(site, now=now).startswith("TUF mirror: verified at ")
    assert offline_refused(site, now=now).endswith("which is in the future")


@pytest.mark.parametrize(("fields", "message"), [
    ({"verifiedAt": "yesterday"}, f"TUF mirror: {RECORD} is malformed"),
    ({"bootstrapRootVersion": "one"}, f"TUF mirror: {RECORD} is malformed"),
    ({"bootstrapRootVersion": 7}, "TUF mirror: root metadata is missing"),
    ({"bootstrapRootVersion": 3}, "TUF mirror: root_history/3.root.json has version 2"),
])
def test_edited_record(rotated: Site, fields: dict, message: str) -> None:
    if fields.get("bootstrapRootVersion") == 3:  # a root file under another version's name
        (rotated.metadata / "root_history" / "3.root.json").write_bytes(metadata_bytes(rotated, "root", 2))
    set_record(rotated, **fields)
    assert offline_refused(rotated).startswith(message)


# ---------------------------------------------------------------------- 9. the expiry rule


@pytest.fixture
def dated(make_site) -> Site:
    """Lifetimes: timestamp 7 days, snapshot 10, targets 30, root 60."""
    site = make_site(lifetimes={"snapshot": timedelta(days=10), "targets": timedelta(days=30),
                                "root": timedelta(days=60)})
    site.initialize()
    return site


def expiry(site: Site, role: str) -> datetime:
    return site.repo.md[role].signed.expires


def test_timestamp_and_snapshot_expired_after_verification_are_fine(dated: Site) -> None:
    now = expiry(dated, "snapshot") + timedelta(days=1)
    assert now > expiry(dated, "timestamp")
    mirror = verify_mirror(str(dated.tuf_root), now=now)
    assert {r.role: r.rule for r in mirror.roles} == {"root": "now", "timestamp": "when verified",
                                                        "snapshot": "when verified", "targets": "now"}
    report = assess(tuf_root=str(dated.tuf_root), now=now)
    assert (report.level, report.problems) == (OK, ())
    assert {i.name.split()[0]: i.state for i in report.items if i.kind == "tuf-role"} == {
        "root": "ok", "timestamp": "frozen", "snapshot": "frozen", "targets": "ok"}


def expired_now(role: str, version: int, when: datetime) -> str:
    return (f"TUF mirror: {role}.json version {version} expired on {when:%Y-%m-%d %H:%M:%SZ} (checked against now); "
            "refresh the mirror with `airlock initialize` on the connected side")


@pytest.mark.parametrize("role", ["targets", "root"])
def test_expired_now(make_site, role: str) -> None:
    site = make_site(lifetimes={role: timedelta(days=30)})  # the other one lives much longer
    site.initialize()
    when = expiry(site, role)
    verify_mirror(str(site.tuf_root), now=when - timedelta(seconds=1))
    assert offline_refused(site, now=when) == expired_now(role, 1, when)
    report = assess(tuf_root=str(site.tuf_root), now=when + timedelta(days=1))
    assert report.level == CRITICAL and report.problems == (expired_now(role, 1, when),)


def test_expiring_soon_is_a_warning(dated: Site) -> None:
    now = expiry(dated, "targets") - timedelta(days=3)
    report = assess(tuf_root=str(dated.tuf_root), now=now)
    assert report.level == WARNING
    assert report.problems == (f"targets.json version 1 expires on {expiry(dated, 'targets'):%Y-%m-%d %H:%M:%SZ}",)


def test_mirror_older_than_max_age(dated: Site) -> None:
    verified_at = verify_mirror(str(dated.tuf_root)).verified_at
    now = verified_at + timedelta(days=20)
    assert verify_mirror(str(dated.tuf_root), now=now, max_age=timedelta(days=21)).age(now) == timedelta(days=20)
    assert offline_refused(dated, now=now, max_age=timedelta(days=14)) == (
        "TUF mirror: verified 20 days ago, more than the maximum age of 14 days")
    report = assess(tuf_root=str(dated.tuf_root), now=now, max_age=timedelta(days=14))
    assert report.level == CRITICAL
