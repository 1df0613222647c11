"""Hostile OCI layouts for `airlock verify` / `verify-attestation --local-image` (issue 8).

The image verified must be whole in the layout; each signature is judged on its own, so junk
next to a good signature neither hides it nor crashes the run; deeply nested or mistyped JSON
anywhere is a one-line reason, never `internal error`.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.errors import LayoutError
from airlock.formats import cosign
from airlock.oci import layout as oci
from airlock.oci.sources import SUBJECT
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
from conftest import one_line_error, run_cli
from image_layouts import add_image, attach, attach_bundle, image_statement, key_layer, keyless_layer, new_layout

KEYLESS = ["--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER]
NAME = "registry.local/team/app:1.0"
REPO = "registry.local/team/app"
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
NESTED = "nested deeper than 64 levels"


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    from datetime import UTC, datetime

    return SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture()
def root(inst, tmp_path):
    return inst.write_trusted_root(tmp_path / "trusted_root.json")


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def pub(key, tmp_path):
    path = tmp_path / "cosign.pub"
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def blob_path(layout: oci.OciLayout, digest: str):
    from pathlib import Path

    return Path(layout.path) / "blobs" / "sha256" / digest.split(":")[1]


def key_signed(key, path):
    """A layout holding one key-signed image: (layout, image digest)."""
    layout = new_layout(path)
    digest = add_image(layout, NAME)
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload(REPO, digest))])
    return layout, digest


def verify_key(path, pub, *extra, command="verify"):
    return run_cli(command, "--local-image", path, "--key", pub, "--insecure-ignore-tlog", *extra)


def image_manifest(layout: oci.OciLayout, digest: str) -> dict:
    return json.loads(layout.read_blob(digest))


def raw_manifest(layout: oci.OciLayout, data: bytes, image_digest: str, kind: str | None = oci.KIND_SIGS) -> str:
    """Store ``data`` as a manifest blob and list it in index.json (as the .sig/.att of the image)."""
    digest = layout.write_blob(data)
    annotations = {SUBJECT: image_digest, **({oci.KIND: kind} if kind else {})}
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(data), "digest": digest,
                         "annotations": annotations})
    return digest


def sig_manifest(layout: oci.OciLayout, image_digest: str, layers: list[dict]) -> str:
    """A .sig manifest with hand-made layer descriptors (which may be junk)."""
    layout.write_blob(oci.EMPTY_CONFIG)
    return raw_manifest(layout, json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_CONFIG, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
        "layers": layers}).encode(), image_digest)


def layer_descriptor(layout: oci.OciLayout, payload: bytes, annotations: dict[str, str],
                     media_type: str = cosign.SIMPLESIGNING) -> dict:
    digest = layout.write_blob(payload)
    return {"mediaType": media_type, "size": len(payload), "digest": digest, "annotations": annotations}


def key_descriptor(layout, key, payload: bytes) -> dict:
    media_type, payload, annotations = key_layer(key, payload)
    return layer_descriptor(layout, payload, annotations, media_type)


def referrer(layout: oci.OciLayout, image_digest: str, bundle: bytes) -> str:
    """A v3 bundle referrer of the image holding ``bundle`` (any bytes), listed in index.json."""
    layout.write_blob(oci.EMPTY_CONFIG)
    bundle_digest = layout.write_blob(bundle)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "artifactType": oci.SIGSTORE_BUNDLE_V03,
        "config": {"mediaType": oci.OCI_EMPTY, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
        "layers": [{"mediaType": oci.SIGSTORE_BUNDLE_V03, "size": len(bundle), "digest": bundle_digest}],
        "subject": {"mediaType": oci.OCI_MANIFEST, "size": 1, "digest": image_digest}}).encode()
    digest = layout.write_blob(manifest)
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": digest,
                         "artifactType": oci.SIGSTORE_BUNDLE_V03, "annotations": {SUBJECT: image_digest}})
    return digest


# -- 1. the image verified must be present and intact ------------------------------------------------


def test_intact_image_verifies(key, pub, tmp_path):
    key_signed(key, tmp_path / "layout")
    result = verify_key(tmp_path / "layout", pub)
    assert result.code == 0, result.stderr


def test_deleted_image_manifest(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    blob_path(layout, digest).unlink()
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"{NAME}@{digest}: the image is not intact in the layout" in error and f"blob {digest} is missing" in error


def test_image_manifest_truncated_to_one_byte(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    path = blob_path(layout, digest)
    size = path.stat().st_size
    path.write_bytes(b"{")
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"blob {digest} is 1 bytes, the descriptor says {size}" in error


def test_image_manifest_same_size_change(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    path = blob_path(layout, digest)
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion": 3'))
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"blob {digest} does not match its digest" in error


def test_missing_config(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    config = image_manifest(layout, digest)["config"]["digest"]
    blob_path(layout, config).unlink()
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"blob {config} is missing" in error


def test_tampered_config_same_size(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    config = image_manifest(layout, digest)["config"]["digest"]
    path = blob_path(layout, config)
    path.write_bytes(path.read_bytes().replace(b"amd64", b"arm64"))
    error = one_line_error(verify_key(tmp_path / "layout", pub, "--check-layer-digests=false"))
    assert f"blob {config} does not match its digest" in error  # the config is always hashed


def test_missing_layer(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    layer = image_manifest(layout, digest)["layers"][0]["digest"]
    blob_path(layout, layer).unlink()
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"blob {layer} is missing" in error
    error = one_line_error(verify_key(tmp_path / "layout", pub, "--check-layer-digests=false"))
    assert f"blob {layer} is missing" in error


def test_layer_of_wrong_size(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    layer = image_manifest(layout, digest)["layers"][0]["digest"]
    blob_path(layout, layer).write_bytes(b"layer, and more")
    error = one_line_error(verify_key(tmp_path / "layout", pub, "--check-layer-digests=false"))
    assert f"blob {layer} is 15 bytes, the descriptor says 5" in error


def test_layer_changed_same_size_and_the_flag_to_skip_hashing(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    layer = image_manifest(layout, digest)["layers"][0]["digest"]
    blob_path(layout, layer).write_bytes(b"LAYER")
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"blob {layer} does not match its digest" in error
    skipped = verify_key(tmp_path / "layout", pub, "--check-layer-digests=false")
    assert skipped.code == 0, skipped.stderr
    assert "WARNING: --check-layer-digests=false: the image's layers are checked for presence and size, not for " \
        "their digests" in skipped.stderr


def test_skipping_layer_digests_needs_a_layout(pub):
    error = one_line_error(run_cli("verify", "registry.local/team/app@sha256:" + "a" * 64, "--key", pub,
                                   "--check-layer-digests=false"))
    assert "--check-layer-digests=false applies to --local-image only" in error


@pytest.mark.parametrize("command", ["verify", "verify-attestation"])
def test_help_documents_the_layer_flag(command):
    result = run_cli(command, "--help")
    assert "--check-layer-digests" in result.stdout and "present with the right size" in result.stdout


def multi_arch(layout: oci.OciLayout, key) -> tuple[str, list[str]]:
    """An index of two platform images, key-signed: (index digest, child digests)."""
    children = []
    for arch in ("amd64", "arm64"):
        child = add_image(layout, f"tmp-{arch}", arch.encode())
        children.append(child)
    index = layout.read_index()
    descriptors = [m for m in index["manifests"] if m["digest"] in children]
    layout.write_index({**index, "manifests": [m for m in index["manifests"] if m["digest"] not in children]})
    data = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        {"mediaType": d["mediaType"], "size": d["size"], "digest": d["digest"]} for d in descriptors]}).encode()
    digest = layout.write_blob(data)
    layout.add_manifest({"mediaType": oci.OCI_INDEX, "size": len(data), "digest": digest,
                         "annotations": {oci.KIND: oci.KIND_IMAGE_INDEX, oci.REF_NAME: NAME}})
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload(REPO, digest))])
    return digest, children


def test_index_every_child_must_be_present(key, pub, tmp_path):
    layout = new_layout(tmp_path / "layout")
    _, children = multi_arch(layout, key)
    result = verify_key(tmp_path / "layout", pub)
    assert result.code == 0, result.stderr
    arm_layer = image_manifest(layout, children[1])["layers"][0]["digest"]
    blob_path(layout, arm_layer).write_bytes(b"ARM64")
    assert f"blob {arm_layer} does not match its digest" in one_line_error(verify_key(tmp_path / "layout", pub))
    blob_path(layout, children[1]).unlink()
    assert f"blob {children[1]} is missing" in one_line_error(verify_key(tmp_path / "layout", pub))


# -- 2. verify-attestation prints only the signature it verified ----------------------------------------


def dsse_layer(key, statement: bytes, extra: list[dict] | None = None) -> tuple[str, bytes, dict[str, str]]:
    """A key-signed legacy attestation layer; ``extra`` signatures are appended to the envelope."""
    from airlock.material import DsseEnvelope

    pae = DsseEnvelope("application/vnd.in-toto+json", statement, ()).pae()
    sig = base64.b64encode(key.sign(pae, ec.ECDSA(hashes.SHA256()))).decode()
    envelope = {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(statement).decode(),
                "signatures": [{"keyid": "", "sig": sig}, *(extra or [])]}
    return (cosign.DSSE, json.dumps(envelope).encode(), {cosign.ANNOTATION_SIGNATURE: ""})


def test_attestation_output_has_only_the_verified_signature(key, pub, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    forged = base64.b64encode(b"not verified by anyone").decode()
    media_type, data, notes = dsse_layer(key, image_statement(digest, "https://spdx.dev/Document"),
                                         [{"keyid": "attacker", "sig": forged}])
    verified = json.loads(data)["signatures"][0]["sig"]
    attach(layout, digest, [(media_type, data, notes)], kind=oci.KIND_ATTS)
    result = verify_key(tmp_path / "layout", pub, "--type", "spdx", command="verify-attestation")
    assert result.code == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["signatures"] == [{"keyid": "", "sig": verified}]
    assert forged not in result.stdout and "attacker" not in result.stdout


# -- 3. one hostile signature does not hide a good one ------------------------------------------------


@pytest.mark.parametrize("junk,reason", [
    (42, "the layer descriptor is not an object"),
    ({"mediaType": cosign.SIMPLESIGNING, "size": 3, "digest": "sha256:" + "0" * 64},
     "blob sha256:" + "0" * 64 + " is missing"),
    ({"mediaType": cosign.SIMPLESIGNING, "size": 3, "digest": "sha256:../../etc/passwd"},
     "the layer descriptor has no valid sha256 digest or size"),
    ({"mediaType": cosign.SIMPLESIGNING, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST, "annotations": {"a": 1}},
     "the layer descriptor has annotations that are not strings"),
    ({"mediaType": cosign.SIMPLESIGNING, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
     f"layer 1: signature layer has no {cosign.ANNOTATION_SIGNATURE} annotation"),
])
def test_junk_layer_beside_a_good_signature(key, pub, tmp_path, junk, reason):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    good = key_descriptor(layout, key, cosign.simplesigning_payload(REPO, digest))
    sig_manifest(layout, digest, [good, junk])
    result = verify_key(tmp_path / "layout", pub)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 1
    tag = "sha256-" + digest.split(":")[1] + ".sig"
    warning = [line for line in result.stderr.splitlines() if "not verified, ignored" in line]
    assert len(warning) == 1 and warning[0].startswith(f"WARNING: {NAME}@{digest}: not verified, ignored: {tag} "
                                                       "layer 1: ")
    assert reason in warning[0]
    # alone, the junk layer is the reason the image fails
    layout = new_layout(tmp_path / "alone")
    digest = add_image(layout, NAME)
    sig_manifest(layout, digest, [junk])
    error = one_line_error(verify_key(tmp_path / "alone", pub))
    assert "no signatures verified" in error and reason.replace("layer 1", "layer 0") in error


def test_junk_referrer_beside_a_good_legacy_signature(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    junk = referrer(layout, digest, b"this is not a bundle")
    result = verify_key(tmp_path / "layout", pub)
    assert result.code == 0, result.stderr
    assert f"not verified, ignored: referrer {junk}: bundle: not valid JSON" in result.stderr


def test_junk_referrer_beside_a_good_bundle(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=image_statement(digest)),
                  "https://sigstore.dev/cosign/sign/v1")
    deep = referrer(layout, digest, DEEP)
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert f"referrer {deep}: bundle: JSON {NESTED}" in result.stderr


def test_junk_sig_manifest_beside_a_good_bundle(inst, root, tmp_path):
    """The whole .sig manifest is junk (a JSON array): one failed candidate, the referrer still counts."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=image_statement(digest)),
                  "https://sigstore.dev/cosign/sign/v1")
    junk = raw_manifest(layout, b"[]", digest)
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert f".sig: the manifest {junk}: not a JSON object" in result.stderr


