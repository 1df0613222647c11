"""cosign key files: the encrypted ``cosign.key``, ``cosign.pub``, passwords, and safe writes (FORMATS.md 8).

``cosign.key`` is PEM ``ENCRYPTED SIGSTORE PRIVATE KEY`` (or the legacy ``ENCRYPTED COSIGN
PRIVATE KEY``) around go-securesystemslib's ``encrypted`` JSON: scrypt derives a 32-byte key
from the password and NaCl secretbox seals the PKCS#8 DER. Keys written here decrypt with cosign
and keys cosign wrote decrypt here, so the exact JSON field order and the secretbox layout matter.

Everything a user can get wrong (password, file, key type) is a ``KeyFileError`` naming the file
and the reason on one line. The scrypt parameters are checked before scrypt runs, because a
tampered ``N`` would otherwise make a key file a memory and CPU bomb. ``cryptography`` and PyNaCl
are imported inside the functions that need them: the CLI imports this module only to run a key
command, but signing code may import it on paths that never touch a key file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

from airlock import _wire
from airlock.errors import FormatError, KeyFileError, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_PEM_TYPES = (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE)
PLAIN_PEM_TYPES = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")

KDF_NAME = "scrypt"
CIPHER_NAME = "nacl/secretbox"
# go-securesystemslib's legacy, standard (the default for new keys) and OWASP parameter sets:
# the only ones cosign decrypts, so the only ones accepted here.
SCRYPT_N_VALUES = (32768, 65536, 131072)
SCRYPT_R = 8
SCRYPT_P = 1
DEFAULT_SCRYPT_N = 65536
SALT_SIZE = 32
NONCE_SIZE = 24
KEY_SIZE = 32

PASSWORD_ENV = "COSIGN_PASSWORD"
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")
RSA_SIZES = (2048, 3072, 4096)

# A PEM type is a short label: bounding it keeps each match attempt constant-time, so a file of
# '-----BEGIN ' repeated without line ends is scanned in linear time, not rescanned line by line.
_PEM_BEGIN = re.compile(rb"-----BEGIN ([^\r\n]{0,128}?)-----[ \t]*\r?\n")


class PemBlock(NamedTuple):
    """One PEM block: its type, its RFC 1421 headers (``Proc-Type``...), and the decoded body."""

    type: str
    headers: dict[str, str]
    der: bytes


class EncryptedKey(NamedTuple):
    """A parsed, checked ``cosign.key``; decrypting it is the only expensive step left."""

    pem_type: str
    n: int
    r: int
    p: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes


# --- PEM ----------------------------------------------------------------------------------------


def pem_encode(pem_type: str, der: bytes) -> bytes:
    """PEM exactly as Go's ``pem.EncodeToMemory`` writes it (64-character lines, final newline)."""
    body = base64.b64encode(der)
    lines = [body[i:i + 64] + b"\n" for i in range(0, len(body), 64)]
    return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (pem_type.encode(), b"".join(lines), pem_type.encode())


def pem_blocks(data: bytes) -> list[PemBlock]:
    """Every well-formed PEM block in ``data``, in order, skipping text around them (like Go's pem.Decode)."""
    blocks = []
    position = 0
    while match := _PEM_BEGIN.search(data, position):
        pem_type = match.group(1)
        end_marker = b"-----END " + pem_type + b"-----"
        end = data.find(end_marker, match.end())
        if end < 0:
            break
        position = end + len(end_marker)
        block = _pem_block(pem_type, data[match.end():end])
        if block is not None:
            blocks.append(block)
    return blocks


def _pem_block(pem_type: bytes, body: bytes) -> PemBlock | None:
    lines = body.splitlines()
    headers: dict[str, str] = {}
    if lines and b":" in lines[0]:
        while lines and lines[0].strip():
            name, _, value = lines.pop(0).partition(b":")
            headers[name.strip().decode("latin-1")] = value.strip().decode("latin-1")
    try:
        der = base64.b64decode(b"".join(line.strip() for line in lines), validate=True)
        return PemBlock(pem_type.decode("latin-1"), headers, der)
    except (binascii.Error, ValueError):
        return None


# --- keys -------------------------------------------------------------------------------------


