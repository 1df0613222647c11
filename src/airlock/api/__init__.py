"""The library path below every entry point: the CLI, the admission gate and Python callers.

- ``airlock.api.images``: which images (``layout_targets``, ``registry_targets``), and
  ``verify_image`` / ``verify_target``: discovery, the loop over signatures, the predicate rules,
  returning an ``ImageVerdict``;
- ``airlock.api.packs``: ``pack`` and ``unpack`` (checked, verified, then put in place);
- ``airlock.api.transfer``: ``copy_image`` (registry to registry, streamed, with the signatures);
- ``airlock.api.blobs``: ``verify_blob`` and ``verify_blob_attestation``, returning a ``Verdict``;
- ``airlock.api.signing``: ``sign_image``, ``attest_image``, ``attest_blob``, ``attach_signature``,
  ``attach_bundle`` (a layout or a registry), returning what was made.

Nothing here prints or reads command-line flags. Names are imported on first use (module
``__getattr__``), so ``import airlock.api`` costs nothing until a function is called.
"""

# ruff: noqa: F401 -- the names under TYPE_CHECKING are the exports (for type checkers), in __all__

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time); mypy knows the name
if TYPE_CHECKING:
    from airlock.api.blobs import attestation_material, blob_artifact, verify_blob, verify_blob_attestation
    from airlock.api.images import (
        ImageTarget,
        ImageVerdict,
        SignatureCheck,
        attached_artifacts,
        layout_targets,
        one_line,
        registry_targets,
        verify_image,
        verify_images,
        verify_target,
    )
    from airlock.api.packs import Unpacked, check_destination, pack, unpack
    from airlock.api.signing import (
        BlobAttestation,
        SignedImage,
        SigningTarget,
        attach,
        attach_bundle,
        attach_signature,
        attest_blob,
        attest_image,
        attest_image_keyless,
        bundle_subjects,
        checked_keyless_bundle,
        is_sigstore_bundle,
        keyless_signer,
        make_attestation,
        make_signature,
        sign_blob_keyless,
        sign_image,
        sign_image_keyless,
        signing_batch,
        signing_targets,
    )
    from airlock.api.transfer import copy_image
    from airlock.artifact import Artifact
    from airlock.errors import Check
    from airlock.material import Material
    from airlock.oci.copying import Copied
    from airlock.oci.sources import LayoutSource, RegistrySource, layout_source, registry_client
    from airlock.trust.trusted_root import TrustedRoot
    from airlock.verify.policy import (
        AllOf,
        AnyIdentityUnsafe,
        AnyOf,
        Identity,
        Key,
        Policy,
        Threshold,
    )
    from airlock.verify.verifier import SigningTime, Verdict, VerificationOptions, Verifier

_EXPORTS = {
    # images
    "ImageTarget": "airlock.api.images", "ImageVerdict": "airlock.api.images",
    "SignatureCheck": "airlock.api.images", "layout_targets": "airlock.api.images",
    "registry_targets": "airlock.api.images", "verify_image": "airlock.api.images",
    "verify_target": "airlock.api.images", "one_line": "airlock.api.images",
    "verify_images": "airlock.api.images", "default_jobs": "airlock.api.images",
    "attached_artifacts": "airlock.api.images",
    # packs
    "pack": "airlock.api.packs", "unpack": "airlock.api.packs", "Unpacked": "airlock.api.packs",
    "check_destination": "airlock.api.packs",
    # transfers
    "copy_image": "airlock.api.transfer", "Copied": "airlock.oci.copying",
    # blobs
    "blob_artifact": "airlock.api.blobs", "verify_blob": "airlock.api.blobs",
    "verify_blob_attestation": "airlock.api.blobs", "attestation_material": "airlock.api.blobs",
    # signing
    "SignedImage": "airlock.api.signing", "sign_image": "airlock.api.signing",
    "attest_image": "airlock.api.signing", "attach_signature": "airlock.api.signing",
    "attach_bundle": "airlock.api.signing", "signing_targets": "airlock.api.signing",
    "signing_batch": "airlock.api.signing",
    "SigningTarget": "airlock.api.signing", "make_signature": "airlock.api.signing",
    "make_attestation": "airlock.api.signing", "attach": "airlock.api.signing",
    "bundle_subjects": "airlock.api.signing", "is_sigstore_bundle": "airlock.api.signing",
    "attest_blob": "airlock.api.signing", "BlobAttestation": "airlock.api.signing",
    "keyless_signer": "airlock.api.signing", "sign_blob_keyless": "airlock.api.signing",
    "sign_image_keyless": "airlock.api.signing", "attest_image_keyless": "airlock.api.signing",
    "checked_keyless_bundle": "airlock.api.signing",
    # sources and the vocabulary the functions take
    "layout_source": "airlock.oci.sources", "registry_client": "airlock.oci.sources",
    "LayoutSource": "airlock.oci.sources", "RegistrySource": "airlock.oci.sources",
    "Verifier": "airlock.verify.verifier", "Verdict": "airlock.verify.verifier",
    "VerificationOptions": "airlock.verify.verifier", "SigningTime": "airlock.verify.verifier",
    "Check": "airlock.errors",
    # policies: who must have signed
    "Policy": "airlock.verify.policy", "Key": "airlock.verify.policy", "Identity": "airlock.verify.policy",
    "AnyOf": "airlock.verify.policy", "AllOf": "airlock.verify.policy", "Threshold": "airlock.verify.policy",
    "AnyIdentityUnsafe": "airlock.verify.policy",
    "Artifact": "airlock.artifact", "Material": "airlock.material",
    "TrustedRoot": "airlock.trust.trusted_root",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:  # no typing import: it costs start-up time
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
