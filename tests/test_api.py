"""The Python API (``airlock.verify_image``, ``verify_blob``, ``sign_image``, ``attest_image``) is the
path the CLI takes: each command, driven through the API on the same input, gives the same
verdict and the same data as the CLI run."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import airlock
from airlock.errors import VerificationError
from airlock.formats import cosign
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
from conftest import REPO, one_line_error, run_cli
from image_layouts import add_image, attach, attach_bundle, image_statement, keyless_layer, new_layout

KEYLESS = ["--certificate-identity", DEFAULT_IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER]
NAME = "registry.local/team/app:1.0"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    from datetime import UTC, datetime

    return SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture()
def root(inst, tmp_path):
    return inst.write_trusted_root(tmp_path / "trusted_root.json")


def policy() -> airlock.Identity:
    return airlock.Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)


def test_verify(inst, root, tmp_path):
    """One good signature and one of another image: the CLI prints the good payload and a WARNING
    naming the other; the API verdict holds the same payload verified and the same reason rejected."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    other = "sha256:" + "2" * 64
    attach(layout, digest, [keyless_layer(inst, cosign.simplesigning_payload("registry.local/team/app", other)),
                            keyless_layer(inst, cosign.simplesigning_payload("registry.local/team/app", digest,
                                                                            {"env": "prod"}))])
    cli = run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS)
    assert cli.code == 0, cli.stderr
    verdict = airlock.verify_image(airlock.layout_source(str(tmp_path / "layout")), NAME, policy=policy(),
                                   trusted_root=airlock.TrustedRoot.from_file(str(root)))
    assert verdict.ok and verdict.failure is None
    assert (verdict.reference, verdict.digest) == (f"{NAME}@{digest}", digest)
    [check] = verdict.verified
    [payload] = json.loads(cli.stdout)
    assert json.loads(check.payload)["critical"] == payload["critical"]
    assert payload["optional"]["env"] == "prod" and check.verdict.identity == payload["optional"]["Subject"]
    assert verdict.rejected_count == 1
    [reason] = verdict.reasons
    assert f"claims: the payload signs {other}, not {digest}" in reason
    assert f"WARNING: {NAME}@{digest}: not verified, ignored: {reason}" in cli.stderr.splitlines()
    # a failure: the same message as the CLI's error, and no exception from the API
    wrong = airlock.Identity(identity="someone@else.example", issuer=DEFAULT_ISSUER)
    failed = airlock.verify_image(airlock.layout_source(str(tmp_path / "layout")), digest, policy=wrong,
                                  trusted_root=airlock.TrustedRoot.from_file(str(root)))
    assert not failed.ok and not failed.verified and failed.rejected_count == 2
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--trusted-root", root,
                                   "--certificate-identity", "someone@else.example",
                                   "--certificate-oidc-issuer", DEFAULT_ISSUER))
    assert error == f"Error: verify: {failed.failure}"
    with pytest.raises(VerificationError) as raised:
        failed.raise_for_failure()
    assert str(raised.value) == error.removeprefix("Error: ")


def test_verify_attestation(inst, root, tmp_path):
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, NAME)
    sbom = inst.sign_blob(b"", content="dsse", statement=image_statement(digest, "https://spdx.dev/Document",
                                                                         predicate={"spdxVersion": "SPDX-2.3"}))
    attach_bundle(layout, digest, sbom, "https://spdx.dev/Document")
    cli = run_cli("verify-attestation", "--local-image", tmp_path / "layout", "--trusted-root", root, *KEYLESS,
                  "--type", "spdx")
    assert cli.code == 0, cli.stderr
    trusted = airlock.TrustedRoot.from_file(str(root))
    source = airlock.layout_source(str(tmp_path / "layout"))
    verdict = airlock.verify_image(source, digest, policy=policy(), trusted_root=trusted, attestation=True,
                                   predicate_type="https://spdx.dev/Document")
    assert verdict.ok
    [check] = verdict.verified
    [envelope] = [json.loads(line) for line in cli.stdout.splitlines()]
    assert base64.b64decode(envelope["payload"]) == check.payload
    assert json.loads(check.payload)["predicate"] == {"spdxVersion": "SPDX-2.3"}
    wrong = airlock.verify_image(source, digest, policy=policy(), trusted_root=trusted, attestation=True,
                                 predicate_type="https://slsa.dev/provenance/v1")
    assert not wrong.ok and "predicate type 'https://spdx.dev/Document' is not" in wrong.failure
    error = one_line_error(run_cli("verify-attestation", "--local-image", tmp_path / "layout", "--trusted-root",
                                   root, *KEYLESS, "--type", "slsaprovenance1"))
    assert error == f"Error: verify: {wrong.failure}"
    # the signature itself is not an attestation's stand-in, nor the SBOM a signature's
    assert "not a signature" in airlock.verify_image(source, digest, policy=policy(), trusted_root=trusted).failure


