"""``airlock initialize`` (connected side) and ``airlock trust status`` (either side)."""

from __future__ import annotations

import argparse
import json
import os
import sys

INITIALIZE_HELP = """\
Mirror a Sigstore TUF repository with a full TUF client: walk the root chain from --root,
check every signature, threshold, version, hash, length and expiry, and store the verified
metadata and trusted_root.json under $TUF_ROOT (default ~/.sigstore/root) in cosign's layout.
A failed update leaves the previous mirror intact.

  airlock initialize --mirror https://tuf-repo-cdn.sigstore.dev --root root.json
  airlock initialize --mirror file:///media/usb/tuf-repository --root 5.root.json
"""

STATUS_HELP = """\
Report every expiry that matters in the trust root and exit with a monitoring code:
0 all fine, 1 warning (something in use expires within --warn-days, or the mirror is older than
--warn-age), 2 critical (expired, fails offline re-verification, older than --max-age, or no
Fulcio CA / Rekor log / CT log valid now).
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


def run_initialize(args: argparse.Namespace) -> int:
    import hashlib

    from airlock.errors import UsageError
    from airlock.trust.tuf import initialize

    try:
        with open(args.root, "rb") as handle:
            root = handle.read(512_001)
    except OSError as exc:
        raise UsageError(f"--root {args.root}: {exc.strerror or exc}") from exc
    if args.root_checksum and hashlib.sha256(root).hexdigest() != args.root_checksum.lower():
        raise UsageError(f"--root {args.root}: SHA-256 does not match --root-checksum")
    record = initialize(args.mirror, root, args.tuf_root,
                        progress=lambda message: print(message, file=sys.stderr))
    print(f"Mirrored {args.mirror}: root v{record['bootstrapRootVersion']} -> v{record['rootVersion']}, "
          f"targets {', '.join(record['targets'])}; verified {record['verifiedAt']}", file=sys.stderr)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from airlock.trust import status

    report = status.assess(tuf_root=args.tuf_root, trusted_root_file=args.trusted_root, warn_days=args.warn_days,
                           warn_age=args.warn_age, max_age=args.max_age)
    if args.prometheus:
        _write_atomic(args.prometheus, status.to_prometheus(report))
    print(json.dumps(status.to_json(report), indent=2) if args.json else status.to_text(report))
    return report.level


def _write_atomic(path: str, text: str) -> None:
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".airlock-", dir=directory)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