def generate_private_key() -> PrivateKey:
    """A new ECDSA P-256 key: the only kind ``cosign generate-key-pair`` makes."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def check_private_key(key: Any, what: str = "private key") -> PrivateKey:
    """``key`` if cosign can sign with it (ECDSA P-256/384/521, RSA 2048/3072/4096, Ed25519).

    The same rule as sigstore's ``cryptoutils.ValidatePubKey``, which cosign applies on import:
    a key outside it would be written here and then refused by every verifier.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_CURVES:
            raise KeyFileError(f"{what}: unsupported elliptic curve {key.curve.name} "
                               "(want NIST P-256, P-384 or P-521)")
    elif isinstance(key, rsa.RSAPrivateKey):
        size = (key.key_size + 7) // 8 * 8  # Go's key.Size()*8, as cosign checks it
        if size not in RSA_SIZES:
            raise KeyFileError(f"{what}: RSA key size {size} is not supported (want 2048, 3072 or 4096 bits)")
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{what}: unsupported key type {_describe(key)} (want ECDSA, RSA or Ed25519)")
    return key


def _describe(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    for kind, name in ((ec.EllipticCurvePrivateKey, "ECDSA"), (rsa.RSAPrivateKey, "RSA"),
                       (ed25519.Ed25519PrivateKey, "Ed25519")):
        if isinstance(key, kind):
            return name
    return type(key).__name__.removesuffix("PrivateKey")


def _load_der_private_key(der: bytes) -> Any:
    """Parse PKCS#8, SEC1 or PKCS#1 DER (cryptography tells them apart); raises ValueError."""
    try:
        # The loader ``serialization`` re-exports, without importing that package's SSH and
        # PKCS#12 modules; falls back to the public function if the binding ever moves.
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        load = rust_openssl.keys.load_der_private_key
    except (ImportError, AttributeError):  # pragma: no cover
        from cryptography.hazmat.primitives.serialization import load_der_private_key as load
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        return load(der, None)
    except (TypeError, UnsupportedAlgorithm) as exc:  # TypeError: the DER itself is encrypted
        raise ValueError(str(exc)) from exc


def pkcs8_der(key: PrivateKey) -> bytes:
    """The unencrypted PKCS#8 DER cosign encrypts (Go's ``x509.MarshalPKCS8PrivateKey``)."""
    from cryptography.hazmat.primitives._serialization import Encoding, NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    """``cosign.pub``: PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) of a private or public key."""
    from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    public = key if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey) \
        else key.public_key()
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def import_private_key(pem: bytes, what: str = "key", password: bytes | None = None) -> PrivateKey:
    """The key in an unencrypted PEM: PKCS#8 ``PRIVATE KEY``, SEC1 ``EC PRIVATE KEY`` or PKCS#1
    ``RSA PRIVATE KEY``, as ``openssl`` writes them (an ``EC PARAMETERS`` block first is skipped).

    A cosign-encrypted key is accepted too, so ``import-key-pair`` can re-encrypt it (with fresh
    salt and today's scrypt parameters); ``password`` opens it, or is asked for when ``None``.
    """
    blocks = [block for block in pem_blocks(pem) if block.type != "EC PARAMETERS"]
    if not blocks:
        raise KeyFileError(f"{what}: not a PEM-encoded private key")
    block = blocks[0]
    if block.type in ENCRYPTED_PEM_TYPES:
        encrypted = parse_encrypted_key(pem, what)
        return decrypt(encrypted, get_password(confirm=False) if password is None else password, what)
    if block.type not in PLAIN_PEM_TYPES:
        hint = " (decrypt it with openssl first)" if "ENCRYPTED" in block.type else ""
        raise KeyFileError(f"{what}: unsupported PEM type {block.type!r}{hint}; want PRIVATE KEY (PKCS#8), "
                           "EC PRIVATE KEY (SEC1) or RSA PRIVATE KEY (PKCS#1)")
    if "ENCRYPTED" in block.headers.get("Proc-Type", ""):
        raise KeyFileError(f"{what}: the {block.type} is encrypted by openssl; decrypt it with openssl first")
    try:
        key = _load_der_private_key(block.der)
    except ValueError as exc:
        raise KeyFileError(f"{what}: cannot parse the {block.type}") from exc
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    wanted = {"EC PRIVATE KEY": ec.EllipticCurvePrivateKey, "RSA PRIVATE KEY": rsa.RSAPrivateKey}.get(block.type)
    if wanted is not None and not isinstance(key, wanted):
        raise KeyFileError(f"{what}: the {block.type} block holds an {_describe(key)} key")
    return check_private_key(key, what)


def is_encrypted_key(pem: bytes) -> bool:
    """Whether the first PEM block is a cosign-encrypted key (either PEM type)."""
    blocks = pem_blocks(pem)
    return bool(blocks) and blocks[0].type in ENCRYPTED_PEM_TYPES


def imported_pem_type(pem: bytes) -> str:
    """The PEM type ``import-key-pair`` writes: the legacy COSIGN type only if the input had it."""
    blocks = pem_blocks(pem)
    return COSIGN_PEM_TYPE if blocks and blocks[0].type == COSIGN_PEM_TYPE else SIGSTORE_PEM_TYPE


