"""The trust anchor: one TUF root lineage across updates and imports, and the operator's pin.

Threat: an archive (or a repository) from *another* TUF root lineage, e.g. a mirror of another
Sigstore instance, exported with ``airlock trust export`` and imported over the installed mirror;
or ``$TUF_ROOT`` replaced wholesale, bootstrap root included. Each is refused with a specific
one-line error, the installed mirror stays byte for byte as it was, and a blob signed by the
other instance still fails verification. A legitimate root rotation is followed; an operator's
explicit ``--replace-anchor`` works and says so.

Repositories are made by ``tests/tuf_repo.py`` and served on 127.0.0.1 (the same URL for both
instances: the host directory in ``$TUF_ROOT`` is then the same too, which is what an attacker
would want).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airlock.errors import TufError
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, bundle_bytes
from airlock.trust.layout import PIN_ENV, RECORD, host_dir
from airlock.trust.mirror import chain_from, verify_mirror
from airlock.trust.pack import export, import_
from airlock.trust.status import CRITICAL, OK
from airlock.trust.tuf import initialize
from conftest import one_line_error, run_cli
from test_tuf_mirror import tree_digest
from tuf_repo import RepoServer, TufRepo

IDENTITY = ("--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER)
FIX = "remove the installed mirror, or replace the anchor explicitly (--replace-anchor)"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lineage_error(what: str, version: int, detail: str) -> str:
    return f"Error: {what} is from another TUF root lineage than the trusted root version {version}; {FIX} ({detail})"


def pin_error(pinned: str, found: str, version: int = 1, source: str = PIN_ENV) -> str:
    return (f"Error: TUF mirror: trust anchor mismatch: {source} pins root SHA-256 {pinned}, the mirror's "
            f"bootstrap root (version {version}) has SHA-256 {found}")


@pytest.fixture(autouse=True)
def no_pin(tmp_path: Path, monkeypatch) -> Path:
    """No pin from the environment or the user's own config: each test sets its own."""
    monkeypatch.delenv(PIN_ENV, raising=False)
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config / "airlock" / "trust-anchor"


class Instance:
    """A Sigstore instance, the TUF repository that publishes its trusted root, and one mirror of it."""

    def __init__(self, name: str, tmp_path: Path, server: RepoServer, now: datetime) -> None:
        self.sigstore = SigstoreInstance(now=now)
        self.repo = TufRepo(tmp_path / f"repo-{name}", trusted_root=self.sigstore.trusted_root())
        self.server = server
        self.url = server.url
        self.tuf_root = tmp_path / f"tuf-{name}" / "root"
        self.root_file = tmp_path / f"{name}-root.json"
        self.root_file.write_bytes(self.repo.root_bytes(1))
        self.initialize()

    def initialize(self) -> dict:
        self.server.serve(self.repo)
        return initialize(self.url, self.repo.root_bytes(1), str(self.tuf_root))

    def export(self, out: Path) -> Path:
        export(str(out), tuf_root=str(self.tuf_root))
        return out

    @property
    def metadata(self) -> Path:
        return self.tuf_root / host_dir(self.url)

    def bundle(self, tmp_path: Path, artifact: Path) -> Path:
        path = tmp_path / f"{id(self)}.sigstore.json"
        path.write_bytes(bundle_bytes(self.sigstore.sign_blob(artifact.read_bytes())))
        return path


@pytest.fixture
def world(tmp_path: Path, tuf_server: RepoServer):
    """``(ours, theirs, artifact)``: two instances with their own TUF root keys, each mirrored."""
    now = datetime.now(UTC)
    ours = Instance("ours", tmp_path, tuf_server, now)
    theirs = Instance("theirs", tmp_path, tuf_server, now)
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"signed for the air gap")
    return ours, theirs, artifact


def verify_blob(tuf_root: Path, artifact: Path, bundle: Path, monkeypatch):
    monkeypatch.setenv("TUF_ROOT", str(tuf_root))
    return run_cli("verify-blob", artifact, "--bundle", bundle, *IDENTITY)


