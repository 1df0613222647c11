"""Hostile input (issue 8): every rejection has a one-line reason naming what was wrong, never an
internal error, and a value of the wrong JSON type is never read as if it were absent.

Material comes from ``airlock.testing`` (valid, then broken in exactly one place) and from the
real sigstore-conformance bundles; each test asserts the specific error.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from airlock import _wire
from airlock.artifact import Artifact
from airlock.errors import AirlockError, CheckpointError, FormatError, KeyFileError, TrustRootError, VerificationError
from airlock.formats.bundle import parse_bundle, parse_signature_file
from airlock.material import DsseEnvelope
from airlock.sign import keys
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, new_ec_key
from airlock.testing.pki import FULCIO_OID
from airlock.trust import TrustedRoot
from airlock.verify.policy import Identity, Key
from airlock.verify.verifier import Verifier
from conftest import one_line_error, run_cli

DATA = b"airlock hostile input\n"
POLICY = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
DEEP = 100_000


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    return SigstoreInstance()


def verify(inst, bundle: dict, *, root: dict | None = None, key=None, policy=POLICY):
    trusted_root = TrustedRoot.from_json(json.dumps(root or inst.trusted_root()))
    material = parse_signature_file(json.dumps(bundle).encode())
    verifier = Verifier(trusted_root, clock=inst.clock)
    return verifier.verify(material, Artifact.from_bytes(DATA), Key(key) if key else policy)


def fails(verdict, check: str, reason: str) -> None:
    assert not verdict.ok, "verification passed but must fail"
    assert verdict.failure.check == check, verdict.failure
    assert reason in verdict.failure.reason, verdict.failure


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


# -- 1. Fulcio extensions ------------------------------------------------------------------------

def _ext(arc: int, raw: bytes) -> tuple[x509.UnrecognizedExtension, bool]:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{FULCIO_OID}.{arc}"), raw), False


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\x16\x2bhttps://token.actions.githubusercontent.com", "not tagged UTF8String"),  # IA5String
    (b"\x0c\x81\x05https", "length not in minimal DER form"),
    (b"\x0c\x10short", "length does not match the value"),
    (b"\x0c\x02\xff\xfe", "invalid UTF-8"),
    (b"", "empty"),
])
def test_malformed_issuer_v2_does_not_fall_back_to_v1(inst, raw, reason):
    """.1.8 present but unparsable, .1.1 valid: the deprecated .1.1 must not become the issuer."""
    options = {"issuer_extensions": "v1", "extra_extensions": [_ext(8, raw)]}
    fails(verify(inst, inst.sign_blob(DATA, leaf_options=options)), "identity",
          f"certificate extension {FULCIO_OID}.8 is not a DER UTF8String ({reason})")


def test_empty_issuer_v2_is_refused(inst):
    options = {"issuer_extensions": "v1", "extra_extensions": [_ext(8, b"\x0c\x00")]}
    fails(verify(inst, inst.sign_blob(DATA, leaf_options=options)), "identity",
          f"certificate extension {FULCIO_OID}.8 (OIDC issuer) is empty")


def test_issuer_extensions_that_disagree_are_refused(inst):
    options = {"extra_oids": {f"{FULCIO_OID}.1": "https://evil.example"}}
    fails(verify(inst, inst.sign_blob(DATA, leaf_options=options)), "identity",
          "the certificate's OIDC issuer extensions disagree (.1.1 'https://evil.example', .1.8 "
          f"'{DEFAULT_ISSUER}')")


@pytest.mark.parametrize("arc", [9, 12, 14, 21])
def test_other_malformed_der_fulcio_extensions_are_refused(inst, arc):
    options = {"extra_extensions": [_ext(arc, b"\x13\x03abc")]}  # PrintableString, not UTF8String
    fails(verify(inst, inst.sign_blob(DATA, leaf_options=options)), "identity",
          f"certificate extension {FULCIO_OID}.{arc} is not a DER UTF8String (not tagged UTF8String)")


def test_raw_fulcio_extension_must_be_utf8(inst):
    options = {"extra_extensions": [_ext(5, b"org/\xffrepo")]}
    fails(verify(inst, inst.sign_blob(DATA, leaf_options=options)), "identity",
          f"certificate extension {FULCIO_OID}.5 is not UTF-8")


def test_well_formed_issuer_v2_alone_verifies(inst):
    assert verify(inst, inst.sign_blob(DATA, leaf_options={"issuer_extensions": "v2"})).ok


# -- 2. Rekor v2 log validity ----------------------------------------------------------------------

def test_rekor_v2_entry_after_log_window_is_refused(inst):
    window = (inst.now - timedelta(days=300), inst.now - timedelta(days=1))
    bundle = inst.sign_blob(DATA, rekor="v2")
    fails(verify(inst, bundle, root=inst.trusted_root(rekor_v2_valid_for=window)), "tlog",
          f"is outside the validity of log {inst.rekor_v2.base_url}")


def test_rekor_v2_entry_before_log_window_is_refused(inst):
    window = (inst.now + timedelta(minutes=1), None)
    bundle = inst.sign_blob(DATA, rekor="v2")
    fails(verify(inst, bundle, root=inst.trusted_root(rekor_v2_valid_for=window)), "tlog",
          "is outside the validity of log")


def test_rekor_v2_window_end_is_inclusive(inst):
    window = (inst.now - timedelta(days=300), inst.now)
    verdict = verify(inst, inst.sign_blob(DATA, rekor="v2"), root=inst.trusted_root(rekor_v2_valid_for=window))
    assert verdict.ok, verdict.failure
    assert "tlog" in {name for name, _ in verdict.checks}


def test_rekor_v2_window_applies_to_key_signed_bundles(inst):
    key = new_ec_key()
    window = (inst.now - timedelta(days=300), inst.now - timedelta(days=1))
    bundle = inst.sign_blob(DATA, rekor="v2", key=key)
    public = key.public_key()
    assert verify(inst, bundle, key=public).ok
    fails(verify(inst, bundle, key=public, root=inst.trusted_root(rekor_v2_valid_for=window)), "tlog",
          "is outside the validity of log")


def test_rekor_v2_key_signed_without_timestamp_is_refused(inst):
    key = new_ec_key()
    bundle = inst.sign_blob(DATA, rekor="v2", tsa=False, key=key)
    fails(verify(inst, bundle, key=key.public_key()), "timestamp",
          "no verified signing time (log entry")


# -- 3. trusted root -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tlogs", "ctlogs"])
def test_trusted_root_with_duplicate_log_id_is_refused(inst, kind):
    root = inst.trusted_root()
    twin = copy.deepcopy(root[kind][0])
    twin["publicKey"]["rawBytes"] = base64.b64encode(
        new_ec_key().public_key().public_bytes(Encoding.DER, _spki())).decode()
    root[kind].append(twin)
    index = len(root[kind]) - 1
    with pytest.raises(TrustRootError, match=rf"{kind}\[{index}\] has the same logId as {kind}\[0\]"):
        TrustedRoot.from_json(json.dumps(root))


def _spki():
    from cryptography.hazmat.primitives.serialization import PublicFormat

    return PublicFormat.SubjectPublicKeyInfo


def _client_trust_config(inner: dict) -> dict:
    return {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json", "trustedRoot": inner}


def test_client_trust_config_wraps_one_trusted_root(inst):
    assert TrustedRoot.from_json(json.dumps(_client_trust_config(inst.trusted_root()))).tlogs


def test_client_trust_config_inside_client_trust_config_is_refused(inst):
    doubled = _client_trust_config(_client_trust_config(inst.trusted_root()))
    with pytest.raises(TrustRootError, match="a ClientTrustConfig inside a ClientTrustConfig"):
        TrustedRoot.from_json(json.dumps(doubled))


def test_client_trust_config_900_deep_is_refused(inst):
    document: dict = inst.trusted_root()
    for _ in range(900):
        document = _client_trust_config(document)
    with pytest.raises(TrustRootError, match="JSON nested deeper than 64 levels"):
        TrustedRoot.from_json(json.dumps(document))


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda r: r["tlogs"][0].update(baseUrl=5), "tlogs[0]: baseUrl must be a string, not a number"),
    (lambda r: r["tlogs"][0]["publicKey"].update(validFor="2020"),
     "tlogs[0].publicKey: validFor must be an object, not a string"),
    (lambda r: r["tlogs"][0]["publicKey"]["validFor"].update(end=True),
     "tlogs[0].validFor: end must be a string, not true/false"),
    (lambda r: r.update(ctlogs={}), "trusted root: ctlogs must be a list, not an object"),
    (lambda r: r.update(mediaType=["x"]), "trusted root: mediaType must be a string, not a list"),
])
def test_trusted_root_field_of_wrong_type(inst, mutate, reason):
    root = inst.trusted_root()
    mutate(root)
    with pytest.raises(TrustRootError) as caught:
        TrustedRoot.from_json(json.dumps(root))
    assert reason in str(caught.value)


# -- 4. crashes that were internal errors ------------------------------------------------------------

def test_bundle_nested_100000_deep():
    with pytest.raises(FormatError, match=r"^bundle: JSON nested deeper than 64 levels$"):
        parse_signature_file(deep_json().encode())
    nested = '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "x": ' + deep_json(100) + "}"
    with pytest.raises(FormatError, match=r"^bundle: JSON nested deeper than 64 levels$"):
        parse_signature_file(nested.encode())


def test_key_file_nested_100000_deep():
    pem = keys.pem_encode(keys.SIGSTORE_PEM_TYPE, ('{"kdf":' + deep_json() + "}").encode())
    with pytest.raises(KeyFileError, match=r"^k\.key: the encrypted key is JSON nested deeper than 64 levels$"):
        keys.parse_encrypted_key(pem, "k.key")


def test_nan_is_not_json():
    with pytest.raises(FormatError, match=r"bundle: not valid JSON \(NaN is not a JSON value\)"):
        parse_signature_file(b'{"mediaType": NaN}')


def test_media_type_that_is_a_list(inst):
    bundle = inst.sign_blob(DATA)
    bundle["mediaType"] = [bundle["mediaType"]]
    with pytest.raises(FormatError, match=r"^bundle: mediaType must be a string, not a list$"):
        parse_bundle(bundle)


@pytest.mark.parametrize(("value", "reason"), [
    ("9999999999999999999", ".integratedTime: 9999999999999999999 is out of range (at most 253402300799)"),
    (10**18, ".integratedTime: 1000000000000000000 is out of range (at most 253402300799)"),
    (1e18, ": integratedTime must be a string or an integer, not a number with a fraction or an exponent"),
    ("-5", ".integratedTime: must not be negative"),
])
def test_integrated_time_out_of_range(inst, value, reason):
    bundle = inst.sign_blob(DATA)
    bundle["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = value
    with pytest.raises(FormatError) as caught:
        parse_bundle(bundle)
    assert str(caught.value) == f"bundle v0.3: tlogEntries[0]{reason}"


def test_log_index_beyond_int64(inst):
    bundle = inst.sign_blob(DATA)
    bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"] = 2**63
    with pytest.raises(FormatError, match=r"tlogEntries\[0\].logIndex: 9223372036854775808 is out of range"):
        parse_bundle(bundle)


def test_utc_out_of_range_is_a_format_error():
    with pytest.raises(FormatError, match="seconds since the epoch is out of range"):
        _wire.utc(10**18)


def _unknown_key_algorithm(cert: x509.Certificate) -> bytes:
    """The certificate with its SPKI algorithm (id-ecPublicKey) renamed to an OID nobody knows."""
    der = cert.public_bytes(Encoding.DER)
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")
    assert der.count(ec_public_key) == 1
    return der.replace(ec_public_key, bytes.fromhex("06072a8648ce3d0209"))


def test_certificate_with_unknown_key_algorithm(inst):
    bundle = inst.sign_blob(DATA)
    cert = x509.load_der_x509_certificate(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    bundle["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(_unknown_key_algorithm(cert)).decode()
    with pytest.raises(FormatError, match=r"^bundle v0.3: certificate: unsupported public key algorithm "
                                          r"\(1.2.840.10045.2.9\)$"):
        parse_bundle(bundle)


def test_cli_certificate_with_unknown_key_algorithm(inst, tmp_path):
    bundle = inst.sign_blob(DATA)
    leaf_der = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    (tmp_path / "leaf.der").write_bytes(_unknown_key_algorithm(x509.load_der_x509_certificate(leaf_der)))
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    (tmp_path / "a.txt").write_bytes(DATA)
    inst.write_trusted_root(tmp_path / "root.json")
    result = run_cli("verify-blob", tmp_path / "a.txt", "--bundle", tmp_path / "b.json", "--certificate",
                     tmp_path / "leaf.der", "--trusted-root", tmp_path / "root.json",
                     "--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER)
    assert one_line_error(result) == ("Error: the signing certificate: unsupported public key algorithm "
                                      "(1.2.840.10045.2.9)")


@pytest.mark.parametrize(("statement", "reason"), [
    (b"[1, 2]", "the in-toto statement must be a JSON object, not a list"),
    (b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": ["sha256"]}]}',
     "in-toto statement subject[0] has no digest object"),
    (b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {"sha256": 5}}]}',
     "in-toto statement subject[0].digest.sha256 must be a string, not a number"),
    (b'{"_type": "https://in-toto.io/Statement/v1", "subject": ["artifact"]}',
     "in-toto statement subject[0] has no digest object"),
    (b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}', "the in-toto statement has no subjects"),
    (deep_json().encode(), "the DSSE payload: JSON nested deeper than 64 levels"),
])
def test_malformed_in_toto_statement(inst, statement, reason):
    fails(verify(inst, inst.sign_blob(DATA, content="dsse", statement=statement)), "artifact", reason)


# -- 5. wrong JSON types are malformed, not absent -----------------------------------------------------

def _v3(inst) -> dict:
    return inst.sign_blob(DATA, tsa=True)


@pytest.mark.parametrize(("path", "value", "reason"), [
    (("verificationMaterial", "timestampVerificationData"), 7,
     "verificationMaterial: timestampVerificationData must be an object, not a number"),
    (("verificationMaterial", "timestampVerificationData", "rfc3161Timestamps"), "x",
     "timestampVerificationData: rfc3161Timestamps must be a list, not a string"),
    (("verificationMaterial", "tlogEntries", 0, "inclusionProof", "checkpoint"), "text",
     "tlogEntries[0].inclusionProof: checkpoint must be an object, not a string"),
    (("verificationMaterial", "tlogEntries", 0, "inclusionProof", "checkpoint", "envelope"), 1,
     "tlogEntries[0].inclusionProof.checkpoint: envelope must be a string, not a number"),
    (("verificationMaterial", "tlogEntries", 0, "inclusionPromise"), [],
     "tlogEntries[0]: inclusionPromise must be an object, not a list"),
    (("verificationMaterial", "tlogEntries", 0, "integratedTime"), True,
     "tlogEntries[0]: integratedTime must be a string or an integer, not true/false"),
    (("verificationMaterial", "tlogEntries"), {}, "verificationMaterial: tlogEntries must be a list, not an object"),
    (("verificationMaterial", "certificate"), 3, "verificationMaterial: certificate must be an object, not a number"),
    (("messageSignature", "messageDigest"), "sha256", "messageSignature: messageDigest must be an object"),
])
def test_wrong_type_is_not_absent(inst, path, value, reason):
    bundle = _v3(inst)
    target = bundle
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(FormatError) as caught:
        parse_signature_file(json.dumps(bundle).encode())
    assert reason in str(caught.value)


def test_public_key_number_is_not_absent(inst):
    key = new_ec_key()
    bundle = inst.sign_blob(DATA, key=key)
    bundle["verificationMaterial"]["publicKey"] = 12
    with pytest.raises(FormatError, match="verificationMaterial: publicKey must be an object, not a number"):
        parse_signature_file(json.dumps(bundle).encode())


def test_null_is_absent(inst):
    bundle = _v3(inst)
    bundle["verificationMaterial"]["timestampVerificationData"] = None
    material = parse_signature_file(json.dumps(bundle).encode())
    assert material.rfc3161_timestamps == ()


def test_two_members_of_a_oneof_are_refused(inst):
    bundle = inst.sign_blob(DATA)
    bundle["dsseEnvelope"] = inst.sign_blob(DATA, content="dsse")["dsseEnvelope"]
    with pytest.raises(FormatError, match="both messageSignature and dsseEnvelope are set"):
        parse_signature_file(json.dumps(bundle).encode())


def test_dsse_keyid_of_wrong_type(inst):
    bundle = inst.sign_blob(DATA, content="dsse")
    bundle["dsseEnvelope"]["signatures"][0]["keyid"] = 5
    with pytest.raises(FormatError, match=r"signatures\[0\]: keyid must be a string, not a number"):
        parse_signature_file(json.dumps(bundle).encode())


def test_legacy_bundle_fields_of_wrong_type(inst):
    legacy = inst.sign_blob_legacy(DATA)
    broken = copy.deepcopy(legacy)
    broken["rekorBundle"]["Payload"]["integratedTime"] = str(broken["rekorBundle"]["Payload"]["integratedTime"])
    with pytest.raises(FormatError, match=r"Payload\.integratedTime: expected a JSON number, not a string"):
        parse_signature_file(json.dumps(broken).encode())
    broken = copy.deepcopy(legacy)
    broken["cert"] = 5
    with pytest.raises(FormatError, match="cosign bundle: cert must be a string, not a number"):
        parse_signature_file(json.dumps(broken).encode())


def test_dsse_envelope_must_be_an_object(inst):
    assert isinstance(parse_signature_file(json.dumps(inst.sign_blob(DATA, content="dsse")).encode()).content,
                      DsseEnvelope)
    bundle = inst.sign_blob(DATA, content="dsse")
    bundle["dsseEnvelope"] = "e30="
    with pytest.raises(FormatError, match="dsseEnvelope must be an object, not a string"):
        parse_signature_file(json.dumps(bundle).encode())


def test_cli_reports_wrong_type_on_one_line(inst, tmp_path):
    bundle = _v3(inst)
    bundle["verificationMaterial"]["timestampVerificationData"] = 7
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    (tmp_path / "a.txt").write_bytes(DATA)
    inst.write_trusted_root(tmp_path / "root.json")
    result = run_cli("verify-blob", tmp_path / "a.txt", "--bundle", tmp_path / "b.json", "--trusted-root",
                     tmp_path / "root.json", "--certificate-identity", DEFAULT_IDENTITY,
                     "--certificate-oidc-issuer", DEFAULT_ISSUER)
    assert one_line_error(result) == ("Error: bundle v0.3: verificationMaterial: timestampVerificationData must be "
                                      "an object, not a number")


def test_errors_are_airlock_errors():
    assert issubclass(TrustRootError, AirlockError) and issubclass(VerificationError, AirlockError)


def test_rekor_v2_entry_index_must_be_the_proven_index(inst):
    """Rekor v2 has no SET and no shards: logIndex is only authenticated through the proof's index."""
    bundle = inst.sign_blob(DATA, rekor="v2")
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    proven = entry["inclusionProof"]["logIndex"]
    entry["logIndex"] = str(int(proven) + 1)
    fails(verify(inst, bundle), "inclusion-proof",
          f"log entry index {int(proven) + 1} is not the index {proven} its inclusion proof is for")


