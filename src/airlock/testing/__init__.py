"""A complete, offline test Sigstore instance: CA, CT log, Rekor v1/v2, TSA, and signers.

Why: airlock's verifier must accept every valid shape of Sigstore material and reject every
broken one. Real fixtures cover a few shapes; this package mints unlimited fresh material
whose every property can be broken on purpose, in the exact wire formats of
``/work/shared/design/FORMATS.md`` (protojson camelCase, int64 as strings, standard base64).
Output is plain dicts and bytes, never airlock objects, so tests stay independent of the
verifier's internal model. Test-only dependencies: cryptography, asn1crypto, rfc8785.

Workflow::

    from datetime import UTC, datetime
    from airlock.testing import SigstoreInstance, bundle_bytes

    inst = SigstoreInstance(now=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    root = inst.trusted_root()                         # dict; write_trusted_root(path) too
    bundle = inst.sign_blob(b"artifact")               # v0.3, message signature, Rekor v1
    bad = inst.sign_blob(b"artifact", rekor_options={"set_signing_key": other_key})

Time: everything is dated relative to ``now`` (default ``DEFAULT_NOW`` = 2026-01-15 12:00Z).
CAs and ``validFor`` windows start two years earlier; a leaf is valid from
``signing_time - 1 min`` for 10 minutes; integratedTime and TSA genTime equal
``signing_time`` (default ``now``). No keys are cached across instances.

Public API (see each docstring for the breaking knobs):

``SigstoreInstance(now=DEFAULT_NOW, *, rekor_v1_url, rekor_v1_tree_id, rekor_v1_shard_offset,
rekor_v2_url, log_padding)``
    ``.fulcio: FulcioCA`` (P-384 root -> P-384 intermediate with EKU codeSigning),
    ``.ctlog: CTLog`` (P-256), ``.rekor_v1: RekorV1Log`` (P-256, origin
    ``rekor.test.local - 1234567890``, global index = 1_000_000 + tree index),
    ``.rekor_v2: RekorV2Log`` (Ed25519, origin ``log2025-test.rekor.local``),
    ``.tsa: TimestampAuthority`` (P-384 root -> P-256 leaf, critical EKU timeStamping).

    ``trusted_root(*, ca_valid_for, rekor_valid_for, rekor_v2_valid_for, ctlog_valid_for,
    tsa_valid_for, omit, extra_tlogs, extra_cas, extra_ctlogs, extra_tsas, tsa_include_leaf,
    media_type) -> dict``; ``write_trusted_root(path, **same) -> Path``.

    ``issue_leaf(identity, issuer, *, key, not_before, lifetime, san_type, code_signing_eku,
    eku, digital_signature, issuer_extensions, extra_oids, extra_extensions, sct, sct_time,
    sct_extensions, issuer_ca, ctlog, basic_constraints_ca) -> (Certificate, private key)``.

    ``sign_blob(data, *, version, content, rekor, tsa, identity, issuer, key, leaf,
    leaf_options, signing_time, integrated_time, payload_type, statement, subject_name,
    signature, message_digest, body, body_signature, body_verifier, body_digest,
    rekor_options, tsa_options, certificate_field, chain_extra, key_hint, dsse_keyid,
    media_type) -> bundle dict``.

    ``sign_blob_legacy(data, *, ...) -> {"base64Signature", "cert", "rekorBundle"}`` and
    ``sign_blob_with_key(data, private_key, *, legacy=False, **options) -> dict``.

Lower-level pieces: ``RekorV1Log.append(body, integrated_time, *, set_signing_key,
checkpoint_key, checkpoint_options, trailing_leaves, include_promise, include_proof)``,
``RekorV2Log.append(body_or_entry_dict, ...)``, ``*.checkpoint(size, *, root_hash, origin,
key, name, key_hint, extra_lines, extra_signature_lines, sign_note)``,
``RekorV1Log.signed_entry_timestamp(...)``, ``TimestampAuthority.timestamp(data, *, gen_time,
hash, imprint, include_cert, include_chain, signer, signing_key, nonce, policy, ...)``,
``make_hashedrekord_body``, ``make_dsse_body``, ``make_hashedrekord_v002_body``,
``legacy_rekor_bundle``, ``pae``, ``in_toto_statement``, ``github_actions_extensions``,
``MerkleTree``, ``leaf_hash``/``node_hash``, ``note_text``/``note_signature_line``/
``note_key_hint``/``signed_note`` (hand-made checkpoints and witness lines),
``rekor_v2_log_id``, ``bundle_bytes``, ``managed_key_hint``.
"""

from airlock.testing._common import DEFAULT_NOW, new_ec_key
from airlock.testing.instance import (
    BUNDLE_MEDIA_TYPES,
    DEFAULT_IDENTITY,
    DEFAULT_ISSUER,
    IN_TOTO_PAYLOAD_TYPE,
    TRUSTED_ROOT_MEDIA_TYPE,
    SigstoreInstance,
    bundle_bytes,
    in_toto_statement,
    managed_key_hint,
    pae,
)
from airlock.testing.pki import CTLog, FulcioCA, github_actions_extensions
from airlock.testing.rekor import (
    MerkleTree,
    RekorV1Log,
    RekorV2Log,
    leaf_hash,
    legacy_rekor_bundle,
    make_dsse_body,
    make_hashedrekord_body,
    make_hashedrekord_v002_body,
    node_hash,
    note_key_hint,
    note_signature_line,
    note_text,
    rekor_v2_log_id,
    signed_note,
)
from airlock.testing.tsa import TSA_POLICY_OID, TimestampAuthority

__all__ = [
    "BUNDLE_MEDIA_TYPES",
    "DEFAULT_IDENTITY",
    "DEFAULT_ISSUER",
    "DEFAULT_NOW",
    "IN_TOTO_PAYLOAD_TYPE",
    "TRUSTED_ROOT_MEDIA_TYPE",
    "TSA_POLICY_OID",
    "CTLog",
    "FulcioCA",
    "MerkleTree",
    "RekorV1Log",
    "RekorV2Log",
    "SigstoreInstance",
    "TimestampAuthority",
    "bundle_bytes",
    "github_actions_extensions",
    "in_toto_statement",
    "leaf_hash",
    "legacy_rekor_bundle",
    "make_dsse_body",
    "make_hashedrekord_body",
    "make_hashedrekord_v002_body",
    "managed_key_hint",
    "new_ec_key",
    "node_hash",
    "note_key_hint",
    "note_signature_line",
    "note_text",
    "pae",
    "rekor_v2_log_id",
    "signed_note",
]
