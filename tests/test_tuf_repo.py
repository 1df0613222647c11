"""The synthetic TUF repository (tests/tuf_repo.py) is right: python-tuf's own client accepts the
good states and rejects every broken one with the specific exception.

ngclient always judges expiry by the real clock, so these repositories are dated from
``datetime.now(UTC)``; only the layout and clock tests use a fixed ``now``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api import exceptions
from tuf.api.metadata import Metadata
from tuf.ngclient import Updater

from tuf_repo import MAX_LENGTHS, TufRepo, default_trusted_root, edit_json, flip_byte, new_signer, serve

FIXED_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class Client:
    """One python-tuf ngclient installation: a metadata cache and a target directory."""

    def __init__(self, base: Path, url: str, bootstrap: bytes) -> None:
        self.metadata_dir = base / "metadata"
        self.target_dir = base / "targets"
        self.metadata_dir.mkdir(parents=True)
        self.target_dir.mkdir()
        self.url = url
        self.bootstrap = bootstrap

    def updater(self) -> Updater:
        return Updater(
            str(self.metadata_dir), self.url, str(self.target_dir), self.url + "targets/", bootstrap=self.bootstrap
        )

    def fetch(self, name: str = "trusted_root.json") -> bytes:
        """refresh(), then download ``name``: the whole client workflow."""
        updater = self.updater()
        updater.refresh()
        info = updater.get_targetinfo(name)
        assert info is not None, name
        return Path(updater.download_target(info)).read_bytes()

    def trusted(self, role: str) -> dict:
        return json.loads((self.metadata_dir / f"{role}.json").read_bytes())["signed"]


@pytest.fixture
def repo(tuf_repository: TufRepo, tuf_server) -> TufRepo:
    tuf_server.serve(tuf_repository)
    return tuf_repository


@pytest.fixture
def new_client(tmp_path: Path, tuf_server):
    """``new_client(repo)``: a fresh client bootstrapped from ``repo``'s root v1."""
    count = 0

    def make(repo: TufRepo, bootstrap: bytes | None = None) -> Client:
        nonlocal count
        count += 1
        return Client(tmp_path / f"client{count}", tuf_server.url, bootstrap or repo.root_bytes(1))

    return make


def past() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


# ---------------------------------------------------------------------- the builder itself


