"""cosign key files: encrypted cosign.key interop (checked with hashlib + PyNaCl directly, not through
airlock), the accepted scrypt parameters, one-line rejections, passwords from env/stdin/terminal,
overwrite protection, and importing keys made by the openssl CLI and by cryptography.

scrypt at cosign's N=65536 costs ~0.2 s, so real scrypt runs only where the KDF is the point;
tests of the command plumbing swap in a cheap stand-in (``fast_scrypt``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import nacl.secret
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import airlock.sign
from airlock.errors import AirlockError, KeyFileError
from airlock.sign import keys

PASSWORD = b"correct horse"
MAXMEM = 256 * 1024 * 1024
JSON_SHAPE = re.compile(
    r'\{"kdf":\{"name":"scrypt","params":\{"N":65536,"r":8,"p":1\},"salt":"([A-Za-z0-9+/=]+)"\},'
    r'"cipher":\{"name":"nacl/secretbox","nonce":"([A-Za-z0-9+/=]+)"\},"ciphertext":"([A-Za-z0-9+/=]+)"\}')
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


class Result(NamedTuple):
    code: int
    stdout: str
    stderr: str


class FakeStdin(io.TextIOWrapper):
    """stdin with chosen bytes and a chosen answer to isatty()."""

    def __init__(self, data: bytes, tty: bool) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    """Every test in its own directory, with no password in the environment and nothing on stdin."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"", tty=False))
    return tmp_path


@pytest.fixture
def stdin(monkeypatch) -> Callable[..., None]:
    def set_stdin(data: bytes = b"", tty: bool = False) -> None:
        monkeypatch.setattr(sys, "stdin", FakeStdin(data, tty))

    return set_stdin


@pytest.fixture
def fast_scrypt(monkeypatch):
    """A cheap deterministic stand-in for scrypt, for tests about everything but the KDF."""
    monkeypatch.setattr(keys, "_scrypt", lambda password, salt, n, r, p: hashlib.sha256(
        b"%d/%d/%d/" % (n, r, p) + salt + b"/" + password).digest())


@pytest.fixture
def no_scrypt(monkeypatch):
    """Fail the test if scrypt runs: rejections must come before the expensive step."""
    def refuse(*args, **kwargs):
        raise AssertionError("scrypt ran")

    monkeypatch.setattr(keys, "_scrypt", refuse)
    monkeypatch.setattr(hashlib, "scrypt", refuse)


def cli(*argv: str) -> Result:
    """Run one key command as ``airlock.cli.main`` would, without the rest of the CLI."""
    from airlock.cli import _go_bool_arguments, build_parser

    parser = build_parser()
    argv = tuple(_go_bool_arguments(list(argv)))
    out, err = io.StringIO(), io.StringIO()
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            args = parser.parse_args(list(argv))
            code = int(args.run(args) or 0)
        except AirlockError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = exc.exit_code
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    return Result(code, out.getvalue(), err.getvalue())


def error_line(result: Result) -> str:
    assert result.code != 0 and result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- independent implementation of the format (hashlib + PyNaCl, no airlock) -------------------


def pem_body(pem: bytes, pem_type: str) -> bytes:
    match = re.fullmatch(rb"-----BEGIN %s-----\n((?:[A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n)-----END %s-----\n"
                         % (pem_type.encode(), pem_type.encode()), pem)
    assert match, pem
    return base64.b64decode(match.group(1))


def independent_decrypt(pem: bytes, password: bytes) -> bytes:
    document = json.loads(pem_body(pem, "ENCRYPTED SIGSTORE PRIVATE KEY"))
    params = document["kdf"]["params"]
    key = hashlib.scrypt(password, salt=base64.b64decode(document["kdf"]["salt"]), n=params["N"], r=params["r"],
                         p=params["p"], dklen=32, maxmem=MAXMEM)
    return nacl.secret.SecretBox(key).decrypt(base64.b64decode(document["ciphertext"]),
                                              base64.b64decode(document["cipher"]["nonce"]))


