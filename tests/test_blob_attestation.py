"""airlock attest-blob and verify-blob-attestation on their own (the cosign pairs are in
test_cosign_interop.py): the API and CLI agree, and hostile envelopes are refused with a reason."""

from __future__ import annotations

import base64
import json

import pytest

import airlock
import airlock.api
from airlock.errors import UsageError
from conftest import one_line_error, run_cli

PREDICATE = {"builder": {"id": "https://ci.example/builder"}}


@pytest.fixture()
def signed(tmp_path, monkeypatch):
    """(blob, public key, bundle, bare envelope) made by airlock attest-blob."""
    monkeypatch.setenv("COSIGN_PASSWORD", "attest-blob")
    assert run_cli("generate-key-pair", "--output-key-prefix", tmp_path / "k").code == 0
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"attested\n")
    (tmp_path / "predicate.json").write_text(json.dumps(PREDICATE))
    common = ["attest-blob", "--key", tmp_path / "k.key", "--predicate", tmp_path / "predicate.json", "--type",
              "slsaprovenance", "--tlog-upload=false"]
    assert run_cli(*common, "--bundle", tmp_path / "b.json", blob).code == 0
    assert run_cli(*common, "--new-bundle-format=false", "--output-signature", tmp_path / "env.json", blob).code == 0
    return blob, tmp_path / "k.pub", tmp_path / "b.json", tmp_path / "env.json"


def verify(pub, *argv):
    return run_cli("verify-blob-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "slsaprovenance",
                   *argv)


def test_cli_and_api_agree(signed):
    blob, pub, bundle, envelope = signed
    for material in (["--bundle", bundle], ["--signature", envelope]):
        assert verify(pub, *material, blob).code == 0
    for made in (airlock.api.attestation_material(bundle=bundle.read_bytes()),
                 airlock.api.attestation_material(envelope=envelope.read_bytes())):
        verdict = airlock.api.verify_blob_attestation(
            airlock.Artifact.from_path(blob), made, predicate_type="https://slsa.dev/provenance/v0.2",
            key=pub.read_bytes(), options=airlock.VerificationOptions(insecure_ignore_tlog=True))
        assert verdict.ok and "type" in [name for name, _ in verdict.checks]
    with pytest.raises(UsageError, match="a bundle or a DSSE envelope"):
        airlock.api.attestation_material()


@pytest.mark.parametrize(("document", "error"), [
    (b"not json", "--signature {path}: "),
    (b"[]", "--signature {path}: a DSSE envelope is a JSON object, not a list"),
    (b"[" * 100_000 + b"]" * 100_000, "--signature {path}: "),
    (json.dumps({"payload": "", "payloadType": "x", "signatures": []}).encode(),
     "--signature {path}: the DSSE envelope has 0 signatures; exactly one is verified"),
    (json.dumps({"payloadType": "x", "signatures": []}).encode(), "--signature {path}: dsseEnvelope"),
])
def test_hostile_envelopes_are_refused(signed, tmp_path, document, error):
    blob, pub, _, _ = signed
    path = tmp_path / "hostile.json"
    path.write_bytes(document)
    result = verify(pub, "--signature", path, blob)
    assert result.code == 1 and "Traceback" not in result.stderr
    assert one_line_error(result).startswith("Error: " + error.format(path=path)), result


def test_another_payload_type_is_refused(signed, tmp_path):
    blob, pub, _, envelope = signed
    document = json.loads(envelope.read_text())
    document["payloadType"] = "application/json"
    (tmp_path / "other.json").write_text(json.dumps(document))
    assert one_line_error(verify(pub, "--signature", tmp_path / "other.json", blob)) == (
        "Error: signature: the DSSE signature does not verify")  # the type is signed (PAE)


def test_check_claims_false_still_needs_a_subject(signed, tmp_path):
    _, pub, _, envelope = signed
    # a statement without subjects (its signature no longer verifies either): with no artifact to check,
    # the subject stands in for it, so a statement about nothing is refused before the signature is checked
    document = json.loads(envelope.read_text())
    statement = json.loads(base64.b64decode(document["payload"]))
    statement["subject"] = []
    document["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (tmp_path / "nosubject.json").write_text(json.dumps(document))
    result = verify(pub, "--signature", tmp_path / "nosubject.json", "--check-claims=false")
    assert one_line_error(result) == ("Error: artifact: the in-toto statement has no subject with a "
                                      "sha256/384/512 digest")
    assert "WARNING: --check-claims=false: only the envelope is verified" in result.stderr


def test_attest_blob_without_a_key_is_refused_in_one_line(tmp_path):
    (tmp_path / "file").write_bytes(b"data")
    (tmp_path / "predicate.json").write_text("{}")
    result = run_cli("attest-blob", tmp_path / "file", "--predicate", tmp_path / "predicate.json",
                     "--bundle", tmp_path / "out.json")
    assert result.code == 2
    assert one_line_error(result) == ("Error: attest-blob needs --key: keyless attestations about a file are not "
                                      "offered yet (sign the file keyless with sign-blob, or attest an image keyless "
                                      "with attest)")
    assert not (tmp_path / "out.json").exists()
