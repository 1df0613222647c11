"""``airlock verify`` and ``airlock verify-attestation``: container images, offline (cosign-compatible).

Output follows cosign: ``Verification for REF --`` and the checks performed on stderr, the
verified payloads as JSON on stdout. An image passes when at least one of its signatures
verifies; every image named (or every image of a layout) must pass. Each signature is judged
on its own, as it is read: a junk layer or referrer next to a good signature is reported (a
WARNING on stderr) and cannot make the image fail; when none verifies, the error gives the
reason of each (bounded). With ``--local-image`` the image verified must also be whole in the
layout: its manifests, config and layers present, with the sizes and digests they are named by.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

VERIFY_HELP = """\
Verify the signatures of a container image, offline: legacy cosign signatures (sha256-<hex>.sig)
and cosign v3 Sigstore bundles attached as OCI referrers, from a registry or an OCI layout.

  airlock verify --local-image ./layout --key cosign.pub
  airlock verify registry.internal/app@sha256:... --certificate-identity ID --certificate-oidc-issuer URL
  airlock verify --bundle checkout.bundle --key cosign.pub --insecure-ignore-tlog registry.internal/app@sha256:...

An image passes when at least one of its signatures verifies; each is judged on its own, and those
that do not verify are listed as WARNINGs (or, when none does, in the error).

