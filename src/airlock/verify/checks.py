"""The checks: pure functions of (material, trust root, policy, time) that raise on failure.

Each raises ``VerificationError(check, reason)`` with the name of the check, so a caller can
tell *which* property failed. None does I/O. The order they run in is the verifier's business
(see ``airlock.verify.verifier``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import struct
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

# ``cryptography.x509`` costs tens of ms of start-up: it is imported where a certificate is
# read, so a key-signed signature never loads it. The OIDs come from where ``x509.oid`` takes them.
from airlock import _wire
from airlock.artifact import Artifact
from airlock.crypto import (
    ExtendedKeyUsageOID,
    ExtensionOID,
    PublicKey,
    default_hash,
    spki_der,
    verify_digest,
    verify_message,
)
from airlock.errors import Check, CheckpointError, FormatError, ProofError, VerificationError
from airlock.material import DsseEnvelope, EntryClaims, Material, MessageSignature, TlogEntry
from airlock.media_types import IN_TOTO, STATEMENT_TYPES
from airlock.trust.trusted_root import CertificateAuthority, TransparencyLog, TrustedRoot
from airlock.verify import checkpoint as notes
from airlock.verify import merkle

if TYPE_CHECKING:
    from cryptography import x509

_MILLISECOND = timedelta(milliseconds=1)
_KNOWN_CRITICAL = {
    ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.POLICY_CONSTRAINTS,
    ExtensionOID.CERTIFICATE_POLICIES, ExtensionOID.INHIBIT_ANY_POLICY,
}


# -- transparency log ------------------------------------------------------------------------

def find_log(entry: TlogEntry, trusted_root: TrustedRoot) -> TransparencyLog:
    log = trusted_root.tlog_by_id(entry.log_id)
    if log is None:
        raise VerificationError(Check.TLOG, f"log entry {entry.log_index} is from a log not in the trusted root "
                                f"(log id {entry.log_id.hex()})")
    return log


def check_set(entry: TlogEntry, log: TransparencyLog) -> datetime:
    """The Signed Entry Timestamp: the log's promise to include the entry (FORMATS.md 2.1)."""
    if entry.integrated_time is None or entry.signed_entry_timestamp is None:
        raise VerificationError(Check.SET, "the log entry has no integrated time or SET")
    when = _wire.utc(entry.integrated_time)
    if not log.valid_for.contains(when):
        raise VerificationError(Check.SET, f"integrated time {when.isoformat()} is outside the validity of "
                                f"log {log.base_url} {log.valid_for.describe()}")
    signed = set_payload(entry)
    if not verify_message(log.key, entry.signed_entry_timestamp, signed, "sha256"):
        raise VerificationError(Check.SET, f"the signed entry timestamp does not verify with the key of {log.base_url}")
    return when


def set_payload(entry: TlogEntry) -> bytes:
    """The RFC 8785 (JCS) bytes a SET signs: ``{body, integratedTime, logID, logIndex}``.

    For this one shape JCS is plain sorted, compact JSON: the keys are ASCII, the values are
    base64 / hex strings (nothing to escape) and integers. Built directly because it sits on
    the hot path; ``tests/test_checks.py`` compares it with the ``rfc8785`` library.
    """
    assert entry.integrated_time is not None, "only an entry with a promise (and so a time) has a SET"
    return b'{"body":"%s","integratedTime":%d,"logID":"%s","logIndex":%d}' % (
        base64.b64encode(entry.body), entry.integrated_time, entry.log_id.hex().encode(), entry.log_index)


def check_log_window(entry: TlogEntry, log: TransparencyLog, times: list[datetime]) -> None:
    """An entry proven only by an inclusion proof (Rekor v2, or v1 without a promise): the log's key
    must have been valid when the signature was made, and with no SET the verified times are the
    RFC 3161 ones (docs/FORMATS-NOTES.md "Log validity windows for Rekor v2")."""
    if not times:
        raise VerificationError(Check.TIMESTAMP, f"no verified signing time (log entry {entry.log_index} has no SET "
                                "and there is no trusted RFC 3161 timestamp): the validity of log "
                                f"{log.base_url} {log.valid_for.describe()} cannot be checked")
    for when in times:
        if not log.valid_for.contains(when):
            raise VerificationError(Check.TLOG, f"log entry {entry.log_index}: the signing time "
                                    f"{when:%Y-%m-%dT%H:%M:%SZ} is outside the validity of log {log.base_url} "
                                    f"{log.valid_for.describe()}")


