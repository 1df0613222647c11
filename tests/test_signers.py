"""Signers: in-memory keys, keys on a SoftHSM2 token (PKCS#11), keys in AWS KMS (moto on 127.0.0.1).

Every signature is checked twice, independently: with ``airlock.crypto.verify_message`` and with
``openssl dgst -verify`` (or, for Ed25519, ``openssl pkeyutl -rawin``).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa

from airlock.crypto import verify_message
from airlock.errors import AirlockError, KeyReferenceError, SignerError, UsageError
from airlock.sign import signers
from airlock.sign.signers import (
    AwsKmsSigner,
    FileSigner,
    Pkcs11Signer,
    create_kms_key,
    parse_awskms_uri,
    parse_pkcs11_uri,
    pkcs11_config,
    signer_from_uri,
)

DATA = b'{"critical":{"identity":{"docker-reference":"registry.example/app"}},"optional":null}'


def openssl_verify(tmp_path: Path, public_pem: bytes, signature: bytes, data: bytes, digest: str = "sha256") -> bool:
    """``openssl dgst -<digest> -verify`` (``pkeyutl -rawin`` for Ed25519): an independent check."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    (tmp_path / "pub.pem").write_bytes(public_pem)
    (tmp_path / "sig").write_bytes(signature)
    (tmp_path / "data").write_bytes(data)
    key = serialization.load_pem_public_key(public_pem)
    if isinstance(key, ed25519.Ed25519PublicKey):
        command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "data",
                   "-sigfile", "sig"]
    else:
        command = ["openssl", "dgst", f"-{digest}", "-verify", "pub.pem", "-signature", "sig", "data"]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and "Verified" in proc.stdout + proc.stderr


def check(signer: signers.Signer, tmp_path: Path, digest: str = "sha256") -> bytes:
    """Sign DATA; the signature verifies with both checkers, and a changed message fails with both."""
    signature = signer.sign(DATA)
    key = signer.public_key()
    assert serialization.load_pem_public_key(signer.public_key_pem()) == key
    assert verify_message(key, signature, DATA)
    assert not verify_message(key, signature, DATA + b"x")
    assert openssl_verify(tmp_path, signer.public_key_pem(), signature, DATA, digest)
    assert not openssl_verify(tmp_path, signer.public_key_pem(), signature, DATA + b"x", digest)
    return signature


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert isinstance(exc.value, AirlockError) and text and "\n" not in text, text
    return text


# -- FileSigner ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "algorithm", "digest"), [
    (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha2-256-nistp256", "sha256"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-sha2-384-nistp384", "sha384"),
    (lambda: ec.generate_private_key(ec.SECP521R1()), "ecdsa-sha2-512-nistp521", "sha512"),
    (lambda: rsa.generate_private_key(65537, 2048), "rsa-sign-pkcs1-2048-sha256", "sha256"),
    (ed25519.Ed25519PrivateKey.generate, "ed25519", None),
], ids=["p256", "p384", "p521", "rsa2048", "ed25519"])
def test_file_signer(make, algorithm, digest, tmp_path):
    private = make()
    signer = FileSigner(private)
    assert signer.algorithm == algorithm
    assert signer.public_key() == private.public_key()
    assert signer.public_key_pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert signer.certificate_pem() is None
    signature = check(signer, tmp_path, digest or "sha256")
    if isinstance(private, ec.EllipticCurvePrivateKey):
        assert signature[0] == 0x30  # ASN.1 DER SEQUENCE, as cosign writes
        # the curve's digest, not SHA-256 for every curve (except P-256, where they coincide)
        assert verify_message(signer.public_key(), signature, DATA, digest)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        assert len(signature) == 64


