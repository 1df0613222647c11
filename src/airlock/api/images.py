"""Verifying container images: discovery, the loop over signatures, the predicate rules.

This is the one path every entry point takes (``airlock verify``, ``verify-attestation``, the
admission gate, Python callers): find the images (``layout_targets`` / ``registry_targets``),
then ``verify_target`` (or ``verify_image``, which does both for one image) reads each candidate
signature through ``airlock.oci.discovery`` and judges it on its own, as it is read. The result
is an ``ImageVerdict``: the signatures that verified, those rejected and why. Nothing is
printed here; the caller renders the verdict.

A legacy cosign signature (a ``.sig`` layer) signs a simple-signing payload: after the
cryptographic checks (the same verifier as for blobs, with the payload as the artifact) the
payload's claims must name this image digest (``critical.image.docker-manifest-digest``) and
type, and carry every ``-a key=value`` the caller asks for. A cosign v3 bundle attached as an
OCI referrer signs an in-toto statement whose subject must be this digest (checked by the
verifier itself) and whose subject annotations must carry the ``-a`` pairs.

An image verifies when at least one signature verifies; each one's outcome is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from airlock import _wire
from airlock.artifact import Artifact
from airlock.errors import AirlockError, FormatError, VerificationError
from airlock.formats.bundle import parse_signature_file
from airlock.formats.cosign import SIGNATURE_TYPE, Layer, layer_material, parse_payload
from airlock.material import DsseEnvelope, Material
from airlock.media_types import ANNOTATION_BUNDLE, ANNOTATION_RFC3161
from airlock.media_types import DSSE_ENVELOPE as DSSE
from airlock.verify.policy import Policy, as_policy
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
    envelope: dict[str, Any] | None = None  # the DSSE envelope as stored (JSON object), for cosign's output

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


def verify_layer(verifier: Verifier, layer: Layer, where: str, image_digest: str, *, policy: Policy,
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
                              policy, options=options)
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


def verify_attestation_layer(verifier: Verifier, layer: Layer, where: str, image_digest: str, *, policy: Policy,
                             options: VerificationOptions = VerificationOptions()) -> SignatureCheck:
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
    verdict = verifier.verify(material, artifact, policy, options=options)
    return SignatureCheck(where, verdict, verdict.failure, material, material.content.payload,
                          layer_annotations=notes, envelope=_stored(_wire.loads(layer.payload, "the attestation")))


def _stored(envelope: Any) -> dict[str, Any] | None:
    """A DSSE envelope as stored (a parsed JSON object, its keys in their stored order), for output."""
    return envelope if isinstance(envelope, dict) else None


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


def verify_bundle(verifier: Verifier, data: bytes, where: str, image_digest: str, *, policy: Policy,
                  options: VerificationOptions = VerificationOptions(), annotations: dict[str, str] | None = None,
                  claims: bool = True) -> SignatureCheck:
    """One Sigstore bundle attached to the image (cosign v3): a DSSE statement about this digest."""
    try:
        document = _wire.loads(data, "bundle")
        material = parse_signature_file(data)
        _check_material(material)
    except FormatError as exc:
        return SignatureCheck(where, None, exc, None, None)
    stored = _stored(document.get("dsseEnvelope", document.get("dsse_envelope")))
    content = material.content
    if not isinstance(content, DsseEnvelope):
        return SignatureCheck(where, None, FormatError("an image bundle must hold a DSSE envelope"),
                              material, None)
    payload = content.payload
    artifact = Artifact.from_digest(image_digest)
    artifact.label = image_digest
    verdict = verifier.verify(material, artifact, policy, options=options)
    if not verdict.ok:
        return SignatureCheck(where, verdict, verdict.failure, material, payload, envelope=stored)
    try:
        _check_annotations(statement_annotations(content, image_digest), annotations or {}, "statement subject")
    except VerificationError as exc:
        return SignatureCheck(where, verdict, exc, material, payload, envelope=stored)
    return SignatureCheck(where, verdict, None, material, payload, envelope=stored)


def judge(verifier: Verifier, found: Any, image_digest: str, *, attestation: bool, predicate: str | None = None,
          policy: Policy, options: VerificationOptions = VerificationOptions(),
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
            check = verify_bundle(verifier, found.bundle, where, image_digest, policy=policy,
                                  options=options, annotations=annotations)
        elif attestation:
            check = verify_attestation_layer(verifier, found.layer, where, image_digest, policy=policy,
                                             options=options)
        else:
            check = verify_layer(verifier, found.layer, where, image_digest, policy=policy,
                                 options=options, annotations=annotations, claims=claims)
        if check.ok and predicate is not None:
            check = require_predicate(check, predicate)
        elif check.ok and not attestation and found.bundle is not None:
            check = refuse_attestation_as_signature(check)
        return check
    except AirlockError as exc:
        return SignatureCheck(where, None, exc, None, None)


# -- the use case: which images, and the loop over their signatures --------------------------------------

MAX_REASONS = 8  # rejected signatures kept (and named in a failure), per image; the rest are counted
MAX_REASON_CHARS = 500


def one_line(text: str) -> str:
    """``text`` as one printable line of bounded length: reasons may quote hostile input."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 3] + "..."