def test_junk_attestation_beside_a_good_one(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=image_statement(
        digest, "https://spdx.dev/Document")), "https://spdx.dev/Document")
    junk = referrer(layout, digest, b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')
    att = raw_manifest(layout, DEEP_OBJECT, digest, oci.KIND_ATTS)
    result = run_cli("verify-attestation", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS,
                     "--type", "spdx")
    assert result.code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert f"referrer {junk}: bundle v0.3: missing verificationMaterial" in result.stderr
    assert f".att: the manifest {att}: JSON {NESTED}" in result.stderr  # the .att manifest itself
    error = one_line_error(run_cli("verify-attestation", "--local-image", tmp_path / "layout", "--trusted-root", root,
                                   *KEYLESS, "--type", "cyclonedx"))
    assert "no attestations verified" in error and "predicate type 'https://spdx.dev/Document'" in error
    assert f"referrer {junk}: bundle v0.3: missing verificationMaterial" in error


def test_many_failed_signatures_give_a_bounded_error(key, pub, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    other = ec.generate_private_key(ec.SECP256R1())
    layers = [key_descriptor(layout, other, cosign.simplesigning_payload(REPO, digest, {"n": str(i)}))
              for i in range(50)]
    layers.append({"mediaType": "x", "size": 1, "digest": "sha256:" + "1" * 64})
    sig_manifest(layout, digest, layers)
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert "no signatures verified" in error and "; and 43 more)" in error
    assert error.count("signature: the signature does not verify") == 8
    assert len(error) < 8 * 500 + 300


def test_reasons_are_one_printable_bounded_line():
    from airlock.api.images import MAX_REASON_CHARS
    from airlock.api.images import one_line as _one_line

    text = _one_line("layer 0: \x1b[31mred\r\nError: forged line\u202e " + "long " * 500)
    assert text.startswith("layer 0: ?[31mred Error: forged line? long") and text.endswith("...")
    assert len(text) == MAX_REASON_CHARS and text.isprintable()


def test_signature_of_another_image_beside_a_good_one(key, pub, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    elsewhere = "sha256:" + "2" * 64
    sig_manifest(layout, digest, [key_descriptor(layout, key, cosign.simplesigning_payload(REPO, elsewhere)),
                                  key_descriptor(layout, key, cosign.simplesigning_payload(REPO, digest))])
    result = verify_key(tmp_path / "layout", pub)
    assert result.code == 0, result.stderr
    [payload] = json.loads(result.stdout)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert f"claims: the payload signs {elsewhere}, not {digest}" in result.stderr


# -- 4. hostile JSON: one-line reasons, never `internal error` -------------------------------------------


def test_deep_bundle_annotation(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    media_type, payload, notes = keyless_layer(inst, cosign.simplesigning_payload(REPO, digest))
    deep = dict(notes)
    deep[cosign.ANNOTATION_BUNDLE] = DEEP.decode()
    attach(layout, digest, [(media_type, payload, deep)])
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert f"layer 0: the dev.sigstore.cosign/bundle annotation: JSON {NESTED}" in error
    layout = new_layout(tmp_path / "both")
    digest = add_image(layout, NAME)
    attach(layout, digest, [(media_type, payload, deep), keyless_layer(inst, cosign.simplesigning_payload(REPO,
                                                                                                          digest))])
    result = run_cli("verify", "--local-image", tmp_path / "both", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert f"layer 0: the dev.sigstore.cosign/bundle annotation: JSON {NESTED}" in result.stderr


def test_deep_rfc3161_annotation(key, pub, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    media_type, payload, notes = key_layer(key, cosign.simplesigning_payload(REPO, digest))
    attach(layout, digest, [(media_type, payload, {**notes, cosign.ANNOTATION_RFC3161: DEEP_OBJECT.decode()})])
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"the dev.sigstore.cosign/rfc3161timestamp annotation: JSON {NESTED}" in error


@pytest.mark.parametrize("document", [DEEP, DEEP_OBJECT])
def test_deep_index_json(key, pub, tmp_path, document):
    key_signed(key, tmp_path / "layout")
    (tmp_path / "layout" / "index.json").write_bytes(document)
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"index.json: JSON {NESTED}" in error


def replace_image_manifest(layout: oci.OciLayout, data: bytes) -> str:
    """Point the image entry of index.json at ``data`` (and sign that digest)."""
    index = layout.read_index()
    digest = layout.write_blob(data)
    for entry in index["manifests"]:
        if (entry.get("annotations") or {}).get(oci.KIND) == oci.KIND_IMAGE:
            entry.update(digest=digest, size=len(data))
    layout.write_index(index)
    return digest


@pytest.mark.parametrize("manifest,reason", [
    (DEEP_OBJECT, f"JSON {NESTED}"),
    (b"[]", "not a JSON object"),
    (json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "layers": []}).encode(),
     "config: a descriptor must be a JSON object"),
    (json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "config": [], "layers": []}).encode(),
     "config: a descriptor must be a JSON object"),
    (json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "layers": {},
                 "config": {"mediaType": oci.OCI_CONFIG, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST}}).encode(),
     "no layers list"),
])
def test_hostile_image_manifest(key, pub, tmp_path, manifest, reason):
    layout = new_layout(tmp_path / "layout")
    add_image(layout, NAME)
    digest = replace_image_manifest(layout, manifest)
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload(REPO, digest))])
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert f"{NAME}@{digest}: the image is not intact in the layout" in error and f"manifest {digest}" in error
    assert reason in error


