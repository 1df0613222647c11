"""``airlock save``, ``load``, ``copy``, ``triangulate``, ``tree`` and ``download signature`` (cosign-compatible)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Any

SAVE_HELP = """\
Save images, their signatures, attestations and Sigstore bundles into an OCI layout directory
(the connected side), as cosign save does; several images may share one layout. Blobs already
in the layout are not fetched again, so an interrupted save can simply be run again.

  airlock save registry.example/app:1.0 registry.example/db:2 --dir ./transfer
"""
LOAD_HELP = """\
Push an image and its signatures from an OCI layout into a registry (the disconnected side);
with --all, every image of the layout, each under its saved repository and tag below PREFIX.
Blobs the registry has are not sent again, so an interrupted load can simply be run again.

  airlock load --dir ./transfer registry.internal/app:1.0
  airlock load --dir ./transfer --all registry.internal/mirror
"""
COPY_HELP = """\
Copy an image and its signatures from one registry to another, as cosign copy does: the image
(every platform, or the one --platform names), the sha256-<hex>.sig, .att and .sbom tags of it
and of every manifest under it, and their Sigstore bundle referrers (which cosign copy leaves
behind). Blobs stream from source to destination (never to disk, never whole in memory), each
digest-checked before its upload is committed; the destination's blobs and manifests are not
sent again, and the tag is written last. A tag at the destination that names other content
stops the copy before anything is written, unless --force.

  airlock copy registry.example/app:1.0 registry.internal/app:1.0
  airlock copy --only=sig,att registry.example/app:1.0 registry.internal/app
  airlock copy --platform=linux/arm64 registry.example/app:1.0 registry.internal/app:1.0-arm64
"""

TREE_HELP = """\
Print what is attached to an image in a registry, as cosign tree prints it: the layers of its
legacy .att, .sig and .sbom manifests, then its OCI referrers (cosign v3 bundles are named by
their predicate type), each layer by digest. Nothing is verified: use verify for that.

  airlock tree registry.example/app:1.0
