"""``airlock generate-key-pair``, ``public-key`` and ``import-key-pair``: cosign's key commands.

Flags, prompts and messages follow cosign, so scripts written for cosign work unchanged, with one
deliberate difference: an existing key file is never replaced without ``--force`` (or ``--yes``)
or a "y" typed on a terminal, because ``cosign.key`` may be the only copy of a private key.
"""

from __future__ import annotations

import argparse
import os
import sys

GENERATE_HELP = """\
Generate an ECDSA P-256 key pair: PREFIX.key, encrypted with a password (mode 0600), and
PREFIX.pub (mode 0644). The password is $COSIGN_PASSWORD if set (even empty), else asked for
twice on a terminal, else all of stdin.

  airlock generate-key-pair
  COSIGN_PASSWORD=... airlock generate-key-pair --output-key-prefix release
  airlock generate-key-pair --kms awskms:///alias/release     # writes only cosign.pub
"""

PUBLIC_KEY_HELP = """\
Print the public key (PEM) of a cosign private key, a KMS key or a PKCS#11 token key.

  airlock public-key --key cosign.key > cosign.pub
  airlock public-key --key 'pkcs11:token=signing;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so'
  airlock public-key --key awskms:///alias/release --outfile release.pub
"""

IMPORT_HELP = """\
Import a PEM private key made by another tool (openssl: PKCS#8, SEC1 EC or PKCS#1 RSA; ECDSA
P-256/384/521, RSA 2048/3072/4096 or Ed25519) as a cosign key pair, encrypted with a password.

  openssl ecparam -genkey -name prime256v1 -noout -out ec.pem
  airlock import-key-pair --key ec.pem --output-key-prefix release
"""


def _force_flags(parser: argparse.ArgumentParser) -> None:
    from airlock.cli import bool_flag, go_bool

    bool_flag(parser, "--force", "overwrite existing PREFIX.key / PREFIX.pub without asking")
    parser.add_argument("-y", "--yes", dest="force", nargs="?", const=True, default=False, type=go_bool,
                        metavar="BOOL", help="same as --force (cosign's flag)")