@pytest.mark.parametrize("manifest,reason", [
    (DEEP, f"JSON {NESTED}"),
    (b"[]", "not a JSON object"),
    (b'{"schemaVersion": 2, "layers": "x"}', "has no layers"),
    (b'{"schemaVersion": 2, "config": {}, "layers": [[[]]]}', "layer 0: the layer descriptor is not an object"),
])
def test_hostile_signature_manifest(key, pub, tmp_path, manifest, reason):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    raw_manifest(layout, manifest, digest)
    error = one_line_error(verify_key(tmp_path / "layout", pub))
    assert "no signatures verified" in error and reason in error


@pytest.mark.parametrize("claims", ["--check-claims=true", "--check-claims=false"])
@pytest.mark.parametrize("payload,reason", [
    (b"[]", "the signature payload is not a JSON object"),
    (b'["critical", {"image": 1}]', "the signature payload is not a JSON object"),
    (DEEP, f"the signature payload: JSON {NESTED}"),
    (b"not json", "the signature payload: not valid JSON"),
])
def test_signed_payload_that_is_not_an_object(key, pub, tmp_path, claims, payload, reason):
    """Properly signed, yet not a simple-signing document: refused whether or not claims are checked."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach(layout, digest, [key_layer(key, payload)])
    error = one_line_error(verify_key(tmp_path / "layout", pub, claims))
    assert f"layer 0: {reason}" in error


def test_signed_payload_array_key_signature_is_valid(key):
    """The arrays above do carry good signatures: it is the payload that is refused."""
    from cryptography.exceptions import InvalidSignature

    _, payload, notes = key_layer(key, b"[]")
    signature = base64.b64decode(notes[cosign.ANNOTATION_SIGNATURE])
    try:
        key.public_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:  # pragma: no cover
        pytest.fail("the test signature does not verify")


def test_in_toto_subject_digest_is_a_list(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    hex_digest = digest.split(":")[1]
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [
        {"name": "x", "digest": [hex_digest]},
        {"name": "x", "digest": {"sha256": hex_digest}, "annotations": {"env": "prod"}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}}).encode()
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=statement),
                  "https://sigstore.dev/cosign/sign/v1")
    base = ["verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS]
    # a malformed subject makes the statement malformed, even beside a good one (Go's json.Unmarshal
    # into in-toto's DigestSet map fails the same way in cosign)
    error = one_line_error(run_cli(*base, "-a", "env=prod"))
    assert "artifact: in-toto statement subject[0] has no digest object" in error
    only_list = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [
        {"name": "x", "digest": [hex_digest]}], "predicateType": "https://sigstore.dev/cosign/sign/v1",
        "predicate": {}}).encode()
    layout = new_layout(tmp_path / "other")
    digest = add_image(layout, NAME)
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=only_list),
                  "https://sigstore.dev/cosign/sign/v1")
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "other", "--trusted-root", root, *KEYLESS,
                                   "-a", "env=prod"))
    assert "artifact: in-toto statement subject[0] has no digest object" in error


def test_deep_in_toto_statement(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=DEEP_OBJECT),
                  "https://sigstore.dev/cosign/sign/v1")
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert f"the DSSE payload: JSON {NESTED}" in error


def test_deep_legacy_attestation_layer(key, pub, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach(layout, digest, [(cosign.DSSE, DEEP, {cosign.ANNOTATION_SIGNATURE: ""})], kind=oci.KIND_ATTS)
    error = one_line_error(verify_key(tmp_path / "layout", pub, command="verify-attestation"))
    assert f"layer 0: the attestation layer: JSON {NESTED}" in error


def test_deep_referrer_manifest(key, pub, tmp_path):
    layout, digest = key_signed(key, tmp_path / "layout")
    deep = layout.write_blob(DEEP_OBJECT)
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(DEEP_OBJECT), "digest": deep,
                         "artifactType": oci.SIGSTORE_BUNDLE_V03, "annotations": {SUBJECT: digest}})
    result = verify_key(tmp_path / "layout", pub)
    assert result.code == 0, result.stderr
    assert f"referrer {deep}: the referrer manifest: JSON {NESTED}" in result.stderr


# -- 5. other crashes -------------------------------------------------------------------------------

BROKEN_EXTENSION = {"extra_extensions": [(x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.30"), b"\xff"),
                                          False)]}  # NameConstraints that do not decode


def test_certificate_with_an_undecodable_extension(inst, root, tmp_path):
    """cryptography decodes extensions lazily (ValueError on first access): a reason, not a crash,
    and one such signature does not hide a good one."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    payload = cosign.simplesigning_payload(REPO, digest)
    attach(layout, digest, [keyless_layer(inst, payload, leaf_options=BROKEN_EXTENSION)])
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert "layer 0: the signing certificate has an extension that does not parse" in error
    layout = new_layout(tmp_path / "both")
    digest = add_image(layout, NAME)
    payload = cosign.simplesigning_payload(REPO, digest)
    attach(layout, digest, [keyless_layer(inst, payload, leaf_options=BROKEN_EXTENSION), keyless_layer(inst, payload)])
    result = run_cli("verify", "--local-image", tmp_path / "both", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert "layer 0: the signing certificate has an extension that does not parse" in result.stderr


def test_identity_policy_refuses_an_undecodable_extension(inst):
    from airlock.errors import VerificationError
    from airlock.verify.policy import Identity

    cert, _ = inst.issue_leaf(**BROKEN_EXTENSION)
    with pytest.raises(VerificationError, match=r"^identity: the certificate has an extension that does not parse$"):
        Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER).match(cert)