def leftovers(tuf_root: Path) -> list[str]:
    return sorted(p.name for p in tuf_root.parent.iterdir() if p.name.startswith(".airlock-tuf-"))


# ---------------------------------------------------------------------- 1. another lineage


def test_foreign_mirror_import_is_refused(world, tmp_path: Path, monkeypatch) -> None:
    ours, theirs, artifact = world
    archive = theirs.export(tmp_path / "foreign.tar.gz")
    foreign_bundle = theirs.bundle(tmp_path, artifact)
    assert verify_blob(theirs.tuf_root, artifact, foreign_bundle, monkeypatch).code == 0  # a genuine mirror of it

    before = tree_digest(ours.tuf_root)
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root))
    assert line == lineage_error("the archive", 1, "its root version 1 is another root")
    assert tree_digest(ours.tuf_root) == before and leftovers(ours.tuf_root) == []

    refused = one_line_error(verify_blob(ours.tuf_root, artifact, foreign_bundle, monkeypatch))
    assert refused.startswith("Error: tlog: log entry ") and "is from a log not in the trusted root" in refused
    assert verify_blob(ours.tuf_root, artifact, ours.bundle(tmp_path, artifact), monkeypatch).code == 0


def test_foreign_mirror_with_newer_roots_is_refused(world, tmp_path: Path) -> None:
    """Newer roots do not help: the archive's root version 1 is not the installed one."""
    ours, theirs, _ = world
    theirs.repo.rotate_root(new_keys=3, threshold=2)
    theirs.repo.rotate_root()
    theirs.initialize()
    archive = theirs.export(tmp_path / "foreign.tar.gz")
    before = tree_digest(ours.tuf_root)
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root))
    assert line == lineage_error("the archive", 1, "its root version 1 is another root")
    assert tree_digest(ours.tuf_root) == before


def test_initialize_over_a_mirror_of_another_lineage_is_refused(world, monkeypatch) -> None:
    ours, theirs, _ = world
    ours.server.serve(theirs.repo)  # the same URL now serves the other repository
    before = tree_digest(ours.tuf_root)
    result = run_cli("initialize", "--mirror", ours.url, "--root", theirs.root_file, "--tuf-root", ours.tuf_root)
    assert result.code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == lineage_error(
        f"the repository at {ours.url}", 1, "its root version 1 is another root")
    assert tree_digest(ours.tuf_root) == before and leftovers(ours.tuf_root) == []


def test_initialize_from_an_older_root_of_the_same_lineage_keeps_the_anchor(world) -> None:
    ours, _, _ = world
    ours.repo.rotate_root(new_keys=3, threshold=2)
    ours.repo.publish()
    ours.initialize()
    ours.server.serve(ours.repo)
    record = initialize(ours.url, ours.repo.root_bytes(2), str(ours.tuf_root))  # --root v2, anchor stays v1
    assert (record["bootstrapRootVersion"], record["rootVersion"]) == (1, 2)
    assert record["anchorSha256"] == sha256(ours.repo.root_bytes(1))


def test_initialize_from_a_newer_root_walks_from_the_installed_one(world, tmp_path: Path) -> None:
    """Installed at v1, --root v3 (downloaded from the CDN today): v2 is fetched and checked from
    the installed root, and --root must be the repository's v3; a v3 of another lineage is not."""
    ours, theirs, _ = world
    for repo in (ours.repo, theirs.repo):
        repo.rotate_root(new_keys=3, threshold=2)
        repo.rotate_root()
        repo.publish()
    ours.server.serve(ours.repo)
    before = tree_digest(ours.tuf_root)
    with pytest.raises(TufError) as caught:
        initialize(ours.url, theirs.repo.root_bytes(3), str(ours.tuf_root))
    assert str(caught.value) == (
        "--root (root version 3) is not the repository's root version 3, which chains from the installed root; "
        f"{FIX}")
    assert tree_digest(ours.tuf_root) == before and leftovers(ours.tuf_root) == []

    record = initialize(ours.url, ours.repo.root_bytes(3), str(ours.tuf_root))
    assert (record["bootstrapRootVersion"], record["rootVersion"]) == (1, 3)
    history = ours.metadata / "root_history"
    assert all((history / f"{v}.root.json").read_bytes() == ours.repo.root_bytes(v) for v in (1, 2, 3))


