"""trusted-root create, and trust export / import: one-file transfer of trust across the gap."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, bundle_bytes
from airlock.trust.trusted_root import TrustedRoot
from conftest import TUF_REPOSITORY as REPOSITORY
from conftest import at, one_line_error, run_cli, shared


def pem_key(key) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_certs(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@pytest.fixture()
def instance_pems(tmp_path: Path) -> tuple[SigstoreInstance, dict[str, Path]]:
    inst = SigstoreInstance()
    files = {
        "chain": pem_certs(inst.fulcio.intermediate, inst.fulcio.root),
        "rekor": pem_key(inst.rekor_v1.key.public_key()),
        "rekor2": pem_key(inst.rekor_v2.key.public_key()),
        "ctfe": pem_key(inst.ctlog.key.public_key()),
        "tsa": pem_certs(inst.tsa.leaf, inst.tsa.root) if inst.tsa.intermediate is None
        else pem_certs(inst.tsa.leaf, inst.tsa.intermediate, inst.tsa.root),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    return inst, paths


def test_created_root_verifies_the_instance_signatures(instance_pems, tmp_path):
    inst, pem = instance_pems
    start = "2020-01-01T00:00:00Z"
    out = tmp_path / "trusted_root.json"
    result = run_cli("trusted-root", "create", "--certificate-chain", pem["chain"], "--fulcio-uri", "https://fulcio.x",
                     "--rekor-key", pem["rekor"], "--rekor-url", inst.rekor_v1.base_url,
                     "--rekor-key", pem["rekor2"], "--rekor-url", inst.rekor_v2.base_url, "--rekor-start-time", start,
                     "--ctfe-key", pem["ctfe"], "--ctfe-start-time", start,
                     "--timestamp-certificate-chain", pem["tsa"], "--timestamp-start-time", start, "--out", out)
    assert result.code == 0, result.stderr
    root = TrustedRoot.from_file(out)
    assert [log.log_id for log in root.tlogs] == [inst.rekor_v1.log_id, inst.rekor_v2.log_id]
    assert root.ctlogs[0].log_id == inst.ctlog.log_id
    for shape in ({}, {"rekor": "v2"}):  # Rekor v1 (SET + proof) and Rekor v2 (checkpoint + TSA)
        artifact = tmp_path / "a.txt"
        artifact.write_bytes(b"created root")
        bundle = tmp_path / "a.sigstore.json"
        bundle.write_bytes(bundle_bytes(inst.sign_blob(b"created root", **shape)))
        verify = run_cli("verify-blob", artifact, "--bundle", bundle, "--trusted-root", out,
                         "--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER)
        assert verify.code == 0, verify.stderr


def test_create_refuses_bad_input(tmp_path):
    key = tmp_path / "not-a-key.pem"
    key.write_bytes(b"hello")
    assert "not a PEM or DER public key" in one_line_error(run_cli("trusted-root", "create", "--rekor-key", key))
    assert "nothing to put" in one_line_error(run_cli("trusted-root", "create"))
    good = tmp_path / "rekor.pem"
    good.write_bytes(pem_key(ec.generate_private_key(ec.SECP256R1()).public_key()))
    assert "not an RFC 3339 time" in one_line_error(
        run_cli("trusted-root", "create", "--rekor-key", good, "--rekor-start-time", "yesterday"))
    assert "more --rekor-url than --rekor-key" in one_line_error(
        run_cli("trusted-root", "create", "--rekor-key", good, "--rekor-url", "a", "--rekor-url", "b"))


def test_created_ed25519_log_id_is_the_note_key_id(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    path = tmp_path / "k.pem"
    path.write_bytes(pem_key(key))
    result = run_cli("trusted-root", "create", "--rekor-key", path, "--rekor-url", "https://log.example")
    document = json.loads(result.stdout)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expected = hashlib.sha256(b"log.example\n\x01" + raw).digest()
    import base64

    assert base64.b64decode(document["tlogs"][0]["logId"]["keyId"]) == expected
    assert document["tlogs"][0]["publicKey"]["keyDetails"] == "PKIX_ED25519"


@pytest.mark.parametrize(("url", "origin"), [
    ("http://127.0.0.1:3003", b"127.0.0.1"),
    ("https://log.example:8443/path", b"log.example"),
    ("http://[::1]:3003", b"::1"),
    ("https://Log.Example", b"Log.Example"),
])
def test_created_ed25519_log_origin_is_the_host_name_without_port(tmp_path, url, origin):
    """As sigstore-go (url.Hostname()): a Rekor v2 log served on a port (a private or local
    instance) signs checkpoints for its bare host name; cosign refuses any other origin."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    path = tmp_path / "k.pem"
    path.write_bytes(pem_key(key))
    result = run_cli("trusted-root", "create", "--rekor-key", path, "--rekor-url", url)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expected = hashlib.sha256(origin + b"\n\x01" + raw).digest()
    root = TrustedRoot.from_json(result.stdout.encode(), source="created")
    assert (root.tlogs[0].log_id, root.tlogs[0].host) == (expected, origin.decode())
    assert root.tlogs[0].note_key_hint == expected[:4]


