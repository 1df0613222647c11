"""Verifying the signatures of one container image digest, whatever they were stored as.

A legacy cosign signature (a ``.sig`` layer) signs a simple-signing payload: after the
cryptographic checks (the same verifier as for blobs, with the payload as the artifact) the
payload's claims must name this image digest (``critical.image.docker-manifest-digest``) and
type, and carry every ``-a key=value`` the caller asks for. A cosign v3 bundle attached as an
OCI referrer signs an in-toto statement whose subject must be this digest (checked by the
verifier itself) and whose subject annotations must carry the ``-a`` pairs.

An image verifies when at least one signature verifies; each one's outcome is reported.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from airlock import _wire
from airlock.errors import AirlockError, FormatError, VerificationError
from airlock.formats.bundle import parse_signature_file
from airlock.formats.cosign import (
    ANNOTATION_BUNDLE,
    ANNOTATION_RFC3161,
    DSSE,
    SIGNATURE_TYPE,
    Layer,
    layer_material,
    parse_payload,
)
from airlock.verify.artifact import Artifact
from airlock.verify.material import DsseEnvelope, Material
from airlock.verify.verifier import Verdict, VerificationOptions, Verifier


class SignatureCheck(NamedTuple):
    """The outcome for one signature of an image."""

    where: str  # e.g. "sha256-<hex>.sig layer 1" or "referrer sha256:..."
    verdict: Verdict | None
    error: AirlockError | None
    material: Material | None
    payload: bytes | None  # what was signed: simple-signing payload or DSSE payload
    unverified_claims: tuple[str, ...] = ()
    layer_annotations: dict[str, str] | None = None  # a legacy layer's annotations (for cosign's output)

    @property
    def ok(self) -> bool:
        return self.error is None


def check_claims(payload: bytes, image_digest: str, annotations: dict[str, str]) -> None:
    """The simple-signing claims (FORMATS.md 1.7), plus the type cosign's own payload parser requires."""
    claims = parse_payload(payload)
    if claims.manifest_digest != image_digest:
        raise VerificationError("claims", f"the payload signs {claims.manifest_digest}, not {image_digest}")
    if claims.type != SIGNATURE_TYPE:
        raise VerificationError("claims", f"the payload type is {claims.type!r}, not {SIGNATURE_TYPE!r}")
    _check_annotations(claims.optional, annotations, "payload")


def _check_annotations(found: dict[str, Any], wanted: dict[str, str], where: str) -> None:
    for key, value in wanted.items():
        if key not in found:
            raise VerificationError("annotations", f"the {where} has no annotation {key!r}")
        if str(found[key]) != value:
            raise VerificationError("annotations", f"annotation {key}={found[key]!r} in the {where}, wanted {value!r}")


def _statement(payload: bytes) -> dict[str, Any]:
    """The in-toto statement a DSSE envelope carries, or {} when it is not a JSON object (the
    verifier rejects those; this only reads fields of an already bounded document)."""
    try:
        statement = _wire.loads(payload, "the DSSE payload")
    except FormatError:
        return {}
    return statement if isinstance(statement, dict) else {}


def statement_annotations(envelope: DsseEnvelope, image_digest: str) -> dict[str, Any]:
    """The annotations of the in-toto subject that is this image (cosign v3 puts ``-a`` pairs there)."""
    hex_digest = image_digest.split(":", 1)[-1]
    subjects = _statement(envelope.payload).get("subject")
    for subject in subjects if isinstance(subjects, list) else []:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digests, dict) and digests.get("sha256") == hex_digest:
            annotations = subject.get("annotations")
            return annotations if isinstance(annotations, dict) else {}
    return {}


def _bounded_layer_json(layer: Layer) -> None:
    """Every JSON document a layer carries parses with bounded nesting (``_wire.loads``) before the
    format parsers see it: a bundle annotation nested 100,000 deep is a reason, not a crash.
    A simple-signing payload must be a JSON object even when its claims are not checked."""
    for name in (ANNOTATION_BUNDLE, ANNOTATION_RFC3161):
        if layer.annotations.get(name):
            _wire.loads(layer.annotations[name], f"the {name} annotation")
    if layer.media_type == DSSE:
        _wire.loads(layer.payload, "the attestation layer")
        return
    if not isinstance(_wire.loads(layer.payload, "the signature payload"), dict):
        raise FormatError("the signature payload is not a JSON object")


def _check_material(material: Material) -> None:
    """What the verifier will parse without a guard parses here first: the in-toto statement of a
    DSSE envelope is JSON of bounded depth, and each certificate's extensions decode (cryptography
    parses them lazily and raises ``ValueError`` on the first access)."""
    if isinstance(material.content, DsseEnvelope):
        _wire.loads(material.content.payload, "the DSSE payload")
    for position, cert in enumerate(material.certificate_chain):
        try:
            cert.extensions  # noqa: B018 -- the access is the check
        except ValueError:
            what = "the signing certificate" if position == 0 else f"certificate {position} of the chain"
            raise FormatError(f"{what} has an extension that does not parse") from None


