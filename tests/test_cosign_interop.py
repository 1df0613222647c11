"""airlock beside the real cosign v3.1.2, both ways, on Debian's docker-registry on 127.0.0.1.

Every producer -> consumer pair is a test: keys, image signatures (legacy ``.sig``/``.att`` and
cosign v3 bundle referrers), ``attach signature``, OCI layouts (``save``/``load``), blobs, and the
output of the verify commands run on the same input by both tools. A pair that fails today
because airlock differs from cosign is a strict xfail naming the difference, so it turns into a
failure once fixed. cosign stays offline: ``--tlog-upload=false --use-signing-config=false`` to
sign, ``--insecure-ignore-tlog=true`` to verify, ``TUF_ROOT`` an empty directory (checked still
empty at the end), ``HOME`` a temporary directory; crane pushes the images.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import CONFORMANCE, PRODUCTION_ROOT, Result, after_verification_header, one_line_error, run_cli, shared
from peers import peer

PASSWORD = "interop-password"
HTTP = "--allow-http-registry"  # cosign: the loopback registry speaks plain HTTP
SIGN_OFFLINE = ["--tlog-upload=false", "--use-signing-config=false"]
NO_TLOG = "--insecure-ignore-tlog=true"
PREDICATE = {"builder": {"id": "https://ci.example/builder"}, "buildType": "https://example/build"}
SLSA = "https://slsa.dev/provenance/v0.2"
CONFORMANCE_IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
                        ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")
CONFORMANCE_ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """Where both tools run: an empty TUF_ROOT and HOME for cosign, the password for both."""
    directory = tmp_path_factory.mktemp("interop")
    (directory / "tuf").mkdir()
    (directory / "home").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSIGN_PASSWORD", PASSWORD)
        patch.setenv("TUF_ROOT", str(directory / "tuf"))
        yield directory
    # cosign never fetched Sigstore's TUF repository, nor cached anything under HOME
    assert list((directory / "tuf").iterdir()) == []
    assert [p.name for p in (directory / "home").iterdir()] == []


class Cosign:
    """Runs the real cosign (or crane) as a process, offline."""

    def __init__(self, home: Path) -> None:
        self.cosign, self.crane = peer("cosign"), peer("crane")
        self.overrides = {"COSIGN_PASSWORD": PASSWORD, "TUF_ROOT": str(home / "tuf"), "HOME": str(home / "home"),
                          "SIGSTORE_NO_CACHE": "true", "COSIGN_YES": "true"}

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.overrides}  # read at each call: a test may set AWS_* with monkeypatch

    def __call__(self, *argv: str | os.PathLike, cwd: Path | None = None) -> Result:
        proc = subprocess.run([str(self.cosign), *map(str, argv)], capture_output=True, text=True, env=self.env,
                              cwd=cwd, timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *argv: str | os.PathLike, cwd: Path | None = None) -> Result:
        result = self(*argv, cwd=cwd)
        assert result.code == 0, result
        return result

    def crane_(self, *argv: str) -> str:
        proc = subprocess.run([str(self.crane), *argv, "--insecure"], capture_output=True, text=True, env=self.env,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()


@pytest.fixture(scope="module")
def cosign(home) -> Cosign:
    return Cosign(home)


def airlock(*argv: str | os.PathLike) -> Result:
    return run_cli(*argv)


def airlock_ok(*argv: str | os.PathLike) -> Result:
    result = run_cli(*argv)
    assert result.code == 0, result
    return result


@pytest.fixture(scope="module")
def cosign_keys(cosign, home) -> tuple[Path, Path]:
    """A key pair made by ``cosign generate-key-pair``."""
    directory = home / "cosign-keys"
    directory.mkdir()
    cosign.ok("generate-key-pair", cwd=directory)
    return directory / "cosign.key", directory / "cosign.pub"


@pytest.fixture(scope="module")
def airlock_keys(home) -> tuple[Path, Path]:
    """A key pair made by ``airlock generate-key-pair``."""
    prefix = home / "airlock-keys" / "airlock"
    prefix.parent.mkdir()
    airlock_ok("generate-key-pair", "--output-key-prefix", prefix)
    return prefix.with_suffix(".key"), prefix.with_suffix(".pub")


@pytest.fixture()
def image(cosign, registry, tmp_path, request) -> tuple[str, str]:
    """A fresh image pushed by crane (its layer names the test): ``(repository, digest)``."""
    data = request.node.name.encode()
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("test.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / "layer.tar").write_bytes(layer.getvalue())
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:48]
    name += "-" + hashlib.sha256(data).hexdigest()[:8]  # unique even where long names share a prefix
    repository = f"{registry}/interop/{name}"
    cosign.crane_("append", "-f", str(tmp_path / "layer.tar"), "-t", f"{repository}:v1")
    digest = cosign.crane_("digest", f"{repository}:v1")
    assert digest.startswith("sha256:")
    return repository, digest


@pytest.fixture()
def predicate(tmp_path) -> Path:
    path = tmp_path / "predicate.json"
    path.write_text(json.dumps(PREDICATE))
    return path


def statements(stdout: str) -> list[dict]:
    """The in-toto statements in verify-attestation's output (one DSSE envelope a line)."""
    return [json.loads(base64.b64decode(json.loads(line)["payload"])) for line in stdout.splitlines() if line.strip()]


# -- keys ------------------------------------------------------------------------------------------


def test_cosign_key_signs_with_airlock_and_cosign_verifies(cosign, cosign_keys, tmp_path):
    key, pub = cosign_keys
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"signed with a cosign key by airlock\n")
    airlock_ok("sign-blob", "--key", key, "--bundle", tmp_path / "b.json", "--tlog-upload=false", blob)
    assert "Verified OK" in cosign.ok("verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", NO_TLOG,
                                      blob).stderr


def test_airlock_key_signs_with_cosign_and_airlock_verifies(cosign, airlock_keys, tmp_path):
    key, pub = airlock_keys
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"signed with an airlock key by cosign\n")
    cosign.ok("sign-blob", "--key", key, "--bundle", tmp_path / "b.json", *SIGN_OFFLINE, blob)
    verified = airlock("verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", "--insecure-ignore-tlog",
                       "--trusted-root", shared(PRODUCTION_ROOT), blob)
    assert verified.code == 0 and "Verified OK" in verified.stderr, verified
    blob.write_bytes(b"another blob\n")
    assert "does not match" in one_line_error(
        airlock("verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", "--insecure-ignore-tlog",
                "--trusted-root", PRODUCTION_ROOT, blob))


@pytest.mark.parametrize("maker", ["cosign", "airlock"])
def test_public_key_prints_the_same_key_in_both(cosign, cosign_keys, airlock_keys, maker):
    key, pub = cosign_keys if maker == "cosign" else airlock_keys
    by_cosign = cosign.ok("public-key", "--key", key).stdout
    by_airlock = airlock_ok("public-key", "--key", key).stdout
    assert by_cosign == by_airlock == pub.read_text()


@pytest.mark.parametrize("form", ["sec1", "pkcs8"])
def test_import_key_pair_of_an_openssl_key_in_both(cosign, tmp_path, form):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    pem = tmp_path / "ec.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", pem], check=True)
    if form == "pkcs8":
        subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", pem, "-out", tmp_path / "p8.pem"],
                       check=True)
        pem = tmp_path / "p8.pem"
    (tmp_path / "c").mkdir()
    (tmp_path / "a").mkdir()
    cosign.ok("import-key-pair", "--key", pem, "--output-key-prefix", "imported", cwd=tmp_path / "c")
    airlock_ok("import-key-pair", "--key", pem, "--output-key-prefix", tmp_path / "a" / "imported")
    expected = subprocess.run(["openssl", "ec", "-in", pem, "-pubout"], capture_output=True, text=True,
                              check=True).stdout
    assert (tmp_path / "c" / "imported.pub").read_text() == (tmp_path / "a" / "imported.pub").read_text() == expected
    # each tool opens the other's encrypted private key
    assert cosign.ok("public-key", "--key", tmp_path / "a" / "imported.key").stdout == expected
    assert airlock_ok("public-key", "--key", tmp_path / "c" / "imported.key").stdout == expected


# -- images: cosign signs, airlock verifies --------------------------------------------------------


@pytest.mark.parametrize("bundle_format", ["legacy", "bundle"])
def test_cosign_sign_then_airlock_verify_registry_and_saved(cosign, cosign_keys, image, tmp_path, bundle_format):
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, "-a", "team=interop",
              f"--new-bundle-format={'true' if bundle_format == 'bundle' else 'false'}", f"{repository}@{digest}")
    tags = cosign.crane_("ls", repository).split()
    assert (f"sha256-{digest[7:]}.sig" in tags) == (bundle_format == "legacy"), tags

    verified = airlock("verify", "--key", pub, "--insecure-ignore-tlog", f"{repository}:v1")
    assert verified.code == 0, verified
    assert f"Verification for {repository}:v1@{digest} --" in verified.stderr
    wrong = airlock("verify", "--key", pub, "--insecure-ignore-tlog", "-a", "team=other", f"{repository}:v1")
    assert "team" in one_line_error(wrong)

    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
    assert airlock("verify", "--local-image", tmp_path / "saved", "--key", pub, "--insecure-ignore-tlog").code == 0