def test_file_signer_rejects_unsupported_keys():
    with pytest.raises(SignerError, match="unsupported curve secp256k1"):
        FileSigner(ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(SignerError, match="unsupported private key type"):
        FileSigner(dsa.generate_private_key(1024))


# -- dispatch --------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", [
    "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
    "azurekms://vault.vault.azure.net/key",
    "hashivault://transit-key",
    "k8s://namespace/secret",
])
def test_unknown_scheme(reference):
    with pytest.raises(KeyReferenceError) as exc:
        signer_from_uri(reference)
    assert one_line(exc) == f"unsupported key reference '{reference}': supported are a key file path, pkcs11:, awskms://"
    assert isinstance(exc.value, UsageError)
    with pytest.raises(KeyReferenceError, match="unsupported KMS reference"):
        create_kms_key(reference)


def test_key_file_path_needs_a_loader(tmp_path):
    with pytest.raises(KeyReferenceError, match="is a key file path"):
        signer_from_uri(str(tmp_path / "cosign.key"))
    private = ec.generate_private_key(ec.SECP256R1())
    seen = []
    signer = signer_from_uri("cosign.key", load_key_file=lambda path: seen.append(path) or private)
    assert isinstance(signer, FileSigner) and seen == ["cosign.key"]
    assert signer.public_key() == private.public_key()


def test_awskms_without_slashes_is_an_aws_reference():
    with pytest.raises(KeyReferenceError, match="invalid AWS KMS reference 'awskms:alias/x'"):
        signer_from_uri("awskms:alias/x")


def test_unknown_scheme_error_hides_pin():
    with pytest.raises(KeyReferenceError) as exc:
        signer_from_uri("vault://x?pin-value=s3cret&y=1")
    assert "s3cret" not in one_line(exc)


# -- PKCS#11 URIs (no token needed) ----------------------------------------------------------------

def test_pkcs11_uri_percent_decoding():
    uri = parse_pkcs11_uri("pkcs11:token=My%20Token;object=a%3Bb%3Fc+d;id=%01%FF%00"
                           "?module-path=/opt/p%2011/lib.so&pin-value=12%2634")
    assert uri.token == "My Token"
    assert uri.object == "a;b?c+d"  # '+' is literal in RFC 7512 (no form-encoding)
    assert uri.id == b"\x01\xff\x00"
    assert uri.text("module-path") == "/opt/p 11/lib.so"
    assert uri.text("pin-value") == "12&34"
    assert uri.describe() == "object='a;b?c+d' id=%01%ff%00"


def test_pkcs11_uri_path_and_query_are_separate():
    uri = parse_pkcs11_uri("pkcs11:TOKEN=t;slot-id=7;x-vendor=1;;object=k?module-path=/m.so&pin-source=file:/p")
    assert uri.path == {"token": b"t", "slot-id": b"7", "x-vendor": b"1", "object": b"k"}
    assert uri.query == {"module-path": b"/m.so", "pin-source": b"file:/p"}
    assert uri.slot_id == 7


@pytest.mark.parametrize(("uri", "message"), [
    ("pkcs11://token=t;object=k", "without '//'"),
    ("pkcs12:token=t", "must start with 'pkcs11:'"),
    ("pkcs11:token=t;token=u;object=k", "'token' appears twice"),
    ("pkcs11:token=t;pin-value=1234", "unknown path attribute 'pin-value'"),
    ("pkcs11:token=t;object=k?pin=1234", "unknown query attribute 'pin'"),
    ("pkcs11:token=t;object=k%2", "malformed %-escape"),
    ("pkcs11:token=t;object", "attribute 'object' has no '=value'"),
    ("pkcs11:token=t;object=k;type=cert", "type=cert does not name a private key"),
    ("pkcs11:token=t;object=k#frag", "'#' must be percent-encoded"),
    ("pkcs11:token=%ff;object=k", "token is not UTF-8"),
])
def test_pkcs11_uri_errors(uri, message):
    with pytest.raises(KeyReferenceError) as exc:
        parse_pkcs11_uri(uri).token  # noqa: B018 (decoding is lazy)
    assert message in one_line(exc)


