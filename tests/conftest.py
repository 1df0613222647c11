"""Shared fixtures: where ../shared lives, and running the CLI in-process or as a real process."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AIRLOCK_SHARED", REPO.parent / "shared"))
CONFORMANCE = SHARED / "fixtures" / "sigstore-conformance"
PRODUCTION_ROOT = CONFORMANCE / "default-trusted-root" / "production" / "trusted_root.json"
STAGING_ROOT = CONFORMANCE / "default-trusted-root" / "staging" / "trusted_root.json"
SIGSTORE_PYTHON = SHARED / "fixtures" / "sigstore-python" / "test" / "assets"
VECTORS = SHARED / "fixtures" / "vectors"
TUF_REPOSITORY = SHARED / "fixtures" / "tuf-public-good" / "repository"


def pytest_configure(config: pytest.Config) -> None:
    """A trust-anchor pin in the developer's shell or ~/.config must not change what the tests see
    (module-scoped fixtures run before any monkeypatch, so the environment is set for the session)."""
    import tempfile

    os.environ.pop("AIRLOCK_TUF_ROOT_SHA256", None)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="airlock-tests-config-")


def shared(path: Path) -> Path:
    """A file under ../shared, or skip the test with a message saying what is missing."""
    if not path.exists():
        pytest.skip(f"needs {path} (../shared is not beside the checkout)")
    return path


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(*argv: str | os.PathLike) -> Result:
    """Run ``airlock`` in-process (fast) and capture what it prints."""
    from airlock.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return Result(code, out.getvalue(), err.getvalue())


def airlock_exe() -> list[str]:
    exe = shutil.which("airlock", path=str(Path(sys.executable).parent)) or shutil.which("airlock")
    return [exe] if exe else [sys.executable, "-m", "airlock"]


def run_process(*argv: str | os.PathLike, net: bool = True, timeout: float = 60) -> Result:
    """Run ``airlock`` as a real process; ``net=False`` runs it with no network (unshare --net)."""
    command = [*airlock_exe(), *map(str, argv)]
    if not net:
        if not shutil.which("unshare") or subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode:
            pytest.skip("unshare --net is not available here (needs root or user namespaces)")
        command = ["unshare", "--net", *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def one_line_error(result: Result) -> str:
    """Assert the failure contract: non-zero exit, no traceback, and one `Error:` line, last on
    stderr (only WARNING lines, which say what was weakened or is about to expire, may precede it)."""
    assert result.code != 0, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and "Traceback" not in result.stderr, result.stderr
    assert lines[-1].startswith("Error: "), result.stderr
    assert all(line.startswith("WARNING: ") for line in lines[:-1]), result.stderr
    return lines[-1]


@pytest.fixture
def tuf_repository(tmp_path):
    """A fresh ``tuf_repo.TufRepo`` in ``tmp_path / "tuf-repo"``, dated by the real clock."""
    from tuf_repo import TufRepo

    return TufRepo(tmp_path / "tuf-repo")


@pytest.fixture
def tuf_server():
    """A ``tuf_repo.RepoServer`` on 127.0.0.1 serving nothing until ``tuf_server.serve(repo_or_dir)``."""
    from tuf_repo import serve

    with serve() as server:
        yield server


def _need_faketime() -> None:
    if not shutil.which("faketime"):
        pytest.skip("faketime is not installed (apt-get install faketime)")


def at(date: str, *argv: str, tuf_root: Path, net: bool = True) -> subprocess.CompletedProcess:
    """Run airlock as of ``date`` (the clock starts there and runs on)."""
    _need_faketime()
    command = ["faketime", "-f", f"@{date}", *airlock_exe(), *argv]
    if not net:
        command = ["unshare", "--net", *command]
    env = {**os.environ, "TUF_ROOT": str(tuf_root), "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """``host:port`` of a real registry (Debian's docker-registry) on 127.0.0.1, fresh per module."""
    from registry_server import docker_registry

    with docker_registry(directory=tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture
def skopeo(tmp_path):
    """Run ``skopeo`` (an independent registry client): ``skopeo("inspect", ...)`` -> stdout."""
    from registry_server import Skopeo

    return Skopeo(tmp_path)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory):
    """A SoftHSM2 token (``softhsm.SoftHsmToken``: module, label "airlock", pin "1234", ...) for the
    whole session, SOFTHSM2_CONF pointing at it; ``softhsm.uri(object=...)`` builds key URIs."""
    from softhsm import softhsm_token

    with softhsm_token(tmp_path_factory.mktemp("softhsm")) as token:
        yield token


@pytest.fixture(scope="session")
def moto_kms_server():
    """``host:port`` of moto's KMS on 127.0.0.1 (in-process server), with MessageType=DIGEST honoured.

    moto 5.2 ignores MessageType=DIGEST and hashes the digest again; real KMS (and cosign) sign the
    digest as given, so the server's Sign is patched to do that for as long as it runs."""
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    import base64
    import json
    import logging

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from moto.kms.exceptions import ValidationException
    from moto.kms.responses import KmsResponse

    original = KmsResponse.sign
    algorithms = {"ECDSA_SHA_256": hashes.SHA256, "ECDSA_SHA_384": hashes.SHA384, "ECDSA_SHA_512": hashes.SHA512,
                  "RSASSA_PKCS1_V1_5_SHA_256": hashes.SHA256, "RSASSA_PKCS1_V1_5_SHA_384": hashes.SHA384,
                  "RSASSA_PKCS1_V1_5_SHA_512": hashes.SHA512}

    def sign(self):
        if self._get_param("MessageType") != "DIGEST":
            return original(self)
        key = self.kms_backend.describe_key(self._get_param("KeyId"))
        algorithm, message = self._get_param("SigningAlgorithm"), self._get_param("Message")
        if algorithm not in key.signing_algorithms or algorithm not in algorithms:
            raise ValidationException(f"signing algorithm {algorithm} is not valid for this key (test patch)")
        private = key.private_key.private_key  # moto's wrapper around a cryptography key
        prehashed = Prehashed(algorithms[algorithm]())
        if len(message) != prehashed.digest_size:
            raise ValidationException("Digest is invalid length for algorithm " + algorithm)
        if isinstance(private, ec.EllipticCurvePrivateKey):
            signature = private.sign(message, ec.ECDSA(prehashed))
        else:
            assert isinstance(private, rsa.RSAPrivateKey)
            signature = private.sign(message, padding.PKCS1v15(), prehashed)
        return json.dumps({"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(),
                           "SigningAlgorithm": algorithm})

    KmsResponse.sign = sign
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines on stderr
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"{host}:{port}"
    finally:
        server.stop()
        KmsResponse.sign = original


@pytest.fixture
def aws_kms(moto_kms_server, monkeypatch, tmp_path):
    """``host:port`` of moto's KMS with fake credentials in the environment (no real AWS config),
    for ``awskms://HOST:PORT/alias/...`` references."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return moto_kms_server


def after_verification_header(stderr: str) -> list[str]:
    """What ``verify``/``verify-attestation`` print on stderr from the blank line before ``Verification
    for REF --`` on (as cosign's PrintVerificationHeader), REF left out: airlock adds its digest."""
    lines = stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Verification for "))
    assert at > 0 and lines[at - 1] == "", stderr
    return ["", "Verification for", *lines[at + 1:]]
