"""Flags and set-up shared by every verifying command (verify-blob, verify, verify-attestation)."""

from __future__ import annotations

import argparse
import sys

GITHUB_FLAGS = ("trigger", "sha", "name", "repository", "ref")


def _age(text: str):
    from airlock.trust.source import parse_age

    return parse_age(text)


def annotation(text: str) -> tuple[str, str]:
    """``-a key=value``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return key, value


def _timeout(text: str) -> float:
    from airlock.errors import UsageError
    from airlock.oci.registry import parse_timeout

    try:
        return parse_timeout(text, "--timeout")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


TIMEOUT_HELP = ("deadline of each registry request (connecting, the answer and its body), as seconds or a Go "
                "duration: 90s, 5m, 1m30s, 1h (at most 24h); a blob transfer also gets 1s per MiB of its size; "
                "default $AIRLOCK_REGISTRY_TIMEOUT, else 60s. cosign's --timeout bounds the whole command instead "
                "(default 3m)")


def add_timeout_flags(root: argparse.ArgumentParser, commands: argparse._SubParsersAction) -> None:
    """``-t``/``--timeout DURATION`` (cosign's), before the command (``airlock -t 90s verify ...``, as
    cosign's persistent flag) or after it on every command that reads a registry: those with
    ``--allow-insecure-registry``, subcommands included (``download signature``, ``attach signature``).
    Call once every command is registered."""
    root.add_argument("-t", "--timeout", type=_timeout, metavar="DURATION", help=TIMEOUT_HELP)
    _add_timeout_flag(commands)


def _add_timeout_flag(commands: argparse._SubParsersAction) -> None:
    for parser in commands.choices.values():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_timeout_flag(action)
        if "--allow-insecure-registry" in parser._option_string_actions and \
                "--timeout" not in parser._option_string_actions:
            # SUPPRESS: not given here, the value given before the command (or None) stays
            parser.add_argument("-t", "--timeout", type=_timeout, metavar="DURATION", default=argparse.SUPPRESS,
                                help=TIMEOUT_HELP)


def jobs(text: str) -> int:
    """``--jobs N``: a number of worker processes, at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return int(text)


def add_trust_flags(parser: argparse.ArgumentParser) -> None:
    from airlock.cli import bool_flag

    parser.add_argument("--trusted-root", metavar="FILE", help="trusted_root.json to verify against (default: "
                        "the TUF mirror under $TUF_ROOT, re-verified offline first)")
    parser.add_argument("--max-age", type=_age, metavar="AGE", help="refuse a TUF mirror older than this (e.g. 90d)")
    parser.add_argument("--warn-age", type=_age, metavar="AGE", help="warn when the TUF mirror is older (30d)")
    bool_flag(parser, "--offline", "verify without network access (always the case for Sigstore services; "
              "accepted for cosign compatibility)", default=True)


def add_identity_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("keyless identity")
    group.add_argument("--certificate-identity", metavar="ID", help="exact identity (certificate SAN)")
    group.add_argument("--certificate-identity-regexp", metavar="RE", help="RE2 regexp the identity must match, "
                       "anywhere in it as in cosign: anchor it with ^...$")
    group.add_argument("--certificate-oidc-issuer", metavar="URL", help="exact OIDC issuer")
    group.add_argument("--certificate-oidc-issuer-regexp", metavar="RE", help="RE2 regexp the issuer must match, "
                       "anywhere in it as in cosign: anchor it with ^...$")
    for name in GITHUB_FLAGS:
        group.add_argument(f"--certificate-github-workflow-{name}", metavar="V",
                           help=f"GitHub workflow {name} the certificate must carry")


def add_insecure_flags(parser: argparse.ArgumentParser) -> None:
    from airlock.cli import bool_flag

    group = parser.add_argument_group("insecure (each is reported as a warning)")
    bool_flag(group, "--insecure-ignore-tlog", "do not require or check transparency log entries")
    bool_flag(group, "--insecure-ignore-sct", "do not require an embedded SCT")


def load_trust(args: argparse.Namespace):
    """The trusted root for this command, after printing any trust warnings."""
    from airlock.trust import source

    if args.offline is False:
        print("WARNING: --offline=false: airlock never contacts Rekor or Fulcio; verifying offline",
              file=sys.stderr)
    trusted_root, warnings = source.load(args.trusted_root, max_age=args.max_age,
                                         warn_age=args.warn_age or source.WARN_AGE)
    for warning in warnings:
        print(warning, file=sys.stderr)
    return trusted_root


def load_trust_for(args: argparse.Namespace, policy, options):
    """The trusted root, or None when none is needed: a key and no transparency log (``--key ...
    --insecure-ignore-tlog``) involve no trust material, so cosign reads none, and neither does
    airlock (no TUF mirror is read, expired or not). ``--trusted-root`` is still read when given."""
    from airlock.verify.policy import Key

    key = isinstance(policy, Key)
    if key and options.insecure_ignore_tlog and not args.trusted_root:
        if args.offline is False:
            print("WARNING: --offline=false: airlock never contacts Rekor or Fulcio; verifying offline",
                  file=sys.stderr)
        return None
    if not key or args.trusted_root:
        return load_trust(args)
    from airlock.errors import AirlockError

    try:
        return load_trust(args)
    except AirlockError as exc:  # say the way out that needs no trust root, keeping the exit code
        hint = AirlockError(f"{exc} (a key-signed signature with no transparency log entry verifies with --key "
                            "and --insecure-ignore-tlog, which need no trusted root)")
        hint.exit_code = exc.exit_code
        raise hint from exc


def registry_client(args: argparse.Namespace):
    """The registry client for ``--allow-insecure-registry`` and ``--timeout`` (else
    ``$AIRLOCK_REGISTRY_TIMEOUT``), after warning of an insecure registry."""
    from airlock.oci.sources import registry_client as client

    if getattr(args, "allow_insecure_registry", False):
        print("WARNING: --allow-insecure-registry: plain HTTP and unverified TLS to the registry",
              file=sys.stderr)
    elif getattr(args, "allow_http_registry", False):
        print("WARNING: --allow-http-registry: plain HTTP to the registry when HTTPS fails", file=sys.stderr)
    return client(insecure=bool(getattr(args, "allow_insecure_registry", False)),
                  allow_http=bool(getattr(args, "allow_http_registry", False)),
                  timeout=getattr(args, "timeout", None))


def read_file(path: str, flag: str) -> bytes:
    from airlock.errors import UsageError

    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from exc


def verification_key(reference: str):
    """The public key ``--key`` names, as cosign reads it for verification: a ``pkcs11:`` URI or an
    ``awskms://`` reference (the signer's own public key: the token's public key object or
    certificate, KMS GetPublicKey), else a PEM public key file. Other ``scheme://`` references are
    refused with the supported list."""
    import re

    if reference.lower().startswith("pkcs11:") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", reference):
        from airlock.sign.signers import signer_from_uri

        return signer_from_uri(reference).public_key()
    return read_file(reference, "--key")


def signer(args: argparse.Namespace):
    """The policy the flags ask for: ``Key`` for --key, else ``Identity`` (keyless verification)."""
    from airlock.verify.policy import Identity, Key

    if getattr(args, "key", None):
        return Key(verification_key(args.key))
    github = {n: getattr(args, f"certificate_github_workflow_{n}") for n in GITHUB_FLAGS
              if getattr(args, f"certificate_github_workflow_{n}") is not None}
    policy = Identity(identity=args.certificate_identity, identity_regexp=args.certificate_identity_regexp,
                      issuer=args.certificate_oidc_issuer, issuer_regexp=args.certificate_oidc_issuer_regexp,
                      github_workflow=github)
    for warning in policy.warnings:
        print(warning, file=sys.stderr)
    return policy


def options(args: argparse.Namespace):
    from airlock.verify.verifier import VerificationOptions

    return VerificationOptions(insecure_ignore_tlog=args.insecure_ignore_tlog,
                               insecure_ignore_sct=args.insecure_ignore_sct)


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value) -> str:
    """``value`` as Go's ``encoding/json`` marshals it, so output matches cosign's byte for byte: compact,
    keys in the order given (a Go struct's field order; ``go_sorted`` for a Go map), UTF-8 unescaped,
    ``<``, ``>``, ``&``, U+2028 and U+2029 escaped as \\uXXXX (they occur only inside strings), and a
    lone surrogate replaced by U+FFFD as Go does."""
    import json
    import re

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = re.sub("[<>&\u2028\u2029]", lambda m: _GO_ESCAPES[m.group()], text)
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def go_sorted(value):
    """A decoded JSON value as Go re-marshals it after decoding into ``interface{}``: objects become maps,
    whose keys Go writes sorted."""
    if isinstance(value, dict):
        return {k: go_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [go_sorted(v) for v in value]
    return value
