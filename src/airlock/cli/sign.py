"""Signing commands, cosign-compatible: generate, sign, sign-blob, attach signature, attest, clean.

Keys come from ``--key``: a cosign.key file (password from COSIGN_PASSWORD or a prompt), or a
provider URI (``pkcs11:...``, ``awskms://...``). Signing with a key inside the air gap has no
Rekor, so nothing is uploaded to a transparency log and the results verify with ``--key ...
--insecure-ignore-tlog``. Without ``--key``, ``sign``, ``sign-blob`` and ``attest`` sign keyless
against a Sigstore instance (Fulcio, Rekor v2, a TSA: ``--signing-config`` or the URLs), as cosign
does, for the connected side or an organisation's own instance (``airlock.api.keyless_signer``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

SIGN_HELP = """\
Sign a container image (by digest: a tag is resolved first) with a key, and attach the signature:
a Sigstore bundle as an OCI referrer (cosign v3's default; on a registry without the referrers
API, the tag sha256-<hex>), or with --new-bundle-format=false a layer of the image's
sha256-<hex>.sig manifest (the legacy cosign format). --bundle FILE also writes the signature to
FILE. Works on a registry or on an OCI layout (--local-image DIR), for teams that sign inside the
air gap.

  airlock sign --key cosign.key -a env=prod registry.internal/app@sha256:...
  airlock sign --key cosign.key --local-image ./layout
  airlock sign --key cosign.key --bundle app.sigstore.json registry.internal/app@sha256:...
  airlock sign --key cosign.key --new-bundle-format=false registry.internal/app@sha256:...
  airlock sign --key 'pkcs11:token=ci;object=signing?module-path=/usr/lib/softhsm/libsofthsm2.so' IMAGE

Without --key, keyless, as cosign v3 signs in CI (an OIDC token, a Fulcio certificate for an
ephemeral key, a Rekor v2 entry and an RFC 3161 timestamp, all in a Sigstore bundle referrer):

  airlock sign --identity-token "$TOKEN" --signing-config signing_config.json \
      --trusted-root trusted_root.json --bundle checkout.bundle --yes registry.internal/app@sha256:...
"""


def _image_flags(parser: argparse.ArgumentParser) -> None:
    from airlock.cli import bool_flag

    parser.add_argument("--local-image", metavar="DIR", help="sign an image in an OCI layout instead of a registry")
    bool_flag(parser, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")


def _offline_flags(parser: argparse.ArgumentParser) -> None:
    """cosign's Rekor, confirmation and keyless flags."""
    from airlock.cli import bool_flag

    bool_flag(parser, "--tlog-upload", "upload to Rekor: keyless signing always does; signing with --key never "
              "does (offline), so there only false is accepted", default=None)
    bool_flag(parser, "--yes", "skip the confirmation that keyless signing records the identity in public logs")
    parser.add_argument("-y", dest="yes", action="store_true", help=argparse.SUPPRESS)
    group = parser.add_argument_group("keyless signing (without --key)")
    group.add_argument("--identity-token", metavar="TOKEN", help="OIDC identity token, or a file holding it "
                       "(default: $SIGSTORE_ID_TOKEN, else the GitHub Actions token when the job may request one)")
    group.add_argument("--signing-config", metavar="FILE", help="Sigstore SigningConfig v0.2: the Fulcio, Rekor v2 "
                       "and TSA URLs (airlock signing-config create); or the three --*-url flags, not both")
    group.add_argument("--fulcio-url", metavar="URL", help="Fulcio (its /api/v2/signingCert is used)")
    group.add_argument("--rekor-url", metavar="URL", help="Rekor v2 (its /api/v2/log/entries is used; cosign's "
                       "--rekor-url speaks Rekor v1)")
    group.add_argument("--timestamp-server-url", metavar="URL", help="RFC 3161 timestamp authority (full URL, "
                       "e.g. https://tsa.example/api/v1/timestamp); Rekor v2 entries need one")
    if "--trusted-root" not in parser._option_string_actions:
        group.add_argument("--trusted-root", metavar="FILE", help="trusted_root.json the certificate, the log entry "
                           "and the timestamp are checked against before anything is written (default: the TUF "
                           "mirror under $TUF_ROOT)")