def test_pkcs11_config_resolution(tmp_path, monkeypatch):
    module = tmp_path / "module.so"
    module.write_bytes(b"")
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    monkeypatch.delenv("COSIGN_PKCS11_MODULE_PATH", raising=False)

    with pytest.raises(KeyReferenceError, match="name the token"):
        pkcs11_config(f"pkcs11:object=k?module-path={module}")
    with pytest.raises(KeyReferenceError, match="name the key"):
        pkcs11_config(f"pkcs11:token=t?module-path={module}")
    with pytest.raises(KeyReferenceError, match="COSIGN_PKCS11_MODULE_PATH"):
        pkcs11_config("pkcs11:token=t;object=k")
    with pytest.raises(KeyReferenceError, match="not absolute"):
        pkcs11_config("pkcs11:token=t;object=k?module-path=lib.so")
    with pytest.raises(SignerError, match="does not exist"):
        pkcs11_config(f"pkcs11:token=t;object=k?module-path={tmp_path}/missing.so")

    config = pkcs11_config(f"pkcs11:token=t;object=k?module-path={module}")
    assert (config.module, config.pin) == (str(module), None)

    monkeypatch.setenv("COSIGN_PKCS11_MODULE_PATH", str(module))
    monkeypatch.setenv("COSIGN_PKCS11_PIN", "from-env")
    config = pkcs11_config("pkcs11:token=t;object=k")
    assert (config.module, config.pin) == (str(module), "from-env")
    assert pkcs11_config("pkcs11:token=t;object=k?pin-value=from-uri").pin == "from-uri"

    pin_file = tmp_path / "pin"
    pin_file.write_text("from-file\n")
    assert pkcs11_config(f"pkcs11:token=t;object=k?pin-source=file:{pin_file}").pin == "from-file"
    assert pkcs11_config(f"pkcs11:token=t;object=k?pin-source=file://{pin_file}").pin == "from-file"
    assert pkcs11_config(f"pkcs11:token=t;object=k?pin-source={pin_file}").pin == "from-file"
    with pytest.raises(SignerError, match="cannot read pin-source"):
        pkcs11_config(f"pkcs11:token=t;object=k?pin-source=file:{tmp_path}/nope")
    with pytest.raises(KeyReferenceError, match="not both"):
        pkcs11_config(f"pkcs11:token=t;object=k?pin-value=1&pin-source=file:{pin_file}")


# -- PKCS#11 on SoftHSM2 ---------------------------------------------------------------------------

