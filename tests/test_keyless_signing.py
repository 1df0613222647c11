"""airlock signs keyless against a real Sigstore instance on loopback (tests/sigstore_local.py):
Fulcio v1.8.8, a CT log (TesseraCT v0.1.1), Rekor v2 (rekor-tiles v2.3.0), the timestamp authority
v2.1.3 and a small OIDC provider. What airlock makes verifies with airlock (offline, ``unshare
--net``), with the real cosign and with sigstore-go's conformance client, the SCT checked by all
three; every server failure is one ``Error:`` line and leaves nothing behind (no bundle file, no
referrer in the registry). Without the CT log's binary the instance runs without SCTs: the
verifiers then get ``--insecure-ignore-sct`` (``instance.sct_flags``) and the SCT tests skip.

The hostile servers (a Fulcio answering for another key or another identity, a Rekor answering
with a broken proof or another entry, a TSA failing) are small fakes or proxies in front of the
real servers: the only way to make the real ones misbehave.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import after_verification_header, airlock_exe, one_line_error, run_cli, run_process
from peers import PEERS, peer
from sigstore_local import (
    CI_IDENTITY,
    CI_REPOSITORY,
    EMAIL,
    LocalSigstore,
    MetricsPortBusy,
    ctlog_missing,
    free_port,
    local_sigstore,
    missing,
)

CONFORMANCE = PEERS / "sigstore-go" / "conformance"
BLOB = b"released keyless from airlock\n"
SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")  # embedded SCT list (RFC 6962 3.3)


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> LocalSigstore:
    """The instance, for this module (as in test_sigstore_local: the TSA holds port 2112 while it runs)."""
    if absent := missing():
        pytest.skip("needs the Sigstore servers: " + "; ".join(absent))
    try:
        running = local_sigstore(tmp_path_factory.mktemp("sigstore-keyless"))
        started = running.__enter__()
    except MetricsPortBusy as exc:
        pytest.skip(str(exc))
    try:
        yield started
    finally:
        running.__exit__(None, None, None)


@pytest.fixture(scope="module")
def trusted_root(instance, tmp_path_factory) -> Path:
    """The instance's trusted_root.json, made by ``airlock trusted-root create``."""
    out = tmp_path_factory.mktemp("sigstore-keyless-root") / "trusted_root.json"
    result = run_process(*instance.airlock_trusted_root_argv(out))
    assert result.code == 0, result.stderr
    return out


# -- helpers ---------------------------------------------------------------------------------------------

def keyless_argv(instance: LocalSigstore, trusted_root: Path, token: str, *, fulcio: str | None = None,
                 rekor: str | None = None, tsa: str | None = None) -> list:
    return ["--identity-token", token, "--fulcio-url", fulcio or instance.fulcio_url,
            "--rekor-url", rekor or instance.rekor_url,
            "--timestamp-server-url", tsa or instance.tsa_timestamp_url, "--trusted-root", trusted_root, "--yes"]


def sign_blob(instance, trusted_root, tmp_path, token=None, **urls):
    blob, bundle = tmp_path / "artifact.txt", tmp_path / "artifact.sigstore.json"
    blob.write_bytes(BLOB)
    result = run_cli("sign-blob", blob, "--bundle", bundle,
                     *keyless_argv(instance, trusted_root, token or instance.oidc.token("email"), **urls))
    return result, blob, bundle


def airlock_verify_blob(instance, trusted_root, blob, bundle, identity=EMAIL, issuer=None, *extra):
    return run_process("verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root, *instance.sct_flags,
                       "--certificate-identity", identity,
                       "--certificate-oidc-issuer", issuer or instance.oidc.email_issuer, *extra, net=False)


def cosign_run(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([str(peer("cosign")), *map(str, argv)], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "SIGSTORE_NO_CACHE": "true"})


def leaf_of(bundle: Path) -> x509.Certificate:
    document = json.loads(bundle.read_text())
    return x509.load_der_x509_certificate(base64.b64decode(document["verificationMaterial"]["certificate"]["rawBytes"]))