@pytest.mark.parametrize("bundle_format", ["legacy", "bundle"])
def test_cosign_attest_then_airlock_verify_attestation(cosign, cosign_keys, image, predicate, tmp_path,
                                                        bundle_format):
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE, HTTP,
              f"--new-bundle-format={'true' if bundle_format == 'bundle' else 'false'}", f"{repository}@{digest}")
    for source in ([f"{repository}:v1"], ["--local-image", tmp_path / "saved"]):
        if source[0] == "--local-image":
            airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
        verified = airlock("verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "slsaprovenance",
                           *source)
        assert verified.code == 0, verified
        [statement] = statements(verified.stdout)
        assert statement["predicateType"] == SLSA and statement["predicate"] == PREDICATE
        assert statement["subject"][0]["digest"] == {"sha256": digest[7:]}
    assert "no attestations verified" in one_line_error(
        airlock("verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "spdx", f"{repository}:v1"))


def test_cosign_attach_signature_then_airlock_verify(cosign, cosign_keys, image, tmp_path):
    key, pub = cosign_keys
    repository, digest = image
    payload = tmp_path / "payload.json"
    payload.write_text(cosign.ok("generate", f"{repository}@{digest}").stdout)
    signature = tmp_path / "payload.sig"
    signature.write_text(cosign.ok("sign-blob", "--key", key, *SIGN_OFFLINE, "--new-bundle-format=false",
                                   payload).stdout)
    cosign.ok("attach", "signature", "--payload", payload, "--signature", signature, HTTP, f"{repository}@{digest}")
    verified = airlock("verify", "--key", pub, "--insecure-ignore-tlog", f"{repository}:v1")
    assert verified.code == 0, verified
    assert json.loads(verified.stdout)[0]["critical"]["image"]["docker-manifest-digest"] == digest


# -- images: airlock signs, cosign verifies --------------------------------------------------------


@pytest.mark.parametrize("bundle_format", ["legacy", "bundle"])
def test_airlock_sign_then_cosign_verify_registry_and_saved(cosign, cosign_keys, image, tmp_path, bundle_format):
    key, pub = cosign_keys
    repository, digest = image
    airlock_ok("sign", "--key", key, "-a", "team=interop", "--tlog-upload=false",
               f"--new-bundle-format={'true' if bundle_format == 'bundle' else 'false'}", f"{repository}@{digest}")
    verified = cosign("verify", "--key", pub, NO_TLOG, HTTP, f"{repository}:v1")
    assert verified.code == 0, verified
    [claims] = json.loads(verified.stdout)
    assert claims["critical"]["image"]["docker-manifest-digest"] == digest
    if bundle_format == "legacy":  # cosign turns a bundle's in-toto statement into claims without annotations
        assert claims["optional"] == {"team": "interop"}
        assert cosign("verify", "--key", pub, NO_TLOG, HTTP, "-a", "team=other", f"{repository}:v1").code != 0

    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
    local = cosign("verify", "--local-image", tmp_path / "saved", "--key", pub, NO_TLOG)
    assert local.code == 0, local


def test_airlock_attach_signature_then_cosign_verify(cosign, cosign_keys, image, tmp_path):
    key, pub = cosign_keys
    repository, digest = image
    payload = tmp_path / "payload.json"
    payload.write_text(airlock_ok("generate", f"{repository}@{digest}").stdout)
    assert payload.read_text() == cosign.ok("generate", f"{repository}@{digest}").stdout
    signature = tmp_path / "payload.sig"
    signature.write_text(airlock_ok("sign-blob", "--key", key, "--tlog-upload=false", payload).stdout)
    airlock_ok("attach", "signature", "--payload", payload, "--signature", signature, f"{repository}@{digest}")
    verified = cosign("verify", "--key", pub, NO_TLOG, HTTP, f"{repository}:v1")
    assert verified.code == 0, verified
    assert json.loads(verified.stdout)[0]["critical"]["image"]["docker-manifest-digest"] == digest


@pytest.mark.parametrize("bundle_format", ["legacy", "bundle"])
def test_airlock_attest_then_cosign_verify_attestation(cosign, cosign_keys, image, predicate, tmp_path,
                                                        bundle_format):
    key, pub = cosign_keys
    repository, digest = image
    flag = f"--new-bundle-format={'true' if bundle_format == 'bundle' else 'false'}"
    airlock_ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", "--tlog-upload=false",
               flag, f"{repository}@{digest}")
    verified = cosign("verify-attestation", "--key", pub, NO_TLOG, HTTP, "--type", "slsaprovenance", flag,
                      f"{repository}:v1")
    assert verified.code == 0, verified
    [statement] = statements(verified.stdout)
    assert statement["predicate"] == PREDICATE and statement["subject"][0]["digest"] == {"sha256": digest[7:]}
    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
    local = cosign("verify-attestation", "--local-image", tmp_path / "saved", "--key", pub, NO_TLOG, "--type",
                   "slsaprovenance", flag)
    assert local.code == 0, local


def test_airlock_attest_with_default_flags_then_cosign_verify_attestation(cosign, cosign_keys, image, predicate):
    """airlock attest writes a legacy .att by default; cosign v3's verify-attestation falls back to it when the
    image has no bundle referrer."""
    key, pub = cosign_keys
    repository, digest = image
    airlock_ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", "--tlog-upload=false",
               f"{repository}@{digest}")
    verified = cosign("verify-attestation", "--key", pub, NO_TLOG, HTTP, "--type", "slsaprovenance",
                      f"{repository}:v1")
    assert verified.code == 0, verified
    assert [st["predicate"] for st in statements(verified.stdout)] == [PREDICATE]


@pytest.mark.parametrize("tool", ["cosign", "airlock"])
@pytest.mark.parametrize("command", ["sign", "attest"])
def test_sign_and_attest_attach_a_bundle_referrer_by_default(cosign, cosign_keys, image, predicate, tool, command):
    """cosign v3.1.2 sign and attest (with --key, no log) attach a Sigstore bundle referrer by default: on a
    registry without the referrers API, the fallback tag sha256-<hex> and no .sig/.att; airlock the same."""
    key, _ = cosign_keys
    repository, digest = image
    extra = ["--predicate", predicate, "--type", "slsaprovenance"] if command == "attest" else []
    if tool == "cosign":
        cosign.ok(command, "--key", key, *extra, *SIGN_OFFLINE, HTTP, f"{repository}@{digest}")
    else:
        airlock_ok(command, "--key", key, *extra, "--tlog-upload=false", f"{repository}@{digest}")
    assert sorted(cosign.crane_("ls", repository).split()) == sorted(["v1", f"sha256-{digest[7:]}"])
    referrers = json.loads(cosign.crane_("manifest", f"{repository}:sha256-{digest[7:]}"))["manifests"]
    assert [m["artifactType"] for m in referrers] == ["application/vnd.dev.sigstore.bundle.v0.3+json"]


@pytest.mark.parametrize("command", ["verify", "verify-attestation"])
def test_verify_discovery_with_new_bundle_format_as_cosign(cosign, cosign_keys, airlock_keys, image, predicate,
                                                           command):
    """cosign v3 verify (--new-bundle-format, its default) reads the bundles, or the legacy signatures when
    the image has none; airlock --new-bundle-format does the same. airlock's default reads both: a bundle
    by another key pushed beside a good legacy signature fails cosign, not airlock."""
    key, pub = cosign_keys
    repository, digest = image
    kind = ["--predicate", predicate, "--type", "slsaprovenance"] if command == "verify-attestation" else []
    checks = ["--type", "slsaprovenance"] if kind else []
    producer = "attest" if kind else "sign"
    cosign.ok(producer, "--key", key, *kind, *SIGN_OFFLINE, HTTP, "--new-bundle-format=false", f"{repository}@{digest}")
    ref = f"{repository}:v1"
    for flags in ([], ["--new-bundle-format"], ["--new-bundle-format=false"]):
        assert cosign(command, "--key", pub, NO_TLOG, *checks, *flags, HTTP, ref).code == 0
        assert airlock(command, "--key", pub, "--insecure-ignore-tlog", *checks, *flags, ref).code == 0, flags
    other_key = airlock_keys[0]
    cosign.ok(producer, "--key", other_key, *kind, *SIGN_OFFLINE, HTTP, f"{repository}@{digest}")  # a bundle
    assert cosign(command, "--key", pub, NO_TLOG, *checks, HTTP, ref).code == 1
    assert airlock(command, "--key", pub, "--insecure-ignore-tlog", *checks, "--new-bundle-format", ref).code == 1
    assert airlock(command, "--key", pub, "--insecure-ignore-tlog", *checks, ref).code == 0


@pytest.mark.parametrize("bundle_format", ["true", "false"])
def test_sign_and_attest_stderr_carries_cosign_lines(cosign, cosign_keys, image, predicate, blob, tmp_path,
                                                     bundle_format):
    key, _ = cosign_keys
    repository, digest = image
    fmt = f"--new-bundle-format={bundle_format}"
    commands = {"sign": ["sign", "--key", key, fmt, f"{repository}@{digest}"],
                "attest": ["attest", "--key", key, "--predicate", predicate, fmt, f"{repository}@{digest}"],
                "attest-blob": ["attest-blob", "--key", key, "--predicate", predicate, fmt, "--bundle",
                                tmp_path / "att.json", blob]}
    expected = {"sign": [f"Pushing signature to: {repository}"], "attest": [f"Using payload from: {predicate}"],
                "attest-blob": [f"Using payload from: {blob}", f"Using payload from: {predicate}",
                                f"Wrote bundle to file {tmp_path / 'att.json'}"]}
    for name, argv in commands.items():
        by_cosign = cosign.ok(*argv[:1], *SIGN_OFFLINE, *([HTTP] if name != "attest-blob" else []), *argv[1:])
        by_airlock = airlock_ok(*argv[:1], "--tlog-upload=false", *argv[1:])
        for line in expected[name]:
            assert line in by_cosign.stderr.splitlines() and line in by_airlock.stderr.splitlines(), (name, line)


@pytest.mark.parametrize("tool", ["cosign", "airlock"])
def test_sign_with_new_bundle_format_false_attaches_a_legacy_sig(cosign, cosign_keys, image, tool):
    key, _ = cosign_keys
    repository, digest = image
    if tool == "cosign":
        cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, "--new-bundle-format=false", f"{repository}@{digest}")
    else:
        airlock_ok("sign", "--key", key, "--tlog-upload=false", "--new-bundle-format=false", f"{repository}@{digest}")
    assert sorted(cosign.crane_("ls", repository).split()) == sorted(["v1", f"sha256-{digest[7:]}.sig"])


@pytest.mark.parametrize("bundle_format", ["true", "false"])
def test_sign_upload_false_same_as_cosign(cosign, cosign_keys, image, bundle_format):
    """--upload=false: the legacy format signs and prints nothing; the new format needs --bundle FILE."""
    key, _ = cosign_keys
    repository, digest = image
    argv = ["sign", "--key", key, "--upload=false", f"--new-bundle-format={bundle_format}", f"{repository}@{digest}"]
    by_cosign, by_airlock = both(cosign, [*argv[:1], *SIGN_OFFLINE, HTTP, *argv[1:]],
                                 [*argv[:1], "--tlog-upload=false", *argv[1:]])
    assert by_cosign.stdout == by_airlock.stdout == ""
    assert (by_cosign.code, by_airlock.code) == ((1, 2) if bundle_format == "true" else (0, 0))
    assert cosign.crane_("ls", repository).split() == ["v1"]