# ---------------------------------------------------------------------- 2. rotations


def test_legitimate_rotation_imports(world, tmp_path: Path) -> None:
    """root v1 -> v2 (1-of-1 -> 2-of-3) -> v3 (3-of-5, exactly both thresholds), new keys for every role."""
    ours, _, _ = world
    disconnected = tmp_path / "disconnected" / "root"
    import_(str(ours.export(tmp_path / "v1.tar.gz")), tuf_root=str(disconnected))
    repo = ours.repo
    repo.rotate_root(new_keys=3, threshold=2)
    repo.rotate_root(new_keys=5, threshold=3, sign_with_old=2, sign_with_new=3, timestamp_keys=1, snapshot_keys=1,
                     targets_keys=3)
    ours.initialize()
    result = run_cli("trust", "import", ours.export(tmp_path / "v3.tar.gz"), "--tuf-root", disconnected)
    assert result.code == 0, result.stderr
    anchor = sha256(repo.root_bytes(1))
    assert f"Trust anchor: root v1 SHA-256 {anchor} (pin it: {PIN_ENV}={anchor}" in result.stderr
    mirror = verify_mirror(str(disconnected))
    assert (mirror.roles[0].version, mirror.anchor_version, mirror.anchor_sha256) == (3, 1, anchor)


def test_archive_anchored_later_grafts_onto_the_installed_anchor(world, tmp_path: Path) -> None:
    """The connected side bootstrapped from root v2 (its history starts there): the archive still
    chains from the installed root v1, and the installed anchor (v1) is kept."""
    ours, _, _ = world
    disconnected = tmp_path / "disconnected" / "root"
    import_(str(ours.export(tmp_path / "v1.tar.gz")), tuf_root=str(disconnected))
    ours.repo.rotate_root(new_keys=3, threshold=2)
    ours.repo.publish()
    connected = tmp_path / "connected" / "root"
    ours.server.serve(ours.repo)
    initialize(ours.url, ours.repo.root_bytes(2), str(connected))
    archive = tmp_path / "v2.tar.gz"
    export(str(archive), tuf_root=str(connected))
    manifest = import_(str(archive), tuf_root=str(disconnected))
    assert manifest["anchor"] == {"rootVersion": 1, "sha256": sha256(ours.repo.root_bytes(1)),
                                  "from": "installed mirror", "pinned": False}
    history = disconnected / host_dir(ours.url) / "root_history"
    assert sorted(p.name for p in history.iterdir()) == ["1.root.json", "2.root.json"]


def test_new_root_signed_only_by_its_own_keys_is_refused(world, tmp_path: Path) -> None:
    """Root v2 under new keys that the v1 keys never signed: a mirror bootstrapped from it is
    consistent in itself, and refused over the installed v1."""
    ours, _, _ = world
    ours.repo.rotate_root(new_keys=1, threshold=1, sign_with_old=False)
    ours.repo.publish()
    forged = tmp_path / "forged" / "root"
    ours.server.serve(ours.repo)
    initialize(ours.url, ours.repo.root_bytes(2), str(forged))  # the bootstrap root is trusted as given
    archive = tmp_path / "forged.tar.gz"
    export(str(archive), tuf_root=str(forged))
    before = tree_digest(ours.tuf_root)
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root))
    assert line == lineage_error("the archive", 1,
                                 "its root version 2 is not signed by a threshold of the keys of root version 1")
    assert tree_digest(ours.tuf_root) == before

    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", tmp_path / "fresh" / "root",
                                  "--root", ours.root_file))  # the operator's root v1 on a fresh side: same
    assert line == lineage_error("the archive", 1,
                                 "its root version 2 is not signed by a threshold of the keys of root version 1")
    assert not (tmp_path / "fresh" / "root").exists()


