"""The 70 offline sigstore-conformance cases (140 checks), and why each failing case fails."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import CONFORMANCE, PRODUCTION_ROOT, SHARED, airlock_exe, run_cli, shared

# For every case that must fail: the check that must reject it (the "why").
EXPECTED_FAILURE = {
    "bundle-empty-certificate-chain_fail": "certificate chain is empty",
    "bundle-from-wrong-instance_fail": "tlog: log entry 11589473 is from a log not in the trusted root",
    "bundle-invalid-base64-signature_fail": "messageSignature.signature: invalid base64",
    "bundle-malformed-json_fail": "bundle: not valid JSON",
    "bundle-negative-log-index_fail": "logIndex: must not be negative",
    "bundle-unknown-version_fail": "unsupported bundle mediaType",
    "bundle-with-root-cert_fail": "tlogEntries[0] has an inclusion proof without a checkpoint",
    "checkpoint-bad-keyhint_fail": "checkpoint: no checkpoint signature from the log's key",
    "checkpoint-wrong-roothash_fail": "checkpoint: the checkpoint is for another tree",
    "dsse-invalid-sig_fail": "tlog-entry: the log entry records a different signature",
    "dsse-mismatch-envelope_fail": "tlog-entry: the log entry records a different signature",
    "dsse-mismatch-sig_fail": "tlog-entry: the log entry records a different signature",
    "inclusion-proof-corrupted-hash_fail": "inclusion-proof: the inclusion proof does not lead",
    "incorrect-public-key_fail": "set: the signed entry timestamp does not verify",
    "integrated-time-in-future_fail": "outside the certificate's validity",
    "intoto-expired-certificate_fail": "outside the certificate's validity",
    "intoto-log-entry-mismatch_fail": "tlog-entry: the log entry records a different signature",
    "intoto-missing-inclusion-proof_fail": "no inclusion proof with a checkpoint",
    "intoto-set-outside-signing-cert-validity_fail": "outside the certificate's validity",
    "intoto-tsa-timestamp-outside-cert-validity_fail": "outside the certificate's validity",
    "invalid-checkpoint-signature_fail": "checkpoint: the checkpoint signature does not verify",
    "invalid-ct-key_fail": "sct: no embedded SCT is from a CT log in the trusted root",
    "invalid-inclusion-proof_fail": "no inclusion proof with a checkpoint",
    "managed-key-no-key_fail": "signer: the signature was made with a key",
    "managed-key-wrong-key_fail": "--key: not a PEM or DER public key",
    "message-digest-mismatch_fail": "signature: the bundle's message digest does not match",
    "rekor2-checkpoint-missing-log-signature_fail": "checkpoint: the checkpoint has no signature lines",
    "rekor2-checkpoint-missing-origin_fail": "checkpoint: a checkpoint needs an origin",
    "rekor2-checkpoint-missing-root-hash_fail": "checkpoint: a checkpoint needs an origin",
    "rekor2-checkpoint-missing-size_fail": "checkpoint: a checkpoint needs an origin",
    "rekor2-checkpoint-no-matching-signature_fail": "checkpoint: checkpoint origin",
    "rekor2-dsse-invalid-sig_fail": "tlog-entry: the log entry records a different signature",
    "rekor2-dsse-mismatch-envelope_fail": "tlog-entry: the log entry records a different signature",
    "rekor2-dsse-mismatch-sig_fail": "tlog-entry: the log entry records a different signature",
    "rekor2-no-inclusion-proof_fail": "no inclusion proof with a checkpoint",
    "rekor2-no-timestamp_fail": "timestamp: no verified signing time",
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": "is outside the TSA validity",
    "rekor2-timestamp-outside-tsa-cert-validity_fail": "certificate has expired",
    "rekor2-timestamp-payload-mismatch_fail": "Mismatch between messages",
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": "timestamp: the RFC 3161 timestamp does not parse",
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": "signer certificate not found",
    "rekor2-timestamp-with-incorrect-time_fail": "outside the certificate's validity",
    "set-invalid-signature_fail": "set: the signed entry timestamp does not verify",
    "signature-mismatch_fail": "tlog-entry: the log entry records a different signature",
    "trust-root-tlog-missing-validity-start_fail": "tlogs[1]: validFor has no start",
    "wrong-hashedrekord-artifact_fail": "tlog-entry: the log entry records a different signature",
    "wrong-hashedrekord-cert-and-sig_fail": "tlog-entry: the log entry records a different signature",
    "wrong-hashedrekord-entry_fail": "tlog-entry: the log entry records a different signature",
    "wrong-material_fail": "tlog-entry: the log entry records a different artifact digest",
}


def _cases() -> list[dict]:
    path = CONFORMANCE / "cases.json"
    return json.loads(path.read_text())["cases"] if path.exists() else []


CASES = _cases()


def test_every_failing_case_has_an_expected_reason():
    shared(CONFORMANCE / "cases.json")
    failing = {c["name"] for c in CASES if c["expect"] == "fail"}
    assert failing == set(EXPECTED_FAILURE)
    assert len(CASES) == 70


@pytest.mark.parametrize("mode", ["PATH", "DIGEST"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict, mode: str):
    base = shared(CONFORMANCE / "bundle-verify")
    argv = ["verify-blob", "--offline", "--bundle", base / case["bundle"]]
    if "key" in case:
        argv += ["--key", base / case["key"]]
    else:
        argv += ["--certificate-identity", case["identity"], "--certificate-oidc-issuer", case["issuer"]]
    argv += ["--trusted-root", base / case["trusted_root"] if case["trusted_root"] else PRODUCTION_ROOT]
    argv.append(base / case["artifact"] if mode == "PATH" else "sha256:" + case["artifact_sha256"])
    result = run_cli(*argv)
    if case["expect"] == "pass":
        assert result.code == 0, result.stderr
        assert result.stderr.strip().splitlines()[-1] == "Verified OK"
    else:
        assert result.code == 1, result.stderr
        assert EXPECTED_FAILURE[case["name"]] in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_conformance_entrypoint_140_of_140():
    """The acceptance run itself: the shared harness through the shared entrypoint, as real processes."""
    runner = shared(CONFORMANCE / "run_cases.py")
    entrypoint = shared(SHARED / "tools" / "conformance-entrypoint")
    exe = airlock_exe()
    if len(exe) != 1:
        pytest.skip("the airlock console script is not installed")
    proc = subprocess.run(
        [sys.executable, runner, entrypoint, "--default-trusted-root", PRODUCTION_ROOT],
        capture_output=True, text=True, env={"AIRLOCK": exe[0], "PATH": "/usr/bin:/bin"}, timeout=600,
    )
    assert proc.stdout.strip().splitlines()[-1] == "140 passed, 0 failed", proc.stdout[-3000:]
    assert proc.returncode == 0
