"""What a CLI start-up imports (issue 9): the set of modules, not a timing, so a gain cannot silently regress.

A command runs in a fresh interpreter (``airlock.cli.main``, as the console script calls it) that then
prints ``sys.modules``. Each start-up path must leave out the libraries it has no use for:

- ``airlock --help`` and ``airlock version``: no command module and no cryptography at all;
- ``verify-blob --key ... --insecure-ignore-tlog`` (a key-signed bundle): no ``cryptography.x509``
  (no certificate is read), no trust material library (tuf, securesystemslib), nothing of the network,
  the registry, signing, admission or the webhook;
- keyless ``verify-blob --trusted-root FILE``: the same, ``cryptography.x509`` allowed;
- ``verify-blob`` from the installed TUF mirror: tuf is allowed, the back-ends of securesystemslib's
  cloud and HSM signers (boto3, pkcs11) are not;
- ``verify --local-image`` with a key: no dataclasses and no logging, no HTTP.

How long each path takes is measured in ``benchmarks/bench_cli_peers.py``, beside cosign.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli

EXAMPLE = REPO / "examples"
IDENTITY = "https://github.com/airlock-example/release/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"

# Libraries no verification start-up needs (the network, signing services, admission, progress bars,
# RE2 for regexps nobody gave, YAML policies, metrics), and the heavier standard modules avoided so far.
NEVER = ("urllib3", "http.client", "ssl", "requests", "boto3", "botocore", "pkcs11", "nacl", "rfc3161_client",
         "regopy", "yaml", "prometheus_client", "tqdm", "re2", "multiprocessing", "concurrent.futures",
         "airlock.sign", "airlock.admission", "airlock.oci.transfer", "airlock.api.signing", "airlock.api.packs")
NO_TRUST = ("tuf", "securesystemslib", "airlock.trust.mirror", "airlock.trust.tuf")
NO_CERTIFICATES = ("cryptography.x509", "email", "socket")  # email and socket come with cryptography.x509
OTHER_COMMANDS = tuple(f"airlock.cli.{m}" for m in ("admission", "image", "keys", "oci", "pack", "sign", "trust",
                                                    "webhook"))


def imported(*argv: str | os.PathLike, env: dict[str, str] | None = None) -> set[str]:
    """The modules loaded once ``airlock ARGV`` has run in a new interpreter (which must succeed)."""
    code = ("import sys\nfrom airlock.cli import main\n"
            "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
            "modules = sorted(sys.modules)\nimport json\n"
            "print(json.dumps([code, modules]), file=sys.__stderr__)\n")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)
    code, modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert code == 0, proc.stderr[-2000:]
    return set(modules)


def loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that are, or are under, one of ``prefixes``."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_help_and_version_import_no_command_and_no_cryptography():
    for argv in (["--help"], ["version"], ["--version"]):
        modules = imported(*argv)
        assert loaded(modules, ("cryptography", *NEVER, *NO_TRUST, *OTHER_COMMANDS, "airlock.cli.verify_blob",
                                "airlock.api", "airlock.verify", "json", "typing")) == [], argv


@pytest.fixture(scope="module")
def key_signed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(blob, its bundle, the public key): a key-signed v0.3 bundle with no log entry."""
    directory = tmp_path_factory.mktemp("key-signed")
    (directory / "blob").write_bytes(b"a blob signed with a key\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSIGN_PASSWORD", "startup")
        for argv in (["generate-key-pair", "--output-key-prefix", directory / "cosign"],
                     ["sign-blob", "--key", directory / "cosign.key", "--bundle", directory / "blob.sigstore.json",
                      "--tlog-upload=false", directory / "blob"]):
            result = run_cli(*argv)
            assert result.code == 0, result.stderr
    return directory / "blob", directory / "blob.sigstore.json", directory / "cosign.pub"