def test_new_root_short_of_its_own_threshold_is_refused(world, tmp_path: Path) -> None:
    """Root v2 signed by the v1 key but by only 1 of its own 2-of-3: refused by the lineage check."""
    ours, _, _ = world
    staged = tmp_path / "staged"
    staged.mkdir()
    ours.repo.rotate_root(new_keys=3, threshold=2, sign_with_new=1)
    (staged / "root_history").mkdir()
    (staged / "root_history" / "2.root.json").write_bytes(ours.repo.root_bytes(2))
    (staged / "root.json").write_bytes(ours.repo.root_bytes(2))
    with pytest.raises(TufError) as caught:
        chain_from(ours.repo.root_bytes(1), str(staged), "the archive")
    assert "Error: " + str(caught.value) == lineage_error(
        "the archive", 1, "its root version 2 is not signed by a threshold of its own keys")


def test_older_root_than_the_installed_one_is_a_rollback(world, tmp_path: Path) -> None:
    ours, _, _ = world
    old = ours.export(tmp_path / "v1.tar.gz")
    ours.repo.rotate_root(new_keys=3, threshold=2)
    ours.repo.publish()
    ours.initialize()
    before = tree_digest(ours.tuf_root)
    line = one_line_error(run_cli("trust", "import", old, "--tuf-root", ours.tuf_root))
    assert line == ("Error: TUF mirror: root.json would go back from version 2 to 1 (rollback); "
                    "the previous mirror is kept")
    assert tree_digest(ours.tuf_root) == before


# ---------------------------------------------------------------------- 3. the operator's override


def test_replace_anchor_on_initialize_warns_and_installs(world, tmp_path: Path, monkeypatch) -> None:
    ours, theirs, artifact = world
    ours.server.serve(theirs.repo)
    result = run_cli("initialize", "--mirror", ours.url, "--root", theirs.root_file, "--tuf-root", ours.tuf_root,
                     "--replace-anchor")
    assert result.code == 0, result.stderr
    new = sha256(theirs.repo.root_bytes(1))
    assert (f"WARNING: --replace-anchor: the installed mirror's root lineage is not checked; {theirs.root_file} "
            f"(SHA-256 {new}) becomes the trust anchor") in result.stderr.splitlines()
    assert verify_mirror(str(ours.tuf_root)).anchor_sha256 == new
    assert verify_blob(ours.tuf_root, artifact, theirs.bundle(tmp_path, artifact), monkeypatch).code == 0


def test_replace_anchor_on_import_warns_and_installs(world, tmp_path: Path) -> None:
    ours, theirs, _ = world
    archive = theirs.export(tmp_path / "foreign.tar.gz")
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root, "--replace-anchor"))
    assert line == "Error: --replace-anchor needs --root FILE, the new root to anchor to"
    before = tree_digest(ours.tuf_root)
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root, "--replace-anchor",
                                  "--root", ours.root_file))  # a root the archive does not chain from
    assert line == lineage_error("the archive", 1, "its root version 1 is another root")
    assert tree_digest(ours.tuf_root) == before

    result = run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root, "--replace-anchor",
                     "--root", theirs.root_file)
    assert result.code == 0, result.stderr
    assert result.stderr.startswith("WARNING: --replace-anchor: the installed mirror's root lineage is not checked")
    assert verify_mirror(str(ours.tuf_root)).trusted_root == theirs.repo.target_data["trusted_root.json"]


def test_removing_the_old_mirror_is_the_other_way(world, tmp_path: Path) -> None:
    import shutil

    ours, theirs, _ = world
    archive = theirs.export(tmp_path / "foreign.tar.gz")
    shutil.rmtree(ours.tuf_root)
    result = run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root)
    assert result.code == 0, result.stderr
    new = sha256(theirs.repo.root_bytes(1))
    assert (
        "WARNING: no mirror was installed, no --root given and no pin set: the archive's own bootstrap root "
        f"(SHA-256 {new}) is trusted as given; check it and pin it") in result.stderr.splitlines()
    assert verify_mirror(str(ours.tuf_root)).anchor_sha256 == sha256(theirs.repo.root_bytes(1))