def _label(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _import_key(softhsm, private, label: str, key_id: bytes) -> None:
    """Put a private key on the token with softhsm2-util (another process; it also adds the public key)."""
    pem = softhsm.directory / f"{label}.pem"
    pem.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    proc = subprocess.run(["softhsm2-util", "--import", str(pem), "--token", softhsm.label, "--label", label,
                           "--id", key_id.hex(), "--pin", softhsm.pin], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def _session(softhsm):
    import pkcs11

    return pkcs11.lib(softhsm.module).get_token(token_label=softhsm.label).open(rw=True, user_pin=softhsm.pin)


def test_pkcs11_create_sign_verify(softhsm, tmp_path):
    label = _label("signing-key")
    uri = softhsm.uri(object=label)
    signer = create_kms_key(uri)
    assert isinstance(signer, Pkcs11Signer)
    assert signer.algorithm == "ecdsa-sha2-256-nistp256"
    check(signer, tmp_path)

    again = signer_from_uri(uri)  # a fresh signer finds the same key
    assert again.public_key() == signer.public_key()
    check(again, tmp_path)

    with pytest.raises(SignerError) as exc:
        create_kms_key(uri)
    assert f"a private key with object='{label}' already exists" in one_line(exc)


def test_pkcs11_label_and_id_percent_encoded(softhsm, tmp_path):
    label = _label("key with spaces;semi/slash é")
    key_id = b"\x00\x01%\xff"
    signer = create_kms_key(softhsm.uri(object=label, id=key_id))
    assert "%20" in softhsm.uri(object=label) and "%3B" in softhsm.uri(object=label)
    by_id = signer_from_uri(softhsm.uri(id=key_id))
    by_label = signer_from_uri(softhsm.uri(object=label))
    assert by_id.public_key() == by_label.public_key() == signer.public_key()
    check(by_id, tmp_path)


def test_pkcs11_rsa_key(softhsm, tmp_path):
    private = rsa.generate_private_key(65537, 2048)
    label = _label("rsa")
    _import_key(softhsm, private, label, b"\x0a\x02")
    signer = signer_from_uri(softhsm.uri(object=label))
    assert signer.public_key() == private.public_key()
    assert signer.algorithm == "rsa-sign-pkcs1-2048-sha256"
    signature = check(signer, tmp_path)
    # PKCS#1 v1.5 is deterministic: the token signs exactly as the key file would
    assert signature == private.sign(DATA, padding.PKCS1v15(), hashes.SHA256())

    signer._rsa_hash_and_sign = False  # tokens without CKM_SHA256_RSA_PKCS: CKM_RSA_PKCS over DigestInfo
    assert signer.sign(DATA) == signature


def test_pkcs11_p384_public_key_from_certificate(softhsm, tmp_path):
    """No public key object, a certificate instead: the public key and certificate come from it,
    and P-384 signs over SHA-384."""
    import datetime

    import pkcs11
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP384R1())
    label, key_id = _label("p384"), b"\x0b\x03"
    _import_key(softhsm, private, label, key_id)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(private, hashes.SHA384()))
    der = cert.public_bytes(serialization.Encoding.DER)
    with _session(softhsm) as session:
        for obj in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY,
                                        pkcs11.Attribute.ID: key_id}):
            obj.destroy()
        session.create_object({
            pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
            pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
            pkcs11.Attribute.TOKEN: True, pkcs11.Attribute.LABEL: label, pkcs11.Attribute.ID: key_id,
            pkcs11.Attribute.SUBJECT: name.public_bytes(), pkcs11.Attribute.VALUE: der,
        })
    signer = signer_from_uri(softhsm.uri(id=key_id))
    assert signer.public_key() == private.public_key()
    assert signer.certificate_pem() == cert.public_bytes(serialization.Encoding.PEM)
    assert signer.algorithm == "ecdsa-sha2-384-nistp384"
    check(signer, tmp_path, "sha384")


def test_pkcs11_mismatched_public_key_object(softhsm):
    """A public key object that belongs to another key: signing fails rather than hand out
    signatures that will never verify with the public key ``public-key`` prints."""
    import pkcs11
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    label, key_id = _label("mismatch"), b"\x0d\x04"
    _import_key(softhsm, ec.generate_private_key(ec.SECP256R1()), label, key_id)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = other.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    with _session(softhsm) as session:
        for obj in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY,
                                        pkcs11.Attribute.ID: key_id}):
            obj.destroy()
        session.create_object({
            pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY, pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.EC,
            pkcs11.Attribute.TOKEN: True, pkcs11.Attribute.LABEL: label, pkcs11.Attribute.ID: key_id,
            pkcs11.Attribute.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"),
            pkcs11.Attribute.EC_POINT: b"\x04\x41" + point,  # DER OCTET STRING, as CKA_EC_POINT should be
        })
    signer = signer_from_uri(softhsm.uri(object=label))
    assert signer.public_key() == other
    with pytest.raises(SignerError) as exc:
        signer.sign(DATA)
    assert one_line(exc).startswith(f"the signature from PKCS#11 key object='{label}' does not verify")


def test_pkcs11_ed25519_key(softhsm, tmp_path):
    import pkcs11

    label = _label("ed25519")
    with _session(softhsm) as session:
        if pkcs11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN not in session.token.slot.get_mechanisms():
            pytest.skip("this SoftHSM has no EdDSA")
        session.generate_keypair(pkcs11.KeyType.EC_EDWARDS, store=True, label=label, id=b"\x0c",
                                 public_template={pkcs11.Attribute.EC_PARAMS: bytes.fromhex("06032b6570")})
    signer = signer_from_uri(softhsm.uri(object=label))
    assert signer.algorithm == "ed25519"
    check(signer, tmp_path)