def independent_encrypt(der: bytes, password: bytes, n: int = 32768, pem_type: str = "ENCRYPTED SIGSTORE PRIVATE KEY",
                        **overrides) -> bytes:
    """A cosign.key as go-securesystemslib writes it; ``overrides`` replace fields before encoding."""
    salt, nonce = os.urandom(32), os.urandom(24)
    key = hashlib.scrypt(password, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=MAXMEM)
    sealed = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    return forge(n=n, salt=salt, nonce=nonce, ciphertext=sealed, pem_type=pem_type, **overrides)


def forge(n=65536, r=8, p=1, kdf="scrypt", cipher="nacl/secretbox", salt=b"s" * 32, nonce=b"n" * 24,
          ciphertext=b"c" * 64, pem_type="ENCRYPTED SIGSTORE PRIVATE KEY", b64=None) -> bytes:
    encode = b64 or (lambda data: base64.b64encode(data).decode())
    document = {"kdf": {"name": kdf, "params": {"N": n, "r": r, "p": p}, "salt": encode(salt)},
                "cipher": {"name": cipher, "nonce": encode(nonce)}, "ciphertext": encode(ciphertext)}
    body = base64.b64encode(json.dumps(document, separators=(",", ":")).encode())
    lines = b"".join(body[i:i + 64] + b"\n" for i in range(0, len(body), 64))
    return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (pem_type.encode(), lines, pem_type.encode())


