"""A certificate as cosign's ``download signature`` prints it: Go's ``encoding/json`` of the
``crypto/x509.Certificate`` that Go's parser (Go 1.26) makes of it, field for field.

Written from Go's documented struct and parsing rules (``crypto/x509``, ``crypto/x509/pkix``,
``net/url``). What it does not model (name constraints, policy mappings, URIs with escapes or user
information, public keys other than ECDSA, RSA and Ed25519) raises ``Unsupported``; the caller then
prints the PEM instead and says so.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from airlock.errors import Unsupported

SIGNATURE_ALGORITHMS = {  # Go's x509.SignatureAlgorithm values
    "1.2.840.113549.1.1.2": 1, "1.2.840.113549.1.1.4": 2, "1.2.840.113549.1.1.5": 3,
    "1.2.840.113549.1.1.11": 4, "1.2.840.113549.1.1.12": 5, "1.2.840.113549.1.1.13": 6,
    "1.2.840.10040.4.3": 7, "2.16.840.1.101.3.4.3.2": 8, "1.2.840.10045.4.1": 9,
    "1.2.840.10045.4.3.2": 10, "1.2.840.10045.4.3.3": 11, "1.2.840.10045.4.3.4": 12,
    "1.3.101.112": 16,
}
RSA_PSS = "1.2.840.113549.1.1.10"
EXT_KEY_USAGES = {  # Go's x509.ExtKeyUsage values
    "2.5.29.37.0": 0, "1.3.6.1.5.5.7.3.1": 1, "1.3.6.1.5.5.7.3.2": 2, "1.3.6.1.5.5.7.3.3": 3,
    "1.3.6.1.5.5.7.3.4": 4, "1.3.6.1.5.5.7.3.5": 5, "1.3.6.1.5.5.7.3.6": 6, "1.3.6.1.5.5.7.3.7": 7,
    "1.3.6.1.5.5.7.3.8": 8, "1.3.6.1.5.5.7.3.9": 9, "1.3.6.1.4.1.311.10.3.3": 10,
    "2.16.840.1.113730.4.1": 11, "1.3.6.1.4.1.311.2.1.22": 12, "1.3.6.1.4.1.311.61.1.1": 13,
}
NAME_FIELDS = {"2.5.4.6": "Country", "2.5.4.10": "Organization", "2.5.4.11": "OrganizationalUnit",
               "2.5.4.7": "Locality", "2.5.4.8": "Province", "2.5.4.9": "StreetAddress", "2.5.4.17": "PostalCode"}
AIA = "1.3.6.1.5.5.7.1.1"


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at ``offset``."""
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, value start, value end) of each element in ``data[start:end]``."""
    out = []
    while start < end:
        tag, value_start, value_end = _tlv(data, start)
        out.append((tag, start, value_start, value_end))
        start = value_end
    return out


def _oid(dotted: str) -> list[int]:
    return [int(part) for part in dotted.split(".")]


def _name(name) -> dict:
    fields: dict[str, Any] = {key: None for key in NAME_FIELDS.values()}
    fields.update({"SerialNumber": "", "CommonName": ""})
    names = []
    for rdn in name.rdns:
        for attribute in rdn:
            value, dotted = attribute.value, attribute.oid.dotted_string
            if not isinstance(value, str):
                raise Unsupported("a name attribute that is not a string")
            names.append({"Type": _oid(dotted), "Value": value})
            if dotted in NAME_FIELDS:
                fields[NAME_FIELDS[dotted]] = [*(fields[NAME_FIELDS[dotted]] or []), value]
            elif dotted == "2.5.4.3":
                fields["CommonName"] = value
            elif dotted == "2.5.4.5":
                fields["SerialNumber"] = value
    return {**{key: fields[key] for key in NAME_FIELDS.values()}, "SerialNumber": fields["SerialNumber"],
            "CommonName": fields["CommonName"], "Names": names or None, "ExtraNames": None}


def _public_key(cert) -> tuple[int, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return 1, {"N": numbers.n, "E": numbers.e}
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp224r1", "secp256r1", "secp384r1",
                                                                            "secp521r1"):
        point = key.public_numbers()
        return 3, {"Curve": {}, "X": point.x, "Y": point.y}
    if isinstance(key, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives import serialization

        return 4, _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    raise Unsupported("a public key other than RSA, ECDSA or Ed25519")


def _url(text: str) -> dict:
    if "%" in text or "@" in text.split("/", 3)[2 if "//" in text else 0]:
        raise Unsupported("a URI with escapes or user information")
    parts = urlsplit(text)
    if not parts.scheme or not text.startswith(parts.scheme + "://"):
        raise Unsupported("a URI that is not scheme://host/path")
    return {"Scheme": parts.scheme.lower(), "Opaque": "", "User": None, "Host": parts.netloc, "Path": parts.path,
            "Fragment": parts.fragment, "RawQuery": parts.query, "RawPath": "", "RawFragment": "",
            "ForceQuery": text.endswith("?") and not parts.query, "OmitHost": False}


def certificate(der: bytes) -> dict:
    """The JSON object Go's ``encoding/json`` makes of ``x509.ParseCertificate(der)``."""
    from cryptography import x509

    try:
        return _certificate(der)
    except (IndexError, KeyError, ValueError, TypeError, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType) as exc:
        raise Unsupported(f"a certificate Go may read otherwise ({type(exc).__name__})") from exc


