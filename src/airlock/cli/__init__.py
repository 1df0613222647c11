"""The ``airlock`` command line: argument parsing and printing only.

Start-up time matters (a CI gate runs ``airlock verify-blob`` per artifact), so this module
imports nothing heavy: each command's module, and through it ``cryptography``, is imported
only when that command runs. Every ``AirlockError`` becomes one line on stderr and a non-zero
exit code; nothing else escapes as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airlock import __version__

EPILOG = "Commands and flags follow cosign's; see `airlock COMMAND --help`."


def go_bool(text: str) -> bool:
    """Go-style boolean flag values, so ``--offline=false`` works as it does for cosign."""
    lowered = text.lower()
    if lowered in ("1", "t", "true", "yes"):
        return True
    if lowered in ("0", "f", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


_BOOL_FLAGS: set[str] = set()


def bool_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, help: str,
              default: bool | None = False) -> None:
    """A Go-style boolean: ``--flag`` or ``--flag=true|false``. Like Go's pflag, ``--flag`` never
    takes the next word as its value (``verify --insecure-ignore-tlog IMAGE`` means what it says)."""
    dest = name.lstrip("-").replace("-", "_")
    parser.add_argument(name, dest=dest, action="store_true", default=default,
                        help=f"{help} (--{name.lstrip('-')}=false to turn off)")
    parser.add_argument(f"--no-{name.lstrip('-')}", dest=dest, action="store_false", help=argparse.SUPPRESS)
    _BOOL_FLAGS.add(name)


def _go_bool_arguments(argv: list[str]) -> list[str]:
    """Rewrite ``--flag=value`` of boolean flags into ``--flag`` / ``--no-flag``."""
    out = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and name in _BOOL_FLAGS:
            try:
                arg = name if go_bool(value) else f"--no-{name[2:]}"
            except argparse.ArgumentTypeError:
                print(f"Error: {name}: invalid boolean value {value!r} (use true or false)", file=sys.stderr)
                raise SystemExit(2) from None
        out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airlock",
        description="Sign container images and verify Sigstore/cosign signatures completely offline.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"airlock {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from airlock.cli import admission, image, keys, oci, pack, sign, trust, verify_blob, webhook

    verify_blob.register(commands)
    verify_blob.register_attestation(commands)
    image.register(commands)
    oci.register(commands)
    sign.register(commands)
    keys.register(commands)
    trust.register(commands)
    pack.register(commands)
    admission.register(commands)
    webhook.register(commands)
    from airlock.cli.common import add_timeout_flags

    add_timeout_flags(parser, commands)  # every command that reads a registry
    version = commands.add_parser("version", help="print the version")
    version.set_defaults(run=lambda args: print(f"airlock {__version__}") or 0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from airlock.errors import AirlockError

    parser = build_parser()
    args = parser.parse_args(_go_bool_arguments(list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except AirlockError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # fail closed, and still one line
        print(f"Error: internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
