"""cosign's documented command lines with `airlock` in place of `cosign` (issue 9), checked both
ways against the real cosign v3: what airlock writes, cosign verifies; what cosign writes,
airlock verifies. The cosign half of a test skips when the peer is missing.

- ``verify --offline --bundle FILE IMAGE@digest``: the bundle CI captured at signing time
  (``sign --bundle FILE``) verified as the image's signature, instead of those attached.
- ``sign --key K --bundle FILE IMAGE``: FILE is written, a Sigstore bundle as cosign v3 writes
  it (cosign's legacy signed-payload JSON with ``--new-bundle-format=false``).
- ``attach signature --signature FILE|-`` with base64 wrapped by base64(1), raw bytes, standard
  input, and without ``--payload`` (the payload cosign implies for the digest).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess

import pytest

from airlock.formats.cosign import simplesigning_payload
from airlock.oci.reference import signature_tag
from airlock.oci.registry import RegistryClient
from conftest import airlock_exe, one_line_error, run_cli
from image_layouts import add_image, new_layout
from peers import peer
from test_registry_roundtrip import push_image
from test_sign import PASSWORD, keypair, openssl

SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
COSIGN_REGISTRY_FLAGS = ("--allow-insecure-registry", "--allow-http-registry")


@pytest.fixture()
def password(monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)


def cosign(*argv, cwd=None) -> subprocess.CompletedProcess:
    """The real cosign (skips when it is not built), offline, against the loopback registry."""
    exe = peer("cosign")
    env = {**os.environ, "COSIGN_PASSWORD": PASSWORD}
    return subprocess.run([str(exe), *map(str, argv)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def airlock_with_stdin(data: bytes, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([*airlock_exe(), *map(str, argv)], input=data, capture_output=True, timeout=120)


def downloaded(image: str) -> list[dict]:
    result = run_cli("download", "signature", image)
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def no_signature(registry: str, repository: str, digest: str) -> bool:
    return RegistryClient().head_manifest(registry, repository, signature_tag(digest, "sig")) is None


# -- sign --bundle ---------------------------------------------------------------------------------

def test_sign_bundle_writes_a_sigstore_bundle_that_cosign_verifies(registry, tmp_path, password):
    digest = push_image(RegistryClient(), registry, "parity/bundle", tmp_path, b"bundle")
    image = f"{registry}/parity/bundle@{digest}"
    key, pub = keypair(tmp_path, "k")
    result = run_cli("sign", "--key", key, "--bundle", tmp_path / "app.bundle", image)
    assert result.code == 0, result.stderr
    assert f"Wrote bundle to file {tmp_path / 'app.bundle'}" in result.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "app.bundle").st_mode) == 0o600
    bundle = json.loads((tmp_path / "app.bundle").read_bytes())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == SIGN_PREDICATE
    assert statement["subject"][0]["digest"] == {"sha256": digest.split(":")[1]}
    # as in cosign v3 (new bundle format by default), the bundle is also attached as a referrer, no .sig
    assert no_signature(registry, "parity/bundle", digest)
    verified = run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image)
    assert verified.code == 0, verified.stderr
    assert run_cli("verify", "--key", pub, "--insecure-ignore-tlog", "--bundle", tmp_path / "app.bundle",
                   image).code == 0

    checked = cosign("verify-blob-attestation", "--key", pub, "--insecure-ignore-tlog", "--bundle",
                     tmp_path / "app.bundle", "--type", SIGN_PREDICATE, "--digest", digest.split(":")[1],
                     "--digestAlg", "sha256")
    assert checked.returncode == 0 and "Verified OK" in checked.stderr, checked.stderr
    attached = cosign("verify", "--key", pub, "--insecure-ignore-tlog", *COSIGN_REGISTRY_FLAGS, image)
    assert attached.returncode == 0, attached.stderr
    (claims,) = json.loads(attached.stdout)
    assert claims["critical"]["image"]["docker-manifest-digest"] == digest
    assert claims["critical"]["type"] == SIGN_PREDICATE


def test_sign_legacy_bundle_is_cosigns_signed_payload_json(registry, tmp_path, password):
    digest = push_image(RegistryClient(), registry, "parity/legacy", tmp_path, b"legacy")
    image = f"{registry}/parity/legacy@{digest}"
    key, pub = keypair(tmp_path, "k")
    result = run_cli("sign", "--key", key, "--new-bundle-format=false", "--bundle", tmp_path / "legacy.json",
                     "--output-payload", tmp_path / "payload.json", image)
    assert result.code == 0, result.stderr
    written = json.loads((tmp_path / "legacy.json").read_bytes())
    assert list(written) == ["base64Signature"]  # a key signature: no cert, no Rekor bundle (omitempty in cosign)
    assert downloaded(image)[0]["Base64Signature"] == written["base64Signature"]
    assert (tmp_path / "payload.json").read_bytes() == simplesigning_payload(f"{registry}/parity/legacy", digest)
    (tmp_path / "sig").write_bytes(base64.b64decode(written["base64Signature"]))
    assert openssl("dgst", "-sha256", "-verify", pub, "-signature", str(tmp_path / "sig"),
                   str(tmp_path / "payload.json")).returncode == 0

    checked = cosign("verify-blob", "--key", pub, "--insecure-ignore-tlog", "--bundle", tmp_path / "legacy.json",
                     tmp_path / "payload.json")
    assert checked.returncode == 0 and "Verified OK" in checked.stderr, checked.stderr
    attached = cosign("verify", "--key", pub, "--insecure-ignore-tlog", "--new-bundle-format=false",
                      *COSIGN_REGISTRY_FLAGS, image)
    assert attached.returncode == 0, attached.stderr


def test_sign_bundle_refuses_several_images(registry, tmp_path, password):
    client = RegistryClient()
    one = push_image(client, registry, "parity/one", tmp_path, b"one")
    two = push_image(client, registry, "parity/two", tmp_path, b"two")
    key, _ = keypair(tmp_path, "k")
    refused = run_cli("sign", "--key", key, "--bundle", tmp_path / "b.json", f"{registry}/parity/one@{one}",
                      f"{registry}/parity/two@{two}")
    assert one_line_error(refused) == (f"Error: --bundle {tmp_path / 'b.json'}: one bundle file holds the signature "
                                       "of one image, and 2 images are to be signed; sign them one at a time")
    assert not (tmp_path / "b.json").exists()
    assert no_signature(registry, "parity/one", one)
    assert "no signatures found" in one_line_error(run_cli("verify", "--key", tmp_path / "k.pub",
                                                           "--insecure-ignore-tlog", f"{registry}/parity/one@{one}"))
    (tmp_path / "predicate.json").write_text("{}")
    refused = run_cli("attest", "--key", key, "--predicate", tmp_path / "predicate.json", "--bundle",
                      tmp_path / "a.json", f"{registry}/parity/one@{one}", f"{registry}/parity/two@{two}")
    assert one_line_error(refused) == (f"Error: --bundle {tmp_path / 'a.json'}: one bundle file holds the "
                                       "attestation of one image, and 2 images are to be attested; attest them "
                                       "one at a time")
    assert not (tmp_path / "a.json").exists()


# -- verify --offline --bundle ----------------------------------------------------------------------

def test_verify_offline_bundle_from_cosign_sign(registry, tmp_path, password):
    """The CI flow: cosign signs at build time and keeps the bundle; airlock verifies it offline."""
    digest = push_image(RegistryClient(), registry, "parity/ci", tmp_path, b"ci")
    image = f"{registry}/parity/ci@{digest}"
    made = cosign("generate-key-pair", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    signed = cosign("sign", "--key", tmp_path / "cosign.key", "--tlog-upload=false", "--use-signing-config=false",
                    "--upload=false", "--bundle", tmp_path / "checkout.bundle", "-y", *COSIGN_REGISTRY_FLAGS, image)
    assert signed.returncode == 0, signed.stderr
    # nothing is attached to the image: only the bundle file can verify it
    assert "no signatures found" in one_line_error(run_cli("verify", "--key", tmp_path / "cosign.pub",
                                                           "--insecure-ignore-tlog", image))
    result = run_cli("verify", "--offline", "--bundle", tmp_path / "checkout.bundle", "--key",
                     tmp_path / "cosign.pub", "--insecure-ignore-tlog", image)
    assert result.code == 0, result.stderr
    assert f"Verification for {image} --" in result.stderr
    (output,) = json.loads(result.stdout)
    assert output["critical"] == {"identity": {"docker-reference": image}, "image": {"docker-manifest-digest": digest},
                                  "type": "https://sigstore.dev/cosign/sign/v1"}  # cosign's claims from the statement
    # the same bundle is not a signature of another image
    other = push_image(RegistryClient(), registry, "parity/ci", tmp_path, b"another")
    wrong = run_cli("verify", "--offline", "--bundle", tmp_path / "checkout.bundle", "--key",
                    tmp_path / "cosign.pub", "--insecure-ignore-tlog", f"{registry}/parity/ci@{other}")
    error = one_line_error(wrong)
    assert error.startswith(f"Error: verify: {registry}/parity/ci@{other}: no signatures verified (--bundle "
                            f"{tmp_path / 'checkout.bundle'}: ")


def test_verify_bundle_checks_key_image_and_kind(tmp_path, password):
    """Airlock's own bundle, in a layout: verified instead of what is attached, and every refusal."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, "registry.local/team/app:1")
    other = add_image(layout, "registry.local/team/other:1", b"other")
    key, pub = keypair(tmp_path, "k")
    _, pub2 = keypair(tmp_path, "k2")
    bundle = tmp_path / "app.bundle"
    signed = run_cli("sign", "--key", key, "--bundle", bundle, "--upload=false", "--local-image", layout.path,
                     "registry.local/team/app:1")
    assert signed.code == 0, signed.stderr
    base = ("--insecure-ignore-tlog", "--local-image", layout.path)
    good = run_cli("verify", "--offline", "--bundle", bundle, "--key", pub, *base, "registry.local/team/app:1")
    assert good.code == 0, good.stderr
    assert "no signatures found" in one_line_error(run_cli("verify", "--key", pub, *base, "registry.local/team/app:1"))
    where = f"--bundle {bundle}"

    wrong_key = one_line_error(run_cli("verify", "--bundle", bundle, "--key", pub2, *base, "registry.local/team/app:1"))
    assert wrong_key == (f"Error: verify: registry.local/team/app:1@{digest}: no signatures verified ({where}: "
                         "signature: the DSSE signature does not verify)")
    wrong_image = one_line_error(run_cli("verify", "--bundle", bundle, "--key", pub, *base,
                                         "registry.local/team/other:1"))
    assert wrong_image == (f"Error: verify: registry.local/team/other:1@{other}: no signatures verified ({where}: "
                           f"artifact: {other} is not a subject of the in-toto statement)")
    as_attestation = run_cli("verify-attestation", "--bundle", bundle, "--key", pub, *base, "--type", SIGN_PREDICATE,
                             "registry.local/team/app:1")
    assert as_attestation.code == 0, as_attestation.stderr
    assert "predicate type 'https://sigstore.dev/cosign/sign/v1' is not 'https://cosign.sigstore.dev/attestation/v1'" \
        in one_line_error(run_cli("verify-attestation", "--bundle", bundle, "--key", pub, *base,
                                  "registry.local/team/app:1"))
    assert one_line_error(run_cli("verify", "--bundle", tmp_path / "nope", "--key", pub, *base)) == \
        f"Error: --bundle {tmp_path / 'nope'}: No such file or directory"
    assert one_line_error(run_cli("verify", "--bundle", bundle, "--new-bundle-format=false", "--key", pub, *base)) == \
        "Error: --bundle holds a Sigstore bundle: it cannot be verified with --new-bundle-format=false"
    (tmp_path / "legacy.json").write_text('{"base64Signature":"MEUCIQ=="}')
    assert "no signatures verified (" + f"--bundle {tmp_path / 'legacy.json'}" in one_line_error(
        run_cli("verify", "--bundle", tmp_path / "legacy.json", "--key", pub, *base, "registry.local/team/app:1"))