def verify_layer(verifier: Verifier, layer: Layer, where: str, image_digest: str, *, policy=None, key=None,
                 options: VerificationOptions = VerificationOptions(), annotations: dict[str, str] | None = None,
                 claims: bool = True) -> SignatureCheck:
    """One legacy ``.sig`` layer: signature, transparency log, certificate, then the payload claims."""
    notes = layer.annotations
    try:
        _bounded_layer_json(layer)
        material = layer_material(layer)
        _check_material(material)
    except FormatError as exc:
        return SignatureCheck(where, None, exc, None, layer.payload, layer_annotations=notes)
    verdict = verifier.verify(material, Artifact.from_bytes(layer.payload, label="the signature payload"),
                              policy=policy, key=key, options=options)
    if not verdict.ok:
        return SignatureCheck(where, verdict, verdict.failure, material, layer.payload, layer_annotations=notes)
    if not claims:
        unverified = (f"docker-manifest-digest == {image_digest}",
                      *(f"{k}={v}" for k, v in (annotations or {}).items()))
        return SignatureCheck(where, verdict, None, material, layer.payload, unverified, notes)
    try:
        check_claims(layer.payload, image_digest, annotations or {})
    except (VerificationError, FormatError) as exc:
        return SignatureCheck(where, verdict, exc, material, layer.payload, layer_annotations=notes)
    verdict.passed("claims", "the payload names {} and every requested annotation", image_digest)
    return SignatureCheck(where, verdict, None, material, layer.payload, layer_annotations=notes)


def verify_attestation_layer(verifier: Verifier, layer: Layer, where: str, image_digest: str, *, policy=None,
                             key=None, options: VerificationOptions = VerificationOptions()) -> SignatureCheck:
    """One legacy ``.att`` layer: a DSSE envelope whose in-toto subject must be this image."""
    notes = layer.annotations
    try:
        _bounded_layer_json(layer)
        material = layer_material(layer)
        _check_material(material)
    except FormatError as exc:
        return SignatureCheck(where, None, exc, None, layer.payload, layer_annotations=notes)
    if not isinstance(material.content, DsseEnvelope):
        return SignatureCheck(where, None, FormatError("the attestation layer is not a DSSE envelope"), material,
                              layer.payload, layer_annotations=notes)
    artifact = Artifact.from_digest(image_digest)
    artifact.label = image_digest
    verdict = verifier.verify(material, artifact, policy=policy, key=key, options=options)
    return SignatureCheck(where, verdict, verdict.failure, material, material.content.payload,
                          layer_annotations=notes)


def predicate_type(check: SignatureCheck) -> str | None:
    content = check.material.content if check.material else None
    if not isinstance(content, DsseEnvelope):
        return None
    value = _statement(content.payload).get("predicateType")
    return value if isinstance(value, str) else None


def require_predicate(check: SignatureCheck, wanted: str) -> SignatureCheck:
    """verify-attestation --type: the statement must have this predicate type."""
    found = predicate_type(check)
    if found != wanted:
        return check._replace(error=VerificationError("type", f"predicate type {found!r} is not {wanted!r}"))
    return check


COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def refuse_attestation_as_signature(check: SignatureCheck) -> SignatureCheck:
    """A bundle counts as an image *signature* only with cosign's signing predicate; cosign v3
    accepts any statement about the digest (FORMATS.md 9.5), which would let an SBOM
    attestation stand in for a signature."""
    found = predicate_type(check)
    if found != COSIGN_SIGN_PREDICATE:
        return check._replace(error=VerificationError("type", f"the bundle is an attestation ({found}), not a "
                                                              "signature; use verify-attestation"))
    return check


def verify_bundle(verifier: Verifier, data: bytes, where: str, image_digest: str, *, policy=None, key=None,
                  options: VerificationOptions = VerificationOptions(), annotations: dict[str, str] | None = None,
                  claims: bool = True) -> SignatureCheck:
    """One Sigstore bundle attached to the image (cosign v3): a DSSE statement about this digest."""
    try:
        _wire.loads(data, "bundle")
        material = parse_signature_file(data)
        _check_material(material)
    except FormatError as exc:
        return SignatureCheck(where, None, exc, None, None)
    content = material.content
    payload = content.payload if isinstance(content, DsseEnvelope) else None
    if payload is None:
        return SignatureCheck(where, None, FormatError("an image bundle must hold a DSSE envelope"),
                              material, None)
    artifact = Artifact.from_digest(image_digest)
    artifact.label = image_digest
    verdict = verifier.verify(material, artifact, policy=policy, key=key, options=options)
    if not verdict.ok:
        return SignatureCheck(where, verdict, verdict.failure, material, payload)
    try:
        _check_annotations(statement_annotations(content, image_digest), annotations or {}, "statement subject")
    except VerificationError as exc:
        return SignatureCheck(where, verdict, exc, material, payload)
    return SignatureCheck(where, verdict, None, material, payload)


def judge(verifier: Verifier, found: Any, image_digest: str, *, attestation: bool, predicate: str | None = None,
          policy=None, key=None, options: VerificationOptions = VerificationOptions(),
          annotations: dict[str, str] | None = None, claims: bool = True) -> SignatureCheck:
    """One candidate signature (``airlock.oci.discovery.Found``), judged on its own.

    Whatever airlock refuses in it (an ``AirlockError``, or JSON too deep for a parser without a
    bound) is a failed ``SignatureCheck`` naming why, not an exception: whoever can push to the
    signature tag or attach referrers must not be able to stop a properly signed image from
    verifying by adding junk next to its signature. Anything else is a bug and still propagates.
    """
    where = found.where
    if found.error is not None:
        return SignatureCheck(where, None, found.error, None, None)
    try:
        if found.bundle is not None:
            check = verify_bundle(verifier, found.bundle, where, image_digest, policy=policy, key=key,
                                  options=options, annotations=annotations)
        elif attestation:
            check = verify_attestation_layer(verifier, found.layer, where, image_digest, policy=policy, key=key,
                                             options=options)
        else:
            check = verify_layer(verifier, found.layer, where, image_digest, policy=policy, key=key,
                                 options=options, annotations=annotations, claims=claims)
        if check.ok and predicate is not None:
            check = require_predicate(check, predicate)
        elif check.ok and not attestation and found.bundle is not None:
            check = refuse_attestation_as_signature(check)
        return check
    except AirlockError as exc:
        return SignatureCheck(where, None, exc, None, None)