def der(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def legacy_key():
    """(P-256 key, its cosign.key made independently with cosign's legacy N=32768)."""
    private = ec.generate_private_key(ec.SECP256R1())
    return private, independent_encrypt(der(private), PASSWORD, n=32768)


# --- generate-key-pair / public-key round trip -------------------------------------------------


def test_generate_key_pair_is_cosign_format_and_decrypts_independently(monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD.decode())
    result = cli("generate-key-pair")
    assert result == Result(0, "", "Private key written to cosign.key\nPublic key written to cosign.pub\n")
    assert stat.S_IMODE(os.stat("cosign.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat("cosign.pub").st_mode) == 0o644
    pem = Path("cosign.key").read_bytes()
    salt, nonce, ciphertext = JSON_SHAPE.fullmatch(pem_body(pem, "ENCRYPTED SIGSTORE PRIVATE KEY").decode()).groups()
    assert len(base64.b64decode(salt)) == 32 and len(base64.b64decode(nonce)) == 24
    plaintext = independent_decrypt(pem, PASSWORD)
    assert len(base64.b64decode(ciphertext)) == len(plaintext) + 16  # tag || ciphertext, no nonce prefix
    private = serialization.load_der_private_key(plaintext, None)
    assert isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp256r1"
    pub = Path("cosign.pub").read_bytes()
    assert pub == spki_pem(private) and pub.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert cli("public-key", "--key", "cosign.key") == Result(0, pub.decode(), "")


@pytest.mark.parametrize("n", [32768, 131072])
def test_other_accepted_scrypt_n(n):
    private = ed25519.Ed25519PrivateKey.generate()
    pem = independent_encrypt(der(private), PASSWORD, n=n)
    assert keys.parse_encrypted_key(pem).n == n
    assert keys.public_key_pem(keys.decrypt_private_key(pem, PASSWORD)) == spki_pem(private)


def test_legacy_cosign_pem_type_and_go_json_case_folding(legacy_key, fast_scrypt):
    private, _ = legacy_key
    pem = keys.encrypt_private_key(private, b"pw", pem_type=keys.COSIGN_PEM_TYPE)
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    assert keys.public_key_pem(keys.decrypt_private_key(pem, b"pw")) == spki_pem(private)
    # Go matches JSON keys to struct fields case-insensitively; so does the reader.
    body = pem_body(pem, "ENCRYPTED COSIGN PRIVATE KEY").replace(b'"kdf"', b'"KDF"').replace(b'"nonce"', b'"Nonce"')
    relabelled = keys.pem_encode("ENCRYPTED COSIGN PRIVATE KEY", body)
    assert keys.public_key_pem(keys.decrypt_private_key(relabelled, b"pw")) == spki_pem(private)


def test_public_key_from_file_with_piped_password(legacy_key, stdin):
    private, pem = legacy_key
    Path("legacy.key").write_bytes(pem)
    stdin(PASSWORD)
    assert cli("public-key", "--key", "legacy.key", "--outfile", "out.pub") == Result(
        0, "", "Public key written to out.pub\n")
    assert Path("out.pub").read_bytes() == spki_pem(private)


# --- rejections --------------------------------------------------------------------------------


def test_wrong_password_is_one_line(legacy_key, monkeypatch):
    Path("cosign.key").write_bytes(legacy_key[1])
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    result = cli("public-key", "--key", "cosign.key")
    assert result.code == 1
    assert error_line(result) == "Error: cosign.key: wrong password or corrupted key (decryption failed)"


def test_tampered_ciphertext(legacy_key):
    pem = legacy_key[1]
    document = json.loads(pem_body(pem, "ENCRYPTED SIGSTORE PRIVATE KEY"))
    sealed = bytearray(base64.b64decode(document["ciphertext"]))
    sealed[-1] ^= 1
    document["ciphertext"] = base64.b64encode(bytes(sealed)).decode()
    tampered = keys.pem_encode(keys.SIGSTORE_PEM_TYPE, json.dumps(document, separators=(",", ":")).encode())
    with pytest.raises(KeyFileError) as caught:
        keys.decrypt_private_key(tampered, PASSWORD, "cosign.key")
    assert str(caught.value) == "cosign.key: wrong password or corrupted key (decryption failed)"


REJECTED = [
    (forge(n=1024), "unsupported scrypt parameters N=1024, r=8, p=1 (want N=32768, 65536 or 131072 with r=8, p=1)"),
    (forge(n=1 << 40), f"unsupported scrypt parameters N={1 << 40}, r=8, p=1 "
                       "(want N=32768, 65536 or 131072 with r=8, p=1)"),
    (forge(r=16), "unsupported scrypt parameters N=65536, r=16, p=1 (want N=32768, 65536 or 131072 with r=8, p=1)"),
    (forge(p=2), "unsupported scrypt parameters N=65536, r=8, p=2 (want N=32768, 65536 or 131072 with r=8, p=1)"),
    (forge(n=65536.0), "scrypt parameters N, r and p must be integers"),
    (forge(kdf="pbkdf2"), 'unknown kdf name "pbkdf2" (want "scrypt")'),
    (forge(cipher="aes-gcm"), 'unknown cipher name "aes-gcm" (want "nacl/secretbox")'),
    (forge(b64=lambda data: "***"), "encrypted key field kdf.salt is not valid base64"),
    (forge(nonce=b"n" * 12), "the secretbox nonce is 12 bytes, want 24"),
    (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"{not json"), "the encrypted key is not valid JSON"),
    (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"[1]"), "the encrypted key is not a JSON object"),
    (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b'{"kdf":"x"}'), "encrypted key field kdf is not a JSON object"),
    (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"{}"), 'unknown kdf name "" (want "scrypt")'),
    (b"just some text\n", "not a PEM-encoded cosign private key"),
    (b"", "not a PEM-encoded cosign private key"),
    (forge(pem_type="PRIVATE KEY"), "unsupported PEM type 'PRIVATE KEY'; want ENCRYPTED SIGSTORE PRIVATE KEY or "
                                    "ENCRYPTED COSIGN PRIVATE KEY (import other keys with import-key-pair)"),
]


@pytest.mark.parametrize(("pem", "message"), REJECTED)
def test_rejected_before_scrypt(pem, message, no_scrypt):
    with pytest.raises(KeyFileError) as caught:
        keys.decrypt_private_key(pem, PASSWORD, "k.key")
    assert str(caught.value) == f"k.key: {message}"


