"""``SigstoreInstance``: one self-contained Sigstore deployment for tests.

An instance owns a Fulcio-like CA, a CT log, a Rekor v1 shard, a Rekor v2 log and a TSA, all
with fresh keys and all dated relative to one fixed ``now``. Its high-level helpers sign an
artifact end to end and return plain JSON-able dicts in the real wire formats, so tests never
depend on airlock's own models. Every helper accepts keyword overrides that break exactly one
property, and the lower-level pieces (``issue_leaf``, ``rekor_v1.append``, ``tsa.timestamp``,
the ``make_*_body`` functions) are public for anything the overrides do not cover.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from airlock.media_types import BUNDLE_V01, BUNDLE_V02, BUNDLE_V03, IN_TOTO, STATEMENT_V1, TRUSTED_ROOT
from airlock.testing._common import (
    DEFAULT_NOW,
    PrivateKey,
    PublicKey,
    aware,
    b64,
    b64d,
    cert_der,
    digest,
    hash_for_key,
    hash_name,
    key_id,
    protojson_hash_enum,
    public_key_of,
    sign,
    verifier_pem,
)
from airlock.testing.pki import CTLog, FulcioCA
from airlock.testing.rekor import (
    RekorV1Log,
    RekorV2Log,
    legacy_rekor_bundle,
    make_dsse_body,
    make_hashedrekord_body,
    make_hashedrekord_v002_body,
)
from airlock.testing.tsa import TimestampAuthority

DEFAULT_IDENTITY = "https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main"
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"
IN_TOTO_PAYLOAD_TYPE = IN_TOTO
TRUSTED_ROOT_MEDIA_TYPE = TRUSTED_ROOT
BUNDLE_MEDIA_TYPES = {"0.1": BUNDLE_V01, "0.2": BUNDLE_V02, "0.3": BUNDLE_V03}

BundleVersion = Literal["0.1", "0.2", "0.3"]
Window = tuple[datetime, datetime | None]
Verifier = x509.Certificate | PrivateKey | PublicKey | bytes
#: The ``sign_blob`` keywords ``sign_blob_legacy`` takes (the legacy format has no room for the rest).
_LEGACY_OPTIONS = frozenset({
    "identity", "issuer", "key", "leaf", "leaf_options", "signing_time", "integrated_time",
    "signature", "body", "body_signature", "body_verifier", "body_digest", "rekor_options",
})


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding (FORMATS 9.2): what a DSSE signature covers."""
    encoded_type = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


def in_toto_statement(
    data: bytes,
    *,
    subject_name: str = "artifact",
    predicate_type: str = "https://sigstore.dev/cosign/sign/v1",
    predicate: Mapping[str, Any] | None = None,
) -> bytes:
    """A compact in-toto Statement v1 whose single subject is sha256(data)."""
    statement = {
        "_type": STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate or {}),
    }
    return json.dumps(statement, separators=(",", ":")).encode()


def bundle_bytes(bundle: Mapping[str, Any]) -> bytes:
    """Serialise a bundle (or any wire dict) as compact JSON bytes, like cosign writes it."""
    return json.dumps(bundle, separators=(",", ":")).encode()


def managed_key_hint(key: PrivateKey | PublicKey) -> str:
    """``publicKey.hint`` as cosign/sigstore-go write it: base64(SHA-256(SPKI DER))."""
    return b64(key_id(key))


