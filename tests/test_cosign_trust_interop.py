"""TUF mirrors made by one tool, used by the other: ``cosign initialize`` and ``airlock initialize``.

What the real cosign v3.1.2 does, found here (and why the tests look the way they do):

- It is a static Go binary (``CGO_ENABLED=0``): libfaketime's ``LD_PRELOAD`` does not reach it, it
  reads the real clock. The real public-good repository in ``../shared`` expired (root v15 on
  2026-11-20), so cosign cannot use it at all once that date has passed; those tests run cosign
  under faketime only if it honours it, and skip otherwise with cosign's own error.
- It never uses a mirror as it is: every verification refreshes it from the URL in
  ``remote.json`` (sigstore-go's TUF client without ``ForceCache``/``CacheValidity``), so with
  no network it fails even on its own mirror. "cosign verifies with airlock's mirror" is therefore
  checked with the repository served on 127.0.0.1 and no target fetched: the trusted root cosign
  uses is the one in airlock's mirror.

The repository the real-clock tests use is synthetic (``tuf_repo.TufRepo``, dated now) and
distributes the production ``trusted_root.json``; the signed material is a real conformance
bundle made by the public-good instance.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import CONFORMANCE, PRODUCTION_ROOT, TUF_REPOSITORY, airlock_exe, at, run_cli, shared
from peers import peer
from test_cosign_interop import HTTP, SIGN_OFFLINE, cosign, home, image  # noqa: F401 (fixtures: the real cosign, an image)
from tuf_repo import TufRepo, serve

CASE = CONFORMANCE / "bundle-verify" / "happy-path-v0.3"  # signed by public-good: production trusted root
IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
            "extremely-dangerous-oidc-beacon.yml@refs/heads/main")
ISSUER = "https://token.actions.githubusercontent.com"
FAKE_NOW = "2026-08-25 12:00:00"


def verify_args() -> list[str]:
    case = shared(CASE)
    return ["verify-blob", str(case.parent / "a.txt"), "--bundle", str(case / "bundle.sigstore.json"),
            "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]


def run(argv: list[str], tuf_root: Path, *, net: bool = True, date: str | None = None,
        home_dir: Path | None = None) -> subprocess.CompletedProcess:
    command = list(argv)
    if date:
        command = ["faketime", "-f", f"@{date}", *command]
    if not net:
        command = ["unshare", "--net", *command]
    env = {**os.environ, "TUF_ROOT": str(tuf_root), "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    if home_dir is not None:
        env["HOME"] = str(home_dir)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def repo(tmp_path) -> TufRepo:
    repository = TufRepo(tmp_path / "repo")
    repository.set_target("trusted_root.json", shared(PRODUCTION_ROOT).read_bytes())
    return repository


def test_cosign_verifies_with_airlocks_mirror(repo, tmp_path):
    cosign_exe = peer("cosign")
    with serve(repo) as server:
        url = server.url.rstrip("/")
        made = run([*airlock_exe(), "initialize", "--mirror", url, "--root", str(repo.path("root", 1))],
                   tmp_path / "airlock")
        assert made.returncode == 0, made.stderr
        server.requests.clear()
        result = run([str(cosign_exe), *verify_args()], tmp_path / "airlock", home_dir=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip().splitlines()[-1] == "Verified OK"
        # cosign refreshed the metadata, but took trusted_root.json from airlock's mirror
        assert "/timestamp.json" in server.requests
        assert not [path for path in server.requests if path.startswith("/targets/")], server.requests
        # the mirror is still airlock's: airlock re-verifies it offline afterwards
        again = run([*airlock_exe(), *verify_args()], tmp_path / "airlock", net=False)
        assert again.returncode == 0, again.stderr


def test_cosign_cannot_verify_from_a_mirror_offline(repo, tmp_path):
    """cosign v3.1.2 refreshes the mirror on every run: no network, no verification (not airlock's
    doing: the same happens with the mirror cosign made itself)."""
    cosign_exe = peer("cosign")
    with serve(repo) as server:
        url = server.url.rstrip("/")
        assert run([str(cosign_exe), "initialize", "--mirror", url, "--root", str(repo.path("root", 1))],
                   tmp_path / "cosign", home_dir=tmp_path).returncode == 0
        assert run([*airlock_exe(), "initialize", "--mirror", url, "--root", str(repo.path("root", 1))],
                   tmp_path / "airlock").returncode == 0
    for mirror in ("cosign", "airlock"):
        result = run([str(cosign_exe), *verify_args()], tmp_path / mirror, net=False, home_dir=tmp_path)
        assert result.returncode == 1
        assert f'tuf refresh failed: Get "{url}/2.root.json"' in result.stderr
        assert "network is unreachable" in result.stderr


def test_airlock_refuses_a_mirror_cosign_made(repo, tmp_path):
    cosign_exe = peer("cosign")
    with serve(repo) as server:
        url = server.url.rstrip("/")
        made = run([str(cosign_exe), "initialize", "--mirror", url, "--root", str(repo.path("root", 1))],
                   tmp_path / "cosign", home_dir=tmp_path)
        assert made.returncode == 0, made.stderr
    directory = tmp_path / "cosign" / url.removeprefix("http://").replace(":", "-")
    assert (directory / "targets" / "trusted_root.json").is_file()  # cosign's layout, airlock's file names
    result = run([*airlock_exe(), *verify_args()], tmp_path / "cosign", net=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: TUF mirror: {directory} has no airlock-mirror.json: it was made by `cosign initialize`, which "
        "keeps neither the root it was bootstrapped from nor when it was verified, so it cannot be re-verified "
        f"offline; run `airlock initialize --mirror {url} --root ROOT` on the connected side (cosign uses the "
        "mirror it writes as well)")


def test_airlock_initialize_replaces_a_mirror_cosign_made(repo, tmp_path):
    """cosign itself wipes its mirror on every `initialize`; airlock does the same to cosign's (which
    has no anchor to keep), the operator's --root becoming the anchor, and both tools use the result."""
    cosign_exe = peer("cosign")
    repo.rotate_root()
    with serve(repo) as server:
        url = server.url.rstrip("/")
        assert run([str(cosign_exe), "initialize", "--mirror", url, "--root", str(repo.path("root", 1))],
                   tmp_path / "tuf", home_dir=tmp_path).returncode == 0
        made = run([*airlock_exe(), "initialize", "--mirror", url, "--root", str(repo.path("root", 1))],
                   tmp_path / "tuf")
        assert made.returncode == 0, made.stderr
        assert made.stderr.splitlines()[0] == (
            f"replacing the mirror of {url} that `cosign initialize` made (it keeps no trust anchor; --root "
            "becomes the anchor)")
        assert "root v1 -> v2" in made.stderr
        result = run([str(cosign_exe), *verify_args()], tmp_path / "tuf", home_dir=tmp_path)
        assert result.returncode == 0, result.stderr
    result = run([*airlock_exe(), *verify_args()], tmp_path / "tuf", net=False)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the real public-good repository


