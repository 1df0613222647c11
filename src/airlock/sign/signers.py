"""Signers: one interface over a private key in memory, on a PKCS#11 token, or in AWS KMS.

A key reference is chosen as cosign chooses it: ``pkcs11:...`` (RFC 7512) is a key on a token,
``awskms://[ENDPOINT]/KEY`` a key in AWS KMS, anything else a key file (decrypted elsewhere, then
wrapped in a :class:`FileSigner`). Every signer returns what cosign would put in a signature: ASN.1
DER for ECDSA over the curve's digest (P-256 -> SHA-256, P-384 -> SHA-384, P-521 -> SHA-512),
PKCS#1 v1.5 with SHA-256 for RSA, and pure Ed25519 (FORMATS.md 0.8).

``pkcs11`` (python-pkcs11) and ``boto3`` are imported only when a token or KMS key is used.
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple
from urllib.parse import unquote_to_bytes

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from airlock.crypto import PublicKey, load_public_key, verify_message
from airlock.errors import FormatError, KeyReferenceError, SignerError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

SUPPORTED = "a key file path, pkcs11:, awskms://"

_CURVES = {  # curve name -> (digest, sigstore algorithm name, AWS KMS signing algorithm)
    "secp256r1": ("sha256", "ecdsa-sha2-256-nistp256", "ECDSA_SHA_256"),
    "secp384r1": ("sha384", "ecdsa-sha2-384-nistp384", "ECDSA_SHA_384"),
    "secp521r1": ("sha512", "ecdsa-sha2-512-nistp521", "ECDSA_SHA_512"),
}
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def algorithm_name(key: PublicKey) -> str:
    """The sigstore name of what a key signs with (cosign's ``--signing-algorithm`` spelling)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise SignerError(f"unsupported curve {key.curve.name}: use P-256, P-384 or P-521")
        return _CURVES[key.curve.name][1]
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-sign-pkcs1-{key.key_size}-sha256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise SignerError(f"unsupported key type {type(key).__name__}")


def _curve_hash(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> str:
    if key.curve.name not in _CURVES:
        raise SignerError(f"unsupported curve {key.curve.name}: use P-256, P-384 or P-521")
    return _CURVES[key.curve.name][0]


class Signer(ABC):
    """Something that signs as cosign does with one key; ``sign`` hashes inside, per key type."""

    @abstractmethod
    def sign(self, data: bytes) -> bytes:
        """The signature over ``data``: DER for ECDSA, PKCS#1 v1.5 for RSA, 64 raw bytes for Ed25519."""

    @abstractmethod
    def public_key(self) -> PublicKey:
        """The public key (a ``cryptography`` object) that verifies what ``sign`` returns."""

    def public_key_pem(self) -> bytes:
        """``cosign public-key`` output: PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo)."""
        return self.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    @property
    def algorithm(self) -> str:
        """``ecdsa-sha2-256-nistp256``, ``rsa-sign-pkcs1-2048-sha256``, ``ed25519``, ..."""
        return algorithm_name(self.public_key())

    def certificate_pem(self) -> bytes | None:
        """A certificate stored with the key (PKCS#11 tokens may hold one), else None."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.algorithm}>"


def _checked(signer: Signer, signature: bytes, data: bytes, what: str) -> bytes:
    """A signature from a token or KMS, after checking it with the public key we hand out: a stale
    public key object or a misbehaving endpoint must not yield signatures that never verify."""
    if not verify_message(signer.public_key(), signature, data):
        raise SignerError(f"the signature from {what} does not verify with its public key "
                          "(mismatched public key object, or the service did not sign the digest as given)")
    return signature


class FileSigner(Signer):
    """A private key held in memory (``airlock.sign.keys`` decrypts cosign.key files)."""

    def __init__(self, private_key: PrivateKey) -> None:
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            self._hash = _curve_hash(private_key)
        elif not isinstance(private_key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise SignerError(f"unsupported private key type {type(private_key).__name__}: "
                              "use ECDSA (P-256/P-384/P-521), RSA or Ed25519")
        self._key = private_key
        self._public = private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_HASHES[self._hash]()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(data)

    def public_key(self) -> PublicKey:
        return self._public


# -- key references ------------------------------------------------------------------------------------

_PIN_VALUE = r"(?i)(pin-value=)[^&;#]*"  # patterns stay strings: re caches them on first use


def redact(reference: str) -> str:
    """A key reference fit for an error message: no ``pin-value``."""
    return re.sub(_PIN_VALUE, r"\1***", reference)


def signer_from_uri(uri: str, load_key_file: Callable[[str], PrivateKey] | None = None) -> Signer:
    """The signer a ``--key`` reference names. A key file path needs ``load_key_file`` (path ->
    private key, e.g. cosign.key decryption with its password); URIs need nothing."""
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme == "pkcs11":
        return Pkcs11Signer(uri)
    if scheme == "awskms":
        return AwsKmsSigner(uri)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", uri):
        raise KeyReferenceError(f"unsupported key reference '{redact(uri)}': supported are {SUPPORTED}")
    if load_key_file is None:
        raise KeyReferenceError(f"key reference '{uri}' is a key file path: load it and wrap it in a FileSigner")
    return FileSigner(load_key_file(uri))


def create_kms_key(uri: str) -> Signer:
    """Create a new ECDSA P-256 signing key where ``uri`` says (``generate-key-pair --kms``).

    ``awskms://.../alias/NAME``: an ECC_NIST_P256 SIGN_VERIFY key and the alias (if the alias
    already names a key, that key is used, as cosign does). ``pkcs11:...;object=L;id=I``: a
    key pair generated on the token (refused if a private key with that label/id exists)."""
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme == "pkcs11":
        return Pkcs11Signer.generate(uri)
    if scheme == "awskms":
        return AwsKmsSigner.create(uri)
    raise KeyReferenceError(f"unsupported KMS reference '{redact(uri)}': supported are pkcs11:, awskms://")


# -- PKCS#11 -------------------------------------------------------------------------------------------

_PATH_ATTRIBUTES = frozenset({
    "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
    "library-version", "object", "type", "id", "slot-description", "slot-manufacturer", "slot-id",
})
_QUERY_ATTRIBUTES = frozenset({"pin-source", "pin-value", "module-name", "module-path"})
_BAD_ESCAPE = r"%(?![0-9A-Fa-f]{2})"


class Pkcs11Uri(NamedTuple):
    """An RFC 7512 URI, attribute values percent-decoded (bytes); names lower-cased."""

    path: dict[str, bytes]
    query: dict[str, bytes]

    def text(self, name: str) -> str | None:
        """A path or query attribute as UTF-8 text, or None if absent."""
        value = self.path.get(name, self.query.get(name))
        if value is None:
            return None
        try:
            return value.decode()
        except UnicodeDecodeError as exc:
            raise KeyReferenceError(f"PKCS#11 URI: {name} is not UTF-8 text after percent-decoding") from exc

    @property
    def token(self) -> str | None:
        return self.text("token")

    @property
    def object(self) -> str | None:
        return self.text("object")

    @property
    def id(self) -> bytes | None:
        return self.path.get("id")

    @property
    def slot_id(self) -> int | None:
        text = self.text("slot-id")
        if text is None:
            return None
        if not text.isdigit():
            raise KeyReferenceError(f"PKCS#11 URI: slot-id '{text}' is not a decimal number")
        return int(text)

    def describe(self) -> str:
        """The key's attributes for messages (``object='x' id=%01``), never the PIN."""
        parts = []
        if self.object is not None:
            parts.append(f"object='{self.object}'")
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        return " ".join(parts) or "(any key)"


def _attributes(text: str, separator: str, known: frozenset[str], where: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for item in text.split(separator):
        if not item:
            continue
        name, eq, raw = item.partition("=")
        name = name.lower()
        if not eq or not name:
            raise KeyReferenceError(f"PKCS#11 URI: {where} attribute '{name or item}' has no '=value'")
        if re.search(_BAD_ESCAPE, raw):
            raise KeyReferenceError(f"PKCS#11 URI: {name} has a malformed %-escape")
        if name not in known and not name.startswith("x-"):
            raise KeyReferenceError(f"PKCS#11 URI: unknown {where} attribute '{name}' "
                                    f"(known: {', '.join(sorted(known))})")
        if name in out:
            raise KeyReferenceError(f"PKCS#11 URI: {where} attribute '{name}' appears twice")
        out[name] = unquote_to_bytes(raw)
    return out


def parse_pkcs11_uri(uri: str) -> Pkcs11Uri:
    """Split ``pkcs11:PATH?QUERY`` (path attributes by ``;``, query by ``&``) and percent-decode.

    ``+`` stays ``+`` (RFC 7512; Go's url.ParseQuery in cosign would make it a space)."""
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != "pkcs11":
        raise KeyReferenceError("not a PKCS#11 URI: it must start with 'pkcs11:'")
    if rest.startswith("//"):
        raise KeyReferenceError("PKCS#11 URI: write 'pkcs11:token=...', without '//'")
    if "#" in rest:
        raise KeyReferenceError("PKCS#11 URI: '#' must be percent-encoded as %23")
    path, _, query = rest.partition("?")
    parsed = Pkcs11Uri(_attributes(path, ";", _PATH_ATTRIBUTES, "path"),
                       _attributes(query, "&", _QUERY_ATTRIBUTES, "query"))
    kind = parsed.text("type")
    if kind not in (None, "private"):
        raise KeyReferenceError(f"PKCS#11 URI: type={kind} does not name a private key (use type=private or omit it)")
    return parsed


def _read_pin_source(source: str) -> str:
    path = source[5:] if source.startswith("file:") else source
    if path.startswith("//"):  # file:///abs/path or file://localhost/abs/path
        host, _, rest = path[2:].partition("/")
        if host not in ("", "localhost"):
            raise KeyReferenceError(f"PKCS#11 URI: pin-source '{source}' names a remote host")
        path = "/" + rest
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SignerError(f"PKCS#11 URI: cannot read pin-source {path}: {exc.strerror or exc}") from exc
    try:
        return data.rstrip(b"\r\n").decode()
    except UnicodeDecodeError as exc:
        raise SignerError(f"PKCS#11 URI: pin-source {path} is not UTF-8 text") from exc


class Pkcs11Config(NamedTuple):
    """What it takes to reach the key: the module, the PIN (None: no login) and the parsed URI."""

    module: str
    pin: str | None
    uri: Pkcs11Uri


def pkcs11_config(uri: str) -> Pkcs11Config:
    """Parse ``uri`` and resolve the module (module-path, else COSIGN_PKCS11_MODULE_PATH) and the
    PIN (pin-value, else pin-source, else COSIGN_PKCS11_PIN, else none)."""
    parsed = parse_pkcs11_uri(uri)
    if parsed.token is None and parsed.slot_id is None and "serial" not in parsed.path:
        raise KeyReferenceError("PKCS#11 URI: name the token with token=<label> (or slot-id= / serial=)")
    if parsed.object is None and parsed.id is None:
        raise KeyReferenceError("PKCS#11 URI: name the key with object=<label> and/or id=<%-encoded bytes>")
    module = parsed.text("module-path") or os.environ.get("COSIGN_PKCS11_MODULE_PATH", "")
    if not module:
        hint = " (module-name is not supported)" if "module-name" in parsed.query else ""
        raise KeyReferenceError("PKCS#11 URI: no module: add ?module-path=/path/to/module.so or set "
                                f"COSIGN_PKCS11_MODULE_PATH{hint}")
    if not os.path.isabs(module):
        raise KeyReferenceError(f"PKCS#11 module path '{module}' is not absolute")
    if not os.path.isfile(module):
        raise SignerError(f"PKCS#11 module {module} does not exist")
    if "pin-value" in parsed.query and "pin-source" in parsed.query:
        raise KeyReferenceError("PKCS#11 URI: give pin-value or pin-source, not both")
    pin = parsed.text("pin-value")
    if pin is None and "pin-source" in parsed.query:
        pin = _read_pin_source(parsed.text("pin-source") or "")
    if pin is None:
        pin = os.environ.get("COSIGN_PKCS11_PIN") or None
    return Pkcs11Config(module, pin, parsed)


def _import_pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise SignerError("PKCS#11 keys need python-pkcs11: pip install 'airlock[pkcs11]'") from exc
    return pkcs11


def _pkcs11_failure(exc: Exception) -> str:
    """python-pkcs11 exceptions usually carry no text: name the return code instead."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


_EC_PARAMS = {  # DER of the namedCurve OID (or Ed25519's PrintableString) -> curve
    bytes.fromhex("06082a8648ce3d030107"): "secp256r1",
    bytes.fromhex("06052b81040022"): "secp384r1",
    bytes.fromhex("06052b81040023"): "secp521r1",
    bytes.fromhex("06032b6570"): "ed25519",
    b"\x13\x0cedwards25519": "ed25519",
}
_POINT_SIZE = {"secp256r1": 65, "secp384r1": 97, "secp521r1": 133, "ed25519": 32}
_EC_CLASSES: dict[str, type[ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1]] = {
    "secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _unwrap_point(point: bytes, size: int) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING (some tokens give the raw point)."""
    if len(point) == size:
        return point
    if point[:1] == b"\x04" and len(point) > 2:
        length, offset = point[1], 2
        if length & 0x80:
            count = length & 0x7F
            length, offset = int.from_bytes(point[2:2 + count], "big"), 2 + count
        if length == size and len(point) == offset + size:
            return point[offset:]
    raise SignerError("PKCS#11 token returned a malformed EC point")


def _ec_public_key(params: bytes, point: bytes) -> PublicKey:
    curve = _EC_PARAMS.get(bytes(params))
    if curve is None:
        raise SignerError(f"PKCS#11 key has unsupported EC parameters {bytes(params).hex()}: use P-256, P-384, "
                          "P-521 or Ed25519")
    raw = _unwrap_point(bytes(point), _POINT_SIZE[curve])
    try:
        if curve == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        return ec.EllipticCurvePublicKey.from_encoded_point(_EC_CLASSES[curve](), raw)
    except ValueError as exc:
        raise SignerError("PKCS#11 token returned an invalid EC public key") from exc


class Pkcs11Signer(Signer):
    """A private key on a PKCS#11 token, named by an RFC 7512 URI.

    Each ``sign`` opens a session, logs in, finds the key, signs and logs out, so signers never
    hold a session (logging out one session logs out the whole application in PKCS#11)."""

    def __init__(self, uri: str) -> None:
        self._config = pkcs11_config(uri)
        self._certificate: bytes | None = None
        with self._session() as (session, key):
            self._public = self._find_public_key(session, key)
            mechanisms = session.token.slot.get_mechanisms()
        self._rsa_hash_and_sign = _import_pkcs11().Mechanism.SHA256_RSA_PKCS in mechanisms

    # -- the token ----------------------------------------------------------------------------------

    @staticmethod
    def _token(config: Pkcs11Config) -> Any:
        pkcs11 = _import_pkcs11()
        uri = config.uri
        try:
            lib = pkcs11.lib(config.module)
        except pkcs11.PKCS11Error as exc:
            raise SignerError(f"cannot load PKCS#11 module {config.module}: {_pkcs11_failure(exc)}") from exc
        wanted = {"token": uri.token, "serial": uri.text("serial"), "manufacturer": uri.text("manufacturer"),
                  "model": uri.text("model"), "slot-description": uri.text("slot-description"),
                  "slot-manufacturer": uri.text("slot-manufacturer"),
                  "library-manufacturer": uri.text("library-manufacturer"),
                  "library-description": uri.text("library-description")}
        wanted = {name: value for name, value in wanted.items() if value is not None}
        slot_id = uri.slot_id
        found, seen = [], []
        try:
            slots = lib.get_slots(token_present=True)
            for slot in slots:
                try:
                    token = slot.get_token()
                except (pkcs11.TokenNotPresent, pkcs11.TokenNotRecognised):
                    continue
                if not token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
                    continue
                seen.append(token.label)
                have = {"token": token.label, "serial": token.serial.decode(errors="replace").strip(),
                        "manufacturer": token.manufacturer_id, "model": token.model,
                        "slot-description": slot.slot_description, "slot-manufacturer": slot.manufacturer_id,
                        "library-manufacturer": lib.manufacturer_id, "library-description": lib.library_description}
                if slot_id is not None and slot.slot_id != slot_id:
                    continue
                if all(have[name].strip() == value for name, value in wanted.items()):
                    found.append(token)
        except pkcs11.PKCS11Error as exc:
            raise SignerError(f"PKCS#11 module {config.module}: listing tokens failed: {_pkcs11_failure(exc)}") from exc
        described = " ".join([f"{name}='{value}'" for name, value in wanted.items()]
                             + ([f"slot-id={slot_id}"] if slot_id is not None else []))
        if not found:
            labels = ", ".join(f"'{label}'" for label in seen) or "none"
            raise SignerError(f"no PKCS#11 token with {described} in {config.module} (initialized tokens: {labels})")
        if len(found) > 1:
            raise SignerError(f"{len(found)} PKCS#11 tokens match {described}: add serial= or slot-id= to the URI")
        return found[0]

    @staticmethod
    @contextmanager
    def _open(config: Pkcs11Config, rw: bool = False) -> Iterator[Any]:
        """A logged-in session (if there is a PIN); PKCS#11 failures become one-line SignerErrors."""
        pkcs11 = _import_pkcs11()
        token = Pkcs11Signer._token(config)
        name = f"PKCS#11 token '{token.label}'"
        if config.pin is None and token.flags & pkcs11.TokenFlag.LOGIN_REQUIRED:
            raise SignerError(f"{name} needs a PIN: add pin-value= or pin-source= to the URI, or set COSIGN_PKCS11_PIN")
        try:
            try:
                session = token.open(rw=rw, user_pin=config.pin)
            except pkcs11.UserAlreadyLoggedIn:
                session = token.open(rw=rw)
        except pkcs11.PinIncorrect as exc:
            raise SignerError(f"{name}: login failed: incorrect PIN") from exc
        except pkcs11.PinLocked as exc:
            raise SignerError(f"{name}: login failed: the PIN is locked") from exc
        except (pkcs11.PinLenRange, pkcs11.PinInvalid) as exc:
            raise SignerError(f"{name}: login failed: the PIN has an invalid length or characters") from exc
        except pkcs11.PKCS11Error as exc:
            raise SignerError(f"{name}: opening a session failed: {_pkcs11_failure(exc)}") from exc
        try:
            yield session
        except pkcs11.PKCS11Error as exc:
            raise SignerError(f"{name}: {_pkcs11_failure(exc)}") from exc
        finally:
            with suppress(pkcs11.PKCS11Error):
                session.close()

    @contextmanager
    def _session(self) -> Iterator[tuple[Any, Any]]:
        with self._open(self._config) as session:
            yield session, self._find_private_key(session, self._config)

    @staticmethod
    def _template(uri: Pkcs11Uri, object_class: Any) -> dict:
        pkcs11 = _import_pkcs11()
        template: dict = {pkcs11.Attribute.CLASS: object_class}
        if uri.object is not None:
            template[pkcs11.Attribute.LABEL] = uri.object
        if uri.id is not None:
            template[pkcs11.Attribute.ID] = uri.id
        return template

    @classmethod
    def _find_private_key(cls, session: Any, config: Pkcs11Config) -> Any:
        pkcs11 = _import_pkcs11()
        keys = list(session.get_objects(cls._template(config.uri, pkcs11.ObjectClass.PRIVATE_KEY)))
        where = f"PKCS#11 token '{session.token.label}'"
        if not keys:
            login = "" if config.pin else " (no PIN given: private keys may be hidden until login)"
            raise SignerError(f"no private key with {config.uri.describe()} on {where}{login}")
        if len(keys) > 1:
            raise SignerError(f"{len(keys)} private keys match {config.uri.describe()} on {where}: add id= or object=")
        return keys[0]

    def _find_public_key(self, session: Any, private: Any) -> PublicKey:
        """The token's public key object, else its certificate, else what the private key exposes."""
        pkcs11 = _import_pkcs11()
        attr, uri = pkcs11.Attribute, self._config.uri
        templates = [self._template(uri, pkcs11.ObjectClass.PUBLIC_KEY)]
        key_id = private[attr.ID]
        if key_id:
            templates.append({attr.CLASS: pkcs11.ObjectClass.PUBLIC_KEY, attr.ID: key_id})
        public = None
        for template in templates:
            candidates = list(session.get_objects(template))
            if len(candidates) == 1:
                public = self._public_from_object(candidates[0])
                break
        certificates = list(session.get_objects(self._template(uri, pkcs11.ObjectClass.CERTIFICATE)))
        if not certificates and key_id:
            certificates = list(session.get_objects({attr.CLASS: pkcs11.ObjectClass.CERTIFICATE, attr.ID: key_id}))
        if len(certificates) == 1:
            from cryptography import x509

            try:
                cert = x509.load_der_x509_certificate(bytes(certificates[0][attr.VALUE]))
            except ValueError as exc:
                raise SignerError(f"PKCS#11 certificate for {uri.describe()} is not DER X.509") from exc
            self._certificate = cert.public_bytes(Encoding.PEM)
            if public is None:
                try:
                    public = load_public_key(_spki(cert.public_key()), f"PKCS#11 certificate for {uri.describe()}")
                except FormatError as exc:
                    raise SignerError(str(exc)) from exc
        if public is None:
            public = self._public_from_object(private, missing_ok=True)
        if public is None:
            raise SignerError(f"PKCS#11 key {uri.describe()} has no public key object or certificate on the token")
        if private.key_type == pkcs11.KeyType.RSA and not isinstance(public, rsa.RSAPublicKey):
            raise SignerError(f"PKCS#11 key {uri.describe()}: public key does not match the RSA private key")
        return public

    @staticmethod
    def _public_from_object(obj: Any, missing_ok: bool = False) -> PublicKey | None:
        pkcs11 = _import_pkcs11()
        attr = pkcs11.Attribute
        try:
            if obj.key_type == pkcs11.KeyType.RSA:
                modulus, exponent = obj[attr.MODULUS], obj[attr.PUBLIC_EXPONENT]
                return rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"),
                                            int.from_bytes(modulus, "big")).public_key()
            if obj.key_type in (pkcs11.KeyType.EC, pkcs11.KeyType.EC_EDWARDS):
                return _ec_public_key(obj[attr.EC_PARAMS], obj[attr.EC_POINT])
        except (pkcs11.AttributeTypeInvalid, pkcs11.AttributeSensitive):
            if missing_ok:
                return None
            raise
        raise SignerError(f"PKCS#11 key type {obj.key_type!r} is not supported: use EC, Ed25519 or RSA")

    # -- the interface ------------------------------------------------------------------------------

    def public_key(self) -> PublicKey:
        return self._public

    def certificate_pem(self) -> bytes | None:
        return self._certificate

    def sign(self, data: bytes) -> bytes:
        pkcs11 = _import_pkcs11()
        mechanism = pkcs11.Mechanism
        key = self._public
        with self._session() as (_, private):
            if isinstance(key, ec.EllipticCurvePublicKey):
                raw = private.sign(hashlib.new(_curve_hash(key), data).digest(), mechanism=mechanism.ECDSA)
                half = len(raw) // 2
                if len(raw) % 2 or not half:
                    raise SignerError("PKCS#11 token returned a malformed ECDSA signature")
                signature = encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                                 int.from_bytes(raw[half:], "big"))
            elif isinstance(key, ed25519.Ed25519PublicKey):
                signature = bytes(private.sign(data, mechanism=mechanism.EDDSA))
            elif self._rsa_hash_and_sign:
                signature = bytes(private.sign(data, mechanism=mechanism.SHA256_RSA_PKCS))
            else:
                digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
                signature = bytes(private.sign(digest_info, mechanism=mechanism.RSA_PKCS))
        return _checked(self, signature, data, f"PKCS#11 key {self._config.uri.describe()}")

    @classmethod
    def generate(cls, uri: str) -> Pkcs11Signer:
        """Generate an EC P-256 key pair on the token, labelled and identified as the URI says
        (without an ``id=``, a random 8-byte CKA_ID pairs the two halves)."""
        pkcs11 = _import_pkcs11()
        attr = pkcs11.Attribute
        config = pkcs11_config(uri)
        with cls._open(config, rw=True) as session:
            if list(session.get_objects(cls._template(config.uri, pkcs11.ObjectClass.PRIVATE_KEY))):
                raise SignerError(f"a private key with {config.uri.describe()} already exists on PKCS#11 token "
                                  f"'{session.token.label}'")
            key_id = config.uri.id if config.uri.id is not None else os.urandom(8)
            label = config.uri.object or ""
            signing = pkcs11.MechanismFlag.SIGN | pkcs11.MechanismFlag.VERIFY
            session.generate_keypair(
                pkcs11.KeyType.EC, store=True, label=label, id=key_id, capabilities=signing,
                public_template={attr.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")},
                private_template={attr.EXTRACTABLE: False},
            )
        return cls(uri)


def _spki(key: Any) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


# -- AWS KMS -------------------------------------------------------------------------------------------

_UUID = r"(?:mrk-)?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}"
_ARN = r"arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:"
_AWS_FORMS = (  # sigstore's pkg/signature/kms/aws forms: key ID, key ARN, alias name, alias ARN
    rf"^awskms://(?P<endpoint>[^/]*)/(?P<key>{_UUID})$",
    rf"^awskms://(?P<endpoint>[^/]*)/(?P<key>{_ARN}key/{_UUID})$",
    r"^awskms://(?P<endpoint>[^/]*)/(?P<key>(?P<alias>alias/.+))$",
    rf"^awskms://(?P<endpoint>[^/]*)/(?P<key>{_ARN}(?P<alias>alias/.+))$",
)
_LOOPBACK = r"(?i)^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$"


class AwsKmsReference(NamedTuple):
    """``awskms://[ENDPOINT]/KEY``: endpoint host[:port] ("" = AWS), the KeyId (id, ARN or
    alias/NAME), the alias name if any, and the region an ARN names."""

    endpoint: str
    key_id: str
    alias: str | None
    region: str | None

    @property
    def endpoint_url(self) -> str | None:
        """http:// for a loopback endpoint (localstack, moto), https:// otherwise."""
        if not self.endpoint:
            return None
        return ("http://" if re.match(_LOOPBACK, self.endpoint) else "https://") + self.endpoint


def parse_awskms_uri(uri: str) -> AwsKmsReference:
    for form in _AWS_FORMS:
        match = re.match(form, uri)
        if match:
            groups = match.groupdict()
            return AwsKmsReference(groups["endpoint"], groups["key"], groups.get("alias"), groups.get("region"))
    raise KeyReferenceError(f"invalid AWS KMS reference '{uri}': use awskms://[ENDPOINT]/KEY_ID, "
                            "awskms://[ENDPOINT]/alias/NAME or awskms://[ENDPOINT]/arn:aws:kms:...")


def _kms_client(reference: AwsKmsReference) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise SignerError("AWS KMS keys need boto3: pip install 'airlock[kms]'") from exc
    region = (reference.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or boto3.session.Session().region_name or "us-east-1")
    retries = {} if "AWS_MAX_ATTEMPTS" in os.environ else {"retries": {"max_attempts": 3, "mode": "standard"}}
    config = Config(connect_timeout=10, read_timeout=60, **retries)
    return boto3.client("kms", region_name=region, endpoint_url=reference.endpoint_url, config=config)


def _kms_failure(what: str, exc: Exception) -> SignerError:
    """One line from a botocore ClientError (code: message) or BotoCoreError (connection, credentials)."""
    error = getattr(exc, "response", {}).get("Error", {})
    if error:
        message = " ".join(str(error.get("Message", "")).split())
        return SignerError(f"AWS KMS {what}: {error.get('Code', 'error')}: {message}".rstrip(": "))
    return SignerError(f"AWS KMS {what}: {' '.join(str(exc).split())}")


@contextmanager
def _kms_errors(what: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise _kms_failure(what, exc) from exc


class AwsKmsSigner(Signer):
    """A key in AWS KMS (or an endpoint speaking its API): ``kms.Sign`` over a digest computed here."""

    def __init__(self, uri: str) -> None:
        self._reference = parse_awskms_uri(uri)
        self._client = _kms_client(self._reference)
        with _kms_errors(f"get-public-key {self._reference.key_id}"):
            response = self._client.get_public_key(KeyId=self._reference.key_id)
        if response.get("KeyUsage", "SIGN_VERIFY") != "SIGN_VERIFY":
            raise SignerError(f"AWS KMS key {self._reference.key_id} has KeyUsage {response['KeyUsage']}, "
                              "not SIGN_VERIFY")
        try:
            self._public = load_public_key(response["PublicKey"], f"AWS KMS key {self._reference.key_id}")
        except FormatError as exc:
            raise SignerError(str(exc)) from exc
        if isinstance(self._public, ec.EllipticCurvePublicKey):
            self._hash = _curve_hash(self._public)
            self._algorithm = _CURVES[self._public.curve.name][2]
        elif isinstance(self._public, rsa.RSAPublicKey):
            self._hash, self._algorithm = "sha256", "RSASSA_PKCS1_V1_5_SHA_256"
        else:
            raise SignerError(f"AWS KMS key {self._reference.key_id}: Ed25519 keys are not supported")
        offered = response.get("SigningAlgorithms")
        if offered and self._algorithm not in offered:
            raise SignerError(f"AWS KMS key {self._reference.key_id} does not offer {self._algorithm} "
                              f"(offers {', '.join(offered)})")

    @property
    def reference(self) -> AwsKmsReference:
        return self._reference

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        digest = hashlib.new(self._hash, data).digest()
        with _kms_errors(f"sign {self._reference.key_id}"):
            response = self._client.sign(KeyId=self._reference.key_id, Message=digest, MessageType="DIGEST",
                                         SigningAlgorithm=self._algorithm)
        return _checked(self, bytes(response["Signature"]), data, f"AWS KMS key {self._reference.key_id}")

    @classmethod
    def create(cls, uri: str) -> AwsKmsSigner:
        """An ECC_NIST_P256 SIGN_VERIFY key under the URI's alias; an existing alias is reused."""
        reference = parse_awskms_uri(uri)
        if reference.alias is None:
            raise KeyReferenceError(f"creating an AWS KMS key needs an alias: awskms://{reference.endpoint}/alias/NAME")
        client = _kms_client(reference)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client.describe_key(KeyId=reference.key_id)
        except (ClientError, BotoCoreError) as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "NotFoundException":
                raise _kms_failure(f"describe-key {reference.key_id}", exc) from exc
            with _kms_errors("create-key"):
                created = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY",
                                            Description="Created by airlock")
            with _kms_errors(f"create-alias {reference.alias}"):
                client.create_alias(AliasName=reference.alias, TargetKeyId=created["KeyMetadata"]["KeyId"])
        return cls(uri)
