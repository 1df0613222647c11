"""Sigstore bundles (v0.1-v0.3) and cosign's legacy ``--bundle`` files, read into ``Material``.

Both formats arrive through ``parse_signature_file``, which tells them apart by their fields
(a Sigstore bundle has ``mediaType``; a legacy cosign bundle has ``base64Signature`` /
``rekorBundle``). The structural rules of each bundle version are enforced here, at the edge,
so the checks never see a shape the format forbids (FORMATS.md 4.2):

- v0.1: every log entry carries an inclusion promise (SET); a proof is optional.
- v0.2 and later: every log entry carries an inclusion proof with a checkpoint.
- v0.3: keyless material is one leaf ``certificate``; a chain is not allowed.
- v0.1/v0.2: an ``x509CertificateChain`` must not be empty; its first certificate is the leaf
  and the others (npm provenance carries intermediate and root) are parsed but not used: trust
  anchors come from the trusted root, never from the bundle (FORMATS-NOTES "Real bundles").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airlock import _wire
from airlock.crypto import certificate_extensions, certificate_key
from airlock.errors import FormatError
from airlock.formats.rekor import claims_fields, pem_or_der_to_der
from airlock.material import (
    DsseEnvelope,
    InclusionProof,
    Material,
    MessageSignature,
    TlogEntry,
)
from airlock.media_types import BUNDLE_VERSIONS

if TYPE_CHECKING:  # imported where a certificate is read: key-signed bundles never load it (start-up time)
    from cryptography import x509

MAX_BUNDLE_BYTES = 32 * 1024 * 1024
MAX_TLOG_ENTRIES = 16  # every entry costs signature checks: bound the work an input can demand
MAX_TIMESTAMPS = 32
MAX_CHAIN_CERTIFICATES = 10  # real chains carry leaf, intermediate(s) and root: 2-4
_VERSIONS = BUNDLE_VERSIONS
_DIGESTS = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


def parse_signature_file(data: bytes) -> Material:
    """Read a Sigstore bundle or a legacy cosign bundle, whichever ``data`` is."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise FormatError(f"bundle: larger than {MAX_BUNDLE_BYTES} bytes")
    document = _wire.loads(data, "bundle")
    if not isinstance(document, dict):
        raise FormatError("bundle: expected a JSON object")
    if "mediaType" in document or "media_type" in document:
        return parse_bundle(document)
    lowered = {key.lower() for key in document}
    if lowered & {"base64signature", "rekorbundle", "cert"}:
        return parse_legacy_bundle(document)
    raise FormatError("bundle: neither a Sigstore bundle nor a cosign bundle")


def _one_of(obj: dict, what: str, choices: tuple[tuple[str, str], ...]) -> tuple[str | None, Any]:
    """A protobuf ``oneof``: at most one member set (protojson refuses two), each an object."""
    present = [(name, value) for name, snake in choices
               if (value := _wire.optional(obj, name, what, dict, snake=snake)) is not None]
    if len(present) > 1:
        raise FormatError(f"{what}: both {present[0][0]} and {present[1][0]} are set (only one is allowed)")
    return present[0] if present else (None, None)


