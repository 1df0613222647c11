"""Verifying a blob (a file, bytes, or a digest) against its signature material, offline.

What ``airlock verify-blob`` does once its inputs are read: one ``Verifier`` over the material
(a Sigstore bundle v0.1-v0.3 or a legacy cosign bundle, parsed by
``airlock.formats.bundle.parse_signature_file``) and the artifact. Nothing is printed.
"""

from __future__ import annotations

import os
from typing import Any

from airlock.artifact import Artifact
from airlock.errors import AirlockError, Check
from airlock.material import Material
from airlock.verify.policy import Policy, as_policy
from airlock.verify.verifier import Verdict, VerificationOptions, Verifier


def blob_artifact(text: str) -> Artifact:
    """``verify-blob``'s FILE_OR_DIGEST: ``sha256:<hex>`` (and sha384/sha512) names a digest unless
    a file of that name exists; anything else is a file."""
    if text.startswith(("sha256:", "sha384:", "sha512:")) and not os.path.exists(text):
        return Artifact.from_digest(text)
    return Artifact.from_path(text)


def verify_material(material: Material, artifact: Artifact, trusted_root: Any, *, policy: Policy,
                    options: VerificationOptions | None = None) -> Verdict:
    """The verifier over material already built; tests drive hostile bundles through this path."""
    return Verifier(trusted_root).verify(material, artifact, policy, options=options or VerificationOptions())


def verify_blob(artifact: bytes | str | Artifact, bundle: bytes | Material, *, policy: Policy | None = None,
                key: Any = None,
                trusted_root: Any = None, options: VerificationOptions | None = None) -> Verdict:
    """Verify a signature over a blob, offline, exactly as ``airlock verify-blob`` does.

    ``artifact``: the signed bytes, a path or ``sha256:<hex>`` (as ``blob_artifact`` reads it), or
    an ``airlock.Artifact``. ``bundle``: the bundle file's bytes (Sigstore v0.1-v0.3 or cosign's
    legacy bundle), or ``airlock.Material`` already built. Who must have signed: ``policy``
    (``airlock.Key``, ``airlock.Identity``, or ``AnyOf`` / ``AllOf`` / ``Threshold`` of them;
    ``key=K`` is short for ``policy=Key(K)``), against ``trusted_root`` (``airlock.TrustedRoot``;
    None only for a key with ``options=VerificationOptions(insecure_ignore_tlog=True)``).

    A verification failure does not raise: ``verdict.ok`` is False and ``verdict.failure`` says
    which check failed and why (``verdict.raise_for_failure()`` raises it); ``verdict.signing_times``
    says what proved each time (a log or a TSA). Malformed bundles raise ``FormatError``, a policy
    that cannot work ``UsageError``, before anything is verified.

    Example::

        import airlock

        verdict = airlock.verify_blob(
            "artifact.tgz", open("artifact.sigstore.json", "rb").read(),
            policy=airlock.Identity(identity="release@example.com", issuer="https://accounts.google.com"),
            trusted_root=airlock.TrustedRoot.from_file("trusted_root.json"))
        print(verdict.ok, verdict.identity, verdict.checks)
    """
    from airlock.formats.bundle import parse_signature_file

    policy = as_policy(policy, key)
    if isinstance(artifact, bytes):
        artifact = Artifact.from_bytes(artifact)
    elif isinstance(artifact, str):
        artifact = blob_artifact(artifact)
    material = parse_signature_file(bundle) if isinstance(bundle, bytes) else bundle
    return verify_material(material, artifact, trusted_root, policy=policy, options=options)


# -- in-toto attestations about a blob (verify-blob-attestation) ------------------------------------------