def check_inclusion(entry: TlogEntry, log: TransparencyLog) -> None:
    """The Merkle inclusion proof, and a checkpoint signed by the log for the same root."""
    proof = entry.inclusion_proof
    if proof is None:
        raise VerificationError(Check.INCLUSION_PROOF, "the log entry has no inclusion proof")
    try:
        merkle.verify_inclusion(proof.log_index, proof.tree_size, merkle.leaf_hash(entry.body),
                                proof.hashes, proof.root_hash)
    except ProofError as exc:
        raise VerificationError(Check.INCLUSION_PROOF, str(exc)) from exc
    if proof.checkpoint is None:
        raise VerificationError(Check.CHECKPOINT, "the inclusion proof has no checkpoint")
    try:
        checkpoint = notes.parse(proof.checkpoint)
    except CheckpointError as exc:
        raise VerificationError(Check.CHECKPOINT, str(exc)) from exc
    rekor_v2 = log.key_details == "PKIX_ED25519"
    if rekor_v2 and entry.log_index != proof.log_index:  # one tree, no shards: the proof's index is the index
        raise VerificationError(Check.INCLUSION_PROOF, f"log entry index {entry.log_index} is not the index "
                                f"{proof.log_index} its inclusion proof is for")
    if rekor_v2 and checkpoint.origin != log.host:
        raise VerificationError(Check.CHECKPOINT,
                                f"checkpoint origin {checkpoint.origin!r} is not the log {log.host!r}")
    try:
        notes.verify(checkpoint, log.key, log.note_key_hint, name=checkpoint.origin if rekor_v2 else None)
    except CheckpointError as exc:
        raise VerificationError(Check.CHECKPOINT, str(exc)) from exc
    if checkpoint.root_hash != proof.root_hash or checkpoint.size != proof.tree_size:
        raise VerificationError(Check.CHECKPOINT, "the checkpoint is for another tree than the inclusion proof")


def check_entry_matches(entry: TlogEntry, material: Material, signer_der: bytes, signer_is_cert: bool,
                        artifact: Artifact) -> EntryClaims:
    """The log entry is about *this* signature, signer and artifact (FORMATS.md 2.4)."""
    claims = entry.claims  # read from the body by formats.rekor when the material was built
    if claims is None:
        raise VerificationError(Check.TLOG_ENTRY, entry.claims_error or "the log entry body was not read")
    if (claims.kind, claims.version) != (entry.kind, entry.version):
        raise VerificationError(Check.TLOG_ENTRY, f"the entry body is {claims.kind} {claims.version} but the bundle "
                                f"says {entry.kind} {entry.version}")
    if claims.signatures and material.signature not in claims.signatures:
        raise VerificationError(Check.TLOG_ENTRY, "the log entry records a different signature")
    if not any(_same_signer(v, signer_der, signer_is_cert) for v in claims.verifiers):
        raise VerificationError(Check.TLOG_ENTRY, "the log entry records a different "
                                + ("certificate" if signer_is_cert else "public key"))
    content = material.content
    if isinstance(content, MessageSignature):
        if claims.digest is None or claims.digest_algorithm is None:
            raise VerificationError(Check.TLOG_ENTRY, f"a {claims.kind} entry cannot record a message signature")
        expected = artifact.digest(claims.digest_algorithm)
        if expected is None:
            raise VerificationError(Check.TLOG_ENTRY, f"the log entry records a {claims.digest_algorithm} digest; "
                                    "only another digest of the artifact is known")
        if expected != claims.digest:
            raise VerificationError(Check.TLOG_ENTRY, "the log entry records a different artifact digest")
    else:
        if claims.kind == "hashedrekord":
            pae_digest = hashlib.new(claims.digest_algorithm or "sha256", content.pae()).digest()
            if claims.digest != pae_digest:
                raise VerificationError(Check.TLOG_ENTRY, "the log entry records a different DSSE envelope")
        else:
            if claims.payload_hash is None or claims.payload_hash != hashlib.sha256(content.payload).digest():
                raise VerificationError(Check.TLOG_ENTRY, "the log entry records a different DSSE payload")
            stored = material.stored_envelope_sha256
            if stored is not None and claims.envelope_hash != stored:  # cosign: "matching bundle to payload"
                raise VerificationError(Check.TLOG_ENTRY, "the log entry records a different DSSE envelope: its "
                                        "envelope hash is not the hash of the envelope stored")
    return claims