class FakeServer:
    """An HTTP server on 127.0.0.1 whose POST answer ``answer(path, body) -> (status, bytes)`` decides."""

    def __init__(self, answer: Callable[[str, bytes], tuple[int, bytes]]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, data = answer(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def forward(url: str, body: bytes) -> dict:
    """POST ``body`` (JSON) to the real server; its JSON answer."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def rekor_proxy(instance: LocalSigstore, mutate: Callable[[dict], dict]) -> FakeServer:
    """A Rekor in front of the real one that changes the entry it answers with."""
    def answer(path: str, body: bytes) -> tuple[int, bytes]:
        return 201, json.dumps(mutate(forward(instance.rekor_url + path, body))).encode()

    return FakeServer(answer)


# -- signing a blob ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed_blob(instance, trusted_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keyless-blob")
    result, blob, bundle = sign_blob(instance, trusted_root, tmp)
    assert result.code == 0, result.stderr
    return blob, bundle


def test_keyless_blob_bundle_is_a_v03_bundle_from_the_instance(instance, signed_blob):
    _, bundle = signed_blob
    document = json.loads(bundle.read_text())
    assert document["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    material = document["verificationMaterial"]
    entry = material["tlogEntries"][0]
    assert (entry["kindVersion"]["kind"], entry["kindVersion"]["version"]) == ("hashedrekord", "0.0.2")
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith(instance.rekor_origin + "\n")
    assert len(material["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    assert base64.b64decode(document["messageSignature"]["messageDigest"]["digest"]) == hashlib.sha256(BLOB).digest()
    leaf = leaf_of(bundle)
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name) == [EMAIL]
    assert os.stat(bundle).st_mode & 0o777 == 0o600


def test_airlock_verifies_its_keyless_blob_offline(instance, trusted_root, signed_blob):
    blob, bundle = signed_blob
    result = airlock_verify_blob(instance, trusted_root, blob, bundle)
    assert result.code == 0, result.stderr
    assert "Verified OK" in result.stderr
    refused = airlock_verify_blob(instance, trusted_root, blob, bundle, "mallory@airlock.test")
    assert "mallory@airlock.test" in one_line_error(refused)


def test_cosign_verifies_airlocks_keyless_blob(instance, trusted_root, signed_blob):
    blob, bundle = signed_blob
    proc = cosign_run("verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root, *instance.sct_flags,
                      "--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer)
    assert proc.returncode == 0, proc.stderr
    assert "Verified OK" in proc.stderr
    other = cosign_run("verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root, *instance.sct_flags,
                       "--certificate-identity", "mallory@airlock.test",
                       "--certificate-oidc-issuer", instance.oidc.email_issuer)
    assert other.returncode != 0


def needs_ctlog(instance: LocalSigstore) -> None:
    if instance.ctlog_url is None:
        pytest.skip("needs the instance's CT log (certificates with an SCT): " + str(ctlog_missing()))


def sigstore_go_verify(trusted_root: Path, blob: Path, bundle: Path, issuer: str) -> subprocess.CompletedProcess:
    if not os.access(CONFORMANCE, os.X_OK):
        pytest.skip(f"needs sigstore-go's conformance client at {CONFORMANCE} (./run-tests builds it)")
    return subprocess.run([str(CONFORMANCE), "verify-bundle", "--bundle", str(bundle), "--certificate-identity", EMAIL,
                           "--certificate-oidc-issuer", issuer, "--trusted-root", str(trusted_root), str(blob)],
                          capture_output=True, text=True, timeout=60)


def test_sigstore_go_verifies_airlocks_keyless_blob(instance, trusted_root, signed_blob, tmp_path):
    """sigstore-go requires an SCT from a CT log of the trusted root (it has no flag to skip that):
    with the instance's CT log it verifies airlock's bundle, and without the log in the root it
    refuses the same bundle."""
    needs_ctlog(instance)
    blob, bundle = signed_blob
    proc = sigstore_go_verify(trusted_root, blob, bundle, instance.oidc.email_issuer)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    document = json.loads(trusted_root.read_text())
    document["ctlogs"] = []
    without = tmp_path / "trusted_root.json"
    without.write_text(json.dumps(document))
    proc = sigstore_go_verify(without, blob, bundle, instance.oidc.email_issuer)
    assert proc.returncode != 0
    assert "SCT" in proc.stderr + proc.stdout, proc.stderr + proc.stdout


# -- the SCT from the instance's CT log ---------------------------------------------------------------------

def ctlog_key_id(instance: LocalSigstore) -> bytes:
    """The CT log's ID (RFC 6962): SHA-256 of its DER public key."""
    key = serialization.load_pem_public_key(instance.ctlog_public_pem or b"")
    return hashlib.sha256(key.public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def test_the_keyless_certificate_carries_the_ct_logs_sct(instance, trusted_root, signed_blob):
    """Fulcio put one SCT in the certificate, from the instance's CT log (the log the trusted root
    lists), and verification checks it: no --insecure-ignore-sct anywhere."""
    import airlock

    needs_ctlog(instance)
    assert instance.sct_flags == []
    blob, bundle = signed_blob
    scts = list(leaf_of(bundle).extensions.get_extension_for_oid(SCT_OID).value)
    assert [sct.log_id for sct in scts] == [ctlog_key_id(instance)]
    ctlogs = json.loads(trusted_root.read_text())["ctlogs"]
    assert [(log["baseUrl"], base64.b64decode(log["logId"]["keyId"])) for log in ctlogs] == \
        [(instance.ctlog_url, ctlog_key_id(instance))]
    verdict = airlock.verify_blob(blob.read_bytes(), bundle.read_bytes(),
                                  trusted_root=airlock.TrustedRoot.from_file(trusted_root),
                                  policy=airlock.Identity(identity=EMAIL, issuer=instance.oidc.email_issuer))
    assert verdict.ok, verdict.failure
    assert "sct" in [check for check, _ in verdict.checks]


def _other_ct_key(document: dict, *, keep_log_id: bool) -> dict:
    """The trusted root with its CT log's key swapped for a fresh P-256 key, under that key's own
    log ID (an unknown log) or under the real log's ID (the SCT does not verify)."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    log = document["ctlogs"][0]
    log["publicKey"]["rawBytes"] = base64.b64encode(key).decode()
    if not keep_log_id:
        log["logId"]["keyId"] = base64.b64encode(hashlib.sha256(key).digest()).decode()
    return document


def _log_ended_before_the_sct(document: dict) -> dict:
    start = datetime.fromisoformat(document["ctlogs"][0]["publicKey"]["validFor"]["start"].replace("Z", "+00:00"))
    document["ctlogs"][0]["publicKey"]["validFor"]["end"] = (start + timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return document


@pytest.mark.parametrize(("change", "error"), [
    (functools.partial(_other_ct_key, keep_log_id=False), "no embedded SCT is from a CT log in the trusted root"),
    (functools.partial(_other_ct_key, keep_log_id=True), "no embedded SCT verifies with a trusted CT log key"),
    (_log_ended_before_the_sct, "no embedded SCT verifies with a trusted CT log key"),
], ids=["unknown-log", "another-key-under-the-log-id", "log-no-longer-valid"])
def test_an_sct_the_trusted_root_does_not_vouch_for_is_refused(instance, trusted_root, signed_blob, tmp_path,
                                                                change, error):
    """The real SCT against a trusted root whose CT log is another, whose key is another, or whose
    validity ended before the SCT: airlock refuses, naming the sct check (and passes the same
    bundle only when told --insecure-ignore-sct); cosign refuses each too."""
    needs_ctlog(instance)
    blob, bundle = signed_blob
    other = tmp_path / "trusted_root.json"
    other.write_text(json.dumps(change(json.loads(trusted_root.read_text()))))
    refused = airlock_verify_blob(instance, other, blob, bundle)
    assert one_line_error(refused) == f"Error: sct: {error}"
    ignored = airlock_verify_blob(instance, other, blob, bundle, EMAIL, None, "--insecure-ignore-sct")
    assert ignored.code == 0, ignored.stderr
    theirs = cosign_run("verify-blob", blob, "--bundle", bundle, "--trusted-root", other,
                        "--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer)
    assert theirs.returncode != 0
    assert "SCT" in theirs.stderr, theirs.stderr


def test_signing_refuses_a_certificate_whose_sct_the_trusted_root_does_not_vouch_for(instance, trusted_root,
                                                                                     tmp_path):
    """The real Fulcio's certificate, SCT and all, checked at signing against a trusted root that
    lists another CT log: refused before anything is logged or written."""
    needs_ctlog(instance)
    other = tmp_path / "trusted_root.json"
    other.write_text(json.dumps(_other_ct_key(json.loads(trusted_root.read_text()), keep_log_id=False)))
    result, _, bundle = sign_blob(instance, other, tmp_path)
    assert one_line_error(result) == ("Error: the certificate from Fulcio is not usable: sct: no embedded SCT is from "
                                      "a CT log in the trusted root")
    assert not bundle.exists()


def test_keyless_sign_blob_with_a_signing_config_and_the_ci_identity(instance, trusted_root, tmp_path):
    """URLs from a SigningConfig v0.2 (made by cosign); the GitHub workflow claims are in the
    certificate, and airlock and cosign both pin them."""
    config = tmp_path / "signing_config.json"
    instance.signing_config(peer("cosign"), config)
    blob, bundle = tmp_path / "artifact.txt", tmp_path / "artifact.sigstore.json"
    blob.write_bytes(BLOB)
    token = tmp_path / "token"  # --identity-token also takes a file, as cosign's does
    token.write_text(instance.oidc.token("ci") + "\n")
    result = run_cli("sign-blob", blob, "--bundle", bundle, "--identity-token", token,
                     "--signing-config", config, "--trusted-root", trusted_root, "--yes")
    assert result.code == 0, result.stderr
    pinned = ["--certificate-github-workflow-repository", CI_REPOSITORY, "--certificate-github-workflow-trigger",
              "push", "--certificate-github-workflow-sha", "a" * 40]
    ours = airlock_verify_blob(instance, trusted_root, blob, bundle, CI_IDENTITY, instance.oidc.ci_issuer, *pinned)
    assert ours.code == 0, ours.stderr
    theirs = cosign_run("verify-blob", blob, "--bundle", bundle, "--trusted-root", trusted_root, *instance.sct_flags,
                        "--certificate-identity", CI_IDENTITY, "--certificate-oidc-issuer", instance.oidc.ci_issuer,
                        *pinned)
    assert theirs.returncode == 0, theirs.stderr
    wrong = airlock_verify_blob(instance, trusted_root, blob, bundle, CI_IDENTITY, instance.oidc.ci_issuer,
                                "--certificate-github-workflow-repository", "airlock-test/other")
    assert "airlock-test/other" in one_line_error(wrong)


def test_the_token_from_the_environment_and_the_output_files(instance, trusted_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", instance.oidc.token("email"))
    blob, bundle, sig = tmp_path / "a.txt", tmp_path / "a.json", tmp_path / "a.sig"
    blob.write_bytes(BLOB)
    result = run_cli("sign-blob", blob, "--bundle", bundle, "--output-signature", sig, "--fulcio-url",
                     instance.fulcio_url, "--rekor-url", instance.rekor_url, "--timestamp-server-url",
                     instance.tsa_timestamp_url, "--trusted-root", trusted_root, "--yes")
    assert result.code == 0, result.stderr
    leaf = leaf_of(bundle)
    leaf.public_key().verify(base64.b64decode(sig.read_text()), BLOB, ec.ECDSA(hashes.SHA256()))


def test_the_python_api_signs_the_same(instance, trusted_root):
    import airlock

    root = airlock.TrustedRoot.from_file(trusted_root)
    signer = airlock.keyless_signer(root, identity_token=instance.oidc.token("email"), fulcio_url=instance.fulcio_url,
                                    rekor_url=instance.rekor_url, timestamp_server_url=instance.tsa_timestamp_url)
    first, second = airlock.sign_blob_keyless(b"one", signer), airlock.sign_blob_keyless(b"two", signer)
    policy = airlock.Identity(identity=EMAIL, issuer=instance.oidc.email_issuer)
    options = airlock.VerificationOptions(insecure_ignore_sct=instance.ctlog_url is None)
    assert airlock.verify_blob(b"one", first, policy=policy, trusted_root=root, options=options).ok
    assert airlock.verify_blob(b"two", second, policy=policy, trusted_root=root, options=options).ok
    assert not airlock.verify_blob(b"two", first, policy=policy, trusted_root=root, options=options).ok
    # one session, one certificate: both signatures carry it, with two log entries
    assert json.loads(first)["verificationMaterial"]["certificate"] == \
        json.loads(second)["verificationMaterial"]["certificate"]


# -- images and attestations -----------------------------------------------------------------------------

@pytest.fixture()
def image(registry, tmp_path, request) -> str:
    """A fresh image pushed by crane: ``repository@digest``."""
    crane = peer("crane")
    data = request.node.name.encode()
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("test.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / "layer.tar").write_bytes(layer.getvalue())
    repository = f"{registry}/keyless/{hashlib.sha256(data).hexdigest()[:12]}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([str(crane), "append", "-f", str(tmp_path / "layer.tar"), "-t", f"{repository}:v1", "--insecure"],
                   check=True, capture_output=True, env=env, timeout=60)
    digest = subprocess.run([str(crane), "digest", f"{repository}:v1", "--insecure"], check=True, capture_output=True,
                            text=True, env=env, timeout=60).stdout.strip()
    return f"{repository}@{digest}"


def referrers(image: str) -> list:
    """The referrers of an image, from the tag fallback (Debian's registry has no referrers API)."""
    repository, digest = image.split("@")
    host, name = repository.split("/", 1)
    tag = digest.replace(":", "-")
    request = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{tag}",
                                     headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read()).get("manifests", [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def test_keyless_sign_image_then_airlock_and_cosign_verify(instance, trusted_root, image, tmp_path):
    bundle, certificate = tmp_path / "checkout.bundle", tmp_path / "cert.pem"
    result = run_cli("sign", "--bundle", bundle, "--output-certificate", certificate, "--allow-insecure-registry",
                     image, *keyless_argv(instance, trusted_root, instance.oidc.token("email")))
    assert result.code == 0, result.stderr
    assert "keyless: bundle referrer sha256:" in result.stderr
    assert x509.load_pem_x509_certificate(certificate.read_bytes()) == leaf_of(bundle)
    assert [m["artifactType"] for m in referrers(image)] == ["application/vnd.dev.sigstore.bundle.v0.3+json"]
    pinned = ["--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer,
              "--trusted-root", trusted_root, *instance.sct_flags]
    ours = run_cli("verify", "--allow-insecure-registry", *pinned, image)
    assert ours.code == 0, ours.stderr
    from_file = run_cli("verify", "--allow-insecure-registry", "--bundle", bundle, *pinned, image)
    assert from_file.code == 0, from_file.stderr
    theirs = cosign_run("verify", "--allow-http-registry", *pinned, image)
    assert theirs.returncode == 0, theirs.stderr
    other = run_cli("verify", "--allow-insecure-registry", "--certificate-identity", "mallory@airlock.test",
                    *pinned[2:], image)
    assert other.code != 0


def test_keyless_attest_then_airlock_and_cosign_verify(instance, trusted_root, image, tmp_path):
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"builder": {"id": "https://ci.example/builder"}, "buildType": "x"}))
    result = run_cli("attest", "--predicate", predicate, "--type", "slsaprovenance", "--allow-insecure-registry",
                     image, *keyless_argv(instance, trusted_root, instance.oidc.token("ci")))
    assert result.code == 0, result.stderr
    pinned = ["--certificate-identity", CI_IDENTITY, "--certificate-oidc-issuer", instance.oidc.ci_issuer,
              "--certificate-github-workflow-repository", CI_REPOSITORY, "--trusted-root", trusted_root,
              *instance.sct_flags, "--type", "slsaprovenance"]
    ours = run_cli("verify-attestation", "--allow-insecure-registry", *pinned, image)
    assert ours.code == 0, ours.stderr
    theirs = cosign_run("verify-attestation", "--allow-http-registry", *pinned, image)
    assert theirs.returncode == 0, theirs.stderr
    # stderr carries cosign's lines: a blank line, the header, the checks (cosign v3.1.2 prints no
    # certificate claims for a bundle: it keeps only its payload)
    assert after_verification_header(ours.stderr) == after_verification_header(theirs.stderr)
    assert after_verification_header(ours.stderr)[-1] == ("  - The code-signing certificate was verified using "
                                                          "trusted certificate authority certificates")


# -- refusals before anything is sent --------------------------------------------------------------------

def test_an_expired_token_is_refused_before_fulcio(instance, trusted_root, tmp_path):
    expired = instance.oidc.token("email", exp=int(time.time()) - 60)
    result, _, bundle = sign_blob(instance, trusted_root, tmp_path, expired, fulcio=f"http://127.0.0.1:{free_port()}")
    assert one_line_error(result).startswith("Error: the identity token expired at ")
    assert not bundle.exists()


def test_without_yes_and_no_answer_nothing_is_signed(instance, trusted_root, tmp_path):
    blob, bundle = tmp_path / "a.txt", tmp_path / "a.json"
    blob.write_bytes(BLOB)
    argv = keyless_argv(instance, trusted_root, instance.oidc.token("email"))
    argv.remove("--yes")
    proc = subprocess.run([*airlock_exe(), "sign-blob", str(blob), "--bundle", str(bundle),
                           *map(str, argv)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "Are you sure you would like to continue? [y/N]" in proc.stderr
    assert proc.stderr.rstrip().endswith("Error: not confirmed (pass --yes to sign without the question): "
                                         "nothing was signed")
    assert not bundle.exists()


def test_keyless_without_the_log_is_refused(tmp_path):
    result = run_cli("sign-blob", tmp_path / "a.txt", "--bundle", tmp_path / "a.json", "--tlog-upload=false",
                     "--identity-token", "x.y.z")
    assert (result.code, one_line_error(result)) == (2, (
        "Error: --tlog-upload=false: keyless signing needs the transparency log (its entry is what makes a "
        "short-lived certificate verifiable); sign with --key to sign without Rekor"))
    assert list(tmp_path.iterdir()) == []


def test_legacy_format_is_refused_for_keyless(instance, trusted_root, tmp_path):
    blob, bundle = tmp_path / "a.txt", tmp_path / "a.json"
    blob.write_bytes(BLOB)
    result = run_cli("sign-blob", blob, "--bundle", bundle, "--new-bundle-format=false",
                     *keyless_argv(instance, trusted_root, instance.oidc.token("email")))
    assert one_line_error(result) == ("Error: --new-bundle-format=false: keyless signing logs to Rekor v2, whose "
                                      "entries only a Sigstore bundle carries; drop --new-bundle-format=false")
    assert not bundle.exists()


# -- server failures: one line, nothing written ------------------------------------------------------------

def test_fulcio_refuses_a_token_signed_by_another_key(instance, trusted_root, tmp_path):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    result, _, bundle = sign_blob(instance, trusted_root, tmp_path, instance.oidc.token("email", key=stranger))
    assert one_line_error(result) == ("Error: Fulcio refused the request (HTTP 400): There was an error processing "
                                      "the identity token")
    assert not bundle.exists()


def test_fulcio_refuses_a_token_for_another_audience(instance, trusted_root, tmp_path):
    result, _, bundle = sign_blob(instance, trusted_root, tmp_path, instance.oidc.token("email", aud="someone-else"))
    assert one_line_error(result) == ("Error: Fulcio refused the request (HTTP 400): There was an error processing "
                                      "the identity token")
    assert not bundle.exists()


def test_fulcio_down(instance, trusted_root, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    result, _, bundle = sign_blob(instance, trusted_root, tmp_path, fulcio=down)
    assert one_line_error(result) == f"Error: Fulcio at {down}/api/v2/signingCert is unreachable (connection refused)"
    assert not bundle.exists()


def test_rekor_down_mid_sign_leaves_nothing(instance, trusted_root, image, tmp_path):
    """Fulcio certified the key and the TSA answered; then Rekor is unreachable: no bundle file,
    no referrer attached."""
    down = f"http://127.0.0.1:{free_port()}"
    result, _, bundle = sign_blob(instance, trusted_root, tmp_path, rekor=down)
    assert one_line_error(result) == f"Error: Rekor at {down}/api/v2/log/entries is unreachable (connection refused)"
    assert not bundle.exists()
    image_bundle = tmp_path / "image.bundle"
    result = run_cli("sign", "--bundle", image_bundle, "--allow-insecure-registry", image,
                     *keyless_argv(instance, trusted_root, instance.oidc.token("email"), rekor=down))
    assert one_line_error(result) == f"Error: Rekor at {down}/api/v2/log/entries is unreachable (connection refused)"
    assert not image_bundle.exists()
    assert referrers(image) == []


def test_tsa_failing(instance, trusted_root, tmp_path):
    with FakeServer(lambda path, body: (500, b"timestamp signer unavailable")) as tsa:
        result, _, bundle = sign_blob(instance, trusted_root, tmp_path, tsa=tsa.url + "/api/v1/timestamp")
    assert one_line_error(result) == ("Error: the timestamp authority failed (HTTP 500): timestamp signer "
                                      "unavailable")
    assert not bundle.exists()


def test_tsa_down(instance, trusted_root, tmp_path):
    down = f"http://127.0.0.1:{free_port()}/api/v1/timestamp"
    result, _, bundle = sign_blob(instance, trusted_root, tmp_path, tsa=down)
    assert one_line_error(result) == f"Error: the timestamp authority at {down} is unreachable (connection refused)"
    assert not bundle.exists()


def test_a_server_that_does_not_answer_times_out(instance, trusted_root):
    import airlock
    from airlock.errors import ServiceError

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # accepts connections (the kernel does) and never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        signer = airlock.keyless_signer(airlock.TrustedRoot.from_file(trusted_root),
                                        identity_token=instance.oidc.token("email"), fulcio_url=url,
                                        rekor_url=instance.rekor_url, timestamp_server_url=instance.tsa_timestamp_url,
                                        timeout=1.0)
        started = time.monotonic()
        with pytest.raises(ServiceError) as raised:
            airlock.sign_blob_keyless(BLOB, signer)
    assert str(raised.value) == f"Fulcio at {url}/api/v2/signingCert did not answer within 1s"
    assert time.monotonic() - started < 10


# -- hostile answers ---------------------------------------------------------------------------------------

def test_fulcio_certifying_another_key_is_refused(instance, trusted_root, tmp_path):
    """A Fulcio in front of the real one asks for a certificate for its own key (a valid token,
    a valid chain): the certificate is not for the key airlock holds."""
    def answer(path: str, body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        own = ec.generate_private_key(ec.SECP256R1())
        request["publicKeyRequest"] = {"publicKey": {"algorithm": "ECDSA", "content": own.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()},
            "proofOfPossession": base64.b64encode(own.sign(EMAIL.encode(), ec.ECDSA(hashes.SHA256()))).decode()}
        return 201, json.dumps(forward(instance.fulcio_url + path, json.dumps(request).encode())).encode()

    with FakeServer(answer) as fake:
        result, _, bundle = sign_blob(instance, trusted_root, tmp_path, fulcio=fake.url)
    assert one_line_error(result) == ("Error: Fulcio issued a certificate for another key than the one it was asked "
                                      "to certify")
    assert not bundle.exists()


def rogue_fulcio(instance: LocalSigstore, trusted_root: Path, identity: str, **leaf_options):
    """A Fulcio whose CA (and CT log) the trusted root also lists: it certifies the session's own
    key, for ``identity``. Yields the keyless session, already pointed at it."""
    import airlock
    from airlock.testing import SigstoreInstance

    rogue = SigstoreInstance(datetime.now(UTC))
    document = json.loads(Path(trusted_root).read_text())
    extra = rogue.trusted_root()
    document["certificateAuthorities"] += extra["certificateAuthorities"]
    document["ctlogs"] = extra["ctlogs"]  # a CT log is configured: the SCT is required at signing
    root = airlock.TrustedRoot.from_json(json.dumps(document))
    holder: dict = {}

    def answer(path: str, body: bytes) -> tuple[int, bytes]:
        leaf, _ = rogue.issue_leaf(identity, instance.oidc.email_issuer, key=holder["signer"].key, san_type="email",
                                   **leaf_options)
        chain = [c.public_bytes(serialization.Encoding.PEM).decode() for c in [leaf, *rogue.fulcio.chain]]
        return 201, json.dumps({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}).encode()

    fake = FakeServer(answer)
    holder["signer"] = airlock.keyless_signer(root, identity_token=instance.oidc.token("email"), fulcio_url=fake.url,
                                              rekor_url=instance.rekor_url,
                                              timestamp_server_url=instance.tsa_timestamp_url)
    return fake, holder["signer"]


def test_fulcio_certifying_another_identity_is_refused(instance, trusted_root):
    """A CA in the trusted root certifies airlock's key, for another identity than the token's."""
    import airlock
    from airlock.errors import KeylessError

    fake, signer = rogue_fulcio(instance, trusted_root, "mallory@airlock.test")
    with fake, pytest.raises(KeylessError) as raised:
        airlock.sign_blob_keyless(BLOB, signer)
    assert str(raised.value) == ("the certificate from Fulcio is not usable: identity: certificate identity "
                                 "['mallory@airlock.test'] does not match 'alice@airlock.test'")


def test_with_a_ct_log_in_the_trusted_root_the_sct_is_required(instance, trusted_root):
    """The trusted root lists a CT log: a certificate without an SCT is refused before it is used,
    one with a valid SCT signs, and the bundle verifies with the SCT checked."""
    import airlock
    from airlock.errors import KeylessError

    fake, signer = rogue_fulcio(instance, trusted_root, EMAIL, sct="none")
    with fake, pytest.raises(KeylessError) as raised:
        airlock.sign_blob_keyless(BLOB, signer)
    assert str(raised.value).startswith("the certificate from Fulcio is not usable: sct: "), str(raised.value)
    fake, signer = rogue_fulcio(instance, trusted_root, EMAIL)
    with fake:
        bundle = airlock.sign_blob_keyless(BLOB, signer)
    verdict = airlock.verify_blob(BLOB, bundle, trusted_root=signer.trusted_root,
                                  policy=airlock.Identity(identity=EMAIL, issuer=instance.oidc.email_issuer))
    assert verdict.ok, verdict.failure
    assert "sct" in [check for check, _ in verdict.checks]


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _broken_proof(entry: dict) -> dict:
    entry = copy.deepcopy(entry)
    proof = entry["inclusionProof"]
    if proof.get("hashes"):
        proof["hashes"][0] = _flip(proof["hashes"][0])
    else:
        proof["rootHash"] = _flip(proof["rootHash"])
    return entry


def test_rekor_entry_whose_inclusion_proof_does_not_verify(instance, trusted_root, tmp_path):
    with rekor_proxy(instance, _broken_proof) as fake:
        result, _, bundle = sign_blob(instance, trusted_root, tmp_path, rekor=fake.url)
    error = one_line_error(result)
    assert error.startswith("Error: the signature made does not verify, so nothing was written: inclusion-proof: "), \
        error
    assert not bundle.exists()


def test_rekor_entry_for_another_body(instance, trusted_root, tmp_path):
    """Rekor answers with a genuine entry (proof and checkpoint verify) for another signature."""
    earlier = {}

    def swap(entry: dict) -> dict:
        if not earlier:  # the first request logs a decoy, whose entry is then the answer to every request
            earlier.update(entry)
        return earlier

    decoy, second = tmp_path / "decoy", tmp_path / "second"
    decoy.mkdir()
    second.mkdir()
    with rekor_proxy(instance, swap) as fake:
        first, _, _ = sign_blob(instance, trusted_root, decoy, rekor=fake.url)
        assert first.code == 0, first.stderr
        result, _, bundle = sign_blob(instance, trusted_root, second, rekor=fake.url)
    error = one_line_error(result)
    assert error.startswith("Error: the signature made does not verify, so nothing was written: tlog-entry: "), error
    assert not bundle.exists()


def test_signing_config_picks_what_airlock_speaks():
    from airlock.errors import UsageError
    from airlock.sign.keyless import services_from_signing_config

    def service(url, version, start="2025-01-01T00:00:00Z", end=None):
        return {"url": url, "majorApiVersion": version, "operator": "x",
                "validFor": {"start": start, **({"end": end} if end else {})}}

    config = {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
              "caUrls": [service("https://fulcio.old", 1, end="2025-06-01T00:00:00Z"), service("https://fulcio", 1)],
              "rekorTlogUrls": [service("https://rekor.v1", 1), service("https://rekor.v2", 2),
                                service("https://rekor.future", 2, start="2030-01-01T00:00:00Z")],
              "tsaUrls": [service("https://tsa/api/v1/timestamp", 1)], "rekorTlogConfig": {"selector": "ANY"}}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    services = services_from_signing_config(json.dumps(config).encode(), now=now)
    assert (services.fulcio_url, services.rekor_url, services.tsa_url) == \
        ("https://fulcio", "https://rekor.v2", "https://tsa/api/v1/timestamp")
    config["rekorTlogUrls"] = [service("https://rekor.v1", 1)]
    with pytest.raises(UsageError) as raised:
        services_from_signing_config(json.dumps(config).encode(), now=now)
    assert str(raised.value) == "--signing-config: no rekorTlogUrls entry valid now with API version 2"
    with pytest.raises(UsageError) as raised:
        services_from_signing_config(b'{"mediaType": "application/json"}', now=now)
    assert str(raised.value) == ("--signing-config: not a Sigstore signing config "
                                 "(application/vnd.dev.sigstore.signingconfig.v0.2+json)")
    config["rekorTlogUrls"] = [{"url": "https://rekor.v2", "majorApiVersion": 2, "validFor": "always"}]
    with pytest.raises(UsageError) as raised:
        services_from_signing_config(json.dumps(config).encode(), now=now)
    assert str(raised.value) == "--signing-config: rekorTlogUrls[0]: validFor is not an object"


def test_a_trusted_root_without_the_log_or_the_tsa_is_refused_first(instance, trusted_root, tmp_path):
    """Keyless signing against a trusted root that could not verify the bundle would still make a
    public log entry; it is refused when the session is set up, before anything is signed."""
    document = json.loads(Path(trusted_root).read_text())
    for field in ("tlogs", "timestampAuthorities"):
        crippled = tmp_path / f"no-{field}.json"
        crippled.write_text(json.dumps({**document, field: []}))
        result, _, bundle = sign_blob(instance, crippled, tmp_path)
        assert result.code == 2
        assert one_line_error(result) == (
            "Error: keyless signing needs a trusted root with the Rekor log and the timestamp authority "
            "(--trusted-root): without them the bundle could not be verified, and the log entry would be made "
            "for nothing")
        assert not bundle.exists()


def test_the_ambient_github_actions_token_is_used(instance, trusted_root, tmp_path, monkeypatch):
    """ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN: the token is asked for audience sigstore, with the bearer."""
    token = instance.oidc.token("ci")
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            data = json.dumps({"value": token}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.delenv("SIGSTORE_ID_TOKEN", raising=False)
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"http://127.0.0.1:{server.server_address[1]}/token?v=1")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-secret")
        blob, bundle = tmp_path / "a.txt", tmp_path / "a.json"
        blob.write_bytes(BLOB)
        argv = keyless_argv(instance, trusted_root, "")
        result = run_cli("sign-blob", blob, "--bundle", bundle, *argv[2:])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert result.code == 0, result.stderr
    assert seen == [("/token?v=1&audience=sigstore", "bearer runner-secret")]
    assert leaf_of(bundle).extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.UniformResourceIdentifier) == [CI_IDENTITY]



# -- the journey, and cosign's keyless images ----------------------------------------------------------------

def test_seed_flow_sign_in_ci_carry_and_verify_offline(instance, trusted_root, image, registry, tmp_path):
    """Sign keyless in "CI" with --bundle checkout.bundle; save; trust export; carry; trust import;
    load; verify --offline --bundle checkout.bundle IMAGE@digest, identity and issuer pinned, with
    no network at all on the air-gapped side."""
    ci, gap = tmp_path / "ci", tmp_path / "gap"
    ci.mkdir()
    gap.mkdir()
    bundle = ci / "checkout.bundle"
    signed = run_cli("sign", "--bundle", bundle, "--allow-insecure-registry", image,
                     *keyless_argv(instance, trusted_root, instance.oidc.token("ci")))
    assert signed.code == 0, signed.stderr
    saved = run_cli("save", "--dir", ci / "layout", "--allow-insecure-registry", image)
    assert saved.code == 0, saved.stderr
    exported = run_cli("trust", "export", "--trusted-root", trusted_root, "--out", ci / "trust.tar.gz")
    assert exported.code == 0, exported.stderr
    # carry: only the layout, the archive and the bundle cross
    for name in ("layout", "trust.tar.gz", "checkout.bundle"):
        subprocess.run(["cp", "-a", str(ci / name), str(gap / name)], check=True)
    imported = run_process("trust", "import", gap / "trust.tar.gz", "--out", gap / "trusted_root.json", net=False)
    assert imported.code == 0, imported.stderr
    digest = image.split("@")[1]
    pinned = ["--offline", "--bundle", gap / "checkout.bundle", "--trusted-root", gap / "trusted_root.json",
              *instance.sct_flags,
              "--certificate-identity", CI_IDENTITY, "--certificate-oidc-issuer", instance.oidc.ci_issuer,
              "--certificate-github-workflow-repository", CI_REPOSITORY]
    offline = run_process("verify", "--local-image", gap / "layout", *pinned, net=False)
    assert offline.code == 0, offline.stderr
    # load into the gap's registry (here the same one, another repository) and verify there by digest
    target = f"{registry}/gap/app"
    loaded = run_cli("load", "--dir", gap / "layout", "--allow-insecure-registry", f"{target}:v1")
    assert loaded.code == 0, loaded.stderr
    there = run_cli("verify", "--allow-insecure-registry", *pinned, f"{target}@{digest}")
    assert there.code == 0, there.stderr
    impostor = run_cli("verify", "--allow-insecure-registry", *pinned[:-4], "--certificate-identity", CI_IDENTITY,
                       "--certificate-oidc-issuer", instance.oidc.email_issuer, f"{target}@{digest}")
    assert instance.oidc.email_issuer in one_line_error(impostor)


def test_cosign_keyless_image_then_airlock_verifies_offline(instance, trusted_root, image, tmp_path):
    """cosign keyless-signs an image against the instance; airlock verifies what it attached, saved
    and carried, with no network. The legacy format is not possible with Rekor v2: cosign refuses
    it as airlock does (test_legacy_format_is_refused_for_keyless)."""
    config = tmp_path / "signing_config.json"
    instance.signing_config(peer("cosign"), config)
    argv = ["sign", "--identity-token", instance.oidc.token("email"), "--signing-config", config,
            "--trusted-root", trusted_root, "--allow-http-registry", "--yes"]
    legacy = cosign_run(*argv, "--new-bundle-format=false", image)
    assert legacy.returncode != 0
    assert "must provide --new-bundle-format or --bundle where applicable with --signing-config" in legacy.stderr
    proc = cosign_run(*argv, image)
    assert proc.returncode == 0, proc.stderr
    saved = run_cli("save", "--dir", tmp_path / "layout", "--allow-insecure-registry", image)
    assert saved.code == 0, saved.stderr
    result = run_process("verify", "--local-image", tmp_path / "layout", "--trusted-root", trusted_root,
                         *instance.sct_flags,
                         "--certificate-identity", EMAIL, "--certificate-oidc-issuer", instance.oidc.email_issuer,
                         net=False)
    assert result.code == 0, result.stderr
    other = run_process("verify", "--local-image", tmp_path / "layout", "--trusted-root", trusted_root,
                        *instance.sct_flags,
                        "--certificate-identity", CI_IDENTITY, "--certificate-oidc-issuer", instance.oidc.email_issuer,
                        net=False)
    assert CI_IDENTITY in one_line_error(other)


# -- signing-config create ---------------------------------------------------------------------------------

def instance_services(instance: LocalSigstore) -> list[str]:
    start = (instance.started - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [f"--fulcio=url={instance.fulcio_url},api-version=1,start-time={start},operator=airlock-test",
            f"--rekor=url={instance.rekor_url},api-version=2,start-time={start},operator=airlock-test",
            "--rekor-config=ANY",
            f"--oidc-provider=url={instance.oidc.email_issuer},api-version=1,start-time={start},operator=airlock-test",
            f"--tsa=url={instance.tsa_timestamp_url},api-version=1,start-time={start},operator=airlock-test",
            "--tsa-config=ANY"]


def test_signing_config_create_matches_cosign_and_signs(instance, trusted_root, tmp_path):
    ours, theirs = tmp_path / "airlock.json", tmp_path / "cosign.json"
    made = run_cli("signing-config", "create", *instance_services(instance), "--out", ours)
    assert made.code == 0, made.stderr
    proc = cosign_run("signing-config", "create", *instance_services(instance), "--out", theirs)
    assert proc.returncode == 0, proc.stderr
    assert ours.read_bytes() == theirs.read_bytes()
    blob, bundle = tmp_path / "a.txt", tmp_path / "a.json"
    blob.write_bytes(BLOB)
    signed = run_cli("sign-blob", blob, "--bundle", bundle, "--identity-token", instance.oidc.token("email"),
                     "--signing-config", ours, "--trusted-root", trusted_root, "--yes")
    assert signed.code == 0, signed.stderr
    assert airlock_verify_blob(instance, trusted_root, blob, bundle).code == 0


@pytest.mark.parametrize(("spec", "error"), [
    ("--fulcio=url=https://f,api-version=1,start-time=2025-01-01T00:00:00Z,operator=o,end-tme=2026-01-01T00:00:00Z",
     "Error: --fulcio 'url=https://f,api-version=1,start-time=2025-01-01T00:00:00Z,operator=o,"
     "end-tme=2026-01-01T00:00:00Z': 'end-tme' is not one of url, api-version, start-time, end-time, operator "
     "(key=value)"),
    ("--rekor=url=https://r,api-version=2,operator=o",
     "Error: --rekor 'url=https://r,api-version=2,operator=o': missing required key start-time"),
    ("--tsa=url=https://t,api-version=v1,start-time=2025-01-01T00:00:00Z,operator=o",
     "Error: --tsa 'url=https://t,api-version=v1,start-time=2025-01-01T00:00:00Z,operator=o': api-version 'v1' is "
     "not a whole number"),
    ("--rekor-config=SOME", "Error: --rekor-config 'SOME': not ANY, ALL or EXACT:<count>"),
])
def test_signing_config_create_refuses(spec, error, tmp_path):
    out = tmp_path / "sc.json"
    base = "--fulcio=url=https://f,api-version=1,start-time=2025-01-01T00:00:00Z,operator=o"
    result = run_cli("signing-config", "create", *([spec] if spec.startswith("--fulcio") else [base, spec]),
                     "--out", out)
    assert (result.code, one_line_error(result)) == (2, error)
    assert not out.exists()


def test_urls_and_a_signing_config_together_are_refused(instance, trusted_root, tmp_path):
    """As cosign: "cannot specify service URLs and use signing config"."""
    config = tmp_path / "sc.json"
    assert run_cli("signing-config", "create", *instance_services(instance), "--out", config).code == 0
    blob, bundle = tmp_path / "a.txt", tmp_path / "a.json"
    blob.write_bytes(BLOB)
    result = run_cli("sign-blob", blob, "--bundle", bundle, "--signing-config", config,
                     *keyless_argv(instance, trusted_root, instance.oidc.token("email")))
    assert (result.code, one_line_error(result)) == (2, (
        "Error: cannot specify service URLs (--fulcio-url, --rekor-url, --timestamp-server-url) and use a signing "
        "config (--signing-config): choose one"))
    assert not bundle.exists()
