"""Verifying a blob (a file, bytes, or a digest) against its signature material, offline.

What ``airlock verify-blob`` does once its inputs are read: one ``Verifier`` over the material
(a Sigstore bundle v0.1-v0.3 or a legacy cosign bundle, parsed by
``airlock.formats.bundle.parse_signature_file``) and the artifact. Nothing is printed.
"""

from __future__ import annotations

import os
from typing import Any

from airlock.artifact import Artifact
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