class ImageTarget(NamedTuple):
    """One image to verify: where its signatures are read from, and its manifest digest."""

    reference: str  # what to call it: ``name@digest``, a layout's ref name, or ``DIR@digest``
    source: Any  # an ``airlock.oci.discovery.ImageSource`` (``LayoutSource``, ``RegistrySource``)
    digest: str
    entry: dict[str, Any] | None = None  # its layout index entry: the image must then be whole in the layout


class ImageVerdict:
    """What verifying one image found. ``ok``: the image is intact (in a layout) and at least one
    of its signatures (or attestations) verified; ``verified`` holds those, ``rejected`` the first
    ``MAX_REASONS`` that did not (each ``SignatureCheck.error`` says why), ``rejected_count`` all
    of them. ``warnings`` are the verifier's (an ``--insecure-...`` choice), once each.

    A plain class, not a dataclass: ``dataclasses`` (and through it ``inspect``) is the largest
    import of ``airlock verify --local-image`` after cryptography."""

    _FIELDS = ("reference", "digest", "attestation", "verified", "rejected", "rejected_count", "warnings",
               "not_intact", "bundles_found")

    def __init__(self, reference: str, digest: str, attestation: bool = False,
                 verified: list[SignatureCheck] | None = None, rejected: list[SignatureCheck] | None = None,
                 rejected_count: int = 0, warnings: list[str] | None = None, not_intact: AirlockError | None = None,
                 bundles_found: int = 0) -> None:
        self.reference = reference
        self.digest = digest
        self.attestation = attestation
        self.verified: list[SignatureCheck] = [] if verified is None else verified
        self.rejected: list[SignatureCheck] = [] if rejected is None else rejected
        self.rejected_count = rejected_count
        self.warnings: list[str] = [] if warnings is None else warnings
        self.not_intact = not_intact  # the image itself is not whole in the layout
        self.bundles_found = bundles_found  # how many of the candidates were Sigstore bundles (referrers or --bundle)

    def __repr__(self) -> str:
        return f"ImageVerdict({', '.join(f'{name}={getattr(self, name)!r}' for name in self._FIELDS)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    @property
    def ok(self) -> bool:
        return self.not_intact is None and bool(self.verified)

    @property
    def what(self) -> str:
        return "attestations" if self.attestation else "signatures"

    @property
    def reasons(self) -> list[str]:
        """Why each kept rejected signature failed, as bounded printable lines (``where: error``)."""
        return [one_line(f"{check.where}: {check.error}") for check in self.rejected]

    @property
    def failure(self) -> str | None:
        """One line saying why the image did not verify, or None when it did."""
        if self.not_intact is not None:
            return f"{self.reference}: the image is not intact in the layout ({one_line(str(self.not_intact))})"
        if self.verified:
            return None
        reasons = self.reasons
        more = self.rejected_count - len(reasons)
        text = "; ".join(reasons) + (f"; and {more} more" if more > 0 else "")
        return f"{self.reference}: no {self.what} verified ({text or f'no {self.what} found'})"

    def raise_for_failure(self) -> ImageVerdict:
        if not self.ok:
            raise VerificationError("verify", self.failure or "")
        return self