class SigstoreInstance:
    """A complete, offline Sigstore deployment with fresh keys, dated around ``now``.

    Components (all public, all replaceable by a test before signing):
      ``fulcio`` (FulcioCA), ``ctlog`` (CTLog), ``rekor_v1`` (RekorV1Log), ``rekor_v2``
      (RekorV2Log), ``tsa`` (TimestampAuthority).
    Default timeline: CA/TSA certificates and every ``validFor`` start two years before
    ``now``; a leaf is valid from ``signing_time - 1 min`` for 10 minutes; the entry's
    integratedTime and the TSA genTime equal ``signing_time`` (default ``now``).
    """

    def __init__(
        self,
        now: datetime = DEFAULT_NOW,
        *,
        rekor_v1_url: str = "https://rekor.test.local",
        rekor_v1_tree_id: int = 1234567890,
        rekor_v1_shard_offset: int = 1_000_000,
        rekor_v2_url: str = "https://log2025-test.rekor.local",
        log_padding: int = 5,
    ) -> None:
        self.now = aware(now)
        self.fulcio = FulcioCA(self.now)
        self.ctlog = CTLog(self.now)
        self.rekor_v1 = RekorV1Log(
            self.now,
            base_url=rekor_v1_url,
            tree_id=rekor_v1_tree_id,
            shard_offset=rekor_v1_shard_offset,
            padding=log_padding,
        )
        self.rekor_v2 = RekorV2Log(self.now, base_url=rekor_v2_url, padding=log_padding)
        self.tsa = TimestampAuthority(self.now)

    def clock(self) -> datetime:
        """The instance's time, as a ``Verifier(clock=...)``: ``Verifier(root, clock=inst.clock)``."""
        return self.now

    # ------------------------------------------------------------------ trust root

    def trusted_root(
        self,
        *,
        ca_valid_for: Window | None = None,
        rekor_valid_for: Window | None = None,
        rekor_v2_valid_for: Window | None = None,
        ctlog_valid_for: Window | None = None,
        tsa_valid_for: Window | None = None,
        omit: Collection[str] = (),
        extra_tlogs: Sequence[Any] = (),
        extra_cas: Sequence[Any] = (),
        extra_ctlogs: Sequence[Any] = (),
        extra_tsas: Sequence[Any] = (),
        tsa_include_leaf: bool = True,
        media_type: str = TRUSTED_ROOT_MEDIA_TYPE,
    ) -> dict[str, Any]:
        """trusted_root.json for this instance (FORMATS 5.1) as a dict.

        ``*_valid_for=(start, end_or_None)`` moves a ``validFor`` window (to put a signing
        time outside it). ``omit`` drops components by name: ``"rekor_v1"``, ``"rekor_v2"``,
        ``"ca"``, ``"ctlog"``, ``"tsa"`` (an unknown log / untrusted CA). ``extra_*`` append
        foreign components (objects with ``trusted_root_entry()`` or ready dicts), e.g. another
        instance's CA. ``tsa_include_leaf=False`` lists only the TSA root.
        """

        def entry(component: Any) -> dict[str, Any]:
            return component if isinstance(component, dict) else component.trusted_root_entry()

        tlogs = []
        if "rekor_v1" not in omit:
            tlogs.append(self.rekor_v1.trusted_root_entry(rekor_valid_for))
        if "rekor_v2" not in omit:
            tlogs.append(self.rekor_v2.trusted_root_entry(rekor_v2_valid_for))
        cas = [] if "ca" in omit else [self.fulcio.trusted_root_entry(ca_valid_for)]
        ctlogs = [] if "ctlog" in omit else [self.ctlog.trusted_root_entry(ctlog_valid_for)]
        tsas = [] if "tsa" in omit else [self.tsa.trusted_root_entry(tsa_valid_for, include_leaf=tsa_include_leaf)]
        return {
            "mediaType": media_type,
            "tlogs": tlogs + [entry(c) for c in extra_tlogs],
            "certificateAuthorities": cas + [entry(c) for c in extra_cas],
            "ctlogs": ctlogs + [entry(c) for c in extra_ctlogs],
            "timestampAuthorities": tsas + [entry(c) for c in extra_tsas],
        }

    def write_trusted_root(self, path: str | Path, **overrides: Any) -> Path:
        """Write ``trusted_root(**overrides)`` as JSON to ``path`` and return the path."""
        target = Path(path)
        target.write_bytes(json.dumps(self.trusted_root(**overrides), indent=2).encode())
        return target

    # ------------------------------------------------------------------ certificates

    def issue_leaf(
        self,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        *,
        issuer_ca: FulcioCA | None = None,
        ctlog: CTLog | None = None,
        **options: Any,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """Issue a Fulcio-profile leaf certificate and return it with its private key.

        Knobs and what they break: ``not_before``/``lifetime`` (leaf not valid at the signing
        time); ``san_type`` (``uri``/``email``/``othername``/``dns`` identity forms);
        ``code_signing_eku=False`` (no EKU) or ``eku=[...]`` (wrong EKU); ``digital_signature=
        False`` (no KeyUsage); ``issuer_extensions`` (only the raw .1.1 / DER .1.8 issuer, or
        neither); ``extra_oids`` ({dotted OID: value}, e.g. ``github_actions_extensions()``,
        overriding .1.1/.1.8 too); ``sct`` = ``none`` / ``bad-signature`` / ``unknown-log``
        (signed by a CT log absent from the trusted root); ``sct_time`` (SCT outside the ctlog
        window); ``issuer_ca`` (another FulcioCA, i.e. an untrusted chain); ``ctlog`` (another
        CT log); ``basic_constraints_ca=True`` (a leaf claiming to be a CA). Every keyword but
        ``issuer_ca``/``ctlog`` goes to ``FulcioCA.issue_leaf``, which holds their defaults.
        """
        return (issuer_ca or self.fulcio).issue_leaf(identity, issuer, ctlog=ctlog or self.ctlog, **options)

    # ------------------------------------------------------------------ signing

    def sign_blob(
        self,
        data: bytes,
        *,
        version: BundleVersion = "0.3",
        content: Literal["message", "dsse"] = "message",
        rekor: Literal["v1", "v2"] | None = "v1",
        tsa: bool | None = None,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        key: PrivateKey | None = None,
        leaf: tuple[x509.Certificate, PrivateKey] | None = None,
        leaf_options: Mapping[str, Any] | None = None,
        signing_time: datetime | None = None,
        integrated_time: datetime | int | None = None,
        payload_type: str = IN_TOTO_PAYLOAD_TYPE,
        statement: bytes | None = None,
        subject_name: str = "artifact",
        signature: bytes | None = None,
        message_digest: bytes | None = None,
        body: bytes | None = None,
        body_signature: bytes | None = None,
        body_verifier: Verifier | None = None,
        body_digest: bytes | None = None,
        rekor_options: Mapping[str, Any] | None = None,
        tsa_options: Mapping[str, Any] | None = None,
        certificate_field: Literal["certificate", "x509CertificateChain"] | None = None,
        chain_extra: Sequence[x509.Certificate] = (),
        key_hint: str | None = None,
        dsse_keyid: str | None = None,
        media_type: str | None = None,
    ) -> dict[str, Any]:
        """Sign ``data`` and return a Sigstore bundle dict (FORMATS 4.2).

        Shape: ``version`` 0.1/0.2 carry the leaf in ``x509CertificateChain`` (leaf only), 0.3
        in ``certificate``; ``key`` makes a managed-key bundle (``publicKey.hint``) instead.
        ``content="message"`` signs the bytes (``messageSignature``, hashedrekord 0.0.1);
        ``"dsse"`` signs PAE(payload_type, statement) where the statement defaults to an
        in-toto Statement v1 over sha256(data) (dsse 0.0.1 body). ``rekor="v2"`` logs a
        hashedrekord 0.0.2 entry (digest of the PAE for DSSE) and turns ``tsa`` on by default.

        Breaking knobs: ``signing_time`` moves leaf issuance, integratedTime and genTime
        together; ``integrated_time`` moves only the log time; ``leaf``/``leaf_options`` use a
        prepared or customised leaf (see ``issue_leaf``); ``signature`` replaces the signature
        everywhere (bundle, body, timestamp) so it no longer verifies over the artifact;
        ``message_digest`` replaces only ``messageSignature.messageDigest.digest``; ``body``
        logs arbitrary bytes; ``body_signature``/``body_verifier``/``body_digest`` change one
        field of the logged body (DSSE: ``body_digest`` is payloadHash); ``rekor_options`` go
        to ``append`` (``set_signing_key``, ``checkpoint_key``, ``checkpoint_options``,
        ``include_promise``, ``include_proof``, ``trailing_leaves``); ``tsa_options`` go to
        ``tsa.timestamp`` (``gen_time``, ``signer``, ``signing_key``, ``imprint``, ...; plus
        ``data_to_imprint`` to timestamp other bytes than the signature);
        ``certificate_field``/``chain_extra`` choose the certificate field regardless of
        version and append CA certs to ``x509CertificateChain``; ``key_hint``, ``dsse_keyid``
        and ``media_type`` set those strings verbatim.
        """
        moment = aware(signing_time) if signing_time else self.now
        cert: x509.Certificate | None = None
        if key is not None:
            signer_key = key
        elif leaf is not None:
            cert, signer_key = leaf
        else:
            options = {"not_before": moment - timedelta(minutes=1), **dict(leaf_options or {})}
            cert, signer_key = self.issue_leaf(identity, issuer, **options)
        verifier: x509.Certificate | PublicKey = cert if cert is not None else public_key_of(signer_key)
        algorithm = hash_for_key(signer_key)

        bundle_content: dict[str, Any]
        if content == "message":
            artifact_digest = digest(algorithm, data)
            sig = signature if signature is not None else sign(signer_key, data)
            bundle_content = {
                "messageSignature": {
                    "messageDigest": {
                        "algorithm": protojson_hash_enum(algorithm),
                        "digest": b64(message_digest if message_digest is not None else artifact_digest),
                    },
                    "signature": b64(sig),
                }
            }
            signed_digest = artifact_digest
        else:
            payload = statement if statement is not None else in_toto_statement(data, subject_name=subject_name)
            pae_bytes = pae(payload_type, payload)
            sig = signature if signature is not None else sign(signer_key, pae_bytes)
            signature_entry: dict[str, str] = {"sig": b64(sig)}
            if dsse_keyid is not None:
                signature_entry["keyid"] = dsse_keyid
            envelope = {"payload": b64(payload), "payloadType": payload_type, "signatures": [signature_entry]}
            bundle_content = {"dsseEnvelope": envelope}
            signed_digest = digest(algorithm, pae_bytes)

        tlog_entries: list[dict[str, Any]] = []
        if rekor is not None:
            logged_sig = body_signature if body_signature is not None else sig
            logged_verifier = body_verifier if body_verifier is not None else verifier
            options = dict(rekor_options or {})
            if rekor == "v1":
                if body is None:
                    if content == "message":
                        body = make_hashedrekord_body(
                            logged_sig,
                            body_digest if body_digest is not None else signed_digest,
                            logged_verifier,
                            algorithm=hash_name(algorithm),
                        )
                    else:
                        body = make_dsse_body(
                            json.dumps(bundle_content["dsseEnvelope"], separators=(",", ":")).encode(),
                            payload,
                            [(logged_sig, logged_verifier)],
                            payload_hash=body_digest,
                        )
                when = integrated_time if integrated_time is not None else moment
                tlog_entries.append(self.rekor_v1.append(body, when, **options))
            else:
                if body is None:
                    if isinstance(logged_verifier, bytes):
                        raise ValueError("Rekor v2 bodies need a certificate or key as body_verifier")
                    body = make_hashedrekord_v002_body(
                        logged_sig,
                        body_digest if body_digest is not None else signed_digest,
                        logged_verifier,
                        algorithm=protojson_hash_enum(algorithm),
                    )
                tlog_entries.append(self.rekor_v2.append(body, **options))

        material: dict[str, Any] = {}
        if cert is None:
            material["publicKey"] = {"hint": key_hint if key_hint is not None else managed_key_hint(signer_key)}
        else:
            field = certificate_field or ("certificate" if version == "0.3" else "x509CertificateChain")
            if field == "certificate":
                material["certificate"] = {"rawBytes": b64(cert_der(cert))}
            else:
                certs = [cert, *chain_extra]
                material["x509CertificateChain"] = {"certificates": [{"rawBytes": b64(cert_der(c))} for c in certs]}
        material["tlogEntries"] = tlog_entries
        want_timestamp = rekor == "v2" if tsa is None else tsa  # Rekor v2 has no SET time
        if want_timestamp:
            options = dict(tsa_options or {})
            imprinted = options.pop("data_to_imprint", sig)
            options.setdefault("gen_time", moment)
            token = self.tsa.timestamp(imprinted, **options)
            material["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": b64(token)}]}

        return {
            "mediaType": media_type or BUNDLE_MEDIA_TYPES[version],
            "verificationMaterial": material,
            **bundle_content,
        }

    def sign_blob_legacy(
        self, data: bytes, *, include_rekor: bool = True, include_cert: bool = True, **options: Any
    ) -> dict[str, Any]:
        """A cosign legacy blob bundle (FORMATS 4.4): ``base64Signature``, ``cert``, ``rekorBundle``.

        ``cert`` is base64 of the PEM certificate (or of the PEM public key with ``key``);
        ``rekorBundle`` is the SET-only legacy form with the global logIndex and hex logID.
        ``options`` are the ``sign_blob`` knobs that fit a Rekor v1 message signature and mean
        the same: ``identity``, ``issuer``, ``key``, ``leaf``, ``leaf_options``, ``signing_time``,
        ``integrated_time``, ``signature``, ``body``, ``body_signature``, ``body_verifier``,
        ``body_digest``, ``rekor_options``. ``include_rekor``/``include_cert`` drop those
        members (Go ``omitempty``).
        """
        for name in options.keys() - _LEGACY_OPTIONS:
            raise TypeError(f"SigstoreInstance.sign_blob_legacy() got an unexpected keyword argument {name!r}")
        rekor_options = {"include_proof": False, **dict(options.pop("rekor_options", None) or {})}
        bundle = self.sign_blob(data, rekor="v1" if include_rekor else None, rekor_options=rekor_options, **options)
        material = bundle["verificationMaterial"]
        result: dict[str, Any] = {"base64Signature": bundle["messageSignature"]["signature"]}
        if include_cert:
            cert = material.get("certificate")
            verifier = x509.load_der_x509_certificate(b64d(cert["rawBytes"])) if cert else options["key"]
            result["cert"] = b64(verifier_pem(verifier))
        if include_rekor:
            result["rekorBundle"] = legacy_rekor_bundle(material["tlogEntries"][0])
        return result

    def sign_blob_with_key(
        self, data: bytes, private_key: PrivateKey, *, legacy: bool = False, **options: Any
    ) -> dict[str, Any]:
        """Managed-key signing: a ``publicKey.hint`` bundle, or a legacy bundle with a PEM key.

        ``options`` are passed to ``sign_blob`` / ``sign_blob_legacy``. Note that a v0.3
        key bundle has no verified time unless Rekor v1 (SET) or ``tsa=True`` supplies one.
        """
        if legacy:
            return self.sign_blob_legacy(data, key=private_key, **options)
        return self.sign_blob(data, key=private_key, **options)
