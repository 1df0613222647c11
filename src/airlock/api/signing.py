"""Signing and attaching, for an image in a registry or an OCI layout: the use cases behind
``airlock sign``, ``attest``, ``attach signature``, ``generate`` and ``clean``.

Signing inside the air gap has no Rekor: nothing is uploaded to a transparency log, and what is
made verifies with a key and ``VerificationOptions(insecure_ignore_tlog=True)``. Each function
makes one signature (or attestation) for one image and, unless told not to, attaches it: a
layer of the image's ``sha256-<hex>.sig`` / ``.att`` manifest (legacy cosign format) or a
Sigstore bundle referrer (cosign v3). Nothing is printed and no file is written here; the
caller renders the returned ``SignedImage`` and writes the files it asks for.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


class SigningTarget(NamedTuple):
    """One image to sign: where to attach (``airlock.sign.attaching.LayoutTarget`` or
    ``RegistryTarget``), its manifest digest, and its name (docker-reference of the payload)."""

    target: Any
    digest: str
    name: str


@dataclass
class SignedImage:
    """What signing one image made. ``bundle``: the Sigstore bundle (new format); ``added``: the
    legacy layer was attached (False: an equal signature was there already; None: not attached);
    ``referrer``: the digest of the bundle referrer attached, if any."""

    name: str
    digest: str
    payload: bytes  # what was signed: simple-signing payload or in-toto statement
    signature: bytes
    bundle: bytes | None = None
    added: bool | None = None
    referrer: str | None = None
    predicate_type: str | None = None


def signing_targets(images: list[str] | tuple[str, ...], *, layout: str | None = None, client: Any = None,
                    label: str | None = None) -> list[SigningTarget]:
    """The images to sign: in the OCI layout at ``layout`` (those ``images`` names, by digest or
    ref name, or all of them), else by reference through the registry ``client`` (a tag is
    resolved to its digest). ``label`` names the layout in errors."""
    from airlock.errors import UsageError
    from airlock.oci.reference import parse_reference
    from airlock.sign.attaching import LayoutTarget, RegistryTarget

    if layout is not None:
        from airlock.oci.layout import REF_NAME
        from airlock.oci.sources import layout_source

        source = layout_source(layout)
        entries = source.images()
        if images:
            entries = [e for e in entries if any(w in (e["digest"], (e.get("annotations") or {}).get(REF_NAME))
                                                 for w in images)]
        if not entries:
            raise UsageError(f"{label or layout}: no such image in the layout")
        found = []
        target = LayoutTarget(source.layout)  # one for all: signing_batch() writes its index.json once
        for entry in entries:
            name = (entry.get("annotations") or {}).get(REF_NAME)
            found.append(SigningTarget(target, entry["digest"],
                                       parse_reference(name).name if name else layout))
        return found
    found = []
    for text in images:
        reference = parse_reference(text)
        digest = reference.digest or client.get_manifest(reference.registry, reference.repository,
                                                         reference.identifier).digest
        found.append(SigningTarget(RegistryTarget(client, reference.registry, reference.repository), digest,
                                   reference.name))
    return found


@contextlib.contextmanager
def signing_batch(images: list[SigningTarget]) -> Iterator[None]:
    """Sign or attach to many ``images`` in one go: each OCI layout among their targets is locked
    and its index.json written once, when the block ends (also on an error: what was attached
    until then is kept, whole), instead of once per signature. Registries are unaffected.

    Example::

        images = airlock.signing_targets([], layout="./layout")  # every image of the layout
        with airlock.signing_batch(images):
            for image in images:
                airlock.sign_image(image, signer)
    """
    with contextlib.ExitStack() as stack:
        seen: set[int] = set()
        for image in images:
            batch = getattr(image.target, "batch", None)
            if batch is not None and id(image.target) not in seen:
                seen.add(id(image.target))
                stack.enter_context(batch())
        yield


def make_signature(image: SigningTarget, signer: Any, *, annotations: dict[str, str] | None = None,
                   new_bundle_format: bool = False, payload: bytes | None = None,
                   public_pem: bytes | None = None) -> SignedImage:
    """Sign one image, attaching nothing: a DSSE bundle of cosign's signing statement (new format),
    or the simple-signing payload (``payload``, else generated for the digest and annotations).
    ``public_pem``: the signer's public key, when already read (a KMS or token is asked once)."""
    from airlock.formats.cosign import simplesigning_payload
    from airlock.sign import bundles

    if new_bundle_format:
        statement = bundles.image_statement(image.digest, annotations or {})
        signature = signer.sign(bundles.pae(bundles.IN_TOTO, statement))
        bundle = json.dumps(bundles.dsse_bundle(statement, signature,
                                                public_pem or signer.public_key_pem())).encode()
        return SignedImage(image.name, image.digest, statement, signature, bundle,
                           predicate_type=bundles.SIGN_PREDICATE)
    if payload is None:
        payload = simplesigning_payload(image.name, image.digest, annotations or None)
    return SignedImage(image.name, image.digest, payload, signer.sign(payload))