def test_rejection_through_the_cli_asks_no_password(no_scrypt, stdin):
    Path("k.key").write_bytes(forge(n=1024))
    stdin(b"never read", tty=False)
    result = cli("public-key", "--key", "k.key")
    assert error_line(result).startswith("Error: k.key: unsupported scrypt parameters N=1024")
    assert sys.stdin.read() == "never read"
    assert error_line(cli("public-key", "--key", "missing.key")) == (
        "Error: --key missing.key: No such file or directory")


def test_decrypted_key_must_be_usable(fast_scrypt):
    def sealed(plaintext: bytes) -> keys.EncryptedKey:
        salt, nonce = os.urandom(32), os.urandom(24)
        box = nacl.secret.SecretBox(keys._scrypt(b"", salt, 65536, 8, 1))
        sealed = box.encrypt(plaintext, nonce).ciphertext
        return keys.EncryptedKey(keys.SIGSTORE_PEM_TYPE, 65536, 8, 1, salt, nonce, sealed)

    assert keys.decrypt(sealed(der(ec.generate_private_key(ec.SECP256R1()))), b"")
    with pytest.raises(KeyFileError) as caught:
        keys.decrypt(sealed(der(ec.generate_private_key(ec.SECP256K1()))), b"", "k.key")
    assert str(caught.value) == "k.key: unsupported elliptic curve secp256k1 (want NIST P-256, P-384 or P-521)"
    with pytest.raises(KeyFileError) as caught:
        keys.decrypt(sealed(b"junk"), b"", "k.key")
    assert str(caught.value) == "k.key: the decrypted key is not a PKCS#8 private key"


# --- passwords ---------------------------------------------------------------------------------


def test_empty_cosign_password_is_a_password(monkeypatch, fast_scrypt):
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    assert cli("generate-key-pair", "--output-key-prefix", "empty").code == 0
    expected = Path("empty.pub").read_text()
    assert cli("public-key", "--key", "empty.key") == Result(0, expected, "")
    assert keys.public_key_pem(keys.load_private_key_file("empty.key", b"")).decode() == expected
    with pytest.raises(KeyFileError, match="wrong password"):
        keys.load_private_key_file("empty.key", b" ")
    assert hashlib.scrypt(b"", salt=b"s", n=2, r=8, p=1, dklen=32)  # the real KDF takes an empty password too


def test_piped_password_is_all_of_stdin(stdin, fast_scrypt):
    stdin(b"piped secret\n")
    assert cli("generate-key-pair").code == 0
    with pytest.raises(KeyFileError):
        keys.load_private_key_file("cosign.key", b"piped secret")
    assert keys.load_private_key_file("cosign.key", b"piped secret\n")
    stdin(b"piped secret\n")
    assert keys.load_private_key_file("cosign.key")  # password None: read from stdin after the file


def test_environment_wins_over_stdin(monkeypatch, stdin):
    monkeypatch.setenv("COSIGN_PASSWORD", "from env")
    stdin(b"from stdin", tty=True)
    assert keys.get_password(confirm=True) == b"from env"
    stdin(b"from stdin", tty=False)
    assert keys.get_password(confirm=False, env="OTHER_PASSWORD_VARIABLE") == b"from stdin"


def test_terminal_prompt_asks_twice_and_must_match(monkeypatch, stdin, fast_scrypt):
    answers = []
    prompts = []

    def fake_getpass(prompt, stream=None):
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    stdin(tty=True)
    answers[:] = ["one", "two"]
    assert error_line(cli("generate-key-pair")) == "Error: passwords do not match"
    assert not os.path.exists("cosign.key")
    answers[:] = ["same", "same"]
    assert cli("generate-key-pair").code == 0
    assert prompts[-2:] == ["Enter password for private key: ", "Enter password for private key again: "]
    answers[:] = ["same"]
    assert keys.load_private_key_file("cosign.key")  # no confirmation when only reading
    assert answers == []


# --- overwrite protection ----------------------------------------------------------------------