def _same_signer(recorded: bytes, signer_der: bytes, signer_is_cert: bool) -> bool:
    if recorded == signer_der:
        return True
    if signer_is_cert:
        return False
    from cryptography import x509

    try:  # a key-signed entry may carry a certificate for the same key
        return spki_der(x509.load_der_x509_certificate(recorded).public_key()) == signer_der
    except (ValueError, UnsupportedAlgorithm):  # not a certificate, or one with a key nobody knows
        return False


# -- timestamps --------------------------------------------------------------------------------

def check_rfc3161(token: bytes, signature: bytes, trusted_root: TrustedRoot) -> tuple[datetime, str]:
    """An RFC 3161 timestamp over the signature bytes, from a TSA trusted at its own genTime."""
    import rfc3161_client

    try:
        response = rfc3161_client.decode_timestamp_response(token)
    except Exception as exc:
        raise VerificationError(Check.TIMESTAMP, f"the RFC 3161 timestamp does not parse ({_short(exc)})") from exc
    if not trusted_root.timestamp_authorities:
        raise VerificationError(Check.TIMESTAMP, "the trusted root has no timestamp authorities")
    reasons = []
    for tsa in trusted_root.timestamp_authorities:
        try:
            _tsa_verifier(tsa).verify_message(response, signature)
        except Exception as exc:  # rfc3161_client raises several types
            reasons.append(_short(exc))
            continue
        when = response.tst_info.gen_time
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        if not tsa.valid_for.contains(when):
            reasons.append(f"time {when.isoformat()} is outside the TSA validity {tsa.valid_for.describe()}")
            continue
        return when, tsa.uri
    raise VerificationError(Check.TIMESTAMP, "the RFC 3161 timestamp does not verify with any trusted TSA"
                            + (f" ({reasons[-1]})" if reasons else ""))


def _short(exc: Exception) -> str:
    """One readable line from rfc3161_client / OpenSSL errors, which can span pages."""
    text = str(exc)
    for marker in ('data: "', 'reason: "'):
        if marker in text:
            return text.split(marker, 1)[1].split('"', 1)[0]
    return text.splitlines()[0][:160] if text else exc.__class__.__name__


def _tsa_verifier(tsa: CertificateAuthority):
    import rfc3161_client

    builder = rfc3161_client.VerifierBuilder()
    chain = list(tsa.chain)
    if len(chain) > 1 and not _is_ca(chain[0]):
        builder = builder.tsa_certificate(chain[0])
        chain = chain[1:]
    for cert in chain[:-1]:
        builder = builder.add_intermediate_certificate(cert)
    return builder.add_root_certificate(chain[-1]).build()


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


# -- certificates --------------------------------------------------------------------------------

def check_leaf_profile(leaf: x509.Certificate) -> None:
    """A code-signing leaf: EKU codeSigning, key usage digitalSignature, not a CA, and no
    critical extension we do not understand (Fulcio's critical SAN is understood)."""
    eku = usage = None
    for extension in leaf.extensions:  # compared by OID: isinstance on extension ABCs is slow
        oid = extension.oid
        if oid == ExtensionOID.EXTENDED_KEY_USAGE:
            eku = extension.value
        elif oid == ExtensionOID.KEY_USAGE:
            usage = extension.value
        elif oid == ExtensionOID.BASIC_CONSTRAINTS and extension.value.ca:
            raise VerificationError(Check.CERTIFICATE_CHAIN, "the leaf certificate is a CA certificate")
        if extension.critical and extension.oid not in _KNOWN_CRITICAL:
            raise VerificationError(Check.CERTIFICATE_CHAIN, f"the leaf has an unknown critical extension "
                                    f"{extension.oid.dotted_string}")
    if eku is None:
        raise VerificationError(Check.CERTIFICATE_CHAIN, "the leaf certificate has no extended key usage")
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise VerificationError(Check.CERTIFICATE_CHAIN, "the leaf certificate's EKU does not allow code signing")
    if usage is None or not usage.digital_signature:
        raise VerificationError(Check.CERTIFICATE_CHAIN, "the leaf certificate's key usage does not allow "
                                "digital signatures")