def test_an_unreadable_installed_mirror_is_not_treated_as_absent(world, tmp_path: Path) -> None:
    ours, theirs, _ = world
    archive = theirs.export(tmp_path / "foreign.tar.gz")
    record = ours.metadata / RECORD
    record.write_text(json.dumps({"verifiedAt": "x"}))
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root))
    assert line == (f"Error: the installed mirror's root chain does not verify (TUF mirror: {RECORD} is malformed); "
                    "remove the installed mirror, or replace its anchor explicitly (--replace-anchor)")


# ---------------------------------------------------------------------- 4. the pin


def test_initialize_prints_the_anchor_to_pin(world, tmp_path: Path) -> None:
    ours, _, _ = world
    fresh = tmp_path / "fresh" / "root"
    ours.server.serve(ours.repo)
    result = run_cli("initialize", "--mirror", ours.url, "--root", ours.root_file, "--tuf-root", fresh)
    assert result.code == 0, result.stderr
    anchor = sha256(ours.root_file.read_bytes())
    assert result.stderr.splitlines()[-1] == (f"Trust anchor: root v1 SHA-256 {anchor} (pin it: {PIN_ENV}={anchor} "
                                              f"or write it into {tmp_path / 'config' / 'airlock' / 'trust-anchor'})")


def test_matching_pin(world, tmp_path: Path, monkeypatch, no_pin: Path) -> None:
    ours, _, artifact = world
    anchor = sha256(ours.repo.root_bytes(1))
    monkeypatch.setenv(PIN_ENV, anchor.upper())
    assert verify_blob(ours.tuf_root, artifact, ours.bundle(tmp_path, artifact), monkeypatch).code == 0
    status = run_cli("trust", "status", "--tuf-root", ours.tuf_root)
    assert status.code == OK, status.stdout
    assert f"Trust anchor: root v1 SHA-256 {anchor} (pinned by {PIN_ENV})" in status.stdout.splitlines()
    report = json.loads(run_cli("trust", "status", "--json", "--tuf-root", ours.tuf_root).stdout)
    assert report["anchor"] == {"rootVersion": 1, "sha256": anchor, "pinned": True, "pinnedBy": PIN_ENV}

    monkeypatch.delenv(PIN_ENV)  # the same pin in the config file
    no_pin.parent.mkdir(parents=True)
    no_pin.write_text(f"# pinned on the connected side\n{anchor}\n")
    report = json.loads(run_cli("trust", "status", "--json", "--tuf-root", ours.tuf_root).stdout)
    assert report["anchor"]["pinnedBy"] == str(no_pin) and report["verdict"] == "ok"

    no_pin.unlink()
    report = json.loads(run_cli("trust", "status", "--json", "--tuf-root", ours.tuf_root).stdout)
    assert report["anchor"] == {"rootVersion": 1, "sha256": anchor, "pinned": False, "pinnedBy": None}
    text = run_cli("trust", "status", "--tuf-root", ours.tuf_root).stdout
    assert f"Trust anchor: root v1 SHA-256 {anchor} (not pinned; set {PIN_ENV} to pin it)" in text.splitlines()


def test_mismatching_pin_is_refused_everywhere(world, tmp_path: Path, monkeypatch) -> None:
    ours, _, artifact = world
    found = sha256(ours.repo.root_bytes(1))
    wrong = sha256(b"the root I meant")
    expected = pin_error(wrong, found)
    archive = ours.export(tmp_path / "ours.tar.gz")
    bundle = ours.bundle(tmp_path, artifact)
    monkeypatch.setenv(PIN_ENV, wrong)
    before = tree_digest(ours.tuf_root)

    assert one_line_error(verify_blob(ours.tuf_root, artifact, bundle, monkeypatch)) == expected

    status = run_cli("trust", "status", "--tuf-root", ours.tuf_root)
    assert status.code == CRITICAL and f"  ! {expected.removeprefix('Error: ')}" in status.stdout.splitlines()
    report = json.loads(run_cli("trust", "status", "--json", "--tuf-root", ours.tuf_root).stdout)
    assert report["problems"] == [expected.removeprefix("Error: ")] and report["exitCode"] == CRITICAL

    assert one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root)) == expected
    fresh = tmp_path / "fresh" / "root"
    assert one_line_error(run_cli("trust", "import", archive, "--tuf-root", fresh)) == expected
    assert not fresh.exists()

    ours.server.serve(ours.repo)
    for target in (ours.tuf_root, fresh):  # over the installed mirror, and a first initialize
        result = run_cli("initialize", "--mirror", ours.url, "--root", ours.root_file, "--tuf-root", target)
        assert result.code == 1 and result.stderr.strip().splitlines()[-1] == expected, result.stderr
    assert not fresh.exists()
    assert one_line_error(run_cli("trust", "export", "--out", tmp_path / "x.tar.gz", "--tuf-root",
                                  ours.tuf_root)) == expected
    assert tree_digest(ours.tuf_root) == before