def test_sign_payload_needs_the_legacy_format(cosign_keys, image, tmp_path):
    """cosign v3 silently ignores --payload when it signs a bundle; airlock refuses rather than sign
    something other than what was asked."""
    key, _ = cosign_keys
    repository, digest = image
    (tmp_path / "payload.json").write_text("{}")
    assert one_line_error(airlock("sign", "--key", key, "--tlog-upload=false", "--payload", tmp_path / "payload.json",
                                  f"{repository}@{digest}")) == (
        f"Error: --payload {tmp_path / 'payload.json'}: a bundle signs cosign's in-toto statement, not a given "
        "payload; sign a simple-signing payload with --new-bundle-format=false")


def _att_layer(cosign, repository: str, digest: str) -> dict:
    manifest = json.loads(cosign.crane_("manifest", f"{repository}:sha256-{digest[7:]}.att"))
    [layer] = manifest["layers"]
    blob = subprocess.run([str(cosign.crane), "blob", f"{repository}@{layer['digest']}", "--insecure"],
                          capture_output=True, check=True, timeout=60).stdout
    return {"mediaType": layer["mediaType"], "annotations": layer["annotations"], "envelope": json.loads(blob)}


def test_airlock_attest_legacy_stores_what_cosign_attest_stores(cosign, cosign_keys, registry, tmp_path, predicate,
                                                                request):
    key, _ = cosign_keys
    stored = {}
    for tool in ("cosign", "airlock"):
        layer = tmp_path / f"{tool}.tar"
        with tarfile.open(layer, "w") as tar:
            data = f"{request.node.name} {tool}".encode()
            info = tarfile.TarInfo("test.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        repository = f"{registry}/interop/att-stored-{tool}-{uuid.uuid4().hex[:8]}"
        cosign.crane_("append", "-f", str(layer), "-t", f"{repository}:v1")
        digest = cosign.crane_("digest", f"{repository}:v1")
        argv = ["attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance",
                "--new-bundle-format=false", f"{repository}@{digest}"]
        if tool == "cosign":
            cosign.ok(*argv, *SIGN_OFFLINE, HTTP)
        else:
            airlock_ok(*argv, "--tlog-upload=false")
        stored[tool] = _att_layer(cosign, repository, digest)
    for found in stored.values():  # the signatures differ; the shape is the same, key for key
        found["envelope"]["payload"] = json.loads(base64.b64decode(found["envelope"]["payload"]))["predicate"]
        assert len(found["envelope"]["signatures"]) == 1
        found["envelope"]["signatures"] = [sorted(s) for s in found["envelope"]["signatures"]]
    assert list(stored["airlock"]["envelope"]) == list(stored["cosign"]["envelope"])
    assert stored["airlock"] == stored["cosign"]


# -- layouts -----------------------------------------------------------------------------------------


def test_cosign_save_then_airlock_verify_and_load(cosign, cosign_keys, image, registry, predicate, tmp_path):
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, "--new-bundle-format=false", f"{repository}@{digest}")
    cosign.ok("save", "--dir", tmp_path / "cosign-saved", HTTP, f"{repository}:v1")
    assert airlock("verify", "--local-image", tmp_path / "cosign-saved", "--key", pub,
                   "--insecure-ignore-tlog").code == 0

    target = f"{registry}/interop/loaded-from-cosign"
    airlock_ok("load", "--dir", tmp_path / "cosign-saved", target)
    assert cosign.crane_("digest", target) == digest
    assert cosign("verify", "--key", pub, NO_TLOG, HTTP, f"{target}@{digest}").code == 0


def test_cosign_save_of_bundles_then_airlock_verify_local(cosign, cosign_keys, image, predicate, tmp_path):
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, f"{repository}@{digest}")
    cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE, HTTP,
              f"{repository}@{digest}")
    cosign.ok("save", "--dir", tmp_path / "cosign-saved", HTTP, f"{repository}:v1")
    local = ["--local-image", tmp_path / "cosign-saved", "--key", pub, "--insecure-ignore-tlog"]
    assert airlock("verify", *local).code == 0
    verified = airlock("verify-attestation", *local, "--type", "slsaprovenance")
    assert verified.code == 0, verified
    assert [s["predicate"] for s in statements(verified.stdout)] == [PREDICATE]


def test_airlock_save_then_cosign_load(cosign, cosign_keys, image, registry, tmp_path):
    """A legacy .sig (cosign v3.1.2 load cannot push a bundle referrer: see the test below)."""
    key, pub = cosign_keys
    repository, digest = image
    airlock_ok("sign", "--key", key, "--tlog-upload=false", "--new-bundle-format=false", f"{repository}@{digest}")
    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
    target = f"{registry}/interop/loaded-by-cosign"
    cosign.ok("load", "--dir", tmp_path / "saved", HTTP, target)
    assert cosign.crane_("digest", target) == digest
    assert cosign("verify", "--key", pub, NO_TLOG, HTTP, f"{target}@{digest}").code == 0
    assert airlock("verify", "--key", pub, "--insecure-ignore-tlog", f"{target}@{digest}").code == 0


def test_airlock_save_of_bundles_then_cosign_load(cosign, cosign_keys, image, registry, tmp_path):
    key, _ = cosign_keys
    repository, digest = image
    airlock_ok("sign", "--key", key, "--tlog-upload=false", "--new-bundle-format", f"{repository}@{digest}")
    cosign.ok("save", "--dir", tmp_path / "cosign-saved", HTTP, f"{repository}:v1")
    own = cosign("load", "--dir", tmp_path / "cosign-saved", HTTP, f"{registry}/interop/cosign-own-load")
    if own.code != 0 and "MANIFEST_BLOB_UNKNOWN" in own.stderr:
        pytest.skip("cosign v3.1.2 load cannot push a bundle referrer even from its own save "
                    "(it puts the manifest before its bundle layer: MANIFEST_BLOB_UNKNOWN)")
    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
    cosign.ok("load", "--dir", tmp_path / "saved", HTTP, f"{registry}/interop/loaded-bundles")


def test_cosign_verify_local_reads_airlock_and_cosign_layouts_alike(cosign, cosign_keys, image, predicate,
                                                                     tmp_path):
    """Both layouts of one image with a bundle signature and a bundle attestation: cosign prints the same."""
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, f"{repository}@{digest}")
    cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE, HTTP,
              f"{repository}@{digest}")
    cosign.ok("save", "--dir", tmp_path / "by-cosign", HTTP, f"{repository}:v1")
    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "by-airlock")
    for command in (["verify"], ["verify-attestation", "--type", "slsaprovenance"]):
        outputs = [cosign(*command, "--local-image", tmp_path / layout, "--key", pub, NO_TLOG)
                   for layout in ("by-cosign", "by-airlock")]
        assert outputs[0].code == outputs[1].code == 0, outputs
        assert outputs[0].stdout == outputs[1].stdout


def test_crane_sees_the_same_digests(cosign, cosign_keys, image, registry, tmp_path):
    key, _ = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, "--new-bundle-format=false", f"{repository}@{digest}")
    signatures = f"{repository}:sha256-{digest[7:]}.sig"
    sig_digest = cosign.crane_("digest", signatures)
    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
    index = json.loads((tmp_path / "saved" / "index.json").read_text())
    assert {m["digest"] for m in index["manifests"]} == {digest, sig_digest}
    target = f"{registry}/interop/crane-digests"
    airlock_ok("load", "--dir", tmp_path / "saved", target)
    assert cosign.crane_("digest", target) == digest
    assert cosign.crane_("digest", f"{target}:sha256-{digest[7:]}.sig") == sig_digest


# -- blobs -------------------------------------------------------------------------------------------


@pytest.fixture()
def blob(tmp_path) -> Path:
    path = tmp_path / "artifact.txt"
    path.write_bytes(b"an artifact for the interop tests\n")
    return path


@pytest.mark.parametrize("bundle_format", ["true", "false"])
def test_cosign_sign_blob_then_airlock_verify_blob(cosign, cosign_keys, blob, tmp_path, bundle_format):
    key, pub = cosign_keys
    signature = cosign.ok("sign-blob", "--key", key, "--bundle", tmp_path / "b.json", *SIGN_OFFLINE,
                          f"--new-bundle-format={bundle_format}", blob).stdout
    document = json.loads((tmp_path / "b.json").read_text())
    assert ("mediaType" in document) == (bundle_format == "true")
    (tmp_path / "sig").write_text(signature)
    assert (signature == "") == (bundle_format == "true")  # cosign prints the signature only for the legacy format
    materials = [["--bundle", tmp_path / "b.json"]] + [["--signature", tmp_path / "sig"]] * bool(signature)
    for material in materials:
        verified = airlock("verify-blob", "--key", pub, *material, "--insecure-ignore-tlog", "--trusted-root",
                           shared(PRODUCTION_ROOT), blob)
        assert verified.code == 0 and "Verified OK" in verified.stderr, verified


@pytest.mark.parametrize("bundle_format", ["true", "false"])
def test_cosign_sign_blob_then_airlock_verify_blob_without_trusted_root(cosign, cosign_keys, blob, tmp_path,
                                                                         bundle_format):
    key, pub = cosign_keys
    cosign.ok("sign-blob", "--key", key, "--bundle", tmp_path / "b.json", *SIGN_OFFLINE,
              f"--new-bundle-format={bundle_format}", blob)
    verified = airlock("verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", "--insecure-ignore-tlog", blob)
    assert verified.code == 0 and "Verified OK" in verified.stderr, verified