def test_protojson_leaves_out_a_zero_log_index_and_empty_proof_hashes(inst):
    """The first entry of a log (index 0, in a tree of one) comes from rekor-tiles and cosign with no
    ``logIndex`` and no ``hashes``: protojson leaves out zero and empty values, and sigstore-go reads
    them as 0 and []. (test_sigstore_local.py verifies such a bundle from the real servers.)"""
    bundle = inst.sign_blob(DATA, rekor="v2")
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    del entry["logIndex"], entry["inclusionProof"]["logIndex"], entry["inclusionProof"]["hashes"]
    parsed = parse_bundle(bundle).tlog_entries[0]
    assert (parsed.log_index, parsed.inclusion_proof.log_index, parsed.inclusion_proof.hashes) == (0, 0, ())


def test_absent_log_index_is_index_zero_and_must_be_proven(inst):
    """Reading an absent index as 0 weakens nothing: 0 must still be the index the proof is for."""
    bundle = inst.sign_blob(DATA, rekor="v2")
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    proven = entry["inclusionProof"]["logIndex"]
    assert int(proven) > 0
    del entry["logIndex"]
    fails(verify(inst, bundle), "inclusion-proof",
          f"log entry index 0 is not the index {proven} its inclusion proof is for")


@pytest.mark.parametrize("where", ["entry", "proof"])
def test_log_index_of_the_wrong_type_is_still_malformed(inst, where):
    bundle = inst.sign_blob(DATA, rekor="v2")
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    (entry if where == "entry" else entry["inclusionProof"])["logIndex"] = []
    path = "tlogEntries[0]" if where == "entry" else "tlogEntries[0].inclusionProof"
    with pytest.raises(FormatError) as error:
        parse_bundle(bundle)
    assert str(error.value) == f"bundle v0.3: {path}: logIndex must be a string or an integer, not a list"