def test_layout_is_the_cdn_layout(tmp_path: Path) -> None:
    repo = TufRepo(tmp_path, now=FIXED_NOW, root_keys=5, targets_keys=5)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted(
        [
            "1.root.json",
            "1.snapshot.json",
            "1.targets.json",
            "timestamp.json",
            f"targets/{repo.target_info('trusted_root.json').hashes['sha256']}.trusted_root.json",
            f"targets/{repo.target_info('signing_config.v0.2.json').hashes['sha256']}.signing_config.v0.2.json",
        ]
    )
    for name, data in repo.target_data.items():
        assert repo.target_path(name).read_bytes() == data
        assert repo.target_path(name).name.split(".", 1)[0] == repo.target_info(name).hashes["sha256"]
    assert repo.target_data["trusted_root.json"] == default_trusted_root()
    assert json.loads(repo.target_data["trusted_root.json"])["mediaType"].startswith(
        "application/vnd.dev.sigstore.trustedroot+json"
    )
    assert json.loads(repo.target_data["signing_config.v0.2.json"])["mediaType"].startswith(
        "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    )

    raw = (tmp_path / "1.root.json").read_bytes()
    assert raw.startswith(b'{\n "signatures": [\n  {\n   "keyid": "')  # the CDN's pretty-printing
    root = json.loads(raw)["signed"]
    assert root["consistent_snapshot"] is True
    assert root["spec_version"] == "1.0"
    assert {(k["keytype"], k["scheme"]) for k in root["keys"].values()} == {("ecdsa", "ecdsa-sha2-nistp256")}
    assert root["roles"]["root"]["threshold"] == 3 and len(root["roles"]["root"]["keyids"]) == 5
    assert root["roles"]["timestamp"]["keyids"] == root["roles"]["snapshot"]["keyids"]  # one online key
    assert len(json.loads(raw)["signatures"]) == 5

    timestamp = json.loads((tmp_path / "timestamp.json").read_bytes())["signed"]
    snapshot = json.loads((tmp_path / "1.snapshot.json").read_bytes())["signed"]
    assert timestamp["meta"] == {"snapshot.json": {"version": 1}}
    assert snapshot["meta"] == {"targets.json": {"version": 1}}


def test_every_expiry_comes_from_the_explicit_clock(tmp_path: Path) -> None:
    repo = TufRepo(tmp_path, now=FIXED_NOW)

    def expires(role: str) -> datetime:
        return repo.md[role].signed.expires

    assert expires("root") == FIXED_NOW + timedelta(days=180)
    assert expires("timestamp") == FIXED_NOW + timedelta(days=7)
    assert expires("snapshot") == expires("targets") == FIXED_NOW + timedelta(days=3650)
    on_disk = json.loads(repo.path("timestamp").read_bytes())["signed"]["expires"]
    assert on_disk == "2026-01-22T12:00:00Z"

    later = FIXED_NOW + timedelta(days=30)
    repo.publish(now=later, expires={"timestamp": timedelta(hours=1), "targets": FIXED_NOW})
    assert expires("timestamp") == later + timedelta(hours=1)
    assert expires("targets") == FIXED_NOW
    assert expires("snapshot") == later + timedelta(days=3650)

    repo.now = later
    repo.rotate_root()
    assert expires("root") == later + timedelta(days=180)
    other = TufRepo(tmp_path / "other", now=FIXED_NOW, lifetimes={"timestamp": timedelta(days=1)})
    assert other.md["timestamp"].signed.expires == FIXED_NOW + timedelta(days=1)


def test_publish_bumps_versions_and_keeps_old_files(tmp_path: Path) -> None:
    repo = TufRepo(tmp_path, now=FIXED_NOW)
    old_target = repo.target_path("trusted_root.json")
    repo.set_target("trusted_root.json", b'{"new": true}')
    assert [repo.version(r) for r in ("root", "timestamp", "snapshot", "targets")] == [1, 2, 2, 2]
    assert old_target.exists() and repo.target_path("trusted_root.json").read_bytes() == b'{"new": true}'
    repo.publish(roles=("timestamp",))
    assert [repo.version(r) for r in ("timestamp", "snapshot", "targets")] == [3, 2, 2]
    assert {p.name for p in tmp_path.glob("*.json")} == {
        "1.root.json",
        "timestamp.json",
        "1.snapshot.json",
        "2.snapshot.json",
        "1.targets.json",
        "2.targets.json",
    }
    assert sorted(repo.history["timestamp"]) == [1, 2, 3]


def test_freeze_keeps_serving_the_stale_timestamp(tmp_path: Path) -> None:
    repo = TufRepo(tmp_path, now=FIXED_NOW)
    stale = repo.path("timestamp").read_bytes()
    expired_at = repo.freeze()
    assert expired_at == FIXED_NOW + timedelta(days=7, seconds=1)
    repo.set_target("trusted_root.json", b"{}", now=expired_at)
    assert repo.path("timestamp").read_bytes() == stale
    assert repo.version("snapshot") == 2 and repo.version("timestamp") == 1
    repo.thaw()
    repo.publish(now=expired_at)
    assert json.loads(repo.path("timestamp").read_bytes())["signed"]["meta"]["snapshot.json"]["version"] == 3


def test_a_repository_is_fast(tmp_path: Path) -> None:
    default_trusted_root()
    start = time.perf_counter()
    for i in range(10):
        TufRepo(tmp_path / str(i), root_keys=5, targets_keys=5)
    assert (time.perf_counter() - start) / 10 < 0.1


def verify(repo: TufRepo, role: str, data: bytes) -> None:
    md = Metadata.from_bytes(data)
    repo.md["root"].signed.verify_delegate(role, md.signed_bytes, md.signatures)


def test_oversized_metadata_is_validly_signed(tmp_path: Path) -> None:
    repo = TufRepo(tmp_path, now=FIXED_NOW)
    data = repo.oversize("timestamp")
    assert len(data) > MAX_LENGTHS["timestamp"] and repo.path("timestamp").read_bytes() == data
    verify(repo, "timestamp", data)
    root = repo.oversize("root")
    assert len(root) > MAX_LENGTHS["root"] and repo.path("root", 2).read_bytes() == root
    verify(repo, "root", root)
    repo.publish()
    assert len(repo.path("timestamp").read_bytes()) < 1000  # padding does not stick


def test_flip_byte_and_edit_json(tmp_path: Path) -> None:
    repo = TufRepo(tmp_path, now=FIXED_NOW)
    before = repo.path("timestamp").read_bytes()
    assert flip_byte(tmp_path, "timestamp.json") == repo.path("timestamp")
    after = repo.path("timestamp").read_bytes()
    assert len(after) == len(before) and sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert json.loads(after)["signed"]["expires"] != json.loads(before)["signed"]["expires"]  # still JSON
    target = flip_byte(tmp_path, "*.trusted_root.json")
    assert target.read_bytes() != repo.target_data["trusted_root.json"]
    json.loads(target.read_bytes())
    with pytest.raises(ValueError, match="matches 2 files"):
        flip_byte(tmp_path, "targets/*")
    edit_json(repo.path("snapshot"), lambda doc: doc["signed"].update(version=7))
    assert json.loads(repo.path("snapshot").read_bytes())["signed"]["version"] == 7


# ---------------------------------------------------------------------- serving


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_server_switches_directories(tmp_path: Path) -> None:
    one = TufRepo(tmp_path / "one", now=FIXED_NOW)
    two = TufRepo(tmp_path / "two", now=FIXED_NOW)
    two.publish()
    with serve() as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
        assert get(server.url + "timestamp.json")[0] == 404
        server.serve(one)
        assert get(server.url + "timestamp.json") == (200, one.path("timestamp").read_bytes())
        server.serve(two.directory)
        assert get(server.url + "timestamp.json") == (200, two.path("timestamp").read_bytes())
        server.errors["/timestamp.json"] = 503
        assert get(server.url + "timestamp.json")[0] == 503
        assert server.requests == ["/timestamp.json"] * 4
        url = server.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "timestamp.json", timeout=2)


