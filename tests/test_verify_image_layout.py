"""`airlock verify` / `verify-attestation --local-image`: signed images in OCI layouts."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.formats import cosign
from airlock.oci import layout as oci
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
from conftest import one_line_error, run_cli, run_process
from image_layouts import (
    add_image,
    attach,
    attach_bundle,
    image_statement,
    key_layer,
    keyless_layer,
    new_layout,
)

KEYLESS = ["--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER]
NAME = "registry.local/team/app:1.0"


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    from datetime import UTC, datetime

    return SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture()
def root(inst, tmp_path):
    return inst.write_trusted_root(tmp_path / "trusted_root.json")


def signed_layout(inst, path, annotations=None):
    layout = new_layout(path)
    digest = add_image(layout, NAME)
    payload = cosign.simplesigning_payload("registry.local/team/app", digest, annotations)
    attach(layout, digest, [keyless_layer(inst, payload)])
    return layout, digest


def test_keyless_legacy_signature(inst, root, tmp_path):
    _, digest = signed_layout(inst, tmp_path / "layout", {"foo": "bar"})
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines()[:2] == ["", f"Verification for {NAME}@{digest} --"]  # cosign's blank line
    assert "  - The code-signing certificate was verified using trusted certificate authority certificates" \
        in result.stderr
    [payload] = json.loads(result.stdout)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert payload["optional"]["foo"] == "bar"
    assert payload["optional"]["Subject"] == DEFAULT_IDENTITY and payload["optional"]["Issuer"] == DEFAULT_ISSUER
    assert set(payload["optional"]["Bundle"]) == {"SignedEntryTimestamp", "Payload"}


def test_annotations(inst, root, tmp_path):
    signed_layout(inst, tmp_path / "layout", {"foo": "bar"})
    base = ["verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS]
    assert run_cli(*base, "-a", "foo=bar").code == 0
    error = one_line_error(run_cli(*base, "-a", "foo=baz"))
    assert "annotation foo='bar' in the payload, wanted 'baz'" in error


def test_check_claims_false_warns(inst, root, tmp_path):
    signed_layout(inst, tmp_path / "layout")
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS,
                     "--check-claims=false")
    assert result.code == 0
    assert "WARNING: --check-claims=false" in result.stderr and "WARNING: unverified claims: docker-manifest-digest" \
        in result.stderr
    assert "The cosign claims were validated" not in result.stderr


def test_wrong_identity_fails_with_one_line(inst, root, tmp_path):
    signed_layout(inst, tmp_path / "layout")
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root,
                                   "--certificate-identity", "someone", "--certificate-oidc-issuer", DEFAULT_ISSUER))
    assert "no signatures verified" in error and "identity: certificate identity" in error


def test_key_signed_image_openssl_style(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "cosign.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload("registry.local/team/app", digest))])
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--key", pub, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    assert "WARNING: --insecure-ignore-tlog" in result.stderr
    assert "The signatures were verified against the specified public key" in result.stderr
    other = tmp_path / "other.pub"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--key", other,
                                   "--insecure-ignore-tlog"))
    assert "signature: the signature does not verify" in error


def test_several_images_share_a_layout(inst, root, tmp_path):
    layout, _ = signed_layout(inst, tmp_path / "layout")
    second = add_image(layout, "registry.local/team/other:2", b"other layer")
    attach(layout, second, [keyless_layer(inst, cosign.simplesigning_payload("registry.local/team/other", second))])
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2
    only = run_cli("verify", "registry.local/team/other:2", "--local-image", tmp_path / "layout",
                   "--trusted-root", root, *KEYLESS)
    assert only.code == 0 and len(json.loads(only.stdout)) == 1
    unsigned = add_image(layout, "registry.local/team/unsigned:1", b"unsigned")
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert f"registry.local/team/unsigned:1@{unsigned}: no signatures verified (no signatures found)" in error


def test_signature_of_another_image_does_not_count(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    other = add_image(layout, "registry.local/team/other:1", b"x")
    attach(layout, digest, [keyless_layer(inst, cosign.simplesigning_payload("registry.local/team/app", other))])
    error = one_line_error(run_cli("verify", NAME, "--local-image", tmp_path / "layout", "--trusted-root", root,
                                   *KEYLESS))
    assert f"claims: the payload signs {other}, not {digest}" in error


def test_tampered_signature_payload_blob(inst, root, tmp_path):
    layout, _ = signed_layout(inst, tmp_path / "layout")
    sig_entry = layout.find_kind(oci.KIND_SIGS)
    _, manifest = layout.read_manifest(sig_entry)
    payload_digest = manifest["layers"][0]["digest"]
    path = tmp_path / "layout" / "blobs" / "sha256" / payload_digest.split(":")[1]
    path.write_bytes(path.read_bytes().replace(b"team/app", b"team/evi"))
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert payload_digest in error and "digest" in error


def test_v3_bundle_referrer_and_attestation(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    signature = inst.sign_blob(b"", content="dsse", statement=image_statement(digest))
    attach_bundle(layout, digest, signature, "https://sigstore.dev/cosign/sign/v1")
    sbom = inst.sign_blob(b"", content="dsse", statement=image_statement(digest, "https://spdx.dev/Document",
                                                                         predicate={"spdxVersion": "SPDX-2.3"}))
    attach_bundle(layout, digest, sbom, "https://spdx.dev/Document")
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 1  # the SBOM attestation is not a signature
    attestation = run_cli("verify-attestation", "--local-image", tmp_path / "layout", "--trusted-root", root,
                          *KEYLESS, "--type", "spdx")
    assert attestation.code == 0, attestation.stderr
    envelope = json.loads(attestation.stdout.splitlines()[0])
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    wrong = run_cli("verify-attestation", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS,
                    "--type", "slsaprovenance1")
    assert "predicate type" in one_line_error(wrong)
    legacy_only = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS,
                          "--new-bundle-format=false")
    assert "no signatures found" in one_line_error(legacy_only)


def test_cosign_style_layout_with_orphan_bundle(inst, root, tmp_path):
    """cosign save: sigs by `kind` only, v3 bundle referrers left as unlisted blobs."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=image_statement(digest)),
                  "https://sigstore.dev/cosign/sign/v1", listed=False)
    attach(layout, digest, [keyless_layer(inst, cosign.simplesigning_payload("registry.local/team/app", digest))],
           mark_subject=False)
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2