def check_certificate(leaf: x509.Certificate, when: datetime, trusted_root: TrustedRoot) -> x509.Certificate:
    """Chain the leaf to a Fulcio CA trusted at ``when``; return the certificate that issued it.

    The CA's own chain (intermediate -> anchor, CA constraints, unknown critical extensions,
    path lengths per issuing position, name constraints) is checked once per trusted root and
    cached (``CertificateAuthority.chain_problem``). Per signature only the leaf's link remains:
    its signature by the issuing CA certificate (``verify_directly_issued_by``, which also
    matches the names), its profile, the path length and name constraints above its issuer, and
    the validity of it and every CA certificate at ``when``.

    Why not ``cryptography.x509.verification`` (``benchmarks/bench_chain.py``): a
    ``ClientVerifier`` that validates the whole path from the anchor verifies the intermediate's
    signature again for every leaf, 1.2-1.7x the time of a whole keyless verification.
    ``tests/test_chain_differential.py`` runs both, and the real cosign, on every certificate
    shape the test instance mints and asserts they agree, or says why not.
    """
    check_leaf_profile(leaf)
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        raise VerificationError(Check.CERTIFICATE_CHAIN, f"the signing time {when:%Y-%m-%dT%H:%M:%SZ} is outside the "
                                f"certificate's validity [{leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}, "
                                f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}]")
    reasons = []
    for ca in trusted_root.certificate_authorities:
        if not ca.valid_for.contains(when):
            continue
        for position, issuer in enumerate(ca.chain):
            try:  # checks the names in Rust first: cheaper than building x509.Name objects here
                leaf.verify_directly_issued_by(issuer)
            except ValueError:
                continue  # not issued by this certificate
            except (InvalidSignature, TypeError, UnsupportedAlgorithm):
                reasons.append(f"its signature does not verify with CA certificate {issuer.subject.rfc4514_string()}")
                break
            problem = ca.chain_problem or ca.issuing_problem(position)
            if not problem and ca.name_constraints(position):
                problem = _name_constraint_problem(leaf, ca.name_constraints(position))
            if problem:
                reasons.append(problem)
                break
            expired = [c for c in ca.chain[position:] if not c.not_valid_before_utc <= when <= c.not_valid_after_utc]
            if expired:
                reasons.append(f"CA certificate {expired[0].subject.rfc4514_string()} is not valid at "
                               f"{when:%Y-%m-%dT%H:%M:%SZ}")
                break
            return issuer
    if not reasons:
        reasons.append(f"no trusted CA issued it or was valid at {when.isoformat()}")
    raise VerificationError(Check.CERTIFICATE_CHAIN, f"the signing certificate is not trusted: {reasons[0]}")


def _name_constraint_problem(leaf: x509.Certificate, constraints: tuple[x509.NameConstraints, ...]) -> str | None:
    """Why the leaf's DNS, email, URI and IP names break a CA's name constraints, or None.

    Go's ``x509.Verify`` semantics (cosign, sigstore-go): a permitted list of a name form binds
    every name of that form; an excluded subtree refuses any name it matches; other name forms
    (Fulcio's OtherName) are not constrained. A DNS or email domain constraint matches the domain
    and its subdomains (a leading dot: subdomains only); a URI matches by its host, and a URI
    without a host name (or with an IP address as host) cannot be checked, so it is refused.
    """
    from cryptography import x509

    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for name in names:
        if not isinstance(name, (x509.DNSName, x509.RFC822Name, x509.UniformResourceIdentifier, x509.IPAddress)):
            continue
        for constraint in constraints:
            permitted = [p for p in constraint.permitted_subtrees or () if type(p) is type(name)]
            excluded = [e for e in constraint.excluded_subtrees or () if type(e) is type(name)]
            try:
                if any(_name_matches(name, e) for e in excluded):
                    return f"the leaf's name {name.value} is excluded by the CA's name constraints"
                if permitted and not any(_name_matches(name, p) for p in permitted):
                    return f"the leaf's name {name.value} is not permitted by the CA's name constraints"
            except ValueError as exc:
                return f"the leaf's name {name.value} cannot be checked against the CA's name constraints ({exc})"
    return None


def _name_matches(name: x509.GeneralName, constraint: x509.GeneralName) -> bool:
    from cryptography import x509

    if isinstance(name, x509.IPAddress):
        return name.value in constraint.value  # False across IPv4 and IPv6
    if isinstance(name, x509.DNSName):
        return _domain_matches(name.value, constraint.value)
    if isinstance(name, x509.RFC822Name):
        mailbox, at, domain = name.value.rpartition("@")
        if not at or not mailbox:
            raise ValueError("not a mailbox")
        if "@" in constraint.value:
            return name.value.lower() == constraint.value.lower()
        return _domain_matches(domain, constraint.value)
    host = urlsplit(name.value).hostname
    if not host:
        raise ValueError("a URI without a host")
    if host.startswith("[") or host.replace(".", "").isdigit() or ":" in host:
        raise ValueError("a URI whose host is an IP address")
    return _domain_matches(host, constraint.value)


