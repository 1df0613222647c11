"""Real bundles from sigstore-python's test assets: the valid ones verify, the broken ones fail
for the right reason."""

from __future__ import annotations

import pytest

from conftest import PRODUCTION_ROOT, SIGSTORE_PYTHON, STAGING_ROOT, run_cli, shared

ANY = ["--certificate-identity-regexp", "^.*$", "--certificate-oidc-issuer-regexp", "^.*$"]
CONFORMANCE_A_TXT = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"


@pytest.mark.parametrize("bundle,artifact,root,identity,issuer", [
    ("bundle.txt.sigstore", "bundle.txt", STAGING_ROOT, "a@tny.town", "https://github.com/login/oauth"),
    ("bundle_v3.txt.sigstore", "bundle_v3.txt", STAGING_ROOT, "william@yossarian.net", "https://github.com/login/oauth"),
    ("bundle_v3_alt.txt.sigstore", "bundle_v3_alt.txt", STAGING_ROOT, "william@yossarian.net",
     "https://github.com/login/oauth"),
    ("integration/bundle_v3.txt.sigstore", "integration/bundle_v3.txt", STAGING_ROOT, "william@yossarian.net",
     "https://github.com/login/oauth"),
    ("bundle_v3_github.whl.sigstore", "bundle_v3_github.whl", PRODUCTION_ROOT,
     "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
     "https://token.actions.githubusercontent.com"),
    ("staging-rekor-v2.txt.sigstore.json", "staging-rekor-v2.txt", STAGING_ROOT, "jku@goto.fi",
     "https://github.com/login/oauth"),
    ("a.dsse.staging-rekor-v2.txt.sigstore.json", CONFORMANCE_A_TXT, STAGING_ROOT,
     "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
     "extremely-dangerous-oidc-beacon.yml@refs/heads/main", "https://token.actions.githubusercontent.com"),
])
def test_real_bundle_verifies(bundle, artifact, root, identity, issuer):
    base = shared(SIGSTORE_PYTHON)
    target = artifact if artifact.startswith("sha256:") else base / artifact
    result = run_cli("verify-blob", target, "--bundle", base / bundle, "--trusted-root", shared(root),
                     "--certificate-identity", identity, "--certificate-oidc-issuer", issuer)
    assert result.code == 0, result.stderr
    wrong = run_cli("verify-blob", target, "--bundle", base / bundle, "--trusted-root", root,
                    "--certificate-identity", "someone@else.example", "--certificate-oidc-issuer", issuer)
    assert wrong.code == 1 and "identity:" in wrong.stderr


@pytest.mark.parametrize("bundle,artifact,root,reason", [
    ("bundle_cve_2022_36056.txt.sigstore", "bundle_cve_2022_36056.txt", STAGING_ROOT,
     "tlog-entry: the log entry records a different signature"),
    ("bundle_invalid_version.txt.sigstore", "bundle_invalid_version.txt", STAGING_ROOT,
     "unsupported bundle mediaType 'this is completely wrong'"),
    ("bundle_no_cert_v1.txt.sigstore", "bundle_no_cert_v1.txt", STAGING_ROOT, "the certificate chain is empty"),
    ("bundle_no_checkpoint.txt.sigstore", "bundle_no_checkpoint.txt", STAGING_ROOT,
     "no inclusion proof with a checkpoint"),
    ("bundle_no_log_entry.txt.sigstore", "bundle_no_log_entry.txt", STAGING_ROOT,
     "tlog: the signature has no transparency log entry"),
    ("bundle_v3_no_signed_time.txt.sigstore.json", "bundle_v3_no_signed_time.txt", PRODUCTION_ROOT,
     "timestamp: no verified signing time"),
    ("bundle.txt.sigstore", "bundle.txt", PRODUCTION_ROOT, "is from a log not in the trusted root"),
    ("bundle_v3_github.whl.sigstore", "bundle.txt", PRODUCTION_ROOT, "different artifact digest"),
])
def test_broken_bundle_fails_for_the_right_reason(bundle, artifact, root, reason):
    base = shared(SIGSTORE_PYTHON)
    result = run_cli("verify-blob", base / artifact, "--bundle", base / bundle, "--trusted-root", shared(root), *ANY)
    assert result.code == 1, result.stderr
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_too_many_timestamps_refused():
    base = shared(SIGSTORE_PYTHON / "tsa")
    result = run_cli("verify-blob", base / "bundle.txt", "--bundle", base / "bundle.many_timestamp.sigstore",
                     "--trusted-root", base / "trust_config.json", *ANY)
    assert result.code == 1 and "33 RFC 3161 timestamps, more than the 32 accepted" in result.stderr


def test_tsa_bundle_with_timestamp_before_tsa_certificate():
    """tsa/bundle.txt's timestamps (2024-10-31) predate its TSA certificate (from 2024-11-07)."""
    base = shared(SIGSTORE_PYTHON / "tsa")
    result = run_cli("verify-blob", base / "bundle.txt", "--bundle", base / "bundle.txt.sigstore",
                     "--trusted-root", base / "trust_config.json", *ANY)
    assert result.code == 1 and "timestamp: the RFC 3161 timestamp does not verify" in result.stderr


@pytest.mark.parametrize("leaf,reason", [
    ("bogus-leaf.pem", None),
    ("bogus-leaf-invalid-eku.pem", "the leaf certificate's EKU does not allow code signing"),
    ("bogus-leaf-invalid-ku.pem", "the leaf certificate's key usage does not allow digital signatures"),
    ("bogus-leaf-missing-eku.pem", "the leaf certificate has no extended key usage"),
])
def test_bogus_x509_leaves(leaf, reason):
    """sigstore-python's bogus chain, with its root as the only trusted CA: each bad leaf fails for its flaw."""
    import base64
    import json

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from airlock.errors import VerificationError
    from airlock.trust import TrustedRoot
    from airlock.verify import checks

    base = shared(SIGSTORE_PYTHON / "x509")
    root_cert = x509.load_pem_x509_certificate((base / "bogus-root.pem").read_bytes())
    der = base64.b64encode(root_cert.public_bytes(Encoding.DER)).decode()
    root = TrustedRoot.from_json(json.dumps({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "certificateAuthorities": [{
            "certChain": {"certificates": [{"rawBytes": der}]},
            "validFor": {"start": "2000-01-01T00:00:00Z"}}],
    }))
    cert = x509.load_pem_x509_certificate((base / leaf).read_bytes())
    if reason is None:
        assert checks.check_certificate(cert, cert.not_valid_before_utc, root) == root_cert
        return
    with pytest.raises(VerificationError) as error:
        checks.check_certificate(cert, cert.not_valid_before_utc, root)
    assert error.value.check == "certificate-chain" and reason in error.value.reason