@pytest.fixture(scope="module")
def public_good():
    with serve(shared(TUF_REPOSITORY)) as server:
        yield server.url.rstrip("/")


def cosign_at_fake_now(public_good, tuf_root: Path, home_dir: Path) -> None:
    """``cosign initialize`` over the public-good repository as of FAKE_NOW, or skip saying why not."""
    result = run([str(peer("cosign")), "initialize", "--mirror", public_good, "--root",
                  str(TUF_REPOSITORY / "5.root.json")], tuf_root, date=FAKE_NOW, home_dir=home_dir)
    if result.returncode != 0:
        assert "expired" in result.stderr, result.stderr
        pytest.skip("cosign is a static Go binary that ignores libfaketime and reads the real clock, past the "
                    "expiry of the public-good root v15 (2026-11-20): " + result.stderr.strip().splitlines()[-1])


def test_public_good_cosign_mirror_to_airlock(public_good, tmp_path):
    cosign_at_fake_now(public_good, tmp_path / "cosign", tmp_path)
    result = at(FAKE_NOW, *verify_args(), tuf_root=tmp_path / "cosign", net=False)
    assert result.returncode == 1 and "it was made by `cosign initialize`" in result.stderr


def test_public_good_airlock_mirror_to_cosign(public_good, tmp_path):
    made = at(FAKE_NOW, "initialize", "--mirror", public_good, "--root", str(TUF_REPOSITORY / "5.root.json"),
              tuf_root=tmp_path / "airlock")
    assert made.returncode == 0, made.stderr
    assert at(FAKE_NOW, *verify_args(), tuf_root=tmp_path / "airlock", net=False).returncode == 0
    cosign_at_fake_now(public_good, tmp_path / "probe", tmp_path)
    result = run([str(peer("cosign")), *verify_args()], tmp_path / "airlock", date=FAKE_NOW, home_dir=tmp_path)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- download signature, as Go prints it
