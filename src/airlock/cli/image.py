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
import json
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
            "verify the signatures of an image, offline", description=VERIFY_HELP,
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
        bool_flag(parser, "--new-bundle-format", "only Sigstore bundles (true) or only legacy signatures "
                  "(false); default: both", default=None)
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
                            help="json: the verified payloads (default); text: one line per signature")
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
    return api.registry_targets(common.registry_client(args), args.images)


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
    key, policy = common.signer(args)
    options = common.options(args)
    trusted_root = common.load_trust_for(args, key, options)
    verifier = api.Verifier(trusted_root)
    if not args.check_claims:
        print("WARNING: --check-claims=false: the payload claims (image digest, annotations) are NOT verified",
              file=sys.stderr)
    predicate = PREDICATE_TYPES.get(args.type, args.type) if args.attestation else None
    verdicts = []
    for verdict in api.verify_images(_targets(args), verifier, jobs=args.jobs, key=key, policy=policy,
                                     options=options, attestation=args.attestation, predicate_type=predicate,
                                     annotations=dict(args.annotations), check_claims=args.check_claims,
                                     new_bundle_format=args.new_bundle_format, bundle=bundle,
                                     bundle_where=f"--bundle {args.bundle}",
                                     check_layer_digests=args.check_layer_digests):
        for warning in verdict.warnings:
            print(warning, file=sys.stderr)
        verdicts.append(verdict)
    outputs = [_output(c, args.attestation) for v in verdicts if v.ok for c in v.verified]
    failures = [v.failure for v in verdicts if v.failure is not None]  # None exactly when v.ok
    if failures:  # fail closed: nothing is reported as verified when any image is not
        raise VerificationError("verify", " | ".join(failures))
    for verdict in verdicts:
        for check in verdict.verified:
            if check.unverified_claims:
                print("WARNING: unverified claims: " + ", ".join(check.unverified_claims), file=sys.stderr)
        for reason in verdict.reasons:
            print(f"WARNING: {verdict.reference}: not verified, ignored: {reason}", file=sys.stderr)
        if verdict.rejected_count > len(verdict.rejected):
            print(f"WARNING: {verdict.reference}: {verdict.rejected_count - len(verdict.rejected)} more "
                  f"{verdict.what} not verified, ignored", file=sys.stderr)
        _print_checks(verdict.reference, key is not None, args)
    if outputs:
        if args.output == "json":
            print(json.dumps(outputs) if not args.attestation else "\n".join(json.dumps(o) for o in outputs))
        else:
            for output in outputs:
                print(json.dumps(output, sort_keys=True))
    return 0


def _print_checks(reference: str, with_key: bool, args: argparse.Namespace) -> None:
    lines = [f"Verification for {reference} --", "The following checks were performed on each of these signatures:"]
    if args.check_claims:
        lines.append("  - The cosign claims were validated")
    if not args.insecure_ignore_tlog:
        lines.append("  - Existence of the claims in the transparency log was verified offline")
    lines.append("  - The signatures were verified against the specified public key" if with_key else
                 "  - The code-signing certificate was verified using trusted certificate authority certificates")
    print("\n".join(lines), file=sys.stderr)


def _output(check: Any, attestation: bool) -> Any:
    """What cosign prints for a verified signature: the payload, with Bundle/Issuer/Subject added."""
    from airlock import _wire
    from airlock.errors import FormatError
    from airlock.formats import cosign

    material = check.material
    if attestation or material.format != "cosign-legacy":
        import base64

        envelope = material.content  # only the signature that was verified, never the others beside it
        return {"payloadType": envelope.payload_type, "payload": base64.b64encode(envelope.payload).decode(),
                "signatures": [{"keyid": "", "sig": base64.b64encode(material.signature).decode()}]}
    document = _wire.loads(check.payload, "the signature payload")  # a JSON object: checked before it verified
    if not isinstance(document, dict):
        raise FormatError("the signature payload is not a JSON object")
    optional: dict[str, Any] = document["optional"] if isinstance(document.get("optional"), dict) else {}
    bundle = check.layer_annotations.get(cosign.ANNOTATION_BUNDLE) if check.layer_annotations else None
    if bundle:
        optional["Bundle"] = _wire.loads(bundle, f"the {cosign.ANNOTATION_BUNDLE} annotation")
    if check.verdict and check.verdict.identity:
        optional["Issuer"] = check.verdict.issuer
        optional["Subject"] = check.verdict.identity
    document["optional"] = optional or None
    return document