@pytest.mark.parametrize("bundle_format", ["true", "false"])
def test_airlock_sign_blob_then_cosign_verify_blob(cosign, cosign_keys, blob, tmp_path, bundle_format):
    key, pub = cosign_keys
    signature = airlock_ok("sign-blob", "--key", key, "--bundle", tmp_path / "b.json", "--tlog-upload=false",
                           f"--new-bundle-format={bundle_format}", blob).stdout
    (tmp_path / "sig").write_text(signature)
    assert (signature == "") == (bundle_format == "true")  # as cosign: a printed signature only when legacy
    materials = [["--bundle", tmp_path / "b.json"]] + [["--signature", tmp_path / "sig"]] * bool(signature)
    for material in materials:
        verified = cosign("verify-blob", "--key", pub, *material, NO_TLOG, blob)
        assert verified.code == 0 and "Verified OK" in verified.stderr, verified
    blob.write_bytes(b"tampered\n")
    assert cosign("verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", NO_TLOG, blob).code == 1


# -- blob attestations: attest-blob <-> verify-blob-attestation, a bundle or a bare DSSE envelope ---------


def attest_blob(tool, cosign, key: Path, blob: Path, predicate: Path, out: Path, form: str) -> list:
    """Attest ``blob`` with ``tool``; the verify-blob-attestation flags that name what it wrote."""
    argv = ["attest-blob", "--key", key, "--predicate", predicate, "--type", "slsaprovenance"]
    if form == "bundle":
        argv += ["--bundle", out]
    else:
        argv += ["--new-bundle-format=false", "--output-signature", out]
    if tool == "cosign":
        cosign.ok(*argv, *SIGN_OFFLINE, blob)
    else:
        airlock_ok(*argv, "--tlog-upload=false", blob)
    return ["--bundle", out] if form == "bundle" else ["--signature", out]


def verify_blob_attestation(tool, cosign, pub: Path, material: list, *rest) -> Result:
    argv = ["verify-blob-attestation", "--key", pub, *material, *rest]
    return cosign(*argv, NO_TLOG) if tool == "cosign" else airlock(*argv, "--insecure-ignore-tlog")


@pytest.mark.parametrize("form", ["bundle", "envelope"])
@pytest.mark.parametrize(("producer", "consumer"), [("cosign", "airlock"), ("airlock", "cosign"),
                                                    ("airlock", "airlock")])
def test_attest_blob_then_verify_blob_attestation(cosign, cosign_keys, blob, predicate, tmp_path, form, producer,
                                                  consumer):
    key, pub = cosign_keys
    material = attest_blob(producer, cosign, key, blob, predicate, tmp_path / "att.json", form)
    verified = verify_blob_attestation(consumer, cosign, pub, material, "--type", "slsaprovenance", blob)
    assert (verified.code, verified.stdout) == (0, "") and "Verified OK" in verified.stderr, verified
    digest = ["--digest", hashlib.sha256(blob.read_bytes()).hexdigest(), "--digestAlg", "sha256"]
    assert verify_blob_attestation(consumer, cosign, pub, material, "--type", "slsaprovenance", *digest).code == 0


def test_airlock_attest_blob_writes_what_cosign_writes(cosign, cosign_keys, blob, predicate, tmp_path):
    key, _ = cosign_keys
    for tool in ("cosign", "airlock"):
        attest_blob(tool, cosign, key, blob, predicate, tmp_path / f"{tool}.json", "bundle")
        attest_blob(tool, cosign, key, blob, predicate, tmp_path / f"{tool}.env", "envelope")
    bundles = [json.loads((tmp_path / f"{tool}.json").read_text()) for tool in ("cosign", "airlock")]
    envelopes = [json.loads((tmp_path / f"{tool}.env").read_text()) for tool in ("cosign", "airlock")]
    for made in (*(b["dsseEnvelope"] for b in bundles), *envelopes):
        assert list(made) == ["payload", "payloadType", "signatures"] and list(made["signatures"][0]) == ["sig"]
        made["signatures"] = None  # the signatures differ (ECDSA); the statements are the same
        made["payload"] = json.loads(base64.b64decode(made["payload"]))
    assert bundles[0]["verificationMaterial"] == {k: v for k, v in bundles[1]["verificationMaterial"].items()
                                                  if k != "tlogEntries" or v}
    assert bundles[0]["dsseEnvelope"] == bundles[1]["dsseEnvelope"]
    assert envelopes[0] == envelopes[1]
    assert list(envelopes[1]["payload"]) == list(envelopes[0]["payload"])  # key order too
    assert envelopes[1]["payload"]["subject"] == [{"name": blob.name,
                                                   "digest": {"sha256": hashlib.sha256(blob.read_bytes()).hexdigest()}}]


def test_attest_blob_without_bundle_prints_the_envelope_as_cosign(cosign, cosign_keys, blob, predicate):
    key, _ = cosign_keys
    argv = ["attest-blob", "--key", key, "--predicate", predicate, "--type", "slsaprovenance"]
    printed = [json.loads(cosign.ok(*argv, *SIGN_OFFLINE, "--new-bundle-format=false", blob).stdout),
               json.loads(airlock_ok(*argv, "--tlog-upload=false", "--new-bundle-format=false", blob).stdout)]
    assert [list(p) for p in printed] == [["payload", "payloadType", "signatures"]] * 2
    assert printed[0]["payload"] == printed[1]["payload"]
    # the new format has nowhere to go without --bundle: both refuse
    assert cosign(*argv, *SIGN_OFFLINE, blob).code != 0
    assert one_line_error(airlock(*argv, "--tlog-upload=false", blob)).startswith("Error: --bundle FILE is required")


REJECTIONS = {  # what is wrong -> airlock's error (cosign exits 1 on each, with its own wording)
    "wrong-type": "Error: type: predicate type 'https://slsa.dev/provenance/v0.2' is not 'https://spdx.dev/Document'",
    "wrong-subject": "Error: artifact: {other} is not a subject of the in-toto statement",
    "wrong-digest": "Error: artifact: sha256:{zeros} is not a subject of the in-toto statement",
    "wrong-key": "Error: signature: the DSSE signature does not verify",
    "tampered-payload": "Error: signature: the DSSE signature does not verify",
    "tampered-signature": "Error: signature: the DSSE signature does not verify",
}


@pytest.mark.parametrize("form", ["bundle", "envelope"])
@pytest.mark.parametrize("producer", ["cosign", "airlock"])
@pytest.mark.parametrize("wrong", list(REJECTIONS))
def test_verify_blob_attestation_rejections(cosign, cosign_keys, airlock_keys, blob, predicate, tmp_path, form,
                                            producer, wrong):
    key, pub = cosign_keys
    out = tmp_path / "att.json"
    material = attest_blob(producer, cosign, key, blob, predicate, out, form)
    other = tmp_path / "other.txt"
    other.write_bytes(b"not the attested blob\n")
    kind, subject = ["--type", "slsaprovenance"], [blob]
    if wrong == "wrong-type":
        kind = ["--type", "spdx"]
    elif wrong == "wrong-subject":
        subject = [other]
    elif wrong == "wrong-digest":
        subject = ["--digest", "0" * 64, "--digestAlg", "sha256"]
    elif wrong == "wrong-key":
        pub = airlock_keys[1]
    else:
        document = json.loads(out.read_text())
        envelope = document["dsseEnvelope"] if form == "bundle" else document
        if wrong == "tampered-payload":
            statement = json.loads(base64.b64decode(envelope["payload"]))
            statement["predicate"]["builder"]["id"] = "https://evil.example/builder"
            envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        else:
            signature = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
            signature[-1] ^= 1
            envelope["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
        out.write_text(json.dumps(document))
    by_cosign = verify_blob_attestation("cosign", cosign, pub, material, *kind, *subject)
    by_airlock = verify_blob_attestation("airlock", cosign, pub, material, *kind, *subject)
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (1, ""), (by_cosign,
                                                                                                  by_airlock)
    assert one_line_error(by_airlock) == REJECTIONS[wrong].format(other=other, zeros="0" * 64)


def test_verify_blob_attestation_check_claims_false(cosign, cosign_keys, blob, predicate, tmp_path):
    """--check-claims=false verifies only the envelope, in both tools; airlock says what it did not check."""
    key, pub = cosign_keys
    material = attest_blob("cosign", cosign, key, blob, predicate, tmp_path / "att.json", "bundle")
    other = tmp_path / "other.txt"
    other.write_bytes(b"not the attested blob\n")
    argv = [*material, "--type", "slsaprovenance", "--check-claims=false", other]
    assert verify_blob_attestation("cosign", cosign, pub, argv[:2], *argv[2:]).code == 0
    verified = verify_blob_attestation("airlock", cosign, pub, argv[:2], *argv[2:])
    assert verified.code == 0 and "Verified OK" in verified.stderr, verified
    assert (f"WARNING: --check-claims=false: the attestation is NOT checked to be about {other}; only its envelope "
            "is verified") in verified.stderr
    # the envelope itself is still verified
    document = json.loads((tmp_path / "att.json").read_text())
    document["dsseEnvelope"]["payloadType"] = "text/plain"
    (tmp_path / "att.json").write_text(json.dumps(document))
    assert verify_blob_attestation("cosign", cosign, pub, argv[:2], *argv[2:]).code == 1
    assert one_line_error(verify_blob_attestation("airlock", cosign, pub, argv[:2], *argv[2:])) == (
        "Error: signature: the DSSE signature does not verify")


@pytest.mark.parametrize(("argv", "error"), [
    ([], "Error: nothing to verify: pass --bundle FILE or --signature FILE (a DSSE envelope)"),
    (["--bundle", "B"], "Error: name the blob (FILE, or --digest HEX --digestAlg sha256) that the attestation must be "
                        "about, or verify only the envelope with --check-claims=false"),
])
def test_verify_blob_attestation_usage_errors(cosign_keys, tmp_path, argv, error):
    result = airlock("verify-blob-attestation", "--key", cosign_keys[1], "--insecure-ignore-tlog",
                     *[str(tmp_path / a) if a == "B" else a for a in argv])
    assert (result.code, one_line_error(result)) == (2, error)


def test_verify_blob_attestation_refuses_a_message_signature_and_two_signatures(cosign, cosign_keys, blob,
                                                                                 predicate, tmp_path):
    key, pub = cosign_keys
    cosign.ok("sign-blob", "--key", key, "--bundle", tmp_path / "sig.json", *SIGN_OFFLINE, blob)
    refused = airlock("verify-blob-attestation", "--key", pub, "--insecure-ignore-tlog", "--bundle",
                      tmp_path / "sig.json", blob)
    assert one_line_error(refused) == (f"Error: --bundle {tmp_path / 'sig.json'}: the bundle holds a message "
                                       "signature, not a DSSE envelope (an attestation); verify it with verify-blob")
    attest_blob("cosign", cosign, key, blob, predicate, tmp_path / "env.json", "envelope")
    envelope = json.loads((tmp_path / "env.json").read_text())
    envelope["signatures"] *= 2
    (tmp_path / "env.json").write_text(json.dumps(envelope))
    refused = airlock("verify-blob-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "slsaprovenance",
                      "--signature", tmp_path / "env.json", blob)
    assert one_line_error(refused) == (f"Error: --signature {tmp_path / 'env.json'}: the DSSE envelope has 2 "
                                       "signatures; exactly one is verified")


# -- output: the same input through both verifiers ----------------------------------------------------


def both(cosign, cosign_argv: list, airlock_argv: list) -> tuple[Result, Result]:
    return cosign(*cosign_argv), airlock(*airlock_argv)


def conformance_blob_argv(case: str) -> list:
    bundle = shared(CONFORMANCE / "bundle-verify" / case / "bundle.sigstore.json")
    return ["verify-blob", "--trusted-root", shared(PRODUCTION_ROOT), "--bundle", bundle,
            "--certificate-identity", CONFORMANCE_IDENTITY, "--certificate-oidc-issuer", CONFORMANCE_ISSUER,
            CONFORMANCE / "bundle-verify" / "a.txt"]


@pytest.mark.parametrize("case", ["happy-path-v0.3", "happy-path-v0.1", "incorrect-public-key_fail"])
def test_output_verify_blob_conformance_bundle(cosign, case):
    by_cosign, by_airlock = both(cosign, conformance_blob_argv(case), conformance_blob_argv(case))
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (
        (0, "") if case.startswith("happy") else (1, ""))
    if by_cosign.code == 0:
        assert by_cosign.stderr.strip() == by_airlock.stderr.strip() == "Verified OK"


@pytest.mark.parametrize("tampered", [False, True])
def test_output_verify_blob_key_bundle(cosign, cosign_keys, blob, tmp_path, tampered):
    key, pub = cosign_keys
    cosign.ok("sign-blob", "--key", key, "--bundle", tmp_path / "b.json", *SIGN_OFFLINE, blob)
    if tampered:
        blob.write_bytes(b"tampered\n")
    by_cosign, by_airlock = both(
        cosign, ["verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", NO_TLOG, blob],
        ["verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", "--insecure-ignore-tlog", "--trusted-root",
         shared(PRODUCTION_ROOT), blob])
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (int(tampered), "")


def legacy_signed(cosign, cosign_keys, image) -> str:
    key, _ = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, "--new-bundle-format=false", "-a", "team=interop",
              f"{repository}@{digest}")
    return f"{repository}:v1"