def register(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser("generate-key-pair", help="generate a password-encrypted key pair (cosign.key)",
                                   description=GENERATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    generate.add_argument("--output-key-prefix", default="cosign", metavar="PREFIX",
                          help="write PREFIX.key and PREFIX.pub (default: cosign)")
    generate.add_argument("--kms", metavar="URI", help="create the key in a KMS and write only PREFIX.pub")
    _force_flags(generate)
    generate.set_defaults(run=run_generate)

    public = commands.add_parser("public-key", help="print the public key of a private key, KMS or PKCS#11 key",
                                 description=PUBLIC_KEY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    public.add_argument("--key", required=True, metavar="KEY",
                        help="cosign.key file, env://VAR, KMS URI (awskms://...) or pkcs11: URI")
    public.add_argument("--outfile", metavar="FILE", help="write the public key to FILE instead of stdout")
    public.set_defaults(run=run_public_key)

    imported = commands.add_parser("import-key-pair", help="import a PEM private key as a cosign key pair",
                                   description=IMPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    imported.add_argument("-k", "--key", required=True, metavar="FILE", help="PEM private key to import")
    imported.add_argument("-o", "--output-key-prefix", default="import-cosign", metavar="PREFIX",
                          help="write PREFIX.key and PREFIX.pub (default: import-cosign, as cosign)")
    _force_flags(imported)
    imported.set_defaults(run=run_import)


def _is_uri(key_ref: str) -> bool:
    """A key reference that names a provider rather than a file, by cosign's rule."""
    return key_ref.startswith("pkcs11:") or "://" in key_ref


def _signers(name: str, feature: str):
    """``airlock.sign.signers.<name>``, imported only when a KMS or token is asked for."""
    from airlock.errors import AirlockError

    try:
        from airlock.sign import signers
    except ImportError as exc:
        raise AirlockError(f"{feature} support is not available") from exc
    function = getattr(signers, name, None)
    if function is None:
        raise AirlockError(f"{feature} support is not available")
    return function


def _as_pem(value) -> bytes:
    """A public key PEM from what a provider hands back: PEM bytes/str, a signer, or a key object."""
    from airlock.sign import keys

    if hasattr(value, "public_key_pem"):
        value = value.public_key_pem()
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return keys.public_key_pem(value)


def _provider_pem(function, uri: str) -> bytes:
    """Call a provider (create or open a KMS / token key), take its public key, release it."""
    signer = function(uri)
    try:
        return _as_pem(signer)
    finally:
        close = getattr(signer, "close", None)
        if callable(close):
            close()


def _written(kind: str, path: str) -> None:
    print(f"{kind} key written to {path}", file=sys.stderr)


def run_generate(args: argparse.Namespace) -> int:
    from airlock.sign import keys

    key_path, pub_path = f"{args.output_key_prefix}.key", f"{args.output_key_prefix}.pub"
    if args.kms:
        overwrite = keys.confirm_overwrite([pub_path], args.force)
        public_pem = _provider_pem(_signers("create_kms_key", "KMS"), args.kms)
        keys.write_file_atomic(pub_path, public_pem, 0o644, overwrite=overwrite)
        _written("Public", pub_path)
        return 0
    overwrite = keys.confirm_overwrite([key_path, pub_path], args.force)
    password = keys.get_password(confirm=True)
    private_key = keys.generate_private_key()
    _write_pair(key_path, pub_path, keys.encrypt_private_key(private_key, password),
                keys.public_key_pem(private_key), overwrite)
    return 0


def _write_pair(key_path: str, pub_path: str, private_pem: bytes, public_pem: bytes, overwrite: bool) -> None:
    from airlock.sign import keys

    keys.write_file_atomic(key_path, private_pem, 0o600, overwrite=overwrite)
    _written("Private", key_path)
    keys.write_file_atomic(pub_path, public_pem, 0o644, overwrite=overwrite)
    _written("Public", pub_path)


def _key_ref_bytes(key_ref: str) -> bytes:
    from airlock.cli.common import read_file
    from airlock.errors import UsageError

    if key_ref.startswith("env://"):
        name = key_ref[len("env://"):]
        if name not in os.environ:
            raise UsageError(f"--key {key_ref}: environment variable ${name} is not set")
        return os.fsencode(os.environ[name])
    return read_file(key_ref, "--key")


def run_public_key(args: argparse.Namespace) -> int:
    from airlock.errors import UsageError
    from airlock.sign import keys

    if _is_uri(args.key) and not args.key.startswith("env://"):
        feature = "PKCS#11" if args.key.startswith("pkcs11:") else "KMS"
        public_pem = _provider_pem(_signers("signer_from_uri", feature), args.key)
    else:
        encrypted = keys.parse_encrypted_key(_key_ref_bytes(args.key), args.key)
        public_pem = keys.public_key_pem(keys.decrypt(encrypted, keys.get_password(confirm=False), args.key))
    if not args.outfile:
        sys.stdout.write(public_pem.decode("ascii"))
        sys.stdout.flush()
        return 0
    try:
        with open(args.outfile, "rb") as handle:
            holds_private_key = b"PRIVATE KEY-----" in handle.read()
    except OSError:
        holds_private_key = False
    if holds_private_key:
        raise UsageError(f"--outfile {args.outfile} holds a private key; not overwriting it")
    keys.write_file_atomic(args.outfile, public_pem, 0o644)
    _written("Public", args.outfile)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from airlock.cli.common import read_file
    from airlock.sign import keys

    data = read_file(args.key, "--key")
    key_path, pub_path = f"{args.output_key_prefix}.key", f"{args.output_key_prefix}.pub"
    if keys.is_encrypted_key(data):
        # A cosign key already: re-encrypted under the same password, keeping its PEM type.
        encrypted = keys.parse_encrypted_key(data, args.key)
        overwrite = keys.confirm_overwrite([key_path, pub_path], args.force)
        password = keys.get_password(confirm=False)
        private_key = keys.decrypt(encrypted, password, args.key)
    else:
        private_key = keys.import_private_key(data, args.key)
        overwrite = keys.confirm_overwrite([key_path, pub_path], args.force)
        password = keys.get_password(confirm=True)
    private_pem = keys.encrypt_private_key(private_key, password, pem_type=keys.imported_pem_type(data))
    _write_pair(key_path, pub_path, private_pem, keys.public_key_pem(private_key), overwrite)
    return 0