def attach(image: SigningTarget, signed: SignedImage, signer: Any = None) -> SignedImage:
    """Attach what ``make_signature`` or ``make_attestation`` made to the image: the bundle as a
    referrer, else a layer of the .sig (.att) manifest (with ``signer``, a signature by the same
    key over the same claims already there is not added twice)."""
    from airlock.formats import cosign
    from airlock.sign import bundles
    from airlock.sign.attaching import append, bundle_referrer

    target, digest = image.target, image.digest
    if signed.bundle is not None:
        assert signed.predicate_type is not None, "make_signature and make_attestation type every bundle"
        manifest, blobs = bundle_referrer(target.subject(digest), signed.bundle, signed.predicate_type)
        signed.referrer = target.add_referrer(digest, manifest, blobs, BUNDLE_MEDIA_TYPE)
    elif signed.predicate_type is not None:  # a legacy attestation: a DSSE envelope layer of the .att manifest
        envelope = json.dumps({"payloadType": bundles.IN_TOTO, "payload": bundles.b64(signed.payload),
                               "signatures": [{"keyid": "", "sig": bundles.b64(signed.signature)}]},
                              separators=(",", ":")).encode()
        signed.added = append(target, digest, "att", (cosign.DSSE, envelope, {
            cosign.ANNOTATION_SIGNATURE: "", cosign.ANNOTATION_PREDICATE_TYPE: signed.predicate_type}))
    else:
        layer = (cosign.SIMPLESIGNING, signed.payload, {cosign.ANNOTATION_SIGNATURE: bundles.b64(signed.signature)})
        signed.added = append(target, digest, "sig", layer,
                              already_signed=_verifies_with(signer) if signer is not None else None)
    return signed


def sign_image(image: SigningTarget, signer: Any, *, annotations: dict[str, str] | None = None,
               new_bundle_format: bool = False, payload: bytes | None = None, upload: bool = True) -> SignedImage:
    """Sign one image with ``signer`` (``airlock.sign.signers``: a key file, PKCS#11, AWS KMS) and,
    with ``upload``, attach the signature, as ``airlock sign`` does.

    Example::

        import airlock
        from airlock.sign import keys, signers

        signer = signers.FileSigner(keys.load_private_key_file("cosign.key"))
        [image] = airlock.signing_targets(["registry.internal/app:1.0"], layout="./layout")
        signed = airlock.sign_image(image, signer, annotations={"env": "prod"})
    """
    signed = make_signature(image, signer, annotations=annotations, new_bundle_format=new_bundle_format,
                            payload=payload)
    return attach(image, signed, signer) if upload else signed


def make_attestation(image: SigningTarget, signer: Any, predicate: bytes, predicate_type: str = "custom", *,
                     new_bundle_format: bool = False) -> SignedImage:
    """Sign an in-toto statement about one image (``predicate``: the predicate JSON; ``predicate_type``:
    a URI or a cosign short name), attaching nothing."""
    from airlock.sign import bundles

    statement = bundles.attestation_statement(image.name, image.digest, predicate_type, predicate)
    signature = signer.sign(bundles.pae(bundles.IN_TOTO, statement))
    bundle = json.dumps(bundles.dsse_bundle(statement, signature, signer.public_key_pem())).encode() \
        if new_bundle_format else None
    return SignedImage(image.name, image.digest, statement, signature, bundle,
                       predicate_type=bundles.PREDICATE_TYPES.get(predicate_type, predicate_type))


