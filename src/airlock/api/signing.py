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
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from airlock.media_types import ANNOTATION_SIGNATURE, BUNDLE_PREFIX
from airlock.media_types import BUNDLE_V03 as BUNDLE_MEDIA_TYPE


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
        from airlock.media_types import ANNOTATION_REF_NAME as REF_NAME
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
        # as cosign attest stores it: payload, payloadType, signatures [{"sig"}] (no empty keyid)
        envelope = json.dumps(bundles.dsse_envelope(signed.payload, signed.signature), separators=(",", ":")).encode()
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
        text = layer[2].get(ANNOTATION_SIGNATURE, "")
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
    return isinstance(media_type, str) and media_type.startswith(BUNDLE_PREFIX)


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


class BlobAttestation(NamedTuple):
    """What ``attest_blob`` made: the in-toto statement, its DSSE envelope (JSON, as cosign writes it)
    and the bundle file's bytes (a Sigstore bundle, or cosign's legacy ``{"base64Signature": ...}``)."""

    statement: bytes
    envelope: bytes
    bundle: bytes


def attest_blob(path: str, signer: Any, predicate: bytes, predicate_type: str = "custom", *,
                new_bundle_format: bool = True) -> BlobAttestation:
    """Sign an in-toto attestation about a file, as ``airlock attest-blob`` (cosign's) does: the statement's
    subject is the file (its base name and SHA-256), signed as a DSSE envelope; ``new_bundle_format``: a
    Sigstore bundle, else cosign's legacy bundle holding the envelope."""
    from airlock.artifact import Artifact
    from airlock.sign import bundles

    digest = Artifact.from_path(path).digest("sha256")
    assert digest is not None, "a file's digest is computed"
    statement = bundles.blob_statement(os.path.basename(path), digest, predicate_type, predicate)
    signature = signer.sign(bundles.pae(bundles.IN_TOTO, statement))
    envelope = json.dumps(bundles.dsse_envelope(statement, signature), separators=(",", ":")).encode()
    public_pem = signer.public_key_pem()
    document = bundles.dsse_bundle(statement, signature, public_pem) if new_bundle_format else \
        bundles.legacy_blob_bundle(envelope, public_pem)
    return BlobAttestation(statement, envelope, json.dumps(document, separators=(",", ":")).encode())


# -- keyless ----------------------------------------------------------------------------------------

NO_TOKEN = ("keyless signing (no --key) needs an OIDC identity token: pass --identity-token (or set SIGSTORE_ID_TOKEN, "
            "or run in GitHub Actions with id-token: write); or sign with a key: --key cosign.key")


def keyless_signer(trusted_root: Any, *, identity_token: str | None = None, signing_config: bytes | None = None,
                   fulcio_url: str | None = None, rekor_url: str | None = None,
                   timestamp_server_url: str | None = None, timeout: float = 30.0,
                   environ: dict[str, str] | None = None) -> Any:
    """A keyless signing session (``airlock.sign.keyless.KeylessSigner``): an ephemeral P-256 key
    to be certified by Fulcio for an OIDC identity, as ``airlock sign`` without ``--key`` uses.

    The token: ``identity_token``, else ``$SIGSTORE_ID_TOKEN``, else the ambient GitHub Actions
    token (``$ACTIONS_ID_TOKEN_REQUEST_URL``/``_TOKEN``). The services: those a SigningConfig v0.2
    (``signing_config``, its bytes) names, or the URLs given (not both, as cosign); Fulcio, Rekor v2
    and a TSA are all needed. ``trusted_root`` (``airlock.TrustedRoot``) must hold the Fulcio CA, the Rekor key and
    the TSA: everything the services answer is checked against it before it is used.

    Example::

        import airlock

        root = airlock.TrustedRoot.from_file("trusted_root.json")
        signer = airlock.keyless_signer(root, identity_token=token, signing_config=open("sc.json", "rb").read())
        bundle = airlock.sign_blob_keyless(b"release notes", signer)
    """
    from airlock.errors import UsageError
    from airlock.sign import keyless

    env = os.environ if environ is None else environ
    http = keyless.Http(timeout)
    token = identity_token or env.get("SIGSTORE_ID_TOKEN") or keyless.ambient_github_token(http, dict(env))
    if not token:
        raise UsageError(NO_TOKEN)
    if signing_config and (fulcio_url or rekor_url or timestamp_server_url):  # cosign refuses the mix too
        raise UsageError("cannot specify service URLs (--fulcio-url, --rekor-url, --timestamp-server-url) and use "
                         "a signing config (--signing-config): choose one")
    fulcio, rekor, tsa = fulcio_url, rekor_url, timestamp_server_url
    if signing_config:
        services = keyless.services_from_signing_config(signing_config, timeout=timeout)
        fulcio, rekor, tsa = services.fulcio_url, services.rekor_url, services.tsa_url
    if not fulcio or not rekor:
        raise UsageError("keyless signing needs Fulcio and Rekor: pass --signing-config FILE, or --fulcio-url and "
                         "--rekor-url (and --timestamp-server-url)")
    return keyless.KeylessSigner(keyless.Services(fulcio, rekor, tsa, timeout), keyless.read_token(token),
                                 trusted_root, http=http)