def _domain_matches(domain: str, constraint: str) -> bool:
    domain, constraint = domain.lower().rstrip("."), constraint.lower()
    if not constraint:
        return True
    if constraint.startswith("."):
        return domain.endswith(constraint) and len(domain) > len(constraint)
    return domain == constraint or domain.endswith("." + constraint)


_FULCIO = "1.3.6.1.4.1.57264.1."
_ISSUER_V1, _ISSUER_V2 = 1, 8


def check_fulcio_extensions(leaf: x509.Certificate) -> None:
    """Every Fulcio extension is well formed, so no reader falls back to another one (FORMATS.md 6.4).

    OIDs .1.8 and later are a DER UTF8String; .1.1-.1.6 are raw UTF-8. A present but malformed
    .1.8 must not make the deprecated .1.1 the issuer: sigstore-go fails the whole certificate
    when an extension does not parse, and so does this. Fulcio writes the issuer into both .1.1
    and .1.8; when both are present they must agree.
    """
    issuers: dict[int, str] = {}
    for extension in leaf.extensions:
        dotted = extension.oid.dotted_string
        if not dotted.startswith(_FULCIO) or not dotted[len(_FULCIO):].isdigit():
            continue
        arc = int(dotted[len(_FULCIO):])
        if arc == 7 or not 1 <= arc <= 99:  # .1.7 is an OtherName inside the SAN, not an extension
            continue
        raw = getattr(extension.value, "value", b"")
        try:
            text = _der_utf8_string(raw) if arc >= 8 else raw.decode("utf-8")
        except ValueError as exc:
            encoding = "a DER UTF8String" if arc >= 8 else "UTF-8"
            raise VerificationError(Check.IDENTITY,
                                    f"certificate extension {dotted} is not {encoding} ({exc})") from None
        if arc in (_ISSUER_V1, _ISSUER_V2):
            if not text:
                raise VerificationError(Check.IDENTITY, f"certificate extension {dotted} (OIDC issuer) is empty")
            issuers[arc] = text
    if len(issuers) == 2 and issuers[_ISSUER_V1] != issuers[_ISSUER_V2]:
        raise VerificationError(Check.IDENTITY, f"the certificate's OIDC issuer extensions disagree "
                                f"(.1.1 {issuers[_ISSUER_V1]!r}, .1.8 {issuers[_ISSUER_V2]!r})")


def _der_utf8_string(raw: bytes) -> str:
    """A DER UTF8String (tag 0x0C, definite minimal length, nothing after it), or ValueError."""
    if len(raw) < 2 or raw[0] != 0x0C:
        raise ValueError("not tagged UTF8String" if raw else "empty")
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(raw) < 2 + count:
            raise ValueError("bad length")
        length, offset = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
        if raw[2] == 0 or length < 0x80:
            raise ValueError("length not in minimal DER form")
    if offset + length != len(raw):
        raise ValueError("length does not match the value")
    try:
        return raw[offset:].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("invalid UTF-8") from None


@functools.lru_cache(maxsize=64)
def _key_hash(issuer: x509.Certificate) -> bytes:
    """SHA-256 of the issuer's SPKI, fixed per CA certificate, so computed once."""
    return hashlib.sha256(spki_der(issuer.public_key())).digest()


def check_sct(leaf: x509.Certificate, issuer: x509.Certificate, trusted_root: TrustedRoot) -> None:
    """At least one embedded SCT from a trusted CT log, over the precertificate (FORMATS.md 6.6)."""
    from cryptography import x509

    try:
        scts = leaf.extensions.get_extension_for_oid(ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS).value
    except x509.ExtensionNotFound:
        raise VerificationError(Check.SCT, "the certificate has no embedded SCT") from None
    issuer_key_hash = _key_hash(issuer)
    tbs = leaf.tbs_precertificate_bytes
    seen_logs = 0
    for sct in cast(x509.PrecertificateSignedCertificateTimestamps, scts):
        log = trusted_root.ctlog_by_id(sct.log_id)
        if log is None:
            continue
        seen_logs += 1
        timestamp = sct.timestamp.replace(tzinfo=UTC)
        if not log.valid_for.contains(timestamp):
            continue
        millis = (timestamp - datetime(1970, 1, 1, tzinfo=UTC)) // _MILLISECOND
        extensions = sct.extension_bytes
        signed = (struct.pack(">BBQH", 0, 0, millis, 1) + issuer_key_hash + len(tbs).to_bytes(3, "big") + tbs
                  + len(extensions).to_bytes(2, "big") + extensions)
        hash_name = (sct.signature_hash_algorithm.name if sct.signature_hash_algorithm else "sha256")
        if hash_name in ("sha256", "sha384", "sha512") and verify_message(log.key, sct.signature, signed, hash_name):
            return
    if not seen_logs:
        raise VerificationError(Check.SCT, "no embedded SCT is from a CT log in the trusted root")
    raise VerificationError(Check.SCT, "no embedded SCT verifies with a trusted CT log key")