@pytest.mark.parametrize("command", ["verify", "verify-attestation"])
def test_mismatching_pin_stops_image_verification(world, tmp_path: Path, monkeypatch, command: str) -> None:
    """The image commands take their trust from the same place (``common.load_trust``), before any image."""
    ours, _, _ = world
    wrong = sha256(b"the root I meant")
    monkeypatch.setenv(PIN_ENV, wrong)
    monkeypatch.setenv("TUF_ROOT", str(ours.tuf_root))
    line = one_line_error(run_cli(command, "--local-image", tmp_path / "layout", *IDENTITY))
    assert line == pin_error(wrong, sha256(ours.repo.root_bytes(1)))


@pytest.mark.parametrize("value,reason", [
    ("abc123", "not a SHA-256 (64 hex digits)"),
    ("g" * 64, "not a SHA-256 (64 hex digits)"),
])
def test_malformed_pin_is_an_error_not_ignored(world, tmp_path: Path, monkeypatch, value: str, reason: str) -> None:
    ours, _, artifact = world
    monkeypatch.setenv(PIN_ENV, value)
    line = one_line_error(verify_blob(ours.tuf_root, artifact, ours.bundle(tmp_path, artifact), monkeypatch))
    assert line == f"Error: trust anchor pin {PIN_ENV}: {reason}"


def test_malformed_pin_file(world, tmp_path: Path, monkeypatch, no_pin: Path) -> None:
    ours, _, artifact = world
    no_pin.parent.mkdir(parents=True)
    bundle = ours.bundle(tmp_path, artifact)
    for text, reason in (("", "the file is empty; write the SHA-256 of the bootstrap root"),
                         (f"{'a' * 64}\n{'b' * 64}\n", "not a SHA-256 (64 hex digits)")):
        no_pin.write_text(text)
        line = one_line_error(verify_blob(ours.tuf_root, artifact, bundle, monkeypatch))
        assert line == f"Error: trust anchor pin {no_pin}: {reason}"


def test_tuf_root_replaced_wholesale_is_refused_when_pinned(world, tmp_path: Path, monkeypatch) -> None:
    """Whoever can write $TUF_ROOT puts a whole other mirror there, bootstrap root included: without
    a pin the other instance's signatures verify (the threat); with the pin, nothing verifies."""
    import shutil

    ours, theirs, artifact = world
    anchor = sha256(ours.repo.root_bytes(1))
    shutil.rmtree(ours.tuf_root)
    shutil.copytree(theirs.tuf_root, ours.tuf_root)
    foreign_bundle = theirs.bundle(tmp_path, artifact)
    assert verify_blob(ours.tuf_root, artifact, foreign_bundle, monkeypatch).code == 0  # unpinned: followed

    monkeypatch.setenv(PIN_ENV, anchor)
    expected = pin_error(anchor, sha256(theirs.repo.root_bytes(1)))
    assert one_line_error(verify_blob(ours.tuf_root, artifact, foreign_bundle, monkeypatch)) == expected
    status = run_cli("trust", "status", "--json", "--tuf-root", ours.tuf_root)
    assert status.code == CRITICAL and json.loads(status.stdout)["problems"] == [expected.removeprefix("Error: ")]