def checked_keyless_bundle(bundle: dict, artifact: Any, signer: Any) -> bytes:
    """The bundle's bytes, once the verifier accepts it for the session's identity and issuer
    against the session's trusted root (inclusion proof, checkpoint, entry body, timestamp, chain):
    a bundle that would not verify is never written or attached. The SCT is checked when the
    trusted root has a CT log."""
    from airlock.errors import KeylessError
    from airlock.formats.bundle import parse_bundle
    from airlock.verify.policy import Identity
    from airlock.verify.verifier import VerificationOptions, Verifier

    policy = Identity(identity=signer.token.identity, issuer=signer.token.issuer)
    options = VerificationOptions(insecure_ignore_sct=not signer.trusted_root.ctlogs)
    verdict = Verifier(signer.trusted_root).verify(parse_bundle(bundle), artifact, policy, options=options)
    if verdict.failure is not None:
        raise KeylessError(f"the signature made does not verify, so nothing was written: {verdict.failure}")
    return json.dumps(bundle).encode()


def sign_image_keyless(image: SigningTarget, signer: Any, *, annotations: dict[str, str] | None = None,
                       upload: bool = True) -> SignedImage:
    """Keyless-sign one image as cosign v3 does (a DSSE bundle of its signing statement, logged in
    Rekor v2), verify the bundle, then (``upload``) attach it as a referrer."""
    from airlock.artifact import Artifact
    from airlock.sign import bundles

    statement = bundles.image_statement(image.digest, annotations or {})
    made = signer.dsse_bundle(statement)
    bundle = checked_keyless_bundle(made, Artifact.from_digest(image.digest), signer)
    signed = SignedImage(image.name, image.digest, statement, _dsse_signature(made), bundle,
                         predicate_type=bundles.SIGN_PREDICATE)
    return attach(image, signed) if upload else signed


def attest_image_keyless(image: SigningTarget, signer: Any, predicate: bytes, predicate_type: str = "custom", *,
                         upload: bool = True) -> SignedImage:
    """Keyless-sign an in-toto attestation about one image, verify it, then (``upload``) attach it."""
    from airlock.artifact import Artifact
    from airlock.sign import bundles

    statement = bundles.attestation_statement(image.name, image.digest, predicate_type, predicate)
    made = signer.dsse_bundle(statement)
    bundle = checked_keyless_bundle(made, Artifact.from_digest(image.digest), signer)
    signed = SignedImage(image.name, image.digest, statement, _dsse_signature(made), bundle,
                         predicate_type=bundles.PREDICATE_TYPES.get(predicate_type, predicate_type))
    return attach(image, signed) if upload else signed


def _dsse_signature(bundle: dict) -> bytes:
    return base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"])


def sign_blob_keyless(data: bytes, signer: Any) -> bytes:
    """Keyless-sign ``data`` (a message signature logged in Rekor v2) and return the Sigstore
    bundle v0.3, verified for the signer's identity before it is returned."""
    from airlock.artifact import Artifact

    return checked_keyless_bundle(signer.message_bundle(data), Artifact.from_bytes(data), signer)
