"""The real public-good Sigstore TUF repository, served over HTTP on 127.0.0.1, with the clock
moved by faketime: mirror it, use it offline, watch it expire.

Dates that matter (from ../shared/fixtures/tuf-public-good): timestamp.json expired 2026-08-28,
root v15 expires 2026-11-20.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CONFORMANCE, TUF_REPOSITORY, at, shared

REPOSITORY = TUF_REPOSITORY
CASE = CONFORMANCE / "bundle-verify" / "happy-path-v0.3"
IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
            "extremely-dangerous-oidc-beacon.yml@refs/heads/main")
ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def server():
    """The repository exactly as its CDN serves it, on a random loopback port."""
    root = shared(REPOSITORY)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def mirror(server, tmp_path_factory) -> Path:
    """A mirror verified on 2026-08-25, the last days of that timestamp.json."""
    tuf_root = tmp_path_factory.mktemp("tuf") / "root"
    result = at("2026-08-25 12:00:00", "initialize", "--mirror", server, "--root", str(REPOSITORY / "5.root.json"),
                tuf_root=tuf_root)
    assert result.returncode == 0, result.stderr
    assert "root v5 -> v15" in result.stderr
    return tuf_root


def verify_blob(date: str, tuf_root: Path, net: bool = True) -> subprocess.CompletedProcess:
    case = shared(CASE)
    return at(date, "verify-blob", str(case.parent / "a.txt"), "--bundle", str(case / "bundle.sigstore.json"),
              "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER, tuf_root=tuf_root, net=net)


def test_mirror_layout(mirror, server):
    host = server.removeprefix("http://").replace(":", "-")
    assert json.loads((mirror / "remote.json").read_text()) == {"mirror": server}
    assert (mirror / f"{host}.json").is_file()
    metadata = mirror / host
    assert (metadata / "root.json").is_file() and not (metadata / "root.json").is_symlink()
    history = sorted(int(p.name.split(".")[0]) for p in (metadata / "root_history").glob("*.root.json"))
    assert history == list(range(5, 16))
    for name in ("timestamp.json", "snapshot.json", "targets.json", "targets/trusted_root.json"):
        assert (metadata / name).is_file()
    record = json.loads((metadata / "airlock-mirror.json").read_text())
    assert record["verifiedAt"].startswith("2026-08-25") and record["rootVersion"] == 15
    trusted_root = (metadata / "targets" / "trusted_root.json").read_bytes()
    expected = "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"  # its name in targets/
    assert hashlib.sha256(trusted_root).hexdigest() == expected


def test_initialize_fails_once_the_root_expired_and_keeps_the_old_mirror(mirror, server):
    before = tree_digest(mirror)
    result = at("2026-11-21 12:00:00", "initialize", "--mirror", server, "--root", str(REPOSITORY / "5.root.json"),
                tuf_root=mirror)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: TUF update from {server} failed: expired: Final root.json is expired")
    assert tree_digest(mirror) == before
    assert not [p for p in mirror.parent.iterdir() if p.name.startswith(".airlock-tuf")]


def test_initialize_rejects_old_root_format_and_bad_checksum(server, tmp_path):
    result = at("2026-08-25 12:00:00", "initialize", "--mirror", server, "--root", str(REPOSITORY / "1.root.json"),
                tuf_root=tmp_path / "root")
    assert result.returncode == 1 and "--root: not a usable TUF root" in result.stderr
    result = at("2026-08-25 12:00:00", "initialize", "--mirror", server, "--root", str(REPOSITORY / "5.root.json"),
                "--root-checksum", "00" * 32, tuf_root=tmp_path / "root")
    assert result.returncode == 2 and "does not match --root-checksum" in result.stderr
    assert not (tmp_path / "root").exists()


def test_initialize_from_a_file_url(tmp_path):
    result = at("2026-08-25 12:00:00", "initialize", "--mirror", shared(REPOSITORY).as_uri(), "--root",
                str(REPOSITORY / "5.root.json"), tuf_root=tmp_path / "root")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("date", ["2026-08-26 09:00:00", "2026-09-10 09:00:00"])
def test_offline_verification_with_only_the_mirror(mirror, date):
    """timestamp.json expired on 2026-08-28, but it was valid when the mirror was verified."""
    result = verify_blob(date, mirror, net=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Verified OK"


def test_offline_verification_fails_once_the_root_expired(mirror):
    result = verify_blob("2026-11-21 09:00:00", mirror)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: TUF mirror: root.json version 15 expired on 2026-11-20 13:58:18Z (checked against now); "
        "refresh the mirror with `airlock initialize` on the connected side")


def test_verification_warns_when_the_root_is_about_to_expire(mirror):
    result = verify_blob("2026-11-15 09:00:00", mirror)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "WARNING: trust root: root.json version 15 expires on 2026-11-20 13:58:18Z",
        "WARNING: trust root: the mirror was verified 81 days ago (more than 30)",
        "Verified OK",
    ]


def test_max_age(mirror):
    case = shared(CASE)
    result = at("2026-09-10 09:00:00", "verify-blob", str(case.parent / "a.txt"), "--bundle",
                str(case / "bundle.sigstore.json"), "--certificate-identity", IDENTITY, "--certificate-oidc-issuer",
                ISSUER, "--max-age", "10d", tuf_root=mirror)
    assert result.returncode == 1 and "more than the maximum age of 10 days" in result.stderr


@pytest.mark.parametrize("date,code,verdict", [
    ("2026-08-26 09:00:00", 0, "ok"),
    ("2026-11-15 09:00:00", 1, "warning"),
    ("2026-11-21 09:00:00", 2, "critical"),
])
def test_trust_status_exit_codes(mirror, tmp_path, date, code, verdict):
    metrics = tmp_path / "airlock.prom"
    result = at(date, "trust", "status", "--json", "--prometheus", str(metrics), tuf_root=mirror)
    assert result.returncode == code, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == verdict and report["exitCode"] == code
    assert f"airlock_trust_status {code}\n" in metrics.read_text()
    if code == 0:
        states = {(i["kind"], i["name"]): i["state"] for i in report["items"]}
        assert states[("ctlog", "https://ctfe.sigstore.dev/test")] == "history"  # retired, not an alarm
        assert states[("tuf-role", "timestamp v762")] == "frozen"
        assert 'airlock_tuf_mirror_age_seconds' in metrics.read_text()
    if code == 1:
        assert "root.json version 15 expires on 2026-11-20 13:58:18Z" in report["problems"]
    if code == 2:
        assert "root.json version 15 expired on 2026-11-20" in report["problems"][0]


def test_text_status(mirror):
    result = at("2026-08-26 09:00:00", "trust", "status", tuf_root=mirror)
    assert result.returncode == 0
    assert result.stdout.startswith("Trust status at 2026-08-26")
    assert "frozen   tuf-role        timestamp v762" in result.stdout


@pytest.mark.parametrize("target,change,reason", [
    ("targets/trusted_root.json", "flip", "trusted_root.json does not match its length and hashes"),
    ("timestamp.json", "edit", "timestamp.json is not signed by a threshold of timestamp keys"),
    ("snapshot.json", "edit", "snapshot.json is not signed by a threshold of snapshot keys"),
    ("targets.json", "edit", "targets.json is not signed by a threshold of targets keys"),
    ("root.json", "edit", "root.json is not the last root of the verified chain"),
    ("root_history/10.root.json", "edit", "root version 10 (by the previous root) is not signed by a threshold"),
    ("root_history/15.root.json", "flip", "root version 15 (by the previous root) is not signed"),
    ("root_history/15.root.json", "truncate", "root metadata does not parse"),
    ("root_history/10.root.json", "delete", "root version 11 does not follow version 9"),
    ("targets/trusted_root.json", "delete", "trusted_root.json is missing"),
    ("airlock-mirror.json", "delete", "TUF mirror record"),
])
def test_tampered_mirror_fails_offline(mirror, tmp_path, target, change, reason):
    copy = tmp_path / "root"
    shutil.copytree(mirror, copy)
    metadata = next(p for p in copy.iterdir() if p.is_dir())
    path = metadata / target
    if change == "delete":
        path.unlink()
    elif change == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif change == "edit":  # change what is signed, keep the signatures
        document = json.loads(path.read_bytes())
        document["signed"]["expires"] = "2099-01-01T00:00:00Z"
        path.write_text(json.dumps(document))
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    result = verify_blob("2026-08-26 09:00:00", copy)
    assert result.returncode == 1, result.stderr
    assert reason in result.stderr and "Error: TUF mirror" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