def test_existing_signature_manifest_must_be_a_manifest():
    """Appending a signature reads the existing .sig manifest: hostile ones are one-line errors."""
    from airlock.errors import FormatError
    from airlock.oci.attach import existing_layers

    def read(digest, size):
        return b"x" * size

    for manifest, reason in [(b"[]", "not a manifest with a layers list"), (DEEP, NESTED),
                             (b'{"layers": {}}', "not a manifest with a layers list"),
                             (b'{"layers": [7]}', r"layers\[0\]: not a descriptor"),
                             (b'{"layers": [{"mediaType": "m", "size": 1, "digest": "sha256:../x"}]}',
                              r"layers\[0\]: not a descriptor"),
                             (b'{"layers": [{"mediaType": "m", "size": 1, "digest": "sha256:' + b"a" * 64
                              + b'", "annotations": {"k": 1}}]}', "annotations must map strings to strings")]:
        with pytest.raises(FormatError, match=reason):
            existing_layers(manifest, read)
    assert existing_layers(b'{"layers": [{"mediaType": "m", "size": 1, "digest": "sha256:' + b"a" * 64 + b'"}]}',
                           read) == [("m", b"x", {})]


def test_deep_rekor_entry_body(inst, root, tmp_path):
    """The log entry body is base64 inside the bundle annotation, parsed by the format layer: its
    depth is caught as well, and the signature beside it still counts."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    payload = cosign.simplesigning_payload(REPO, digest)
    media_type, payload, notes = keyless_layer(inst, payload)
    rekor = json.loads(notes[cosign.ANNOTATION_BUNDLE])
    rekor["Payload"]["body"] = base64.b64encode(DEEP_OBJECT).decode()
    deep = {**notes, cosign.ANNOTATION_BUNDLE: json.dumps(rekor)}
    attach(layout, digest, [(media_type, payload, deep)])
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert "layer 0: cosign rekor bundle: the log entry body: JSON nested deeper than 64 levels" in error
    layout = new_layout(tmp_path / "both")
    digest = add_image(layout, NAME)
    media_type, payload, notes = keyless_layer(inst, cosign.simplesigning_payload(REPO, digest))
    attach(layout, digest, [(media_type, payload, {**notes, cosign.ANNOTATION_BUNDLE: json.dumps(rekor)}),
                            (media_type, payload, notes)])
    result = run_cli("verify", "--local-image", tmp_path / "both", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr


def test_deep_rekor_entry_body_in_a_bundle(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    bundle = inst.sign_blob(b"", content="dsse", statement=image_statement(digest))
    bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = base64.b64encode(DEEP).decode()
    found = attach_bundle(layout, digest, bundle, "https://sigstore.dev/cosign/sign/v1")
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert f"referrer {found}: set: the signed entry timestamp does not verify" in error  # checked before the body


# -- OciLayout.check_image ----------------------------------------------------------------------------


def image_entry(layout: oci.OciLayout, name: str) -> dict:
    return layout.find_ref(name)


def test_check_image_hashes_a_shared_layer_once(tmp_path, monkeypatch):
    layout = new_layout(tmp_path / "layout")
    add_image(layout, "a:1", b"shared base")
    add_image(layout, "b:1", b"shared base")
    calls = []
    original = oci.OciLayout.check_blob
    monkeypatch.setattr(oci.OciLayout, "check_blob", lambda self, d, s, **k: calls.append((d, k)) or
                        original(self, d, s, **k))
    checked: set = set()
    layout.check_image(image_entry(layout, "a:1"), checked=checked)
    layout.check_image(image_entry(layout, "b:1"), checked=checked)
    layer = image_manifest(layout, image_entry(layout, "a:1")["digest"])["layers"][0]["digest"]
    assert [d for d, _ in calls].count(layer) == 1


def test_check_image_a_second_descriptor_cannot_lie_about_a_shared_blob(tmp_path):
    layout = new_layout(tmp_path / "layout")
    first = add_image(layout, "a:1", b"shared base")
    manifest = image_manifest(layout, first)
    manifest["layers"][0]["size"] += 1  # same digest, another size
    data = json.dumps(manifest).encode()
    digest = layout.write_blob(data)
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(data), "digest": digest,
                         "annotations": {oci.REF_NAME: "b:1", oci.KIND: oci.KIND_IMAGE}})
    checked: set = set()
    layout.check_image(image_entry(layout, "a:1"), checked=checked)
    with pytest.raises(LayoutError, match="is 11 bytes, the descriptor says 12"):
        layout.check_image(image_entry(layout, "b:1"), checked=checked)


def test_check_image_non_image_child_of_an_index(tmp_path):
    layout = new_layout(tmp_path / "layout")
    child = add_image(layout, "tmp", b"x")
    blob = layout.write_blob(b"an artifact")
    data = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "size": len(layout.read_blob(child)), "digest": child},
        {"mediaType": "application/octet-stream", "size": 11, "digest": blob}]}).encode()
    index = {"mediaType": oci.OCI_INDEX, "size": len(data), "digest": layout.write_blob(data)}
    layout.check_image(index)
    blob_path(layout, blob).write_bytes(b"AN ARTIFACT")
    with pytest.raises(LayoutError, match=f"blob {blob} does not match its digest"):
        layout.check_image(index)


def test_check_blob_streams_a_large_layer(tmp_path):
    layout = new_layout(tmp_path / "layout")
    data = b"\x00" * (3 * 1024 * 1024 + 5)  # several chunks, over the manifest limit
    digest = layout.write_blob(data)
    layout.check_blob(digest, len(data))
    with pytest.raises(LayoutError, match="the descriptor says 7"):
        layout.check_blob(digest, 7)
    with pytest.raises(LayoutError, match="invalid size -1"):
        layout.check_blob(digest, -1)
    with pytest.raises(LayoutError, match="blob digest"):
        layout.check_blob("sha256:../../etc/passwd", 1)
    (tmp_path / "layout" / "blobs" / "sha256" / ("f" * 64)).symlink_to("/etc/passwd")
    with pytest.raises(LayoutError, match="symlink"):
        layout.check_blob("sha256:" + "f" * 64, 1)


def test_attestation_layer_that_is_not_dsse(key, pub, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload(REPO, digest))], kind=oci.KIND_ATTS)
    error = one_line_error(verify_key(tmp_path / "layout", pub, command="verify-attestation"))
    assert error.endswith(".att layer 0: the attestation layer is not a DSSE envelope)")


def test_bundle_referrer_with_a_message_signature(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    found = attach_bundle(layout, digest, inst.sign_blob(b"an image manifest"), "https://sigstore.dev/cosign/sign/v1")
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS))
    assert error.endswith(f"referrer {found}: an image bundle must hold a DSSE envelope)")


# -- the same from a registry ---------------------------------------------------------------------------


def test_registry_junk_referrers_beside_a_good_signature(registry, key, pub, tmp_path):
    """Through a real registry: a referrer that is about another manifest and one holding junk are
    reasons on stderr; the legacy signature beside them verifies."""
    from airlock.oci.attach import signature_manifest
    from airlock.oci.reference import signature_tag
    from airlock.oci.registry import RegistryClient

    client = RegistryClient()
    layout = new_layout(tmp_path / "src")
    digest = add_image(layout, "unused")
    for item in layout.walk(layout.find_kind(oci.KIND_IMAGE)):
        data = layout.read_blob(item["digest"], size=item["size"], limit=oci.MAX_LAYER_SIZE)
        if item["mediaType"] in oci.MANIFEST_TYPES:
            client.put_manifest(registry, "team/app", "v1", data, item["mediaType"])
        else:
            client.put_blob(registry, "team/app", data)
    manifest, config, blobs = signature_manifest([key_layer(key, cosign.simplesigning_payload(
        f"{registry}/team/app", digest))])
    for blob in (config, *blobs):
        client.put_blob(registry, "team/app", blob.data)
    client.put_manifest(registry, "team/app", signature_tag(digest, "sig"), manifest.data, oci.OCI_MANIFEST)
    junk = b"[1, 2, 3]"
    client.put_blob(registry, "team/app", junk)
    client.put_blob(registry, "team/app", oci.EMPTY_CONFIG)
    elsewhere = json.dumps({  # lists itself as a referrer of the image, but its subject is another manifest
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "artifactType": oci.SIGSTORE_BUNDLE_V03,
        "config": {"mediaType": oci.OCI_EMPTY, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
        "layers": [{"mediaType": oci.SIGSTORE_BUNDLE_V03, "size": len(junk), "digest": oci.sha256_digest(junk)}],
        "subject": {"mediaType": oci.OCI_MANIFEST, "size": len(manifest.data), "digest": manifest.digest}}).encode()
    other = client.put_manifest(registry, "team/app", oci.sha256_digest(elsewhere), elsewhere, oci.OCI_MANIFEST)
    client.add_referrer(registry, "team/app", digest, {"mediaType": oci.OCI_MANIFEST, "size": len(elsewhere),
                                                       "digest": other, "artifactType": oci.SIGSTORE_BUNDLE_V03})
    referrer = json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "artifactType": oci.SIGSTORE_BUNDLE_V03,
        "config": {"mediaType": oci.OCI_EMPTY, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
        "layers": [{"mediaType": oci.SIGSTORE_BUNDLE_V03, "size": len(junk), "digest": oci.sha256_digest(junk)}],
        "subject": {"mediaType": oci.OCI_MANIFEST, "size": len(layout.read_blob(digest)), "digest": digest}}).encode()
    junk_digest = client.put_manifest(registry, "team/app", oci.sha256_digest(referrer), referrer, oci.OCI_MANIFEST)
    client.add_referrer(registry, "team/app", digest, {"mediaType": oci.OCI_MANIFEST, "size": len(referrer),
                                                       "digest": junk_digest, "artifactType": oci.SIGSTORE_BUNDLE_V03})
    result = run_cli("verify", f"{registry}/team/app:v1", "--key", pub, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    assert f"not verified, ignored: referrer {other}: its subject is not {digest}" in result.stderr
    assert f"not verified, ignored: referrer {junk_digest}: bundle: expected a JSON object" in result.stderr
    only_bundles = one_line_error(run_cli("verify", f"{registry}/team/app:v1", "--key", pub, "--insecure-ignore-tlog",
                                          "--new-bundle-format=true"))
    assert f"referrer {other}: its subject is not {digest}" in only_bundles
    assert f"referrer {junk_digest}: bundle: expected a JSON object" in only_bundles


def test_registry_image_must_exist(registry, key, pub):
    """A signature tag for a digest the registry does not hold: the image is not there to verify."""
    from airlock.oci.attach import signature_manifest
    from airlock.oci.reference import signature_tag
    from airlock.oci.registry import RegistryClient

    client = RegistryClient()
    digest = "sha256:" + "4" * 64
    manifest, config, blobs = signature_manifest([key_layer(key, cosign.simplesigning_payload(
        f"{registry}/team/ghost", digest))])
    for blob in (config, *blobs):
        client.put_blob(registry, "team/ghost", blob.data)
    client.put_manifest(registry, "team/ghost", signature_tag(digest, "sig"), manifest.data, oci.OCI_MANIFEST)
    error = one_line_error(run_cli("verify", f"{registry}/team/ghost@{digest}", "--key", pub,
                                   "--insecure-ignore-tlog"))
    assert error.endswith(f"GET /v2/team/ghost/manifests/{digest}: 404 MANIFEST_UNKNOWN: manifest unknown")


def test_registry_download_signature_skips_a_junk_layer(registry, key):
    from airlock.oci.reference import signature_tag
    from airlock.oci.registry import RegistryClient

    client = RegistryClient()
    layout_digest = "sha256:" + "5" * 64  # download does not need the image itself
    client.put_blob(registry, "team/dl", oci.EMPTY_CONFIG)
    media_type, payload, notes = key_layer(key, cosign.simplesigning_payload(f"{registry}/team/dl", layout_digest))
    client.put_blob(registry, "team/dl", payload)
    good = {"mediaType": media_type, "size": len(payload), "digest": oci.sha256_digest(payload), "annotations": notes}
    junk = {"mediaType": media_type, "size": len(payload) + 1, "digest": oci.sha256_digest(payload)}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
                           "layers": [junk, good]}).encode()
    client.put_manifest(registry, "team/dl", signature_tag(layout_digest, "sig"), manifest, oci.OCI_MANIFEST)
    result = run_cli("download", "signature", f"{registry}/team/dl@{layout_digest}")
    assert result.code == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["Base64Signature"] == notes[cosign.ANNOTATION_SIGNATURE]
    tag = signature_tag(layout_digest, "sig")
    assert result.stderr == (f"WARNING: {tag} layer 0: blob {good['digest']} is {len(payload)} bytes, "
                             f"the descriptor says {len(payload) + 1}: skipped\n")
    deep = {**notes, cosign.ANNOTATION_BUNDLE: DEEP.decode()}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
                           "layers": [junk, {**good, "annotations": deep}]}).encode()
    client.put_manifest(registry, "team/dl", tag, manifest, oci.OCI_MANIFEST)
    error = one_line_error(run_cli("download", "signature", f"{registry}/team/dl@{layout_digest}"))
    assert error.startswith(f"Error: no signature of {layout_digest} could be read ({tag} layer 0: blob ")
    assert error.endswith(f"; {tag} layer 1: the dev.sigstore.cosign/bundle annotation: JSON {NESTED})")


def test_cosign_layout_scan_skips_unreadable_blobs(inst, root, tmp_path):
    """cosign-made layouts keep v3 bundle referrers as orphan blobs, found by scanning every blob: a
    symlink, a FIFO or a tampered blob among them is skipped, not fatal to the scan."""
    import os

    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    attach_bundle(layout, digest, inst.sign_blob(b"", content="dsse", statement=image_statement(digest)),
                  "https://sigstore.dev/cosign/sign/v1", listed=False)
    blobs = tmp_path / "layout" / "blobs" / "sha256"
    (blobs / ("a" * 64)).symlink_to("/etc/hostname")
    os.mkfifo(blobs / ("b" * 64))
    (blobs / ("c" * 64)).write_bytes(b'{"subject": {}}')
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 1