def test_verify_help_offline_and_bundle():
    result = run_cli("verify", "--help")
    text = " ".join(result.stdout.split())
    assert "--offline verify without network access (always the case for Sigstore services; accepted for cosign " \
        "compatibility)" in text
    assert "cosign v3 has no --bundle here" in text


# -- attach signature ---------------------------------------------------------------------------------

@pytest.fixture()
def openssl_signed(registry, tmp_path):
    """An image, its generated payload, and an openssl P-256 key's raw (DER) signature of it."""
    repository = f"parity/attach-{tmp_path.name[-12:].replace('_', '-').lower()}"
    digest = push_image(RegistryClient(), registry, repository, tmp_path, tmp_path.name.encode())
    image = f"{registry}/{repository}@{digest}"
    openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", str(tmp_path / "o.key"))
    openssl("ec", "-in", str(tmp_path / "o.key"), "-pubout", "-out", str(tmp_path / "o.pub"))
    payload = simplesigning_payload(f"{registry}/{repository}", digest)
    (tmp_path / "payload.json").write_bytes(payload)
    openssl("dgst", "-sha256", "-sign", str(tmp_path / "o.key"), "-out", str(tmp_path / "raw.sig"),
            str(tmp_path / "payload.json"))
    raw = (tmp_path / "raw.sig").read_bytes()
    (tmp_path / "wrapped.sig").write_bytes(base64.encodebytes(raw))  # base64(1): wrapped at 76 columns
    (tmp_path / "flat.sig").write_bytes(base64.b64encode(raw))
    return image, digest, payload, raw