def test_output_verify_legacy_signature_same_json(cosign, cosign_keys, image):
    ref = legacy_signed(cosign, cosign_keys, image)
    pub = cosign_keys[1]
    by_cosign, by_airlock = both(cosign, ["verify", "--key", pub, NO_TLOG, HTTP, ref],
                                 ["verify", "--key", pub, "--insecure-ignore-tlog", ref])
    assert by_cosign.code == by_airlock.code == 0
    assert json.loads(by_cosign.stdout) == json.loads(by_airlock.stdout)


def test_output_verify_legacy_signature_same_bytes(cosign, cosign_keys, image):
    ref = legacy_signed(cosign, cosign_keys, image)
    pub = cosign_keys[1]
    by_cosign, by_airlock = both(cosign, ["verify", "--key", pub, NO_TLOG, HTTP, ref],
                                 ["verify", "--key", pub, "--insecure-ignore-tlog", ref])
    assert by_cosign.stdout == by_airlock.stdout


@pytest.mark.parametrize("form", ["tag", "digest", "tag-and-digest", "latest"])
def test_output_verify_bundle_signature(cosign, cosign_keys, image, form):
    """cosign names the image as go-containerregistry does: ``:tag`` (``:latest`` when none), or only
    ``@digest`` when one is given; airlock prints the same bytes."""
    key, pub = cosign_keys
    repository, digest = image
    if form == "latest":
        cosign.crane_("tag", f"{repository}:v1", "latest")
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, "-a", "team=interop", f"{repository}@{digest}")
    ref = {"tag": f"{repository}:v1", "digest": f"{repository}@{digest}", "tag-and-digest": f"{repository}:v1@{digest}",
           "latest": repository}[form]
    by_cosign, by_airlock = both(cosign, ["verify", "--key", pub, NO_TLOG, HTTP, ref],
                                 ["verify", "--key", pub, "--insecure-ignore-tlog", ref])
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert by_airlock.stdout == by_cosign.stdout
    [claims] = json.loads(by_airlock.stdout)
    assert claims == {"critical": {"identity": {"docker-reference": ref if form in ("tag", "digest") else
                                                f"{repository}@{digest}" if form != "latest" else f"{ref}:latest"},
                                   "image": {"docker-manifest-digest": digest},
                                   "type": "https://sigstore.dev/cosign/sign/v1"},
                      "optional": {"team": "interop"}}


@pytest.mark.parametrize("command", ["verify", "verify-attestation"])
@pytest.mark.parametrize("bundle_format", ["false", "true"])
def test_output_verify_local_image_same_bytes(cosign, cosign_keys, image, predicate, tmp_path, command,
                                              bundle_format):
    key, pub = cosign_keys
    repository, digest = image
    kind = ["--predicate", predicate, "--type", "slsaprovenance"] if command == "verify-attestation" else []
    cosign.ok("attest" if kind else "sign", "--key", key, *kind, *SIGN_OFFLINE, HTTP,
              f"--new-bundle-format={bundle_format}", f"{repository}@{digest}")
    cosign.ok("save", "--dir", tmp_path / "saved", HTTP, f"{repository}:v1")
    checks = ["--type", "slsaprovenance"] if kind else []
    by_cosign, by_airlock = both(cosign, [command, "--local-image", tmp_path / "saved", "--key", pub, NO_TLOG, *checks],
                                 [command, "--local-image", tmp_path / "saved", "--key", pub, "--insecure-ignore-tlog",
                                  *checks])
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    if command == "verify" and bundle_format == "true":
        # cosign v3.1.2 decodes a layout's bundle (its DSSE envelope) as a simple-signing payload and prints
        # empty claims; airlock prints the claims it prints for the same bundle in a registry
        assert by_cosign.stdout == ('\n[{"critical":{"identity":{"docker-reference":""},"image":'
                                    '{"docker-manifest-digest":""},"type":""},"optional":null}]\n')
        [claims] = json.loads(by_airlock.stdout)
        assert claims["critical"]["image"] == {"docker-manifest-digest": digest}
        assert claims["critical"]["type"] == "https://sigstore.dev/cosign/sign/v1"
    else:
        assert by_airlock.stdout == by_cosign.stdout


@pytest.mark.parametrize("annotations", [[], ["-a", "team=interop"]])
@pytest.mark.parametrize("command", ["verify", "verify-attestation"])
@pytest.mark.parametrize("bundle_format", ["false", "true"])
def test_output_text_and_checks_same_as_cosign(cosign, cosign_keys, image, predicate, command, bundle_format,
                                               annotations):
    """--output text prints what cosign prints, byte for byte; stderr lists the same checks."""
    key, pub = cosign_keys
    repository, digest = image
    kind = ["--predicate", predicate, "--type", "slsaprovenance"] if command == "verify-attestation" else []
    if kind and annotations:
        pytest.skip("cosign attest has no -a")
    cosign.ok("attest" if kind else "sign", "--key", key, *kind, *SIGN_OFFLINE, HTTP, *annotations,
              f"--new-bundle-format={bundle_format}", f"{repository}@{digest}")
    checks = ["--type", "slsaprovenance"] if kind else []
    ref = f"{repository}:v1"
    by_cosign, by_airlock = both(cosign, [command, "--key", pub, NO_TLOG, *checks, *annotations, "--output", "text",
                                          HTTP, ref],
                                 [command, "--key", pub, "--insecure-ignore-tlog", *checks, *annotations, "--output",
                                  "text", ref])
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert by_airlock.stdout == by_cosign.stdout

    def listed(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if line.startswith("  - ")]

    for stderr in (by_cosign.stderr, by_airlock.stderr):  # a blank line, then Verification for ... --
        lines = stderr.splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("Verification for "))
        assert lines[at - 1] == "" and lines[at + 1] == "The following checks were performed on each of these " \
            "signatures:" and lines[at + 2:] == listed(stderr), stderr
    said = listed(by_cosign.stderr)
    if bundle_format == "true":  # cosign claims a log check it skipped (--insecure-ignore-tlog); airlock does not
        said.remove("  - Existence of the claims in the transparency log was verified offline")
    assert listed(by_airlock.stderr) == said


def test_output_verify_attestation_legacy_same_json(cosign, cosign_keys, image, predicate):
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE, HTTP,
              "--new-bundle-format=false", f"{repository}@{digest}")
    by_cosign, by_airlock = both(
        cosign, ["verify-attestation", "--key", pub, NO_TLOG, HTTP, "--type", "slsaprovenance",
                 "--new-bundle-format=false", f"{repository}:v1"],
        ["verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "slsaprovenance",
         f"{repository}:v1"])
    assert by_cosign.code == by_airlock.code == 0
    assert [json.loads(line) for line in by_cosign.stdout.splitlines() if line.strip()] == [
        json.loads(line) for line in by_airlock.stdout.splitlines() if line.strip()]


def test_output_verify_attestation_bundle_same_json(cosign, cosign_keys, image, predicate):
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE, HTTP,
              f"{repository}@{digest}")
    by_cosign, by_airlock = both(
        cosign, ["verify-attestation", "--key", pub, NO_TLOG, HTTP, "--type", "slsaprovenance", f"{repository}:v1"],
        ["verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "slsaprovenance",
         f"{repository}:v1"])
    assert by_cosign.code == by_airlock.code == 0
    assert statements(by_cosign.stdout) == statements(by_airlock.stdout)  # the same statement either way
    assert [json.loads(line) for line in by_cosign.stdout.splitlines() if line.strip()] == [
        json.loads(line) for line in by_airlock.stdout.splitlines() if line.strip()]