"""


def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag

    save = commands.add_parser("save", help="save an image and its signatures to an OCI layout",
                               description=SAVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    save.add_argument("image", metavar="IMAGE", nargs="+")
    save.add_argument("--dir", required=True, metavar="DIR", help="the OCI layout (created if missing)")
    _transfer_flags(save)
    bool_flag(save, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    save.set_defaults(run=run_save)

    load = commands.add_parser("load", help="push an image and its signatures from an OCI layout",
                               description=LOAD_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("image", metavar="IMAGE", help="where to push it (registry/repo:tag); with --all, "
                      "registry[/path] to push every image below")
    load.add_argument("--dir", required=True, metavar="DIR", help="the OCI layout")
    load.add_argument("--image", dest="which", metavar="NAME_OR_DIGEST",
                      help="which image of the layout (needed when it holds several)")
    bool_flag(load, "--all", "push every image of the layout, each to PREFIX/<its repository>:<its tag>")
    _transfer_flags(load)
    bool_flag(load, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    load.set_defaults(run=run_load)

    copy = commands.add_parser("copy", help="copy an image and its signatures to another registry",
                               description=COPY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    copy.add_argument("source", metavar="SRC", help="the image to copy (registry/repo:tag or @digest)")
    copy.add_argument("destination", metavar="DST", help="where to (registry/repo[:tag]; no tag: latest)")
    copy.add_argument("--only", action="append", default=[], metavar="sig,att,sbom",
                      help="copy only these signature tags (and bundle referrers of those kinds), not the image; "
                      "comma-separated, or repeated")
    bool_flag(copy, "--sig-only", "deprecated: --only=sig")
    copy.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                      help="copy only this platform's image of an index (and its signatures); the tag then names it")
    bool_flag(copy, "--force", "overwrite tags at the destination that name other content (-f for short)")
    copy.add_argument("-f", dest="force", action="store_true", help=argparse.SUPPRESS)
    _transfer_flags(copy)
    bool_flag(copy, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registries")
    bool_flag(copy, "--allow-http-registry", "allow plain HTTP to the registries when HTTPS fails (TLS, when "
              "used, is still verified)")
    copy.set_defaults(run=run_copy)

    triangulate = commands.add_parser("triangulate", help="print where an image's signatures live")
    triangulate.add_argument("image", metavar="IMAGE")
    triangulate.add_argument("--type", default="signature", choices=("signature", "attestation", "sbom", "digest"))
    bool_flag(triangulate, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    triangulate.set_defaults(run=run_triangulate)

    tree = commands.add_parser("tree", help="list the signatures, attestations, SBOMs and referrers attached "
                               "to an image", description=TREE_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    tree.add_argument("image", metavar="IMAGE")
    bool_flag(tree, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    tree.set_defaults(run=run_tree)

    download = commands.add_parser("download", help="download signatures (download signature IMAGE)")
    what = download.add_subparsers(dest="download_what", metavar="WHAT")
    signature = what.add_parser("signature", help="print every signature of an image, one JSON line each")
    signature.add_argument("image", metavar="IMAGE")
    bool_flag(signature, "--allow-insecure-registry", "allow plain HTTP and unverified TLS to the registry")
    signature.set_defaults(run=run_download_signature)
    download.set_defaults(run=lambda args: download.print_help(sys.stderr) or 2)


def _jobs(text: str) -> int:
    from airlock.oci.transfer import MAX_JOBS

    if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_JOBS}, not {text!r}")
    return int(text)


def _transfer_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                        help="blobs and images moved at once (default: twice the CPUs, at most 8)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress (else a progress bar on a terminal, one line per image otherwise)")


def _progress(args: argparse.Namespace, verb: str):
    """``--quiet``: nothing; stderr a terminal: a progress bar (tqdm, imported only then); else
    one line per image."""
    import threading

    from airlock.oci.transfer import QUIET, Progress

    if args.quiet:
        return QUIET

    class Lines(Progress):
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def image(self, line: str) -> None:
            with self.lock:
                _say(line)

    class Bar(Progress):
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.bar: Any = None
            self.images = self.done = 0

        def begin(self, images: int, nbytes: int) -> None:
            from tqdm import tqdm  # type: ignore[import-untyped]

            self.images = images
            self.bar = tqdm(total=nbytes, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                            desc=verb, dynamic_ncols=True, postfix=f"0/{images} images")

        def bytes(self, count: int) -> None:
            if count and self.bar is not None:
                with self.lock:
                    self.bar.update(count)

        def image(self, line: str) -> None:
            with self.lock:
                self.done += 1
                if self.bar is not None:
                    self.bar.set_postfix_str(f"{self.done}/{self.images} images")

        def end(self) -> None:
            with self.lock:
                if self.bar is not None:
                    self.bar.close()
                    self.bar = None

    return Bar() if sys.stderr.isatty() else Lines()


def _client(args: argparse.Namespace, jobs: int):
    from airlock.cli.common import registry_client

    client = registry_client(args)
    client.connections = max(client.connections, jobs)  # one kept-alive connection per worker
    return client


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
    from airlock.oci.layout import OciLayout
    from airlock.oci.reference import parse_reference
    from airlock.oci.sources import signature_repository
    from airlock.oci.transfer import default_jobs, save

    references = [parse_reference(image) for image in args.image]
    jobs = args.jobs or default_jobs()
    save(_client(args, jobs), references, OciLayout(args.dir, create=True), jobs=jobs,
         progress=_progress(args, "save"), signatures=signature_repository())
    return 0


def run_load(args: argparse.Namespace) -> int:
    from airlock.errors import UsageError
    from airlock.oci.layout import OciLayout
    from airlock.oci.reference import parse_reference
    from airlock.oci.transfer import default_jobs, load, targets

    layout = OciLayout(args.dir)
    if args.all:
        if args.which:
            raise UsageError("--all and --image cannot be used together")
        destinations = targets(layout, None, prefix=load_prefix(args.image))
    else:
        destinations = targets(layout, parse_reference(args.image), image=args.which)
    jobs = args.jobs or default_jobs()
    load(_client(args, jobs), layout, destinations, jobs=jobs, progress=_progress(args, "load"))
    return 0


def run_copy(args: argparse.Namespace) -> int:
    from airlock.api import copy_image
    from airlock.cli.common import registry_client

    only = list(args.only)
    if args.sig_only:
        _say("WARNING: --sig-only is deprecated, use --only=sig")
        only.append("sig")
    jobs = args.jobs or None
    copy_image(args.source, args.destination, only=only, platform=args.platform, force=args.force, jobs=jobs,
               progress=_progress(args, "copy"), client=registry_client(args))
    return 0


def load_prefix(text: str) -> tuple[str, str]:
    """``load --all``'s destination ``registry[/path]`` as (registry, path), checked as an image name
    would be. The name checked has two components after it, so that Docker Hub's ``library/`` (added
    to one-component names) is not taken for part of the path."""
    from airlock.errors import UsageError
    from airlock.oci.reference import parse_reference

    prefix = text.rstrip("/")
    if any(mark in prefix.partition("/")[2] for mark in ":@"):
        raise UsageError(f"--all takes a registry[/path], not an image: {text}")
    probe = parse_reference(f"{prefix}/probe/probe")
    return probe.registry, probe.repository[:-len("probe/probe")].rstrip("/")


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


def run_tree(args: argparse.Namespace) -> int:
    """cosign tree's stdout, byte for byte (its header first, even when the image is then not found;
    the groups in a fixed order, where cosign's follow Go's random map order)."""
    from airlock.api.images import attached_artifacts, registry_targets
    from airlock.cli.common import registry_client
    from airlock.oci.reference import parse_reference
    from airlock.oci.sources import signature_repository

    print(f"\U0001f4e6 Supply Chain Security Related artifacts for an image: {args.image}", flush=True)
    [target] = registry_targets(registry_client(args), [args.image])
    reference = parse_reference(args.image)
    registry, repository = signature_repository() or (reference.registry, reference.repository)
    groups = []
    for found in attached_artifacts(target, name=reference.name):
        if found.error is not None:  # cosign: a message, and the others still listed
            _say(f"Error fetching artifact {reference.name}@{found.where}: {found.error}")
            continue
        groups.append(found)
    if not groups:  # cosign's words, without a newline at the end
        sys.stdout.write(f"No Supply Chain Security Related Artifacts found for image {args.image},\n start "
                         "creating one with simply running$ cosign sign <img>")
        return 0
    titles = {"att": "\U0001f4be Attestations", "sig": "\U0001f510 Signatures", "sbom": "\U0001f4e6 SBOMs"}
    for found in groups:
        if found.kind == "referrer":
            print(f"\u2514\u2500\u2500 \U0001f517 {found.artifact_type} artifacts via OCI referrer: "
                  f"{reference.name}@{found.where}")
        else:
            print(f"\u2514\u2500\u2500 {titles[found.kind]} for an image tag: {registry}/{repository}:{found.where}")
        for position, layer in enumerate(found.layers, 1):
            branch = "\u2514\u2500\u2500" if position == len(found.layers) else "\u251c\u2500\u2500"
            print(f"   {branch} \U0001f352 {layer}")
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