def test_verify_blob():
    example = REPO / "examples"
    identity = "https://github.com/airlock-example/release/.github/workflows/release.yml@refs/heads/main"
    issuer = "https://token.actions.githubusercontent.com"
    cli = run_cli("verify-blob", example / "hello.txt", "--bundle", example / "hello.txt.sigstore.json",
                  "--trusted-root", example / "trusted_root.json", "--certificate-identity", identity,
                  "--certificate-oidc-issuer", issuer, "--output", "json")
    assert cli.code == 0, cli.stderr
    report = json.loads(cli.stdout)
    trusted = airlock.TrustedRoot.from_file(str(example / "trusted_root.json"))
    bundle = (example / "hello.txt.sigstore.json").read_bytes()
    verdict = airlock.verify_blob(str(example / "hello.txt"), bundle, trusted_root=trusted,
                                  policy=airlock.Identity(identity=identity, issuer=issuer))
    assert verdict.ok and report["verified"] is True
    assert [{"check": n, "result": "passed", "detail": d} for n, d in verdict.checks] == report["checks"]
    assert (verdict.identity, verdict.issuer) == (report["identity"], report["issuer"])
    assert [t.isoformat() for t in verdict.signing_times] == report["signingTimes"]
    # the bytes themselves, and a failure as a verdict (never an exception) with the CLI's message
    assert airlock.verify_blob((example / "hello.txt").read_bytes(), bundle, trusted_root=trusted,
                               policy=airlock.Identity(identity=identity, issuer=issuer)).ok
    tampered = airlock.verify_blob(b"hello, tampered\n", bundle, trusted_root=trusted,
                                   policy=airlock.Identity(identity=identity, issuer=issuer))
    assert not tampered.ok and tampered.failure.check == "tlog-entry"  # the log recorded another digest


@pytest.fixture()
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    result = run_cli("generate-key-pair", "--output-key-prefix", str(tmp_path / "cosign"))
    assert result.code == 0, result.stderr
    return str(tmp_path / "cosign.key"), str(tmp_path / "cosign.pub")


def two_layouts(tmp_path) -> tuple[str, str, str]:
    """Two copies of one layout: the CLI signs one, the API the other."""
    add_image(new_layout(tmp_path / "cli"), NAME)
    shutil.copytree(tmp_path / "cli", tmp_path / "api")
    digest = airlock.layout_source(str(tmp_path / "cli")).images()[0]["digest"]
    return str(tmp_path / "cli"), str(tmp_path / "api"), digest


def signer(key: str):
    from airlock.sign import keys, signers

    return signers.FileSigner(keys.load_private_key_file(key))


@pytest.mark.parametrize("new_format", [False, True])
def test_sign(keys, tmp_path, new_format):
    key, pub = keys
    cli_dir, api_dir, digest = two_layouts(tmp_path)
    extra = [f"--new-bundle-format={str(new_format).lower()}"]
    result = run_cli("sign", "--key", key, "-a", "env=prod", "--local-image", cli_dir, *extra)
    assert result.code == 0, result.stderr
    [image] = airlock.signing_targets([], layout=api_dir)
    signed = airlock.sign_image(image, signer(key), annotations={"env": "prod"}, new_bundle_format=new_format)
    assert (signed.name, signed.digest) == ("registry.local/team/app", digest)
    assert result.stderr.splitlines()[-1].startswith(f"Signed {signed.name}@{signed.digest}")
    assert (signed.referrer is not None) == new_format and signed.added is (None if new_format else True)
    # the same payload signed, attached the same way: both verify alike, by the CLI and by the API
    outputs = []
    for directory in (cli_dir, api_dir):
        verified = run_cli("verify", "--local-image", directory, "--key", pub, "--insecure-ignore-tlog",
                           "-a", "env=prod")
        assert verified.code == 0, verified.stderr
        outputs.append(json.loads(verified.stdout))
        verdict = airlock.verify_image(airlock.layout_source(directory), digest, key=Path(pub).read_bytes(),
                                       options=airlock.VerificationOptions(insecure_ignore_tlog=True),
                                       annotations={"env": "prod"})
        assert verdict.ok and verdict.rejected_count == 0
    [cli_out], [api_out] = outputs
    if new_format:  # cosign's claims made from the statement the bundle signs
        assert api_out == cli_out
        assert json.loads(signed.payload)["subject"][0]["digest"]["sha256"] == digest.split(":")[1]
        assert cli_out["critical"]["image"] == {"docker-manifest-digest": digest}
        assert cli_out["critical"]["type"] == "https://sigstore.dev/cosign/sign/v1"
        assert cli_out["optional"] == {"env": "prod"}
    else:
        assert api_out == cli_out == json.loads(signed.payload) | {"optional": {"env": "prod"}}


