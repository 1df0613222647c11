"""Documented cosign command lines that must work with ``airlock`` in place of ``cosign`` (issue 9).

1. ``--key K --insecure-ignore-tlog`` needs no trusted root (no TUF mirror is read, even an expired
   one); without the flag the error names the missing log entry and the flag.
2. ``--key pkcs11:...`` and ``--key awskms://...`` verify with the signer's public key.
3. ``sign`` without ``--key`` is keyless, and says so when no identity token is at hand.
4. Identity regexps are RE2, matched anywhere in the value (Go's ``MatchString``), with a warning
   for a pattern that is not anchored at both ends.

Where the real cosign can run on the same input, it is run too and must reach the same verdict.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.formats import cosign as cosign_format
from airlock.testing import SigstoreInstance
from conftest import REPO, TUF_REPOSITORY, at, one_line_error, run_cli, shared
from image_layouts import add_image, attach, key_layer, new_layout
from peers import peer

DATA = b"release artifact\n"
NAME = "registry.local/team/app:1"
TLOG_HINT = ("Error: tlog: the signature has no transparency log entry (signed without Rekor?); to verify it with "
             "the key alone, add --insecure-ignore-tlog")
IGNORED = "WARNING: --insecure-ignore-tlog: transparency log entries were not checked"


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    return SigstoreInstance()


@pytest.fixture(autouse=True)
def no_tuf_mirror(tmp_path, monkeypatch) -> Path:
    """An empty TUF_ROOT (and HOME for cosign): no trust material unless a test installs some."""
    root = tmp_path / "tuf-root"
    root.mkdir()
    monkeypatch.setenv("TUF_ROOT", str(root))
    return root


def pem(key) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def signed(inst, tmp_path):
    """A blob key-signed offline (no log entry), as a Sigstore bundle and a legacy cosign bundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "cosign.pub").write_bytes(pem(key.public_key()))
    (tmp_path / "blob").write_bytes(DATA)
    (tmp_path / "blob.sigstore.json").write_text(json.dumps(inst.sign_blob_with_key(DATA, key, rekor=None)))
    (tmp_path / "blob.legacy.json").write_text(
        json.dumps(inst.sign_blob_with_key(DATA, key, legacy=True, include_rekor=False)))
    inst.write_trusted_root(tmp_path / "trusted_root.json")
    return tmp_path


def run_cosign(*argv, home: Path) -> subprocess.CompletedProcess:
    """The real cosign, with its own empty HOME and TUF root (it must not need them here)."""
    env = {**os.environ, "HOME": str(home), "TUF_ROOT": str(home / "tuf")}
    home.mkdir(exist_ok=True)
    return subprocess.run([str(peer("cosign")), *map(str, argv)], capture_output=True, text=True, env=env,
                          timeout=120)


# -- 1. a key and no log need no trusted root -----------------------------------------------------------