# ---------------------------------------------------------------------- ngclient accepts good states


def test_ngclient_downloads_the_targets(repo: TufRepo, new_client, tuf_server) -> None:
    client = new_client(repo)
    assert client.fetch("trusted_root.json") == repo.target_data["trusted_root.json"]
    assert client.fetch("signing_config.v0.2.json") == repo.target_data["signing_config.v0.2.json"]
    sha = repo.target_info("trusted_root.json").hashes["sha256"]
    assert f"/targets/{sha}.trusted_root.json" in tuf_server.requests
    assert tuf_server.requests[:4] == ["/2.root.json", "/timestamp.json", "/1.snapshot.json", "/1.targets.json"]


def test_ngclient_follows_new_publications(repo: TufRepo, new_client) -> None:
    client = new_client(repo)
    client.fetch()
    repo.set_target("trusted_root.json", b'{"second": true}')
    repo.publish(roles=("timestamp",))
    assert client.fetch() == b'{"second": true}'
    assert client.trusted("timestamp")["version"] == 3
    assert client.trusted("targets")["version"] == 2


def test_ngclient_follows_root_rotations(repo: TufRepo, new_client) -> None:
    repo.rotate_root(new_keys=3, threshold=2)
    repo.rotate_root(new_keys=5, threshold=3, sign_with_old=2)  # exactly the old threshold
    repo.rotate_root(timestamp_keys=1, snapshot_keys=2, targets_keys=3)  # republishes the others
    repo.rotate_root(expires={"root": past()})  # an expired intermediate root is fine...
    repo.rotate_root()  # ...when the final one is not
    client = new_client(repo)
    assert client.fetch() == repo.target_data["trusted_root.json"]
    assert client.trusted("root")["version"] == 6
    assert client.trusted("root")["roles"]["root"]["threshold"] == 3


def test_ngclient_walks_a_delegation(repo: TufRepo, new_client) -> None:
    repo.delegate("registry.npmjs.org", ["registry.npmjs.org/*"], keys=2)
    repo.set_target("registry.npmjs.org/keys.json", b'{"keys": []}', role="registry.npmjs.org")
    assert repo.path("registry.npmjs.org").name == "2.registry.npmjs.org.json"
    assert repo.target_path("registry.npmjs.org/keys.json").parent == repo.directory / "targets" / "registry.npmjs.org"
    assert new_client(repo).fetch("registry.npmjs.org/keys.json") == b'{"keys": []}'