def test_verify_blob_with_a_key_reads_no_certificate_and_no_trust(key_signed):
    blob, bundle, pub = key_signed
    modules = imported("verify-blob", "--key", pub, "--bundle", bundle, "--insecure-ignore-tlog", blob)
    assert "airlock.verify.verifier" in modules  # it did verify
    assert loaded(modules, (*NEVER, *NO_TRUST, *NO_CERTIFICATES, *OTHER_COMMANDS, "dataclasses", "logging",
                            "airlock.oci", "airlock.api.images", "airlock.trust.status")) == []


def test_keyless_verify_blob_with_a_trusted_root_imports_no_trust_library():
    modules = imported("verify-blob", EXAMPLE / "hello.txt", "--bundle", EXAMPLE / "hello.txt.sigstore.json",
                       "--trusted-root", EXAMPLE / "trusted_root.json", "--certificate-identity", IDENTITY,
                       "--certificate-oidc-issuer", ISSUER)
    assert "cryptography.x509" in modules
    assert loaded(modules, (*NEVER, *NO_TRUST, *OTHER_COMMANDS, "airlock.oci", "airlock.api.images")) == []


def test_verify_blob_from_the_mirror_imports_no_cloud_or_hsm_library(tmp_path, tuf_repository):
    tuf_repository.set_target("trusted_root.json", (EXAMPLE / "trusted_root.json").read_bytes())
    result = run_cli("initialize", "--mirror", tuf_repository.directory.as_uri(), "--root",
                     tuf_repository.directory / "1.root.json", "--tuf-root", tmp_path / "tuf")
    assert result.code == 0, result.stderr
    modules = imported("verify-blob", EXAMPLE / "hello.txt", "--bundle", EXAMPLE / "hello.txt.sigstore.json",
                       "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER,
                       env={"TUF_ROOT": str(tmp_path / "tuf")})
    assert "tuf.api.metadata" in modules  # the mirror was re-verified
    assert loaded(modules, (*NEVER, *OTHER_COMMANDS)) == []


def test_verify_local_image_imports_neither_dataclasses_nor_http(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from airlock.formats import cosign
    from image_layouts import add_image, attach, key_layer, new_layout

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, "registry.local/app:1")
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload("registry.local/app", digest))])
    modules = imported("verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "key.pub",
                       "--insecure-ignore-tlog")
    assert "airlock.api.images" in modules
    assert loaded(modules, (*NEVER, *NO_TRUST, *NO_CERTIFICATES, "dataclasses", "logging", "airlock.cli.sign",
                            "airlock.cli.oci", "airlock.cli.trust")) == []


def test_the_command_table_is_the_commands_own_registration():
    """``COMMANDS`` (what ``airlock --help`` lists without importing a command) names every command the
    modules register, in order, with their own help lines; and each command's own parser is the same
    whether built alone (as ``main`` builds it) or with all the others."""
    from airlock import cli

    def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    full = subcommands(cli.build_parser())
    assert [(a.dest, a.help) for a in full._choices_actions] == [(name, line) for name, (_, _, line)
                                                                 in cli.COMMANDS.items()]
    listed = subcommands(cli.build_parser(None))
    assert [(a.dest, a.help) for a in listed._choices_actions] == [(a.dest, a.help) for a in full._choices_actions]
    for name in cli.COMMANDS:
        alone = subcommands(cli.build_parser(name)).choices[name]
        assert alone.format_help() == full.choices[name].format_help(), name


def test_the_command_is_found_past_top_level_options():
    from airlock.cli import _command_of

    assert _command_of(["verify-blob", "--key", "k", "f"]) == "verify-blob"
    assert _command_of(["-t", "verify", "verify", "--local-image", "d"]) == "verify"
    assert _command_of(["--timeout=90s", "save", "x"]) == "save"
    assert _command_of(["--timeout", "90s", "trust", "status"]) == "trust"
    assert _command_of(["--help"]) is None and _command_of([]) is None and _command_of(["nonsense"]) is None