def layout_targets(source: Any, wanted: list[str] | tuple[str, ...] = (), *, path: str | None = None,
                   label: str | None = None) -> list[ImageTarget]:
    """The images of a layout (``LayoutSource``) to verify: all of them, or those ``wanted`` names
    (a digest, a ref name, or ``anything@digest``). ``path`` names the layout in the reference of
    an image without a ref name (``path@digest``), ``label`` in errors (default: its directory)."""
    from airlock.errors import UsageError
    from airlock.media_types import ANNOTATION_REF_NAME as REF_NAME
    from airlock.oci.sources import image_digest

    path = path or source.layout.path
    label = label or path
    images = source.images()
    if not images:
        raise UsageError(f"{label}: the layout holds no image")
    chosen = images
    if wanted:
        chosen = []
        for name in wanted:
            match = [e for e in images if name in (e["digest"], (e.get("annotations") or {}).get(REF_NAME))
                     or name.endswith("@" + e["digest"])]
            if not match:
                raise UsageError(f"{label}: no image {name} in the layout")
            chosen += match
    targets = []
    for e in chosen:
        digest = image_digest(e)
        display = (e.get("annotations") or {}).get(REF_NAME) or f"{path}@{e['digest']}"
        targets.append(ImageTarget(display if "@" in display else f"{display}@{digest}", source, digest, e))
    return targets


def registry_targets(client: Any, references: list[str] | tuple[str, ...]) -> list[ImageTarget]:
    """The images named by ``references`` (tags or digests) in a registry: each manifest is fetched
    and digest-checked, by digest too (a signature of a digest nobody can pull proves nothing)."""
    from airlock.oci.reference import parse_reference
    from airlock.oci.sources import RegistrySource, signature_repository

    targets = []
    for text in references:
        reference = parse_reference(text)
        digest = client.get_manifest(reference.registry, reference.repository,
                                     reference.digest or reference.identifier).digest
        source = RegistrySource(client, reference.registry, reference.repository, signature_repository())
        targets.append(ImageTarget(str(reference.with_digest(digest)), source, digest))
    return targets


def attached_artifacts(target: ImageTarget, *, name: str = "") -> list[Any]:
    """What is attached to one image, as ``cosign tree`` lists it: ``airlock.oci.discovery.Attached``
    groups (the .att, .sig and .sbom manifests, then the referrers with an artifact type), their
    layers by digest. Only manifests are read; nothing is verified. ``name``: the image's
    repository, as an error names a referrer index in it."""
    from airlock.oci import discovery

    return discovery.attached(target.source, target.digest, name=name)


def candidates(source: Any, digest: str, *, attestation: bool = False, new_bundle_format: bool | None = None,
               bundles_only: bool = False, bundle: bytes | None = None,
               bundle_where: str = "--bundle") -> Iterator[Any]:
    """Every signature (or attestation) of ``digest``, read lazily: v3 bundle referrers, then legacy
    layers. ``new_bundle_format``: None both; False only legacy; True the bundles, or when the image
    has none the legacy layers, as cosign v3 ``--new-bundle-format`` (its default) reads them.
    ``bundles_only``: the bundles and never the legacy layers (policy-controller's ``signatureFormat:
    bundle``). With ``bundle``, that bundle alone, and nothing attached to the image."""
    from airlock.oci import discovery

    if bundle is not None:
        yield discovery.Found(bundle_where, bundle=bundle)
        return
    if bundles_only:
        yield from discovery.signatures(source, digest, attestation=attestation, bundles=True, legacy=False)
        return
    if new_bundle_format is not True:
        yield from discovery.signatures(source, digest, attestation=attestation,  # one fetch budget per image
                                        bundles=new_bundle_format is None, legacy=True)
        return
    budget = discovery.budget_for(digest)
    limit = discovery.MAX_ATTESTATION_SIZE if attestation else discovery.MAX_SIGNATURE_SIZE
    seen = False
    for found in discovery.bundle_referrers(source, digest, budget, limit=limit):
        seen = seen or found.error is None  # as cosign: bundles that cannot even be read fall back to legacy
        yield found
    if not seen:
        yield from discovery.legacy_layers(source, digest, "att" if attestation else "sig", budget)


