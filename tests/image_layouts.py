"""Build OCI layouts of signed images for tests: images, cosign .sig/.att manifests, v3 bundle referrers."""

from __future__ import annotations

import base64
import hashlib
import json
import os

from airlock.formats import cosign
from airlock.oci import layout as oci
from airlock.oci.attach import signature_manifest
from airlock.oci.sources import SUBJECT
from airlock.testing import SigstoreInstance, bundle_bytes


def add_image(layout: oci.OciLayout, name: str, content: bytes = b"layer") -> str:
    """A minimal single-platform image; returns its manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(content).hexdigest()]}}).encode()
    layer_digest, config_digest = layout.write_blob(content), layout.write_blob(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "size": len(config), "digest": config_digest},
                           "layers": [{"mediaType": oci.OCI_LAYER_TAR_GZIP, "size": len(content),
                                       "digest": layer_digest}]}).encode()
    digest = layout.write_blob(manifest)
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": digest,
                         "annotations": {oci.KIND: oci.KIND_IMAGE, oci.REF_NAME: name}})
    return digest


def keyless_layer(inst: SigstoreInstance, payload: bytes, **options) -> tuple[str, bytes, dict[str, str]]:
    legacy = inst.sign_blob_legacy(payload, **options)
    return (cosign.SIMPLESIGNING, payload, {
        cosign.ANNOTATION_SIGNATURE: legacy["base64Signature"],
        cosign.ANNOTATION_CERTIFICATE: base64.b64decode(legacy["cert"]).decode(),
        cosign.ANNOTATION_CHAIN: "",
        cosign.ANNOTATION_BUNDLE: json.dumps(legacy["rekorBundle"], separators=(",", ":")),
    })


def key_layer(key, payload: bytes) -> tuple[str, bytes, dict[str, str]]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    return (cosign.SIMPLESIGNING, payload,
            {cosign.ANNOTATION_SIGNATURE: cosign.signature_annotation(key.sign(payload, ec.ECDSA(hashes.SHA256())))})


def attach(layout: oci.OciLayout, image_digest: str, layers: list, kind: str = oci.KIND_SIGS,
           mark_subject: bool = True) -> str:
    manifest, config, blobs = signature_manifest(layers)
    for blob in (config, *blobs, manifest):
        layout.write_blob(blob.data)
    annotations = {oci.KIND: kind}
    if mark_subject:
        annotations[SUBJECT] = image_digest
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(manifest.data), "digest": manifest.digest,
                         "annotations": annotations})
    return manifest.digest


def attach_bundle(layout: oci.OciLayout, image_digest: str, bundle: dict, predicate_type: str,
                  listed: bool = True) -> str:
    data = bundle_bytes(bundle)
    bundle_digest = layout.write_blob(data)
    layout.write_blob(oci.EMPTY_CONFIG)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_EMPTY, "size": 2, "digest": oci.EMPTY_CONFIG_DIGEST},
        "layers": [{"mediaType": oci.SIGSTORE_BUNDLE_V03, "size": len(data), "digest": bundle_digest}],
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                        "dev.sigstore.bundle.predicateType": predicate_type},
        "subject": {"mediaType": oci.OCI_MANIFEST, "size": 1, "digest": image_digest},
        "artifactType": oci.SIGSTORE_BUNDLE_V03}).encode()
    digest = layout.write_blob(manifest)
    if listed:
        layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": digest,
                             "artifactType": oci.SIGSTORE_BUNDLE_V03, "annotations": {SUBJECT: image_digest}})
    return digest


def image_statement(image_digest: str, predicate_type: str = "https://sigstore.dev/cosign/sign/v1",
                    annotations: dict | None = None, predicate: dict | None = None) -> bytes:
    return json.dumps({"_type": "https://in-toto.io/Statement/v1",
                       "subject": [{"digest": {"sha256": image_digest.split(":")[1]},
                                    "annotations": annotations or {}}],
                       "predicateType": predicate_type, "predicate": predicate or {}}).encode()


def new_layout(path: str | os.PathLike) -> oci.OciLayout:
    return oci.OciLayout(os.fspath(path), create=True)


GIB = 1 << 30


def add_sparse_gib_image(layout: oci.OciLayout, name: str) -> tuple[str, str]:
    """An image whose one layer is 1 GiB of zeros, written as a sparse file (no GiB on disk to make
    it): for tests that move a large blob in bounded memory. Returns the digests of the image and of its layer."""
    hasher = hashlib.sha256()
    zeros = bytes(16 << 20)
    for _ in range(GIB // len(zeros)):
        hasher.update(zeros)
    layer = f"sha256:{hasher.hexdigest()}"
    with open(os.path.join(layout.path, "blobs", "sha256", layer[7:]), "wb") as handle:
        handle.truncate(GIB)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "size": len(config),
                                      "digest": layout.write_blob(config)},
                           "layers": [{"mediaType": oci.OCI_LAYER_TAR_GZIP, "size": GIB, "digest": layer}]}).encode()
    digest = layout.write_blob(manifest)
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": digest,
                         "annotations": {oci.KIND: oci.KIND_IMAGE, oci.REF_NAME: name}})
    return digest, layer
