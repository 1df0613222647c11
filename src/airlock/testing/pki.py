"""A Fulcio-like CA and a CT log that embeds real SCTs (FORMATS.md sections 5.1 and 6).

The CA mirrors the public-good shape: a self-signed P-384 root, a P-384 intermediate that
itself carries EKU codeSigning, and 10-minute leaves with an empty subject, a critical SAN,
KeyUsage digitalSignature, EKU codeSigning, the Sigstore OID extensions and an embedded SCT
list. Every profile element is a keyword so a test can remove or corrupt exactly one of them.

The SCT is computed over the precertificate TBS the way RFC 6962 defines it: we first build
the certificate without the SCT extension, sign an SCT over that TBS, then rebuild with the
SCT list appended last. Because ``cryptography`` keeps extension order, the final
certificate's ``tbs_precertificate_bytes`` equals the TBS we signed (this is asserted).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airlock.testing._common import (
    PrivateKey,
    PublicKey,
    aware,
    b64,
    cert_der,
    cert_signing_hash,
    der_octet_string,
    der_utf8,
    key_id,
    new_ec_key,
    public_key_of,
    sign,
    spki_der,
    transparency_log_instance,
    unix_millis,
    valid_for,
)

#: Sigstore's private enterprise arc and the Fulcio sub-arc (FORMATS 6.4).
SIGSTORE_OID = "1.3.6.1.4.1.57264"
FULCIO_OID = SIGSTORE_OID + ".1"
OID_ISSUER_V1 = x509.ObjectIdentifier(FULCIO_OID + ".1")
OID_ISSUER_V2 = x509.ObjectIdentifier(FULCIO_OID + ".8")
OID_OTHERNAME_SAN = x509.ObjectIdentifier(FULCIO_OID + ".7")
OID_SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

SctMode = Literal["valid", "none", "bad-signature", "unknown-log"]
SanType = Literal["uri", "email", "othername", "dns"]


def make_name(common_name: str, organization: str | None) -> x509.Name:
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def build_certificate(
    *,
    subject: x509.Name,
    public_key: PublicKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    not_before: datetime,
    not_after: datetime,
    extensions: Iterable[tuple[x509.ExtensionType, bool]],
    serial: int | None = None,
) -> x509.Certificate:
    """Low-level certificate builder; ``extensions`` are (value, critical) in final order."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(aware(not_before))
        .not_valid_after(aware(not_after))
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(issuer_key, cert_signing_hash(issuer_key))  # type: ignore[arg-type]


def ca_extensions(
    key: PrivateKey | PublicKey,
    issuer_key: PrivateKey | PublicKey | None,
    *,
    path_length: int | None,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = False,
) -> list[tuple[x509.ExtensionType, bool]]:
    """The extensions of a CA certificate as Fulcio/the Sigstore TSA write them."""
    extensions: list[tuple[x509.ExtensionType, bool]] = [(key_usage(cert_sign=True), True)]
    if eku:
        extensions.append((x509.ExtendedKeyUsage(list(eku)), eku_critical))
    extensions.append((x509.BasicConstraints(ca=True, path_length=path_length), True))
    return extensions + key_identifiers(key, issuer_key)