def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag, common

    generate = commands.add_parser("generate", help="print the simple-signing payload for an image")
    generate.add_argument("image", metavar="IMAGE")
    generate.add_argument("-a", "--annotations", action="append", type=common.annotation,
                          default=[], metavar="KEY=VALUE")
    _image_flags(generate)
    generate.set_defaults(run=run_generate)

    sign = commands.add_parser("sign", help="sign an image (with a key, or keyless) and attach the signature",
                               description=SIGN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sign.add_argument("images", nargs="*", metavar="IMAGE")
    sign.add_argument("--key", metavar="KEY", help="cosign.key, or pkcs11:/awskms:// URI (without it: keyless)")
    sign.add_argument("-a", "--annotations", action="append", type=common.annotation,
                      default=[], metavar="KEY=VALUE",
                      help="annotation to sign into the payload (repeatable)")
    sign.add_argument("--payload", metavar="FILE", help="with --new-bundle-format=false: sign this simple-signing "
                      "payload instead of generating one")
    bool_flag(sign, "--upload", "attach the signature (false: only write --bundle / --output-signature / "
              "--output-payload, as cosign)", default=True)
    sign.add_argument("--output-signature", metavar="FILE", help="also write the base64 signature here")
    sign.add_argument("--output-payload", metavar="FILE", help="also write the signed payload here")
    sign.add_argument("--output-certificate", metavar="FILE", help="keyless: also write the signing certificate "
                      "(PEM) here; with --key nothing is written (keys have no certificate)")
    sign.add_argument("--bundle", metavar="FILE", help="also write everything needed to verify the image to FILE: "
                      "the Sigstore bundle, as cosign v3 does; with --new-bundle-format=false, cosign's legacy "
                      "signed-payload JSON "
                      "({\"base64Signature\": ...}, for verify-blob --bundle FILE over the --output-payload)")
    _offline_flags(sign)
    bool_flag(sign, "--new-bundle-format", "attach a Sigstore bundle referrer (default, as cosign v3); false: a "
              "legacy .sig layer", default=True)
    _image_flags(sign)
    sign.set_defaults(run=run_sign)

    blob = commands.add_parser("sign-blob", help="sign a file (with a key, or keyless)")
    blob.add_argument("file", metavar="FILE")
    blob.add_argument("--key", metavar="KEY", help="cosign.key, or pkcs11:/awskms:// URI (without it: keyless)")
    blob.add_argument("--bundle", metavar="FILE",
                      help="write a bundle (Sigstore v0.3 unless --new-bundle-format=false)")
    bool_flag(blob, "--new-bundle-format", "write a Sigstore bundle (true, cosign v3's default) or cosign's legacy "
              "bundle JSON (false)", default=True)
    blob.add_argument("--output-signature", "--output", dest="output_signature", metavar="FILE",
                      help="write the signature here")
    bool_flag(blob, "--b64", "base64-encode the printed/written signature", default=True)
    _offline_flags(blob)
    blob.set_defaults(run=run_sign_blob)

    attach = commands.add_parser("attach", help="attach a signature made elsewhere (attach signature IMAGE)")
    what = attach.add_subparsers(dest="attach_what", metavar="WHAT")
    signature = what.add_parser("signature", help="attach a signature and its payload to an image")
    signature.add_argument("image", metavar="IMAGE")
    signature.add_argument("--payload", "--bundle", dest="payload", metavar="FILE",
                           help="the payload that was signed (default: the simple-signing payload cosign generates "
                           "for the image digest, with a warning); or a Sigstore bundle of a statement about the "
                           "image (sign --upload=false --bundle FILE), attached as a bundle referrer as cosign v3 "
                           "does, without --signature")
    signature.add_argument("--signature", metavar="FILE",
                           help="the signature file, or - for standard input: base64 (one line, or wrapped as "
                           "base64(1) writes it) or the raw signature bytes (as openssl dgst -sign writes them)")
    signature.add_argument("--certificate", metavar="FILE", help="signing certificate (PEM) to attach with it")
    signature.add_argument("--certificate-chain", metavar="FILE", help="its chain (PEM)")
    _image_flags(signature)
    signature.set_defaults(run=run_attach_signature)
    attach.set_defaults(run=lambda args: attach.print_help(sys.stderr) or 2)

    attest = commands.add_parser("attest", help="sign an in-toto attestation about an image and attach it")
    attest.add_argument("images", nargs="*", metavar="IMAGE")
    attest.add_argument("--key", metavar="KEY", help="cosign.key, or pkcs11:/awskms:// URI (without it: keyless)")
    attest.add_argument("--predicate", required=True, metavar="FILE")
    attest.add_argument("--type", default="custom", metavar="TYPE", help="predicate type URI or short name")
    attest.add_argument("--bundle", metavar="FILE", help="also write the Sigstore bundle to FILE, as cosign v3 does")
    bool_flag(attest, "--new-bundle-format", "attach a Sigstore bundle referrer (default, as cosign v3); false: a "
              "legacy .att layer", default=True)
    _offline_flags(attest)
    _image_flags(attest)
    attest.set_defaults(run=run_attest)

    blob_attest = commands.add_parser("attest-blob", help="sign an in-toto attestation about a file with a key")
    blob_attest.add_argument("file", metavar="FILE")
    blob_attest.add_argument("--key", metavar="KEY", help="cosign.key, or pkcs11:/awskms:// URI (required: keyless "
                             "signing needs Fulcio and Rekor)")
    blob_attest.add_argument("--predicate", required=True, metavar="FILE")
    blob_attest.add_argument("--type", default="custom", metavar="TYPE", help="predicate type URI or short name")
    blob_attest.add_argument("--bundle", metavar="FILE", help="write the attestation here: a Sigstore bundle "
                             "(required, as in cosign), or with --new-bundle-format=false cosign's legacy bundle")
    bool_flag(blob_attest, "--new-bundle-format", "write a Sigstore bundle (default, as cosign v3); false: print the "
              "bare DSSE envelope (and --bundle gets cosign's legacy bundle)", default=True)
    blob_attest.add_argument("--output-signature", "--output-attestation", dest="output_signature", metavar="FILE",
                             help="with --new-bundle-format=false: write the DSSE envelope here instead of printing it")
    _offline_flags(blob_attest)
    blob_attest.set_defaults(run=run_attest_blob)

    clean = commands.add_parser("clean", help="remove an image's signatures, attestations and bundles")
    clean.add_argument("image", metavar="IMAGE")
    clean.add_argument("--type", default="all", choices=("all", "signature", "attestation", "sbom"))
    bool_flag(clean, "--force", "do not ask for confirmation")
    _image_flags(clean)
    clean.set_defaults(run=run_clean)


# -- helpers -----------------------------------------------------------------------------------------

def load_signer(reference: str) -> Any:
    """A Signer for ``--key``: a provider URI, or a cosign.key file (password from COSIGN_PASSWORD or a prompt)."""
    from airlock.sign import signers

    if reference.startswith("pkcs11:") or "://" in reference:
        return signers.signer_from_uri(reference)
    from airlock.sign import keys

    return signers.FileSigner(keys.load_private_key_file(reference))  # asks for the password once the file parses


PRIVACY = ("Keyless signing records your identity ({identity}, from {issuer}) in a certificate from {fulcio} and "
           "in the transparency log at {rekor}: publicly and permanently, where the instance is public.")


def keyless_token(args: argparse.Namespace) -> str | None:
    """The identity token (``--identity-token``, a literal or a file, else ``$SIGSTORE_ID_TOKEN``;
    None: the ambient GitHub Actions token will be asked for). Checked before anything else, so a
    missing token is the error a keyless command without one reports."""
    from airlock.api.signing import NO_TOKEN
    from airlock.cli.common import read_file
    from airlock.errors import UsageError

    if args.tlog_upload is False:
        raise UsageError("--tlog-upload=false: keyless signing needs the transparency log (its entry is what makes "
                         "a short-lived certificate verifiable); sign with --key to sign without Rekor")
    token = args.identity_token or os.environ.get("SIGSTORE_ID_TOKEN")
    if token and os.path.isfile(token):
        token = read_file(token, "--identity-token").decode("utf-8", "replace").strip()
    if not token and not (os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
                          and os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")):
        raise UsageError(NO_TOKEN)
    return token


def keyless_signer(args: argparse.Namespace, token: str | None) -> Any:
    """The keyless session for ``sign``/``sign-blob``/``attest`` without ``--key``: the trusted
    root, the services, then the confirmation (cosign asks unless --yes, and takes an empty or
    absent standard input as a refusal)."""
    from airlock import api
    from airlock.cli.common import read_file
    from airlock.errors import UsageError
    from airlock.trust import source

    trusted_root, warnings = source.load(args.trusted_root)
    for warning in warnings:
        _say(warning)
    config = read_file(args.signing_config, "--signing-config") if args.signing_config else None
    signer = api.keyless_signer(trusted_root, identity_token=token, signing_config=config,
                                fulcio_url=args.fulcio_url, rekor_url=args.rekor_url,
                                timestamp_server_url=args.timestamp_server_url,
                                timeout=getattr(args, "timeout", None) or 30.0)
    if not args.yes:  # the notice goes with the question: with --yes, stderr stays for warnings and the error
        _say(PRIVACY.format(identity=signer.token.identity, issuer=signer.token.issuer,
                            fulcio=signer.services.fulcio_url, rekor=signer.services.rekor_url))
        print("Are you sure you would like to continue? [y/N] ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline() if sys.stdin is not None else ""
        if not answer.endswith("\n"):
            _say("")  # end the question's line before the error
        if answer.strip().lower() not in ("y", "yes"):
            raise UsageError("not confirmed (pass --yes to sign without the question): nothing was signed")
    return signer


def _bundle_targets(args: argparse.Namespace, kind: str) -> list:
    """The images to sign (``kind``: "signature") or attest ("attestation"); with --bundle, exactly one."""
    from airlock.errors import UsageError

    targets = _targets(args, args.images)
    if args.bundle and len(targets) > 1:
        verb = "signed" if kind == "signature" else "attested"
        raise UsageError(f"--bundle {args.bundle}: one bundle file holds the {kind} of one image, and "
                         f"{len(targets)} images are to be {verb}; {verb[:-2]} them one at a time")
    return targets


def _keyless_format(args: argparse.Namespace) -> None:
    from airlock.errors import UsageError

    if args.new_bundle_format is False:
        raise UsageError("--new-bundle-format=false: keyless signing logs to Rekor v2, whose entries only a Sigstore "
                         "bundle carries; drop --new-bundle-format=false")


def _no_tlog(args: argparse.Namespace) -> None:
    from airlock.errors import UsageError

    if args.tlog_upload:
        raise UsageError("--tlog-upload=true: airlock signs offline and cannot reach Rekor; use --tlog-upload=false "
                         "(verify with --insecure-ignore-tlog)")


def _targets(args: argparse.Namespace, images: list[str]) -> list:
    """The images to sign (``airlock.api.signing.SigningTarget``), in a registry or a layout."""
    from airlock import api
    from airlock.cli import common
    from airlock.errors import UsageError

    if args.local_image:
        return api.signing_targets(images, layout=args.local_image, label=f"--local-image {args.local_image}")
    if not images:
        raise UsageError("name an image (or use --local-image DIR)")
    return api.signing_targets(images, client=common.registry_client(args))


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    from airlock.errors import AirlockError
    from airlock.files import atomic_write

    try:
        atomic_write(path, data, mode)
    except OSError as exc:
        raise AirlockError(f"cannot write {path}: {exc.strerror or exc}") from None


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _stdout(data: bytes) -> None:
    """Bytes to standard output, exactly (also when stdout is a text stream, as under tests)."""
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode("utf-8", "surrogateescape"))
    else:
        sys.stdout.flush()
        out.write(data)
        out.flush()


# -- commands ------------------------------------------------------------------------------------------

def run_generate(args: argparse.Namespace) -> int:
    from airlock.formats.cosign import simplesigning_payload

    for image in _targets(args, [args.image]):
        _stdout(simplesigning_payload(image.name, image.digest, dict(args.annotations) or None))
    return 0


def run_sign(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.errors import UsageError
    from airlock.sign import bundles

    if not args.key:
        return _sign_keyless(args)
    _no_tlog(args)
    signer = load_signer(args.key)
    public_pem = signer.public_key_pem()
    annotations = dict(args.annotations)
    new_format = args.new_bundle_format
    if args.payload and new_format:  # cosign v3 ignores --payload then, and signs its own statement
        raise UsageError(f"--payload {args.payload}: a bundle signs cosign's in-toto statement, not a given payload; "
                         "sign a simple-signing payload with --new-bundle-format=false")
    if new_format and not args.upload and not args.bundle:  # as cosign: the bundle would go nowhere
        raise UsageError("--upload=false with the new bundle format writes the bundle to a file: add --bundle FILE "
                         "(or attach it: --upload=true)")
    targets = _bundle_targets(args, "signature")
    payload = None
    if args.payload:
        from airlock.cli.common import read_file

        _say(f"Using payload from: {args.payload}")  # cosign's line
        payload = read_file(args.payload, "--payload")
    with api.signing_batch(targets):  # a layout's index.json is written once, not per image
        for image in targets:
            signed = api.make_signature(image, signer, annotations=annotations, new_bundle_format=new_format,
                                        payload=payload, public_pem=public_pem)
            if args.bundle:
                if new_format:
                    assert signed.bundle is not None, "the new format makes a bundle"
                    _write(args.bundle, signed.bundle, 0o600)
                else:  # cosign's LocalSignedPayload; a key-signed signature has no cert or Rekor bundle
                    _write(args.bundle, json.dumps({"base64Signature": bundles.b64(signed.signature)},
                                                   separators=(",", ":")).encode(), 0o600)
                _say(f"Wrote bundle to file {args.bundle}")
            if args.upload:
                _say(f"Pushing signature to: {image.name}")  # cosign's line
                api.attach(image, signed, signer)
                if new_format:
                    _say(f"Signed {image.name}@{image.digest}: bundle referrer {signed.referrer}")
                else:
                    _say(f"{'Signed' if signed.added else 'Already signed'} {image.name}@{image.digest}")
            if args.output_signature:
                _write(args.output_signature, bundles.b64(signed.signature).encode())
            if args.output_payload:
                _write(args.output_payload, signed.payload)
    return 0


def _sign_keyless(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.errors import UsageError
    from airlock.sign import bundles

    token = keyless_token(args)
    _keyless_format(args)
    if args.payload:
        raise UsageError("--payload: keyless signing signs cosign v3's statement about the image (a Sigstore "
                         "bundle), not a payload file")
    targets = _bundle_targets(args, "signature")
    signer = keyless_signer(args, token)
    with api.signing_batch(targets):
        for image in targets:
            signed = api.sign_image_keyless(image, signer, annotations=dict(args.annotations), upload=args.upload)
            _keyless_outputs(args, signer, signed.bundle)
            if args.upload:
                _say(f"Signed {image.name}@{image.digest} keyless: bundle referrer {signed.referrer}")
            else:
                print(bundles.b64(signed.signature))
            if args.output_payload:
                _write(args.output_payload, signed.payload)
    return 0


def _keyless_outputs(args: argparse.Namespace, signer: Any, bundle: bytes | None) -> None:
    """--bundle, --output-signature, --output-certificate: written only once the bundle verified."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from airlock import _wire

    assert bundle is not None, "keyless signing always makes a bundle"
    if args.bundle:
        _write(args.bundle, bundle, 0o600)
        _say(f"Wrote bundle to file {args.bundle}")
    if getattr(args, "output_signature", None):
        document = _wire.loads(bundle, "the bundle")
        content = document.get("messageSignature") or document["dsseEnvelope"]["signatures"][0]
        _write(args.output_signature, (content.get("signature") or content["sig"]).encode())
        _say(f"Wrote signature to file {args.output_signature}")
    if getattr(args, "output_certificate", None):
        _write(args.output_certificate, signer.certificate.public_bytes(Encoding.PEM))
        _say(f"Wrote certificate to file {args.output_certificate}")


def _sign_blob_keyless(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli.common import read_file
    from airlock.errors import UsageError

    token = keyless_token(args)
    _keyless_format(args)
    if not args.bundle:
        raise UsageError("keyless sign-blob needs --bundle FILE: the signature alone, without its certificate, log "
                         "entry and timestamp, verifies nothing")
    data = read_file(args.file, "FILE")
    signer = keyless_signer(args, token)
    _keyless_outputs(args, signer, api.sign_blob_keyless(data, signer))
    return 0


def run_sign_blob(args: argparse.Namespace) -> int:
    from airlock.cli.common import read_file
    from airlock.sign import bundles

    if not args.key:
        return _sign_blob_keyless(args)
    _no_tlog(args)
    signer = load_signer(args.key)
    data = read_file(args.file, "FILE")
    signature = signer.sign(data)
    public_pem = signer.public_key_pem()
    if args.bundle:
        if args.new_bundle_format:
            algorithm, digest = _message_digest(signer, data)
            bundle = bundles.message_bundle(signature, digest, public_pem, algorithm)
        else:
            bundle = bundles.legacy_blob_bundle(signature, public_pem)
        _write(args.bundle, json.dumps(bundle).encode(), 0o600)
        _say(f"Wrote bundle to file {args.bundle}")
    encoded = bundles.b64(signature).encode() if args.b64 else signature
    if args.output_signature:
        _write(args.output_signature, encoded)
        _say(f"Wrote signature to file {args.output_signature}")
    elif not args.bundle or not args.new_bundle_format:
        _stdout(encoded + (b"\n" if args.b64 else b""))
    return 0


def _message_digest(signer: Any, data: bytes) -> tuple[str, bytes]:
    import hashlib

    from airlock.crypto import default_hash

    name = default_hash(signer.public_key())
    return {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}[name], hashlib.new(name, data).digest()


def read_signature(reference: str) -> bytes:
    """The signature bytes of ``attach signature --signature``: a file, or ``-`` for standard input.

    cosign stores what it reads as the base64 annotation unchanged and relies on Go's decoder
    skipping line breaks; here base64 (on one line, or wrapped at 76 columns as base64(1) writes
    it) is decoded, and anything that is not text is taken as the raw signature. Text that is not
    base64 is refused rather than attached as a signature that can never verify."""
    import binascii

    from airlock.cli.common import read_file
    from airlock.errors import UsageError

    if reference == "-":
        raw, where = sys.stdin.buffer.read(), "--signature - (standard input)"
    else:
        raw, where = read_file(reference, "--signature"), f"--signature {reference}"
    text = raw.strip()
    if not text:
        raise UsageError(f"{where}: empty signature")
    try:
        return base64.b64decode(text.replace(b"\r", b"").replace(b"\n", b""), validate=True)
    except (binascii.Error, ValueError):
        if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in raw):
            raise UsageError(f"{where}: text that is not base64 (a signature file holds base64 or the raw "
                             "signature bytes)") from None
        return raw  # the raw signature (DER), as `openssl dgst -sign` writes it


def _attach_bundle(args: argparse.Namespace, data: bytes) -> int:
    """cosign v3's attach of a bundle (``--payload`` is a Sigstore bundle): a referrer of the image."""
    from airlock import api
    from airlock.errors import UsageError

    where = f"--payload {args.payload}"
    if args.signature:
        raise UsageError(f"{where} is a Sigstore bundle, which holds its signature: drop --signature")
    subjects = api.bundle_subjects(data, where)
    for image in _targets(args, [args.image]):
        referrer = api.attach_bundle(image, data, where=where, subjects=subjects)
        _say(f"Attached the bundle to {image.name}@{image.digest}: referrer {referrer}")
    return 0


def run_attach_signature(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli.common import read_file
    from airlock.errors import UsageError

    payload = read_file(args.payload, "--payload") if args.payload else None
    if payload is not None and api.is_sigstore_bundle(payload):
        return _attach_bundle(args, payload)
    if not args.signature:
        raise UsageError("--signature FILE (or - for standard input) is required, unless --payload/--bundle is a "
                         "Sigstore bundle")
    signature = read_signature(args.signature)
    certificate = chain = None
    if args.certificate:
        certificate = read_file(args.certificate, "--certificate").decode()
        chain = read_file(args.certificate_chain, "--certificate-chain").decode() if args.certificate_chain else ""
    for image in _targets(args, [args.image]):
        if payload is None:  # cosign's "obsolete implied payload": the simple-signing claims for this digest
            _say(f"WARNING: using obsolete implied signature payload data (with digested reference "
                 f"{image.name}@{image.digest}); specify it explicitly with --payload instead")
        added = api.attach_signature(image, signature, payload, certificate=certificate, chain=chain)
        _say(f"{'Attached a signature to' if added else 'The signature is already on'} {image.name}@{image.digest}")
    return 0


def run_attest(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli.common import read_file
    from airlock.errors import UsageError

    token = None if args.key else keyless_token(args)
    if args.key:
        _no_tlog(args)
    new_format = args.new_bundle_format
    if args.bundle and not new_format:
        raise UsageError(f"--bundle {args.bundle}: a bundle file needs the new bundle format (cosign writes none with "
                         "--new-bundle-format=false)")
    predicate = read_file(args.predicate, "--predicate")
    targets = _bundle_targets(args, "attestation")  # a usage error is the one line on stderr
    _say(f"Using payload from: {args.predicate}")  # cosign's line
    if not args.key:
        _keyless_format(args)
        keyless = keyless_signer(args, token)
        for image in targets:
            signed = api.attest_image_keyless(image, keyless, predicate, args.type)
            _keyless_outputs(args, keyless, signed.bundle)
            _say(f"Attested {image.name}@{image.digest} keyless ({signed.predicate_type}): bundle referrer "
                 f"{signed.referrer}")
        return 0
    signer = load_signer(args.key)
    for image in targets:
        signed = api.make_attestation(image, signer, predicate, args.type, new_bundle_format=new_format)
        if args.bundle:
            assert signed.bundle is not None, "--bundle needs the new format, which makes a bundle"
            _write(args.bundle, signed.bundle, 0o600)
            _say(f"Wrote bundle to file {args.bundle}")
        api.attach(image, signed)
        _say(f"Attested {image.name}@{image.digest} ({signed.predicate_type})")
    return 0


def run_attest_blob(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli.common import read_file
    from airlock.errors import UsageError

    if not args.key:
        raise UsageError("attest-blob needs --key: keyless attestations about a file are not offered yet (sign the "
                         "file keyless with sign-blob, or attest an image keyless with attest)")
    _no_tlog(args)
    if args.new_bundle_format and not args.bundle:
        raise UsageError("--bundle FILE is required: the attestation is written there as a Sigstore bundle (or print "
                         "the bare DSSE envelope with --new-bundle-format=false)")
    if args.new_bundle_format and args.output_signature:
        raise UsageError(f"--output-signature {args.output_signature}: the envelope is in the bundle; a separate "
                         "envelope file is written with --new-bundle-format=false")
    signer = load_signer(args.key)
    _say(f"Using payload from: {args.file}\nUsing payload from: {args.predicate}")  # cosign's lines
    predicate = read_file(args.predicate, "--predicate")
    made = api.attest_blob(args.file, signer, predicate, args.type, new_bundle_format=args.new_bundle_format)
    if args.bundle:
        _write(args.bundle, made.bundle, 0o600)
        _say(f"Wrote bundle to file {args.bundle}")
    if not args.new_bundle_format:
        if args.output_signature:
            _write(args.output_signature, made.envelope)
            _say(f"Signature written in {args.output_signature}")
        else:
            _stdout(made.envelope + b"\n")
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from airlock.errors import UsageError

    if not args.force and sys.stdin.isatty():
        answer = input(f"Remove the {args.type} material of {args.image}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise UsageError("not confirmed; nothing removed")
    suffixes = {"all": ("sig", "att", "sbom"), "signature": ("sig",), "attestation": ("att",),
                "sbom": ("sbom",)}[args.type]
    for target, digest, name in _targets(args, [args.image]):  # SigningTarget: (target, digest, name)
        removed = ["." + suffix for suffix in suffixes if target.delete(digest, suffix)]
        if args.type == "all":
            bundles = target.delete_referrers(digest)
            if bundles:
                removed.append(f"{bundles} referrer(s)")
        _say(f"Removed {', '.join(removed) or 'nothing'} for {name}@{digest}")
    return 0