def test_existing_key_is_never_overwritten_without_force(monkeypatch, stdin, fast_scrypt):
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    assert cli("generate-key-pair").code == 0
    before = Path("cosign.key").read_bytes(), Path("cosign.pub").read_bytes()
    result = cli("generate-key-pair")
    assert result.code == 2
    assert error_line(result) == "Error: cosign.key and cosign.pub already exist; pass --force to overwrite"
    os.unlink("cosign.pub")
    assert error_line(cli("generate-key-pair")) == "Error: cosign.key already exists; pass --force to overwrite"
    assert Path("cosign.key").read_bytes() == before[0]

    stdin(b"n\n", tty=True)
    result = cli("generate-key-pair")
    assert result.stderr == ("WARNING: File cosign.key already exists. Overwrite?\n"
                             "Are you sure you would like to continue? [y/N] "
                             "Error: cosign.key not overwritten (user declined the prompt)\n")
    assert Path("cosign.key").read_bytes() == before[0]

    stdin(b"y\n", tty=True)
    assert cli("generate-key-pair").code == 0
    after = Path("cosign.key").read_bytes()
    assert after != before[0] and os.path.exists("cosign.pub")

    stdin(b"", tty=False)
    for flag in ("--force", "--force=true", "-y", "--yes"):
        assert cli("generate-key-pair", flag).code == 0
    assert cli("generate-key-pair", "--force=false").code == 2
    assert Path("cosign.key").read_bytes() != after
    assert sorted(os.listdir(".")) == ["cosign.key", "cosign.pub"]  # no temporary files left behind


def test_write_file_atomic_refuses_a_file_that_appeared(tmp_path):
    target = tmp_path / "cosign.key"
    target.write_bytes(b"precious")
    with pytest.raises(AirlockError, match="already exists"):
        keys.write_file_atomic(target, b"new", 0o600, overwrite=False)
    assert target.read_bytes() == b"precious"
    keys.write_file_atomic(target, b"new", 0o600)
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["cosign.key"]
    with pytest.raises(KeyFileError, match=r"^cannot write .*/nodir/x.pub: No such file or directory$"):
        keys.write_file_atomic(tmp_path / "nodir" / "x.pub", b"", 0o644)


def test_outfile_never_replaces_a_private_key(legacy_key, monkeypatch):
    Path("cosign.key").write_bytes(legacy_key[1])
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD.decode())
    result = cli("public-key", "--key", "cosign.key", "--outfile", "cosign.key")
    assert error_line(result) == "Error: --outfile cosign.key holds a private key; not overwriting it"
    assert Path("cosign.key").read_bytes() == legacy_key[1]


# --- KMS and PKCS#11 references ---------------------------------------------------------------


def fake_signers(monkeypatch, **functions):
    module = types.ModuleType("airlock.sign.signers")
    module.__dict__.update(functions)
    monkeypatch.setitem(sys.modules, "airlock.sign.signers", module)
    monkeypatch.setattr(airlock.sign, "signers", module, raising=False)


def test_kms_generate_writes_only_the_public_key(monkeypatch):
    kms_key = ec.generate_private_key(ec.SECP384R1())
    created = []
    fake_signers(monkeypatch, create_kms_key=lambda uri: created.append(uri) or spki_pem(kms_key))
    result = cli("generate-key-pair", "--kms", "awskms:///alias/test", "--output-key-prefix", "kms")
    assert result == Result(0, "", "Public key written to kms.pub\n")
    assert created == ["awskms:///alias/test"] and os.listdir(".") == ["kms.pub"]
    assert Path("kms.pub").read_bytes() == spki_pem(kms_key)
    assert error_line(cli("generate-key-pair", "--kms", "awskms:///alias/test", "--output-key-prefix", "kms")) == (
        "Error: kms.pub already exists; pass --force to overwrite")
    assert created == ["awskms:///alias/test"]  # refused before a second KMS key was created


def test_uri_keys_go_to_the_signer(monkeypatch):
    token_key = ed25519.Ed25519PrivateKey.generate()
    closed = []

    class Signer:
        def public_key_pem(self) -> bytes:
            return spki_pem(token_key)

        def close(self) -> None:
            closed.append(True)

    fake_signers(monkeypatch, signer_from_uri=lambda uri: Signer())
    result = cli("public-key", "--key", "pkcs11:token=t;object=k?module-path=/x.so")
    assert result == Result(0, spki_pem(token_key).decode(), "") and closed == [True]


