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


# Every command, in the order ``airlock --help`` lists them: name -> (the CLI module and the function in it
# that registers the command's parser, its help line). A command's module is imported, and its parser built,
# only when that command runs (or with ``build_parser()``, which builds them all): argparse building the 27
# parsers and importing every CLI module cost more than the rest of a ``verify-blob`` start-up. The help
# lines are kept equal to the modules' own (tests/test_cli_startup.py).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "verify-blob": ("verify_blob", "register", "verify a signature on a blob or digest, offline"),
    "verify-blob-attestation": ("verify_blob", "register_attestation",
                                "verify an in-toto attestation about a blob, offline"),
    "verify": ("image", "register", "verify the signatures of an image, offline"),
    "verify-attestation": ("image", "register", "verify the attestations of an image, offline"),
    "save": ("oci", "register", "save an image and its signatures to an OCI layout"),
    "load": ("oci", "register", "push an image and its signatures from an OCI layout"),
    "copy": ("oci", "register", "copy an image and its signatures to another registry"),
    "triangulate": ("oci", "register", "print where an image's signatures live"),
    "tree": ("oci", "register", "list the signatures, attestations, SBOMs and referrers attached to an image"),
    "download": ("oci", "register", "download signatures (download signature IMAGE)"),
    "generate": ("sign", "register", "print the simple-signing payload for an image"),
    "sign": ("sign", "register", "sign an image (with a key, or keyless) and attach the signature"),
    "sign-blob": ("sign", "register", "sign a file (with a key, or keyless)"),
    "attach": ("sign", "register", "attach a signature made elsewhere (attach signature IMAGE)"),
    "attest": ("sign", "register", "sign an in-toto attestation about an image and attach it"),
    "attest-blob": ("sign", "register", "sign an in-toto attestation about a file with a key"),
    "clean": ("sign", "register", "remove an image's signatures, attestations and bundles"),
    "generate-key-pair": ("keys", "register", "generate a password-encrypted key pair (cosign.key)"),
    "public-key": ("keys", "register", "print the public key of a private key, KMS or PKCS#11 key"),
    "import-key-pair": ("keys", "register", "import a PEM private key as a cosign key pair"),
    "initialize": ("trust", "register", "mirror and verify a Sigstore TUF repository (connected side)"),
    "trust": ("trust", "register", "trust root status, export and import"),
    "trusted-root": ("trust", "register", "create a trusted_root.json"),
    "signing-config": ("trust", "register", "create a Sigstore signing config (the services to sign with)"),
    "pack": ("pack", "register", "OCI layouts and trust in one archive, for the gap"),
    "unpack": ("pack", "register", "check and verify a pack, then put it in place"),
    "admit": ("admission", "register", "check manifests' images against ClusterImagePolicy files, offline"),
    "webhook": ("webhook", "register", "serve the Kubernetes admission webhook"),
    "version": ("", "", "print the version"),
}


def _register_version(commands: argparse._SubParsersAction) -> None:
    version = commands.add_parser("version", help=COMMANDS["version"][2])
    version.set_defaults(run=lambda args: print(f"airlock {__version__}") or 0)


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The parser of every command (``"*"``, the default), or of ``command`` only: the others are then
    placeholders with their help line (enough for ``airlock --help`` and for naming the choices), and
    only ``command``'s module is imported. ``None``: placeholders only."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="airlock",
        description="Sign container images and verify Sigstore/cosign signatures completely offline.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"airlock {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = COMMANDS[command][:2] if command in COMMANDS else None
    for name, (module, function, help_line) in COMMANDS.items():
        if name in commands.choices:  # registered with an earlier command of its module
            continue
        if command != "*" and (module, function) != chosen:
            commands.add_parser(name, help=help_line, add_help=False)
        elif not module:
            _register_version(commands)
        else:
            getattr(importlib.import_module(f"airlock.cli.{module}"), function)(commands)
    from airlock.cli.common import add_timeout_flags

    add_timeout_flags(parser, commands)  # every command that reads a registry
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (nor the value of ``-t``/
    ``--timeout``, the one top-level option that takes one), when that word is a command."""
    words = iter(argv)
    for word in words:
        if word in ("-t", "--timeout"):
            next(words, None)
        elif word == "--":
            word = next(words, "")
            return word if word in COMMANDS else None
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from airlock.errors import AirlockError

    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(words))
    args = parser.parse_args(_go_bool_arguments(words))
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