def attest_image(image: SigningTarget, signer: Any, predicate: bytes, predicate_type: str = "custom", *,
                 new_bundle_format: bool = False) -> SignedImage:
    """Sign an in-toto attestation about one image and attach it, as ``airlock attest`` does."""
    return attach(image, make_attestation(image, signer, predicate, predicate_type,
                                          new_bundle_format=new_bundle_format))


def _verifies_with(signer: Any):
    """Whether a legacy layer already holds a signature by ``signer``'s key over its payload."""
    from airlock.crypto import verify_message

    key = signer.public_key()

    def check(layer: tuple) -> bool:
        text = layer[2].get("dev.cosignproject.cosign/signature", "")
        try:
            return bool(text) and verify_message(key, base64.b64decode(text), layer[1])
        except ValueError:
            return False

    return check


def attach_signature(image: SigningTarget, signature: bytes, payload: bytes | None = None, *,
                     certificate: str | None = None, chain: str | None = None) -> bool:
    """Attach a signature made elsewhere to one image, as a layer of its .sig manifest: over
    ``payload``, else over the simple-signing payload cosign implies for the digest. False when
    the same signature is there already."""
    from airlock.formats import cosign
    from airlock.sign.attaching import append

    annotations = {cosign.ANNOTATION_SIGNATURE: base64.b64encode(signature).decode()}
    if certificate is not None:
        annotations[cosign.ANNOTATION_CERTIFICATE] = certificate
        annotations[cosign.ANNOTATION_CHAIN] = chain or ""
    signed = payload if payload is not None else cosign.simplesigning_payload(image.name, image.digest)
    return append(image.target, image.digest, "sig", (cosign.SIMPLESIGNING, signed, annotations))


def is_sigstore_bundle(data: bytes) -> bool:
    """Whether ``data`` is a Sigstore bundle (by its ``mediaType``)."""
    from airlock import _wire
    from airlock.errors import FormatError

    try:
        document = _wire.loads(data, "--payload")
    except FormatError:
        return False
    media_type = document.get("mediaType") if isinstance(document, dict) else None
    return isinstance(media_type, str) and media_type.startswith("application/vnd.dev.sigstore.bundle")


def bundle_subjects(data: bytes, where: str) -> tuple[str, set[str]]:
    """The predicate type and the sha256 subject digests (hex) of a Sigstore bundle's statement;
    ``UsageError`` naming ``where`` when it holds none."""
    from airlock import _wire
    from airlock.errors import FormatError, UsageError
    from airlock.formats.bundle import parse_signature_file
    from airlock.material import DsseEnvelope

    try:
        material = parse_signature_file(data)
    except FormatError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if not isinstance(material.content, DsseEnvelope):
        raise UsageError(f"{where}: the bundle does not have a DSSE envelope")
    statement = _wire.loads(material.content.payload, "the bundle's in-toto statement")
    predicate = statement.get("predicateType") if isinstance(statement, dict) else None
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(predicate, str) or not isinstance(subjects, list):
        raise UsageError(f"{where}: the bundle's DSSE payload is not an in-toto statement")
    return predicate, {s["digest"].get("sha256") for s in subjects
                       if isinstance(s, dict) and isinstance(s.get("digest"), dict)}


def attach_bundle(image: SigningTarget, data: bytes, *, where: str = "the bundle",
                  subjects: tuple[str, set[str]] | None = None) -> str:
    """cosign v3's attach of a bundle: a referrer of the image, typed by its statement's predicate.
    cosign attaches any DSSE bundle; here its statement must name the image, or nothing is
    attached (a bundle about another image could never verify it). Returns the referrer digest.
    ``subjects``: what ``bundle_subjects`` read from ``data``, when the caller checked it first."""
    from airlock.errors import UsageError
    from airlock.sign.attaching import bundle_referrer

    predicate, named = subjects or bundle_subjects(data, where)
    if image.digest.split(":", 1)[1] not in named:
        raise UsageError(f"{where}: the bundle's statement is not about {image.name}@{image.digest}")
    manifest, blobs = bundle_referrer(image.target.subject(image.digest), data, predicate)
    return image.target.add_referrer(image.digest, manifest, blobs, BUNDLE_MEDIA_TYPE)