def _verifies(image: str, pub) -> None:
    result = run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image)
    assert result.code == 0, result.stderr
    checked = cosign("verify", "--key", pub, "--insecure-ignore-tlog", "--new-bundle-format=false",
                     *COSIGN_REGISTRY_FLAGS, image)
    assert checked.returncode == 0, checked.stderr


def test_attach_wrapped_base64_signature(openssl_signed, tmp_path):
    image, _, payload, raw = openssl_signed
    assert b"\n" in (tmp_path / "wrapped.sig").read_bytes().strip()  # really wrapped (a 70-odd byte DER signature)
    result = run_cli("attach", "signature", "--payload", tmp_path / "payload.json", "--signature",
                     tmp_path / "wrapped.sig", image)
    assert result.code == 0, result.stderr
    (entry,) = downloaded(image)
    assert entry["Base64Signature"] == base64.b64encode(raw).decode()
    assert base64.b64decode(entry["Payload"]) == payload
    _verifies(image, tmp_path / "o.pub")


def test_attach_raw_signature(openssl_signed, tmp_path):
    image, _, _, raw = openssl_signed
    assert run_cli("attach", "signature", "--payload", tmp_path / "payload.json", "--signature",
                   tmp_path / "raw.sig", image).code == 0
    assert [e["Base64Signature"] for e in downloaded(image)] == [base64.b64encode(raw).decode()]
    _verifies(image, tmp_path / "o.pub")