def parse_bundle(document: dict) -> Material:
    media_type = _wire.optional(document, "mediaType", "bundle", str, snake="media_type")
    version = _VERSIONS.get(media_type)
    if version is None:
        raise FormatError(f"bundle: unsupported bundle mediaType {media_type!r}")
    where = f"bundle v{version}"
    material = _wire.field(document, "verificationMaterial", where, dict, snake="verification_material")
    what = f"{where}: verificationMaterial"

    chain: tuple[x509.Certificate, ...] = ()
    key_hint = None
    kind, signer = _one_of(material, what, (("certificate", "certificate"),
                                            ("x509CertificateChain", "x509_certificate_chain"),
                                            ("publicKey", "public_key")))
    if kind == "certificate":
        chain = (_certificate(_wire.field(signer, "rawBytes", f"{where}: certificate", str, snake="raw_bytes"),
                              f"{where}: certificate"),)
    elif kind == "x509CertificateChain":
        if version == "0.3":
            raise FormatError(f"{where}: x509CertificateChain is not allowed in v0.3 bundles")
        certificates = _wire.field(signer, "certificates", f"{where}: x509CertificateChain", list)
        if not certificates:
            raise FormatError(f"{where}: the certificate chain is empty")
        if len(certificates) > MAX_CHAIN_CERTIFICATES:
            raise FormatError(f"{where}: {len(certificates)} certificates in the chain, more than the "
                              f"{MAX_CHAIN_CERTIFICATES} accepted")
        parsed = tuple(
            _certificate(_wire.field(c, "rawBytes", f"{where}: chain[{i}]", str, snake="raw_bytes"),
                         f"{where}: chain[{i}]")
            for i, c in enumerate(certificates)
        )
        # Only the leaf is used, as sigstore-go and cosign do (they read certificates[0] and
        # nothing else): the rest, often the issuing intermediate and root that sigstore-js 1.x
        # copied from Fulcio's answer, is neither trusted nor needed, because the leaf is chained
        # to the CAs of the trusted root. Keeping it out of Material means no check can ever
        # mistake a certificate the bundle brought for a trust anchor.
        chain = parsed[:1]
    elif kind == "publicKey":
        key_hint = _wire.optional(signer, "hint", f"{where}: publicKey", str) or ""
    else:
        raise FormatError(f"{where}: verificationMaterial has no certificate or public key")
    if chain:
        _check_leaf_key(chain[0], f"{where}: certificate")

    raw_entries = _list(material, "tlogEntries", "tlog_entries", what)
    if len(raw_entries) > MAX_TLOG_ENTRIES:
        raise FormatError(f"{where}: {len(raw_entries)} log entries, more than the {MAX_TLOG_ENTRIES} accepted")
    entries = tuple(_tlog_entry(entry, f"{where}: tlogEntries[{i}]") for i, entry in enumerate(raw_entries))
    for i, entry in enumerate(entries):
        if version == "0.1" and entry.signed_entry_timestamp is None:
            raise FormatError(f"{where}: tlogEntries[{i}] has no inclusion promise (required in v0.1)")
        if version != "0.1" and (entry.inclusion_proof is None or entry.inclusion_proof.checkpoint is None):
            raise FormatError(f"{where}: tlogEntries[{i}] has no inclusion proof with a checkpoint "
                              f"(required from v0.2 on)")
        if entry.inclusion_proof is not None and entry.inclusion_proof.checkpoint is None:
            # v0.1 too: a proof without a signed root proves nothing, and sigstore-go refuses it
            raise FormatError(f"{where}: tlogEntries[{i}] has an inclusion proof without a checkpoint")

    timestamps: tuple[bytes, ...] = ()
    tvd = _wire.optional(material, "timestampVerificationData", what, dict, snake="timestamp_verification_data")
    if tvd is not None:
        items = _list(tvd, "rfc3161Timestamps", "rfc3161_timestamps", f"{where}: timestampVerificationData")
        if len(items) > MAX_TIMESTAMPS:
            raise FormatError(f"{where}: {len(items)} RFC 3161 timestamps, more than the {MAX_TIMESTAMPS} accepted")
        timestamps = tuple(
            _wire.b64decode(_wire.field(t, "signedTimestamp", f"{where}: rfc3161Timestamps[{i}]", str,
                                        snake="signed_timestamp"), f"{where}: rfc3161Timestamps[{i}]")
            for i, t in enumerate(items)
        )

    content: MessageSignature | DsseEnvelope
    kind, signed = _one_of(document, where, (("messageSignature", "message_signature"),
                                             ("dsseEnvelope", "dsse_envelope")))
    if kind == "messageSignature":
        content = _message_signature(signed, where)
    elif kind == "dsseEnvelope":
        content = parse_dsse(signed, where)
        if len(content.signatures) != 1:
            raise FormatError(f"{where}: a DSSE envelope in a bundle must have exactly one signature")
    else:
        raise FormatError(f"{where}: no messageSignature or dsseEnvelope")

    return Material(content=content, certificate_chain=chain, public_key_hint=key_hint,
                    tlog_entries=entries, rfc3161_timestamps=timestamps, format=f"bundle-{version}")


def parse_dsse(envelope: Any, where: str) -> DsseEnvelope:
    what = f"{where}: dsseEnvelope"
    payload = _wire.b64decode(_wire.field(envelope, "payload", what, str), f"{what}.payload")
    payload_type = _wire.field(envelope, "payloadType", what, str, snake="payload_type")
    signatures = []
    for i, s in enumerate(_wire.field(envelope, "signatures", what, list)):
        _wire.optional(s, "keyid", f"{what}.signatures[{i}]", str)
        signatures.append(_wire.b64decode(_wire.field(s, "sig", f"{what}.signatures[{i}]", str),
                                          f"{what}.signatures[{i}].sig"))
    return DsseEnvelope(payload_type=payload_type, payload=payload, signatures=tuple(signatures))