def verify_target(target: ImageTarget, verifier: Verifier, *, policy: Policy | None = None, key: Any = None,
                  options: VerificationOptions = VerificationOptions(), attestation: bool = False,
                  predicate_type: str | None = None, annotations: dict[str, str] | None = None,
                  check_claims: bool = True, new_bundle_format: bool | None = None, bundles_only: bool = False,
                  bundle: bytes | None = None, bundle_where: str = "--bundle", check_layer_digests: bool = True,
                  intact: set[tuple] | None = None) -> ImageVerdict:
    """Verify one image found by ``layout_targets`` or ``registry_targets``; see ``verify_image``
    (and ``candidates`` for ``bundles_only``). ``intact``: blobs of a layout already hashed, shared
    across the images of one layout."""
    policy = as_policy(policy, key)
    verdict = ImageVerdict(target.reference, target.digest, attestation)
    if target.entry is not None:  # the image verified must be whole in the layout, not only its signatures
        try:
            target.source.layout.check_image(target.entry, layer_digests=check_layer_digests,
                                             checked=intact if intact is not None else set())
        except AirlockError as exc:
            verdict.not_intact = exc
            return verdict
    warnings: dict[str, None] = {}
    for found in candidates(target.source, target.digest, attestation=attestation,
                            new_bundle_format=new_bundle_format, bundles_only=bundles_only, bundle=bundle,
                            bundle_where=bundle_where):
        verdict.bundles_found += found.bundle is not None
        check = judge(verifier, found, target.digest, attestation=attestation, predicate=predicate_type,
                      policy=policy, options=options, annotations=annotations or {}, claims=check_claims)
        warnings.update(dict.fromkeys(check.verdict.warnings if check.verdict else []))
        if check.ok:
            verdict.verified.append(check)
            continue
        verdict.rejected_count += 1
        if len(verdict.rejected) < MAX_REASONS:
            verdict.rejected.append(check)
    verdict.warnings = list(warnings)
    return verdict


def verify_image(source: Any, image: str, *, policy: Policy | None = None, key: Any = None, trusted_root: Any = None,
                 options: VerificationOptions = VerificationOptions(), attestation: bool = False,
                 predicate_type: str | None = None, annotations: dict[str, str] | None = None,
                 check_claims: bool = True, new_bundle_format: bool | None = None, bundle: bytes | None = None,
                 check_layer_digests: bool = True) -> ImageVerdict:
    """Verify the signatures (or, with ``attestation=True``, the attestations) of one image, offline,
    exactly as ``airlock verify`` / ``airlock verify-attestation`` do.

    ``source`` is where the image and its signatures are: ``airlock.layout_source(DIR)`` (an OCI
    layout; the image must also be whole in it) or ``airlock.registry_client()`` (a registry).
    ``image`` names it: a reference (``registry/repo:tag`` or ``@sha256:...``) for a registry; a
    digest, ref name or ``name@digest`` for a layout.

    Who must have signed is ``policy``, an object from ``airlock.verify.policy`` (exported by
    ``airlock``): ``Key(pem_or_key)`` for key-signed signatures; ``Identity(identity=...,
    issuer=...)`` (or ``identity_regexp=`` / ``issuer_regexp=``, ``github_workflow=``) for keyless
    ones; ``AnyOf(...)``, ``AllOf(...)``, ``Threshold(n, ...)`` to compose them. ``key=K`` is short
    for ``policy=Key(K)``. A policy that cannot work (no issuer, a bad regexp, ``Threshold(3, a,
    b)``) raises ``UsageError`` when it is built. Keyless signatures, and log entries, are checked
    against ``trusted_root`` (``airlock.TrustedRoot``; ``None`` only for a key with
    ``options=VerificationOptions(insecure_ignore_tlog=True)``). ``predicate_type``
    (attestations): the statement's predicate type URI. ``annotations``: ``-a key=value`` pairs
    the signed payload must carry. ``bundle``: verify this Sigstore bundle instead of what is
    attached to the image.

    Verification failures do not raise: the ``ImageVerdict`` says which signatures verified and
    why the others were rejected (``verdict.ok``, ``verdict.failure``, or
    ``verdict.raise_for_failure()``); each verified ``SignatureCheck`` has the ``Verdict`` of its
    signature (``identity``, ``signing_times`` with their source, ``checks``). Unreadable sources
    and bad arguments raise ``AirlockError``.

    Example::

        import airlock

        root = airlock.TrustedRoot.from_file("trusted_root.json")
        release = airlock.Identity(
            identity="https://github.com/org/app/.github/workflows/release.yml@refs/heads/main",
            issuer="https://token.actions.githubusercontent.com")
        policy = airlock.AnyOf(release, airlock.Key(open("cosign.pub", "rb").read()))
        verdict = airlock.verify_image(airlock.layout_source("./layout"), "registry.internal/app:1.0",
                                       policy=policy, trusted_root=root)
        if not verdict.ok:
            raise SystemExit(verdict.failure)
        for check in verdict.verified:
            print(check.where, check.verdict.identity, check.verdict.signing_times)
    """
    policy = as_policy(policy, key)
    from airlock.oci.sources import LayoutSource

    if isinstance(source, LayoutSource):
        target = layout_targets(source, [image])[0]
    else:
        [target] = registry_targets(source, [image])
    return verify_target(target, Verifier(trusted_root), policy=policy, options=options,
                         attestation=attestation, predicate_type=predicate_type, annotations=annotations,
                         check_claims=check_claims, new_bundle_format=new_bundle_format, bundle=bundle,
                         check_layer_digests=check_layer_digests)


