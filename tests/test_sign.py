"""Signing, cosign-compatible: the documented cosign flow with `airlock` in place of `cosign`,
checked by independent tools (openssl), against a real registry and a local layout."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

from airlock.oci.reference import signature_tag
from airlock.oci.registry import RegistryClient
from conftest import airlock_exe, one_line_error, run_cli
from image_layouts import add_image, new_layout
from test_registry_roundtrip import push_image

PASSWORD = "correct horse battery staple"


@pytest.fixture()
def password(monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)


def keypair(tmp_path, prefix: str) -> tuple[str, str]:
    result = run_cli("generate-key-pair", "--output-key-prefix", str(tmp_path / prefix))
    assert result.code == 0, result.stderr
    return str(tmp_path / f"{prefix}.key"), str(tmp_path / f"{prefix}.pub")


def openssl(*args: str) -> subprocess.CompletedProcess:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    return subprocess.run(["openssl", *args], capture_output=True)


def test_the_cosign_flow(registry, tmp_path, password):
    client = RegistryClient()
    digest = push_image(client, registry, "flow/app", tmp_path, b"flow layer")
    image = f"{registry}/flow/app:v1"
    key1, pub1 = keypair(tmp_path, "one")
    key2, pub2 = keypair(tmp_path, "two")
    assert run_cli("sign", "--new-bundle-format=false", "--key", key1, "-a", "foo=bar", image).code == 0
    assert run_cli("sign", "--new-bundle-format=false", "--key", key2, image).code == 0
    for pub in (pub1, pub2):
        result = run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image)
        assert result.code == 0, result.stderr
    assert run_cli("verify", "--key", pub1, "--insecure-ignore-tlog", "-a", "foo=bar", image).code == 0
    assert "wanted 'baz'" in one_line_error(
        run_cli("verify", "--key", pub1, "--insecure-ignore-tlog", "-a", "foo=baz", image))
    assert "WARNING: --check-claims=false" in run_cli("verify", "--key", pub2, "--insecure-ignore-tlog",
                                                      "--check-claims=false", image).stderr
    assert run_cli("triangulate", image).stdout.strip() == f"{registry}/flow/app:{signature_tag(digest, 'sig')}"

    # every signature verifies with openssl over the payload as stored in the registry
    lines = run_cli("download", "signature", image).stdout.splitlines()
    assert len(lines) == 2
    for line, pub in zip(lines, (pub1, pub2), strict=True):
        entry = json.loads(line)
        (tmp_path / "payload").write_bytes(base64.b64decode(entry["Payload"]))
        (tmp_path / "sig").write_bytes(base64.b64decode(entry["Base64Signature"]))
        check = openssl("dgst", "-sha256", "-verify", pub, "-signature", str(tmp_path / "sig"),
                        str(tmp_path / "payload"))
        assert check.returncode == 0 and b"Verified OK" in check.stdout

    # public-key prints what generate-key-pair wrote
    with open(pub1, "rb") as handle:
        assert run_cli("public-key", "--key", key1).stdout.encode() == handle.read()

    # the openssl flow: generate, sign with openssl, attach, verify
    openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", str(tmp_path / "openssl.key"))
    openssl("ec", "-in", str(tmp_path / "openssl.key"), "-pubout", "-out", str(tmp_path / "openssl.pub"))
    payload = tmp_path / "generated.json"
    generated = subprocess.run([*airlock_exe(), "generate", image], capture_output=True)
    assert generated.returncode == 0, generated.stderr
    payload.write_bytes(generated.stdout)
    openssl("dgst", "-sha256", "-sign", str(tmp_path / "openssl.key"), "-out", str(tmp_path / "openssl.sig"),
            str(payload))
    (tmp_path / "openssl.sig.b64").write_bytes(base64.b64encode((tmp_path / "openssl.sig").read_bytes()))
    assert run_cli("attach", "signature", "--payload", payload, "--signature", tmp_path / "openssl.sig.b64",
                   image).code == 0
    assert run_cli("verify", "--key", tmp_path / "openssl.pub", "--insecure-ignore-tlog", image).code == 0
    assert len(run_cli("download", "signature", image).stdout.splitlines()) == 3

    # clean removes them
    assert run_cli("clean", "--force", image).code == 0
    assert "no signatures found" in one_line_error(run_cli("verify", "--key", pub1, "--insecure-ignore-tlog", image))


def test_signing_twice_with_one_key_keeps_one_signature(registry, tmp_path, password):
    client = RegistryClient()
    push_image(client, registry, "flow/twice", tmp_path, b"twice")
    key, _ = keypair(tmp_path, "k")
    assert run_cli("sign", "--new-bundle-format=false", "--key", key, f"{registry}/flow/twice:v1").code == 0
    again = run_cli("sign", "--new-bundle-format=false", "--key", key, f"{registry}/flow/twice:v1")
    assert again.code == 0 and "Already signed" in again.stderr
    assert len(run_cli("download", "signature", f"{registry}/flow/twice:v1").stdout.splitlines()) == 1


def test_upload_false_and_outputs(registry, tmp_path, password):
    client = RegistryClient()
    digest = push_image(client, registry, "flow/noupload", tmp_path, b"noupload")
    key, pub = keypair(tmp_path, "k")
    result = run_cli("sign", "--key", key, "--upload=false", "--new-bundle-format=false", "--output-payload",
                     tmp_path / "p.json", "--output-signature", tmp_path / "p.sig", f"{registry}/flow/noupload:v1")
    assert (result.code, result.stdout) == (0, "")  # as cosign v3: nothing printed
    signature = base64.b64decode((tmp_path / "p.sig").read_text())
    (tmp_path / "s").write_bytes(signature)
    assert openssl("dgst", "-sha256", "-verify", pub, "-signature", str(tmp_path / "s"),
                   str(tmp_path / "p.json")).returncode == 0
    assert json.loads((tmp_path / "p.json").read_bytes())["critical"]["image"]["docker-manifest-digest"] == digest
    assert client.head_manifest(registry, "flow/noupload", signature_tag(digest, "sig")) is None
    refused = run_cli("sign", "--key", key, "--tlog-upload=true", f"{registry}/flow/noupload:v1")
    assert "cannot reach Rekor" in one_line_error(refused)
    nowhere = run_cli("sign", "--key", key, "--upload=false", f"{registry}/flow/noupload:v1")
    assert (nowhere.code, one_line_error(nowhere)) == (2, "Error: --upload=false with the new bundle format writes "
                                                         "the bundle to a file: add --bundle FILE (or attach it: "
                                                         "--upload=true)")


def test_new_bundle_format_and_attest(registry, tmp_path, password):
    client = RegistryClient()
    push_image(client, registry, "flow/bundle", tmp_path, b"bundle")
    image = f"{registry}/flow/bundle:v1"
    key, pub = keypair(tmp_path, "k")
    assert run_cli("sign", "--key", key, "--new-bundle-format", "-a", "env=prod", image).code == 0
    verified = run_cli("verify", "--key", pub, "--insecure-ignore-tlog", "--new-bundle-format", "-a", "env=prod",
                       image)
    assert verified.code == 0, verified.stderr
    (tmp_path / "sbom.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3"}))
    assert run_cli("attest", "--key", key, "--predicate", tmp_path / "sbom.json", "--type", "spdx",
                   "--new-bundle-format=false", image).code == 0
    assert run_cli("attest", "--key", key, "--predicate", tmp_path / "sbom.json", "--type", "spdxjson",
                   "--new-bundle-format", image).code == 0
    result = run_cli("verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "spdx", image)
    assert result.code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2  # the .att layer and the bundle referrer
    assert "predicate type" in one_line_error(run_cli("verify-attestation", "--key", pub, "--insecure-ignore-tlog",
                                                      "--type", "cyclonedx", image))
    cleaned = run_cli("clean", "--force", image)
    assert cleaned.code == 0 and "Removed .att, 2 referrer(s)" in cleaned.stderr
    assert "no signatures found" in one_line_error(run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image))


def test_sign_blob_both_formats(tmp_path, password):
    key, pub = keypair(tmp_path, "k")
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"sign me\n")
    for extra in ([], ["--new-bundle-format=false"]):
        bundle = tmp_path / f"b{len(extra)}.json"
        assert run_cli("sign-blob", "--key", key, "--bundle", bundle, *extra, blob).code == 0
        result = run_cli("verify-blob", blob, "--bundle", bundle, "--key", pub, "--insecure-ignore-tlog",
                         "--trusted-root", _empty_root(tmp_path))
        assert result.code == 0, result.stderr
    printed = run_cli("sign-blob", "--key", key, blob)
    (tmp_path / "sig").write_bytes(base64.b64decode(printed.stdout.strip()))
    assert openssl("dgst", "-sha256", "-verify", pub, "-signature", str(tmp_path / "sig"), str(blob)).returncode == 0


def _empty_root(tmp_path) -> str:
    path = tmp_path / "empty_root.json"
    path.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}))
    return str(path)


def test_sign_in_a_local_layout(tmp_path, password):
    key, pub = keypair(tmp_path, "k")
    layout = new_layout(tmp_path / "layout")
    add_image(layout, "registry.local/team/app:1")
    assert run_cli("sign", "--key", key, "--local-image", tmp_path / "layout").code == 0
    assert run_cli("sign", "--key", key, "--local-image", tmp_path / "layout", "--new-bundle-format").code == 0
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--key", pub, "--insecure-ignore-tlog")
    assert result.code == 0 and len(json.loads(result.stdout)) == 2, result.stderr


def test_concurrent_signing_keeps_both(registry, tmp_path, password):
    client = RegistryClient()
    push_image(client, registry, "flow/race", tmp_path, b"race")
    image = f"{registry}/flow/race:v1"
    keys = [keypair(tmp_path, f"k{i}") for i in range(2)]
    env = {**os.environ, "COSIGN_PASSWORD": PASSWORD}
    procs = [subprocess.Popen([*airlock_exe(), "sign", "--key", key, "--new-bundle-format=false", image], env=env,
                              stderr=subprocess.PIPE) for key, _ in keys]
    codes = [p.wait(timeout=120) for p in procs]
    assert all(code in (0, 1) for code in codes)
    verified = [run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image).code == 0 for _, pub in keys]
    assert verified == [code == 0 for code in codes]  # each run either kept its signature or failed cleanly
    assert any(verified)


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 that closes the connection when a request line matches ``drop``."""

    def __init__(self, upstream: str, drop: bytes) -> None:
        self.upstream_host, port = upstream.rsplit(":", 1)
        self.upstream_port, self.drop = int(port), drop
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        up = socket.create_connection((self.upstream_host, self.upstream_port), timeout=10)
        conn.settimeout(10)

        def pump(src: socket.socket, dst: socket.socket, inspect: bool) -> None:
            try:
                while data := src.recv(65536):
                    if inspect and self.drop in data:
                        conn.close()
                        up.close()
                        return
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.close()

        threading.Thread(target=pump, args=(up, conn, False), daemon=True).start()
        pump(conn, up, True)

    def close(self) -> None:
        self.server.close()


def test_dropped_connection_leaves_no_half_attached_signature(registry, tmp_path, password):
    client = RegistryClient()
    digest = push_image(client, registry, "flow/drop", tmp_path, b"drop")
    key1, pub1 = keypair(tmp_path, "first")
    key2, _ = keypair(tmp_path, "second")
    assert run_cli("sign", "--new-bundle-format=false", "--key", key1, f"{registry}/flow/drop:v1").code == 0
    proxy = DroppingProxy(registry, b"PUT /v2/flow/drop/manifests/" + signature_tag(digest, "sig").encode())
    try:
        result = run_cli("sign", "--new-bundle-format=false", "--key", key2, f"{proxy.address}/flow/drop:v1")
    finally:
        proxy.close()
    assert result.code != 0 and result.stderr.splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in result.stderr
    verified = run_cli("verify", "--key", pub1, "--insecure-ignore-tlog", f"{registry}/flow/drop:v1")
    assert verified.code == 0, verified.stderr
    assert len(run_cli("download", "signature", f"{registry}/flow/drop:v1").stdout.splitlines()) == 1
