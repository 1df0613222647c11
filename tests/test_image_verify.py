"""Image signatures without a registry: cosign layers and v3 bundles, built with the test
instance, verified through ``airlock.api.images``; claims and annotations checked."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.api.images import verify_bundle, verify_layer
from airlock.formats import cosign
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, bundle_bytes
from airlock.trust.trusted_root import TrustedRoot
from airlock.verify.policy import Identity, Key
from airlock.verify.verifier import VerificationOptions, Verifier

DIGEST = "sha256:" + hashlib.sha256(b"an image manifest").hexdigest()
POLICY = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    return SigstoreInstance()


@pytest.fixture(scope="module")
def verifier(inst) -> Verifier:
    return Verifier(TrustedRoot.from_json(json.dumps(inst.trusted_root())), clock=inst.clock)


def keyless_layer(inst: SigstoreInstance, payload: bytes) -> cosign.Layer:
    legacy = inst.sign_blob_legacy(payload)
    return cosign.Layer(cosign.SIMPLESIGNING, payload, {
        cosign.ANNOTATION_SIGNATURE: legacy["base64Signature"],
        cosign.ANNOTATION_CERTIFICATE: base64.b64decode(legacy["cert"]).decode(),
        cosign.ANNOTATION_CHAIN: "",
        cosign.ANNOTATION_BUNDLE: json.dumps(legacy["rekorBundle"], separators=(",", ":")),
    })


def test_simplesigning_payload_is_byte_exact():
    assert cosign.simplesigning_payload("index.docker.io/library/ubuntu", "sha256:ab", None) == (
        b'{"critical":{"identity":{"docker-reference":"index.docker.io/library/ubuntu"},"image":'
        b'{"docker-manifest-digest":"sha256:ab"},"type":"cosign container image signature"},"optional":null}')
    assert cosign.simplesigning_payload("r/x", "sha256:ab", {"z": "1", "a": "<&>"}).endswith(
        b'"optional":{"a":"\\u003c\\u0026\\u003e","z":"1"}}')


def test_payload_keys_are_case_insensitive():
    claims = cosign.parse_payload(b'{"Critical":{"Image":{"Docker-manifest-digest":"sha256:ab"},'
                                  b'"type":"cosign container image signature"},"optional":{"k":"v"}}')
    assert claims.manifest_digest == "sha256:ab" and claims.optional == {"k": "v"}


def test_keyless_layer_verifies_with_claims(inst, verifier):
    payload = cosign.simplesigning_payload("registry.local/app", DIGEST, {"env": "prod"})
    check = verify_layer(verifier, keyless_layer(inst, payload), "layer 0", DIGEST, policy=POLICY,
                         annotations={"env": "prod"})
    assert check.ok, check.error
    assert [name for name, _ in check.verdict.checks][-1] == "claims"


@pytest.mark.parametrize("digest,annotations,check_name,reason", [
    ("sha256:" + "0" * 64, {}, "claims", "not sha256:0000"),
    (DIGEST, {"env": "dev"}, "annotations", "annotation env='prod' in the payload, wanted 'dev'"),
    (DIGEST, {"team": "x"}, "annotations", "the payload has no annotation 'team'"),
])
def test_claims_failures(inst, verifier, digest, annotations, check_name, reason):
    payload = cosign.simplesigning_payload("registry.local/app", DIGEST, {"env": "prod"})
    check = verify_layer(verifier, keyless_layer(inst, payload), "layer 0", digest, policy=POLICY,
                         annotations=annotations)
    assert not check.ok and check.error.check == check_name and reason in check.error.reason


def test_claims_can_be_skipped_but_are_listed(inst, verifier):
    payload = cosign.simplesigning_payload("registry.local/app", "sha256:" + "1" * 64)
    check = verify_layer(verifier, keyless_layer(inst, payload), "layer 0", DIGEST, policy=POLICY, claims=False)
    assert check.ok and check.unverified_claims == (f"docker-manifest-digest == {DIGEST}",)


def test_wrong_payload_type(inst, verifier):
    payload = cosign.simplesigning_payload("r/app", DIGEST).replace(b"cosign container image signature", b"other")
    check = verify_layer(verifier, keyless_layer(inst, payload), "layer 0", DIGEST, policy=POLICY)
    assert check.error.check == "claims" and "payload type is 'other'" in check.error.reason


def test_tampered_payload_fails_in_the_log_entry(inst, verifier):
    payload = cosign.simplesigning_payload("r/app", DIGEST)
    layer = keyless_layer(inst, payload)
    tampered = layer._replace(payload=payload.replace(b"r/app", b"r/evil"))
    check = verify_layer(verifier, tampered, "layer 0", DIGEST, policy=POLICY)
    assert check.error.check == "tlog-entry" and "different artifact digest" in check.error.reason


@pytest.mark.parametrize("annotation,value,reason", [
    (cosign.ANNOTATION_SIGNATURE, "", "empty signature annotation"),
    (cosign.ANNOTATION_SIGNATURE, "!!!", "invalid base64"),
    (cosign.ANNOTATION_CERTIFICATE, "not a pem", "not PEM certificates"),
    (cosign.ANNOTATION_BUNDLE, "{", "dev.sigstore.cosign/bundle annotation: not valid JSON"),
])
def test_bad_annotations(inst, verifier, annotation, value, reason):
    layer = keyless_layer(inst, cosign.simplesigning_payload("r/app", DIGEST))
    layer.annotations[annotation] = value
    check = verify_layer(verifier, layer, "layer 0", DIGEST, policy=POLICY)
    assert not check.ok and reason in str(check.error)


def test_openssl_style_key_signature(inst, verifier):
    """A signature made over the payload with a plain key (as `openssl dgst -sha256 -sign`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    payload = cosign.simplesigning_payload("r/app", DIGEST)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    layer = cosign.Layer(cosign.SIMPLESIGNING, payload,
                         {cosign.ANNOTATION_SIGNATURE: cosign.signature_annotation(signature)})
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    no_tlog = VerificationOptions(insecure_ignore_tlog=True)
    check = verify_layer(verifier, layer, "layer 0", DIGEST, policy=Key(pem), options=no_tlog)
    assert check.ok, check.error
    strict = verify_layer(verifier, layer, "layer 0", DIGEST, policy=Key(pem))
    assert strict.error.check == "tlog" and "no transparency log entry" in strict.error.reason


def test_v3_bundle_for_the_image(inst, verifier):
    statement = json.dumps({  # what cosign v3 `sign` signs for an image (FORMATS.md 4.3)
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": DIGEST.split(":")[1]}, "annotations": {"env": "prod"}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}}).encode()
    bundle = bundle_bytes(inst.sign_blob(b"", content="dsse", statement=statement))
    check = verify_bundle(verifier, bundle, "referrer", DIGEST, policy=POLICY, annotations={"env": "prod"})
    assert check.ok, check.error
    other = verify_bundle(verifier, bundle, "referrer", "sha256:" + "2" * 64, policy=POLICY)
    assert other.error.check == "artifact"
    wrong = verify_bundle(verifier, bundle, "referrer", DIGEST, policy=POLICY, annotations={"env": "dev"})
    assert wrong.error.check == "annotations"