# (the two comparisons with the real cosign on one image are in test_cosign_interop.py)


def test_download_signature_of_an_unsigned_image_fails_as_in_cosign(cosign, image):  # noqa: F811
    repository, _ = image
    by_cosign = cosign("download", "signature", HTTP, f"{repository}:v1")
    by_airlock = run_cli("download", "signature", f"{repository}:v1")
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (1, "")
    assert by_airlock.stderr.splitlines() == [f"Error: {repository}:v1: no signatures associated"]
    assert by_cosign.stderr.splitlines()[0] == by_airlock.stderr.splitlines()[0]


@pytest.mark.parametrize("bundle_format", ["false", "true"])
def test_download_signature_of_what_airlock_signed_as_in_cosign(cosign, image, tmp_path, bundle_format):  # noqa: F811
    """Both layouts airlock writes print the same bytes in both tools (cosign re-encodes what it reads:
    a bundle through protojson, a .sig layer through its SignedPayload struct)."""
    repository, digest = image
    prefix = tmp_path / "k"
    assert run_cli("generate-key-pair", "--output-key-prefix", prefix).code == 0
    # "true": a legacy signature too, which neither tool prints once there is a bundle
    for fmt in ["false", "true"] if bundle_format == "true" else ["false"]:
        signed = run_cli("sign", "--key", prefix.with_suffix(".key"), "--tlog-upload=false",
                         f"--new-bundle-format={fmt}", f"{repository}@{digest}")
        assert signed.code == 0, signed
    by_cosign = cosign("download", "signature", HTTP, f"{repository}:v1")
    by_airlock = run_cli("download", "signature", f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    [line] = by_airlock.stdout.splitlines()
    assert ("mediaType" in json.loads(line)) == (bundle_format == "true")
    assert by_airlock.stdout == by_cosign.stdout


def _pkcs8(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _self_signed(kind: str):
    """A key and a self-signed CA certificate for it, made with ``cryptography``."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP384R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                      "Airlock <&> Test"), x509.NameAttribute(NameOID.COMMON_NAME, "download signature")])
    now = datetime.now(UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + timedelta(days=9))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.5.5.7.3.3"),
                                                    x509.ObjectIdentifier("1.2.3.4.5")]), critical=False)
               .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                   [x509.UniformResourceIdentifier("http://crl.example/ca.crl")], None, None, None)]), critical=False))
    return key, builder.sign(key, hashes.SHA384() if kind == "ec" else hashes.SHA256())


@pytest.mark.parametrize("kind", ["ec", "rsa", "fulcio"])
def test_download_signature_prints_certificates_as_cosign(cosign, image, tmp_path, kind):  # noqa: F811
    """cosign prints Cert and Chain as Go's json of the parsed x509.Certificate; so does airlock.
    Self-signed EC and RSA CA certificates (signed by cosign), a Fulcio-profile leaf with its chain
    (attached by airlock)."""
    from cryptography.hazmat.primitives import serialization

    from airlock.testing import SigstoreInstance

    pem = serialization.Encoding.PEM
    repository, digest = image
    if kind == "fulcio":  # a Fulcio-profile leaf (SAN URI, Fulcio extensions, SCTs) and its chain
        instance = SigstoreInstance()
        cert, key = instance.issue_leaf()
        chain = b"".join(c.public_bytes(pem) for c in instance.fulcio.chain)
    else:
        key, cert = _self_signed(kind)
        chain = None
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    if chain:  # cosign sign stores no chain for a key it is given: airlock attaches one
        (tmp_path / "chain.pem").write_bytes(chain)
        (tmp_path / "sig").write_text(base64.b64encode(b"not checked by download signature").decode())
        attached = run_cli("attach", "signature", "--signature", tmp_path / "sig", "--certificate",
                           tmp_path / "cert.pem", "--certificate-chain", tmp_path / "chain.pem",
                           f"{repository}@{digest}")
        assert attached.code == 0, attached
    else:
        (tmp_path / "key.pem").write_bytes(_pkcs8(key))
        cosign.ok("import-key-pair", "--key", tmp_path / "key.pem", "--output-key-prefix", tmp_path / "imported",
                  cwd=tmp_path)
        cosign.ok("sign", "--key", tmp_path / "imported.key", "--certificate", tmp_path / "cert.pem", *SIGN_OFFLINE,
                  HTTP, "--new-bundle-format=false", f"{repository}@{digest}")
    by_cosign = cosign("download", "signature", HTTP, f"{repository}:v1")
    by_airlock = run_cli("download", "signature", f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    [line] = [json.loads(text) for text in by_airlock.stdout.splitlines()]
    assert isinstance(line["Cert"], dict)
    assert [c["Subject"]["CommonName"] for c in line["Chain"] or []] == (["sigstore-intermediate", "sigstore"]
                                                                         if chain else [])
    assert by_airlock.stderr == ""
    assert by_airlock.stdout == by_cosign.stdout


def test_download_signature_of_a_keyless_legacy_signature_as_in_cosign(cosign, registry, tmp_path):  # noqa: F811
    """A Fulcio certificate and a Rekor bundle (SET) in the annotations, as keyless cosign wrote them."""
    from airlock.testing import SigstoreInstance
    from image_layouts import add_image, attach, keyless_layer, new_layout

    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, "keyless:v1")
    repository = f"{registry}/interop/keyless-legacy"
    attach(layout, digest, [keyless_layer(SigstoreInstance(), b"{\"critical\":{}}")])
    assert run_cli("load", "--dir", tmp_path / "layout", f"{repository}:v1").code == 0
    by_cosign = cosign("download", "signature", HTTP, f"{repository}:v1")
    by_airlock = run_cli("download", "signature", f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    [line] = [json.loads(text) for text in by_airlock.stdout.splitlines()]
    assert list(line["Bundle"]["Payload"]) == ["body", "integratedTime", "logIndex", "logID"]
    assert line["Cert"]["URIs"][0]["Scheme"] == "https"
    assert by_airlock.stdout == by_cosign.stdout


def test_download_signature_prints_json_as_go_does():
    from airlock.cli.oci import _go_json

    assert _go_json({"b": "<a&b>", "a": "é\u2028", "n": None}) == (
        '{"b":"\\u003ca\\u0026b\\u003e","a":"é\\u2028","n":null}')


def test_download_signature_prints_a_bundle_as_protojson_does():
    from airlock.cli.oci import _protojson

    bundle = {"mediaType": "m", "verificationMaterial": {"publicKey": {"hint": "h"}, "tlogEntries": [],
                                                          "timestampVerificationData": {}},
              "x": {"n": 0, "b": False, "s": "", "t": True, "z": "0", "l": [{"k": []}]}}
    assert _protojson(bundle) == {"mediaType": "m", "verificationMaterial": {"publicKey": {"hint": "h"},
                                                                             "timestampVerificationData": {}},
                                  "x": {"t": True, "z": "0", "l": [{}]}}


@pytest.mark.parametrize(("note", "expected"), [
    (None, None),
    ('{"SignedRFC3161Timestamp":"MAo="}', {"SignedRFC3161Timestamp": "MAo="}),
    ('{"SignedRFC3161Timestamp":null}', {"SignedRFC3161Timestamp": None}),
])
def test_download_signature_rfc3161_value(note, expected):
    from airlock.cli.oci import _rfc3161

    assert _rfc3161(note) == expected


@pytest.mark.parametrize(("note", "message"), [
    ("[1]", "the dev.sigstore.cosign/rfc3161timestamp annotation is not a JSON object"),
    ('{"SignedRFC3161Timestamp":5}', "SignedRFC3161Timestamp"),
    ("{", "dev.sigstore.cosign/rfc3161timestamp"),
])
def test_download_signature_rejects_a_malformed_rfc3161_annotation(note, message):
    from airlock.cli.oci import _rfc3161
    from airlock.errors import FormatError

    with pytest.raises(FormatError, match=message):
        _rfc3161(note)


def test_download_signature_prints_a_certificate_it_cannot_model_as_pem(capsys):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    from airlock.cli.oci import _certificates
    from airlock.errors import Unsupported
    from airlock.formats import go_x509

    key, cert = _self_signed("ec")
    constrained = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
                   .public_key(key.public_key()).serial_number(1).not_valid_before(cert.not_valid_before_utc)
                   .not_valid_after(cert.not_valid_after_utc)
                   .add_extension(x509.NameConstraints([x509.DNSName("example.com")], None), critical=True)
                   .sign(key, hashes.SHA384()))
    with pytest.raises(Unsupported, match="a certificate Go may read otherwise"):
        go_x509.certificate(b"\x30\x03\x02\x01\x01")
    with pytest.raises(Unsupported, match="name constraints or policy mappings"):
        go_x509.certificate(constrained.public_bytes(serialization.Encoding.DER))
    pem = constrained.public_bytes(serialization.Encoding.PEM).decode()
    assert _certificates(pem, "the certificate", ".sig layer 1") == [pem]
    assert capsys.readouterr().err == (
        "WARNING: .sig layer 1: the certificate printed as PEM, not as cosign's parsed form (name constraints or "
        "policy mappings)\n")


@pytest.mark.parametrize(("note", "message"), [
    ("not a certificate", "the certificate holds no PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", "the certificate"),
])
def test_download_signature_rejects_a_malformed_certificate_annotation(note, message):
    from airlock.cli.oci import _certificates
    from airlock.errors import FormatError

    with pytest.raises(FormatError, match=message):
        _certificates(note, "the certificate", ".sig layer 1")


def test_download_signature_rekor_bundle_as_go_reads_it():
    from airlock.cli.oci import _rekor_bundle

    note = ('{"payload":{"logID":"ab","logIndex":7,"integratedTime":5,"body":{"b":1,"a":2},"extra":1},'
            '"signedEntryTimestamp":"TUVV"}')
    assert json.dumps(_rekor_bundle(note)) == json.dumps(
        {"SignedEntryTimestamp": "TUVV", "Payload": {"body": {"a": 2, "b": 1}, "integratedTime": 5, "logIndex": 7,
                                                     "logID": "ab"}})
    assert _rekor_bundle(None) is None


@pytest.mark.parametrize("note", ["[]", '{"SignedEntryTimestamp":"TUVV"}', '{"Payload":"x"}'])
def test_download_signature_rejects_an_annotation_that_is_no_rekor_bundle(note):
    from airlock.cli.oci import _rekor_bundle
    from airlock.errors import FormatError

    with pytest.raises(FormatError, match=r"the dev\.sigstore\.cosign/bundle annotation is not a Rekor bundle"):
        _rekor_bundle(note)