def attestation_material(*, bundle: bytes | None = None, envelope: bytes | None = None,
                         where: str = "the attestation") -> Material:
    """The material of an attestation about a blob: a Sigstore bundle holding a DSSE envelope, cosign's
    legacy bundle (``{"base64Signature": base64 of the envelope, ...}``, as ``attest-blob
    --new-bundle-format=false --bundle`` writes it), or a bare DSSE envelope (``envelope``; it then
    replaces the content of ``bundle``, whose certificate and log entries stay). The envelope must hold
    exactly one signature: which of several would be the signer's is not something to guess."""
    from airlock import _wire
    from airlock.errors import FormatError, UsageError
    from airlock.formats.bundle import parse_dsse, parse_signature_file
    from airlock.material import DsseEnvelope

    if bundle is None and envelope is None:
        raise UsageError("an attestation is read from a bundle or a DSSE envelope: give one")
    material = parse_signature_file(bundle) if bundle is not None else None
    if envelope is None and material is not None and material.format == "cosign-legacy":
        envelope = material.signature  # the envelope is what base64Signature holds
    if envelope is not None:
        document = _wire.loads(envelope, where)
        if not isinstance(document, dict):
            raise FormatError(f"{where}: a DSSE envelope is a JSON object, not {_wire.json_kind(document)}")
        content = parse_dsse(document, where)
        if len(content.signatures) != 1:
            raise FormatError(f"{where}: the DSSE envelope has {len(content.signatures)} signatures; exactly one "
                              "is verified")
        material = material._replace(content=content) if material is not None else Material(content=content)
    assert material is not None, "a bundle or an envelope was read"
    if not isinstance(material.content, DsseEnvelope):
        raise FormatError(f"{where}: the bundle holds a message signature, not a DSSE envelope (an attestation); "
                          "verify it with verify-blob")
    return material


def statement_subject_artifact(material: Material) -> Artifact:
    """For ``--check-claims=false``: an artifact that is the statement's own first subject, so the
    verifier checks the envelope (signature, certificate, log) and not which artifact it is about."""
    from airlock import _wire
    from airlock.errors import VerificationError
    from airlock.material import DsseEnvelope

    assert isinstance(material.content, DsseEnvelope)
    statement = _wire.loads(material.content.payload, "the DSSE payload")
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    for subject in subjects if isinstance(subjects, list) else []:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        for algorithm in ("sha256", "sha384", "sha512"):
            value = digests.get(algorithm) if isinstance(digests, dict) else None
            if isinstance(value, str):
                try:
                    return Artifact.from_digest(f"{algorithm}:{value}")
                except AirlockError:
                    continue
    raise VerificationError(Check.ARTIFACT, "the in-toto statement has no subject with a sha256/384/512 digest")


def verify_blob_attestation(artifact: Artifact | None, material: Material, *, predicate_type: str,
                            policy: Policy | None = None, key: Any = None, trusted_root: Any = None,
                            options: VerificationOptions | None = None) -> Verdict:
    """Verify an in-toto attestation about a blob, offline, as ``airlock verify-blob-attestation`` does:
    the DSSE envelope (``attestation_material``) with the same verifier as every other signature, the
    blob (``artifact``) a subject of its statement, and the statement's predicate type
    ``predicate_type`` (a URI). ``artifact=None`` (``--check-claims=false``): the statement may be about
    anything, only the envelope is verified. A failure does not raise: ``verdict.failure`` says why."""
    from airlock import _wire
    from airlock.errors import VerificationError
    from airlock.material import DsseEnvelope

    policy = as_policy(policy, key)
    if artifact is None:
        try:
            artifact = statement_subject_artifact(material)
        except AirlockError as exc:
            verdict = Verdict()
            verdict.failure = exc if isinstance(exc, VerificationError) else VerificationError(Check.ARTIFACT, str(exc))
            return verdict
    verdict = verify_material(material, artifact, trusted_root, policy=policy, options=options)
    if verdict.ok:
        assert isinstance(material.content, DsseEnvelope)
        statement = _wire.loads(material.content.payload, "the DSSE payload")  # it verified: a JSON object
        found = statement.get("predicateType") if isinstance(statement, dict) else None
        if found != predicate_type:
            verdict.failure = VerificationError(Check.TYPE, f"predicate type {str(found)[:200]!r} is not "
                                                f"{predicate_type!r}")
        else:
            verdict.passed(Check.TYPE, "the statement's predicate type is {}", predicate_type)
    return verdict