With --local-image, the image itself must be complete and intact in the layout: every manifest
(each platform of a multi-arch index), the config and every layer must be present, with the size
and SHA-256 digest its descriptor gives. Hashing the layers of a large image takes time;
--check-layer-digests=false checks only that each layer is present with the right size.
"""

def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag, common

    for name, attestation in (("verify", False), ("verify-attestation", True)):
        parser = commands.add_parser(
            name, help="verify the attestations of an image, offline" if attestation else
            "verify the signatures of an image, offline", description=VERIFY_HELP, epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("images", nargs="*", metavar="IMAGE", help="image reference(s); with --local-image, "
                            "which image(s) of the layout (default: all)")
        parser.add_argument("--local-image", metavar="DIR", help="read the image(s) and signatures from an OCI "
                            "layout (airlock save / cosign save)")
        parser.add_argument("--key", metavar="KEY", help="public key for key-signed images: a PEM file, "
                            "pkcs11:... or awskms://...")
        parser.add_argument("--bundle", metavar="FILE", help="verify this Sigstore bundle (as `sign --bundle FILE` "
                            f"writes it) as the image's {'attestation' if attestation else 'signature'}, instead "
                            "of those attached to the image; the image itself is still read from the registry or "
                            "--local-image. An airlock extension: cosign v3 has no --bundle here (its equivalent is "
                            "verify-blob-attestation --bundle FILE --digest HEX --digestAlg sha256)")
        common.add_trust_flags(parser)
        common.add_identity_flags(parser)
        parser.add_argument("-a", "--annotations", action="append", type=common.annotation,
                            default=[], metavar="KEY=VALUE",
                            help="require this annotation in the signed payload (repeatable)")
        bool_flag(parser, "--check-claims", "check the payload names this image digest (default true)", default=True)
        bool_flag(parser, "--new-bundle-format", "true: the Sigstore bundles, or the legacy signatures when the "
                  "image has no bundle (cosign v3's default); false: only legacy signatures; default: both, so a "
                  "bundle pushed beside a good legacy signature cannot hide it", default=None)
        bool_flag(parser, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
        bool_flag(parser, "--check-layer-digests", "with --local-image: hash every layer of the image and "
                  "compare it with its digest (default true); false: check only that each layer is present with "
                  "the right size, faster for large images (manifests and the config are always digest-checked)",
                  default=True)
        common.add_insecure_flags(parser)
        if attestation:
            parser.add_argument("--type", default="custom", metavar="TYPE",
                                help="predicate type: a URI or a cosign short name (custom, slsaprovenance, spdx, "
                                "cyclonedx, link, vuln, openvex, ...)")
        parser.add_argument("--jobs", type=common.jobs, metavar="N", help="verify the images in N processes "
                            "(default: the number of CPUs; 1: in this process); one exit code for all")
        parser.add_argument("--output", choices=("text", "json"), default="json",
                            help="json: the verified payloads (default); text: one line per signature (a legacy "
                            "signature's payload as signed), as cosign prints them")
        parser.set_defaults(run=run, attestation=attestation)


def _targets(args: argparse.Namespace) -> list:
    """Every image to verify (``airlock.api.images.ImageTarget``), in the layout or the registry."""
    from airlock import api
    from airlock.cli import common
    from airlock.errors import UsageError

    if args.local_image:
        return api.layout_targets(api.layout_source(args.local_image), args.images, path=args.local_image,
                                  label=f"--local-image {args.local_image}")
    if not args.images:
        raise UsageError("name an image (or use --local-image DIR)")
    from airlock.oci.reference import parse_reference
    from airlock.oci.registry import RegistryError

    client, targets = common.registry_client(args), []
    for image in args.images:
        try:
            targets += api.registry_targets(client, [image])
        except RegistryError as exc:  # cosign verify exits 11 for a tag that is not there; for a digest it
            if exc.status == 404 and not args.attestation:  # reads no manifest, finds no signature: 10
                exc.exit_code = IMAGE_WITHOUT_SIGNATURE if parse_reference(image).digest else NON_EXISTENT_TAG
            raise
    return targets


def run(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli import common
    from airlock.errors import UsageError, VerificationError
    from airlock.formats.cosign import PREDICATE_TYPES

    if not args.check_layer_digests:
        if not args.local_image:
            raise UsageError("--check-layer-digests=false applies to --local-image only")
        print("WARNING: --check-layer-digests=false: the image's layers are checked for presence and size, "
              "not for their digests", file=sys.stderr)
    bundle = None
    if args.bundle:
        if args.new_bundle_format is False:
            raise UsageError("--bundle holds a Sigstore bundle: it cannot be verified with --new-bundle-format=false")
        bundle = common.read_file(args.bundle, "--bundle")
    policy = common.signer(args)
    options = common.options(args)
    trusted_root = common.load_trust_for(args, policy, options)
    verifier = api.Verifier(trusted_root)
    if not args.check_claims:
        print("WARNING: --check-claims=false: the payload claims (image digest, annotations) are NOT verified",
              file=sys.stderr)
    predicate = PREDICATE_TYPES.get(args.type, args.type) if args.attestation else None
    verdicts = []
    targets = _targets(args)
    names = [t.reference for t in targets] if args.local_image else [_docker_reference(i) for i in args.images]
    for verdict in api.verify_images(targets, verifier, jobs=args.jobs, policy=policy,
                                     options=options, attestation=args.attestation, predicate_type=predicate,
                                     annotations=dict(args.annotations), check_claims=args.check_claims,
                                     new_bundle_format=args.new_bundle_format, bundle=bundle,
                                     bundle_where=f"--bundle {args.bundle}",
                                     check_layer_digests=args.check_layer_digests):
        for warning in verdict.warnings:
            print(warning, file=sys.stderr)
        verdicts.append(verdict)
    verified = [(c, name) for v, name in zip(verdicts, names, strict=True) if v.ok for c in v.verified]
    outputs = [_output(c, args.attestation, name) for c, name in verified]
    failures = [v.failure for v in verdicts if v.failure is not None]  # None exactly when v.ok
    if failures:  # fail closed: nothing is reported as verified when any image is not
        error = VerificationError("verify", " | ".join(failures))
        error.exit_code = _exit_code(next(v for v in verdicts if v.failure is not None), args)
        raise error
    for verdict in verdicts:
        for check in verdict.verified:
            if check.unverified_claims:
                print("WARNING: unverified claims: " + ", ".join(check.unverified_claims), file=sys.stderr)
        for reason in verdict.reasons:
            print(f"WARNING: {verdict.reference}: not verified, ignored: {reason}", file=sys.stderr)
        if verdict.rejected_count > len(verdict.rejected):
            print(f"WARNING: {verdict.reference}: {verdict.rejected_count - len(verdict.rejected)} more "
                  f"{verdict.what} not verified, ignored", file=sys.stderr)
        _print_checks(verdict.reference, isinstance(policy, api.Key), args)
        if args.attestation or args.output == "text":  # cosign's "text" rendering, which attestations always use
            for check in verdict.verified:
                _print_certificate(check)
    if outputs:
        if args.output == "text":  # cosign: each payload as signed (a legacy one), else as it prints it, a line each
            for (check, _), output in zip(verified, outputs, strict=True):
                material = check.material
                legacy = not args.attestation and material is not None and material.format == "cosign-legacy"
                signed = check.payload if legacy else None
                print(signed.decode("utf-8", "replace") if signed is not None else common.go_json(output))
        elif args.attestation:  # cosign: each envelope on its own line
            for output in outputs:
                print(common.go_json(output))
        else:  # cosign: a blank line, then the list
            print("\n" + common.go_json(outputs))
    return 0


# cosign's exit codes (cmd/cosign/errors/exit_codes.go), which only `cosign verify` of a registry image uses
IMAGE_WITHOUT_SIGNATURE = 10
NON_EXISTENT_TAG = 11
NO_MATCHING_SIGNATURE = 12

EXIT_CODES = """\
exit codes (as cosign's):
  0   every image verified
  1   verification failed (any other failure; verify-attestation and --local-image always use 1)
  2   usage error: a flag or argument is wrong
  10  verify: the image has no signatures (or, named by digest, is not in the registry)
  11  verify: the image (tag) is not in the registry
  12  verify: the image has legacy signatures, and none of them verifies
"""


def _exit_code(verdict: Any, args: argparse.Namespace) -> int:
    """cosign verify's code for an image that did not verify: it wraps only the errors of its legacy
    path (no Sigstore bundle found) for a registry image; anything else exits 1."""
    if args.attestation or args.local_image or verdict.not_intact is not None or verdict.bundles_found:
        return 1
    return NO_MATCHING_SIGNATURE if verdict.rejected_count else IMAGE_WITHOUT_SIGNATURE


def _print_checks(reference: str, with_key: bool, args: argparse.Namespace) -> None:
    """cosign's PrintVerificationHeader: a blank line, then what was checked."""
    lines = [f"\nVerification for {reference} --", "The following checks were performed on each of these signatures:"]
    if args.check_claims:
        if args.annotations:
            lines.append("  - The specified annotations were verified.")
        lines.append("  - The cosign claims were validated")
    if not args.insecure_ignore_tlog:
        lines.append("  - Existence of the claims in the transparency log was verified offline")
    lines.append("  - The signatures were verified against the specified public key" if with_key else
                 "  - The code-signing certificate was verified using trusted certificate authority certificates")
    print("\n".join(lines), file=sys.stderr)


def _print_certificate(check: Any) -> None:
    """What cosign's text rendering prints on stderr for a legacy signature made with a certificate:
    its first SAN, its OIDC issuer and the GitHub workflow extensions it has. Nothing for a bundle:
    cosign v3.1.2 keeps only a bundle's payload, not its certificate, for this rendering."""
    from airlock.verify.policy import subject_alternative_names

    if check.layer_annotations is None or not (check.verdict and check.verdict.identity):
        return
    leaf = check.material.leaf if check.material is not None else None
    names = subject_alternative_names(leaf) if leaf is not None else [check.verdict.identity]
    claims = _certificate_claims(check)
    lines = [f"Certificate subject: {names[0] if names else ''}"]
    if claims.get("Issuer"):
        lines.append(f"Certificate issuer URL: {claims['Issuer']}")
    for name, label in (("githubWorkflowTrigger", "Trigger"), ("githubWorkflowSha", "SHA"),
                        ("githubWorkflowName", "Name"), ("githubWorkflowRepository", "Repository"),
                        ("githubWorkflowRef", "Ref")):
        if claims.get(name):
            lines.append(f"GitHub Workflow {label}: {claims[name]}")
    print("\n".join(lines), file=sys.stderr)


def _output(check: Any, attestation: bool, reference: str) -> Any:
    """What cosign prints for a verified signature (cmd/cosign/cli/verify/common.go PrintVerification).

    An attestation: its DSSE envelope as stored, keeping only the signature that verified (never the
    others beside it). A legacy signature: its simple-signing payload decoded into cosign's struct
    (unknown fields dropped, ``optional`` a Go map: keys sorted) with Bundle/Issuer/Subject added. A
    bundle signature: cosign v3's claims made from the in-toto statement (docker-reference the image as
    named, the first subject's digest, the predicate type, the subject's annotations)."""
    import base64

    from airlock import _wire
    from airlock.cli.common import go_sorted
    from airlock.errors import FormatError
    from airlock.formats import cosign

    material = check.material
    if attestation:
        stored = dict(check.envelope or {})
        verified = base64.b64encode(material.signature).decode()
        signatures = stored.get("signatures")
        kept = [s for s in signatures if isinstance(s, dict) and s.get("sig") == verified] \
            if isinstance(signatures, list) else []
        if not stored or not kept:  # not from storage: the envelope as verified
            return {"payloadType": material.content.payload_type,
                    "payload": base64.b64encode(material.content.payload).decode(), "signatures": [{"sig": verified}]}
        stored["signatures"] = kept[:1]
        return stored
    document = _wire.loads(check.payload, "the signature payload")  # a JSON object: checked before it verified
    if not isinstance(document, dict):
        raise FormatError("the signature payload is not a JSON object")
    if material.format != "cosign-legacy":  # a bundle: claims from its statement, as cosign's transformOutput
        subjects = document.get("subject")
        subject = _object(subjects[0] if isinstance(subjects, list) and subjects else None)
        digest = next(iter(_object(subject.get("digest")).items()), ("", ""))
        return {"critical": {"identity": {"docker-reference": reference},
                             "image": {"docker-manifest-digest": ":".join(map(str, digest))},
                             "type": document.get("predicateType", "")},
                "optional": go_sorted(_object(subject.get("annotations")))}
    critical = _object(document.get("critical"))
    identity, image = _object(critical.get("identity")), _object(critical.get("image"))
    optional: dict[str, Any] | None = document["optional"] if isinstance(document.get("optional"), dict) else None
    extra: dict[str, Any] = {}
    bundle = check.layer_annotations.get(cosign.ANNOTATION_BUNDLE) if check.layer_annotations else None
    if bundle:
        extra["Bundle"] = _wire.loads(bundle, f"the {cosign.ANNOTATION_BUNDLE} annotation")
    if check.verdict and check.verdict.identity:
        extra.update(_certificate_claims(check))
    if extra:
        optional = {**(optional or {}), **extra}
    return {"critical": {"identity": {"docker-reference": str(identity.get("docker-reference", ""))},
                         "image": {"docker-manifest-digest": str(image.get("docker-manifest-digest", ""))},
                         "type": str(critical.get("type", ""))},
            "optional": None if optional is None else {k: optional[k] if k == "Bundle" else go_sorted(optional[k])
                                                       for k in sorted(optional)}}


def _docker_reference(text: str) -> str:
    """How cosign names an image in a bundle signature's claims (go-containerregistry's ``Name()``): the
    normalized repository (``index.docker.io/library/...``), then ``@digest`` if given, else ``:tag``
    (``latest`` when none)."""
    from airlock.oci.reference import DEFAULT_TAG, parse_reference

    reference = parse_reference(text)
    return f"{reference.name}@{reference.digest}" if reference.digest else \
        f"{reference.name}:{reference.tag or DEFAULT_TAG}"


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


FULCIO_OID = "1.3.6.1.4.1.57264.1"
# the raw (deprecated) GitHub extensions cosign adds to a legacy signature's output, and their names
_GITHUB = ((2, "githubWorkflowTrigger"), (3, "githubWorkflowSha"), (4, "githubWorkflowName"),
           (5, "githubWorkflowRepository"), (6, "githubWorkflowRef"))


def _certificate_claims(check: Any) -> dict[str, str]:
    """What cosign adds to ``optional`` for a verified certificate: Subject, Issuer (also under its OID)
    and the raw GitHub workflow extensions (under their names and their OIDs)."""
    from cryptography import x509

    claims = {"Subject": check.verdict.identity}
    if check.verdict.issuer:
        claims["Issuer"] = claims[f"{FULCIO_OID}.1"] = check.verdict.issuer
    leaf = check.material.leaf if check.material is not None else None
    for arc, name in _GITHUB:
        if leaf is None:
            break
        try:
            extension = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{FULCIO_OID}.{arc}"))
        except x509.ExtensionNotFound:
            continue
        value = extension.value.value if isinstance(extension.value, x509.UnrecognizedExtension) else b""
        text = value.decode("utf-8", "replace")
        if text:
            claims[name] = claims[f"{FULCIO_OID}.{arc}"] = text
    return claims