def parse_legacy_bundle(document: dict) -> Material:
    """cosign's ``LocalSignedPayload`` (``sign-blob --bundle`` before v3; FORMATS.md 4.4).

    Go decodes JSON keys case-insensitively, so this reader does too.
    """
    where = "cosign bundle"
    fields = {key.lower(): value for key, value in document.items()}
    signature = _wire.b64decode(fields.get("base64signature"), f"{where}: base64Signature")
    chain: tuple[x509.Certificate, ...] = ()
    cert_text = fields.get("cert")
    if cert_text is not None and not isinstance(cert_text, str):
        raise FormatError(f"{where}: cert must be a string, not {_wire.json_kind(cert_text)}")
    if cert_text:
        pem = cert_text.encode() if cert_text.lstrip().startswith("-----BEGIN") else _wire.b64decode(
            cert_text, f"{where}: cert")
        if b"CERTIFICATE" in pem.split(b"\n", 1)[0]:
            chain = (_certificate_der(pem_or_der_to_der(pem, f"{where}: cert"), f"{where}: cert"),)
            _check_leaf_key(chain[0], f"{where}: cert")
    entries: tuple[TlogEntry, ...] = ()
    rekor_bundle = fields.get("rekorbundle")
    if rekor_bundle is not None:
        entries = (_legacy_rekor_bundle(rekor_bundle, where),)
    return Material(content=MessageSignature(signature=signature), certificate_chain=chain,
                    tlog_entries=entries, format="cosign-legacy")


def parse_legacy_rekor_bundle(value: str | bytes | dict) -> TlogEntry:
    """The ``dev.sigstore.cosign/bundle`` annotation of an OCI signature layer."""
    if isinstance(value, str | bytes):
        value = _wire.loads(value, "cosign rekor bundle")
    return _legacy_rekor_bundle(value, "cosign rekor bundle")


def _legacy_rekor_bundle(value: Any, where: str) -> TlogEntry:
    if not isinstance(value, dict):
        raise FormatError(f"{where}: rekorBundle must be an object, not {_wire.json_kind(value)}")
    fields = {key.lower(): item for key, item in value.items()}
    set_bytes = _wire.b64decode(fields.get("signedentrytimestamp"), f"{where}: SignedEntryTimestamp")
    payload = fields.get("payload")
    if not isinstance(payload, dict):
        raise FormatError(f"{where}: rekorBundle has no Payload object")
    payload = {key.lower(): item for key, item in payload.items()}
    body = _wire.b64decode(payload.get("body"), f"{where}: Payload.body")
    log_id_hex = payload.get("logid")
    try:
        log_id = bytes.fromhex(log_id_hex) if isinstance(log_id_hex, str) else b""
    except ValueError:
        log_id = b""
    if len(log_id) != 32:
        raise FormatError(f"{where}: Payload.logID must be 64 hex characters")
    kind, version = _kind_of(body, where)
    return TlogEntry(
        log_index=_go_int64(payload.get("logindex"), f"{where}: Payload.logIndex"),
        log_id=log_id, kind=kind, version=version, body=body,
        integrated_time=_go_int64(payload.get("integratedtime"), f"{where}: Payload.integratedTime",
                                  maximum=_wire.MAX_EPOCH_SECONDS),
        signed_entry_timestamp=set_bytes,
        **claims_fields(body),
    )


def _go_int64(value: Any, what: str, *, maximum: int = _wire.INT64_MAX) -> int:
    """An ``int64`` Go's encoding/json reads: a JSON number only (a string is a type error there)."""
    if isinstance(value, str):
        raise FormatError(f"{what}: expected a JSON number, not a string")
    return _wire.int64(value, what, maximum=maximum)


def _kind_of(body: bytes, where: str) -> tuple[str, str]:
    document = _wire.loads(body, f"{where}: the log entry body")
    what = f"{where}: the log entry body"
    return _wire.field(document, "kind", what, str), _wire.field(document, "apiVersion", what, str)


