"""``airlock save``, ``load``, ``triangulate`` and ``download signature`` (cosign-compatible)."""

from __future__ import annotations

import argparse
import base64
import json
import sys

SAVE_HELP = """\
Save an image, its signatures, attestations and Sigstore bundles into an OCI layout directory
(the connected side), as cosign save does; several images may share one layout.

  airlock save registry.example/app:1.0 --dir ./transfer
"""
LOAD_HELP = """\
Push an image and its signatures from an OCI layout into a registry (the disconnected side).

  airlock load --dir ./transfer registry.internal/app:1.0
"""


def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag

    save = commands.add_parser("save", help="save an image and its signatures to an OCI layout",
                               description=SAVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    save.add_argument("image", metavar="IMAGE")
    save.add_argument("--dir", required=True, metavar="DIR", help="the OCI layout (created if missing)")
    bool_flag(save, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    save.set_defaults(run=run_save)

    load = commands.add_parser("load", help="push an image and its signatures from an OCI layout",
                               description=LOAD_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("image", metavar="IMAGE", help="where to push it (registry/repo:tag)")
    load.add_argument("--dir", required=True, metavar="DIR", help="the OCI layout")
    load.add_argument("--image", dest="which", metavar="NAME_OR_DIGEST",
                      help="which image of the layout (needed when it holds several)")
    bool_flag(load, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    load.set_defaults(run=run_load)

    triangulate = commands.add_parser("triangulate", help="print where an image's signatures live")
    triangulate.add_argument("image", metavar="IMAGE")
    triangulate.add_argument("--type", default="signature", choices=("signature", "attestation", "sbom", "digest"))
    bool_flag(triangulate, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    triangulate.set_defaults(run=run_triangulate)

    download = commands.add_parser("download", help="download signatures (download signature IMAGE)")
    what = download.add_subparsers(dest="download_what", metavar="WHAT")
    signature = what.add_parser("signature", help="print every signature of an image, one JSON line each")
    signature.add_argument("image", metavar="IMAGE")
    bool_flag(signature, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    signature.set_defaults(run=run_download_signature)
    download.set_defaults(run=lambda args: download.print_help(sys.stderr) or 2)


def _resolve(args: argparse.Namespace):
    from airlock.cli.common import registry_client
    from airlock.oci.reference import parse_reference

    client = registry_client(args)
    reference = parse_reference(args.image)
    digest = reference.digest or client.get_manifest(reference.registry, reference.repository,
                                                     reference.identifier).digest
    return client, reference, digest


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def run_save(args: argparse.Namespace) -> int:
    from airlock.cli.common import registry_client
    from airlock.oci.layout import OciLayout
    from airlock.oci.reference import parse_reference
    from airlock.oci.sources import signature_repository
    from airlock.oci.transfer import save

    reference = parse_reference(args.image)
    digest = save(registry_client(args), reference, OciLayout(args.dir, create=True), say=_say,
                  signatures=signature_repository())
    _say(f"Saved {reference.name}@{digest} to {args.dir}")
    return 0


def run_load(args: argparse.Namespace) -> int:
    from airlock.cli.common import registry_client
    from airlock.oci.layout import OciLayout
    from airlock.oci.reference import parse_reference
    from airlock.oci.transfer import load

    target = parse_reference(args.image)
    digest = load(registry_client(args), OciLayout(args.dir), target, image=args.which, say=_say)
    _say(f"Loaded {target.name}@{digest}")
    return 0


def run_triangulate(args: argparse.Namespace) -> int:
    from airlock.oci.reference import signature_tag
    from airlock.oci.sources import signature_repository

    _, reference, digest = _resolve(args)
    registry, repository = signature_repository() or (reference.registry, reference.repository)
    if args.type == "digest":
        print(f"{reference.name}@{digest}")
        return 0
    suffix = {"signature": "sig", "attestation": "att", "sbom": "sbom"}[args.type]
    print(f"{registry}/{repository}:{signature_tag(digest, suffix)}")
    return 0


def _go_json(value) -> str:
    """``value`` as Go's ``encoding/json`` writes it: compact, UTF-8, ``<``, ``>``, ``&``, U+2028 and
    U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _protojson(value):
    """A Sigstore bundle as Go's protojson re-encodes it: every field of a bundle is a proto3 message
    field, so fields holding their default value (empty list, empty string, zero, false) are left
    out; messages (objects) stay, even empty."""
    if isinstance(value, dict):
        return {key: _protojson(item) for key, item in value.items()
                if not (item == [] or item == "" or item is False or (type(item) in (int, float) and item == 0))}
    if isinstance(value, list):
        return [_protojson(item) for item in value]
    return value


def _certificates(note: str | None, what: str, where: str) -> list | None:
    """The certificates of a PEM annotation as cosign prints them (Go's parsed ``x509.Certificate``),
    or None without one. One this rendering does not model is printed as its PEM, with a warning."""
    from airlock.formats import go_x509

    if not note:
        return None
    try:
        return [go_x509.certificate(der) for der in go_x509.pem_certificates(note, what)]
    except go_x509.Unsupported as exc:
        _say(f"WARNING: {where}: {what} printed as PEM, not as cosign's parsed form ({exc})")
        return [note]


def _go_lookup(value: dict, name: str):
    """A field as Go's ``json.Unmarshal`` finds it: the exact name, else any case-insensitive match."""
    if name in value:
        return value[name]
    return next((item for key, item in value.items() if key.lower() == name.lower()), None)


def _go_any(value):
    """An ``interface{}`` value as Go re-encodes it: objects with their keys sorted."""
    if isinstance(value, dict):
        return {key: _go_any(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_go_any(item) for item in value]
    return value


def _rekor_bundle(note: str | None):
    """cosign's ``RekorBundle`` for the bundle annotation: null, or its fields in its order."""
    from airlock import _wire
    from airlock.errors import FormatError
    from airlock.formats import cosign

    if not note:
        return None
    value = _wire.loads(note, f"the {cosign.ANNOTATION_BUNDLE} annotation")
    payload = _go_lookup(value, "Payload") if isinstance(value, dict) else None
    if not isinstance(value, dict) or not isinstance(payload, dict):
        raise FormatError(f"the {cosign.ANNOTATION_BUNDLE} annotation is not a Rekor bundle")
    return {"SignedEntryTimestamp": _go_lookup(value, "SignedEntryTimestamp"),
            "Payload": {"body": _go_any(_go_lookup(payload, "body")),
                        "integratedTime": _go_lookup(payload, "integratedTime") or 0,
                        "logIndex": _go_lookup(payload, "logIndex") or 0,
                        "logID": _go_lookup(payload, "logID") or ""}}


def _rfc3161(note: str | None):
    """cosign's ``RFC3161Timestamp`` value for the annotation: null, or its one field."""
    from airlock import _wire
    from airlock.errors import FormatError
    from airlock.formats import cosign

    if not note:
        return None
    value = _wire.loads(note, f"the {cosign.ANNOTATION_RFC3161} annotation")
    if not isinstance(value, dict):
        raise FormatError(f"the {cosign.ANNOTATION_RFC3161} annotation is not a JSON object")
    return {"SignedRFC3161Timestamp": _wire.optional(value, "SignedRFC3161Timestamp",
                                                     cosign.ANNOTATION_RFC3161, str)}


def run_download_signature(args: argparse.Namespace) -> int:
    """As cosign: the Sigstore bundles attached as referrers, one JSON line each, if there are any;
    else the legacy ``.sig`` signatures, one JSON line each (cosign's ``SignedPayload``)."""
    from airlock import _wire
    from airlock.api.images import one_line as _one_line
    from airlock.errors import AirlockError, FormatError
    from airlock.formats import cosign
    from airlock.oci import discovery
    from airlock.oci.sources import RegistrySource, signature_repository

    client, reference, digest = _resolve(args)
    source = RegistrySource(client, reference.registry, reference.repository, signature_repository())
    printed, skipped = 0, []

    def skip(where: str, exc: AirlockError) -> None:
        skipped.append(_one_line(f"{where}: {exc}"))
        _say(f"WARNING: {skipped[-1]}: skipped")

    for found in discovery.bundle_referrers(source, digest):
        try:
            if found.error is not None:
                raise found.error
            assert found.bundle is not None, "discovery yields a bundle or an error"
            bundle = _wire.loads(found.bundle, f"the bundle of {found.where}")
            if not isinstance(bundle, dict) or not str(bundle.get("mediaType", "")).startswith(
                    discovery.BUNDLE_PREFIX):
                raise FormatError("not a Sigstore bundle")
        except AirlockError as exc:
            skip(found.where, exc)
            continue
        print(_go_json(_protojson(bundle)))
        printed += 1
    if printed:
        return 0
    for found in discovery.legacy_layers(source, digest, "sig"):  # one unreadable layer does not hide the others
        try:
            if found.error is not None:
                raise found.error
            assert found.layer is not None, "discovery yields a layer or an error"
            notes = found.layer.annotations
            line = _go_json({
                "Base64Signature": notes.get(cosign.ANNOTATION_SIGNATURE, ""),
                "Payload": base64.b64encode(found.layer.payload).decode(),
                "Cert": (_certificates(notes.get(cosign.ANNOTATION_CERTIFICATE), "the certificate", found.where)
                         or [None])[0],
                "Chain": _certificates(notes.get(cosign.ANNOTATION_CHAIN), "the certificate chain", found.where),
                "Bundle": _rekor_bundle(notes.get(cosign.ANNOTATION_BUNDLE)),
                "RFC3161Timestamp": _rfc3161(notes.get(cosign.ANNOTATION_RFC3161)),
            })
        except AirlockError as exc:
            skip(found.where, exc)
            continue
        print(line)
        printed += 1
    if skipped and not printed:
        raise FormatError(f"no signature of {digest} could be read ({'; '.join(skipped[:8])})")
    if not printed:  # cosign's words and exit code for an image without signatures
        raise AirlockError(f"{args.image}: no signatures associated")
    return 0