def test_attach_without_payload_generates_cosigns(openssl_signed, tmp_path):
    image, _, payload, raw = openssl_signed
    result = run_cli("attach", "signature", "--signature", tmp_path / "flat.sig", image)
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines()[0] == ("WARNING: using obsolete implied signature payload data (with digested "
                                            f"reference {image}); specify it explicitly with --payload instead")
    (entry,) = downloaded(image)
    assert base64.b64decode(entry["Payload"]) == payload
    assert entry["Base64Signature"] == base64.b64encode(raw).decode()
    _verifies(image, tmp_path / "o.pub")
    generated = cosign("generate", *COSIGN_REGISTRY_FLAGS, image)
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.encode().rstrip(b"\n") == payload


@pytest.mark.parametrize("payload_flag", [True, False], ids=["with-payload", "implied-payload"])
def test_attach_signature_from_stdin(openssl_signed, tmp_path, payload_flag):
    image, _, payload, raw = openssl_signed
    extra = ["--payload", tmp_path / "payload.json"] if payload_flag else []
    result = airlock_with_stdin((tmp_path / "wrapped.sig").read_bytes(), "attach", "signature", *extra,
                                "--signature", "-", image)
    assert result.returncode == 0, result.stderr
    (entry,) = downloaded(image)
    assert entry["Base64Signature"] == base64.b64encode(raw).decode()
    assert base64.b64decode(entry["Payload"]) == payload
    _verifies(image, tmp_path / "o.pub")


