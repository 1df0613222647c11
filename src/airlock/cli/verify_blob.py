"""``airlock verify-blob``: verify a signature over a file or a digest, offline (cosign-compatible)."""

from __future__ import annotations

import argparse
import json
import os
import sys

HELP = """\
Verify a signature on a blob (a file, or sha256:<hex> for a digest without the file) with a
Sigstore bundle (v0.1-v0.3) or a legacy cosign bundle, fully offline.

Keyless signatures need both an identity and an issuer:
  airlock verify-blob artifact.tgz --bundle artifact.sigstore.json --trusted-root trusted_root.json \\
      --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com
Key-signed signatures (--key: a PEM public key, pkcs11:... or awskms://...):
  airlock verify-blob artifact.tgz --bundle artifact.bundle --key cosign.pub --trusted-root trusted_root.json
Signed offline, without Rekor (no trusted root is needed then, as in cosign):
  airlock verify-blob artifact.tgz --bundle artifact.bundle --key cosign.pub --insecure-ignore-tlog
"""

def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import common

    parser = commands.add_parser("verify-blob", help="verify a signature on a blob or digest, offline",
                                 description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", metavar="FILE_OR_DIGEST", help="the signed file, or sha256:<hex>")
    parser.add_argument("--bundle", metavar="FILE", help="Sigstore bundle or legacy cosign bundle")
    common.add_trust_flags(parser)
    common.add_identity_flags(parser)
    group = parser.add_argument_group("signature material")
    group.add_argument("--key", metavar="KEY", help="public key for key-signed material: a PEM file, "
                       "pkcs11:... or awskms://...")
    group.add_argument("--signature", metavar="SIG", help="signature file or literal (raw or base64)")
    group.add_argument("--certificate", metavar="CERT", help="signing certificate (PEM or DER)")
    group.add_argument("--certificate-chain", metavar="CHAIN", help="PEM intermediates (never trusted as anchors)")
    common.add_insecure_flags(parser)
    parser.add_argument("--output", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(run=run)


ATTESTATION_HELP = """\
Verify an in-toto attestation about a blob, offline: a Sigstore bundle with a DSSE envelope
(--bundle, as attest-blob writes it; cosign's legacy bundle too), or a bare DSSE envelope
(--signature, as attest-blob --new-bundle-format=false prints it). The blob must be a subject
of the statement (give the file, or --digest HEX --digestAlg sha256), and the statement's
predicate type must be --type (default custom).

  airlock verify-blob-attestation --bundle att.sigstore.json --key cosign.pub --type slsaprovenance \\
      --insecure-ignore-tlog artifact.tgz
  airlock verify-blob-attestation --bundle att.sigstore.json --trusted-root trusted_root.json \\
      --certificate-identity ID --certificate-oidc-issuer URL --type spdxjson artifact.tgz
"""


def register_attestation(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag, common

    parser = commands.add_parser("verify-blob-attestation", help="verify an in-toto attestation about a blob, "
                                 "offline", description=ATTESTATION_HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", nargs="?", metavar="FILE", help="the file the attestation is about (or "
                        "--digest)")
    parser.add_argument("--bundle", metavar="FILE", help="Sigstore bundle (or cosign's legacy bundle) with the "
                        "attestation")
    parser.add_argument("--signature", metavar="FILE", help="a bare DSSE envelope (JSON)")
    parser.add_argument("--key", metavar="KEY", help="public key for key-signed attestations: a PEM file, "
                        "pkcs11:... or awskms://...")
    parser.add_argument("--type", default="custom", metavar="TYPE", help="predicate type the statement must have: a "
                        "URI or a cosign short name (custom, slsaprovenance, spdx, spdxjson, cyclonedx, ...)")
    bool_flag(parser, "--check-claims", "the blob must be a subject of the statement (default true); false: only "
              "the envelope is verified", default=True)
    parser.add_argument("--digest", metavar="HEX", help="the blob's digest instead of the file (with --digestAlg)")
    parser.add_argument("--digestAlg", dest="digest_alg", metavar="ALG", help="sha256, sha384 or sha512 (with "
                        "--digest)")
    bool_flag(parser, "--new-bundle-format", "accepted for cosign compatibility: a Sigstore bundle is read as one, "
              "a legacy bundle as one", default=True)
    common.add_trust_flags(parser)
    common.add_identity_flags(parser)
    common.add_insecure_flags(parser)
    parser.set_defaults(run=run_attestation)


def run_attestation(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli import common
    from airlock.errors import UsageError
    from airlock.formats.cosign import PREDICATE_TYPES

    if not args.bundle and not args.signature:
        raise UsageError("nothing to verify: pass --bundle FILE or --signature FILE (a DSSE envelope)")
    artifact = None
    if args.check_claims:
        if args.artifact:
            if args.digest:
                print("WARNING: --digest is ignored: the file given is hashed instead", file=sys.stderr)
            artifact = api.Artifact.from_path(args.artifact)
        elif args.digest and args.digest_alg:
            artifact = api.Artifact.from_digest(f"{args.digest_alg.lower()}:{args.digest}")
        else:
            raise UsageError("name the blob (FILE, or --digest HEX --digestAlg sha256) that the attestation must be "
                             "about, or verify only the envelope with --check-claims=false")
    elif args.artifact or args.digest:
        print("WARNING: --check-claims=false: the attestation is NOT checked to be about "
              f"{args.artifact or args.digest}; only its envelope is verified", file=sys.stderr)
    else:
        print("WARNING: --check-claims=false: only the envelope is verified, not which artifact it is about",
              file=sys.stderr)
    policy = common.signer(args)
    options = common.options(args)
    bundle = common.read_file(args.bundle, "--bundle") if args.bundle else None
    envelope = common.read_file(args.signature, "--signature") if args.signature else None
    where = f"--signature {args.signature}" if envelope is not None else f"--bundle {args.bundle}"
    material = api.attestation_material(bundle=bundle, envelope=envelope, where=where)
    trusted_root = common.load_trust_for(args, policy, options)
    verdict = api.verify_blob_attestation(artifact, material, predicate_type=PREDICATE_TYPES.get(args.type, args.type),
                                          policy=policy, trusted_root=trusted_root, options=options)
    for warning in verdict.warnings:
        print(warning, file=sys.stderr)
    verdict.raise_for_failure()
    print("Verified OK", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli import common

    policy = common.signer(args)
    options = common.options(args)
    trusted_root = common.load_trust_for(args, policy, options)
    material = _material(args)
    artifact = api.blob_artifact(args.artifact)
    verdict = api.verify_blob(artifact, material, trusted_root=trusted_root, policy=policy, options=options)
    for warning in verdict.warnings:
        print(warning, file=sys.stderr)
    if args.output == "json":
        print(json.dumps(_report(verdict, artifact), indent=2))
    verdict.raise_for_failure()
    print("Verified OK", file=sys.stderr)
    return 0


def _material(args: argparse.Namespace):
    import base64
    import binascii

    from airlock.cli.common import read_file
    from airlock.errors import FormatError, UsageError
    from airlock.formats.bundle import parse_signature_file
    from airlock.material import Material, MessageSignature

    material = parse_signature_file(read_file(args.bundle, "--bundle")) if args.bundle else None
    if args.signature:
        raw = read_file(args.signature, "--signature") if os.path.exists(args.signature) else args.signature.encode()
        try:
            signature = base64.b64decode(raw.strip(), validate=True)
        except (binascii.Error, ValueError):
            signature = raw
        content = MessageSignature(signature=signature)
        material = material._replace(content=content) if material else Material(content=content)
    if material is None:
        raise UsageError("nothing to verify: pass --bundle (or --signature)")
    if args.certificate:
        from cryptography import x509

        data = read_file(args.certificate, "--certificate")
        try:
            pem = b"-----BEGIN" in data
            leaf = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
        except ValueError as exc:
            raise FormatError(f"--certificate {args.certificate}: not a certificate") from exc
        chain = [leaf]
        if args.certificate_chain:
            try:
                chain += x509.load_pem_x509_certificates(read_file(args.certificate_chain, "--certificate-chain"))
            except ValueError as exc:
                raise FormatError(f"--certificate-chain {args.certificate_chain}: not PEM certificates") from exc
        material = material._replace(certificate_chain=tuple(chain))
    return material


def _report(verdict, artifact) -> dict:
    report = {
        "artifact": artifact.label,
        "verified": verdict.ok,
        "checks": [{"check": name, "result": "passed", "detail": detail} for name, detail in verdict.checks],
        "signingTimes": [t.isoformat() for t in verdict.signing_times],
    }
    if verdict.identity:
        report["identity"] = verdict.identity
        report["issuer"] = verdict.issuer
    if verdict.failure is not None:
        report["error"] = {"check": verdict.failure.check, "reason": verdict.failure.reason}
    if verdict.warnings:
        report["warnings"] = verdict.warnings
    return report