EXIT_CASES = ["unsigned", "missing-tag", "legacy-other-key", "bundle-other-key", "legacy-wrong-annotation",
              "local-unsigned"]


@pytest.mark.parametrize("command", ["verify", "verify-attestation"])
@pytest.mark.parametrize("case", EXIT_CASES)
def test_exit_code_same_as_cosign(cosign, cosign_keys, airlock_keys, image, predicate, tmp_path, command, case):
    """cosign verify exits 10 (no signatures), 11 (no such tag), 12 (no matching legacy signature), else 1;
    verify-attestation and --local-image always 1. airlock exits with the same code, and prints nothing."""
    key, _ = cosign_keys
    repository, digest = image
    other = airlock_keys[1]
    kind = ["--predicate", predicate, "--type", "slsaprovenance"] if command == "verify-attestation" else []
    if case.startswith(("legacy", "bundle")):
        cosign.ok("attest" if kind else "sign", "--key", key, *kind, *SIGN_OFFLINE, HTTP,
                  *([] if kind else ["-a", "team=interop"]),
                  f"--new-bundle-format={str(case.startswith('bundle')).lower()}", f"{repository}@{digest}")
    checks = ["--type", "slsaprovenance"] if kind else []
    if case == "legacy-wrong-annotation":
        if kind:
            pytest.skip("cosign attest and verify-attestation have no -a")
        checks += ["-a", "team=other"]
    source = [f"{repository}:missing" if case == "missing-tag" else f"{repository}:v1"]
    cosign_source = [HTTP, *source]
    if case == "local-unsigned":
        airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
        source = cosign_source = ["--local-image", tmp_path / "saved"]
    signer = other if "other-key" in case else cosign_keys[1]
    by_cosign, by_airlock = both(cosign, [command, "--key", signer, NO_TLOG, *checks, *cosign_source],
                                 [command, "--key", signer, "--insecure-ignore-tlog", *checks, *source])
    assert by_cosign.stdout == by_airlock.stdout == ""
    assert by_cosign.code != 0 and by_airlock.code == by_cosign.code, (by_cosign, by_airlock)
    assert one_line_error(by_airlock).startswith("Error: ")


def test_exit_code_missing_digest_same_as_cosign(cosign, cosign_keys, image):
    """A digest that is not in the repository: cosign never asks for the manifest of a digest, finds no
    signatures and exits 10; airlock fetches the image first and says it is not there, with cosign's 10."""
    repository, _ = image
    pub = cosign_keys[1]
    missing = f"{repository}@sha256:{'0' * 64}"
    by_cosign, by_airlock = both(cosign, ["verify", "--key", pub, NO_TLOG, HTTP, missing],
                                 ["verify", "--key", pub, "--insecure-ignore-tlog", missing])
    assert (by_cosign.code, by_airlock.code) == (10, 10), (by_cosign, by_airlock)
    assert "MANIFEST_UNKNOWN" in one_line_error(by_airlock)


def test_exit_codes_are_documented():
    text = airlock_ok("verify", "--help").stdout
    for line in ("10  verify: the image has no signatures (or, named by digest, is not in the registry)",
                 "11  verify: the image (tag) is not in the registry",
                 "12  verify: the image has legacy signatures, and none of them verifies"):
        assert line in text
    assert "10  verify: the image has no signatures" in (Path(__file__).parent.parent / "README.md").read_text()


# -- more pairs: bundles written to a file, signing inside the air gap, loading cosign's bundles ------


def test_sign_bundle_file_holds_the_statement_cosign_writes(cosign, cosign_keys, image, tmp_path):
    key, _ = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, "--bundle", tmp_path / "cosign.json", "--upload=false", *SIGN_OFFLINE, HTTP,
              f"{repository}@{digest}")
    airlock_ok("sign", "--key", key, "--bundle", tmp_path / "airlock.json", "--new-bundle-format", "--upload=false",
               "--tlog-upload=false", f"{repository}@{digest}")
    assert cosign.crane_("ls", repository).split() == ["v1"]  # --upload=false: nothing attached by either

    def statement(path: Path) -> dict:
        bundle = json.loads(path.read_text())
        assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        assert bundle["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
        return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))

    assert statement(tmp_path / "airlock.json") == statement(tmp_path / "cosign.json") == {
        "_type": "https://in-toto.io/Statement/v1", "predicateType": "https://sigstore.dev/cosign/sign/v1",
        "subject": [{"digest": {"sha256": digest[7:]}, "annotations": {}}], "predicate": {}}


def test_sign_bundle_file_with_cosign_default_flags(cosign, cosign_keys, image, tmp_path):
    key, _ = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, "--bundle", tmp_path / "cosign.json", "--upload=false", *SIGN_OFFLINE, HTTP,
              f"{repository}@{digest}")
    airlock_ok("sign", "--key", key, "--bundle", tmp_path / "airlock.json", "--upload=false", "--tlog-upload=false",
               f"{repository}@{digest}")
    assert (tmp_path / "airlock.json").exists()


@pytest.mark.parametrize("bundle_format", ["false", "true"])
def test_airlock_sign_local_image_then_cosign_verify_local_image(cosign, cosign_keys, image, tmp_path,
                                                                  bundle_format):
    """Signing inside the air gap: airlock saves, signs the layout, cosign verifies the layout."""
    key, pub = cosign_keys
    repository, _ = image
    airlock_ok("save", f"{repository}:v1", "--dir", tmp_path / "saved")
    assert cosign("verify", "--local-image", tmp_path / "saved", "--key", pub, NO_TLOG).code != 0  # unsigned yet
    airlock_ok("sign", "--key", key, "--local-image", tmp_path / "saved", "--tlog-upload=false",
               f"--new-bundle-format={bundle_format}")
    verified = cosign("verify", "--local-image", tmp_path / "saved", "--key", pub, NO_TLOG)
    assert verified.code == 0, verified


def test_airlock_load_of_cosign_bundles_then_cosign_verify(cosign, cosign_keys, image, registry, predicate,
                                                            tmp_path):
    key, pub = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, f"{repository}@{digest}")
    cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE, HTTP,
              f"{repository}@{digest}")
    cosign.ok("save", "--dir", tmp_path / "cosign-saved", HTTP, f"{repository}:v1")
    target = f"{registry}/interop/airlock-loaded-bundles"
    airlock_ok("load", "--dir", tmp_path / "cosign-saved", target)
    assert cosign.crane_("digest", target) == digest
    assert cosign("verify", "--key", pub, NO_TLOG, HTTP, f"{target}@{digest}").code == 0
    verified = cosign("verify-attestation", "--key", pub, NO_TLOG, HTTP, "--type", "slsaprovenance",
                      f"{target}@{digest}")
    assert verified.code == 0, verified
    assert [s["predicate"] for s in statements(verified.stdout)] == [PREDICATE]


# -- regular expressions: cosign's Go RE2 beside airlock's ---------------------------------------------

REGEXPS = [  # each covers the whole SAN, so that only the syntax differs (anchoring: see the test below)
    pytest.param("^https://github\\.com/sigstore-conformance/.*$", id="anchored-match"),
    pytest.param("^https://github\\.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/$",
                 id="anchored-mismatch"),
    pytest.param("(?i)^HTTPS://GITHUB\\.COM/.*$", id="case-insensitive"),
    pytest.param("^(?P<scheme>https)://.*$", id="python-named-group"),
    pytest.param("\\Ahttps://github\\.com/.*@refs/heads/main\\z", id="re2-text-anchors"),
    pytest.param("^https://github\\.com/[[:alpha:]-]+/.*$", id="posix-class"),
    pytest.param("^\\pL+://.*$", id="unicode-class"),
    pytest.param("^\\Qhttps://github.com\\E/.*$", id="quoted-literal"),
    pytest.param("^(?<scheme>https)://.*$", id="re2-named-group"),
]


def with_regexp(flag: str, regexp: str) -> list:
    argv = conformance_blob_argv("happy-path-v0.3")
    at = argv.index(flag.removesuffix("-regexp"))
    argv[at:at + 2] = [flag, regexp]
    return argv


@pytest.mark.parametrize("regexp", REGEXPS)
def test_output_verify_blob_identity_regexp(cosign, regexp):
    argv = with_regexp("--certificate-identity-regexp", regexp)
    by_cosign, by_airlock = both(cosign, argv, argv)
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout)


@pytest.mark.parametrize(("flag", "regexp"), [("--certificate-identity-regexp", "sigstore-conformance"),
                                              ("--certificate-identity-regexp", "(?i)SIGSTORE-CONFORMANCE"),
                                              ("--certificate-oidc-issuer-regexp", "token\\.actions")])
def test_output_unanchored_regexp_matches_anywhere_as_in_cosign(cosign, flag, regexp):
    """cosign searches (Go regexp.MatchString: a pattern may match any part of the value); so does airlock,
    and it warns that the pattern is not anchored at both ends."""
    argv = with_regexp(flag, regexp)
    by_cosign, by_airlock = both(cosign, argv, argv)
    assert (by_cosign.code, by_cosign.stdout, by_cosign.stderr.strip()) == (0, "", "Verified OK")
    assert (by_airlock.code, by_airlock.stdout) == (0, "")
    assert "not anchored" in by_airlock.stderr


def test_regexp_re2_refuses_is_refused_by_both(cosign):
    """x{1001}: RE2 refuses repetitions over 1000 in both. cosign exits 1 (its only failure code); airlock
    exits 2, its code for a usage error, with the reason."""
    argv = with_regexp("--certificate-identity-regexp", "x{1001}")
    by_cosign, by_airlock = both(cosign, argv, argv)
    assert (by_cosign.code, by_airlock.code) == (1, 2)
    assert "invalid regular expression" in one_line_error(by_airlock)


# -- AWS KMS keys (moto on 127.0.0.1; both tools reach it through AWS_ENDPOINT_URL) ----------------------


