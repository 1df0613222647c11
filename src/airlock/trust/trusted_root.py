"""The trusted root: every key and CA airlock trusts, with the window in which it is trusted.

A ``trusted_root.json`` (protojson of ``dev.sigstore.trustroot.v1.TrustedRoot``, FORMATS.md
section 5) is parsed once into an immutable ``TrustedRoot`` and passed into every check. The
file has no expiry of its own: each Fulcio CA, Rekor log, CT log and TSA carries a ``validFor``
window, and a signature is judged against the window at its *signing time*, never "now".

Parsing is strict and fails closed: a log without ``logId``, key bytes or ``validFor.start``
makes the whole file unusable, as it does for sigstore-go, because a missing bound must not
silently become "forever".

A CA chain listed root first is reordered leaf-first (from its names, when unambiguous) and
then verified like any other. A JSON Lines file (``gh attestation trusted-root``) loads as the
first root with the others in ``others``; each is used on its own (``TrustedRoot.each``).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlparse

# ``cryptography.x509`` (tens of ms of start-up) is imported where a CA certificate is read, so a
# command that needs no trusted root (``verify-blob --key ... --insecure-ignore-tlog``) never loads
# it through this module. The OIDs come from where ``x509.oid`` takes them.
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from airlock import _wire
from airlock.crypto import ExtendedKeyUsageOID, ExtensionOID, PublicKey, load_public_key, raw_public_bytes, spki_der
from airlock.errors import FormatError, TrustRootError
from airlock.media_types import CLIENT_TRUST_CONFIG, TRUSTED_ROOT_TYPES

if TYPE_CHECKING:
    from cryptography import x509

MEDIA_TYPES = TRUSTED_ROOT_TYPES
MAX_TRUSTED_ROOT_BYTES = 16 * 1024 * 1024
MAX_TRUSTED_ROOTS = 32  # lines of a JSON Lines file; gh writes one per Sigstore instance (2 or 3)


class ValidityWindow(NamedTuple):
    """A closed interval [start, end]; ``None`` means unbounded on that side."""

    start: datetime | None
    end: datetime | None = None

    def contains(self, when: datetime) -> bool:
        return (self.start is None or self.start <= when) and (self.end is None or when <= self.end)

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "-inf"
        end = self.end.isoformat() if self.end else "open"
        return f"[{start}, {end}]"


class TransparencyLog(NamedTuple):
    """A Rekor log (v1 ECDSA or v2 Ed25519) or a CT log."""

    base_url: str
    key: PublicKey
    key_details: str
    log_id: bytes
    valid_for: ValidityWindow
    note_key_hint: bytes  # the 4-byte signed-note key hint of this log's checkpoints (FORMATS.md 7.4)

    @property
    def host(self) -> str:
        """The checkpoint origin of a Rekor v2 log: its URL's host name, without a port (as
        sigstore-go, and so cosign, derive it)."""
        return log_origin(self.base_url)


def log_origin(base_url: str) -> str:
    """The host name of a log URL, port dropped (Go's ``url.URL.Hostname()``); the URL itself when
    it has no host. Case is kept, as Go keeps it."""
    netloc = urlparse(base_url).netloc.rpartition("@")[2]
    if netloc.startswith("["):  # [IPv6]:port
        return netloc[1:].partition("]")[0] or base_url
    return netloc.partition(":")[0] or base_url


def note_key_hint(base_url: str, key: PublicKey, key_details: str, checkpoint_key_id: bytes | None) -> bytes:
    """Ed25519 (Rekor v2): SHA-256(name || 0x0A || 0x01 || raw key); ECDSA: SHA-256(SPKI)."""
    if checkpoint_key_id:
        return checkpoint_key_id[:4]
    if key_details == "PKIX_ED25519":
        host = log_origin(base_url)
        raw = raw_public_bytes(key)  # type: ignore[arg-type]
        return hashlib.sha256(host.encode() + b"\n\x01" + raw).digest()[:4]
    return hashlib.sha256(spki_der(key)).digest()[:4]


class CertificateAuthority:
    """A Fulcio CA or a TSA: a chain ordered leaf-most first, trust anchor last."""

    __slots__ = ("_constraints", "_path_problems", "_problem", "chain", "uri", "valid_for")
    _UNCHECKED = object()

    def __init__(self, chain: tuple[x509.Certificate, ...], valid_for: ValidityWindow, uri: str = "") -> None:
        self.chain = chain
        self.valid_for = valid_for
        self.uri = uri
        self._problem: object = self._UNCHECKED
        self._path_problems: tuple[str | None, ...] = ()
        self._constraints: tuple[tuple[x509.NameConstraints, ...], ...] = ()

    @property
    def anchor(self) -> x509.Certificate:
        return self.chain[-1]

    @property
    def chain_problem(self) -> str | None:
        if self._problem is self._UNCHECKED:
            self._problem = self._find_chain_problem()
        return self._problem  # type: ignore[return-value]

    def issuing_problem(self, position: int) -> str | None:
        """Why ``chain[position]`` may not issue a leaf, or None: a path length constraint of a
        certificate above it counts the CA certificates between (read after ``chain_problem``)."""
        return self._path_problems[position]

    def name_constraints(self, position: int) -> tuple[x509.NameConstraints, ...]:
        """The name constraints that bind a leaf issued by ``chain[position]`` (read after ``chain_problem``)."""
        return self._constraints[position]

    def _find_chain_problem(self) -> str | None:
        """Why this CA's own chain cannot issue code-signing certificates, or None.

        Checked once per trusted root (then cached), as Go's ``x509.Verify`` does for cosign and
        sigstore-go: each certificate is signed by the next; every certificate is a CA allowed to
        sign certificates and, where it restricts extended key usage, code signing; none has a
        critical extension Go does not handle (critical name constraints included, when they
        constrain a name form other than DNS, email, IP or URI); path lengths (per issuing
        position, see ``issuing_problem``) and name constraints (``name_constraints``) are
        prepared for the leaf.
        """
        from cryptography import x509

        constrained_names = (x509.DNSName, x509.RFC822Name, x509.UniformResourceIdentifier, x509.IPAddress)
        name = self.uri or self.anchor.subject.rfc4514_string()
        for child, parent in zip(self.chain, self.chain[1:], strict=False):
            try:
                child.verify_directly_issued_by(parent)
            except Exception:  # InvalidSignature, ValueError (names), TypeError (key types)
                return f"the chain of CA {name} does not verify ({child.subject.rfc4514_string()})"
        limits: list[int | None] = []
        constraints: list[x509.NameConstraints | None] = []
        for cert in self.chain:
            extensions = cert.extensions
            subject = cert.subject.rfc4514_string()
            try:
                constraint = extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                return f"CA {name}: {subject} has no basic constraints"
            if not constraint.ca:
                return f"CA {name}: {subject} is not a CA certificate"
            limits.append(constraint.path_length)
            try:
                if not extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
                    return f"CA {name}: {subject} may not sign certificates"
            except x509.ExtensionNotFound:
                pass
            try:
                eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                if not {ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(eku):
                    return f"CA {name}: {subject} may not issue code-signing certificates"
            except x509.ExtensionNotFound:
                pass
            constraints.append(None)
            for extension in extensions:
                if extension.critical and extension.oid not in _CA_KNOWN_CRITICAL:
                    return f"CA {name}: {subject} has an unknown critical extension {extension.oid.dotted_string}"
                if extension.oid == ExtensionOID.NAME_CONSTRAINTS:
                    value = extension.value
                    subtrees = [*(value.permitted_subtrees or ()), *(value.excluded_subtrees or ())]
                    if extension.critical and not all(isinstance(s, constrained_names) for s in subtrees):
                        return f"CA {name}: {subject} has name constraints on a name form that cannot be checked"
                    constraints[-1] = value
        self._path_problems = tuple(self._path_problem(position, limits) for position in range(len(self.chain)))
        self._constraints = tuple(tuple(c for c in constraints[position:] if c is not None)
                                  for position in range(len(self.chain)))
        return None

    def _path_problem(self, position: int, limits: list[int | None]) -> str | None:
        for above in range(position, len(self.chain)):
            limit = limits[above]
            if limit is not None and above - position > limit:
                return (f"CA {self.uri or self.anchor.subject.rfc4514_string()}: the path length constraint "
                        f"({limit}) of {self.chain[above].subject.rfc4514_string()} is exceeded")
        return None


# Critical extensions Go's crypto/x509 handles in a CA certificate (any other fails x509.Verify).
_CA_KNOWN_CRITICAL = frozenset({
    ExtensionOID.KEY_USAGE, ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.POLICY_MAPPINGS, ExtensionOID.POLICY_CONSTRAINTS, ExtensionOID.INHIBIT_ANY_POLICY,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
})


class TrustedRoot(NamedTuple):
    tlogs: tuple[TransparencyLog, ...]
    certificate_authorities: tuple[CertificateAuthority, ...]
    ctlogs: tuple[TransparencyLog, ...]
    timestamp_authorities: tuple[CertificateAuthority, ...]
    source: str = ""
    # further trusted roots from the same JSON Lines file (``gh attestation trusted-root``):
    # a signature verifies if it verifies against any one of them on its own (never a mix)
    others: tuple[TrustedRoot, ...] = ()

    @property
    def each(self) -> tuple[TrustedRoot, ...]:
        """This root and every other one of its file, each standing alone."""
        return (self._replace(others=()), *self.others) if self.others else (self,)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> TrustedRoot:
        path = os.fspath(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_TRUSTED_ROOT_BYTES + 1)
        except OSError as exc:
            raise TrustRootError(f"trusted root {path}: {exc.strerror or exc}") from exc
        if len(data) > MAX_TRUSTED_ROOT_BYTES:
            raise TrustRootError(f"trusted root {path}: larger than {MAX_TRUSTED_ROOT_BYTES} bytes")
        return cls.from_json(data, source=str(path))

    @classmethod
    def from_json(cls, data: bytes | str, source: str = "") -> TrustedRoot:
        where = f"trusted root {source}" if source else "trusted root"
        lines = _json_lines(data, source)
        if lines is not None:
            roots = []
            for number, line in lines:
                line_source = f"{source}:{number}" if source else f"line {number}"
                roots.append(cls.from_json(line, source=line_source))
            return roots[0]._replace(source=source or roots[0].source, others=tuple(roots[1:]))
        try:
            document = _wire.loads(data, where)
        except FormatError as exc:
            raise TrustRootError(str(exc)) from None
        try:
            return cls._from_dict(document, source)
        except TrustRootError:
            raise
        except FormatError as exc:
            raise TrustRootError(f"{where}: {exc}") from exc

    @classmethod
    def _from_dict(cls, document: Any, source: str, *, wrapped: bool = False) -> TrustedRoot:
        if not isinstance(document, dict):
            raise FormatError(f"expected a JSON object, not {_wire.json_kind(document)}")
        media_type = _wire.optional(document, "mediaType", "trusted root", str, snake="media_type")
        if media_type == CLIENT_TRUST_CONFIG:  # a ClientTrustConfig wraps the trusted root, once
            if wrapped:
                raise FormatError("a ClientTrustConfig inside a ClientTrustConfig (its trustedRoot must be "
                                  "a TrustedRoot)")
            return cls._from_dict(_wire.field(document, "trustedRoot", "client trust config", dict,
                                              snake="trusted_root"), source, wrapped=True)
        if media_type not in MEDIA_TYPES:
            raise FormatError(f"unsupported mediaType {str(media_type)[:100]!r}")
        tlogs = tuple(_log(entry, f"tlogs[{i}]") for i, entry in enumerate(_list(document, "tlogs")))
        ctlogs = tuple(_log(entry, f"ctlogs[{i}]") for i, entry in enumerate(_list(document, "ctlogs")))
        for name, logs in (("tlogs", tlogs), ("ctlogs", ctlogs)):
            _refuse_duplicate_ids(name, logs)
        cas = tuple(
            _authority(entry, f"certificateAuthorities[{i}]")
            for i, entry in enumerate(_list(document, "certificateAuthorities", "certificate_authorities"))
        )
        tsas = tuple(
            _authority(entry, f"timestampAuthorities[{i}]")
            for i, entry in enumerate(_list(document, "timestampAuthorities", "timestamp_authorities"))
        )
        return cls(tlogs=tlogs, certificate_authorities=cas, ctlogs=ctlogs, timestamp_authorities=tsas,
                   source=source)

    def tlog_by_id(self, log_id: bytes) -> TransparencyLog | None:
        return next((log for log in self.tlogs if log.log_id == log_id), None)

    def ctlog_by_id(self, log_id: bytes) -> TransparencyLog | None:
        return next((log for log in self.ctlogs if log.log_id == log_id), None)


def _json_lines(data: bytes | str, source: str) -> list[tuple[int, bytes]] | None:
    """The numbered non-empty lines of a JSON Lines file of trusted roots, or None for one JSON
    document. It is JSON Lines when named ``*.jsonl``, or when its first line is a whole JSON
    object and more lines follow (a pretty-printed trusted_root.json starts with a lone ``{``).
    Blank lines are refused, as gh refuses them: every line must be a trusted root."""
    raw = data.encode() if isinstance(data, str) else data
    lines = raw.split(b"\n")
    if lines and lines[-1].strip() == b"":
        lines.pop()  # the newline that ends the last line
    if not source.endswith(".jsonl"):
        if len(lines) < 2 or not lines[0].strip().startswith(b"{") or not lines[0].rstrip().endswith(b"}"):
            return None
        try:
            _wire.loads(lines[0], "trusted root")
        except FormatError:
            return None
    where = f"trusted root {source}" if source else "trusted roots"
    if not any(line.strip() for line in lines):
        raise TrustRootError(f"{where}: no trusted root in the file")
    if lines[0].strip():  # before counting lines: a pretty-printed trusted_root.json named *.jsonl
        try:
            _wire.loads(lines[0], f"{where}:1")
        except FormatError as exc:
            raise TrustRootError(f"{exc} (a .jsonl file holds one trusted root per line)") from None
    if len(lines) > MAX_TRUSTED_ROOTS:
        raise TrustRootError(f"{where}: {len(lines)} lines, more than the {MAX_TRUSTED_ROOTS} trusted roots accepted")
    numbered = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise TrustRootError(f"{where}: line {number} is empty (each line must be one trusted root)")
        numbered.append((number, line))
    return numbered


def _list(document: dict, name: str, snake: str | None = None) -> list:
    return _wire.optional(document, name, "trusted root", list, snake=snake) or []


def _refuse_duplicate_ids(name: str, logs: tuple[TransparencyLog, ...]) -> None:
    """Two logs with one log ID: entries would be checked against whichever comes first, so the
    file is ambiguous about which key and window apply. sigstore-go keys its map by log ID."""
    seen: dict[bytes, int] = {}
    for i, log in enumerate(logs):
        if log.log_id in seen:
            raise FormatError(f"{name}[{i}] has the same logId as {name}[{seen[log.log_id]}] "
                              f"({log.log_id.hex()}): every log must have its own")
        seen[log.log_id] = i


def _window(obj: Any, what: str, *, start_required: bool) -> ValidityWindow:
    if obj is None:
        if start_required:
            raise FormatError(f"{what}: missing validFor")
        return ValidityWindow(None, None)
    if not isinstance(obj, dict):
        raise FormatError(f"{what}: validFor must be an object")
    start = _wire.optional(obj, "start", f"{what}.validFor", str)
    end = _wire.optional(obj, "end", f"{what}.validFor", str)
    if start is None and start_required:
        raise FormatError(f"{what}: validFor has no start")
    window = ValidityWindow(
        _wire.timestamp(start, f"{what}.validFor.start") if start is not None else None,
        _wire.timestamp(end, f"{what}.validFor.end") if end is not None else None,
    )
    if window.start and window.end and window.end < window.start:
        raise FormatError(f"{what}: validFor ends before it starts")
    return window


def _log(entry: Any, what: str) -> TransparencyLog:
    public_key = _wire.field(entry, "publicKey", what, dict, snake="public_key")
    raw = _wire.b64decode(_wire.field(public_key, "rawBytes", f"{what}.publicKey", snake="raw_bytes"),
                          f"{what}.publicKey.rawBytes")
    key_details = _wire.optional(public_key, "keyDetails", f"{what}.publicKey", str, snake="key_details") or ""
    key = load_public_key(raw, f"{what}.publicKey")
    _check_key_details(key, key_details, f"{what}.publicKey")
    log_id = _wire.b64decode(
        _wire.field(_wire.field(entry, "logId", what, dict, snake="log_id"), "keyId", f"{what}.logId",
                    snake="key_id"),
        f"{what}.logId.keyId",
    )
    if len(log_id) != 32:
        raise FormatError(f"{what}: logId.keyId must be 32 bytes")
    hash_algorithm = _wire.optional(entry, "hashAlgorithm", what, str, snake="hash_algorithm")
    if hash_algorithm not in (None, "SHA2_256"):
        raise FormatError(f"{what}: unsupported hashAlgorithm {hash_algorithm}")
    checkpoint_id = _wire.optional(entry, "checkpointKeyId", what, dict, snake="checkpoint_key_id")
    checkpoint_key_id = (_wire.b64decode(_wire.field(checkpoint_id, "keyId", f"{what}.checkpointKeyId", str,
                                                     snake="key_id"), f"{what}.checkpointKeyId.keyId")
                         if checkpoint_id is not None else None)
    base_url = _wire.optional(entry, "baseUrl", what, str, snake="base_url") or ""
    _wire.optional(entry, "operator", what, str)  # v0.2, not used, but of its type (protojson)
    return TransparencyLog(
        base_url=base_url,
        key=key,
        key_details=key_details,
        log_id=log_id,
        valid_for=_window(_wire.optional(public_key, "validFor", f"{what}.publicKey", dict, snake="valid_for"), what,
                          start_required=True),
        note_key_hint=note_key_hint(base_url, key, key_details, checkpoint_key_id),
    )


_KEY_FAMILIES = (("PKIX_ED25519", ed25519.Ed25519PublicKey), ("PKIX_ECDSA_", ec.EllipticCurvePublicKey),
                 ("PKIX_RSA_", rsa.RSAPublicKey), ("PKCS1_RSA_", rsa.RSAPublicKey))


def _check_key_details(key: PublicKey, key_details: str, what: str) -> None:
    """``keyDetails`` names the key's type, and the checks rely on it (PKIX_ED25519 means a Rekor
    v2 log, whose checkpoint key hint is computed from the raw Ed25519 key): the two must agree.
    An unset ``keyDetails`` is allowed (older files); a value naming no known family is not."""
    if not key_details:
        return
    for prefix, key_type in _KEY_FAMILIES:
        if key_details.startswith(prefix):
            if not isinstance(key, key_type):
                kind = ("Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else
                        "ECDSA" if isinstance(key, ec.EllipticCurvePublicKey) else "RSA")
                raise FormatError(f"{what}: keyDetails {key_details} does not match its {kind} key")
            return
    raise FormatError(f"{what}: unsupported keyDetails {key_details[:64]!r}")


def _authority(entry: Any, what: str) -> CertificateAuthority:
    from cryptography import x509

    subject = _wire.optional(entry, "subject", what, dict)  # not used, but of its type (protojson)
    if subject is not None:
        for name in ("organization", "commonName"):
            _wire.optional(subject, name, f"{what}.subject", str, snake="common_name" if name == "commonName" else None)
    _wire.optional(entry, "operator", what, str)
    chain_obj = _wire.field(entry, "certChain", what, dict, snake="cert_chain")
    certificates = _wire.field(chain_obj, "certificates", f"{what}.certChain", list)
    if not certificates:
        raise FormatError(f"{what}: certChain is empty")
    chain = []
    for i, cert in enumerate(certificates):
        der = _wire.b64decode(_wire.field(cert, "rawBytes", f"{what}.certChain[{i}]", snake="raw_bytes"),
                              f"{what}.certChain[{i}]")
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise FormatError(f"{what}.certChain[{i}]: not a DER certificate") from exc
    return CertificateAuthority(
        chain=_leaf_first(tuple(chain)),
        valid_for=_window(_wire.optional(entry, "validFor", what, dict, snake="valid_for"), what,
                          start_required=False),
        uri=_wire.optional(entry, "uri", what, str) or "",
    )


def _names_link(chain: tuple[x509.Certificate, ...]) -> bool:
    return all(child.issuer == parent.subject for child, parent in itertools.pairwise(chain))


def _leaf_first(chain: tuple[x509.Certificate, ...]) -> tuple[x509.Certificate, ...]:
    """The chain ordered leaf-most first, as the spec lists it, also when the file lists it root
    first (some private deployments do). Only the order is decided here, from the names, and
    only when it is unambiguous (the names link one way and not the other); every signature, CA
    constraint and validity of the reordered chain is then verified as for any chain
    (``CertificateAuthority.chain_problem``). A chain whose names link neither way is kept as
    listed, and refused there."""
    if len(chain) < 2 or _names_link(chain):
        return chain
    reverse = chain[::-1]
    return reverse if _names_link(reverse) else chain