# -- many images: one verdict each, across processes --------------------------------------------------

def default_jobs() -> int:
    """Worker processes for ``verify_images`` when not told: the CPUs this process may run on."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def verify_images(targets: list[ImageTarget], verifier: Verifier, *, jobs: int | None = None,
                  **options: Any) -> Iterator[ImageVerdict]:
    """Verify every image of ``targets`` (``layout_targets`` / ``registry_targets``) with the
    ``verify_target`` keywords ``options``, yielding one ``ImageVerdict`` per target, in order.

    ``jobs``: worker processes (default ``default_jobs()``); 1 verifies in this process. Workers
    are forked, so ``targets``, ``verifier`` and ``options`` (keys, policies, trusted roots) are
    inherited, never serialised; each verdict comes back pickled. A process that runs other
    threads (a server) is never forked: it verifies in-process, whatever ``jobs``. Registry
    clients are closed first, so no worker inherits a pooled connection it would share with
    another. An ``AirlockError`` for one image (say, an unreadable layout blob) is raised as it
    would be by ``verify_target``, once the verdicts before it have been yielded. Blobs already
    hashed are remembered per process.
    """
    from airlock.errors import UsageError

    jobs = default_jobs() if jobs is None else jobs
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise UsageError(f"--jobs {jobs!r}: expected a whole number of worker processes, at least 1")
    import threading

    from airlock.oci.registry import fork_safe

    jobs = min(jobs, len(targets))
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not fork_safe(t)]
    if jobs <= 1 or others:  # forking a process that runs threads can deadlock the child
        intact: set[tuple] = set()
        for target in targets:
            yield verify_target(target, verifier, intact=intact, **options)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _picklable_verdicts()
    for target in targets:
        close = getattr(getattr(target.source, "client", None), "close", None)
        if close is not None:
            close()  # children open their own connections
    chunk = max(1, min(64, len(targets) // (jobs * 8)))
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start,
                             initargs=(targets, verifier, options)) as pool:
        yield from pool.map(_worker_verify, range(len(targets)), chunksize=chunk)


_WORK: dict[str, Any] = {}  # in a worker process: what _worker_start was given (inherited by fork)


def _worker_start(targets: list[ImageTarget], verifier: Verifier, options: dict[str, Any]) -> None:
    _WORK.update(targets=targets, verifier=verifier, options=options, intact=set())


def _worker_verify(position: int) -> ImageVerdict:
    return verify_target(_WORK["targets"][position], _WORK["verifier"], intact=_WORK["intact"], **_WORK["options"])


def _picklable_verdicts() -> None:
    """What a verdict holds that ``pickle`` cannot carry by itself: certificates (as DER) and
    ``VerificationError`` (whose constructor takes two arguments). Registered before forking, so
    workers and this process agree."""
    import copyreg

    from cryptography.hazmat.bindings._rust import x509 as rust_x509  # the concrete class pickle looks up
    from cryptography.hazmat.primitives.serialization import Encoding

    copyreg.pickle(rust_x509.Certificate, lambda cert: (_certificate, (cert.public_bytes(Encoding.DER),)))
    copyreg.pickle(VerificationError, lambda exc: (VerificationError, (exc.check, exc.reason)))


def _certificate(der: bytes) -> Any:
    from cryptography import x509

    return x509.load_der_x509_certificate(der)