@pytest.fixture()
def kms_key(aws_kms, monkeypatch, tmp_path) -> tuple[str, Path]:
    """``(awskms:///alias/..., its public key file)``: a key created in moto by airlock generate-key-pair --kms.

    cosign sends ``awskms://HOST:PORT/...`` endpoints over https only, so both tools get moto's plain-HTTP
    endpoint from ``AWS_ENDPOINT_URL`` and the URI names no endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{aws_kms}")
    uri = f"awskms:///alias/interop-{uuid.uuid4().hex[:8]}"
    airlock_ok("generate-key-pair", "--kms", uri, "--output-key-prefix", tmp_path / "kms")
    return uri, tmp_path / "kms.pub"


def test_kms_public_key_same_in_both(cosign, kms_key):
    uri, pub = kms_key
    assert cosign.ok("public-key", "--key", uri).stdout == airlock_ok("public-key", "--key", uri).stdout == \
        pub.read_text()


def test_kms_cosign_sign_blob_then_airlock_verify_blob_with_the_public_key(cosign, kms_key, blob, tmp_path):
    uri, pub = kms_key
    cosign.ok("sign-blob", "--key", uri, "--bundle", tmp_path / "b.json", *SIGN_OFFLINE, blob)
    verified = airlock("verify-blob", "--key", pub, "--bundle", tmp_path / "b.json", "--insecure-ignore-tlog",
                       "--trusted-root", shared(PRODUCTION_ROOT), blob)
    assert verified.code == 0 and "Verified OK" in verified.stderr, verified


def test_kms_cosign_sign_blob_then_airlock_verify_blob_with_the_kms_uri(cosign, kms_key, blob, tmp_path):
    uri, _ = kms_key
    cosign.ok("sign-blob", "--key", uri, "--bundle", tmp_path / "b.json", *SIGN_OFFLINE, blob)
    verified = airlock("verify-blob", "--key", uri, "--bundle", tmp_path / "b.json", "--insecure-ignore-tlog",
                       "--trusted-root", shared(PRODUCTION_ROOT), blob)
    assert verified.code == 0 and "Verified OK" in verified.stderr, verified


def test_kms_airlock_sign_then_cosign_verify_with_the_kms_uri(cosign, kms_key, image, blob, tmp_path):
    uri, _ = kms_key
    airlock_ok("sign-blob", "--key", uri, "--bundle", tmp_path / "b.json", "--tlog-upload=false", blob)
    verified = cosign("verify-blob", "--key", uri, "--bundle", tmp_path / "b.json", NO_TLOG, blob)
    assert verified.code == 0 and "Verified OK" in verified.stderr, verified
    repository, digest = image
    airlock_ok("sign", "--key", uri, "--tlog-upload=false", f"{repository}@{digest}")
    verified = cosign("verify", "--key", uri, NO_TLOG, HTTP, f"{repository}:v1")
    assert verified.code == 0, verified


def test_kms_cosign_sign_then_airlock_verify_with_the_kms_uri(cosign, kms_key, image):
    uri, _ = kms_key
    repository, digest = image
    cosign.ok("sign", "--key", uri, *SIGN_OFFLINE, HTTP, "--new-bundle-format=false", f"{repository}@{digest}")
    verified = airlock("verify", "--key", uri, "--insecure-ignore-tlog", f"{repository}:v1")
    assert verified.code == 0, verified


# -- keyless bundles from airlock's testing instance, through both verifiers -----------------------------


@pytest.fixture(scope="module")
def instance(home):
    from datetime import UTC, datetime

    from airlock.testing import SigstoreInstance

    made = SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))
    made.write_trusted_root(home / "instance-root.json")
    return made


KEYLESS_VARIANTS = {
    "v0.3-rekor-v1": {},
    "v0.3-dsse": {"content": "dsse"},
    "v0.3-rekor-v2-tsa": {"rekor": "v2", "tsa": True},
    "v0.2": {"version": "0.2"},
    "v0.1": {"version": "0.1"},
}


@pytest.mark.parametrize("variant", list(KEYLESS_VARIANTS))
@pytest.mark.parametrize("tampered", [False, True], ids=["intact", "other-artifact"])
def test_output_verify_blob_keyless_instance_bundle(cosign, instance, home, tmp_path, variant, tampered):
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, bundle_bytes

    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(b"keyless artifact " + variant.encode())
    (tmp_path / "b.json").write_bytes(bundle_bytes(instance.sign_blob(artifact.read_bytes(),
                                                                      **KEYLESS_VARIANTS[variant])))
    if tampered:
        artifact.write_bytes(b"another artifact")
    argv = ["verify-blob", "--trusted-root", home / "instance-root.json", "--bundle", tmp_path / "b.json",
            "--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER, artifact]
    by_cosign, by_airlock = both(cosign, argv, argv)
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (int(tampered), ""), (
        by_cosign, by_airlock)


def test_output_verify_keyless_legacy_signature_same_bytes(cosign, instance, home, image, tmp_path):
    """A keyless legacy signature as cosign v2 attached them (certificate, chain and Rekor bundle
    annotations; GitHub Actions extensions on the leaf), from airlock's testing instance: both tools
    print the same bytes, with Subject, Issuer, the Rekor bundle and the workflow claims."""
    from cryptography.hazmat.primitives.serialization import Encoding

    import airlock as library
    from airlock.formats import cosign as wire
    from airlock.sign.attaching import append
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER
    from airlock.testing.pki import github_actions_extensions

    repository, digest = image
    payload = airlock_ok("generate", f"{repository}@{digest}").stdout.encode()
    cert, key = instance.issue_leaf(DEFAULT_IDENTITY, DEFAULT_ISSUER, extra_oids=github_actions_extensions())
    bundle = instance.sign_blob(payload, leaf=(cert, key))
    [entry] = bundle["verificationMaterial"]["tlogEntries"]
    rekor = {"SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
             "Payload": {"body": entry["canonicalizedBody"], "integratedTime": int(entry["integratedTime"]),
                         "logIndex": int(entry.get("logIndex", 0)),
                         "logID": base64.b64decode(entry["logId"]["keyId"]).hex()}}
    annotations = {wire.ANNOTATION_SIGNATURE: bundle["messageSignature"]["signature"],
                   wire.ANNOTATION_CERTIFICATE: cert.public_bytes(Encoding.PEM).decode(),
                   wire.ANNOTATION_CHAIN: "".join(c.public_bytes(Encoding.PEM).decode() for c in instance.fulcio.chain),
                   wire.ANNOTATION_BUNDLE: json.dumps(rekor, separators=(",", ":"))}
    [target] = library.signing_targets([f"{repository}@{digest}"], client=library.registry_client(insecure=True))
    assert append(target.target, digest, "sig", (wire.SIMPLESIGNING, payload, annotations))
    argv = ["verify", "--trusted-root", home / "instance-root.json", "--certificate-identity", DEFAULT_IDENTITY,
            "--certificate-oidc-issuer", DEFAULT_ISSUER]
    by_cosign, by_airlock = both(cosign, [*argv, HTTP, f"{repository}:v1"], [*argv, f"{repository}:v1"])
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    [claims] = json.loads(by_airlock.stdout)
    assert claims["optional"]["githubWorkflowRepository"] == "org/repo"
    assert claims["optional"]["Subject"] == DEFAULT_IDENTITY
    assert by_airlock.stdout == by_cosign.stdout
    assert after_verification_header(by_airlock.stderr) == after_verification_header(by_cosign.stderr)
    # --output text: cosign prints the certificate's claims on stderr, after the checks; airlock the same lines
    by_cosign, by_airlock = both(cosign, [*argv, "--output", "text", HTTP, f"{repository}:v1"],
                                 [*argv, "--output", "text", f"{repository}:v1"])
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert by_airlock.stdout == by_cosign.stdout
    said = after_verification_header(by_airlock.stderr)
    assert said == after_verification_header(by_cosign.stderr)
    assert said[-7:] == [f"Certificate subject: {DEFAULT_IDENTITY}", f"Certificate issuer URL: {DEFAULT_ISSUER}",
                         "GitHub Workflow Trigger: push", f"GitHub Workflow SHA: {'0123456789abcdef' * 2}01234567",
                         "GitHub Workflow Name: CI", "GitHub Workflow Repository: org/repo",
                         "GitHub Workflow Ref: refs/heads/main"]


def keyless_legacy_attestation(instance, image, envelope_bytes) -> None:
    """Attach a keyless legacy ``.att`` as cosign v2 attached them: the DSSE envelope as the layer,
    certificate, chain and Rekor bundle (a ``dsse`` entry) as annotations. ``envelope_bytes`` turns
    the envelope that was logged into the bytes stored."""
    from cryptography.hazmat.primitives.serialization import Encoding

    import airlock as library
    from airlock.formats import cosign as wire
    from airlock.sign.attaching import append
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER
    from airlock.testing.pki import github_actions_extensions

    repository, digest = image
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": SLSA,
                            "subject": [{"name": repository, "digest": {"sha256": digest[7:]}}],
                            "predicate": PREDICATE}, separators=(",", ":")).encode()
    cert, key = instance.issue_leaf(DEFAULT_IDENTITY, DEFAULT_ISSUER, extra_oids=github_actions_extensions())
    bundle = instance.sign_blob(b"", content="dsse", statement=statement, leaf=(cert, key))
    [entry] = bundle["verificationMaterial"]["tlogEntries"]
    rekor = {"SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
             "Payload": {"body": entry["canonicalizedBody"], "integratedTime": int(entry["integratedTime"]),
                         "logIndex": int(entry.get("logIndex", 0)),
                         "logID": base64.b64decode(entry["logId"]["keyId"]).hex()}}
    annotations = {wire.ANNOTATION_SIGNATURE: "", wire.ANNOTATION_CERTIFICATE: cert.public_bytes(Encoding.PEM).decode(),
                   wire.ANNOTATION_CHAIN: "".join(c.public_bytes(Encoding.PEM).decode() for c in instance.fulcio.chain),
                   wire.ANNOTATION_BUNDLE: json.dumps(rekor, separators=(",", ":")), "predicateType": SLSA}
    [target] = library.signing_targets([f"{repository}@{digest}"], client=library.registry_client(insecure=True))
    layer = (wire.DSSE, envelope_bytes(bundle["dsseEnvelope"]), annotations)
    assert append(target.target, digest, "att", layer)


def test_output_verify_attestation_keyless_legacy_same_lines(cosign, instance, home, image):
    """A keyless legacy attestation: both verify it, print the same envelope, and the same stderr lines
    (the certificate's claims after the checks, as cosign's text rendering)."""
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER

    keyless_legacy_attestation(instance, image, lambda env: json.dumps(env, separators=(",", ":")).encode())
    argv = ["verify-attestation", "--trusted-root", home / "instance-root.json", "--certificate-identity",
            DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER, "--type", "slsaprovenance"]
    by_cosign, by_airlock = both(cosign, [*argv, HTTP, f"{image[0]}:v1"], [*argv, f"{image[0]}:v1"])
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert by_airlock.stdout == by_cosign.stdout
    said = after_verification_header(by_airlock.stderr)
    assert said == after_verification_header(by_cosign.stderr)
    assert said[-7:-5] == [f"Certificate subject: {DEFAULT_IDENTITY}", f"Certificate issuer URL: {DEFAULT_ISSUER}"]


def test_verify_attestation_keyless_legacy_reserialized_envelope_refused_as_cosign(cosign, instance, home, image):
    """The stored envelope is not the one logged (same payload and signature, other JSON bytes): cosign
    refuses ("matching bundle to payload"), and so does airlock: the entry's envelope hash must be the
    hash of the envelope stored."""
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER

    keyless_legacy_attestation(instance, image, lambda env: json.dumps(
        {"payloadType": env["payloadType"], "payload": env["payload"],
         "signatures": [{"keyid": "", "sig": env["signatures"][0]["sig"]}]}, separators=(",", ":")).encode())
    argv = ["verify-attestation", "--trusted-root", home / "instance-root.json", "--certificate-identity",
            DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER, "--type", "slsaprovenance"]
    by_cosign, by_airlock = both(cosign, [*argv, HTTP, f"{image[0]}:v1"], [*argv, f"{image[0]}:v1"])
    assert by_cosign.code == 1 and "matching bundle to payload" in by_cosign.stderr, by_cosign
    assert by_airlock.code == 1, by_airlock
    assert one_line_error(by_airlock).endswith("tlog-entry: the log entry records a different DSSE envelope: its "
                                               "envelope hash is not the hash of the envelope stored)")


@pytest.mark.parametrize("variant", ["v0.3-dsse", "v0.3-dsse-rekor-v2-tsa"])
@pytest.mark.parametrize("wrong", ["", "identity", "type", "artifact"])
def test_verify_blob_attestation_keyless_instance_bundle(cosign, instance, home, tmp_path, variant, wrong):
    """A keyless attestation (Fulcio certificate, Rekor entry) from the testing instance: both tools accept
    it, and both refuse another identity, another predicate type or another artifact."""
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, bundle_bytes
    from airlock.testing.instance import in_toto_statement

    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(b"keyless attestation " + variant.encode())
    statement = in_toto_statement(artifact.read_bytes(), predicate_type=SLSA, predicate=PREDICATE)
    options = {"rekor": "v2", "tsa": True} if variant.endswith("tsa") else {}
    (tmp_path / "b.json").write_bytes(bundle_bytes(instance.sign_blob(artifact.read_bytes(), content="dsse",
                                                                      statement=statement, **options)))
    if wrong == "artifact":
        artifact.write_bytes(b"another artifact")
    identity = "https://github.com/org/other/.github/workflows/ci.yml@refs/heads/main" if wrong == "identity" \
        else DEFAULT_IDENTITY
    argv = ["verify-blob-attestation", "--trusted-root", home / "instance-root.json", "--bundle", tmp_path / "b.json",
            "--certificate-identity", identity, "--certificate-oidc-issuer", DEFAULT_ISSUER,
            "--type", "spdx" if wrong == "type" else "slsaprovenance", artifact]
    by_cosign, by_airlock = both(cosign, argv, argv)
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (int(bool(wrong)), ""), (
        by_cosign, by_airlock)
    if wrong:
        assert one_line_error(by_airlock).startswith({"identity": "Error: identity: ", "type": "Error: type: ",
                                                      "artifact": "Error: artifact: "}[wrong]), by_airlock


def test_pkcs11_keys(cosign, softhsm):
    """cosign as ./run-tests builds it (CGO_ENABLED=0) has no PKCS#11: say so instead of pretending."""
    answer = cosign("public-key", "--key", softhsm.uri(object="interop-absent"))
    if "unimplemented" in answer.stderr:
        pytest.skip("cosign built with CGO_ENABLED=0 cannot open PKCS#11 keys (opening pkcs11 token key: "
                    "unimplemented); airlock's PKCS#11 keys are covered by test_signers.py against SoftHSM")
    pytest.fail(f"this cosign opens PKCS#11 keys: write the pkcs11 pairs here ({answer})")