def test_legacy_attestation_layer(inst, root, tmp_path):
    import base64

    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    bundle = inst.sign_blob(b"", content="dsse", statement=image_statement(
        digest, "https://cosign.sigstore.dev/attestation/v1", predicate={"Data": "hello"}), version="0.1")
    envelope = bundle["dsseEnvelope"]
    layer = json.dumps(envelope, separators=(",", ":")).encode()  # the bytes logged (the entry's envelope hash)
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    rekor = {"SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
             "Payload": {"body": entry["canonicalizedBody"], "integratedTime": int(entry["integratedTime"]),
                         "logIndex": int(entry["logIndex"]),
                         "logID": base64.b64decode(entry["logId"]["keyId"]).hex()}}
    cert = base64.b64decode(bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"])
    from cryptography import x509

    pem = x509.load_der_x509_certificate(cert).public_bytes(serialization.Encoding.PEM).decode()
    attach(layout, digest, [(cosign.DSSE, layer, {cosign.ANNOTATION_SIGNATURE: "", cosign.ANNOTATION_CERTIFICATE: pem,
                                                  cosign.ANNOTATION_BUNDLE: json.dumps(rekor),
                                                  cosign.ANNOTATION_PREDICATE_TYPE:
                                                  "https://cosign.sigstore.dev/attestation/v1"})], kind=oci.KIND_ATTS)
    result = run_cli("verify-attestation", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    # the same envelope stored as other JSON bytes is not what was logged (cosign refuses it too)
    other = new_layout(tmp_path / "other")
    assert add_image(other, NAME) == digest
    attach(other, digest, [(cosign.DSSE, json.dumps(envelope, indent=1).encode(), {
        cosign.ANNOTATION_SIGNATURE: "", cosign.ANNOTATION_CERTIFICATE: pem,
        cosign.ANNOTATION_BUNDLE: json.dumps(rekor),
        cosign.ANNOTATION_PREDICATE_TYPE: "https://cosign.sigstore.dev/attestation/v1"})], kind=oci.KIND_ATTS)
    result = run_cli("verify-attestation", "--local-image", tmp_path / "other", "--trusted-root", root, *KEYLESS)
    assert one_line_error(result).endswith(".att layer 0: tlog-entry: the log entry records a different DSSE "
                                           "envelope: its envelope hash is not the hash of the envelope stored)")


def test_no_network_needed(inst, root, tmp_path):
    signed_layout(inst, tmp_path / "layout")
    result = run_process("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS, net=False)
    assert result.code == 0, result.stderr


def test_layout_errors_are_one_line(tmp_path):
    key = tmp_path / "k.pub"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "empty").mkdir()
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "empty", "--key", key,
                                   "--insecure-ignore-tlog"))
    assert "oci-layout" in error
