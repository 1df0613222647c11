"""Images and signatures through a real registry (Debian's docker-registry on 127.0.0.1):
sign, verify from the registry, save, wipe, load into a fresh registry, verify again; skopeo as
an independent client; tampering anywhere fails with a specific message."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.formats import cosign
from airlock.oci import layout as oci
from airlock.oci.attach import signature_manifest
from airlock.oci.reference import signature_tag
from airlock.oci.registry import RegistryClient
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, bundle_bytes
from conftest import one_line_error, run_cli
from image_layouts import add_image, image_statement, key_layer, keyless_layer, new_layout
from registry_server import docker_registry

KEYLESS = ["--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER]


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    from datetime import UTC, datetime

    return SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
def client() -> RegistryClient:
    return RegistryClient()


@pytest.fixture()
def key(tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "cosign.pub"
    pub.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, pub


def push_image(client, registry, repository, tmp_path, content=b"layer") -> str:
    """An image pushed with the registry client (from a layout written by the test)."""
    layout = new_layout(tmp_path / f"src-{repository.replace('/', '-')}-{len(content)}")
    digest = add_image(layout, "unused", content)
    entry = layout.find_kind(oci.KIND_IMAGE)
    for item in layout.walk(entry):
        data = layout.read_blob(item["digest"], size=item["size"], limit=oci.MAX_LAYER_SIZE)
        if item["mediaType"] in oci.MANIFEST_TYPES:
            client.put_manifest(registry, repository, "v1", data, item["mediaType"])
        else:
            client.put_blob(registry, repository, data)
    return digest


def attach_signatures(client, registry, repository, digest, layers) -> None:
    manifest, config, blobs = signature_manifest(layers)
    for blob in (config, *blobs):
        client.put_blob(registry, repository, blob.data)
    client.put_manifest(registry, repository, signature_tag(digest, "sig"), manifest.data, oci.OCI_MANIFEST)


def attach_bundle(client, registry, repository, digest, bundle) -> None:
    data = bundle_bytes(bundle)
    client.put_blob(registry, repository, data)
    client.put_blob(registry, repository, oci.EMPTY_CONFIG)
    image = client.head_manifest(registry, repository, digest)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_EMPTY, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
        "layers": [{"mediaType": oci.SIGSTORE_BUNDLE_V03, "size": len(data), "digest": oci.sha256_digest(data)}],
        "subject": {"mediaType": image.media_type, "size": len(client.get_manifest(registry, repository, digest).data),
                    "digest": digest},
        "artifactType": oci.SIGSTORE_BUNDLE_V03}).encode()
    referrer = client.put_manifest(registry, repository, oci.sha256_digest(manifest), manifest, oci.OCI_MANIFEST)
    client.add_referrer(registry, repository, digest, {"mediaType": oci.OCI_MANIFEST, "size": len(manifest),
                                                       "digest": referrer, "artifactType": oci.SIGSTORE_BUNDLE_V03})


def test_key_signed_round_trip(registry, client, key, tmp_path, skopeo):
    private, pub = key
    digest = push_image(client, registry, "team/app", tmp_path)
    ref = f"{registry}/team/app"
    payload = cosign.simplesigning_payload(ref, digest, {"foo": "bar"})
    attach_signatures(client, registry, "team/app", digest, [key_layer(private, payload)])

    verify = run_cli("verify", f"{ref}:v1", "--key", pub, "--insecure-ignore-tlog", "-a", "foo=bar")
    assert verify.code == 0, verify.stderr
    assert f"Verification for {ref}:v1@{digest} --" in verify.stderr
    assert json.loads(verify.stdout)[0]["optional"] == {"foo": "bar"}
    assert "annotation foo='bar'" in one_line_error(
        run_cli("verify", f"{ref}:v1", "--key", pub, "--insecure-ignore-tlog", "-a", "foo=baz"))

    triangulate = run_cli("triangulate", f"{ref}:v1")
    assert triangulate.stdout.strip() == f"{ref}:sha256-{digest.split(':')[1]}.sig"
    download = run_cli("download", "signature", f"{ref}:v1")
    [line] = download.stdout.splitlines()
    assert json.loads(line)["Payload"] == __import__("base64").b64encode(payload).decode()

    saved = tmp_path / "saved"
    assert run_cli("save", f"{ref}:v1", "--dir", saved).code == 0
    assert run_cli("verify", "--local-image", saved, "--key", pub, "--insecure-ignore-tlog").code == 0

    # skopeo: the saved layout into a registry and back keeps every digest
    (tmp_path / "other").mkdir()
    with docker_registry(directory=tmp_path / "other") as other:
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{saved}:{ref}:v1",
               f"docker://{other}/copy/app:v1")
        assert client.head_manifest(other, "copy/app", "v1").digest == digest
        skopeo("copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{other}/copy/app:v1",
               f"oci:{tmp_path / 'back'}:v1")
        back = oci.OciLayout(str(tmp_path / "back"))
        assert back.read_index()["manifests"][0]["digest"] == digest

    # a fresh registry: load, then verify from there
    (tmp_path / "fresh").mkdir()
    with docker_registry(directory=tmp_path / "fresh") as fresh:
        loaded = run_cli("load", "--dir", saved, f"{fresh}/moved/app:v1")
        assert loaded.code == 0, loaded.stderr
        result = run_cli("verify", f"{fresh}/moved/app:v1", "--key", pub, "--insecure-ignore-tlog")
        assert result.code == 0, result.stderr
        assert client.head_manifest(fresh, "moved/app", signature_tag(digest, "sig")) is not None


def test_keyless_legacy_and_bundle_through_save_and_load(registry, client, inst, tmp_path):
    root = inst.write_trusted_root(tmp_path / "trusted_root.json")
    digest = push_image(client, registry, "team/keyless", tmp_path, b"keyless layer")
    ref = f"{registry}/team/keyless"
    attach_signatures(client, registry, "team/keyless", digest,
                      [keyless_layer(inst, cosign.simplesigning_payload(ref, digest))])
    attach_bundle(client, registry, "team/keyless", digest,
                  inst.sign_blob(b"", content="dsse", statement=image_statement(digest)))
    result = run_cli("verify", f"{ref}:v1", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2  # the legacy signature and the v3 bundle
    assert run_cli("verify", f"{ref}:v1", "--trusted-root", root, *KEYLESS, "--new-bundle-format").code == 0
    saved = tmp_path / "saved"
    assert run_cli("save", f"{ref}:v1", "--dir", saved).code == 0
    local = run_cli("verify", "--local-image", saved, "--trusted-root", root, *KEYLESS)
    assert local.code == 0 and len(json.loads(local.stdout)) == 2
    (tmp_path / "fresh").mkdir()
    with docker_registry(directory=tmp_path / "fresh") as fresh:
        assert run_cli("load", "--dir", saved, f"{fresh}/moved/keyless:v1").code == 0
        again = run_cli("verify", f"{fresh}/moved/keyless:v1", "--trusted-root", root, *KEYLESS)
        assert again.code == 0 and len(json.loads(again.stdout)) == 2, again.stderr


def test_tampered_signature_in_the_registry(registry, client, key, tmp_path):
    private, pub = key
    digest = push_image(client, registry, "team/tamper", tmp_path, b"tamper layer")
    ref = f"{registry}/team/tamper"
    payload = cosign.simplesigning_payload(ref, digest)
    good = key_layer(private, payload)
    forged = (good[0], payload.replace(b"team/tamper", b"team/tampex"), good[2])  # signature of another payload
    attach_signatures(client, registry, "team/tamper", digest, [forged])
    error = one_line_error(run_cli("verify", f"{ref}:v1", "--key", pub, "--insecure-ignore-tlog"))
    assert "signature: the signature does not verify over the artifact" in error
    unsigned = push_image(client, registry, "team/unsigned", tmp_path, b"unsigned")
    assert f"{registry}/team/unsigned:v1@{unsigned}: no signatures verified (no signatures found)" in one_line_error(
        run_cli("verify", f"{registry}/team/unsigned:v1", "--key", pub, "--insecure-ignore-tlog"))


def test_tampered_layout_is_refused_on_load(registry, client, key, tmp_path):
    private, _ = key
    digest = push_image(client, registry, "team/layout", tmp_path, b"layout layer")
    attach_signatures(client, registry, "team/layout", digest,
                      [key_layer(private, cosign.simplesigning_payload(f"{registry}/team/layout", digest))])
    saved = tmp_path / "saved"
    assert run_cli("save", f"{registry}/team/layout:v1", "--dir", saved).code == 0
    layer = next(p for p in (saved / "blobs" / "sha256").iterdir() if p.read_bytes() == b"layout layer")
    layer.write_bytes(b"evil   layer")
    (tmp_path / "fresh").mkdir()
    with docker_registry(directory=tmp_path / "fresh") as fresh:
        result = run_cli("load", "--dir", saved, f"{fresh}/moved/layout:v1")
        assert result.code == 1 and "Traceback" not in result.stderr
        last = result.stderr.splitlines()[-1]  # progress lines come first; the failure is one line
        assert last.startswith("Error: ") and "does not match its digest" in last
        assert RegistryClient().head_manifest(fresh, "moved/layout", "v1") is None


def test_registry_errors_are_one_line(registry, key):
    _, pub = key
    error = one_line_error(run_cli("verify", f"{registry}/nothing/here:v1", "--key", pub, "--insecure-ignore-tlog"))
    assert "404" in error or "MANIFEST_UNKNOWN" in error or "NAME_UNKNOWN" in error


def test_openssl_signature_attached_by_hand(registry, client, inst, tmp_path):
    """`openssl dgst -sha256 -sign` over the simple-signing payload, attached by hand, verifies with
    --key openssl.pub (cosign's documented openssl flow)."""
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    digest = push_image(client, registry, "team/openssl", tmp_path, b"openssl layer")
    ref = f"{registry}/team/openssl"
    key, pub, payload_file, signature_file = (tmp_path / n for n in ("key.pem", "openssl.pub", "payload", "sig"))
    subprocess.run(["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", key], check=True)
    subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
    payload_file.write_bytes(cosign.simplesigning_payload(ref, digest))
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", signature_file, payload_file], check=True)
    layer = (cosign.SIMPLESIGNING, payload_file.read_bytes(),
             {cosign.ANNOTATION_SIGNATURE: cosign.signature_annotation(signature_file.read_bytes())})
    attach_signatures(client, registry, "team/openssl", digest, [layer])
    result = run_cli("verify", f"{ref}:v1", "--key", pub, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)[0]["critical"]["image"]["docker-manifest-digest"] == digest
    root = inst.write_trusted_root(tmp_path / "trusted_root.json")
    without_flag = one_line_error(run_cli("verify", f"{ref}:v1", "--key", pub, "--trusted-root", root))
    assert "tlog: the signature has no transparency log entry" in without_flag


def test_multi_arch_index(registry, client, key, tmp_path):
    """Signatures on the index, or on one platform's manifest; save keeps every platform."""
    private, pub = key
    children = [push_image(client, registry, "team/multi", tmp_path, b"platform %d" % i) for i in range(2)]
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "size": len(client.get_manifest(registry, "team/multi", d).data),
         "digest": d, "platform": {"architecture": arch, "os": "linux"}}
        for d, arch in zip(children, ("amd64", "arm64"), strict=True)]}).encode()
    index_digest = client.put_manifest(registry, "team/multi", "v1", index, oci.OCI_INDEX)
    ref = f"{registry}/team/multi"
    attach_signatures(client, registry, "team/multi", index_digest,
                      [key_layer(private, cosign.simplesigning_payload(ref, index_digest))])
    attach_signatures(client, registry, "team/multi", children[1],
                      [key_layer(private, cosign.simplesigning_payload(ref, children[1]))])
    assert run_cli("verify", f"{ref}:v1", "--key", pub, "--insecure-ignore-tlog").code == 0
    assert run_cli("verify", f"{ref}@{children[1]}", "--key", pub, "--insecure-ignore-tlog").code == 0
    assert "no signatures found" in one_line_error(
        run_cli("verify", f"{ref}@{children[0]}", "--key", pub, "--insecure-ignore-tlog"))
    saved = tmp_path / "saved"
    assert run_cli("save", f"{ref}:v1", "--dir", saved).code == 0
    layout = oci.OciLayout(str(saved))
    entry = layout.find_kind(oci.KIND_IMAGE_INDEX)
    assert entry["digest"] == index_digest
    assert {d["digest"] for d in layout.walk(entry)} >= set(children)
    assert run_cli("verify", "--local-image", saved, "--key", pub, "--insecure-ignore-tlog").code == 0
