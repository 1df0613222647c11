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

    from cryptography import x509

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