def test_attach_refuses_what_cannot_be_a_signature(openssl_signed, tmp_path, registry):
    image, digest, _, _ = openssl_signed
    repository = image.split("/", 1)[1].split("@")[0]
    payload = ("--payload", tmp_path / "payload.json")
    assert one_line_error(run_cli("attach", "signature", *payload, "--signature", tmp_path / "nope.sig", image)) == \
        f"Error: --signature {tmp_path / 'nope.sig'}: No such file or directory"
    (tmp_path / "empty.sig").write_bytes(b"\n")
    assert one_line_error(run_cli("attach", "signature", *payload, "--signature", tmp_path / "empty.sig", image)) == \
        f"Error: --signature {tmp_path / 'empty.sig'}: empty signature"
    (tmp_path / "text.sig").write_text("this is not base64!\n")
    assert one_line_error(run_cli("attach", "signature", *payload, "--signature", tmp_path / "text.sig", image)) == \
        (f"Error: --signature {tmp_path / 'text.sig'}: text that is not base64 (a signature file holds base64 or the "
         "raw signature bytes)")
    empty_stdin = airlock_with_stdin(b"", "attach", "signature", *payload, "--signature", "-", image)
    assert empty_stdin.returncode != 0
    assert empty_stdin.stderr.decode().strip().splitlines()[-1] == \
        "Error: --signature - (standard input): empty signature"
    assert no_signature(registry, repository, digest)


def test_attach_a_bundle_kept_at_signing_time(registry, tmp_path, password):
    """cosign v3: `attach signature --bundle FILE IMAGE` (an alias of --payload) attaches a Sigstore
    bundle as a referrer, no --signature; airlock also checks the statement names the image."""
    client = RegistryClient()
    digest = push_image(client, registry, "parity/later", tmp_path, b"later")
    other = push_image(client, registry, "parity/later-other", tmp_path, b"other image")
    image = f"{registry}/parity/later@{digest}"
    key, pub = keypair(tmp_path, "k")
    bundle = tmp_path / "kept.bundle"
    assert run_cli("sign", "--key", key, "--upload=false", "--bundle", bundle, image).code == 0
    assert "no signatures found" in one_line_error(run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image))

    elsewhere = f"{registry}/parity/later-other@{other}"
    assert one_line_error(run_cli("attach", "signature", "--bundle", bundle, elsewhere)) == \
        f"Error: --payload {bundle}: the bundle's statement is not about {registry}/parity/later-other@{other}"
    assert one_line_error(run_cli("attach", "signature", "--bundle", bundle, "--signature", bundle, image)) == \
        f"Error: --payload {bundle} is a Sigstore bundle, which holds its signature: drop --signature"
    assert one_line_error(run_cli("attach", "signature", "--payload", tmp_path / "k.pub", image)) == \
        "Error: --signature FILE (or - for standard input) is required, unless --payload/--bundle is a Sigstore bundle"
    assert "no signatures found" in one_line_error(run_cli("verify", "--key", pub, "--insecure-ignore-tlog",
                                                           elsewhere))

    attached = run_cli("attach", "signature", "--bundle", bundle, image)
    assert attached.code == 0, attached.stderr
    assert f"Attached the bundle to {image}: referrer sha256:" in attached.stderr
    verified = run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image)
    assert verified.code == 0, verified.stderr
    assert no_signature(registry, "parity/later", digest)  # a referrer, not a .sig layer
    checked = cosign("verify", "--key", pub, "--insecure-ignore-tlog", *COSIGN_REGISTRY_FLAGS, image)
    assert checked.returncode == 0, checked.stderr