def _tlog_entry(entry: Any, what: str) -> TlogEntry:
    if not isinstance(entry, dict):
        raise FormatError(f"{what}: expected an object, not {_wire.json_kind(entry)}")
    log_id = _wire.b64decode(
        _wire.field(_wire.field(entry, "logId", what, dict, snake="log_id"), "keyId", f"{what}.logId", str,
                    snake="key_id"),
        f"{what}.logId.keyId")
    kind_version = _wire.field(entry, "kindVersion", what, dict, snake="kind_version")
    body_text = _wire.field(entry, "canonicalizedBody", what, str, snake="canonicalized_body")
    integrated = _wire.optional(entry, "integratedTime", what, (str, int), snake="integrated_time")
    integrated_time = (_wire.int64(integrated, f"{what}.integratedTime", maximum=_wire.MAX_EPOCH_SECONDS)
                       if integrated is not None else None)
    promise = _wire.optional(entry, "inclusionPromise", what, dict, snake="inclusion_promise")
    proof = _wire.optional(entry, "inclusionProof", what, dict, snake="inclusion_proof")
    log_index = _log_index(entry, what)
    kind = _wire.field(kind_version, "kind", f"{what}.kindVersion", str)
    version = _wire.field(kind_version, "version", f"{what}.kindVersion", str)
    body = _wire.b64decode(body_text, f"{what}.canonicalizedBody")
    return TlogEntry(
        log_index=log_index,
        log_id=log_id,
        kind=kind,
        version=version,
        body=body,
        integrated_time=integrated_time or None,  # 0 is protobuf's default: not set
        signed_entry_timestamp=_wire.b64decode(
            _wire.field(promise, "signedEntryTimestamp", f"{what}.inclusionPromise", str,
                        snake="signed_entry_timestamp"), f"{what}.signedEntryTimestamp")
        if promise is not None else None,
        inclusion_proof=_proof(proof, f"{what}.inclusionProof") if proof is not None else None,
        **claims_fields(body),  # what the body claims, read here so the checks need no wire format
    )


def _log_index(obj: dict, what: str) -> int:
    """protojson leaves out an int64 field equal to 0, so the first entry of a log has no
    ``logIndex`` (rekor-tiles and cosign write it so; sigstore-go reads it as 0). A present value
    of the wrong type is still malformed."""
    value = _wire.optional(obj, "logIndex", what, (str, int), snake="log_index")
    return 0 if value is None else _wire.int64(value, f"{what}.logIndex")


def _proof(proof: dict, what: str) -> InclusionProof:
    checkpoint = _wire.optional(proof, "checkpoint", what, dict)
    envelope = _wire.optional(checkpoint, "envelope", f"{what}.checkpoint", str) if checkpoint is not None else None
    return InclusionProof(
        log_index=_log_index(proof, what),
        tree_size=_wire.int64(_wire.field(proof, "treeSize", what, (str, int), snake="tree_size"),
                              f"{what}.treeSize"),
        root_hash=_wire.b64decode(_wire.field(proof, "rootHash", what, str, snake="root_hash"), f"{what}.rootHash"),
        hashes=tuple(_wire.b64decode(h, f"{what}.hashes[{i}]")
                     # a tree of one entry has no proof hashes, and protojson leaves out an empty list
                     for i, h in enumerate(_wire.optional(proof, "hashes", what, list) or ())),
        checkpoint=envelope or None,
    )


def _message_signature(message: dict, where: str) -> MessageSignature:
    what = f"{where}: messageSignature"
    signature = _wire.b64decode(_wire.field(message, "signature", what, str), f"{what}.signature")
    digest_obj = _wire.optional(message, "messageDigest", what, dict, snake="message_digest")
    algorithm = digest = None
    if digest_obj is not None:
        name = _wire.field(digest_obj, "algorithm", f"{what}.messageDigest", str)
        algorithm = _DIGESTS.get(name)
        if algorithm is None:
            raise FormatError(f"{what}: unsupported digest algorithm {name[:64]!r}")
        digest = _wire.b64decode(_wire.field(digest_obj, "digest", f"{what}.messageDigest", str),
                                 f"{what}.messageDigest.digest")
    return MessageSignature(signature=signature, digest_algorithm=algorithm, digest=digest)


def _list(obj: dict, name: str, snake: str, what: str) -> list:
    return _wire.optional(obj, name, what, list, snake=snake) or []


def _certificate(raw: Any, what: str) -> x509.Certificate:
    return _certificate_der(_wire.b64decode(raw, what), what)


def _certificate_der(der: bytes, what: str) -> x509.Certificate:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise FormatError(f"{what}: not a DER X.509 certificate") from exc


def _check_leaf_key(cert: x509.Certificate, what: str) -> None:
    """The signing certificate's key must be one airlock can verify with (FORMATS.md 0.8), and
    its extensions must parse (the checks read them)."""
    certificate_key(cert, what)
    certificate_extensions(cert, what)