def test_ngclient_accepts_a_same_version_fork_when_meta_has_no_hashes(repo: TufRepo, new_client) -> None:
    repo.fork("snapshot")
    repo.fork("targets")
    assert new_client(repo).fetch() == repo.target_data["trusted_root.json"]


# ---------------------------------------------------------------------- ngclient rejects broken states


@pytest.mark.parametrize(
    ("rotation", "root_keys"),
    [
        ({"new_keys": 3, "sign_with_old": 1}, 3),  # 1 of the old 2-of-3
        ({"sign_with_old": 1, "sign_with_new": 1}, 3),  # same keys, 1 signature of 2-of-3
        ({"new_keys": 3, "sign_with_new": False}, 1),  # not signed by its own keys
        ({"new_keys": 5, "threshold": 3, "sign_with_new": 2}, 1),  # 2 of its own 3-of-5
        ({"new_keys": 1, "sign_with_old": False, "sign_with_new": True}, 1),
    ],
)
def test_broken_root_rotation(tmp_path: Path, tuf_server, new_client, rotation: dict, root_keys: int) -> None:
    repo = TufRepo(tmp_path / "repo", root_keys=root_keys)
    tuf_server.serve(repo)
    repo.rotate_root(**rotation)
    with pytest.raises(exceptions.UnsignedMetadataError):
        new_client(repo).fetch()


@pytest.mark.parametrize("role", ["root", "timestamp", "snapshot", "targets"])
def test_expired_role(repo: TufRepo, new_client, role: str) -> None:
    if role == "root":
        repo.rotate_root(expires={"root": past()})
    else:
        repo.publish(expires={role: past()})
    with pytest.raises(exceptions.ExpiredMetadataError, match=f"{role}"):
        new_client(repo).fetch()


def test_frozen_timestamp_expires(tmp_path: Path, tuf_server, new_client) -> None:
    now = datetime.now(UTC)
    repo = TufRepo(tmp_path / "repo", now=now - timedelta(days=8))
    tuf_server.serve(repo)
    assert repo.freeze() <= now
    repo.set_target("trusted_root.json", b"{}", now=now)  # snapshot and targets fresh, timestamp stale
    with pytest.raises(exceptions.ExpiredMetadataError, match=r"timestamp\.json is expired"):
        new_client(repo).fetch()
    repo.thaw()
    repo.publish(now=now)
    assert new_client(repo).fetch() == b"{}"


@pytest.mark.parametrize(
    ("role", "signed", "client_saw_newer"),
    [
        ("timestamp", False, True),
        ("timestamp", True, True),
        ("snapshot", False, False),
        ("snapshot", True, True),
        ("targets", False, False),
        ("targets", True, True),
        ("root", False, False),
    ],
)
def test_rollback(repo: TufRepo, new_client, role: str, signed: bool, client_saw_newer: bool) -> None:
    repo.rotate_root()
    repo.rotate_root()
    repo.publish()
    client = new_client(repo)
    if client_saw_newer:
        client.fetch()
    repo.rollback(role, 1, signed=signed)
    if not client_saw_newer:
        client = new_client(repo)
    with pytest.raises(exceptions.BadVersionNumberError):
        client.fetch()


def test_rolled_back_root_under_new_keys_is_unsigned(repo: TufRepo, new_client) -> None:
    repo.rotate_root(new_keys=1)
    repo.rotate_root()
    repo.rollback("root", 1)  # 3.root.json is v1, signed by keys v2 no longer trusts
    with pytest.raises(exceptions.UnsignedMetadataError):
        new_client(repo).fetch()


def test_snapshot_from_another_publication(repo: TufRepo, new_client) -> None:
    repo.publish()
    repo.publish()
    repo.serve_as("snapshot", from_version=1)
    with pytest.raises(exceptions.BadVersionNumberError, match="Expected snapshot version 3"):
        new_client(repo).fetch()