@pytest.mark.parametrize("bundle", ["blob.sigstore.json", "blob.legacy.json"])
def test_key_without_tlog_needs_no_trusted_root(signed, bundle):
    argv = ["verify-blob", signed / "blob", "--bundle", signed / bundle, "--key", signed / "cosign.pub"]
    result = run_cli(*argv, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [IGNORED, "Verified OK"]

    strict = run_cli(*argv, "--trusted-root", signed / "trusted_root.json")
    assert (strict.code, one_line_error(strict)) == (1, TLOG_HINT)

    untrusted = run_cli(*argv)  # no trusted root at all: the way out that needs none is named
    error = one_line_error(untrusted)
    assert untrusted.code == 2 and error.startswith("Error: no trusted root: pass --trusted-root FILE"), error
    assert error.endswith("(a key-signed signature with no transparency log entry verifies with --key and "
                          "--insecure-ignore-tlog, which need no trusted root)"), error


def test_key_without_tlog_cosign_agrees(signed, tmp_path):
    common = [signed / "blob", "--key", signed / "cosign.pub", "--bundle", signed / "blob.sigstore.json"]
    assert run_cosign("verify-blob", *common, "--insecure-ignore-tlog", home=tmp_path / "home").returncode == 0
    strict = run_cosign("verify-blob", *common, "--trusted-root", signed / "trusted_root.json", home=tmp_path / "home")
    assert strict.returncode != 0 and "not enough verified log entries" in strict.stderr


@pytest.fixture(scope="module")
def expired_mirror(tmp_path_factory) -> Path:
    """The real public-good TUF mirror, installed while it was valid (2026-08-25); its timestamp
    expired on 2026-08-28 and its root on 2026-11-20, so it is expired now."""
    tuf_root = tmp_path_factory.mktemp("expired") / "root"
    result = at("2026-08-25 12:00:00", "initialize", "--mirror", shared(TUF_REPOSITORY).as_uri(), "--root",
                str(TUF_REPOSITORY / "5.root.json"), tuf_root=tuf_root)
    assert result.returncode == 0, result.stderr
    return tuf_root


def test_expired_mirror_is_not_read_for_key_without_tlog(signed, expired_mirror, monkeypatch):
    monkeypatch.setenv("TUF_ROOT", str(expired_mirror))
    argv = ["verify-blob", signed / "blob", "--bundle", signed / "blob.sigstore.json", "--key", signed / "cosign.pub"]
    refused = run_cli(*argv)  # the mirror is read, and refused, when a log must be checked
    assert refused.code != 0 and "expired" in one_line_error(refused)
    assert "--insecure-ignore-tlog" in one_line_error(refused)
    result = run_cli(*argv, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [IGNORED, "Verified OK"]


def key_signed_layout(path: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    layout = new_layout(path)
    digest = add_image(layout, NAME)
    attach(layout, digest, [key_layer(key, cosign_format.simplesigning_payload("registry.local/team/app", digest))])
    return key, digest


def test_image_key_without_tlog_ignores_an_expired_mirror(tmp_path, expired_mirror, monkeypatch):
    key, _ = key_signed_layout(tmp_path / "layout")
    (tmp_path / "cosign.pub").write_bytes(pem(key.public_key()))
    argv = ["verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "cosign.pub"]
    monkeypatch.setenv("TUF_ROOT", str(expired_mirror))
    assert run_cli(*argv, "--insecure-ignore-tlog").code == 0
    refused = run_cli(*argv)
    assert refused.code != 0 and "expired" in one_line_error(refused)


def test_image_key_no_log_entry_names_the_flag(inst, tmp_path):
    key, digest = key_signed_layout(tmp_path / "layout")
    (tmp_path / "cosign.pub").write_bytes(pem(key.public_key()))
    inst.write_trusted_root(tmp_path / "trusted_root.json")
    argv = ["verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "cosign.pub"]
    result = run_cli(*argv, "--trusted-root", tmp_path / "trusted_root.json")
    error = one_line_error(result)
    assert result.code == 1 and error.startswith(f"Error: verify: {NAME}@{digest}: no signatures verified ("), error
    assert TLOG_HINT.removeprefix("Error: ") in error
    ok = run_cli(*argv, "--insecure-ignore-tlog")
    assert ok.code == 0, ok.stderr
    # the real cosign, on the same layout: the same verdicts
    home = tmp_path / "home"
    assert run_cosign("verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "cosign.pub",
                      "--insecure-ignore-tlog", home=home).returncode == 0
    strict = run_cosign("verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "cosign.pub",
                        "--trusted-root", tmp_path / "trusted_root.json", home=home)
    assert strict.returncode != 0


def test_timestamp_is_not_checked_without_a_trusted_root(inst, tmp_path):
    """As cosign: a key and no log need no time, so an RFC 3161 timestamp is not checked (it would
    need a TSA from a trusted root); a warning says so. With --trusted-root it is checked."""
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "cosign.pub").write_bytes(pem(key.public_key()))
    (tmp_path / "blob").write_bytes(DATA)
    (tmp_path / "ts.json").write_text(json.dumps(inst.sign_blob_with_key(DATA, key, rekor=None, tsa=True)))
    other = SigstoreInstance()  # a trusted root whose TSA did not sign this timestamp
    other.write_trusted_root(tmp_path / "other_root.json")
    inst.write_trusted_root(tmp_path / "trusted_root.json")
    argv = ["verify-blob", tmp_path / "blob", "--bundle", tmp_path / "ts.json", "--key", tmp_path / "cosign.pub",
            "--insecure-ignore-tlog"]
    result = run_cli(*argv)
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [
        IGNORED, "WARNING: the RFC 3161 timestamp was not checked: --key with --insecure-ignore-tlog uses no trusted "
        "root, as cosign (pass --trusted-root to check it)", "Verified OK"]
    checked = run_cli(*argv, "--trusted-root", tmp_path / "trusted_root.json")
    assert checked.code == 0 and checked.stderr.splitlines() == [IGNORED, "Verified OK"]
    wrong = run_cli(*argv, "--trusted-root", tmp_path / "other_root.json")
    assert wrong.code == 1
    assert one_line_error(wrong).startswith("Error: timestamp: the RFC 3161 timestamp does not verify with any trusted")
    assert run_cosign("verify-blob", *argv[1:], home=tmp_path / "home").returncode == 0


def test_certificate_bundle_with_key_is_refused_as_cosign(inst, tmp_path):
    bundle = inst.sign_blob(DATA, rekor=None, tsa=True)
    leaf = x509.load_der_x509_certificate(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    (tmp_path / "leaf.pub").write_bytes(pem(leaf.public_key()))
    (tmp_path / "blob").write_bytes(DATA)
    (tmp_path / "cert.json").write_text(json.dumps(bundle))
    argv = [tmp_path / "blob", "--bundle", tmp_path / "cert.json", "--key", tmp_path / "leaf.pub",
            "--insecure-ignore-tlog"]
    result = run_cli("verify-blob", *argv)
    assert (result.code, one_line_error(result)) == (1, "Error: signer: the bundle is signed with a certificate, not a "
                                                        "key: verify it with --certificate-identity and "
                                                        "--certificate-oidc-issuer instead of --key")
    cosign = run_cosign("verify-blob", *argv, home=tmp_path / "home")
    assert cosign.returncode != 0 and "expected key signature, not certificate" in cosign.stderr


# -- 2. key references ----------------------------------------------------------------------------------

def sign_blob(key_ref: str, tmp_path: Path) -> Path:
    (tmp_path / "blob").write_bytes(DATA)
    result = run_cli("sign-blob", "--key", key_ref, "--bundle", tmp_path / "blob.sigstore.json", tmp_path / "blob")
    assert result.code == 0, result.stderr
    return tmp_path / "blob.sigstore.json"


def test_pkcs11_key_reference(softhsm, tmp_path):
    from airlock.sign.signers import create_kms_key

    uri = softhsm.uri(object=f"verify-{uuid.uuid4().hex[:8]}")
    create_kms_key(uri)
    bundle = sign_blob(uri, tmp_path)
    result = run_cli("verify-blob", tmp_path / "blob", "--bundle", bundle, "--key", uri, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "Verified OK"

    other = softhsm.uri(object=f"other-{uuid.uuid4().hex[:8]}")
    create_kms_key(other)
    wrong = run_cli("verify-blob", tmp_path / "blob", "--bundle", bundle, "--key", other, "--insecure-ignore-tlog")
    assert wrong.code == 1 and one_line_error(wrong).startswith("Error: signature: ")

    missing = softhsm.uri(object="no-such-key")
    absent = run_cli("verify-blob", tmp_path / "blob", "--bundle", bundle, "--key", missing, "--insecure-ignore-tlog")
    assert one_line_error(absent) == \
        f"Error: no private key with object='no-such-key' on PKCS#11 token '{softhsm.label}'"

    key_signed_layout_with(uri, tmp_path / "layout")
    image = run_cli("verify", "--local-image", tmp_path / "layout", "--key", uri, "--insecure-ignore-tlog")
    assert image.code == 0, image.stderr


def key_signed_layout_with(key_ref: str, path: Path) -> None:
    layout = new_layout(path)
    add_image(layout, NAME)
    result = run_cli("sign", "--key", key_ref, "--local-image", path)
    assert result.code == 0, result.stderr


def test_awskms_key_reference(aws_kms, tmp_path):
    from airlock.sign.signers import create_kms_key

    uri = f"awskms://{aws_kms}/alias/airlock-verify-{uuid.uuid4().hex[:8]}"
    signer = create_kms_key(uri)
    bundle = sign_blob(uri, tmp_path)
    result = run_cli("verify-blob", tmp_path / "blob", "--bundle", bundle, "--key", uri, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    (tmp_path / "kms.pub").write_bytes(signer.public_key_pem())  # the same key, as a file
    assert run_cli("verify-blob", tmp_path / "blob", "--bundle", bundle, "--key", tmp_path / "kms.pub",
                   "--insecure-ignore-tlog").code == 0

    other = create_kms_key(f"awskms://{aws_kms}/alias/airlock-other-{uuid.uuid4().hex[:8]}")
    assert other.public_key() != signer.public_key()
    wrong = run_cli("verify-blob", tmp_path / "blob", "--bundle", bundle, "--key",
                    f"awskms://{aws_kms}/{other.reference.key_id}", "--insecure-ignore-tlog")
    assert wrong.code == 1 and one_line_error(wrong).startswith("Error: signature: ")

    gone = run_cli("verify-blob", tmp_path / "blob", "--bundle", bundle, "--key",
                   f"awskms://{aws_kms}/alias/no-such-alias", "--insecure-ignore-tlog")
    assert one_line_error(gone).startswith("Error: AWS KMS get-public-key alias/no-such-alias: NotFoundException: ")


def test_awskms_key_reference_cosign_agrees(aws_kms, tmp_path, monkeypatch):
    """cosign reaches an endpoint named in the URI over https only, so both are pointed at moto by
    AWS_ENDPOINT_URL (which boto3 and the Go SDK both honour) with an endpoint-less reference."""
    from airlock.sign.signers import create_kms_key

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{aws_kms}")
    uri = f"awskms:///alias/airlock-peer-{uuid.uuid4().hex[:8]}"
    create_kms_key(uri)
    other = f"awskms:///alias/airlock-peer-other-{uuid.uuid4().hex[:8]}"
    create_kms_key(other)
    bundle = sign_blob(uri, tmp_path)
    for key, code in ((uri, 0), (other, 1)):
        argv = ["verify-blob", tmp_path / "blob", "--bundle", bundle, "--key", key, "--insecure-ignore-tlog"]
        assert run_cli(*argv).code == code
        assert run_cosign(*argv, home=tmp_path / "home").returncode == code


@pytest.mark.parametrize(("reference", "message"), [
    ("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
     "Error: unsupported key reference 'gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k': supported are a "
     "key file path, pkcs11:, awskms://"),
    ("awskms:///not-a-key", "Error: invalid AWS KMS reference 'awskms:///not-a-key': use awskms://[ENDPOINT]/KEY_ID, "
     "awskms://[ENDPOINT]/alias/NAME or awskms://[ENDPOINT]/arn:aws:kms:..."),
    ("pkcs11:token=t", "Error: PKCS#11 URI: name the key with object=<label> and/or id=<%-encoded bytes>"),
])
def test_bad_key_references(signed, reference, message):
    result = run_cli("verify-blob", signed / "blob", "--bundle", signed / "blob.sigstore.json", "--key", reference,
                     "--insecure-ignore-tlog")
    assert (result.code, one_line_error(result)) == (2, message)


def test_missing_key_file(signed):
    result = run_cli("verify", "--local-image", signed, "--key", signed / "nope.pub", "--insecure-ignore-tlog")
    missing = signed / "nope.pub"
    assert (result.code, one_line_error(result)) == (2, f"Error: --key {missing}: No such file or directory")


# -- 3. keyless signing ---------------------------------------------------------------------------------

KEYLESS_SIGN = ("Error: keyless signing (no --key) needs an OIDC identity token: pass --identity-token (or set "
                "SIGSTORE_ID_TOKEN, or run in GitHub Actions with id-token: write); or sign with a key: "
                "--key cosign.key")


@pytest.mark.parametrize("argv", [
    ["sign", "registry.local/team/app@sha256:" + "a" * 64],
    ["sign", "--local-image", "layout"],
    ["sign-blob", "blob"],
    ["attest", "--predicate", "p.json", "registry.local/team/app@sha256:" + "a" * 64],
])
def test_sign_without_key_explains_keyless(argv, tmp_path, monkeypatch):
    for name in ("SIGSTORE_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    result = run_cli(*argv)
    assert (result.code, one_line_error(result)) == (2, KEYLESS_SIGN)
    assert list(tmp_path.iterdir()) == [tmp_path / "tuf-root"]  # nothing written


# -- 4. identity regexps --------------------------------------------------------------------------------

EXAMPLE = REPO / "examples"
IDENTITY = "https://github.com/airlock-example/release/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"


def example(*flags: str) -> list:
    return ["verify-blob", EXAMPLE / "hello.txt", "--bundle", EXAMPLE / "hello.txt.sigstore.json", "--trusted-root",
            EXAMPLE / "trusted_root.json", *flags]


def not_anchored(flag: str, pattern: str) -> str:
    return f"WARNING: {flag} {pattern!r} is not anchored (^...$): it matches anywhere in the value"


@pytest.mark.parametrize(("flags", "code", "stderr"), [
    (["--certificate-identity-regexp", "^https://github.com/airlock-example/", "--certificate-oidc-issuer", ISSUER],
     0, [not_anchored("--certificate-identity-regexp", "^https://github.com/airlock-example/"), "Verified OK"]),
    (["--certificate-identity-regexp", "airlock-example/release", "--certificate-oidc-issuer-regexp",
      r"^https://token\.actions\.githubusercontent\.com$"],
     0, [not_anchored("--certificate-identity-regexp", "airlock-example/release"), "Verified OK"]),
    (["--certificate-identity-regexp", r"^https://github\.com/airlock-example/.+@refs/heads/main$",
      "--certificate-oidc-issuer-regexp", "^https://token.actions"],
     0, [not_anchored("--certificate-oidc-issuer-regexp", "^https://token.actions"), "Verified OK"]),
    (["--certificate-identity-regexp", r"\Ahttps://github\.com/.*\z", "--certificate-oidc-issuer", ISSUER],
     0, ["Verified OK"]),
    (["--certificate-identity-regexp", "^https://github.com/other/$|airlock-example", "--certificate-oidc-issuer",
      ISSUER],
     0, [not_anchored("--certificate-identity-regexp", "^https://github.com/other/$|airlock-example"), "Verified OK"]),
    (["--certificate-identity-regexp", "^https://github.com/airlock-example/$", "--certificate-oidc-issuer", ISSUER],
     1, [f"Error: identity: certificate identity ['{IDENTITY}'] does not match "
         "'^https://github.com/airlock-example/$'"]),
    (["--certificate-identity-regexp", "^https://github.com/other/", "--certificate-oidc-issuer", ISSUER],
     1, [not_anchored("--certificate-identity-regexp", "^https://github.com/other/"),
         f"Error: identity: certificate identity ['{IDENTITY}'] does not match '^https://github.com/other/'"]),
    (["--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", r"^https://accounts\.google\.com$"],
     1, [f"Error: identity: certificate OIDC issuer '{ISSUER}' does not match "
         r"'^https://accounts\\.google\\.com$'"]),
    (["--certificate-identity-regexp", r"^(a)\1$", "--certificate-oidc-issuer", ISSUER],
     2, [r"Error: --certificate-identity-regexp '^(a)\\1$': invalid regular expression (RE2 syntax, as in cosign): "
         r"invalid escape sequence: \1"]),
    (["--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", "(?<=https://)token"],
     2, ["Error: --certificate-oidc-issuer-regexp '(?<=https://)token': invalid regular expression (RE2 syntax, "
         "as in cosign): invalid perl operator: (?<="]),
    (["--certificate-identity-regexp", "^(unclosed$", "--certificate-oidc-issuer", ISSUER],
     2, ["Error: --certificate-identity-regexp '^(unclosed$': invalid regular expression (RE2 syntax, as in "
         "cosign): missing ): ^(unclosed$"]),
], ids=["prefix", "substring", "issuer-prefix", "A-z-anchors", "alternation", "anchored-mismatch", "prefix-mismatch",
        "issuer-mismatch", "backreference", "lookbehind", "unbalanced"])
def test_identity_regexps(flags, code, stderr, tmp_path):
    result = run_cli(*example(*flags))
    assert (result.code, result.stderr.splitlines()) == (code, stderr)
    cosign = run_cosign(*[str(a) for a in example(*flags)], home=tmp_path / "home")
    assert (cosign.returncode == 0) == (code == 0), cosign.stderr


@pytest.mark.parametrize(("pattern", "anchored"), [
    ("^a$", True), (r"\Aa\z", True), ("^(a|b)$", True), ("^(?:x|y)z$", True), ("^[|]$", True), (r"^a\|b$", True),
    ("^[]|]$", True), ("^[^]|]$", True), (r"^a\\$", True),
    ("a$", False), ("^a", False), ("^a|b$", False), ("^[a]|b$", False), (r"^a\$", False), ("", False),
])
def test_anchor_warning(pattern, anchored):
    from airlock.verify.policy import Identity

    policy = Identity(identity_regexp=pattern, issuer=ISSUER)
    assert policy.warnings == ([] if anchored else [not_anchored("--certificate-identity-regexp", pattern)])


def test_catastrophic_pattern_runs_in_linear_time():
    """``(a+)+$`` backtracks exponentially in Python's re; RE2 answers at once."""
    start = time.monotonic()
    result = run_cli(*example("--certificate-identity-regexp", "^(h+t+p+s*:*/*[a-z.]*)+$",
                              "--certificate-oidc-issuer-regexp", "^(a|a?)+x(a+)+$"))
    assert result.code == 1 and "does not match" in one_line_error(result)
    assert time.monotonic() - start < 5


def test_re2_is_imported_only_for_a_regexp():
    """Start-up: exact identity flags do not load re2 (a few ms); a regexp flag does."""
    code = ("import sys; from airlock.cli import main; main(sys.argv[1:]); "
            "print('re2' in sys.modules, file=sys.stderr)")
    exact = subprocess.run([sys.executable, "-c", code, *map(str, example("--certificate-identity", IDENTITY,
                            "--certificate-oidc-issuer", ISSUER))], capture_output=True, text=True, timeout=60)
    assert exact.stderr.splitlines() == ["Verified OK", "False"], exact.stderr
    regexp = subprocess.run([sys.executable, "-c", code, *map(str, example("--certificate-identity-regexp",
                             f"^{IDENTITY}$", "--certificate-oidc-issuer", ISSUER))], capture_output=True, text=True,
                            timeout=60)
    assert regexp.stderr.splitlines() == ["Verified OK", "True"], regexp.stderr
