"""Self-checks for ``airlock.testing``: the minted material must be genuinely valid.

These tests deliberately do NOT use airlock's verifier. Every check is re-derived here from
FORMATS.md with only hashlib, json, cryptography and rfc3161-client, so a bug in the test
instance cannot hide behind the same bug in the verifier. The independent checkers are
themselves validated against real public-good/conformance material when ``../shared`` exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc3161_client
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from airlock.testing import (
    BUNDLE_MEDIA_TYPES,
    DEFAULT_IDENTITY,
    DEFAULT_ISSUER,
    TRUSTED_ROOT_MEDIA_TYPE,
    TSA_POLICY_OID,
    FulcioCA,
    SigstoreInstance,
    TimestampAuthority,
    bundle_bytes,
    github_actions_extensions,
    make_hashedrekord_body,
    new_ec_key,
    note_signature_line,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
CONFORMANCE = SHARED / "sigstore-conformance" / "bundle-verify"
ARTIFACT = b"airlock test artifact\n"
IN_TOTO = b"application/vnd.in-toto+json"


# ----------------------------------------------------------------------------- independent checkers


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def ecdsa_ok(key: Any, signature: bytes, message: bytes, algorithm: hashes.HashAlgorithm | None = None) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(algorithm or hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_key(raw: str) -> Any:
    return serialization.load_der_public_key(b64d(raw))


def set_ok(entry: dict, log_key: Any) -> bool:
    """FORMATS 2.1, with json.dumps(sort_keys) instead of an RFC 8785 library (same bytes)."""
    payload = json.dumps(
        {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logID": b64d(entry["logId"]["keyId"]).hex(),
            "logIndex": int(entry["logIndex"]),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return ecdsa_ok(log_key, b64d(entry["inclusionPromise"]["signedEntryTimestamp"]), payload)


def inclusion_root(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """FORMATS 7.2, written from the prose (not from airlock.testing.rekor)."""
    assert 0 <= index < size
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    assert len(proof) == inner + border
    h = hashlib.sha256(b"\x00" + leaf).digest()
    for k in range(inner):
        if (index >> k) & 1 == 0:
            h = hashlib.sha256(b"\x01" + h + proof[k]).digest()
        else:
            h = hashlib.sha256(b"\x01" + proof[k] + h).digest()
    for q in proof[inner:]:
        h = hashlib.sha256(b"\x01" + q + h).digest()
    return h


def parse_note(envelope: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """FORMATS 7.3: split at the last blank line; return text and (name, hint, sig) lines."""
    text, _, sigs = envelope.rpartition("\n\n")
    text += "\n"
    assert sigs.endswith("\n")
    lines = []
    for line in sigs[:-1].split("\n"):
        dash, name, blob = line.split(" ")
        assert dash == "\u2014"
        raw = b64d(blob)
        lines.append((name, raw[:4], raw[4:]))
    return text, lines


def check_proof(entry: dict, log_key: Any, expected_hint: bytes, expected_name: str) -> None:
    """Inclusion proof -> rootHash -> checkpoint root and size, checkpoint signed by the log."""
    proof = entry["inclusionProof"]
    body = b64d(entry["canonicalizedBody"])
    root = inclusion_root(int(proof["logIndex"]), int(proof["treeSize"]), body, [b64d(h) for h in proof["hashes"]])
    assert root == b64d(proof["rootHash"])
    text, lines = parse_note(proof["checkpoint"]["envelope"])
    _origin, size, root_b64 = text.split("\n")[:3]
    assert int(size) == int(proof["treeSize"]) and b64d(root_b64) == root
    matching = [(n, s) for n, h, s in lines if h == expected_hint and n == expected_name]
    assert matching, "no checkpoint signature line for the log's key"
    assert ecdsa_ok(log_key, matching[0][1], text.encode())


def sct_ok(leaf: x509.Certificate, issuer: x509.Certificate, ctlog_key: Any) -> bool:
    """FORMATS 6.6 using cryptography's own SCT parsing and precert TBS reconstruction."""
    scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    for sct in scts:
        if sct.log_id != hashlib.sha256(spki(ctlog_key)).digest():
            continue
        tbs = leaf.tbs_precertificate_bytes
        millis = int(sct.timestamp.replace(tzinfo=UTC).timestamp() * 1000)
        signed = (
            b"\x00\x00"
            + struct.pack(">Q", millis)
            + b"\x00\x01"
            + hashlib.sha256(spki(issuer.public_key())).digest()
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack(">H", len(sct.extension_bytes))
            + sct.extension_bytes
        )
        if ecdsa_ok(ctlog_key, sct.signature, signed):
            return True
    return False