def key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    """KeyUsage with digitalSignature (leaves) and/or keyCertSign + cRLSign (CAs), nothing else."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def key_identifiers(
    key: PrivateKey | PublicKey, issuer_key: PrivateKey | PublicKey | None
) -> list[tuple[x509.ExtensionType, bool]]:
    """SubjectKeyIdentifier, then AuthorityKeyIdentifier unless self-signed (``issuer_key`` None)."""
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.SubjectKeyIdentifier.from_public_key(public_key_of(key)), False)
    ]
    if issuer_key is not None:
        extensions.append(
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key_of(issuer_key)), False)
        )
    return extensions


def sigstore_extension(oid: str, value: str) -> x509.UnrecognizedExtension:
    """A Fulcio OID extension with the encoding its number implies (FORMATS 6.4).

    ``.1.1``-``.1.6`` are raw UTF-8 bytes (no DER wrapper, a historical accident that cosign's
    legacy checks still depend on); ``.1.8`` and later are DER UTF8Strings.
    """
    arc = oid.rsplit(".", 1)[-1] if oid.startswith(FULCIO_OID + ".") else ""
    raw = arc.isdigit() and 1 <= int(arc) <= 6
    payload = value.encode() if raw else der_utf8(value)
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), payload)


def github_actions_extensions(
    repository: str = "org/repo",
    *,
    workflow: str = ".github/workflows/ci.yml",
    ref: str = "refs/heads/main",
    sha: str = "0123456789abcdef0123456789abcdef01234567",
    event: str = "push",
    server: str = "https://github.com",
    runner_environment: str = "github-hosted",
    repository_id: str = "1234567",
    owner_id: str = "7654321",
    run_id: str = "42",
) -> dict[str, str]:
    """The Fulcio OID extensions a GitHub Actions token produces, keyed by dotted OID.

    Pass the result as ``issue_leaf(extra_oids=...)``; both the deprecated raw (.1.2-.1.6) and
    the DER (.1.9+) variants are present, as on real certificates.
    """
    owner = repository.split("/", 1)[0]
    workflow_ref = f"{repository}/{workflow}@{ref}"
    values = {
        2: event,
        3: sha,
        4: "CI",
        5: repository,
        6: ref,
        9: f"{server}/{workflow_ref}",
        10: sha,
        11: runner_environment,
        12: f"{server}/{repository}",
        13: sha,
        14: ref,
        15: repository_id,
        16: f"{server}/{owner}",
        17: owner_id,
        18: f"{server}/{workflow_ref}",
        19: sha,
        20: event,
        21: f"{server}/{repository}/actions/runs/{run_id}/attempts/1",
        22: "public",
    }
    return {f"{FULCIO_OID}.{arc}": value for arc, value in values.items()}


class CTLog:
    """A certificate-transparency log that only ever signs precertificate SCTs.

    ``log_id`` is SHA-256 of the key's SPKI DER, as in RFC 6962 and trusted_root ``ctlogs``.
    """

    def __init__(
        self,
        now: datetime,
        *,
        base_url: str = "https://ctfe.test.local/2026",
        key: PrivateKey | None = None,
    ) -> None:
        self.now = aware(now)
        self.base_url = base_url
        self.key: PrivateKey = key or new_ec_key()
        self.log_id = key_id(self.key)

    def sct(
        self,
        precert_tbs: bytes,
        issuer_public_key: PublicKey,
        timestamp: datetime | int,
        *,
        extensions: bytes = b"",
        bad_signature: bool = False,
        log_id: bytes | None = None,
    ) -> bytes:
        """One serialized SCT v1 (RFC 6962 3.2) for a precertificate entry (FORMATS 6.6).

        ``bad_signature`` signs a different timestamp than the one serialized, so the SCT is
        well-formed DER but does not verify. ``log_id`` lies about which log signed it.
        """
        millis = unix_millis(timestamp)
        issuer_key_hash = hashlib.sha256(spki_der(issuer_public_key)).digest()

        def signed_data(ts: int) -> bytes:
            return (
                b"\x00\x00"
                + struct.pack(">Q", ts)
                + b"\x00\x01"
                + issuer_key_hash
                + len(precert_tbs).to_bytes(3, "big")
                + precert_tbs
                + struct.pack(">H", len(extensions))
                + extensions
            )

        signature = sign(self.key, signed_data(millis + 1 if bad_signature else millis))
        return (
            b"\x00"
            + (log_id or self.log_id)
            + struct.pack(">Q", millis)
            + struct.pack(">H", len(extensions))
            + extensions
            + b"\x04\x03"  # hash sha256, signature ecdsa
            + struct.pack(">H", len(signature))
            + signature
        )

    def trusted_root_entry(self, valid_for_window: tuple[datetime, datetime | None] | None = None) -> dict:
        """This log as a trusted_root ``ctlogs`` element (a TransparencyLogInstance)."""
        return transparency_log_instance(self, valid_for_window)


def sct_list_extension(scts: Sequence[bytes]) -> x509.UnrecognizedExtension:
    """The 1.3.6.1.4.1.11129.2.4.2 extension: an OCTET STRING around a TLS SCT list."""
    body = b"".join(struct.pack(">H", len(sct)) + sct for sct in scts)
    tls_list = struct.pack(">H", len(body)) + body
    return x509.UnrecognizedExtension(OID_SCT_LIST, der_octet_string(tls_list))


class CertificateAuthority:
    """A self-signed P-384 root, optionally a P-384 intermediate under it, and what they issue.

    The defaults are Fulcio's (see ``FulcioCA``); ``TimestampAuthority`` builds its chain here too.
    """

    def __init__(
        self,
        now: datetime,
        *,
        organization: str = "sigstore.test",
        root_name: str = "sigstore",
        intermediate_name: str = "sigstore-intermediate",
        uri: str = "https://fulcio.test.local",
        intermediate: bool = True,
        intermediate_eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CODE_SIGNING,),
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        root_path_length: int | None = 1,
    ) -> None:
        self.now = aware(now)
        self.uri = uri
        self.organization = organization
        self.root_name = root_name
        self.not_before = aware(not_before) if not_before else self.now - timedelta(days=730)
        self.not_after = aware(not_after) if not_after else self.now + timedelta(days=3650)
        self.root_key: PrivateKey = new_ec_key(ec.SECP384R1())
        root_subject = make_name(root_name, organization)
        self.root = build_certificate(
            subject=root_subject,
            public_key=self.root_key.public_key(),
            issuer=root_subject,
            issuer_key=self.root_key,
            not_before=self.not_before,
            not_after=self.not_after,
            extensions=ca_extensions(self.root_key, None, path_length=root_path_length),
        )
        self.intermediate: x509.Certificate | None = None
        self.intermediate_key: PrivateKey | None = None
        self.upper_intermediates: list[x509.Certificate] = []  # above ``intermediate``, leaf-most first
        if intermediate:
            key = new_ec_key(ec.SECP384R1())
            extensions = ca_extensions(key, self.root_key, path_length=0, eku=intermediate_eku)
            # Issued while there is no intermediate yet, i.e. by the root.
            self.intermediate = self.issue(make_name(intermediate_name, organization), key, extensions)
            self.intermediate_key = key

    @property
    def issuer_cert(self) -> x509.Certificate:
        """The certificate that signs leaves (the intermediate, or the root if there is none)."""
        return self.intermediate or self.root

    @property
    def issuer_key(self) -> PrivateKey:
        return self.intermediate_key or self.root_key

    @property
    def chain(self) -> list[x509.Certificate]:
        """CA certificates leaf-most first, trust anchor last (trusted_root ``certChain`` order)."""
        return [self.intermediate, *self.upper_intermediates, self.root] if self.intermediate else [self.root]

    def add_intermediate(
        self,
        name: str,
        *,
        path_length: int | None = 0,
        ca: bool = True,
        eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CODE_SIGNING,),
        extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        """One more CA certificate under the current issuer, which issues the leaves from then on.

        For chains of several intermediates and for broken CA shapes: ``path_length``, ``ca=False``
        (basic constraints CA:FALSE), ``eku``, ``extra_extensions`` (e.g. name constraints or an
        unknown critical extension) and the validity bounds.
        """
        key = new_ec_key(ec.SECP384R1())
        extensions = ca_extensions(key, self.issuer_key, path_length=path_length if ca else None, eku=eku)
        if not ca:
            not_ca = (x509.BasicConstraints(ca=False, path_length=None), True)
            extensions = [not_ca if isinstance(value, x509.BasicConstraints) else (value, critical)
                          for value, critical in extensions]
        cert = self.issue(make_name(name, self.organization), key, [*extensions, *extra_extensions],
                          not_before=not_before, not_after=not_after)
        if self.intermediate is not None:
            self.upper_intermediates.insert(0, self.intermediate)
        self.intermediate, self.intermediate_key = cert, key
        return cert

    def issue(
        self,
        subject: x509.Name,
        key: PrivateKey | PublicKey,
        extensions: Iterable[tuple[x509.ExtensionType, bool]],
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        serial: int | None = None,
    ) -> x509.Certificate:
        """A certificate for ``key`` signed by ``issuer_cert``, valid as long as the CA unless told."""
        return build_certificate(
            subject=subject,
            public_key=public_key_of(key),
            issuer=self.issuer_cert.subject,
            issuer_key=self.issuer_key,
            not_before=not_before or self.not_before,
            not_after=not_after or self.not_after,
            extensions=extensions,
            serial=serial,
        )

    def trusted_root_entry(self, valid_for_window: tuple[datetime, datetime | None] | None = None) -> dict:
        """This CA as a trusted_root ``certificateAuthorities`` (or ``timestampAuthorities``) element."""
        return {
            "subject": {"organization": self.organization, "commonName": self.root_name},
            "uri": self.uri,
            "certChain": {"certificates": [{"rawBytes": b64(cert_der(c))} for c in self.chain]},
            "validFor": valid_for(valid_for_window or (self.not_before, None)),
        }


class FulcioCA(CertificateAuthority):
    """A Fulcio-like certificate authority: P-384 root -> P-384 intermediate -> leaves.

    ``intermediate=False`` issues leaves straight from the root (the 2021 public-good shape).
    ``intermediate_eku`` lets a test give the intermediate a different EKU list (or none).
    """

    def issue_leaf(
        self,
        identity: str,
        issuer: str | None,
        *,
        ctlog: CTLog | None,
        key: PrivateKey | None = None,
        not_before: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=10),
        san_type: SanType = "uri",
        code_signing_eku: bool = True,
        eku: Sequence[x509.ObjectIdentifier] | None = None,
        digital_signature: bool = True,
        issuer_extensions: Literal["both", "v1", "v2", "none"] = "both",
        extra_oids: Mapping[str, str] | None = None,
        extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
        sct: SctMode = "valid",
        sct_time: datetime | int | None = None,
        sct_extensions: bytes = b"",
        basic_constraints_ca: bool | None = None,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """Issue a Fulcio-profile leaf; see ``SigstoreInstance.issue_leaf`` for the knobs."""
        key = key or new_ec_key()
        start = aware(not_before) if not_before else self.now - timedelta(minutes=1)
        extensions: list[tuple[x509.ExtensionType, bool]] = []
        if digital_signature:
            extensions.append((key_usage(digital_signature=True), True))
        eku_list = list(eku) if eku is not None else ([ExtendedKeyUsageOID.CODE_SIGNING] if code_signing_eku else [])
        if eku_list:
            extensions.append((x509.ExtendedKeyUsage(eku_list), False))
        if basic_constraints_ca is not None:
            extensions.append((x509.BasicConstraints(ca=basic_constraints_ca, path_length=None), True))
        extensions += key_identifiers(key, self.issuer_key)
        san: x509.GeneralName
        if san_type == "uri":
            san = x509.UniformResourceIdentifier(identity)
        elif san_type == "email":
            san = x509.RFC822Name(identity)
        elif san_type == "dns":
            san = x509.DNSName(identity)
        else:
            san = x509.OtherName(OID_OTHERNAME_SAN, der_utf8(identity))
        extensions.append((x509.SubjectAlternativeName([san]), True))
        oids: dict[str, str] = {}
        if issuer is not None and issuer_extensions in ("both", "v1"):
            oids[OID_ISSUER_V1.dotted_string] = issuer
        if issuer is not None and issuer_extensions in ("both", "v2"):
            oids[OID_ISSUER_V2.dotted_string] = issuer
        oids.update(extra_oids or {})  # last, so a test can override .1.1/.1.8 independently
        for oid in sorted(oids, key=_oid_sort_key):
            extensions.append((sigstore_extension(oid, oids[oid]), False))
        extensions.extend(extra_extensions)

        issue = partial(self.issue, x509.Name([]), key, not_before=start, not_after=start + lifetime,
                        serial=x509.random_serial_number())
        precert = issue(extensions)
        if sct == "none":
            return precert, key
        log = ctlog
        if sct == "unknown-log" or log is None:
            log = CTLog(self.now, base_url="https://ctfe.unknown.test.local")
        encoded = log.sct(
            precert.tbs_certificate_bytes,
            public_key_of(self.issuer_key),
            sct_time if sct_time is not None else start,
            extensions=sct_extensions,
            bad_signature=(sct == "bad-signature"),
        )
        leaf = issue([*extensions, (sct_list_extension([encoded]), False)])
        if leaf.tbs_precertificate_bytes != precert.tbs_certificate_bytes:  # pragma: no cover
            raise AssertionError("precertificate TBS reconstruction diverged; SCT would not verify")
        return leaf, key


def _oid_sort_key(dotted: str) -> tuple[int, ...]:
    return tuple(int(part) for part in dotted.split("."))