def test_attach_a_bundle_cosign_kept(registry, tmp_path):
    digest = push_image(RegistryClient(), registry, "parity/cosign-kept", tmp_path, b"cosign kept")
    image = f"{registry}/parity/cosign-kept@{digest}"
    assert cosign("generate-key-pair", cwd=tmp_path).returncode == 0
    signed = cosign("sign", "--key", tmp_path / "cosign.key", "--tlog-upload=false", "--use-signing-config=false",
                    "--upload=false", "--bundle", tmp_path / "c.bundle", "-y", *COSIGN_REGISTRY_FLAGS, image)
    assert signed.returncode == 0, signed.stderr
    assert run_cli("attach", "signature", "--bundle", tmp_path / "c.bundle", image).code == 0
    for verify in (lambda: run_cli("verify", "--key", tmp_path / "cosign.pub", "--insecure-ignore-tlog", image).code,
                   lambda: cosign("verify", "--key", tmp_path / "cosign.pub", "--insecure-ignore-tlog",
                                  *COSIGN_REGISTRY_FLAGS, image).returncode):
        assert verify() == 0


def test_attest_bundle_is_verified_by_both(tmp_path, registry, password):
    """cosign v3's `attest --key K --predicate P --type T --bundle F IMAGE`: F is the Sigstore bundle."""
    digest = push_image(RegistryClient(), registry, "parity/attest", tmp_path, b"attest")
    image = f"{registry}/parity/attest@{digest}"
    key, pub = keypair(tmp_path, "k")
    (tmp_path / "sbom.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3"}))
    bundle = tmp_path / "att.bundle"
    assert one_line_error(run_cli("attest", "--key", key, "--predicate", tmp_path / "sbom.json", "--type", "spdxjson",
                                  "--new-bundle-format=false", "--bundle", bundle, image)) == \
        (f"Error: --bundle {bundle}: a bundle file needs the new bundle format (cosign writes none with "
         "--new-bundle-format=false)")
    result = run_cli("attest", "--key", key, "--predicate", tmp_path / "sbom.json", "--type", "spdxjson",
                     "--bundle", bundle, image)
    assert result.code == 0, result.stderr
    assert stat.S_IMODE(os.stat(bundle).st_mode) == 0o600
    statement = json.loads(base64.b64decode(json.loads(bundle.read_bytes())["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == "https://spdx.dev/Document"
    assert statement["predicate"] == {"spdxVersion": "SPDX-2.3"}
    base = ("--key", pub, "--insecure-ignore-tlog", "--type", "spdxjson")
    assert run_cli("verify-attestation", *base, "--bundle", bundle, image).code == 0
    assert "type: the bundle is an attestation (https://spdx.dev/Document), not a signature; use verify-attestation)" \
        in one_line_error(run_cli("verify", "--key", pub, "--insecure-ignore-tlog",
                                  "--bundle", bundle, image))
    attached = run_cli("verify-attestation", *base, image)  # attached as a referrer too, as cosign v3 does
    assert attached.code == 0, attached.stderr

    checked = cosign("verify-blob-attestation", "--key", pub, "--insecure-ignore-tlog", "--bundle", bundle,
                     "--type", "spdxjson", "--digest", digest.split(":")[1], "--digestAlg", "sha256")
    assert checked.returncode == 0 and "Verified OK" in checked.stderr, checked.stderr
    remote = cosign("verify-attestation", *base, *COSIGN_REGISTRY_FLAGS, image)
    assert remote.returncode == 0, remote.stderr


def test_verify_bundle_hostile_file_is_a_reason(tmp_path, password):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, "registry.local/team/app:1")
    _, pub = keypair(tmp_path, "k")
    (tmp_path / "deep.json").write_bytes(b"[" * 100_000)
    error = one_line_error(run_cli("verify", "--bundle", tmp_path / "deep.json", "--key", pub, "--insecure-ignore-tlog",
                                   "--local-image", layout.path))
    assert error.startswith(f"Error: verify: registry.local/team/app:1@{digest}: no signatures verified (--bundle "
                            f"{tmp_path / 'deep.json'}: bundle: ")
