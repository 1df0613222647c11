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
Key-signed signatures:
  airlock verify-blob artifact.tgz --bundle artifact.bundle --key cosign.pub --trusted-root trusted_root.json
"""

GITHUB_FLAGS = ("trigger", "sha", "name", "repository", "ref")


def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag

    parser = commands.add_parser("verify-blob", help="verify a signature on a blob or digest, offline",
                                 description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", metavar="FILE_OR_DIGEST", help="the signed file, or sha256:<hex>")
    parser.add_argument("--bundle", metavar="FILE", help="Sigstore bundle or legacy cosign bundle")
    parser.add_argument("--trusted-root", metavar="FILE", help="trusted_root.json to verify against (default: "
                        "the TUF mirror under $TUF_ROOT, re-verified offline first)")
    parser.add_argument("--max-age", type=_age, metavar="AGE", help="refuse a TUF mirror older than this (e.g. 90d)")
    parser.add_argument("--warn-age", type=_age, metavar="AGE", help="warn when the TUF mirror is older (30d)")
    bool_flag(parser, "--offline", "verify without network access (always the case; accepted for cosign "
              "compatibility)", default=True)
    group = parser.add_argument_group("keyless identity")
    group.add_argument("--certificate-identity", metavar="ID", help="exact identity (certificate SAN)")
    group.add_argument("--certificate-identity-regexp", metavar="RE", help="regexp the whole identity must match")
    group.add_argument("--certificate-oidc-issuer", metavar="URL", help="exact OIDC issuer")
    group.add_argument("--certificate-oidc-issuer-regexp", metavar="RE", help="regexp the whole issuer must match")
    for name in GITHUB_FLAGS:
        group.add_argument(f"--certificate-github-workflow-{name}", metavar="V",
                           help=f"GitHub workflow {name} the certificate must carry")
    group = parser.add_argument_group("signature material")
    group.add_argument("--key", metavar="PUB", help="public key (PEM) for key-signed material")
    group.add_argument("--signature", metavar="SIG", help="signature file or literal (raw or base64)")
    group.add_argument("--certificate", metavar="CERT", help="signing certificate (PEM or DER)")
    group.add_argument("--certificate-chain", metavar="CHAIN", help="PEM intermediates (never trusted as anchors)")
    group = parser.add_argument_group("insecure (each is reported as a warning)")
    bool_flag(group, "--insecure-ignore-tlog", "do not require or check transparency log entries")
    bool_flag(group, "--insecure-ignore-sct", "do not require an embedded SCT")
    parser.add_argument("--output", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from airlock.verify.policy import IdentityPolicy
    from airlock.verify.verifier import VerificationOptions, Verifier

    if args.offline is False:
        print("WARNING: --offline=false: airlock never contacts Rekor or Fulcio; verifying offline",
              file=sys.stderr)
    from airlock.trust import source

    trusted_root, trust_warnings = source.load(args.trusted_root, max_age=args.max_age,
                                               warn_age=args.warn_age or source.WARN_AGE)
    for warning in trust_warnings:
        print(warning, file=sys.stderr)
    material = _material(args)
    artifact = _artifact(args.artifact)

    key = _read(args.key, "--key") if args.key else None
    policy = None
    github = {n: getattr(args, f"certificate_github_workflow_{n}") for n in GITHUB_FLAGS
              if getattr(args, f"certificate_github_workflow_{n}") is not None}
    if key is None:
        policy = IdentityPolicy(identity=args.certificate_identity, identity_regexp=args.certificate_identity_regexp,
                                issuer=args.certificate_oidc_issuer, issuer_regexp=args.certificate_oidc_issuer_regexp,
                                github_workflow=github)
    options = VerificationOptions(insecure_ignore_tlog=args.insecure_ignore_tlog,
                                  insecure_ignore_sct=args.insecure_ignore_sct)
    verdict = Verifier(trusted_root).verify(material, artifact, policy=policy, key=key, options=options)
    for warning in verdict.warnings:
        print(warning, file=sys.stderr)
    if args.output == "json":
        print(json.dumps(_report(verdict, artifact), indent=2))
    verdict.raise_for_failure()
    print("Verified OK", file=sys.stderr)
    return 0


def _age(text: str):
    from airlock.trust.source import parse_age

    return parse_age(text)


def _artifact(text: str):
    from airlock.verify.artifact import Artifact

    if text.startswith(("sha256:", "sha384:", "sha512:")) and not os.path.exists(text):
        return Artifact.from_digest(text)
    return Artifact.from_path(text)


def _read(path: str, flag: str) -> bytes:
    from airlock.errors import UsageError

    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from exc


def _material(args: argparse.Namespace):
    import base64
    import binascii

    from cryptography import x509

    from airlock.errors import FormatError, UsageError
    from airlock.formats.bundle import parse_signature_file
    from airlock.verify.material import Material, MessageSignature

    material = parse_signature_file(_read(args.bundle, "--bundle")) if args.bundle else None
    if args.signature:
        raw = _read(args.signature, "--signature") if os.path.exists(args.signature) else args.signature.encode()
        try:
            signature = base64.b64decode(raw.strip(), validate=True)
        except (binascii.Error, ValueError):
            signature = raw
        content = MessageSignature(signature=signature)
        material = material._replace(content=content) if material else Material(content=content)
    if material is None:
        raise UsageError("nothing to verify: pass --bundle (or --signature)")
    if args.certificate:
        data = _read(args.certificate, "--certificate")
        try:
            pem = b"-----BEGIN" in data
            leaf = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
        except ValueError as exc:
            raise FormatError(f"--certificate {args.certificate}: not a certificate") from exc
        chain = [leaf]
        if args.certificate_chain:
            chain += x509.load_pem_x509_certificates(_read(args.certificate_chain, "--certificate-chain"))
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