def test_attest(keys, tmp_path):
    key, pub = keys
    cli_dir, api_dir, digest = two_layouts(tmp_path)
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"buildType": "test"}))
    result = run_cli("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance1",
                     "--local-image", cli_dir)
    assert result.code == 0, result.stderr
    [image] = airlock.signing_targets([NAME], layout=api_dir)
    signed = airlock.attest_image(image, signer(key), predicate.read_bytes(), "slsaprovenance1")
    assert result.stderr.splitlines() == [f"Using payload from: {predicate}",
                                          f"Attested {signed.name}@{signed.digest} ({signed.predicate_type})"]
    statements = []
    for directory in (cli_dir, api_dir):
        verified = run_cli("verify-attestation", "--local-image", directory, "--key", pub,
                           "--insecure-ignore-tlog", "--type", "slsaprovenance1")
        assert verified.code == 0, verified.stderr
        statements.append(json.loads(base64.b64decode(json.loads(verified.stdout)["payload"])))
        verdict = airlock.verify_image(airlock.layout_source(directory), digest, key=Path(pub).read_bytes(),
                                       options=airlock.VerificationOptions(insecure_ignore_tlog=True),
                                       attestation=True, predicate_type=signed.predicate_type)
        assert verdict.ok, verdict.failure
    assert statements[0] == statements[1] == json.loads(signed.payload)
    assert statements[0]["predicate"] == {"buildType": "test"}


def test_help_shows_a_usable_docstring():
    for name in ("verify_image", "verify_blob", "sign_image"):
        doc = getattr(airlock, name).__doc__
        assert "Example::" in doc and f"airlock.{name}(" in doc, name
    text = subprocess.run([sys.executable, "-c", "import airlock; help(airlock.verify_image)"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src"), "PAGER": "cat",
                                                               "TERM": "dumb"}, timeout=60).stdout
    assert "verify_image(source" in text and "airlock.layout_source(" in text


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        airlock.no_such_function  # noqa: B018
    assert "verify_image" in dir(airlock)


def test_every_exported_name_resolves():
    import importlib

    assert set(airlock.__all__) <= set(airlock.api.__all__)
    for name in airlock.api.__all__:
        assert getattr(airlock.api, name) is not None, name
    fresh = subprocess.run([sys.executable, "-c", "import airlock, sys; "
                            "print(sorted(m for m in sys.modules if m.startswith('airlock'))); "
                            "from airlock import *; print(verify_image.__module__)"],
                           capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.split("\n")[:2] == ["['airlock']", "airlock.api.images"]  # import airlock: cheap
    assert importlib.import_module("airlock").verify_image is airlock.api.images.verify_image


def test_the_readme_examples_run(keys, tmp_path):
    """The README's Python API example runs as written: the blob part from the repository (the
    shipped example), the image part beside a layout ./transfer signed with cosign.key."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    blob_part, image_part = block.split("\n# an image", 1)
    result = subprocess.run([sys.executable, "-c", blob_part], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True https://github.com/airlock-example/release/"), result.stdout
    assert "'signature'" in result.stdout
    key, _ = keys
    digest = add_image(new_layout(tmp_path / "transfer"), "registry.internal/app:1.0")
    assert run_cli("sign", "--key", key, "--local-image", tmp_path / "transfer", "--new-bundle-format=false").code == 0
    result = subprocess.run([sys.executable, "-c", "import airlock\n# an image" + image_part], cwd=tmp_path,
                            capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"sha256-{digest.split(':')[1]}.sig layer 0 "), result.stdout
    assert run_cli("generate-key-pair", "--output-key-prefix", tmp_path / "other").code == 0
    shutil.copy(tmp_path / "other.pub", tmp_path / "cosign.pub")  # another key: the example fails, as it says
    failed = subprocess.run([sys.executable, "-c", "import airlock\n# an image" + image_part], cwd=tmp_path,
                            capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    reason = f"registry.internal/app:1.0@{digest}: no signatures verified (sha256-"
    assert failed.stderr.startswith(reason), failed.stderr


def test_verify_and_sign_in_a_registry(registry, keys, tmp_path):
    """The registry source: an image signed through the API (by tag) verifies through the CLI, and
    the API's verdict on it names the same digest and payload the CLI prints."""
    from test_registry_roundtrip import push_image

    key, pub = keys
    client = airlock.registry_client()
    digest = push_image(client, registry, "api/app", tmp_path, b"api layer")
    image = f"{registry}/api/app:v1"
    [target] = airlock.signing_targets([image], client=client)
    assert target.digest == digest
    signed = airlock.sign_image(target, signer(key), annotations={"team": "api"})
    assert signed.added is True
    cli = run_cli("verify", "--key", pub, "--insecure-ignore-tlog", image)
    assert cli.code == 0, cli.stderr
    verdict = airlock.verify_image(client, image, key=Path(pub).read_bytes(),
                                   options=airlock.VerificationOptions(insecure_ignore_tlog=True),
                                   annotations={"team": "api"})
    assert verdict.ok and verdict.reference == f"{image}@{digest}"
    assert cli.stderr.splitlines()[:3] == [*verdict.warnings, "", f"Verification for {verdict.reference} --"]
    [payload] = json.loads(cli.stdout)
    assert json.loads(verdict.verified[0].payload) == payload == json.loads(signed.payload) | {
        "optional": {"team": "api"}}
    wrong = airlock.verify_image(client, image, key=Path(pub).read_bytes(), annotations={"team": "web"},
                                 options=airlock.VerificationOptions(insecure_ignore_tlog=True))
    assert not wrong.ok and "annotation team='api' in the payload, wanted 'web'" in wrong.failure