def test_pkcs11_pin_from_file_and_env(softhsm, tmp_path, monkeypatch):
    label = _label("pin-source")
    create_kms_key(softhsm.uri(object=label))
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm.pin + "\n")
    check(signer_from_uri(softhsm.uri(object=label, pin=False, **{"pin-source": f"file:{pin_file}"})), tmp_path)

    monkeypatch.setenv("COSIGN_PKCS11_PIN", softhsm.pin)
    monkeypatch.setenv("COSIGN_PKCS11_MODULE_PATH", softhsm.module)
    check(signer_from_uri(f"pkcs11:token={softhsm.label};object={label}"), tmp_path)


def test_pkcs11_errors(softhsm, monkeypatch):
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    label = _label("errors")
    create_kms_key(softhsm.uri(object=label))

    with pytest.raises(SignerError) as exc:
        signer_from_uri(softhsm.uri(object=label).replace(f"token={softhsm.label}", "token=no-such-token"))
    assert one_line(exc).startswith(f"no PKCS#11 token with token='no-such-token' in {softhsm.module} "
                                    f"(initialized tokens: '{softhsm.label}')")

    wrong = softhsm.uri(object=label).replace(f"pin-value={softhsm.pin}", "pin-value=0000")
    with pytest.raises(SignerError) as exc:
        signer_from_uri(wrong)
    assert one_line(exc) == f"PKCS#11 token '{softhsm.label}': login failed: incorrect PIN"
    assert "0000" not in str(exc.value)

    with pytest.raises(SignerError) as exc:
        signer_from_uri(softhsm.uri(object=label, pin=False))
    assert "needs a PIN" in one_line(exc)

    with pytest.raises(SignerError) as exc:
        signer_from_uri(softhsm.uri(object="no-such-key"))
    assert one_line(exc) == f"no private key with object='no-such-key' on PKCS#11 token '{softhsm.label}'"

    with pytest.raises(SignerError, match="2 private keys match"):
        with _session(softhsm) as session:
            import pkcs11

            for name in ("dup-a", "dup-b"):
                session.generate_keypair(pkcs11.KeyType.EC, store=True, label=name, id=b"\xdd",
                                         public_template={pkcs11.Attribute.EC_PARAMS: bytes.fromhex(
                                             "06082a8648ce3d030107")})
        signer_from_uri(softhsm.uri(id=b"\xdd"))
    check_ok = signer_from_uri(softhsm.uri(object="dup-a", id=b"\xdd"))  # both attributes must match
    assert check_ok.algorithm == "ecdsa-sha2-256-nistp256"


# -- AWS KMS (moto on 127.0.0.1) -------------------------------------------------------------------

def test_awskms_reference_forms():
    key = "1234abcd-12ab-34cd-56ef-1234567890ab"
    ref = parse_awskms_uri(f"awskms:///{key}")
    assert ref == ("", key, None, None) and ref.endpoint_url is None
    ref = parse_awskms_uri(f"awskms://localhost:4566/arn:aws:kms:eu-west-2:111122223333:key/{key}")
    assert ref.region == "eu-west-2" and ref.alias is None and ref.endpoint_url == "http://localhost:4566"
    ref = parse_awskms_uri("awskms://kms.example.internal/alias/team/signing")
    assert ref.key_id == ref.alias == "alias/team/signing"
    assert ref.endpoint_url == "https://kms.example.internal"
    ref = parse_awskms_uri("awskms:///arn:aws:kms:us-west-1:111122223333:alias/x")
    assert ref.alias == "alias/x" and ref.key_id.startswith("arn:") and ref.region == "us-west-1"
    assert parse_awskms_uri("awskms://127.0.0.1:5000/mrk-1234abcd12ab34cd56ef1234567890ab").endpoint_url == \
        "http://127.0.0.1:5000"
    for bad in ("awskms://", "awskms:///", "awskms:///not-a-key", "awskms:///alias/", "awskms:alias/x"):
        with pytest.raises(KeyReferenceError, match="invalid AWS KMS reference"):
            parse_awskms_uri(bad)


