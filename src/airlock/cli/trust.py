"""``airlock initialize`` (connected side) and ``airlock trust status`` (either side)."""

from __future__ import annotations

import argparse
import json
import sys

INITIALIZE_HELP = """\
Mirror a Sigstore TUF repository with a full TUF client: walk the root chain from --root,
check every signature, threshold, version, hash, length and expiry, and store the verified
metadata and trusted_root.json under $TUF_ROOT (default ~/.sigstore/root) in cosign's layout.
A failed update leaves the previous mirror intact.

  airlock initialize --mirror https://tuf-repo-cdn.sigstore.dev --root root.json
  airlock initialize --mirror file:///media/usb/tuf-repository --root 5.root.json

Trust anchor: the first initialize makes --root the anchor, and prints its SHA-256. Over an
installed mirror the repository must chain from the installed mirror's newest root (every new
root signed by a threshold of the previous root's keys and of its own) and the anchor stays; a
repository with another root lineage is refused unless you pass --replace-anchor (a warning says
so) or remove the mirror. Pin the anchor outside $TUF_ROOT, so that whoever can write $TUF_ROOT
cannot swap it: set AIRLOCK_TUF_ROOT_SHA256=<sha256>, or write the SHA-256 into
$XDG_CONFIG_HOME/airlock/trust-anchor (default ~/.config/airlock/trust-anchor; the variable
wins over the file). Every command that uses the mirror (verify, verify-blob, trust
status/export/import, initialize) then refuses a mirror whose bootstrap root has another SHA-256.
"""

IMPORT_HELP = """\
Check an archive made by `airlock trust export` against its SHA-256 manifest and install it. A
mirror is re-verified offline, and must chain by TUF's rules from the installed mirror's newest
root (it keeps the installed trust anchor); one from another root lineage is refused. With no
mirror installed, --root FILE makes the archive chain from FILE (the new anchor). To move to
another lineage on purpose: --replace-anchor --root FILE (a warning says so). The anchor must
match the pin (AIRLOCK_TUF_ROOT_SHA256 or $XDG_CONFIG_HOME/airlock/trust-anchor), if set.
"""

STATUS_HELP = """\
Report every expiry that matters in the trust root and exit with a monitoring code:
0 all fine, 1 warning (something in use expires within --warn-days, or the mirror is older than
--warn-age), 2 critical (expired, fails offline re-verification, older than --max-age, or no
Fulcio CA / Rekor log / CT log valid now). It shows the mirror's trust anchor (the SHA-256 of the
root it was bootstrapped from) and whether it is pinned (AIRLOCK_TUF_ROOT_SHA256 or
$XDG_CONFIG_HOME/airlock/trust-anchor); a mirror that does not match the pin is critical.
"""