# -- the signature itself -------------------------------------------------------------------------

def check_signature(material: Material, key: PublicKey, artifact: Artifact) -> None:
    content = material.content
    if isinstance(content, DsseEnvelope):
        if not verify_message(key, content.signatures[0], content.pae()):
            raise VerificationError(Check.SIGNATURE, "the DSSE signature does not verify")
        check_statement_subject(content, artifact)
        return
    algorithm = content.digest_algorithm or default_hash(key)
    if content.digest is not None:
        expected = artifact.digest(content.digest_algorithm or "sha256")
        if expected is not None and expected != content.digest:
            raise VerificationError(Check.SIGNATURE, "the bundle's message digest does not match the artifact")
    if _message_signature_ok(key, content.signature, artifact, algorithm):
        return
    if algorithm != "sha256" and _message_signature_ok(key, content.signature, artifact, "sha256"):
        return  # older clients signed with SHA-256 whatever the curve (FORMATS.md 0.8)
    raise VerificationError(Check.SIGNATURE, "the signature does not verify over the artifact")


def _message_signature_ok(key: PublicKey, signature: bytes, artifact: Artifact, algorithm: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if isinstance(key, ed25519.Ed25519PublicKey):
        data = artifact.read()
        if data is None:
            raise VerificationError(Check.SIGNATURE, "an Ed25519 signature needs the artifact itself, not its digest")
        return verify_message(key, signature, data)
    value = artifact.digest(algorithm)
    if value is None:
        raise VerificationError(Check.SIGNATURE, f"the signature is over a {algorithm} digest; only another "
                                "digest of the artifact is known")
    return verify_digest(key, signature, algorithm, value)


def check_statement_subject(envelope: DsseEnvelope, artifact: Artifact) -> None:
    """A DSSE envelope signs an in-toto statement; the artifact must be one of its subjects.

    The statement is signed, but a signer's tool can still write a malformed one: every shape the
    in-toto spec does not allow is refused with a reason, never skipped (FORMATS.md 9.3).
    """
    if envelope.payload_type != IN_TOTO:
        raise VerificationError(Check.ARTIFACT,
                                f"DSSE payload type {envelope.payload_type!r} is not an in-toto statement")
    try:
        statement = _wire.loads(envelope.payload, "the DSSE payload")
    except FormatError as exc:
        raise VerificationError(Check.ARTIFACT, str(exc)) from None
    if not isinstance(statement, dict):
        raise VerificationError(Check.ARTIFACT, f"the in-toto statement must be a JSON object, not "
                                f"{_wire.json_kind(statement)}")
    if statement.get("_type") not in STATEMENT_TYPES:
        raise VerificationError(Check.ARTIFACT, "the DSSE payload is not an in-toto statement")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise VerificationError(Check.ARTIFACT, "the in-toto statement has no subjects")
    for i, subject in enumerate(subjects):
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if not isinstance(digests, dict):
            raise VerificationError(Check.ARTIFACT, f"in-toto statement subject[{i}] has no digest object")
        for algorithm, value in digests.items():
            if not isinstance(value, str):
                raise VerificationError(Check.ARTIFACT, f"in-toto statement subject[{i}].digest.{algorithm[:32]} "
                                        f"must be a string, not {_wire.json_kind(value)}")
        for algorithm in ("sha256", "sha384", "sha512"):
            wanted = digests.get(algorithm)
            have = artifact.digest(algorithm) if wanted is not None else None
            if wanted is not None and have is not None and wanted.lower() == have.hex():
                return
    raise VerificationError(Check.ARTIFACT, f"{artifact.label} is not a subject of the in-toto statement")
