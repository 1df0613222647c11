"""The real Sigstore instance on loopback (tests/sigstore_local.py) is real and usable.

Fulcio, the CT log (TesseraCT), Rekor v2 (rekor-tiles) and the timestamp authority are the
published servers, started on 127.0.0.1 beside a small OIDC provider written in the tests. What is
proven here: Fulcio accepts the provider's tokens (email and GitHub-workflow identities), with an
SCT from the CT log in the certificate, and refuses a token signed by a key the provider does not
publish; ``airlock trusted-root create`` describes the instance as
``cosign trusted-root create`` does; the real cosign keyless-signs a blob against it, and airlock
verifies that bundle offline (``unshare --net``) and refuses a tampered blob.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import one_line_error, run_process
from peers import peer
from sigstore_local import (
    CI_IDENTITY,
    EMAIL,
    LocalSigstore,
    MetricsPortBusy,
    local_sigstore,
    missing,
    note_key_id,
)

OIDC_ISSUER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")  # embedded SCT list (RFC 6962 3.3)


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> LocalSigstore:
    """Module-scoped, not session-scoped: the TSA holds port 2112 (hard-coded) while it runs, and
    parallel test runs on the machine each need it for a moment."""
    if absent := missing():
        pytest.skip("needs the Sigstore servers: " + "; ".join(absent))
    try:
        running = local_sigstore(tmp_path_factory.mktemp("sigstore-local"))
        started = running.__enter__()
    except MetricsPortBusy as exc:
        pytest.skip(str(exc))
    try:
        yield started
    finally:
        running.__exit__(None, None, None)
    # nothing left behind: every server process has exited and its port is closed
    assert [server.name for server in started.servers if server.process.poll() is None] == []
    for url in (started.fulcio_url, started.rekor_url, started.tsa_url, started.oidc.base, started.ctlog_url):
        if url is None:
            continue
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=2)


@pytest.fixture(scope="module")
def trusted_root(instance, tmp_path_factory):
    out = tmp_path_factory.mktemp("sigstore-local-root") / "trusted_root.json"
    result = run_process(*instance.airlock_trusted_root_argv(out))
    assert result.code == 0, result.stderr
    return out


def request_certificate(instance: LocalSigstore, token: str, challenge: str) -> tuple[int, dict]:
    """POST /api/v2/signingCert with a fresh P-256 key and its proof of possession of ``challenge``."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = {"credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem.decode()},
                                 "proofOfPossession": base64.b64encode(
                                     key.sign(challenge.encode(), ec.ECDSA(hashes.SHA256()))).decode()}}
    request = urllib.request.Request(f"{instance.fulcio_url}/api/v2/signingCert", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def issued_chain(answer: dict) -> list[x509.Certificate]:
    signed = answer.get("signedCertificateEmbeddedSct") or answer["signedCertificateDetachedSct"]
    return [x509.load_pem_x509_certificate(pem.encode()) for pem in signed["chain"]["certificates"]]


def check_issued_by_instance(instance: LocalSigstore, chain: list[x509.Certificate]) -> x509.Certificate:
    """The leaf is signed by the CA that Fulcio's trust bundle publishes."""
    roots = x509.load_pem_x509_certificates(instance.fulcio_chain_pem())
    leaf, issuer = chain[0], chain[1] if len(chain) > 1 else chain[0]
    der = serialization.Encoding.DER
    assert issuer.public_bytes(der) in {root.public_bytes(der) for root in roots}
    leaf.verify_directly_issued_by(issuer)
    return leaf


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_fulcio_issues_a_certificate_for_the_email_identity(instance, trusted_root, alg):
    status, answer = request_certificate(instance, instance.oidc.token("email", alg=alg), EMAIL)
    assert status == 200, answer
    leaf = check_issued_by_instance(instance, issued_chain(answer))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == [EMAIL]
    issuer = leaf.extensions.get_extension_for_oid(OIDC_ISSUER_OID).value.value
    assert instance.oidc.email_issuer.encode() in issuer
    if instance.ctlog_url is None:  # no CT log: no SCT
        assert not any(ext.oid == SCT_OID for ext in leaf.extensions)
    else:  # one SCT, from the CT log, over the precertificate (checked as a verifier checks it)
        from airlock.trust.trusted_root import TrustedRoot
        from airlock.verify.checks import check_sct

        scts = list(leaf.extensions.get_extension_for_oid(SCT_OID).value)
        ct_key = serialization.load_pem_public_key(instance.ctlog_public_pem or b"")
        assert [sct.log_id for sct in scts] == [hashlib.sha256(ct_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()]
        check_sct(leaf, issued_chain(answer)[1], TrustedRoot.from_file(trusted_root))


def test_fulcio_issues_a_certificate_for_the_github_workflow_identity(instance):
    token = instance.oidc.token("ci")
    status, answer = request_certificate(instance, token, instance.oidc.claims("ci")["sub"])
    assert status == 200, answer
    leaf = check_issued_by_instance(instance, issued_chain(answer))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [CI_IDENTITY]


def test_fulcio_refuses_a_token_signed_by_an_unpublished_key(instance):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, answer = request_certificate(instance, instance.oidc.token("email", key=stranger), EMAIL)
    assert (status, answer["message"]) == (400, "There was an error processing the identity token"), answer


def test_fulcio_refuses_a_token_for_another_audience(instance):
    status, answer = request_certificate(instance, instance.oidc.token("email", aud="someone-else"), EMAIL)
    assert (status, answer["message"]) == (400, "There was an error processing the identity token"), answer


@pytest.fixture(scope="module")
def cosign_root(instance, tmp_path_factory):
    out = tmp_path_factory.mktemp("sigstore-local-cosign-root") / "trusted_root.json"
    instance.cosign_trusted_root(peer("cosign"), out)
    return out


def test_airlock_and_cosign_describe_the_instance_alike(instance, trusted_root, cosign_root):
    """Same certificates, same Rekor v2 key and log ID (the signed-note key ID of the origin: cosign
    needs ``origin=`` for that, else it takes SHA-256 of the key and cannot match the log's entries)."""
    ours, theirs = json.loads(trusted_root.read_text()), json.loads(cosign_root.read_text())

    def certs(doc, kind):
        return [[c["rawBytes"] for c in a["certChain"]["certificates"]] for a in doc[kind]]

    assert certs(ours, "certificateAuthorities") == certs(theirs, "certificateAuthorities") != []
    assert certs(ours, "timestampAuthorities") == certs(theirs, "timestampAuthorities") != []
    assert [(t["publicKey"]["rawBytes"], t["publicKey"]["keyDetails"], t["logId"]["keyId"]) for t in ours["tlogs"]] \
        == [(t["publicKey"]["rawBytes"], t["publicKey"]["keyDetails"], t["logId"]["keyId"]) for t in theirs["tlogs"]]
    assert ours["tlogs"][0]["logId"]["keyId"] == base64.b64encode(
        note_key_id(instance.rekor_origin, instance.rekor_public_pem, full=True)).decode()
    logs = [[(t["publicKey"]["rawBytes"], t["publicKey"]["keyDetails"], t["logId"]["keyId"])
             for t in doc.get("ctlogs", [])] for doc in (ours, theirs)]
    assert logs[0] == logs[1]
    assert len(logs[0]) == (1 if instance.ctlog_url else 0)


def cosign_sign_blob(instance: LocalSigstore, trusted_root, work, token: str):
    """The real cosign keyless-signs a fresh blob in ``work`` (signing config: Rekor v2, TSA)."""
    cosign = peer("cosign")
    signing_config = work / "signing_config.json"
    instance.signing_config(cosign, signing_config)
    blob, bundle = work / "artifact.txt", work / "artifact.sigstore.json"
    blob.write_bytes(b"signed keyless against a local Sigstore\n")
    proc = subprocess.run(
        [cosign, "sign-blob", blob, "--identity-token", token, "--signing-config", signing_config,
         "--trusted-root", trusted_root, "--bundle", bundle, "--yes"],
        capture_output=True, text=True, timeout=120, env={"HOME": str(work), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return blob, bundle


@pytest.fixture(scope="module")
def cosign_signed_blob(instance, trusted_root, tmp_path_factory):
    return cosign_sign_blob(instance, trusted_root, tmp_path_factory.mktemp("cosign-keyless"),
                            instance.oidc.token("email"))


def test_cosign_keyless_bundle_uses_the_instance(instance, cosign_signed_blob):
    _, bundle = cosign_signed_blob
    document = json.loads(bundle.read_text())
    material = document["verificationMaterial"]
    entry = material["tlogEntries"][0]
    assert entry["kindVersion"]["version"] == "0.0.2"  # a Rekor v2 entry
    assert "logIndex" not in entry  # the log's first entry: protojson leaves out an int64 0
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith(instance.rekor_origin + "\n")
    assert material["timestampVerificationData"]["rfc3161Timestamps"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name) == [EMAIL]


def test_airlock_verifies_cosign_keyless_blob_offline(instance, trusted_root, cosign_signed_blob):
    blob, bundle = cosign_signed_blob
    result = run_process("verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root,
                         "--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer,
                         *instance.sct_flags, net=False)
    assert result.code == 0, result.stderr
    assert "Verified OK" in result.stdout + result.stderr


def test_airlock_verifies_with_cosigns_trusted_root_too(instance, cosign_root, cosign_signed_blob):
    blob, bundle = cosign_signed_blob
    result = run_process("verify-blob", blob, "--bundle", bundle, "--trusted-root", cosign_root,
                         "--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer,
                         *instance.sct_flags, net=False)
    assert result.code == 0, result.stderr


def test_cosign_verifies_its_bundle_with_airlocks_trusted_root(instance, trusted_root, cosign_signed_blob):
    blob, bundle = cosign_signed_blob
    proc = subprocess.run(
        [peer("cosign"), "verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root,
         "--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer,
         *instance.sct_flags], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "Verified OK" in proc.stderr


def test_airlock_refuses_a_tampered_blob(instance, trusted_root, cosign_signed_blob, tmp_path):
    blob, bundle = cosign_signed_blob
    tampered = tmp_path / "artifact.txt"
    tampered.write_bytes(blob.read_bytes() + b"!")
    result = run_process("verify-blob", tampered, "--bundle", bundle, "--trusted-root", trusted_root,
                         "--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer,
                         *instance.sct_flags, net=False)
    assert "digest" in one_line_error(result).lower()


def test_airlock_refuses_the_wrong_identity(instance, trusted_root, cosign_signed_blob):
    blob, bundle = cosign_signed_blob
    result = run_process("verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root,
                         "--certificate-identity", "mallory@airlock.test",
                         "--certificate-oidc-issuer", instance.oidc.email_issuer, *instance.sct_flags, net=False)
    assert "mallory@airlock.test" in one_line_error(result)


def test_rekor_checkpoint_is_served_from_storage_and_signed_by_the_log_key(instance, cosign_signed_blob):
    """rekor-tiles' read API answers Unimplemented; its POSIX storage, served statically, is the
    read side. The checkpoint is a signed note for the origin, under the key in the trusted root."""
    with urllib.request.urlopen(f"{instance.rekor_read_url}/checkpoint", timeout=10) as response:
        note = response.read().decode()
    body, _, signatures = note.partition("\n\n")
    origin, size = body.split("\n")[:2]
    assert (origin, int(size) >= 1) == (instance.rekor_origin, True)
    line = next(s for s in signatures.splitlines() if s.startswith(f"\u2014 {instance.rekor_origin} "))
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert blob[:4] == note_key_id(instance.rekor_origin, instance.rekor_public_pem)
    key = serialization.load_pem_public_key(instance.rekor_public_pem)
    assert isinstance(key, ed25519.Ed25519PublicKey)
    key.verify(blob[4:], (body + "\n").encode())


def test_airlock_verifies_a_github_workflow_identity_from_the_instance(instance, trusted_root, tmp_path):
    blob, bundle = cosign_sign_blob(instance, trusted_root, tmp_path, instance.oidc.token("ci"))
    pinned = ["verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root, *instance.sct_flags,
              "--certificate-identity", CI_IDENTITY, "--certificate-oidc-issuer", instance.oidc.ci_issuer,
              "--certificate-github-workflow-trigger", "push", "--certificate-github-workflow-sha", "a" * 40]
    result = run_process(*pinned, "--certificate-github-workflow-repository", "airlock-test/app", net=False)
    assert result.code == 0, result.stderr
    refused = run_process(*pinned, "--certificate-github-workflow-repository", "airlock-test/other", net=False)
    assert one_line_error(refused) == ("Error: identity: certificate GitHub workflow repository 'airlock-test/app' "
                                       "does not match 'airlock-test/other'")


def test_a_second_instance_waits_for_port_2112_then_gives_up_cleanly(instance, tmp_path, monkeypatch):
    """The running instance's TSA holds :2112; a second one waits (bounded) and then says why,
    leaving no server behind."""
    import sigstore_local

    monkeypatch.setattr(sigstore_local, "METRICS_PORT_WAIT", 1.0)
    with pytest.raises(MetricsPortBusy, match="port 2112 stayed taken"), local_sigstore(tmp_path / "second"):
        pass
    assert "bind: address already in use" in (tmp_path / "second" / "timestamp-server.log").read_text()
    assert not (tmp_path / "second" / "fulcio.log").exists()  # nothing else was started