def fulcio_verifier(root: x509.Certificate, at: datetime) -> Any:
    """sigstore-python style path validation: webpki defaults with EKU allowed anywhere."""
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
    return (
        PolicyBuilder()
        .store(Store([root]))
        .time(at)
        .extension_policies(ca_policy=ca, ee_policy=ee)
        .build_client_verifier()
    )


def tsa_verify(der: bytes, message: bytes, root: x509.Certificate, leaf: x509.Certificate | None = None) -> bool:
    builder = rfc3161_client.VerifierBuilder().add_root_certificate(root)
    if leaf is not None:
        builder = builder.tsa_certificate(leaf)
    response = rfc3161_client.decode_timestamp_response(der)
    return builder.build().verify_message(response, message)


def leaf_of(bundle: dict) -> x509.Certificate:
    material = bundle["verificationMaterial"]
    raw = (
        material["certificate"]["rawBytes"]
        if "certificate" in material
        else material["x509CertificateChain"]["certificates"][0]["rawBytes"]
    )
    return x509.load_der_x509_certificate(b64d(raw))


def trusted(root: dict, section: str, key_id: str) -> dict:
    return next(t for t in root[section] if t["logId"]["keyId"] == key_id)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    return SigstoreInstance(now=NOW)


@pytest.fixture(scope="module")
def root(inst: SigstoreInstance) -> dict:
    return inst.trusted_root()


# ----------------------------------------------------------------------------- certificates


def test_leaf_profile_and_chain(inst: SigstoreInstance) -> None:
    leaf, key = inst.issue_leaf(extra_oids=github_actions_extensions())
    intermediate, ca_root = inst.fulcio.chain
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(ca_root)
    ca_root.verify_directly_issued_by(ca_root)
    assert isinstance(ca_root.public_key(), ec.EllipticCurvePublicKey)
    assert ca_root.public_key().curve.name == "secp384r1"
    assert intermediate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CODE_SIGNING]
    )
    assert leaf.subject == x509.Name([])
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(minutes=10)
    assert leaf.not_valid_before_utc <= NOW <= leaf.not_valid_after_utc
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.UniformResourceIdentifier) == [DEFAULT_IDENTITY]
    assert ExtendedKeyUsageOID.CODE_SIGNING in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    raw_issuer = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"))
    der_issuer = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"))
    assert raw_issuer.value.value == DEFAULT_ISSUER.encode()
    assert der_issuer.value.value == b"\x0c" + bytes([len(DEFAULT_ISSUER)]) + DEFAULT_ISSUER.encode()
    workflow_ref = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.6"))
    assert workflow_ref.value.value == b"refs/heads/main"
    assert spki(key.public_key()) == spki(leaf.public_key())
    # The full webpki path validation a verifier will run, at the signing time.
    result = fulcio_verifier(ca_root, NOW).verify(leaf, [intermediate])
    assert result.chain[-1] == ca_root


@pytest.mark.parametrize(("san_type", "identity"), [("email", "dev@example.com"), ("othername", "user!oidc")])
def test_other_san_forms(inst: SigstoreInstance, san_type: str, identity: str) -> None:
    leaf, _ = inst.issue_leaf(identity, san_type=san_type)  # type: ignore[arg-type]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if san_type == "email":
        assert names.get_values_for_type(x509.RFC822Name) == [identity]
    else:
        (other,) = names.get_values_for_type(x509.OtherName)
        assert other.type_id.dotted_string == "1.3.6.1.4.1.57264.1.7"
        assert other.value[2:] == identity.encode()
    fulcio_verifier(inst.fulcio.root, NOW).verify(leaf, [inst.fulcio.intermediate])


def test_embedded_sct(inst: SigstoreInstance) -> None:
    leaf, _ = inst.issue_leaf()
    ct_key = inst.ctlog.key.public_key()
    assert sct_ok(leaf, inst.fulcio.intermediate, ct_key)
    with_ext, _ = inst.issue_leaf(sct_extensions=b"\x01\x02")
    assert sct_ok(with_ext, inst.fulcio.intermediate, ct_key)
    bad, _ = inst.issue_leaf(sct="bad-signature")
    assert not sct_ok(bad, inst.fulcio.intermediate, ct_key)
    unknown, _ = inst.issue_leaf(sct="unknown-log")
    assert not sct_ok(unknown, inst.fulcio.intermediate, ct_key)
    none, _ = inst.issue_leaf(sct="none")
    with pytest.raises(x509.ExtensionNotFound):
        none.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    timed, _ = inst.issue_leaf(sct_time=NOW - timedelta(days=1000))
    (sct,) = timed.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    assert sct.timestamp.replace(tzinfo=UTC) == NOW - timedelta(days=1000)
    assert sct_ok(timed, inst.fulcio.intermediate, ct_key)


