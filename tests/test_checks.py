"""Every check, broken on purpose: material from the test Sigstore instance that breaks exactly
one property must fail with that check's name and a specific reason; the unbroken material
next to it verifies (so each test proves the check, not some other failure)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from airlock.artifact import Artifact
from airlock.errors import FormatError, UsageError
from airlock.formats.bundle import parse_bundle, parse_legacy_bundle
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, new_ec_key
from airlock.trust import TrustedRoot
from airlock.verify.policy import Identity, Key
from airlock.verify.verifier import Verdict, VerificationOptions, Verifier

DATA = b"airlock test artifact\n"
POLICY = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    return SigstoreInstance()


def verify(inst: SigstoreInstance, bundle: dict, *, data: bytes | Artifact = DATA, policy=POLICY, key=None,
           root: dict | None = None, legacy: bool = False, options=None) -> Verdict:
    trusted_root = TrustedRoot.from_json(__import__("json").dumps(root or inst.trusted_root()))
    material = parse_legacy_bundle(bundle) if legacy else parse_bundle(bundle)
    artifact = data if isinstance(data, Artifact) else Artifact.from_bytes(data)
    options = options or VerificationOptions()
    return Verifier(trusted_root, clock=inst.clock).verify(material, artifact, Key(key) if key is not None else policy,
                                                           options=options)


def fails(verdict: Verdict, check: str, reason: str) -> None:
    assert not verdict.ok, "verification passed but must fail"
    assert verdict.failure.check == check, verdict.failure
    assert reason in verdict.failure.reason, verdict.failure


@pytest.mark.parametrize("shape", [
    {}, {"version": "0.1"}, {"version": "0.2"}, {"content": "dsse"}, {"rekor": "v2"},
    {"content": "dsse", "rekor": "v2"}, {"tsa": True},
])
def test_valid_material_verifies(inst, shape):
    verdict = verify(inst, inst.sign_blob(DATA, **shape))
    assert verdict.ok, verdict.failure
    assert verdict.identity == DEFAULT_IDENTITY and verdict.issuer == DEFAULT_ISSUER
    expected = {"tlog-entry", "inclusion-proof", "certificate-chain", "sct", "identity", "signature"}
    assert expected <= {name for name, _ in verdict.checks}


# -- tlog ------------------------------------------------------------------------------------

def test_entry_from_unknown_log(inst):
    fails(verify(inst, inst.sign_blob(DATA), root=inst.trusted_root(omit=("rekor_v1",))),
          "tlog", "is from a log not in the trusted root")


def test_no_tlog_entry_is_refused_unless_insecure(inst):
    bundle = inst.sign_blob(DATA, rekor=None, tsa=True)
    fails(verify(inst, bundle), "tlog", "has no transparency log entry")
    verdict = verify(inst, bundle, options=VerificationOptions(insecure_ignore_tlog=True))
    assert verdict.ok, verdict.failure
    assert any("--insecure-ignore-tlog" in w for w in verdict.warnings)


def test_too_many_entries_refused(inst):
    bundle = inst.sign_blob(DATA)
    entries = bundle["verificationMaterial"]["tlogEntries"]
    entries.extend(dict(entries[0]) for _ in range(16))
    with pytest.raises(FormatError, match="17 log entries, more than the 16 accepted"):
        parse_bundle(bundle)


def test_duplicate_entries_rejected(inst):
    bundle = inst.sign_blob(DATA, version="0.1")
    entries = bundle["verificationMaterial"]["tlogEntries"]
    entries.append(dict(entries[0]))
    fails(verify(inst, bundle), "tlog", "appears twice")


# -- SET ---------------------------------------------------------------------------------------

def test_set_signed_by_foreign_key(inst):
    bundle = inst.sign_blob(DATA, rekor_options={"set_signing_key": new_ec_key()})
    fails(verify(inst, bundle), "set", "does not verify with the key")


def test_set_outside_log_key_window(inst):
    window = (inst.now - timedelta(days=30), inst.now - timedelta(days=1))
    fails(verify(inst, inst.sign_blob(DATA), root=inst.trusted_root(rekor_valid_for=window)),
          "set", "is outside the validity of log")


def test_set_covers_integrated_time(inst):
    bundle = inst.sign_blob(DATA)
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)
    fails(verify(inst, bundle), "set", "does not verify")


def test_integrated_time_in_the_future(inst):
    later = inst.now + timedelta(hours=2)
    bundle = inst.sign_blob(DATA, signing_time=later)
    fails(verify(inst, bundle), "set", "is in the future")


def test_tlog_validity_end_is_inclusive(inst):
    at = inst.now
    window = (at - timedelta(days=10), at)
    bundle = inst.sign_blob(DATA, signing_time=at)
    assert verify(inst, bundle, root=inst.trusted_root(rekor_valid_for=window)).ok


# -- inclusion proof and checkpoint --------------------------------------------------------------

def test_inclusion_proof_with_flipped_hash(inst):
    bundle = inst.sign_blob(DATA)
    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    first = bytearray(base64.b64decode(proof["hashes"][0]))
    first[0] ^= 1
    proof["hashes"][0] = base64.b64encode(bytes(first)).decode()
    fails(verify(inst, bundle), "inclusion-proof", "does not lead to the expected root hash")


def test_inclusion_proof_wrong_index(inst):
    bundle = inst.sign_blob(DATA)
    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["logIndex"] = str(int(proof["logIndex"]) - 1)
    fails(verify(inst, bundle), "inclusion-proof", "does not lead to the expected root hash")


def test_checkpoint_signed_by_foreign_key(inst):
    bundle = inst.sign_blob(DATA, rekor_options={"checkpoint_key": new_ec_key()})
    fails(verify(inst, bundle), "checkpoint", "does not verify with the log's key")


def test_checkpoint_for_another_root(inst):
    bundle = inst.sign_blob(DATA, rekor_options={"checkpoint_options": {"root_hash": b"\x07" * 32}})
    fails(verify(inst, bundle), "checkpoint", "for another tree")


def test_checkpoint_with_wrong_key_hint(inst):
    bundle = inst.sign_blob(DATA, rekor_options={"checkpoint_options": {"key_hint": b"\x00\x01\x02\x03"}})
    fails(verify(inst, bundle), "checkpoint", "no checkpoint signature from the log's key")


def test_checkpoint_witness_lines_are_ignored(inst):
    witness = inst.rekor_v1.checkpoint(key=new_ec_key(), name="witness.example", key_hint=b"wxyz")
    line = witness.split("\n\n", 1)[1]  # the witness's signature line, with its newline
    bundle = inst.sign_blob(DATA, rekor_options={"checkpoint_options": {"extra_signature_lines": [line]}})
    assert verify(inst, bundle).ok


def test_rekor_v2_checkpoint_origin_must_be_the_log(inst):
    bundle = inst.sign_blob(DATA, rekor="v2", rekor_options={"checkpoint_options": {"origin": "evil.example"}})
    fails(verify(inst, bundle), "checkpoint", "is not the log")


def test_v02_needs_inclusion_proof(inst):
    with pytest.raises(FormatError, match="no inclusion proof with a checkpoint"):
        parse_bundle(inst.sign_blob(DATA, version="0.2", rekor_options={"include_proof": False}))


def test_v01_needs_inclusion_promise(inst):
    with pytest.raises(FormatError, match="no inclusion promise"):
        parse_bundle(inst.sign_blob(DATA, version="0.1", rekor_options={"include_promise": False}))


def test_v01_with_only_a_set_verifies(inst):
    assert verify(inst, inst.sign_blob(DATA, version="0.1", rekor_options={"include_proof": False})).ok


# -- the log entry matches the signature (CVE-2022-36056 class) ----------------------------------

def test_entry_records_other_signature(inst):
    other = new_ec_key().sign(DATA, ec.ECDSA(hashes.SHA256()))
    fails(verify(inst, inst.sign_blob(DATA, body_signature=other)), "tlog-entry", "different signature")


def test_entry_records_other_certificate(inst):
    leaf, _ = inst.issue_leaf()
    fails(verify(inst, inst.sign_blob(DATA, body_verifier=leaf)), "tlog-entry", "different certificate")


def test_entry_records_other_artifact(inst):
    import hashlib

    fails(verify(inst, inst.sign_blob(DATA, body_digest=hashlib.sha256(b"other").digest())),
          "tlog-entry", "different artifact digest")


def test_dsse_entry_records_other_payload(inst):
    import hashlib

    bundle = inst.sign_blob(DATA, content="dsse", body_digest=hashlib.sha256(b"other").digest())
    fails(verify(inst, bundle), "tlog-entry", "different DSSE payload")


def test_rekor_v2_dsse_entry_records_other_envelope(inst):
    import hashlib

    bundle = inst.sign_blob(DATA, content="dsse", rekor="v2", body_digest=hashlib.sha256(b"x").digest())
    fails(verify(inst, bundle), "tlog-entry", "different DSSE envelope")


def test_kind_version_must_match_body(inst):
    bundle = inst.sign_blob(DATA)
    bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"] = "dsse"
    fails(verify(inst, bundle), "tlog-entry", "but the bundle says dsse")


# -- RFC 3161 timestamps ---------------------------------------------------------------------------

def test_rekor_v2_without_timestamp(inst):
    fails(verify(inst, inst.sign_blob(DATA, rekor="v2", tsa=False)), "timestamp", "no verified signing time")


def test_timestamp_over_other_data(inst):
    bundle = inst.sign_blob(DATA, rekor="v2", tsa_options={"data_to_imprint": b"something else"})
    fails(verify(inst, bundle), "timestamp", "Mismatch between messages")


def test_timestamp_outside_tsa_window(inst):
    window = (inst.now - timedelta(days=30), inst.now - timedelta(days=1))
    fails(verify(inst, inst.sign_blob(DATA, rekor="v2"), root=inst.trusted_root(tsa_valid_for=window)),
          "timestamp", "is outside the TSA validity")


def test_timestamp_from_untrusted_tsa(inst):
    other = SigstoreInstance(now=inst.now)
    bundle = inst.sign_blob(DATA, rekor="v2", tsa_options={"signer": (other.tsa.leaf, other.tsa.leaf_key)})
    fails(verify(inst, bundle), "timestamp", "does not verify with any trusted TSA")


def test_timestamp_without_trusted_tsa(inst):
    fails(verify(inst, inst.sign_blob(DATA, rekor="v2"), root=inst.trusted_root(omit=("tsa",))),
          "timestamp", "has no timestamp authorities")


def test_timestamp_outside_certificate_validity(inst):
    bundle = inst.sign_blob(DATA, rekor="v2", tsa_options={"gen_time": inst.now + timedelta(minutes=30)})
    fails(verify(inst, bundle), "certificate-chain", "outside the certificate's validity")


# -- certificate chain at signing time ---------------------------------------------------------------

def test_certificate_from_untrusted_ca(inst):
    other = SigstoreInstance(now=inst.now)
    leaf, key = inst.issue_leaf(issuer_ca=other.fulcio)
    # same CA names as the trusted one, other keys: found by name, rejected by signature
    fails(verify(inst, inst.sign_blob(DATA, leaf=(leaf, key))), "certificate-chain",
          "its signature does not verify with CA certificate")


def test_signing_time_outside_ca_window(inst):
    window = (inst.now - timedelta(days=30), inst.now - timedelta(days=1))
    fails(verify(inst, inst.sign_blob(DATA), root=inst.trusted_root(ca_valid_for=window)),
          "certificate-chain", "no trusted CA")


def test_integrated_time_after_certificate_expiry(inst):
    signed = inst.now - timedelta(hours=1)
    bundle = inst.sign_blob(DATA, signing_time=signed, integrated_time=signed + timedelta(minutes=20))
    fails(verify(inst, bundle), "certificate-chain", "outside the certificate's validity")


def test_leaf_without_code_signing_eku(inst):
    fails(verify(inst, inst.sign_blob(DATA, leaf_options={"code_signing_eku": False})),
          "certificate-chain", "the leaf certificate has no extended key usage")


def test_leaf_without_digital_signature_key_usage(inst):
    fails(verify(inst, inst.sign_blob(DATA, leaf_options={"digital_signature": False})),
          "certificate-chain", "key usage does not allow digital signatures")


def test_leaf_with_wrong_eku(inst):
    from cryptography.x509.oid import ExtendedKeyUsageOID

    bundle = inst.sign_blob(DATA, leaf_options={"eku": [ExtendedKeyUsageOID.CLIENT_AUTH]})
    fails(verify(inst, bundle), "certificate-chain", "does not allow code signing")


def test_leaf_claiming_to_be_a_ca(inst):
    fails(verify(inst, inst.sign_blob(DATA, leaf_options={"basic_constraints_ca": True})),
          "certificate-chain", "leaf certificate is a CA")


def test_leaf_with_unknown_critical_extension(inst):
    from cryptography import x509

    extension = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    bundle = inst.sign_blob(DATA, leaf_options={"extra_extensions": [(extension, True)]})
    fails(verify(inst, bundle), "certificate-chain", "unknown critical extension")


def test_v03_with_chain_rejected(inst):
    with pytest.raises(FormatError, match=r"not allowed in v0\.3"):
        parse_bundle(inst.sign_blob(DATA, version="0.3", certificate_field="x509CertificateChain"))


# -- SCT --------------------------------------------------------------------------------------------

def test_certificate_without_sct(inst):
    bundle = inst.sign_blob(DATA, leaf_options={"sct": "none"})
    fails(verify(inst, bundle), "sct", "has no embedded SCT")
    verdict = verify(inst, bundle, options=VerificationOptions(insecure_ignore_sct=True))
    assert verdict.ok and any("--insecure-ignore-sct" in w for w in verdict.warnings)


def test_sct_with_bad_signature(inst):
    bundle = inst.sign_blob(DATA, leaf_options={"sct": "bad-signature"})
    fails(verify(inst, bundle), "sct", "no embedded SCT verifies")


def test_sct_from_unknown_log(inst):
    bundle = inst.sign_blob(DATA, leaf_options={"sct": "unknown-log"})
    fails(verify(inst, bundle), "sct", "from a CT log in the trusted")


def test_sct_outside_ctlog_window(inst):
    window = (inst.now - timedelta(days=30), inst.now - timedelta(days=1))
    fails(verify(inst, inst.sign_blob(DATA), root=inst.trusted_root(ctlog_valid_for=window)),
          "sct", "no embedded SCT verifies")


# -- identity ------------------------------------------------------------------------------------------

def test_identity_mismatch(inst):
    policy = Identity(identity="https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main",
                            issuer=DEFAULT_ISSUER)
    fails(verify(inst, inst.sign_blob(DATA), policy=policy), "identity", "does not match")


def test_issuer_mismatch(inst):
    policy = Identity(identity=DEFAULT_IDENTITY, issuer="https://accounts.google.com")
    fails(verify(inst, inst.sign_blob(DATA), policy=policy), "identity", "OIDC issuer")


def test_identity_regexp_matches_anywhere_as_cosign(inst):
    """Go's MatchString: a prefix pattern matches (cosign's docs use them); ^...$ pins the whole value."""
    prefix = Identity(identity_regexp="^https://github.com/", issuer=DEFAULT_ISSUER)
    assert verify(inst, inst.sign_blob(DATA), policy=prefix).ok
    assert len(prefix.warnings) == 1 and "not anchored" in prefix.warnings[0]
    anchored = Identity(identity_regexp="^https://github.com/$", issuer=DEFAULT_ISSUER)
    assert anchored.warnings == []
    fails(verify(inst, inst.sign_blob(DATA), policy=anchored), "identity", "does not match")
    whole = Identity(identity_regexp=r"^https://github\.com/.+@refs/heads/main$", issuer_regexp=r"^https://.*$")
    assert verify(inst, inst.sign_blob(DATA), policy=whole).ok


@pytest.mark.parametrize("san_type,identity", [("email", "dev@example.com"), ("othername", "dev!example")])
def test_other_san_types(inst, san_type, identity):
    bundle = inst.sign_blob(DATA, identity=identity, leaf_options={"san_type": san_type})
    assert verify(inst, bundle, policy=Identity(identity=identity, issuer=DEFAULT_ISSUER)).ok


def test_issuer_from_deprecated_extension_only(inst):
    bundle = inst.sign_blob(DATA, leaf_options={"issuer_extensions": "v1"})
    assert verify(inst, bundle).ok
    fails(verify(inst, inst.sign_blob(DATA, leaf_options={"issuer_extensions": "none"})), "identity", "None")


def test_github_workflow_extensions(inst):
    from airlock.testing import github_actions_extensions

    extra = github_actions_extensions("org/repo", ref="refs/tags/v1", event="push")
    bundle = inst.sign_blob(DATA, leaf_options={"extra_oids": extra})
    ok = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER,
                        github_workflow={"trigger": "push", "repository": "org/repo"})
    assert verify(inst, bundle, policy=ok).ok
    bad = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER, github_workflow={"ref": "refs/heads/x"})
    fails(verify(inst, bundle, policy=bad), "identity", "GitHub workflow ref")


def test_keyless_needs_identity_and_issuer():
    with pytest.raises(UsageError, match="--certificate-identity"):
        Identity(issuer=DEFAULT_ISSUER)
    with pytest.raises(UsageError, match="--certificate-oidc-issuer"):
        Identity(identity=DEFAULT_IDENTITY)
    with pytest.raises(UsageError, match="invalid regular expression"):
        Identity(identity_regexp="(", issuer=DEFAULT_ISSUER)


# -- the artifact signature ------------------------------------------------------------------------------

def test_signature_over_other_data(inst):
    fails(verify(inst, inst.sign_blob(DATA), data=b"tampered"), "tlog-entry", "different artifact digest")
    bundle = inst.sign_blob(DATA, signature=new_ec_key().sign(DATA, ec.ECDSA(hashes.SHA256())))
    fails(verify(inst, bundle), "signature", "does not verify over the artifact")


def test_message_digest_hint_must_match(inst):
    fails(verify(inst, inst.sign_blob(DATA, message_digest=b"\x01" * 32)), "signature", "message digest does not match")


def test_digest_only_verification(inst):
    import hashlib

    digest = Artifact.from_digest("sha256:" + hashlib.sha256(DATA).hexdigest())
    assert verify(inst, inst.sign_blob(DATA), data=digest).ok
    wrong = Artifact.from_digest("sha256:" + hashlib.sha256(b"x").hexdigest())
    fails(verify(inst, inst.sign_blob(DATA), data=wrong), "tlog-entry", "different artifact digest")


def test_dsse_signature_invalid(inst):
    bad = new_ec_key().sign(b"whatever", ec.ECDSA(hashes.SHA256()))
    fails(verify(inst, inst.sign_blob(DATA, content="dsse", signature=bad, rekor=None, tsa=True),
                 options=VerificationOptions(insecure_ignore_tlog=True)), "signature", "DSSE signature does not verify")


def test_dsse_artifact_not_a_subject(inst):
    fails(verify(inst, inst.sign_blob(DATA, content="dsse"), data=b"not the subject"), "artifact", "is not a subject")


def test_dsse_payload_must_be_in_toto(inst):
    bundle = inst.sign_blob(DATA, content="dsse", payload_type="text/plain")
    fails(verify(inst, bundle), "artifact", "is not an in-toto statement")


# -- keys --------------------------------------------------------------------------------------------------

def test_managed_key_bundle(inst):
    key = new_ec_key()
    bundle = inst.sign_blob_with_key(DATA, key)
    assert verify(inst, bundle, key=key.public_key()).ok
    fails(verify(inst, bundle, key=new_ec_key().public_key()), "tlog-entry", "different public key")
    fails(verify(inst, bundle), "signer", "pass the public key with --key")


def test_ed25519_managed_key(inst):
    key = ed25519.Ed25519PrivateKey.generate()
    bundle = inst.sign_blob_with_key(DATA, key)
    assert verify(inst, bundle, key=key.public_key()).ok


def test_key_does_not_match_certificate(inst):
    """A legacy signature's certificate must be for --key; a Sigstore bundle with a certificate is
    refused with --key even when it is for that key, as sigstore-go (cosign v3) refuses it."""
    fails(verify(inst, inst.sign_blob_legacy(DATA), legacy=True, key=new_ec_key().public_key()), "signer",
          "not for the key")
    bundle = inst.sign_blob(DATA)
    leaf = x509.load_der_x509_certificate(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    fails(verify(inst, bundle, key=leaf.public_key()), "signer", "signed with a certificate, not a key")


# -- legacy cosign bundles -------------------------------------------------------------------------------

def test_legacy_keyless_bundle(inst):
    assert verify(inst, inst.sign_blob_legacy(DATA), legacy=True).ok


def test_legacy_bundle_with_tampered_set(inst):
    bundle = inst.sign_blob_legacy(DATA)
    bundle["rekorBundle"]["Payload"]["integratedTime"] += 1
    fails(verify(inst, bundle, legacy=True), "set", "does not verify")


def test_legacy_bundle_body_for_other_signature(inst):
    other = new_ec_key().sign(DATA, ec.ECDSA(hashes.SHA256()))
    bundle = inst.sign_blob_legacy(DATA, body_signature=other)
    fails(verify(inst, bundle, legacy=True), "tlog-entry", "different signature")


def test_legacy_key_bundle(inst):
    key = new_ec_key()
    bundle = inst.sign_blob_with_key(DATA, key, legacy=True)
    assert verify(inst, bundle, key=key.public_key(), legacy=True).ok
    fails(verify(inst, bundle, key=key.public_key(), legacy=True, data=b"other"),
          "tlog-entry", "different artifact digest")


def test_set_payload_is_rfc8785(inst):
    """The hand-built SET payload is byte-identical to the JCS library's output."""
    import rfc8785

    from airlock.verify.checks import set_payload

    entry = parse_bundle(inst.sign_blob(DATA)).tlog_entries[0]
    assert set_payload(entry) == rfc8785.dumps({
        "body": base64.b64encode(entry.body).decode(), "integratedTime": entry.integrated_time,
        "logID": entry.log_id.hex(), "logIndex": entry.log_index})


@pytest.mark.parametrize("make_key", [
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: __import__("cryptography.hazmat.primitives.asymmetric.rsa", fromlist=["rsa"]).generate_private_key(
        public_exponent=65537, key_size=2048),
], ids=["p384", "rsa2048"])
def test_other_managed_key_types(inst, make_key):
    key = make_key()
    bundle = inst.sign_blob_with_key(DATA, key)
    assert verify(inst, bundle, key=key.public_key()).ok
    fails(verify(inst, bundle, key=key.public_key(), data=b"other"), "tlog-entry", "different artifact")