def test_replace_anchor_still_needs_the_pin(world, tmp_path: Path, monkeypatch) -> None:
    """The override changes the lineage, not the pin: the operator re-pins first, then replaces."""
    ours, theirs, _ = world
    archive = theirs.export(tmp_path / "foreign.tar.gz")
    old, new = sha256(ours.repo.root_bytes(1)), sha256(theirs.repo.root_bytes(1))
    monkeypatch.setenv(PIN_ENV, old)
    before = tree_digest(ours.tuf_root)
    args = ("trust", "import", archive, "--tuf-root", ours.tuf_root, "--replace-anchor", "--root", theirs.root_file)
    assert one_line_error(run_cli(*args)) == pin_error(old, new)
    assert tree_digest(ours.tuf_root) == before
    monkeypatch.setenv(PIN_ENV, new)
    assert run_cli(*args).code == 0
    assert verify_mirror(str(ours.tuf_root)).pin.sha256 == new


# ---------------------------------------------------------------------- 5. the other refusals


def test_import_option_misuse(world, tmp_path: Path) -> None:
    ours, _, _ = world
    archive = ours.export(tmp_path / "ours.tar.gz")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b'{"signed": {}}')
    before = tree_digest(ours.tuf_root)
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root, "--root", garbage))
    assert line == "Error: trust import: --root is not a TUF root"
    with pytest.raises(TufError) as caught:
        import_(str(archive), tuf_root=str(ours.tuf_root), replace_anchor=True)
    assert str(caught.value) == "trust import: --replace-anchor needs --root FILE, the new root to anchor to"
    assert tree_digest(ours.tuf_root) == before

    trusted_root = tmp_path / "trusted_root.json"
    trusted_root.write_bytes(ours.repo.target_data["trusted_root.json"])
    packed = tmp_path / "trusted-root.tar.gz"
    assert run_cli("trust", "export", "--trusted-root", trusted_root, "--out", packed).code == 0
    line = one_line_error(run_cli("trust", "import", packed, "--out", tmp_path / "x.json", "--root", ours.root_file))
    assert line == "Error: trust import: --root and --replace-anchor apply to a TUF mirror, not a trusted root"
    assert not (tmp_path / "x.json").exists()


def test_import_with_root_on_a_fresh_side_anchors_there(world, tmp_path: Path) -> None:
    ours, _, _ = world
    ours.repo.rotate_root(new_keys=3, threshold=2)
    ours.repo.publish()
    ours.initialize()
    archive = ours.export(tmp_path / "ours.tar.gz")
    v2 = tmp_path / "2.root.json"
    v2.write_bytes(ours.repo.root_bytes(2))
    fresh = tmp_path / "fresh" / "root"
    result = run_cli("trust", "import", archive, "--tuf-root", fresh, "--root", v2)
    assert result.code == 0, result.stderr
    assert "WARNING" not in result.stderr
    mirror = verify_mirror(str(fresh))
    assert (mirror.anchor_version, mirror.anchor_sha256) == (2, sha256(ours.repo.root_bytes(2)))


def test_unreadable_remote_json_is_not_treated_as_absent(world, tmp_path: Path) -> None:
    ours, theirs, _ = world
    archive = theirs.export(tmp_path / "foreign.tar.gz")
    (ours.tuf_root / "remote.json").write_text("{}")
    line = one_line_error(run_cli("trust", "import", archive, "--tuf-root", ours.tuf_root))
    assert line == (f"Error: the installed mirror is unreadable (TUF mirror: {ours.tuf_root}/remote.json names no "
                    "mirror); remove the installed mirror, or replace its anchor explicitly (--replace-anchor)")


def test_unreadable_pin_file(world, tmp_path: Path, monkeypatch, no_pin: Path) -> None:
    ours, _, artifact = world
    no_pin.mkdir(parents=True)  # a directory where the file should be
    line = one_line_error(verify_blob(ours.tuf_root, artifact, ours.bundle(tmp_path, artifact), monkeypatch))
    assert line == f"Error: trust anchor pin {no_pin}: Is a directory"
    status = run_cli("trust", "status", "--tuf-root", ours.tuf_root)
    assert status.code == CRITICAL and f"  ! trust anchor pin {no_pin}: Is a directory" in status.stdout.splitlines()