# -- export / import ---------------------------------------------------------------------------------

def test_trusted_root_round_trip(instance_pems, tmp_path):
    inst, _ = instance_pems
    source = inst.write_trusted_root(tmp_path / "src.json")
    archive = tmp_path / "trust.tar.gz"
    assert run_cli("trust", "export", "--trusted-root", source, "--out", archive).code == 0
    out = tmp_path / "imported.json"
    result = run_cli("trust", "import", archive, "--out", out)
    assert result.code == 0, result.stderr
    assert out.read_bytes() == Path(source).read_bytes()
    nowhere = tmp_path / "no-such-dir"
    refused = run_cli("trust", "export", "--trusted-root", source, "--out", nowhere / "t.tar.gz")
    assert refused.code == 1
    assert one_line_error(refused) == (f"Error: trust export: cannot write {nowhere / 't.tar.gz'}: "
                                       "No such file or directory")
    refused = run_cli("trust", "import", archive, "--out", nowhere / "t.json")
    assert refused.code == 1
    assert one_line_error(refused) == (f"Error: trust import: cannot write {nowhere / 't.json'}: "
                                       "No such file or directory")
    assert not nowhere.exists()


def rewrite(archive: Path, out: Path, change) -> None:
    """Copy an archive, letting ``change(name, data)`` return new bytes (or None to drop the file)."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = change(member.name, src.extractfile(member).read())
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def mirror_archive(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pack")
    result = at("2026-08-25 12:00:00", "initialize", "--mirror", shared(REPOSITORY).as_uri(), "--root",
                str(REPOSITORY / "5.root.json"), tuf_root=tmp / "root")
    assert result.returncode == 0, result.stderr
    result = at("2026-08-26 12:00:00", "trust", "export", "--out", str(tmp / "mirror.tar.gz"), tuf_root=tmp / "root")
    assert result.returncode == 0, result.stderr
    return tmp / "mirror.tar.gz"


def test_mirror_round_trip(mirror_archive, tmp_path):
    result = at("2026-08-27 12:00:00", "trust", "import", str(mirror_archive), tuf_root=tmp_path / "root")
    assert result.returncode == 0, result.stderr
    status = at("2026-08-27 12:00:00", "trust", "status", "--json", tuf_root=tmp_path / "root")
    assert status.returncode == 0 and json.loads(status.stdout)["mirror"]["verifiedAt"].startswith("2026-08-25")


def test_mirror_export_refuses_an_expired_mirror(mirror_archive, tmp_path):
    at("2026-08-27 12:00:00", "trust", "import", str(mirror_archive), tuf_root=tmp_path / "root")
    result = at("2026-11-21 12:00:00", "trust", "export", "--out", str(tmp_path / "x.tar.gz"),
                tuf_root=tmp_path / "root")
    assert result.returncode == 1 and "root.json version 15 expired" in result.stderr
    assert not (tmp_path / "x.tar.gz").exists()


def _trusted_root_name(name: str) -> bool:
    return name.endswith("targets/trusted_root.json")


@pytest.mark.parametrize("change,reason", [
    (lambda n, d: d + b" " if _trusted_root_name(n) else d, "does not match its SHA-256 in the manifest"),
    (lambda n, d: None if _trusted_root_name(n) else d, "is in the manifest but not in the archive"),
    (lambda n, d: None if n == "MANIFEST.json" else d, "has no MANIFEST.json"),
])
def test_import_checks_the_manifest(mirror_archive, tmp_path, change, reason):
    bad = tmp_path / "bad.tar.gz"
    rewrite(mirror_archive, bad, change)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "keep").write_text("previous mirror")
    result = at("2026-08-27 12:00:00", "trust", "import", str(bad), tuf_root=tmp_path / "root")
    assert result.returncode == 1 and reason in result.stderr
    assert (tmp_path / "root" / "keep").read_text() == "previous mirror"


def test_import_rereverifies_a_consistent_but_forged_mirror(mirror_archive, tmp_path):
    """Change a file and its manifest sum together: the offline TUF re-verification still refuses it."""
    forged = tmp_path / "forged.tar.gz"
    replacement = b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}'

    def change(name: str, data: bytes) -> bytes:
        if _trusted_root_name(name):
            return replacement
        if name == "MANIFEST.json":
            manifest = json.loads(data)
            for entry in manifest["files"]:
                if _trusted_root_name(entry["path"]):
                    entry["size"], entry["sha256"] = len(replacement), hashlib.sha256(replacement).hexdigest()
            return json.dumps(manifest).encode()
        return data

    rewrite(mirror_archive, forged, change)
    result = at("2026-08-27 12:00:00", "trust", "import", str(forged), tuf_root=tmp_path / "root")
    assert result.returncode == 1 and "trusted_root.json does not match its length and hashes" in result.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("name,kind", [("../evil.json", tarfile.REGTYPE), ("/etc/evil", tarfile.REGTYPE),
                                       ("link", tarfile.SYMTYPE)])
def test_import_refuses_unsafe_members(tmp_path, name, kind):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as out:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
        out.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    reason = "not a regular file" if kind == tarfile.SYMTYPE else "unsafe path"
    assert reason in one_line_error(run_cli("trust", "import", archive, "--out", tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists()


def test_import_refuses_garbage(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    assert "is not a gzip'd tar archive" in one_line_error(run_cli("trust", "import", junk))


def test_mirror_import_pinned_to_the_public_good_bootstrap_root(mirror_archive, tmp_path, monkeypatch):
    """The real mirror's anchor is the root it was bootstrapped from (5.root.json); a pin on it holds,
    any other pin is refused."""
    anchor = hashlib.sha256(shared(REPOSITORY / "5.root.json").read_bytes()).hexdigest()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("AIRLOCK_TUF_ROOT_SHA256", anchor)
    result = at("2026-08-27 12:00:00", "trust", "import", str(mirror_archive), tuf_root=tmp_path / "root")
    assert result.returncode == 0, result.stderr
    assert f"Trust anchor: root v5 SHA-256 {anchor} (pinned by AIRLOCK_TUF_ROOT_SHA256)" in result.stderr
    status = at("2026-08-27 12:00:00", "trust", "status", "--json", tuf_root=tmp_path / "root")
    assert status.returncode == 0 and json.loads(status.stdout)["anchor"]["sha256"] == anchor

    monkeypatch.setenv("AIRLOCK_TUF_ROOT_SHA256", "0" * 64)
    status = at("2026-08-27 12:00:00", "trust", "status", "--json", tuf_root=tmp_path / "root")
    assert status.returncode == 2 and json.loads(status.stdout)["problems"] == [
        f"TUF mirror: trust anchor mismatch: AIRLOCK_TUF_ROOT_SHA256 pins root SHA-256 {'0' * 64}, the mirror's "
        f"bootstrap root (version 5) has SHA-256 {anchor}"]


def test_import_streams_so_memory_does_not_grow_with_the_archive(tmp_path):
    """A real mirror's archive is about 16 KB (90 KB unpacked); a hostile one may unpack to 256 MiB
    from a few hundred KB of gzip. Import streams each member to a staging file: the peak RSS of
    an archive of 15 x 16 MiB is that of one of 16 MiB (both are refused later, as no mirror), and
    nothing is left behind. (Read whole, the larger took 293 MiB.)"""
    import os
    import subprocess
    import sys

    from conftest import airlock_exe

    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(p.stderr.strip().splitlines()[-1]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")
    peaks = []
    for count in (1, 15):
        files = {f"targets/f{n}": bytes(16 << 20) for n in range(count)}
        manifest = {"format": "airlock-trust-pack/v1", "kind": "tuf-mirror",
                    "files": [{"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                              for name, data in files.items()]}
        archive = tmp_path / f"{count}.tar.gz"
        with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for name, data in [("MANIFEST.json", json.dumps(manifest).encode()), *files.items()]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        del files
        work = tmp_path / f"work{count}"
        work.mkdir()
        process = subprocess.run([sys.executable, "-c", wrapper, *airlock_exe(), "trust", "import", str(archive)],
                                 capture_output=True, text=True, timeout=120,
                                 env={**os.environ, "TUF_ROOT": str(work / "root"),
                                      "PYTHONPATH": os.pathsep.join(sys.path)})
        error, peak = process.stdout.strip().splitlines()
        assert error.startswith("Error: TUF mirror: "), error  # read whole and matched; then no mirror
        assert os.listdir(work) == []  # no staging directory left, no root
        peaks.append(int(peak))
    assert peaks[1] - peaks[0] < 16, peaks