# -- 6. other crashes found on the way ----------------------------------------------------------------

def _with_broken_key_usage(bundle: dict) -> dict:
    """The leaf's KeyUsage BIT STRING given a length past its end: the certificate still loads
    (cryptography parses extensions lazily) but reading its extensions raised ValueError."""
    der = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    key_usage = bytes.fromhex("0603551d0f0101ff040403020780")
    assert der.count(key_usage) == 1
    broken = der.replace(key_usage, bytes.fromhex("0603551d0f0101ff040403050780"))
    bundle["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(broken).decode()
    return bundle


def test_certificate_with_unparsable_extension_in_bundle(inst):
    with pytest.raises(FormatError, match=r"^bundle v0\.3: certificate: its extensions do not parse \(error parsing"):
        parse_bundle(_with_broken_key_usage(inst.sign_blob(DATA, tsa=True)))


def test_certificate_with_unparsable_extension_given_directly(inst):
    """Material that did not come through the bundle parser (verify-blob --certificate, image layers)."""
    from airlock.verify.verifier import VerificationOptions

    good = parse_bundle(inst.sign_blob(DATA, tsa=True))
    bad_der = base64.b64decode(_with_broken_key_usage(inst.sign_blob(DATA))["verificationMaterial"]["certificate"]
                               ["rawBytes"])
    material = good._replace(certificate_chain=(x509.load_der_x509_certificate(bad_der),))
    verifier = Verifier(TrustedRoot.from_json(json.dumps(inst.trusted_root())), clock=inst.clock)
    with pytest.raises(FormatError, match=r"^the signing certificate: its extensions do not parse"):
        verifier.verify(material, Artifact.from_bytes(DATA), policy=POLICY,
                        options=VerificationOptions(insecure_ignore_tlog=True))


@pytest.mark.parametrize("size", ["\u0663", "\u00b3", "01", "18446744073709551616", "9" * 5000])
def test_checkpoint_size_must_be_an_ascii_uint64(size):
    from airlock.verify import checkpoint

    note = f"log.example\n{size}\n{base64.b64encode(bytes(32)).decode()}\n\n\u2014 log.example AAAAAAA=\n"
    with pytest.raises(CheckpointError, match="is not a decimal number below 2\\^64"):
        checkpoint.parse(note)


def test_key_signed_entry_recording_a_certificate_with_unknown_key_algorithm(inst):
    """A key-signed entry may record a certificate for the key; one whose key algorithm is unknown
    is "a different public key", not an UnsupportedAlgorithm traceback."""
    from cryptography.hazmat.primitives.serialization import Encoding as Enc

    leaf, _ = inst.issue_leaf()
    bad = x509.load_der_x509_certificate(_unknown_key_algorithm(leaf))
    key = new_ec_key()
    bundle = inst.sign_blob(DATA, key=key, body_verifier=bad.public_bytes(Enc.PEM))
    fails(verify(inst, bundle, key=key.public_key()), "tlog-entry", "the log entry records a different public key")


@pytest.mark.parametrize(("index", "details", "reason"), [
    (0, "PKIX_ED25519", "tlogs[0].publicKey: keyDetails PKIX_ED25519 does not match its ECDSA key"),
    (1, "PKIX_ECDSA_P256_SHA_256", "tlogs[1].publicKey: keyDetails PKIX_ECDSA_P256_SHA_256 does not match its "
                                   "Ed25519 key"),
    (0, "FOO", "tlogs[0].publicKey: unsupported keyDetails 'FOO'"),
])
def test_trusted_root_key_details_must_match_the_key(inst, index, details, reason):
    """PKIX_ED25519 on an ECDSA key raised ValueError computing the Rekor v2 key hint."""
    root = inst.trusted_root()
    root["tlogs"][index]["publicKey"]["keyDetails"] = details
    with pytest.raises(TrustRootError) as caught:
        TrustedRoot.from_json(json.dumps(root))
    assert str(caught.value) == f"trusted root: {reason}"


@pytest.mark.parametrize("checkpoint", [None, {}, {"envelope": ""}])
def test_v01_inclusion_proof_without_checkpoint_is_refused(inst, checkpoint):
    """v0.1 entries may carry only a SET, but a proof that is there must be checkable: before, a
    proof with an empty checkpoint was silently not verified at all (sigstore-go refuses it)."""
    bundle = inst.sign_blob(DATA, version="0.1")
    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    if checkpoint is None:
        del proof["checkpoint"]
    else:
        proof["checkpoint"] = checkpoint
    with pytest.raises(FormatError) as caught:
        parse_bundle(bundle)
    assert str(caught.value) == "bundle v0.1: tlogEntries[0] has an inclusion proof without a checkpoint"


def test_overlong_name_attribute_is_not_a_stray_python_warning(tmp_path):
    """cryptography warns when a name attribute is longer than its type allows (Fulcio's ephemeral
    CA has the country "USA"); on stderr that line broke the one-line `Error:` contract. A fresh
    process, as the CLI runs (pytest resets warning filters around each test and collection)."""
    from datetime import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    with pytest.warns(UserWarning, match="Attribute's length"):
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "USA", _validate=False)])
    key = new_ec_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime(2026, 1, 1)).not_valid_after(datetime(2027, 1, 1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.der").write_bytes(cert.public_bytes(Encoding.DER))
    script = ("import sys, airlock; from cryptography import x509; "
              "print(x509.load_der_x509_certificate(open(sys.argv[1], 'rb').read()).subject.rfc4514_string())")
    for prelude in ("", "import airlock; "):
        proc = subprocess.run([sys.executable, "-c", script.replace("import sys, airlock; ", "import sys; " + prelude),
                               tmp_path / "c.der"], capture_output=True, text=True, timeout=60)
        assert proc.stdout == "C=USA\n"
        assert ("Attribute's length" in proc.stderr) is (prelude == "")  # the warning exists; airlock drops it
