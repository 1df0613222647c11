"""The command line contract: cosign-style flags, `Verified OK`, one-line errors, JSON verdicts,
no traceback ever, and no socket under `unshare --net`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, one_line_error, run_cli, run_process

EXAMPLE = REPO / "examples"
IDENTITY = "https://github.com/airlock-example/release/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
KEYLESS = ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]


def example(*extra: str) -> list:
    return ["verify-blob", EXAMPLE / "hello.txt", "--bundle", EXAMPLE / "hello.txt.sigstore.json",
            "--trusted-root", EXAMPLE / "trusted_root.json", *extra]


def test_example_verifies():
    result = run_cli(*example(*KEYLESS))
    assert result.code == 0 and result.stderr == "Verified OK\n" and result.stdout == ""


def test_example_verifies_with_no_network_as_a_real_process():
    result = run_process(*example(*KEYLESS, "--offline"), net=False)
    assert result.code == 0, result.stderr
    assert result.stderr.strip() == "Verified OK"


def test_failure_with_no_network_is_one_line():
    result = run_process(*example("--certificate-identity", "x", "--certificate-oidc-issuer", ISSUER), net=False)
    assert one_line_error(result).startswith("Error: identity: certificate identity")


def test_json_output():
    result = run_cli(*example(*KEYLESS, "--output", "json"))
    report = json.loads(result.stdout)
    assert result.code == 0 and report["verified"] is True and report["identity"] == IDENTITY
    assert [c["check"] for c in report["checks"]] == [
        "set", "inclusion-proof", "tlog-entry", "certificate-chain", "sct", "identity", "signature"]
    failed = run_cli(*example("--certificate-identity", "x", "--certificate-oidc-issuer", ISSUER, "--output", "json"))
    report = json.loads(failed.stdout)
    assert failed.code == 1 and report["verified"] is False and report["error"]["check"] == "identity"


def test_digest_argument():
    import hashlib

    digest = "sha256:" + hashlib.sha256((EXAMPLE / "hello.txt").read_bytes()).hexdigest()
    argv = example(*KEYLESS)
    argv[1] = digest
    assert run_cli(*argv).code == 0
    argv[1] = "sha256:1234"
    assert "is not a digest" in one_line_error(run_cli(*argv))


@pytest.mark.parametrize("argv,reason", [
    (["--certificate-oidc-issuer", ISSUER], "needs exactly one of --certificate-identity"),
    (["--certificate-identity", IDENTITY], "needs exactly one of --certificate-oidc-issuer"),
    (["--certificate-identity-regexp", "(", "--certificate-oidc-issuer", ISSUER], "invalid regular expression"),
])
def test_usage_errors(argv, reason):
    result = run_cli(*example(*argv))
    assert result.code == 2 and reason in one_line_error(result)


def test_missing_inputs(tmp_path):
    assert "no such file" in one_line_error(run_cli("verify-blob", tmp_path / "nope", "--bundle",
                                                    EXAMPLE / "hello.txt.sigstore.json", "--trusted-root",
                                                    EXAMPLE / "trusted_root.json", *KEYLESS))
    assert "--bundle" in one_line_error(run_cli("verify-blob", EXAMPLE / "hello.txt", "--bundle", tmp_path / "x",
                                                "--trusted-root", EXAMPLE / "trusted_root.json", *KEYLESS))
    assert "no trusted root" in one_line_error(run_cli("verify-blob", EXAMPLE / "hello.txt", "--bundle",
                                                       EXAMPLE / "hello.txt.sigstore.json", *KEYLESS))
    assert "nothing to verify" in one_line_error(run_cli("verify-blob", EXAMPLE / "hello.txt", "--trusted-root",
                                                         EXAMPLE / "trusted_root.json", *KEYLESS))


@pytest.mark.parametrize("content,reason", [
    (b"", "bundle: not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"hello": 1}', "neither a Sigstore bundle nor a cosign bundle"),
    (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "missing verificationMaterial"),
    (b"x" * (33 * 1024 * 1024), "larger than"),
])
def test_malformed_bundles(tmp_path, content, reason):
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(content)
    result = run_cli("verify-blob", EXAMPLE / "hello.txt", "--bundle", bundle, "--trusted-root",
                     EXAMPLE / "trusted_root.json", *KEYLESS)
    assert reason in one_line_error(result)


def test_tampered_artifact(tmp_path):
    tampered = tmp_path / "hello.txt"
    tampered.write_bytes(b"hello from the other side\n")
    argv = example(*KEYLESS)
    argv[1] = tampered
    assert "tlog-entry: the log entry records a different artifact digest" in one_line_error(run_cli(*argv))


def test_insecure_flags_warn():
    result = run_cli(*example(*KEYLESS, "--insecure-ignore-sct"))
    assert result.code == 0
    assert "WARNING: --insecure-ignore-sct" in result.stderr and result.stderr.endswith("Verified OK\n")
    result = run_cli(*example(*KEYLESS, "--insecure-ignore-tlog=true", "--insecure-ignore-sct=false"))
    assert "WARNING: --insecure-ignore-tlog" in result.stderr and result.code == 1  # no signing time left


def test_go_style_booleans():
    assert run_cli(*example(*KEYLESS, "--offline=true")).code == 0
    result = run_cli(*example(*KEYLESS, "--offline=maybe"))
    assert result.code == 2 and "invalid boolean value" in result.stderr


def test_help_and_version():
    result = run_process("verify-blob", "--help")
    assert result.code == 0
    assert "--certificate-identity-regexp" in result.stdout and "--insecure-ignore-tlog" in result.stdout
    assert run_process("--version").stdout.startswith("airlock ")
    no_command = run_cli()
    assert no_command.code == 2 and "verify-blob" in no_command.stderr


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "airlock", "version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("airlock ")


def test_cli_start_does_not_import_crypto():
    """The CLI's import path stays light: parsing arguments must not pull in cryptography."""
    code = "import sys, airlock.cli; airlock.cli.build_parser(); print('cryptography' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False"


def test_warning_when_a_ca_in_the_trusted_root_expires_soon(tmp_path):
    from datetime import UTC, datetime, timedelta

    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, bundle_bytes

    now = datetime.now(UTC)
    inst = SigstoreInstance(now=now)
    root = inst.write_trusted_root(tmp_path / "root.json", ca_valid_for=(now - timedelta(days=30),
                                                                          now + timedelta(days=3)))
    (tmp_path / "a.txt").write_bytes(b"soon")
    (tmp_path / "a.json").write_bytes(bundle_bytes(inst.sign_blob(b"soon")))
    result = run_cli("verify-blob", tmp_path / "a.txt", "--bundle", tmp_path / "a.json", "--trusted-root", root,
                     "--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER)
    assert result.code == 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith("WARNING: trust root: CA ") and "expires within 7 days" in lines[0]
    assert lines[-1] == "Verified OK"