def test_leaf_breaking_knobs(inst: SigstoreInstance) -> None:
    no_eku, _ = inst.issue_leaf(code_signing_eku=False)
    with pytest.raises(x509.ExtensionNotFound):
        no_eku.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    foreign_ca = FulcioCA(NOW)
    foreign, _ = inst.issue_leaf(issuer_ca=foreign_ca)
    foreign.verify_directly_issued_by(foreign_ca.intermediate)  # type: ignore[arg-type]
    with pytest.raises(x509.verification.VerificationError):
        fulcio_verifier(inst.fulcio.root, NOW).verify(foreign, [inst.fulcio.intermediate])
    expired, _ = inst.issue_leaf(not_before=NOW - timedelta(hours=1))
    with pytest.raises(x509.verification.VerificationError):
        fulcio_verifier(inst.fulcio.root, NOW).verify(expired, [inst.fulcio.intermediate])
    only_v1, _ = inst.issue_leaf(issuer_extensions="v1")
    with pytest.raises(x509.ExtensionNotFound):
        only_v1.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"))


# ----------------------------------------------------------------------------- trusted root


def test_trusted_root_shape(inst: SigstoreInstance, root: dict, tmp_path: Path) -> None:
    assert root["mediaType"] == TRUSTED_ROOT_MEDIA_TYPE
    v1, v2 = root["tlogs"]
    assert v1["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert b64d(v1["logId"]["keyId"]) == hashlib.sha256(b64d(v1["publicKey"]["rawBytes"])).digest()
    assert v2["publicKey"]["keyDetails"] == "PKIX_ED25519"
    assert v2["baseUrl"] == "https://log2025-test.rekor.local"
    raw = load_key(v2["publicKey"]["rawBytes"]).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert b64d(v2["logId"]["keyId"]) == hashlib.sha256(b"log2025-test.rekor.local\n\x01" + raw).digest()
    (ca,) = root["certificateAuthorities"]
    chain = [x509.load_der_x509_certificate(b64d(c["rawBytes"])) for c in ca["certChain"]["certificates"]]
    assert chain == inst.fulcio.chain and chain[-1].issuer == chain[-1].subject
    (ct,) = root["ctlogs"]
    assert b64d(ct["logId"]["keyId"]) == hashlib.sha256(b64d(ct["publicKey"]["rawBytes"])).digest()
    (tsa,) = root["timestampAuthorities"]
    tsa_chain = [x509.load_der_x509_certificate(b64d(c["rawBytes"])) for c in tsa["certChain"]["certificates"]]
    assert tsa_chain == inst.tsa.chain
    for section in (root["tlogs"], root["ctlogs"]):
        for item in section:
            assert item["publicKey"]["validFor"]["start"].endswith("Z")
    two_years_back = (NOW - timedelta(days=730)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert root["certificateAuthorities"][0]["validFor"] == {"start": two_years_back}

    moved = inst.trusted_root(
        rekor_valid_for=(NOW + timedelta(days=1), None),
        ca_valid_for=(NOW - timedelta(days=10), NOW - timedelta(days=1)),
        omit=("ctlog",),
        extra_cas=[FulcioCA(NOW)],
    )
    assert moved["tlogs"][0]["publicKey"]["validFor"] == {"start": "2026-01-16T12:00:00Z"}
    assert moved["certificateAuthorities"][0]["validFor"] == {
        "start": "2026-01-05T12:00:00Z",
        "end": "2026-01-14T12:00:00Z",
    }
    assert moved["ctlogs"] == [] and len(moved["certificateAuthorities"]) == 2
    path = inst.write_trusted_root(tmp_path / "trusted_root.json")
    assert json.loads(path.read_bytes())["tlogs"] == root["tlogs"]


# ----------------------------------------------------------------------------- Rekor v1


def test_rekor_v1_message_bundle(inst: SigstoreInstance, root: dict) -> None:
    bundle = inst.sign_blob(ARTIFACT)
    assert bundle["mediaType"] == BUNDLE_MEDIA_TYPES["0.3"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    leaf = leaf_of(bundle)
    message = bundle["messageSignature"]
    assert message["messageDigest"] == {
        "algorithm": "SHA2_256",
        "digest": base64.b64encode(hashlib.sha256(ARTIFACT).digest()).decode(),
    }
    assert ecdsa_ok(leaf.public_key(), b64d(message["signature"]), ARTIFACT)

    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    tlog = trusted(root, "tlogs", entry["logId"]["keyId"])
    log_key = load_key(tlog["publicKey"]["rawBytes"])
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert set_ok(entry, log_key)
    assert int(entry["logIndex"]) == 1_000_000 + int(entry["inclusionProof"]["logIndex"])
    check_proof(entry, log_key, b64d(entry["logId"]["keyId"])[:4], "rekor.test.local")
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith("rekor.test.local - 1234567890\n")
    assert len(entry["inclusionProof"]["hashes"]) >= 3

    body = json.loads(b64d(entry["canonicalizedBody"]))
    spec = body["spec"]
    assert spec["data"]["hash"] == {"algorithm": "sha256", "value": hashlib.sha256(ARTIFACT).hexdigest()}
    assert spec["signature"]["content"] == message["signature"]
    pem = b64d(spec["signature"]["publicKey"]["content"])
    assert x509.load_pem_x509_certificate(pem) == leaf
    when = datetime.fromtimestamp(int(entry["integratedTime"]), UTC)
    assert leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc


def test_inclusion_proofs_cover_both_branches(inst: SigstoreInstance, root: dict) -> None:
    """Several appends give indices whose proofs have both inner and border hashes."""
    seen = set()
    for i in range(6):
        entry = inst.sign_blob(ARTIFACT + bytes([i]))["verificationMaterial"]["tlogEntries"][0]
        proof = entry["inclusionProof"]
        index, size = int(proof["logIndex"]), int(proof["treeSize"])
        inner = (index ^ (size - 1)).bit_length()
        seen.add((inner > 0, len(proof["hashes"]) > inner))
        check_proof(entry, inst.rekor_v1.key.public_key(), b64d(entry["logId"]["keyId"])[:4], "rekor.test.local")
    assert (True, True) in seen


def test_bundle_versions(inst: SigstoreInstance) -> None:
    for version in ("0.1", "0.2"):
        bundle = inst.sign_blob(ARTIFACT, version=version)  # type: ignore[arg-type]
        assert bundle["mediaType"] == f"application/vnd.dev.sigstore.bundle+json;version={version}"
        material = bundle["verificationMaterial"]
        assert "certificate" not in material
        assert len(material["x509CertificateChain"]["certificates"]) == 1
        entry = material["tlogEntries"][0]
        assert "inclusionPromise" in entry and "checkpoint" in entry["inclusionProof"]
    promise_only = inst.sign_blob(ARTIFACT, version="0.1", rekor_options={"include_proof": False})
    assert "inclusionProof" not in promise_only["verificationMaterial"]["tlogEntries"][0]
    chain = inst.sign_blob(ARTIFACT, chain_extra=inst.fulcio.chain, certificate_field="x509CertificateChain")
    assert len(chain["verificationMaterial"]["x509CertificateChain"]["certificates"]) == 3
    no_log = inst.sign_blob(ARTIFACT, rekor=None)
    assert no_log["verificationMaterial"]["tlogEntries"] == []


def test_dsse_bundle_rekor_v1(inst: SigstoreInstance, root: dict) -> None:
    bundle = inst.sign_blob(ARTIFACT, content="dsse", version="0.3")
    envelope = bundle["dsseEnvelope"]
    payload = b64d(envelope["payload"])
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"] == {"sha256": hashlib.sha256(ARTIFACT).hexdigest()}
    ptype = envelope["payloadType"].encode()
    pae = b"DSSEv1 " + str(len(ptype)).encode() + b" " + ptype + b" " + str(len(payload)).encode() + b" " + payload
    (sig,) = envelope["signatures"]
    leaf = leaf_of(bundle)
    assert ecdsa_ok(leaf.public_key(), b64d(sig["sig"]), pae)

    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    log_key = load_key(trusted(root, "tlogs", entry["logId"]["keyId"])["publicKey"]["rawBytes"])
    assert set_ok(entry, log_key)
    check_proof(entry, log_key, b64d(entry["logId"]["keyId"])[:4], "rekor.test.local")
    spec = json.loads(b64d(entry["canonicalizedBody"]))["spec"]
    assert spec["payloadHash"] == {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}
    assert (
        spec["envelopeHash"]["value"]
        == hashlib.sha256(json.dumps(envelope, separators=(",", ":")).encode()).hexdigest()
    )
    assert spec["signatures"][0]["signature"] == sig["sig"]
    assert x509.load_pem_x509_certificate(b64d(spec["signatures"][0]["verifier"])) == leaf


# ----------------------------------------------------------------------------- Rekor v2 and TSA


@pytest.mark.parametrize("content", ["message", "dsse"])
def test_rekor_v2_bundle(inst: SigstoreInstance, root: dict, content: str) -> None:
    bundle = inst.sign_blob(ARTIFACT, rekor="v2", content=content)  # type: ignore[arg-type]
    material = bundle["verificationMaterial"]
    (entry,) = material["tlogEntries"]
    assert "integratedTime" not in entry and "inclusionPromise" not in entry
    assert entry["logIndex"] == entry["inclusionProof"]["logIndex"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    tlog = trusted(root, "tlogs", entry["logId"]["keyId"])
    log_key = load_key(tlog["publicKey"]["rawBytes"])
    raw = log_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    log_id = hashlib.sha256(b"log2025-test.rekor.local" + b"\x0a\x01" + raw).digest()
    assert b64d(entry["logId"]["keyId"]) == log_id
    check_proof(entry, log_key, log_id[:4], "log2025-test.rekor.local")
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith("log2025-test.rekor.local\n")

    leaf = leaf_of(bundle)
    if content == "message":
        signature = b64d(bundle["messageSignature"]["signature"])
        signed_digest = hashlib.sha256(ARTIFACT).digest()
    else:
        env = bundle["dsseEnvelope"]
        signature = b64d(env["signatures"][0]["sig"])
        payload, ptype = b64d(env["payload"]), env["payloadType"].encode()
        signed_digest = hashlib.sha256(b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)).digest()
    # Recompute the leaf from bundle content (as sigstore-go does) and compare with the body.
    rebuilt = json.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {
                "hashedRekordV002": {
                    "data": {"algorithm": "SHA2_256", "digest": base64.b64encode(signed_digest).decode()},
                    "signature": {
                        "content": base64.b64encode(signature).decode(),
                        "verifier": {
                            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                            "x509Certificate": {
                                "rawBytes": base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()
                            },
                        },
                    },
                }
            },
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert rebuilt == b64d(entry["canonicalizedBody"])

    (stamp,) = material["timestampVerificationData"]["rfc3161Timestamps"]
    der = b64d(stamp["signedTimestamp"])
    assert tsa_verify(der, signature, inst.tsa.root)
    assert tsa_verify(der, signature, inst.tsa.root, inst.tsa.leaf)


def test_tsa_response(inst: SigstoreInstance) -> None:
    data = b"signature bytes"
    der = inst.tsa.timestamp(data, nonce=42)
    response = rfc3161_client.decode_timestamp_response(der)
    assert response.status == 0
    info = response.tst_info
    assert info.gen_time.replace(tzinfo=UTC) == NOW
    assert info.policy.dotted_string == TSA_POLICY_OID
    assert info.nonce == 42
    assert info.message_imprint.message == hashlib.sha256(data).digest()
    assert tsa_verify(der, data, inst.tsa.root, inst.tsa.leaf)
    eku = inst.tsa.leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]

    # Without the embedded cert, the verifier has to be given the leaf.
    bare = inst.tsa.timestamp(data, include_cert=False)
    assert tsa_verify(bare, data, inst.tsa.root, inst.tsa.leaf)
    with pytest.raises(rfc3161_client.VerificationError):
        tsa_verify(bare, data, inst.tsa.root)
    # Every breaking knob is rejected by rfc3161-client.
    with pytest.raises(rfc3161_client.VerificationError):
        tsa_verify(der, b"other bytes", inst.tsa.root)
    with pytest.raises(rfc3161_client.VerificationError):
        tsa_verify(inst.tsa.timestamp(data, gen_time=NOW + timedelta(days=4000)), data, inst.tsa.root)
    with pytest.raises(rfc3161_client.VerificationError):
        tsa_verify(inst.tsa.timestamp(data, signing_key=new_ec_key()), data, inst.tsa.root)
    other = SigstoreInstance(now=NOW).tsa
    with pytest.raises(rfc3161_client.VerificationError):
        tsa_verify(other.timestamp(data), data, inst.tsa.root)
    with pytest.raises(rfc3161_client.VerificationError):
        tsa_verify(inst.tsa.timestamp(data, imprint=b"\x00" * 32), data, inst.tsa.root)
    rejected = rfc3161_client.decode_timestamp_response(inst.tsa.timestamp(data, status="rejection"))
    assert rejected.status == 2


def test_tsa_chain_expired_now_but_valid_at_gen_time() -> None:
    inst = SigstoreInstance(now=NOW)
    tsa = TimestampAuthority(NOW, leaf_not_before=NOW - timedelta(days=30), leaf_not_after=NOW - timedelta(days=1))
    good = tsa.timestamp(b"x", gen_time=NOW - timedelta(days=2))
    assert tsa_verify(good, b"x", tsa.root)
    with pytest.raises(rfc3161_client.VerificationError):
        tsa_verify(tsa.timestamp(b"x"), b"x", tsa.root)
    assert inst.trusted_root(extra_tsas=[tsa])["timestampAuthorities"][1]["certChain"]["certificates"][0]


# ----------------------------------------------------------------------------- managed keys, legacy


def test_managed_key_bundle(inst: SigstoreInstance, root: dict) -> None:
    key = new_ec_key()
    bundle = inst.sign_blob_with_key(ARTIFACT, key, tsa=True)
    material = bundle["verificationMaterial"]
    assert material["publicKey"]["hint"] == base64.b64encode(hashlib.sha256(spki(key.public_key())).digest()).decode()
    assert ecdsa_ok(key.public_key(), b64d(bundle["messageSignature"]["signature"]), ARTIFACT)
    entry = material["tlogEntries"][0]
    pem = b64d(json.loads(b64d(entry["canonicalizedBody"]))["spec"]["signature"]["publicKey"]["content"])
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert set_ok(entry, inst.rekor_v1.key.public_key())
    v2 = inst.sign_blob_with_key(ARTIFACT, key, rekor="v2")
    verifier = json.loads(b64d(v2["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))["spec"][
        "hashedRekordV002"
    ]["signature"]["verifier"]
    assert b64d(verifier["publicKey"]["rawBytes"]) == spki(key.public_key())


def test_legacy_blob_bundle(inst: SigstoreInstance) -> None:
    legacy = inst.sign_blob_legacy(ARTIFACT)
    assert list(legacy) == ["base64Signature", "cert", "rekorBundle"]
    assert list(legacy["rekorBundle"]) == ["SignedEntryTimestamp", "Payload"]
    payload = legacy["rekorBundle"]["Payload"]
    assert list(payload) == ["body", "integratedTime", "logIndex", "logID"]
    assert isinstance(payload["integratedTime"], int) and isinstance(payload["logIndex"], int)
    cert = x509.load_pem_x509_certificate(b64d(legacy["cert"]))
    assert ecdsa_ok(cert.public_key(), b64d(legacy["base64Signature"]), ARTIFACT)
    as_entry = {
        "canonicalizedBody": payload["body"],
        "integratedTime": payload["integratedTime"],
        "logId": {"keyId": base64.b64encode(bytes.fromhex(payload["logID"])).decode()},
        "logIndex": payload["logIndex"],
        "inclusionPromise": {"signedEntryTimestamp": legacy["rekorBundle"]["SignedEntryTimestamp"]},
    }
    assert set_ok(as_entry, inst.rekor_v1.key.public_key())
    key = new_ec_key()
    keyed = inst.sign_blob_with_key(ARTIFACT, key, legacy=True)
    assert serialization.load_pem_public_key(b64d(keyed["cert"])) == key.public_key()


def test_other_key_types(inst: SigstoreInstance) -> None:
    """Bonus paths: the digest follows the key (P-384 -> SHA-384); Ed25519 and RSA sign too."""
    p384 = ec.generate_private_key(ec.SECP384R1())
    bundle = inst.sign_blob(ARTIFACT, leaf_options={"key": p384})
    message = bundle["messageSignature"]
    assert message["messageDigest"]["algorithm"] == "SHA2_384"
    assert ecdsa_ok(p384.public_key(), b64d(message["signature"]), ARTIFACT, hashes.SHA384())
    body = json.loads(b64d(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
    assert body["spec"]["data"]["hash"] == {"algorithm": "sha384", "value": hashlib.sha384(ARTIFACT).hexdigest()}

    edkey = ed25519.Ed25519PrivateKey.generate()
    ed_bundle = inst.sign_blob_with_key(ARTIFACT, edkey, rekor="v2")
    assert ecdsa_ok(edkey.public_key(), b64d(ed_bundle["messageSignature"]["signature"]), ARTIFACT)

    rsakey = rsa.generate_private_key(65537, 2048)
    rsa_bundle = inst.sign_blob(ARTIFACT, leaf_options={"key": rsakey}, content="dsse")
    envelope = rsa_bundle["dsseEnvelope"]
    payload = b64d(envelope["payload"])
    pae = b"DSSEv1 %d %s %d %s" % (len(IN_TOTO), IN_TOTO, len(payload), payload)
    sig = b64d(envelope["signatures"][0]["sig"])
    rsakey.public_key().verify(sig, pae, padding.PKCS1v15(), hashes.SHA256())


def test_checkpoint_knobs(inst: SigstoreInstance) -> None:
    witness = ed25519.Ed25519PrivateKey.generate()
    log = inst.rekor_v2
    text = log.checkpoint().rpartition("\n\n")[0] + "\n"
    note = log.checkpoint(extra_signature_lines=[note_signature_line(text, "witness.example", witness)])
    _, lines = parse_note(note)
    assert [name for name, _, _ in lines] == ["log2025-test.rekor.local", "witness.example"]
    assert ecdsa_ok(log.key.public_key(), lines[0][2], text.encode())
    assert ecdsa_ok(witness.public_key(), lines[1][2], text.encode())
    _, foreign = parse_note(log.checkpoint(key=ed25519.Ed25519PrivateKey.generate()))
    assert foreign[0][1] == log.log_id[:4] and not ecdsa_ok(log.key.public_key(), foreign[0][2], text.encode())
    assert (
        parse_note(log.checkpoint(root_hash=b"\x00" * 32))[0].split("\n")[2] == base64.b64encode(b"\x00" * 32).decode()
    )


# ----------------------------------------------------------------------------- broken variants


def test_broken_variants_break_exactly_what_they_say(inst: SigstoreInstance) -> None:
    log_key = inst.rekor_v1.key.public_key()
    foreign = new_ec_key()

    def entry_of(bundle: dict) -> dict:
        return bundle["verificationMaterial"]["tlogEntries"][0]

    bad_set = entry_of(inst.sign_blob(ARTIFACT, rekor_options={"set_signing_key": foreign}))
    assert not set_ok(bad_set, log_key)
    check_proof(bad_set, log_key, inst.rekor_v1.log_id[:4], "rekor.test.local")  # the rest still verifies

    bad_cp = entry_of(inst.sign_blob(ARTIFACT, rekor_options={"checkpoint_key": foreign}))
    assert set_ok(bad_cp, log_key)
    with pytest.raises(AssertionError):
        check_proof(bad_cp, log_key, inst.rekor_v1.log_id[:4], "rekor.test.local")

    late = inst.sign_blob(ARTIFACT, integrated_time=NOW + timedelta(hours=1))
    assert set_ok(entry_of(late), log_key)
    assert int(entry_of(late)["integratedTime"]) > leaf_of(late).not_valid_after_utc.timestamp()

    wrong_sig = inst.sign_blob(ARTIFACT, body_signature=b"\x30\x00")
    body = json.loads(b64d(entry_of(wrong_sig)["canonicalizedBody"]))
    assert body["spec"]["signature"]["content"] != wrong_sig["messageSignature"]["signature"]
    assert set_ok(entry_of(wrong_sig), log_key)

    other_leaf, _ = inst.issue_leaf()
    wrong_cert = inst.sign_blob(ARTIFACT, body_verifier=other_leaf)
    body = json.loads(b64d(entry_of(wrong_cert)["canonicalizedBody"]))
    assert x509.load_pem_x509_certificate(b64d(body["spec"]["signature"]["publicKey"]["content"])) != leaf_of(
        wrong_cert
    )

    wrong_digest = inst.sign_blob(ARTIFACT, body_digest=hashlib.sha256(b"other").digest())
    body = json.loads(b64d(entry_of(wrong_digest)["canonicalizedBody"]))
    assert body["spec"]["data"]["hash"]["value"] == hashlib.sha256(b"other").hexdigest()

    bad_artifact_sig = inst.sign_blob(ARTIFACT, signature=new_ec_key().sign(ARTIFACT, ec.ECDSA(hashes.SHA256())))
    assert not ecdsa_ok(
        leaf_of(bad_artifact_sig).public_key(),
        b64d(bad_artifact_sig["messageSignature"]["signature"]),
        ARTIFACT,
    )

    bad_tsa = inst.sign_blob(ARTIFACT, rekor="v2", tsa_options={"gen_time": NOW + timedelta(hours=1)})
    stamp = b64d(
        bad_tsa["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
    )
    gen_time = rfc3161_client.decode_timestamp_response(stamp).tst_info.gen_time.replace(tzinfo=UTC)
    assert gen_time > leaf_of(bad_tsa).not_valid_after_utc

    manual = make_hashedrekord_body(b"sig", hashlib.sha256(ARTIFACT).digest(), foreign)
    logged = inst.rekor_v1.append(manual, NOW)
    assert b64d(logged["canonicalizedBody"]) == manual and set_ok(logged, log_key)

    early = inst.sign_blob(ARTIFACT, signing_time=NOW - timedelta(days=1000))
    assert leaf_of(early).not_valid_before_utc < datetime.fromisoformat(
        inst.trusted_root()["certificateAuthorities"][0]["validFor"]["start"].replace("Z", "+00:00")
    )


def test_bundle_bytes_round_trip(inst: SigstoreInstance) -> None:
    bundle = inst.sign_blob(ARTIFACT)
    assert json.loads(bundle_bytes(bundle)) == bundle


# ----------------------------------------------------------------------------- real-data cross-checks


def _shape(value: Any) -> Any:
    """Key structure of a JSON value (dict keys recursively, first list element)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


needs_shared = pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=f"shared fixtures not found at {CONFORMANCE}")


@needs_shared
@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("happy-path-v0.3", {}),
        ("happy-path-v0.1", {"version": "0.1"}),
        ("happy-path-intoto-in-dsse-v3", {"content": "dsse"}),
        ("rekor2-happy-path", {"rekor": "v2"}),
        ("rekor2-dsse-happy-path", {"rekor": "v2", "content": "dsse"}),
        ("managed-key-happy-path", {"key": "new", "tsa": True}),
    ],
)
def test_shape_matches_real_bundle(inst: SigstoreInstance, case: str, options: dict) -> None:
    real = json.loads((CONFORMANCE / case / "bundle.sigstore.json").read_text())
    if options.get("key") == "new":
        options = {**options, "key": new_ec_key()}
    ours = inst.sign_blob(ARTIFACT, **options)
    real_shape, our_shape = _shape(real), _shape(ours)
    real_shape.pop("mediaType")
    our_shape.pop("mediaType")
    assert our_shape == real_shape
    real_body = json.loads(b64d(real["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
    our_body = json.loads(b64d(ours["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
    assert _shape(our_body) == _shape(real_body)


@needs_shared
def test_trusted_root_shape_matches_real(root: dict) -> None:
    real = json.loads((CONFORMANCE / "rekor2-happy-path" / "trusted_root.json").read_text())
    assert root["mediaType"] == real["mediaType"]
    assert list(root) == list(real)
    for section in ("tlogs", "certificateAuthorities", "ctlogs", "timestampAuthorities"):
        assert set(_shape(root[section][0])) == set(_shape(real[section][-1]))


@needs_shared
def test_checkers_accept_real_material() -> None:
    """The independent checkers above agree with real public-good material (so they are sound)."""
    production = json.loads(
        (CONFORMANCE.parent / "default-trusted-root" / "production" / "trusted_root.json").read_text()
    )
    real = json.loads((CONFORMANCE / "happy-path-v0.3" / "bundle.sigstore.json").read_text())
    (entry,) = real["verificationMaterial"]["tlogEntries"]
    log_key = load_key(trusted(production, "tlogs", entry["logId"]["keyId"])["publicKey"]["rawBytes"])
    assert set_ok(entry, log_key)
    check_proof(entry, log_key, b64d(entry["logId"]["keyId"])[:4], "rekor.sigstore.dev")

    staging = json.loads((CONFORMANCE / "rekor2-happy-path" / "trusted_root.json").read_text())
    v2 = json.loads((CONFORMANCE / "rekor2-happy-path" / "bundle.sigstore.json").read_text())
    (entry,) = v2["verificationMaterial"]["tlogEntries"]
    tlog = trusted(staging, "tlogs", entry["logId"]["keyId"])
    origin = tlog["baseUrl"].removeprefix("https://")
    check_proof(entry, load_key(tlog["publicKey"]["rawBytes"]), b64d(entry["logId"]["keyId"])[:4], origin)
    leaf = leaf_of(v2)
    (ca,) = staging["certificateAuthorities"]
    issuer = x509.load_der_x509_certificate(b64d(ca["certChain"]["certificates"][0]["rawBytes"]))
    ct_keys = [load_key(c["publicKey"]["rawBytes"]) for c in staging["ctlogs"]]
    assert any(sct_ok(leaf, issuer, k) for k in ct_keys if isinstance(k, ec.EllipticCurvePublicKey))
    tsa_certs = [
        x509.load_der_x509_certificate(b64d(c["rawBytes"]))
        for c in staging["timestampAuthorities"][0]["certChain"]["certificates"]
    ]
    stamp = b64d(v2["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"])
    assert tsa_verify(stamp, b64d(v2["messageSignature"]["signature"]), tsa_certs[-1], tsa_certs[0])