def test_awskms_create_sign_verify(aws_kms, tmp_path):
    uri = f"awskms://{aws_kms}/alias/airlock-test-{uuid.uuid4().hex[:8]}"
    signer = create_kms_key(uri)
    assert isinstance(signer, AwsKmsSigner)
    assert signer.algorithm == "ecdsa-sha2-256-nistp256"
    check(signer, tmp_path)

    again = signer_from_uri(uri)
    assert again.public_key() == signer.public_key()
    check(again, tmp_path)
    assert create_kms_key(uri).public_key() == signer.public_key()  # an existing alias is reused, as cosign does

    import boto3

    client = boto3.client("kms", endpoint_url=f"http://{aws_kms}")
    metadata = client.describe_key(KeyId=signer.reference.key_id)["KeyMetadata"]
    assert (metadata["KeySpec"], metadata["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    by_id = signer_from_uri(f"awskms://{aws_kms}/{metadata['KeyId']}")
    by_arn = signer_from_uri(f"awskms://{aws_kms}/{metadata['Arn']}")
    assert by_id.public_key() == by_arn.public_key() == signer.public_key()
    check(by_arn, tmp_path)


@pytest.mark.parametrize(("spec", "algorithm", "digest"), [
    ("ECC_NIST_P384", "ecdsa-sha2-384-nistp384", "sha384"),
    ("RSA_2048", "rsa-sign-pkcs1-2048-sha256", "sha256"),
])
def test_awskms_other_key_specs(aws_kms, tmp_path, spec, algorithm, digest):
    import boto3

    client = boto3.client("kms", endpoint_url=f"http://{aws_kms}")
    key_id = client.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = signer_from_uri(f"awskms://{aws_kms}/{key_id}")
    assert signer.algorithm == algorithm
    check(signer, tmp_path, digest)


def test_awskms_errors(aws_kms):
    with pytest.raises(SignerError) as exc:
        signer_from_uri(f"awskms://{aws_kms}/alias/no-such-alias")
    text = one_line(exc)
    assert text.startswith("AWS KMS get-public-key alias/no-such-alias: NotFoundException: "), text
    assert "alias/no-such-alias" in text.split("NotFoundException: ", 1)[1]

    import boto3

    client = boto3.client("kms", endpoint_url=f"http://{aws_kms}")
    key_id = client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(SignerError) as exc:  # real KMS refuses GetPublicKey here; moto answers
        signer_from_uri(f"awskms://{aws_kms}/{key_id}")
    text = one_line(exc)
    assert text.startswith(f"AWS KMS get-public-key {key_id}: ") or \
        text == f"AWS KMS key {key_id} has KeyUsage ENCRYPT_DECRYPT, not SIGN_VERIFY", text

    with pytest.raises(KeyReferenceError, match="needs an alias"):
        create_kms_key(f"awskms://{aws_kms}/{key_id}")


def test_awskms_signature_is_checked(aws_kms, monkeypatch):
    """An endpoint that signs something else (as unpatched moto does with MessageType=DIGEST)."""
    signer = create_kms_key(f"awskms://{aws_kms}/alias/airlock-check-{uuid.uuid4().hex[:8]}")
    other = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setattr(signer._client, "sign", lambda **kw: {"Signature": other.sign(DATA, ec.ECDSA(hashes.SHA256()))})
    with pytest.raises(SignerError) as exc:
        signer.sign(DATA)
    assert one_line(exc).startswith(f"the signature from AWS KMS key {signer.reference.key_id} does not verify")


def test_awskms_unreachable_endpoint(aws_kms, monkeypatch):
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(SignerError) as exc:
        signer_from_uri(f"awskms://127.0.0.1:{port}/alias/x")
    assert one_line(exc).startswith("AWS KMS get-public-key alias/x: Could not connect")
