"""``airlock pack`` and ``airlock unpack``: OCI layouts and trust across the gap as one file."""

from __future__ import annotations

import argparse
import json
import sys

PACK_HELP = """\
Put one or more OCI layouts (airlock save) and, with --trust, the installed TUF mirror into one
tar archive whose first member lists every other member's size and SHA-256.

  airlock pack --dir ./images --trust -o transfer.tar
"""

UNPACK_HELP = """\
Check a pack against its manifest, verify every image in it, and only then put it at --dir
(as layouts/NAME/ and trust.tar.gz). Links, devices, traversal, duplicates, unlisted or missing
members, a size or SHA-256 that differs from the manifest, and a truncated archive are refused,
with nothing extracted; an image that does not verify leaves nothing behind either.

Images are verified against --trusted-root FILE (nothing, for --key with --insecure-ignore-tlog),
else the TUF mirror the pack carries (which must chain from the installed mirror, or from --root
FILE, as for `airlock trust import`), else the installed trust. The carried mirror is left at
--dir for `airlock trust import`; nothing is installed.

  airlock unpack transfer.tar --dir ./incoming --certificate-identity ID --certificate-oidc-issuer URL
"""


def _size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes")
    return int(text)


def register(commands: argparse._SubParsersAction) -> None:
    from airlock.cli import bool_flag, common

    pack = commands.add_parser("pack", help="OCI layouts and trust in one archive, for the gap",
                               description=PACK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    pack.add_argument("--dir", action="append", required=True, metavar="DIR", dest="dirs",
                      help="an OCI layout to pack (repeatable); named in the pack by its directory name")
    pack.add_argument("-o", "--output", required=True, metavar="FILE", help="the archive to write")
    bool_flag(pack, "--trust", "also pack the installed TUF mirror ($TUF_ROOT), re-verified first")
    pack.add_argument("--compress", choices=("gzip", "none"), default="gzip",
                      help="gzip (default) or none (zstd: no zstd library is installed)")
    pack.set_defaults(run=run_pack)

    unpack = commands.add_parser("unpack", help="check and verify a pack, then put it in place",
                                 description=UNPACK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    unpack.add_argument("archive", metavar="ARCHIVE")
    unpack.add_argument("--dir", required=True, metavar="DIR", help="where to put it: absent or empty")
    unpack.add_argument("--key", metavar="KEY", help="public key for key-signed images")
    unpack.add_argument("--root", metavar="FILE", help="the TUF root the pack's mirror must chain from, when "
                        "no mirror is installed")
    unpack.add_argument("--max-size", type=_size, metavar="BYTES", help="refuse a pack whose files add up "
                        "to more (default 1 TiB)")
    common.add_trust_flags(unpack)
    common.add_identity_flags(unpack)
    common.add_insecure_flags(unpack)
    unpack.add_argument("--jobs", type=common.jobs, metavar="N", help="verify in N processes (default: the "
                        "number of CPUs)")
    unpack.add_argument("--output", choices=("text", "json"), default="text",
                        help="text: one line per image (default); json: one object per image")
    unpack.set_defaults(run=run_unpack)


def run_pack(args: argparse.Namespace) -> int:
    from airlock import api

    manifest = api.pack(args.dirs, args.output, trust=args.trust, compress=args.compress)
    print(f"Packed {len(manifest['layouts'])} layout(s){' and trust' if manifest['trust'] else ''}, "
          f"{len(manifest['files'])} files, into {args.output}", file=sys.stderr)
    return 0


def run_unpack(args: argparse.Namespace) -> int:
    from airlock import api
    from airlock.cli import common
    from airlock.errors import VerificationError
    from airlock.oci.pack import MAX_TOTAL
    from airlock.verify.policy import Key

    policy = common.signer(args)
    options = common.options(args)
    api.check_destination(args.dir)  # before any work
    explicit = bool(args.trusted_root) or (isinstance(policy, Key) and options.insecure_ignore_tlog)
    trusted_root = common.load_trust_for(args, policy, options) if explicit else None
    anchor = common.read_file(args.root, "--root") if args.root else None
    result = api.unpack(args.archive, args.dir, trusted_root=trusted_root, use_carried_trust=not explicit,
                        fallback_trust=lambda: common.load_trust(args), anchor=anchor, jobs=args.jobs,
                        max_total=args.max_size or MAX_TOTAL, policy=policy, options=options)
    for warning in dict.fromkeys(w for _, v in result.verdicts for w in v.warnings):
        print(warning, file=sys.stderr)
    if args.output == "json":
        print(json.dumps([{"layout": name, "image": v.reference, "digest": v.digest, "verified": v.ok,
                           "signatures": len(v.verified), "error": v.failure} for name, v in result.verdicts],
                         indent=2))
    else:
        for _, verdict in result.verdicts:
            print(f"verified {verdict.reference}" if verdict.ok else f"FAILED {verdict.failure}")
    failed = [v for _, v in result.verdicts if not v.ok]
    if failed:
        raise VerificationError("unpack", f"{len(failed)} of {len(result.verdicts)} images did not verify; "
                                f"nothing was unpacked ({api.one_line(failed[0].failure or '')})")
    if not result.ok:  # no image at all: nothing was verified, so nothing is put in place
        raise VerificationError("unpack", "the pack holds no image; nothing was unpacked")
    print(f"Unpacked {len(result.verdicts)} verified image(s) into {args.dir}"
          f"{f' (verified against {result.trust})' if result.trust else ''}", file=sys.stderr)
    return 0