def test_targets_from_another_publication(repo: TufRepo, new_client) -> None:
    repo.set_target("trusted_root.json", b"{}")
    repo.serve_as("targets", from_version=1, as_version=2)
    with pytest.raises(exceptions.BadVersionNumberError, match="targets"):
        new_client(repo).fetch()


def test_timestamp_points_at_a_missing_snapshot(repo: TufRepo, new_client) -> None:
    repo.publish(roles=("timestamp",), meta={"snapshot.json": 99})
    with pytest.raises(exceptions.DownloadHTTPError):
        new_client(repo).fetch()


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_fork_is_caught_by_meta_hashes(tmp_path: Path, tuf_server, new_client, role: str) -> None:
    repo = TufRepo(tmp_path / "repo", meta_hashes=True)
    tuf_server.serve(repo)
    meta = json.loads(repo.path("timestamp").read_bytes())["signed"]["meta"]["snapshot.json"]
    assert set(meta) == {"version", "length", "hashes"}
    assert new_client(repo).fetch() == repo.target_data["trusted_root.json"]
    repo.fork(role)
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        new_client(repo).fetch()


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("hash", exceptions.LengthOrHashMismatchError),
        ("shorter", exceptions.LengthOrHashMismatchError),
        ("longer", exceptions.DownloadLengthMismatchError),
        (b"x" * 10_000, exceptions.DownloadLengthMismatchError),
    ],
)
def test_tampered_target(repo: TufRepo, new_client, how, error: type[Exception]) -> None:
    repo.tamper_target("trusted_root.json", how)
    with pytest.raises(error):
        new_client(repo).fetch()


@pytest.mark.parametrize(
    ("listed", "error"),
    [
        ({"length": 10}, exceptions.DownloadLengthMismatchError),
        ({"length": 10_000}, exceptions.LengthOrHashMismatchError),
        ({"sha256": "ab" * 32}, exceptions.LengthOrHashMismatchError),
    ],
)
def test_targets_metadata_lists_wrong_length_or_hash(repo: TufRepo, new_client, listed: dict, error) -> None:
    repo.set_target("trusted_root.json", b'{"mediaType": "x", "tlogs": []}', **listed)
    with pytest.raises(error):
        new_client(repo).fetch()


@pytest.mark.parametrize("role", ["timestamp", "root", "snapshot", "targets"])
def test_oversized_metadata(repo: TufRepo, new_client, role: str) -> None:
    repo.oversize(role)
    with pytest.raises(exceptions.DownloadLengthMismatchError):
        new_client(repo).fetch()


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_signed_by_an_unknown_key(repo: TufRepo, new_client, role: str) -> None:
    repo.publish(signers={role: [new_signer()]})
    with pytest.raises(exceptions.UnsignedMetadataError):
        new_client(repo).fetch()


def test_below_the_targets_threshold(tmp_path: Path, tuf_server, new_client) -> None:
    repo = TufRepo(tmp_path / "repo", targets_keys=3)
    tuf_server.serve(repo)
    repo.publish(signers={"targets": repo.signers["targets"][:1]})
    with pytest.raises(exceptions.UnsignedMetadataError):
        new_client(repo).fetch()


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("timestamp.json", exceptions.UnsignedMetadataError),
        ("1.snapshot.json", exceptions.UnsignedMetadataError),
        ("1.targets.json", exceptions.UnsignedMetadataError),
        ("*.trusted_root.json", exceptions.LengthOrHashMismatchError),
    ],
)
def test_flipped_byte(repo: TufRepo, new_client, pattern: str, error: type[Exception]) -> None:
    flip_byte(repo.directory, pattern)
    with pytest.raises(error):
        new_client(repo).fetch()


def test_edited_without_resigning(repo: TufRepo, new_client) -> None:
    edit_json(repo.path("timestamp"), lambda doc: doc["signed"].update(version=5))
    with pytest.raises(exceptions.UnsignedMetadataError):
        new_client(repo).fetch()


def test_repository_error_is_the_common_base() -> None:
    for error in (
        exceptions.ExpiredMetadataError,
        exceptions.BadVersionNumberError,
        exceptions.UnsignedMetadataError,
        exceptions.LengthOrHashMismatchError,
    ):
        assert issubclass(error, exceptions.RepositoryError)
    assert issubclass(exceptions.DownloadLengthMismatchError, exceptions.DownloadError)