# --- encryption -------------------------------------------------------------------------------


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """scrypt with OpenSSL's memory cap raised to what (n, r, p) needs (128 MiB for N=131072)."""
    import hashlib

    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=KEY_SIZE, maxmem=maxmem)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encrypt_private_key(private_key: PrivateKey, password: bytes, *, pem_type: str = SIGSTORE_PEM_TYPE,
                        n: int = DEFAULT_SCRYPT_N) -> bytes:
    """``cosign.key`` for ``private_key``: byte-for-byte the layout go-securesystemslib writes.

    ``n`` may be any accepted scrypt N (cosign writes 65536); ``pem_type`` the legacy COSIGN type
    only when re-encrypting a key that already had it.
    """
    import nacl.secret

    if pem_type not in ENCRYPTED_PEM_TYPES:
        raise ValueError(f"not an encrypted cosign key PEM type: {pem_type}")
    if n not in SCRYPT_N_VALUES:
        raise ValueError(f"unsupported scrypt N {n}")
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    key = _scrypt(bytes(password), salt, n, SCRYPT_R, SCRYPT_P)
    # Go's secretbox.Seal output is tag || ciphertext; PyNaCl prefixes the nonce, which is stored apart.
    sealed = nacl.secret.SecretBox(key).encrypt(pkcs8_der(private_key), nonce).ciphertext
    document = {
        "kdf": {"name": KDF_NAME, "params": {"N": n, "r": SCRYPT_R, "p": SCRYPT_P}, "salt": _b64(salt)},
        "cipher": {"name": CIPHER_NAME, "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return pem_encode(pem_type, json.dumps(document, separators=(",", ":")).encode())


def _folded(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Go's encoding/json matches object keys to struct fields case-insensitively; the last one wins.
    return {key.lower(): value for key, value in pairs}


def _field_bytes(value: Any, name: str, what: str) -> bytes:
    if value is None:  # Go decodes null into an empty []byte
        return b""
    if not isinstance(value, str):
        raise KeyFileError(f"{what}: encrypted key field {name} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{what}: encrypted key field {name} is not valid base64") from exc


def _section(value: Any, name: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise KeyFileError(f"{what}: encrypted key field {name} is not a JSON object")
    return value


def parse_encrypted_key(pem: bytes, what: str = "private key") -> EncryptedKey:
    """Parse and check a ``cosign.key`` without running scrypt: everything but the password."""
    blocks = pem_blocks(pem)
    if not blocks:
        raise KeyFileError(f"{what}: not a PEM-encoded cosign private key")
    block = blocks[0]
    if block.type not in ENCRYPTED_PEM_TYPES:
        raise KeyFileError(f"{what}: unsupported PEM type {block.type!r}; want {SIGSTORE_PEM_TYPE} "
                           f"or {COSIGN_PEM_TYPE} (import other keys with import-key-pair)")
    try:
        document = _wire.loads(block.der, "key", object_pairs_hook=_folded)
    except FormatError as exc:  # "key: not valid JSON (...)" or "key: JSON nested deeper than 64 levels"
        reason = str(exc).partition(": ")[2]
        reason = "not valid JSON" if reason.startswith("not valid JSON") else reason
        raise KeyFileError(f"{what}: the encrypted key is {reason}") from None
    if not isinstance(document, dict):
        raise KeyFileError(f"{what}: the encrypted key is not a JSON object")
    kdf = _section(document.get("kdf"), "kdf", what)
    cipher = _section(document.get("cipher"), "cipher", what)
    if kdf.get("name") != KDF_NAME:
        raise KeyFileError(f"{what}: unknown kdf name {json.dumps(kdf.get('name', ''))} (want \"scrypt\")")
    if cipher.get("name") != CIPHER_NAME:
        raise KeyFileError(f"{what}: unknown cipher name {json.dumps(cipher.get('name', ''))} "
                           "(want \"nacl/secretbox\")")
    params = _section(kdf.get("params"), "kdf.params", what)
    n, r, p = (params.get(name, 0) for name in ("n", "r", "p"))
    if not all(type(value) is int for value in (n, r, p)):
        raise KeyFileError(f"{what}: scrypt parameters N, r and p must be integers")
    if n not in SCRYPT_N_VALUES or r != SCRYPT_R or p != SCRYPT_P:
        raise KeyFileError(f"{what}: unsupported scrypt parameters N={n}, r={r}, p={p} "
                           "(want N=32768, 65536 or 131072 with r=8, p=1)")
    salt = _field_bytes(kdf.get("salt"), "kdf.salt", what)
    nonce = _field_bytes(cipher.get("nonce"), "cipher.nonce", what)
    ciphertext = _field_bytes(document.get("ciphertext"), "ciphertext", what)
    if len(nonce) != NONCE_SIZE:
        raise KeyFileError(f"{what}: the secretbox nonce is {len(nonce)} bytes, want {NONCE_SIZE}")
    return EncryptedKey(block.type, n, r, p, salt, nonce, ciphertext)


def decrypt(encrypted: EncryptedKey, password: bytes, what: str = "private key") -> PrivateKey:
    """Open a parsed ``cosign.key`` with ``password``: scrypt, secretbox, then the PKCS#8 inside."""
    import nacl.exceptions
    import nacl.secret

    key = _scrypt(bytes(password), encrypted.salt, encrypted.n, encrypted.r, encrypted.p)
    try:
        der = nacl.secret.SecretBox(key).decrypt(encrypted.ciphertext, encrypted.nonce)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise KeyFileError(f"{what}: wrong password or corrupted key (decryption failed)") from exc
    try:
        private_key = _load_der_private_key(der)
    except ValueError as exc:
        raise KeyFileError(f"{what}: the decrypted key is not a PKCS#8 private key") from exc
    return check_private_key(private_key, what)


def decrypt_private_key(pem: bytes, password: bytes, what: str = "private key") -> PrivateKey:
    """The private key in a ``cosign.key`` (either PEM type), or a one-line ``KeyFileError``."""
    return decrypt(parse_encrypted_key(pem, what), password, what)


def load_private_key_file(path: str | os.PathLike[str], password: bytes | None = None) -> PrivateKey:
    """Read and decrypt a ``cosign.key``; with ``password`` None it is asked for (see
    ``get_password``) only once the file has been read and checked, so a typo fails at once."""
    what = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            pem = handle.read()
    except OSError as exc:
        raise KeyFileError(f"{what}: {exc.strerror or exc}") from exc
    encrypted = parse_encrypted_key(pem, what)
    return decrypt(encrypted, get_password(confirm=False) if password is None else password, what)


# --- passwords --------------------------------------------------------------------------------


def get_password(confirm: bool, env: str = PASSWORD_ENV) -> bytes:
    """The key password, found as cosign finds it.

    ``$COSIGN_PASSWORD`` when set, even to the empty string (an empty password); otherwise a
    prompt on the terminal, asked twice when ``confirm``; otherwise all of stdin, byte for byte
    (``echo pw | ...`` therefore means ``pw\\n``, exactly as for cosign, so keys stay portable).
    """
    if env in os.environ:
        return os.fsencode(os.environ[env])
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        import getpass

        first = getpass.getpass("Enter password for private key: ", stream=sys.stderr)
        if confirm:
            second = getpass.getpass("Enter password for private key again: ", stream=sys.stderr)
            if first != second:
                raise UsageError("passwords do not match")
        return first.encode("utf-8", "surrogateescape")
    if stdin is None:
        return b""
    source = getattr(stdin, "buffer", None)
    data = source.read() if source is not None else stdin.read()
    return data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")


# --- writing key files ------------------------------------------------------------------------


def confirm_overwrite(paths: list[str], force: bool) -> bool:
    """Whether existing key files may be replaced: none exist (False), ``force``, or the user
    answered "y" on a terminal (True); otherwise a ``UsageError``.

    Overwriting ``cosign.key`` destroys the only copy of a private key, so without a terminal to
    ask on, the answer is no.
    """
    existing = [path for path in paths if os.path.lexists(path)]
    if not existing:
        return False
    if force:
        return True
    names = " and ".join(existing)
    verb = "exists" if len(existing) == 1 else "exist"
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise UsageError(f"{names} already {verb}; pass --force to overwrite")
    print(f"WARNING: File {names} already {verb}. Overwrite?", file=sys.stderr)
    print("Are you sure you would like to continue? [y/N] ", end="", file=sys.stderr, flush=True)
    if stdin.readline().strip().lower() != "y":
        raise UsageError(f"{names} not overwritten (user declined the prompt)")
    return True


def write_file_atomic(path: str | os.PathLike[str], data: bytes, mode: int, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` from the start (``airlock.files``), so a
    crash leaves the old file or the new one, never half a key, and a private key is never readable
    by others even briefly. With ``overwrite`` False an existing ``path`` is left alone."""
    from airlock.files import atomic_write

    target = os.fspath(path)
    try:
        atomic_write(target, data, mode, overwrite=overwrite)
    except FileExistsError as exc:
        raise UsageError(f"{target} already exists; pass --force to overwrite") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot write {target}: {exc.strerror or exc}") from exc
