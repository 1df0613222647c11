"""An RFC 3161 timestamp authority shaped like Sigstore's (FORMATS.md 5.3).

Responses are built with asn1crypto and signed with cryptography, in the layout the public
Sigstore TSA emits: ``TimeStampResp{status granted, ContentInfo{SignedData v3}}`` whose
encapsulated ``TSTInfo`` carries policy 1.3.6.1.4.1.57264.2, and one ``SignerInfo`` (v1,
issuerAndSerialNumber) with the signed attributes contentType = id-ct-TSTInfo, signingTime,
messageDigest and ESS signingCertificateV2. Signed attributes are DER-sorted so any verifier
(re-encoding or not) computes the same signed bytes.

The TSA chain is a self-signed P-384 root and a P-256 leaf with a *critical* EKU
timeStamping, which is what rfc3161-client and sigstore-go insist on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Literal

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from airlock.testing._common import (
    PrivateKey,
    aware,
    cert_der,
    new_ec_key,
    sign,
)
from airlock.testing.pki import CertificateAuthority, key_identifiers, key_usage, make_name

#: The policy OID of Sigstore's timestamp authority.
TSA_POLICY_OID = "1.3.6.1.4.1.57264.2"

HashName = Literal["sha1", "sha256", "sha384", "sha512"]


class TimestampAuthority(CertificateAuthority):
    """A TSA with a root (optionally an intermediate) and a timeStamping leaf.

    Construction knobs let a test build a TSA whose leaf lacks the critical EKU
    (``leaf_eku_critical=False`` / ``leaf_eku=()``) or whose certificates expire early
    (``leaf_not_before``/``leaf_not_after``), for chain-at-genTime tests.
    """

    def __init__(
        self,
        now: datetime,
        *,
        organization: str = "sigstore.test",
        root_name: str = "sigstore-tsa-selfsigned",
        leaf_name: str = "sigstore-tsa",
        uri: str = "https://timestamp.test.local/api/v1/timestamp",
        intermediate: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        leaf_not_before: datetime | None = None,
        leaf_not_after: datetime | None = None,
        leaf_eku: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.TIME_STAMPING,),
        leaf_eku_critical: bool = True,
    ) -> None:
        super().__init__(
            now,
            organization=organization,
            root_name=root_name,
            intermediate_name=root_name + "-intermediate",
            uri=uri,
            intermediate=intermediate,
            intermediate_eku=[ExtendedKeyUsageOID.TIME_STAMPING],
            not_before=not_before,
            not_after=not_after,
        )
        self.leaf_key: PrivateKey = new_ec_key()
        extensions: list[tuple[x509.ExtensionType, bool]] = [(key_usage(digital_signature=True), True)]
        if leaf_eku:
            extensions.append((x509.ExtendedKeyUsage(list(leaf_eku)), leaf_eku_critical))
        extensions += key_identifiers(self.leaf_key, self.issuer_key)
        leaf_subject = make_name(leaf_name, organization)
        self.leaf = self.issue(leaf_subject, self.leaf_key, extensions, leaf_not_before, leaf_not_after)

    @property
    def chain(self) -> list[x509.Certificate]:
        """Signing leaf first, trust anchor last (trusted_root ``certChain`` order for TSAs)."""
        return [self.leaf, *super().chain]

    def trusted_root_entry(
        self,
        valid_for_window: tuple[datetime, datetime | None] | None = None,
        *,
        include_leaf: bool = True,
    ) -> dict:
        """This TSA as a trusted_root ``timestampAuthorities`` element."""
        entry = super().trusted_root_entry(valid_for_window)
        if not include_leaf:
            del entry["certChain"]["certificates"][0]
        return entry

    def timestamp(
        self,
        data_to_imprint: bytes,
        *,
        gen_time: datetime | None = None,
        hash: HashName = "sha256",
        imprint: bytes | None = None,
        include_cert: bool = True,
        include_chain: bool = False,
        signer: tuple[x509.Certificate, PrivateKey] | None = None,
        signing_key: PrivateKey | None = None,
        nonce: int | None = None,
        policy: str = TSA_POLICY_OID,
        serial: int | None = None,
        accuracy_seconds: int | None = 1,
        status: Literal["granted", "granted_with_mods", "rejection"] = "granted",
        ess_cert: x509.Certificate | None = None,
    ) -> bytes:
        """A DER ``TimeStampResp`` over ``hash(data_to_imprint)``.

        Breaking knobs: ``gen_time`` outside a validity window; ``imprint`` (an explicit digest
        that need not match the data); ``hash="sha1"`` (rejected imprint algorithm);
        ``include_cert=False`` (verifier must supply the leaf); ``signer`` (another TSA's
        cert and key); ``signing_key`` (sign with a key that does not match the embedded
        cert, i.e. a bad CMS signature); ``ess_cert`` (ESS signingCertificateV2 naming a
        different cert); ``status="rejection"`` (no token at all).
        """
        if status == "rejection":
            return _TokenlessResponse({"status": {"status": "rejection", "fail_info": {"bad_request"}}}).dump()
        cert, key = signer or (self.leaf, self.leaf_key)
        moment = aware(gen_time) if gen_time else self.now
        message_digest = imprint if imprint is not None else hashlib.new(hash, data_to_imprint).digest()
        tst_fields: dict = {
            "version": "v1",
            "policy": policy,
            "message_imprint": {"hash_algorithm": {"algorithm": hash}, "hashed_message": message_digest},
            "serial_number": serial if serial is not None else x509.random_serial_number(),
            "gen_time": moment,
        }
        if accuracy_seconds is not None:
            tst_fields["accuracy"] = {"seconds": accuracy_seconds}
        if nonce is not None:
            tst_fields["nonce"] = nonce
        tst_fields["tsa"] = asn1_x509.GeneralName(
            name="directory_name", value=asn1_x509.Name.load(cert.subject.public_bytes())
        )
        tst_der = asn1_tsp.TSTInfo(tst_fields).dump()

        asn1_cert = asn1_x509.Certificate.load(cert_der(cert))
        ess_target = ess_cert or cert
        ess = asn1_tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "cert_hash": hashlib.sha256(cert_der(ess_target)).digest(),
                        "issuer_serial": {
                            "issuer": [
                                asn1_x509.GeneralName(
                                    name="directory_name",
                                    value=asn1_x509.Name.load(ess_target.issuer.public_bytes()),
                                )
                            ],
                            "serial_number": ess_target.serial_number,
                        },
                    }
                ]
            }
        )
        attributes = [
            asn1_cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            asn1_cms.CMSAttribute({"type": "signing_time", "values": [asn1_cms.Time(name="utc_time", value=moment)]}),
            asn1_cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}),
            asn1_cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}),
        ]
        signed_attrs = asn1_cms.CMSAttributes(sorted(attributes, key=lambda attr: attr.dump()))
        signature = sign(signing_key or key, signed_attrs.dump(), hashes.SHA256())

        signer_info = asn1_cms.SignerInfo(
            {
                "version": "v1",
                "sid": asn1_cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number},
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": signed_attrs,
                "signature_algorithm": _signature_algorithm(signing_key or key),
                "signature": signature,
            }
        )
        certificates = []
        if include_cert:
            certificates.append(asn1_cert)
        if include_chain:
            certificates += [asn1_x509.Certificate.load(cert_der(c)) for c in self.chain[1:]]
        signed_data: dict = {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": asn1_cms.ParsableOctetString(tst_der),
            },
            "signer_infos": [signer_info],
        }
        if certificates:
            signed_data["certificates"] = certificates
        token = asn1_cms.ContentInfo({"content_type": "signed_data", "content": asn1_cms.SignedData(signed_data)})
        return asn1_tsp.TimeStampResp({"status": {"status": status}, "time_stamp_token": token}).dump()


class _TokenlessResponse(asn1_core.Sequence):
    """TimeStampResp without the (RFC-optional) token; asn1crypto marks the token required."""

    _fields: ClassVar = [("status", asn1_tsp.PKIStatusInfo)]


def _signature_algorithm(key: PrivateKey) -> asn1_algos.SignedDigestAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    if isinstance(key, rsa.RSAPrivateKey):
        return asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
    if isinstance(key, ed25519.Ed25519PrivateKey):  # pragma: no cover - bonus path
        return asn1_algos.SignedDigestAlgorithm({"algorithm": "ed25519"})
    raise TypeError(f"unsupported TSA key {type(key).__name__}")