def register(commands: argparse._SubParsersAction) -> None:
    from airlock.trust.source import parse_age

    parser = commands.add_parser("initialize", help="mirror and verify a Sigstore TUF repository (connected side)",
                                 description=INITIALIZE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", required=True, metavar="URL", help="TUF repository: http(s):// or file://")
    parser.add_argument("--root", required=True, metavar="FILE", help="trusted root.json to bootstrap from")
    parser.add_argument("--root-checksum", metavar="SHA256", help="expected SHA-256 of the --root file")
    parser.add_argument("--tuf-root", metavar="DIR", help="where to store the mirror (default $TUF_ROOT or "
                        "~/.sigstore/root)")
    parser.add_argument("--replace-anchor", action="store_true",
                        help="make --root the new trust anchor even if the installed mirror has another root lineage")
    parser.set_defaults(run=run_initialize)

    trust = commands.add_parser("trust", help="trust root status, export and import")
    trust_commands = trust.add_subparsers(dest="trust_command", metavar="COMMAND")
    status = trust_commands.add_parser("status", help="report expiries; exit 0 ok, 1 warning, 2 critical",
                                       description=STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("--warn-days", type=float, default=7, metavar="N", help="warn this many days ahead (7)")
    status.add_argument("--warn-age", type=parse_age, default=parse_age("30d"), metavar="AGE",
                        help="warn when the mirror is older than this (30d)")
    status.add_argument("--max-age", type=parse_age, metavar="AGE", help="critical when the mirror is older")
    status.add_argument("--trusted-root", metavar="FILE", help="report on this trusted_root.json instead of the mirror")
    status.add_argument("--tuf-root", metavar="DIR", help="mirror directory (default $TUF_ROOT or ~/.sigstore/root)")
    status.add_argument("--json", action="store_true", help="print the report as JSON")
    status.add_argument("--prometheus", metavar="FILE", help="also write the figures as a node-exporter textfile")
    status.set_defaults(run=run_status)
    trust.set_defaults(run=lambda args: trust.print_help(sys.stderr) or 2)
    register_more(commands, trust_commands)


def run_initialize(args: argparse.Namespace) -> int:
    import hashlib

    from airlock.errors import UsageError
    from airlock.trust.tuf import initialize

    try:
        with open(args.root, "rb") as handle:
            root = handle.read(512_001)
    except OSError as exc:
        raise UsageError(f"--root {args.root}: {exc.strerror or exc}") from exc
    if len(root) > 512_000:
        raise UsageError(f"--root {args.root}: larger than 512000 bytes, the most a TUF root may be")
    if args.root_checksum and hashlib.sha256(root).hexdigest() != args.root_checksum.lower():
        raise UsageError(f"--root {args.root}: SHA-256 does not match --root-checksum")
    if args.replace_anchor:
        _warn_replace(args.root, root)
    record = initialize(args.mirror, root, args.tuf_root, replace_anchor=args.replace_anchor,
                        progress=lambda message: print(message, file=sys.stderr))
    print(f"Mirrored {args.mirror}: root v{record['bootstrapRootVersion']} -> v{record['rootVersion']}, "
          f"targets {', '.join(record['targets'])}; verified {record['verifiedAt']}", file=sys.stderr)
    _say_anchor(record["bootstrapRootVersion"], record["anchorSha256"])
    return 0


def _warn_replace(path: str, root: bytes) -> None:
    import hashlib

    print(f"WARNING: --replace-anchor: the installed mirror's root lineage is not checked; {path} (SHA-256 "
          f"{hashlib.sha256(root).hexdigest()}) becomes the trust anchor", file=sys.stderr)


def _say_anchor(version: int, sha256: str) -> None:
    from airlock.trust.layout import PIN_ENV, pin_file, pinned_anchor

    pin = pinned_anchor()
    how = (f"pinned by {pin.source}" if pin else
           f"pin it: {PIN_ENV}={sha256} or write it into {pin_file()}")
    print(f"Trust anchor: root v{version} SHA-256 {sha256} ({how})", file=sys.stderr)


def run_status(args: argparse.Namespace) -> int:
    from airlock.trust import status

    report = status.assess(tuf_root=args.tuf_root, trusted_root_file=args.trusted_root, warn_days=args.warn_days,
                           warn_age=args.warn_age, max_age=args.max_age)
    if args.prometheus:
        _write_atomic(args.prometheus, status.to_prometheus(report))
    print(json.dumps(status.to_json(report), indent=2) if args.json else status.to_text(report))
    return report.level


def _write_atomic(path: str, text: str) -> None:
    from airlock.errors import AirlockError
    from airlock.files import atomic_write

    try:
        atomic_write(path, text.encode())
    except OSError as exc:
        raise AirlockError(f"cannot write {path}: {exc.strerror or exc}") from None


def _emit(data: bytes, out: str | None) -> int:
    """A created document: to ``out`` (atomically), or to standard output."""
    if out:
        _write_atomic(out, data.decode())
        print(f"Wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode())
    return 0


CREATE_HELP = """\
Create a trusted_root.json for a private Sigstore deployment from PEM files. Repeat a flag for
several CAs or logs; --*-url/--*-uri values pair with them in order. Times are RFC 3339.

  airlock trusted-root create --certificate-chain fulcio-chain.pem --fulcio-uri https://fulcio.internal \\
      --rekor-key rekor.pub --rekor-url https://rekor.internal --rekor-start-time 2025-01-01T00:00:00Z \\
      --ctfe-key ctfe.pub --ctfe-start-time 2025-01-01T00:00:00Z \\
      --timestamp-certificate-chain tsa-chain.pem --out trusted_root.json
"""


SIGNING_CONFIG_HELP = """\
Create a Sigstore SigningConfig v0.2 for a private Sigstore deployment: which Fulcio, Rekor v2
and timestamp authority keyless signing uses (airlock sign --signing-config FILE). Same flags and
same output as cosign signing-config create, except that an unknown key in a SPEC is refused.

  airlock signing-config create \\
      --fulcio=url=https://fulcio.internal,api-version=1,start-time=2025-01-01T00:00:00Z,operator=it \\
      --rekor=url=https://rekor.internal,api-version=2,start-time=2025-01-01T00:00:00Z,operator=it \\
      --rekor-config=ANY \\
      --tsa=url=https://tsa.internal/api/v1/timestamp,api-version=1,start-time=2025-01-01T00:00:00Z,operator=it \\
      --tsa-config=ANY --out signing_config.json
"""


def register_more(commands: argparse._SubParsersAction, trust_commands: argparse._SubParsersAction) -> None:
    root = commands.add_parser("trusted-root", help="create a trusted_root.json")
    root_commands = root.add_subparsers(dest="trusted_root_command", metavar="COMMAND")
    create = root_commands.add_parser("create", help="create a trusted_root.json from PEM files",
                                      description=CREATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, help_text in (
        ("--certificate-chain", "Fulcio CA chain PEM, leaf-most first, root last"),
        ("--fulcio-uri", "URL of that Fulcio CA"),
        ("--rekor-key", "Rekor public key PEM (ECDSA for Rekor v1, Ed25519 for Rekor v2)"),
        ("--rekor-url", "base URL of that Rekor log (for Rekor v2 its host is the checkpoint origin)"),
        ("--ctfe-key", "CT log public key PEM"),
        ("--ctfe-url", "URL of that CT log"),
        ("--timestamp-certificate-chain", "TSA chain PEM: signing certificate first, root last"),
        ("--timestamp-uri", "URL of that TSA"),
    ):
        create.add_argument(flag, action="append", default=[], metavar="VALUE", help=help_text)
    for kind in ("fulcio", "rekor", "ctfe", "timestamp"):
        create.add_argument(f"--{kind}-start-time", metavar="TIME",
                            help=f"start of the {kind} validity window (logs default to now)")
        create.add_argument(f"--{kind}-end-time", metavar="TIME", help=f"end of the {kind} validity window")
    create.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    create.set_defaults(run=run_create)
    root.set_defaults(run=lambda args: root.print_help(sys.stderr) or 2)

    config = commands.add_parser("signing-config", help="create a Sigstore signing config (the services to sign "
                                 "with)")
    config_commands = config.add_subparsers(dest="signing_config_command", metavar="COMMAND")
    make = config_commands.add_parser("create", help="create a SigningConfig v0.2, as cosign signing-config create",
                                      description=SIGNING_CONFIG_HELP,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, what in (("--fulcio", "Fulcio"), ("--rekor", "Rekor log"), ("--oidc-provider", "OIDC provider"),
                       ("--tsa", "timestamp authority (its full timestamp URL)")):
        make.add_argument(flag, action="append", default=[], metavar="SPEC",
                          help=f"a {what}: url=URL,api-version=N,start-time=TIME,operator=NAME[,end-time=TIME] "
                          "(repeatable)")
    make.add_argument("--rekor-config", metavar="SELECTOR", help="ANY, ALL or EXACT:<count>")
    make.add_argument("--tsa-config", metavar="SELECTOR", help="ANY, ALL or EXACT:<count>")
    make.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    make.set_defaults(run=run_signing_config)
    config.set_defaults(run=lambda args: config.print_help(sys.stderr) or 2)

    export = trust_commands.add_parser("export", help="pack the TUF mirror (or a trusted root) into one archive")
    export.add_argument("--out", required=True, metavar="FILE", help="the archive to write (.tar.gz)")
    export.add_argument("--trusted-root", metavar="FILE", help="pack this trusted_root.json instead of the mirror")
    export.add_argument("--tuf-root", metavar="DIR", help="mirror directory (default $TUF_ROOT or ~/.sigstore/root)")
    export.set_defaults(run=run_export)
    imp = trust_commands.add_parser("import", help="check an archive's SHA-256 manifest and install it",
                                    description=IMPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("archive", metavar="FILE")
    imp.add_argument("--tuf-root", metavar="DIR", help="install a mirror here (default $TUF_ROOT or ~/.sigstore/root)")
    imp.add_argument("--out", metavar="FILE", help="where to write a trusted root (default ./trusted_root.json)")
    imp.add_argument("--root", metavar="FILE", help="a TUF root.json the mirror must chain from (the anchor if "
                     "no mirror is installed, or with --replace-anchor)")
    imp.add_argument("--replace-anchor", action="store_true",
                     help="anchor to --root even if the installed mirror has another root lineage")
    imp.set_defaults(run=run_import)


def _timestamp(value: str | None, flag: str):
    from airlock import _wire
    from airlock.errors import FormatError, UsageError

    if value is None:
        return None
    try:
        return _wire.timestamp(value, flag)
    except FormatError as exc:
        raise UsageError(str(exc)) from exc


def run_signing_config(args: argparse.Namespace) -> int:
    from airlock.errors import UsageError
    from airlock.trust.create import signing_config

    if not (args.fulcio or args.rekor or args.tsa or args.oidc_provider):
        raise UsageError("nothing to put in the signing config: give --fulcio, --rekor, --tsa or --oidc-provider")
    data = signing_config(fulcio=args.fulcio, rekor=args.rekor, oidc=args.oidc_provider, tsa=args.tsa,
                          rekor_config=args.rekor_config, tsa_config=args.tsa_config)
    return _emit(data, args.out)


def run_create(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from airlock.errors import UsageError
    from airlock.trust.create import Window, create

    def window(kind: str, default_start=None):
        start = _timestamp(getattr(args, f"{kind}_start_time"), f"--{kind}-start-time") or default_start
        return Window(start, _timestamp(getattr(args, f"{kind}_end_time"), f"--{kind}-end-time"))

    def pairs(files: list[str], urls: list[str], flag: str, url_flag: str, kind: str, default_start=None) -> list:
        if len(urls) > len(files):
            raise UsageError(f"more {url_flag} than {flag} values")
        out = []
        for i, path in enumerate(files):
            try:
                with open(path, "rb") as handle:
                    pem = handle.read(1 << 20)
            except OSError as exc:
                raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from exc
            out.append((pem, urls[i] if i < len(urls) else "", window(kind, default_start)))
        return out

    now = datetime.now(UTC).replace(microsecond=0)
    if not (args.certificate_chain or args.rekor_key):
        raise UsageError("nothing to put in the trusted root: give --certificate-chain and/or --rekor-key")
    data = create(
        cas=pairs(args.certificate_chain, args.fulcio_uri, "--certificate-chain", "--fulcio-uri", "fulcio"),
        tlogs=pairs(args.rekor_key, args.rekor_url, "--rekor-key", "--rekor-url", "rekor", now),
        ctlogs=pairs(args.ctfe_key, args.ctfe_url, "--ctfe-key", "--ctfe-url", "ctfe", now),
        tsas=pairs(args.timestamp_certificate_chain, args.timestamp_uri, "--timestamp-certificate-chain",
                   "--timestamp-uri", "timestamp"),
    )
    return _emit(data, args.out)


def run_export(args: argparse.Namespace) -> int:
    from airlock.trust.pack import export

    manifest = export(args.out, tuf_root=args.tuf_root, trusted_root_file=args.trusted_root)
    print(f"Wrote {args.out}: {manifest['kind']}, {len(manifest['files'])} files with SHA-256 sums", file=sys.stderr)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from airlock.errors import UsageError
    from airlock.trust.pack import import_

    root = None
    if args.root:
        try:
            with open(args.root, "rb") as handle:
                root = handle.read(512_001)
        except OSError as exc:
            raise UsageError(f"--root {args.root}: {exc.strerror or exc}") from exc
        if len(root) > 512_000:
            raise UsageError(f"--root {args.root}: larger than 512000 bytes, the most a TUF root may be")
    if args.replace_anchor:
        if root is None:
            raise UsageError("--replace-anchor needs --root FILE, the new root to anchor to")
        _warn_replace(args.root, root)
    manifest = import_(args.archive, tuf_root=args.tuf_root, out=args.out, root=root,
                       replace_anchor=args.replace_anchor)
    where = "the TUF mirror" if manifest["kind"] == "tuf-mirror" else (args.out or "trusted_root.json")
    print(f"Imported {len(manifest['files'])} files into {where}; every SHA-256 matched", file=sys.stderr)
    if manifest["kind"] == "tuf-mirror":
        anchor = manifest["anchor"]
        if anchor["from"] == "archive" and not anchor["pinned"]:
            print("WARNING: no mirror was installed, no --root given and no pin set: the archive's own bootstrap "
                  f"root (SHA-256 {anchor['sha256']}) is trusted as given; check it and pin it", file=sys.stderr)
        _say_anchor(anchor["rootVersion"], anchor["sha256"])
    return 0