def _certificate(der: bytes) -> dict:
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise Unsupported(f"a certificate Go may read otherwise ({exc})") from exc
    _, body, end = _tlv(der, 0)
    parts = _children(der, body, end)
    _, tbs_start, tbs_body, tbs_end = parts[0]
    fields = _children(der, tbs_body, tbs_end)
    if fields[0][0] == 0xA0:
        fields = fields[1:]
    # serial, signature, issuer, validity, subject, spki, then optional [1] [2] [3]
    issuer, subject, spki = fields[2], fields[4], fields[5]
    extensions = []
    for tag, _, value_start, _end in fields[6:]:
        if tag == 0xA3:
            _, seq_start, seq_end = _tlv(der, value_start)
            for _, _, ext_start, ext_end in _children(der, seq_start, seq_end):
                items = _children(der, ext_start, ext_end)
                critical = len(items) == 3 and der[items[1][2]:items[1][3]] != b"\x00"
                extensions.append((_dotted(der[items[0][2]:items[0][3]]), critical, der[items[-1][2]:items[-1][3]]))
    algorithm = cert.signature_algorithm_oid.dotted_string
    if algorithm == RSA_PSS:
        raise Unsupported("an RSA-PSS signature")
    key_algorithm, public_key = _public_key(cert)
    out: dict[str, Any] = {
        "Raw": _b64(der), "RawTBSCertificate": _b64(der[tbs_start:tbs_end]),
        "RawSubjectPublicKeyInfo": _b64(der[spki[1]:spki[3]]), "RawSubject": _b64(der[subject[1]:subject[3]]),
        "RawIssuer": _b64(der[issuer[1]:issuer[3]]), "Signature": _b64(cert.signature),
        "SignatureAlgorithm": SIGNATURE_ALGORITHMS.get(algorithm, 0), "PublicKeyAlgorithm": key_algorithm,
        "PublicKey": public_key, "Version": cert.version.value + 1, "SerialNumber": cert.serial_number,
        "Issuer": _name(cert.issuer), "Subject": _name(cert.subject),
        "NotBefore": f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}",
        "NotAfter": f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}", "KeyUsage": 0,
        "Extensions": [{"Id": _oid(oid), "Critical": critical, "Value": _b64(value)}
                       for oid, critical, value in extensions] or None,
        "ExtraExtensions": None, "UnhandledCriticalExtensions": None, "ExtKeyUsage": None,
        "UnknownExtKeyUsage": None, "BasicConstraintsValid": False, "IsCA": False, "MaxPathLen": 0,
        "MaxPathLenZero": False, "SubjectKeyId": None, "AuthorityKeyId": None, "OCSPServer": None,
        "IssuingCertificateURL": None, "DNSNames": None, "EmailAddresses": None, "IPAddresses": None, "URIs": None,
        "PermittedDNSDomainsCritical": False, "PermittedDNSDomains": None, "ExcludedDNSDomains": None,
        "PermittedIPRanges": None, "ExcludedIPRanges": None, "PermittedEmailAddresses": None,
        "ExcludedEmailAddresses": None, "PermittedURIDomains": None, "ExcludedURIDomains": None,
        "CRLDistributionPoints": None, "PolicyIdentifiers": None, "Policies": None, "InhibitAnyPolicy": 0,
        "InhibitAnyPolicyZero": False, "InhibitPolicyMapping": 0, "InhibitPolicyMappingZero": False,
        "RequireExplicitPolicy": 0, "RequireExplicitPolicyZero": False, "PolicyMappings": None,
    }
    unhandled: list[str] = []
    by_oid: dict[str, Any] = {extension.oid.dotted_string: extension.value for extension in cert.extensions}
    for oid, critical, _ in extensions:
        value: Any = by_oid[oid]
        if oid == "2.5.29.15":
            bits = [value.digital_signature, value.content_commitment, value.key_encipherment,
                    value.data_encipherment, value.key_agreement, value.key_cert_sign, value.crl_sign,
                    value.key_agreement and value.encipher_only, value.key_agreement and value.decipher_only]
            out["KeyUsage"] = sum(1 << i for i, bit in enumerate(bits) if bit)
        elif oid == "2.5.29.19":
            out["BasicConstraintsValid"], out["IsCA"] = True, value.ca
            out["MaxPathLen"] = -1 if value.path_length is None else value.path_length
            out["MaxPathLenZero"] = out["MaxPathLen"] == 0
        elif oid == "2.5.29.17":
            names: dict[str, list[Any]] = {"DNSNames": [], "EmailAddresses": [], "IPAddresses": [], "URIs": []}
            for general in value:
                if isinstance(general, x509.DNSName):
                    names["DNSNames"].append(general.value)
                elif isinstance(general, x509.RFC822Name):
                    names["EmailAddresses"].append(general.value)
                elif isinstance(general, x509.IPAddress):
                    if not isinstance(general.value, ipaddress.IPv4Address | ipaddress.IPv6Address):
                        raise Unsupported("an IP range in a subject alternative name")
                    names["IPAddresses"].append(str(general.value))
                elif isinstance(general, x509.UniformResourceIdentifier):
                    names["URIs"].append(_url(general.value))
            out.update({key: items or None for key, items in names.items()})
            if not any(names.values()) and critical:
                unhandled.append(oid)
        elif oid in ("2.5.29.30", "2.5.29.33"):
            raise Unsupported("name constraints or policy mappings")
        elif oid == "2.5.29.31":
            points = [name.value for point in value if point.full_name
                      for name in point.full_name if isinstance(name, x509.UniformResourceIdentifier)]
            out["CRLDistributionPoints"] = points or None
        elif oid == "2.5.29.35":
            out["AuthorityKeyId"] = _b64(value.key_identifier)
        elif oid == "2.5.29.36":
            if value.require_explicit_policy is not None:
                out["RequireExplicitPolicy"] = value.require_explicit_policy
                out["RequireExplicitPolicyZero"] = value.require_explicit_policy == 0
            if value.inhibit_policy_mapping is not None:
                out["InhibitPolicyMapping"] = value.inhibit_policy_mapping
                out["InhibitPolicyMappingZero"] = value.inhibit_policy_mapping == 0
        elif oid == "2.5.29.37":
            known = [EXT_KEY_USAGES[usage.dotted_string] for usage in value if usage.dotted_string in EXT_KEY_USAGES]
            unknown = [_oid(usage.dotted_string) for usage in value if usage.dotted_string not in EXT_KEY_USAGES]
            out["ExtKeyUsage"], out["UnknownExtKeyUsage"] = known or None, unknown or None
        elif oid == "2.5.29.14":
            out["SubjectKeyId"] = _b64(value.digest)
        elif oid == "2.5.29.32":
            policies = [policy.policy_identifier.dotted_string for policy in value]
            out["Policies"] = policies or None
            out["PolicyIdentifiers"] = [_oid(policy) for policy in policies]
        elif oid == "2.5.29.54":
            out["InhibitAnyPolicy"] = value.skip_certs
            out["InhibitAnyPolicyZero"] = value.skip_certs == 0
        elif oid == AIA:
            for description in value:
                if not isinstance(description.access_location, x509.UniformResourceIdentifier):
                    continue
                key = {"1.3.6.1.5.5.7.48.1": "OCSPServer", "1.3.6.1.5.5.7.48.2": "IssuingCertificateURL"}.get(
                    description.access_method.dotted_string)
                if key:
                    out[key] = [*(out[key] or []), description.access_location.value]
        elif critical:
            unhandled.append(oid)
    out["UnhandledCriticalExtensions"] = [_oid(oid) for oid in unhandled] or None
    return out


def pem_certificates(text: str, what: str) -> list[bytes]:
    """The DER of each certificate in a PEM text (at least one)."""
    import re

    from airlock import _wire
    from airlock.errors import FormatError

    blocks = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    if not blocks:
        raise FormatError(f"{what} holds no PEM certificate")
    return [_wire.b64decode("".join(block.split()), what) for block in blocks]


def _dotted(body: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's content octets."""
    arcs, value = [], 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])