# -- the 70 offline conformance cases (artifact file, then sha256:<hex>) through both verify-blobs ---------


def conformance_cases() -> list:
    path = CONFORMANCE / "cases.json"
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"needs {path} (../shared)"))]
    return [pytest.param(case, id=case["name"]) for case in json.loads(path.read_text())["cases"]]


# cosign v3.1.2 accepts this case, which the conformance suite requires to fail: the RFC 3161 timestamp
# (2023-02-02) lies outside the signing certificate's validity (2023-02-01 00:00-00:10). airlock refuses it.
COSIGN_ACCEPTS = {"intoto-tsa-timestamp-outside-cert-validity_fail"}


@pytest.mark.parametrize("mode", ["file", "digest"])
@pytest.mark.parametrize("case", conformance_cases())
def test_output_verify_blob_conformance_case(cosign, case, mode):
    cases = CONFORMANCE / "bundle-verify"
    root = cases / case["trusted_root"] if case["trusted_root"] else PRODUCTION_ROOT
    argv = ["verify-blob", "--bundle", cases / case["bundle"], "--trusted-root", root]
    if case.get("key"):
        argv += ["--key", cases / case["key"]]
    else:
        argv += ["--certificate-identity", case["identity"], "--certificate-oidc-issuer", case["issuer"]]
    argv.append(cases / case["artifact"] if mode == "file" else f"sha256:{case['artifact_sha256']}")
    by_cosign, by_airlock = both(cosign, argv, argv)
    assert by_cosign.stdout == by_airlock.stdout == ""
    assert (by_airlock.code == 0) == (case["expect"] == "pass"), by_airlock
    if case["name"] in COSIGN_ACCEPTS:
        assert by_cosign.code == 0 and "outside the certificate's validity" in one_line_error(by_airlock)
    else:
        assert by_cosign.code == by_airlock.code, (by_cosign, by_airlock)


# -- triangulate and download signature on the same image ------------------------------------------------


@pytest.mark.parametrize("kind", ["signature", "attestation", "sbom"])
def test_output_triangulate(cosign, image, kind):
    repository, digest = image
    by_cosign, by_airlock = both(cosign, ["triangulate", "--type", kind, HTTP, f"{repository}:v1"],
                                 ["triangulate", "--type", kind, f"{repository}:v1"])
    suffix = {"signature": "sig", "attestation": "att", "sbom": "sbom"}[kind]
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (
        0, f"{repository}:sha256-{digest[7:]}.{suffix}\n")


def test_output_download_signature_legacy(cosign, cosign_keys, image):
    ref = legacy_signed(cosign, cosign_keys, image)
    by_cosign, by_airlock = both(cosign, ["download", "signature", HTTP, ref], ["download", "signature", ref])
    assert by_cosign.code == by_airlock.code == 0
    cosign_lines = [json.loads(line) for line in by_cosign.stdout.splitlines()]
    airlock_lines = [json.loads(line) for line in by_airlock.stdout.splitlines()]
    assert [line["Base64Signature"] for line in cosign_lines] == [line["Base64Signature"] for line in airlock_lines]
    assert [list(line) for line in airlock_lines] == [
        ["Base64Signature", "Payload", "Cert", "Chain", "Bundle", "RFC3161Timestamp"]]
    assert by_airlock.stdout == by_cosign.stdout


def test_output_download_signature_bundle(cosign, cosign_keys, image):
    key, _ = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, f"{repository}@{digest}")
    by_cosign, by_airlock = both(cosign, ["download", "signature", HTTP, f"{repository}:v1"],
                                 ["download", "signature", f"{repository}:v1"])
    assert by_cosign.code == by_airlock.code == 0
    assert [json.loads(line)["mediaType"] for line in by_cosign.stdout.splitlines()] == [
        "application/vnd.dev.sigstore.bundle.v0.3+json"]
    assert by_airlock.stdout == by_cosign.stdout  # the bundle, compact, byte for byte


# -- clean: each tool removes everything the other attached ----------------------------------------------


@pytest.mark.parametrize("signer", ["cosign", "airlock"])
def test_clean_removes_what_the_other_tool_attached(cosign, cosign_keys, image, predicate, signer):
    key, pub = cosign_keys
    repository, digest = image
    for bundle_format in ("false", "true"):
        if signer == "cosign":
            cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, f"--new-bundle-format={bundle_format}",
                      f"{repository}@{digest}")
            cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE,
                      HTTP, f"--new-bundle-format={bundle_format}", f"{repository}@{digest}")
        else:
            airlock_ok("sign", "--key", key, "--tlog-upload=false", f"--new-bundle-format={bundle_format}",
                       f"{repository}@{digest}")
            airlock_ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance",
                       "--tlog-upload=false", f"--new-bundle-format={bundle_format}", f"{repository}@{digest}")
    assert sorted(cosign.crane_("ls", repository).split()) == sorted(
        ["v1", f"sha256-{digest[7:]}", f"sha256-{digest[7:]}.sig", f"sha256-{digest[7:]}.att"])
    if signer == "cosign":
        airlock_ok("clean", "--type", "all", "--force", f"{repository}:v1")
    else:
        cosign.ok("clean", "--type", "all", "-f", HTTP, f"{repository}:v1")
    assert cosign.crane_("ls", repository).split() == ["v1"]
    assert "no signatures" in one_line_error(airlock("verify", "--key", pub, "--insecure-ignore-tlog",
                                                     f"{repository}:v1"))
    assert cosign("verify", "--key", pub, NO_TLOG, HTTP, f"{repository}:v1").code == 10