def test_missing_signers_module_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "airlock.sign.signers", None)
    monkeypatch.delattr(airlock.sign, "signers", raising=False)
    assert error_line(cli("generate-key-pair", "--kms", "awskms:///a")) == "Error: KMS support is not available"
    assert error_line(cli("public-key", "--key", "pkcs11:token=t")) == "Error: PKCS#11 support is not available"
    assert not os.path.exists("cosign.pub")


def test_env_key_reference(legacy_key, monkeypatch):
    monkeypatch.setenv("MY_COSIGN_KEY", legacy_key[1].decode())
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD.decode())
    assert cli("public-key", "--key", "env://MY_COSIGN_KEY").stdout.encode() == spki_pem(legacy_key[0])


# --- import-key-pair ---------------------------------------------------------------------------


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def openssl_keys() -> dict[str, bytes]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI")
    made = {
        "ec-p256-sec1": openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout"),
        "ec-p384-with-params": openssl("ecparam", "-genkey", "-name", "secp384r1"),
        "ed25519-pkcs8": openssl("genpkey", "-algorithm", "ed25519"),
    }
    try:
        made["rsa-pkcs1"] = openssl("genrsa", "-traditional", "2048")
    except subprocess.CalledProcessError:  # OpenSSL 1.1 writes PKCS#1 by default
        made["rsa-pkcs1"] = openssl("genrsa", "2048")
    made["rsa-pkcs8"] = openssl("pkcs8", "-topk8", "-nocrypt", stdin=made["rsa-pkcs1"])
    made["ec-p256-pkcs8"] = openssl("pkcs8", "-topk8", "-nocrypt", stdin=made["ec-p256-sec1"])
    return made


@needs_openssl
def test_import_openssl_keys_and_public_key_matches_openssl(openssl_keys):
    expected_types = {"ec-p256-sec1": b"EC PRIVATE KEY", "ec-p384-with-params": b"EC PARAMETERS",
                      "ed25519-pkcs8": b"PRIVATE KEY", "rsa-pkcs1": b"RSA PRIVATE KEY", "rsa-pkcs8": b"PRIVATE KEY",
                      "ec-p256-pkcs8": b"PRIVATE KEY"}
    for name, pem in openssl_keys.items():
        assert pem.startswith(b"-----BEGIN " + expected_types[name] + b"-----\n"), name
        key = keys.import_private_key(pem, name)
        command = "ec" if name.startswith("ec-") else "pkey"
        assert keys.public_key_pem(key) == openssl(command, "-pubout", stdin=pem), name


def test_import_keys_made_with_cryptography():
    traditional, pkcs8 = serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8
    cases = [(ec.generate_private_key(ec.SECP384R1()), pkcs8, b"PRIVATE KEY"),
             (ec.generate_private_key(ec.SECP521R1()), traditional, b"EC PRIVATE KEY"),
             (rsa.generate_private_key(65537, 2048), traditional, b"RSA PRIVATE KEY"),
             (ed25519.Ed25519PrivateKey.generate(), pkcs8, b"PRIVATE KEY")]
    for private, form, label in cases:
        pem = private.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
        assert pem.startswith(b"-----BEGIN " + label)
        assert keys.public_key_pem(keys.import_private_key(b"comment before\n" + pem)) == spki_pem(private)


@needs_openssl
def test_import_rejections(openssl_keys):
    ec_pem = openssl_keys["ec-p256-sec1"]
    rejected = {
        "rsa-1024": (openssl("genrsa", "1024"),
                     "RSA key size 1024 is not supported (want 2048, 3072 or 4096 bits)"),
        "secp256k1": (openssl("ecparam", "-genkey", "-name", "secp256k1", "-noout"),
                      "unsupported elliptic curve secp256k1 (want NIST P-256, P-384 or P-521)"),
        "x25519": (openssl("genpkey", "-algorithm", "x25519"),
                   "unsupported key type X25519 (want ECDSA, RSA or Ed25519)"),
        "pkcs8-encrypted": (openssl("pkcs8", "-topk8", "-passout", "pass:x", stdin=ec_pem),
                            "unsupported PEM type 'ENCRYPTED PRIVATE KEY' (decrypt it with openssl first); want "
                            "PRIVATE KEY (PKCS#8), EC PRIVATE KEY (SEC1) or RSA PRIVATE KEY (PKCS#1)"),
        "legacy-encrypted": (openssl("ec", "-aes128", "-passout", "pass:x", stdin=ec_pem),
                             "the EC PRIVATE KEY is encrypted by openssl; decrypt it with openssl first"),
        "public": (openssl("ec", "-pubout", stdin=ec_pem),
                   "unsupported PEM type 'PUBLIC KEY'; want PRIVATE KEY (PKCS#8), EC PRIVATE KEY (SEC1) or "
                   "RSA PRIVATE KEY (PKCS#1)"),
        "mislabelled": (ec_pem.replace(b"EC PRIVATE KEY", b"RSA PRIVATE KEY"),
                        "the RSA PRIVATE KEY block holds an ECDSA key"),
        "garbage": (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                    "cannot parse the PRIVATE KEY"),
        "not-pem": (b"hello", "not a PEM-encoded private key"),
    }
    for name, (pem, message) in rejected.items():
        with pytest.raises(KeyFileError) as caught:
            keys.import_private_key(pem, "in.pem")
        assert str(caught.value) == f"in.pem: {message}", name


@needs_openssl
def test_import_key_pair_command(openssl_keys, monkeypatch, fast_scrypt):
    Path("ec.pem").write_bytes(openssl_keys["ec-p256-sec1"])
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    result = cli("import-key-pair", "--key", "ec.pem")
    assert result == Result(0, "", "Private key written to import-cosign.key\n"
                                   "Public key written to import-cosign.pub\n")
    assert Path("import-cosign.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert stat.S_IMODE(os.stat("import-cosign.key").st_mode) == 0o600
    expected = openssl("ec", "-pubout", stdin=openssl_keys["ec-p256-sec1"])
    assert Path("import-cosign.pub").read_bytes() == expected
    assert cli("public-key", "--key", "import-cosign.key").stdout.encode() == expected
    assert error_line(cli("import-key-pair", "-k", "ec.pem")) == (
        "Error: import-cosign.key and import-cosign.pub already exist; pass --force to overwrite")
    assert cli("import-key-pair", "-k", "ec.pem", "-y").code == 0
    assert error_line(cli("import-key-pair", "-k", "missing.pem")) == (
        "Error: --key missing.pem: No such file or directory")
    Path("bad.pem").write_bytes(b"nothing")
    assert error_line(cli("import-key-pair", "-k", "bad.pem", "-o", "x")) == (
        "Error: bad.pem: not a PEM-encoded private key")


def test_import_keeps_the_legacy_cosign_type_only(monkeypatch, fast_scrypt):
    private = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    for pem_type in (keys.COSIGN_PEM_TYPE, keys.SIGSTORE_PEM_TYPE):
        Path("old.key").write_bytes(keys.encrypt_private_key(private, b"pw", pem_type=pem_type))
        assert cli("import-key-pair", "-k", "old.key", "-o", "new", "--force").code == 0
        written = Path("new.key").read_bytes()
        assert written.startswith(b"-----BEGIN " + pem_type.encode() + b"-----\n")
        assert written != Path("old.key").read_bytes()  # fresh salt and nonce
        assert keys.public_key_pem(keys.load_private_key_file("new.key", b"pw")) == spki_pem(private)
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    assert error_line(cli("import-key-pair", "-k", "old.key", "-o", "new2")) == (
        "Error: old.key: wrong password or corrupted key (decryption failed)")


def test_key_commands_import_nothing_heavy_at_start_up():
    code = ("import sys, airlock.cli.keys; "
            "print(sorted(m for m in sys.modules if m.startswith(('cryptography', 'nacl', 'airlock.sign'))))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
