"""``airlock copy SRC DST``: registry to registry, streamed, with the signatures, as ``cosign copy``.

Two of Debian's docker-registry on 127.0.0.1 (the source, the destination), ``LoggingProxy`` in
front of one where a test needs to see or disturb the requests; skopeo, crane and the real
cosign look at the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.formats import cosign
from airlock.oci import layout as oci
from airlock.oci.reference import signature_tag
from airlock.oci.registry import RegistryClient, referrers_tag
from conftest import one_line_error, run_cli
from image_layouts import GIB, add_image, add_sparse_gib_image, attach, key_layer, new_layout
from logging_proxy import logging_proxy
from peers import peer
from registry_server import docker_registry
from test_transfer import add_index, children, last_error

PASSWORD = "copy-password"
MIB = 1 << 20


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    monkeypatch.delenv("COSIGN_REPOSITORY", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)


@pytest.fixture()
def registries(tmp_path):
    """(source, destination, destination's storage directory): two fresh registries."""
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    with docker_registry(directory=tmp_path / "src") as source, docker_registry(directory=tmp_path / "dst") as dest:
        yield source, dest, tmp_path / "dst"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A cosign key pair made by ``airlock generate-key-pair``: (key, pub)."""
    prefix = tmp_path_factory.mktemp("keys") / "cosign"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSIGN_PASSWORD", PASSWORD)
        assert run_cli("generate-key-pair", "--output-key-prefix", prefix).code == 0
    return prefix.with_suffix(".key"), prefix.with_suffix(".pub")


def one_image(tmp_path, registry: str, *, layer: bytes, name: str = "team/app", index: bool = False) -> str:
    """An unsigned image pushed to ``registry/name:v1`` (an index of two platforms if asked); its digest."""
    layout = new_layout(tmp_path / f"layout-{hashlib.sha256(layer).hexdigest()[:8]}")
    if index:
        digest = add_index(layout, f"src.example/{name}:v1", [layer, layer[::-1]])
    else:
        digest = add_image(layout, f"src.example/{name}:v1", layer)
    assert run_cli("load", "--dir", layout.path, f"{registry}/{name}:v1", "-q").code == 0
    return digest


def sign(keys, reference: str, *, bundle: bool, attest: bool = False, tmp_path=None) -> None:
    key, _ = keys
    fmt = f"--new-bundle-format={'true' if bundle else 'false'}"
    result = run_cli("sign", "--key", key, "--tlog-upload=false", fmt, reference)
    assert result.code == 0, result
    if attest:
        predicate = tmp_path / "predicate.json"
        predicate.write_text(json.dumps({"builder": {"id": "https://ci.example"}}))
        result = run_cli("attest", "--key", key, "--tlog-upload=false", fmt, "--predicate", predicate,
                         "--type", "slsaprovenance", reference)
        assert result.code == 0, result


def tags(registry: str, repository: str) -> set[str]:
    """The repository's tags (none when the registry does not know it yet)."""
    from airlock.errors import RegistryError

    try:
        return set(RegistryClient().list_tags(registry, repository))
    except RegistryError as exc:
        if exc.status == 404:
            return set()
        raise


def stored_blob(storage, digest: str) -> bool:
    """The blob's bytes are in the registry's store (committed), whichever repository links them."""
    return blob_data(storage, digest) is not None


def blob_data(storage, digest: str):
    """Where the registry keeps a committed blob's bytes (None: it has none)."""
    hexdigest = digest.split(":")[1]
    return next(storage.rglob(f"docker/registry/v2/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"), None)


# --- what arrives -------------------------------------------------------------------------------


def test_copy_then_verify_at_the_destination_and_the_peers_see_the_same_digests(registries, keys, tmp_path,
                                                                                 skopeo):
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=os.urandom(3 * MIB))
    sign(keys, f"{source}/team/app@{digest}", bundle=False, attest=True, tmp_path=tmp_path)  # .sig, .att
    sign(keys, f"{source}/team/app@{digest}", bundle=True)  # a bundle referrer
    result = run_cli("copy", f"{source}/team/app:v1", f"{dest}/mirror/app:v2")
    assert result.code == 0, result
    assert result.stderr == f"Copied {source}/team/app@{digest} to {dest}/mirror/app\n"
    _, pub = keys
    for fmt in ("--new-bundle-format=false", "--new-bundle-format"):  # the legacy .sig, then the bundle alone
        verified = run_cli("verify", "--key", pub, "--insecure-ignore-tlog", fmt, f"{dest}/mirror/app:v2")
        assert verified.code == 0, verified
    attested = run_cli("verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "slsaprovenance",
                       "--new-bundle-format=false", f"{dest}/mirror/app:v2")
    assert attested.code == 0, attested
    assert tags(dest, "mirror/app") == {"v2", signature_tag(digest, "sig"), signature_tag(digest, "att"),
                                        referrers_tag(digest)}
    client = RegistryClient()
    assert ([r["digest"] for r in client.referrers(dest, "mirror/app", digest)]
            == [r["digest"] for r in client.referrers(source, "team/app", digest)])
    crane = str(peer("crane"))
    for ref in ("v2", signature_tag(digest, "sig"), signature_tag(digest, "att")):
        there = subprocess.run([crane, "digest", "--insecure", f"{dest}/mirror/app:{ref}"], capture_output=True,
                               text=True, check=True).stdout.strip()
        here = client.head_manifest(source, "team/app", ref if ref != "v2" else "v1").digest
        assert there == here
        raw = skopeo.raw("inspect", "--raw", "--tls-verify=false", f"docker://{dest}/mirror/app:{ref}")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == here
    cosign = subprocess.run([str(peer("cosign")), "verify", "--key", str(pub), "--insecure-ignore-tlog=true",
                             "--allow-http-registry", f"{dest}/mirror/app:v2"], capture_output=True, text=True,
                            env={**os.environ, "HOME": str(tmp_path), "TUF_ROOT": str(tmp_path / "tuf")}, timeout=120)
    assert cosign.returncode == 0, cosign.stderr


def test_an_index_is_copied_whole_and_children_before_parents_under_concurrency(registries, keys, tmp_path):
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=b"platform layer" * 50_000, index=True)
    sign(keys, f"{source}/team/app@{digest}", bundle=False)
    with logging_proxy(dest, delay=0.03) as proxy:
        result = run_cli("copy", f"{source}/team/app:v1", f"{proxy.host}/mirror/app:v1", "--jobs", "4", "-q")
        assert (result.code, result.stderr) == (0, "")
        log = list(proxy.log)
        assert proxy.most_in_flight >= 2
    stored: dict[str, int] = {}
    for exchange in log:
        if exchange.method == "PUT" and "/blobs/uploads/" in exchange.path and exchange.status == 201:
            stored.setdefault(exchange.query["digest"][0], exchange.done)
        elif exchange.method == "PUT" and "/manifests/" in exchange.path and exchange.status == 201:
            stored.setdefault("sha256:" + hashlib.sha256(exchange.body).hexdigest(), exchange.done)
    manifests = [e for e in log if e.method == "PUT" and "/manifests/" in e.path]
    assert len(manifests) == 4  # two platforms, the index under its tag, the .sig
    for exchange in manifests:
        for child in children(exchange.body):
            assert stored.get(child, 1 << 30) < exchange.arrived, (exchange.path, child)
    assert manifests[-1].path == "/v2/mirror/app/manifests/v1"  # the tag last
    assert RegistryClient().head_manifest(dest, "mirror/app", "v1").digest == digest


def test_platform_picks_one_image_of_an_index_and_only_copies_signatures(registries, keys, tmp_path):
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=b"multi" * 1000, index=True)
    sign(keys, f"{source}/team/app@{digest}", bundle=False)
    client = RegistryClient()
    index = json.loads(client.get_manifest(source, "team/app", digest).data)
    [first, second] = [m["digest"] for m in index["manifests"]]
    sign(keys, f"{source}/team/app@{second}", bundle=False)  # a platform signed on its own
    both = run_cli("copy", "--platform", "linux/amd64", f"{source}/team/app:v1", f"{dest}/m/app:v1")
    assert one_line_error(both) == (f"Error: {source}/team/app:v1 has 2 images for platform linux/amd64 "
                                    f"(it has: linux/amd64, linux/amd64)")
    none = run_cli("copy", "--platform", "linux/arm64", f"{source}/team/app:v1", f"{dest}/m/app:v1")
    assert one_line_error(none).startswith(f"Error: {source}/team/app:v1 has no image for platform linux/arm64")
    assert none.code == 2 and tags(dest, "m/app") == set()
    # the whole index: every platform's signatures come too (cosign walks the index)
    assert run_cli("copy", f"{source}/team/app:v1", f"{dest}/m/app:v1", "-q").code == 0
    assert tags(dest, "m/app") == {"v1", signature_tag(digest, "sig"), signature_tag(second, "sig")}
    # --only=sig: the signature tags alone, not the image
    assert run_cli("copy", "--only=sig", f"{source}/team/app:v1", f"{dest}/sigs/app", "-q").code == 0
    assert tags(dest, "sigs/app") == {signature_tag(digest, "sig"), signature_tag(second, "sig")}
    assert client.head_manifest(dest, "sigs/app", digest) is None
    assert client.head_manifest(dest, "sigs/app", first) is None
    # a platform image by itself is not an index
    single = run_cli("copy", "--platform", "linux/amd64", f"{source}/team/app@{second}", f"{dest}/m/app:one")
    assert one_line_error(single) == (f"Error: {source}/team/app@{second} is not a multi-platform image (an image "
                                      f"index): --platform needs one")


def test_only_takes_sig_att_sbom_comma_separated(registries, keys, tmp_path):
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=b"only" * 100)
    sign(keys, f"{source}/team/app@{digest}", bundle=False, attest=True, tmp_path=tmp_path)
    sign(keys, f"{source}/team/app@{digest}", bundle=True)
    assert run_cli("copy", "--only=att", f"{source}/team/app:v1", f"{dest}/att/app", "-q").code == 0
    assert tags(dest, "att/app") == {signature_tag(digest, "att")}  # no bundle of a signature
    assert run_cli("copy", "--only", "sig,att", f"{source}/team/app:v1", f"{dest}/both/app", "-q").code == 0
    assert tags(dest, "both/app") == {signature_tag(digest, "sig"), signature_tag(digest, "att"), referrers_tag(digest)}
    sig_only = run_cli("copy", "--sig-only", f"{source}/team/app:v1", f"{dest}/sig/app")
    assert sig_only.code == 0 and "WARNING: --sig-only is deprecated, use --only=sig" in sig_only.stderr
    assert tags(dest, "sig/app") == {signature_tag(digest, "sig"), referrers_tag(digest)}
    bad = run_cli("copy", "--only=sig,sboms", f"{source}/team/app:v1", f"{dest}/bad/app")
    assert one_line_error(bad) == ("Error: invalid value for --only: 'sboms'; expected sig, att or sbom "
                                   "(comma-separated)")
    assert bad.code == 2


# --- fail closed --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [200_000, 3 * MIB], ids=["read-whole", "streamed"])
def test_a_corrupted_source_blob_is_refused_and_nothing_is_committed(registries, keys, tmp_path, size):
    source, dest, storage = registries
    layer = os.urandom(size)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    digest = one_image(tmp_path, source, layer=layer)
    sign(keys, f"{source}/team/app@{digest}", bundle=False)

    def corrupt_the_layer(method: str, path: str, query: dict) -> str | None:
        return "corrupt" if method == "GET" and path.endswith(f"/blobs/{layer_digest}") else None

    with logging_proxy(source) as proxy:
        proxy.fault = corrupt_the_layer
        error = last_error(run_cli("copy", f"{proxy.host}/team/app:v1", f"{dest}/mirror/app:v1", "--jobs", "1"))
        assert re.fullmatch(rf"Error: registry {re.escape(proxy.host)} sent blob {layer_digest} of team/app with "
                            r"digest sha256:[0-9a-f]{64}", error), error
        assert proxy.fetched().count(layer_digest) == 1
    assert not stored_blob(storage, layer_digest)  # never committed, in any repository
    assert stored_blob(storage, digest) is False and tags(dest, "mirror/app") == set()  # and no manifest
    assert not RegistryClient().blob_exists(dest, "mirror/app", layer_digest)
    # run again, the source intact: it all arrives, and verifies
    assert run_cli("copy", f"{source}/team/app:v1", f"{dest}/mirror/app:v1", "-q").code == 0
    assert stored_blob(storage, layer_digest)
    _, pub = keys
    assert run_cli("verify", "--key", pub, "--insecure-ignore-tlog", f"{dest}/mirror/app:v1").code == 0


def test_a_tag_holding_other_content_stops_the_copy_before_anything_is_written_unless_forced(registries, keys,
                                                                                              tmp_path):
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=b"wanted" * 100)
    sign(keys, f"{source}/team/app@{digest}", bundle=False)
    other = one_image(tmp_path, dest, layer=b"already there" * 100, name="mirror/app")
    with logging_proxy(dest) as proxy:
        refused = run_cli("copy", f"{source}/team/app:v1", f"{proxy.host}/mirror/app:v1")
        assert one_line_error(refused) == (f"Error: {proxy.host}/mirror/app:v1 already exists (as {other}, not "
                                           f"{digest}); nothing was copied: use --force to overwrite it")
        assert [e for e in proxy.log if e.method not in ("GET", "HEAD")] == []  # not one write
        assert tags(dest, "mirror/app") == {"v1"}
        for flag in ("--force", "-f"):
            result = run_cli("copy", flag, f"{source}/team/app:v1", f"{proxy.host}/mirror/app:v1", "-q")
            assert result.code == 0, result
            assert RegistryClient().head_manifest(dest, "mirror/app", "v1").digest == digest
    assert tags(dest, "mirror/app") == {"v1", signature_tag(digest, "sig")}


def test_a_destination_digest_must_be_the_source_digest(registries, tmp_path):
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=b"pinned" * 100)
    wrong = "sha256:" + "0" * 64
    result = run_cli("copy", f"{source}/team/app:v1", f"{dest}/mirror/app@{wrong}")
    assert one_line_error(result) == (f"Error: the destination {dest}/mirror/app@{wrong} names another digest than "
                                      f"the source's {digest}")
    assert run_cli("copy", f"{source}/team/app:v1", f"{dest}/mirror/app@{digest}", "-q").code == 0
    assert RegistryClient().head_manifest(dest, "mirror/app", digest) is not None
    assert tags(dest, "mirror/app") == set()  # by digest: no tag


# --- resumable, and nothing twice ---------------------------------------------------------------


def test_a_rerun_sends_nothing_and_an_interrupted_copy_sends_only_what_is_missing(registries, keys, tmp_path):
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=os.urandom(2 * MIB), index=True)
    sign(keys, f"{source}/team/app@{digest}", bundle=True)
    blobs = []

    def drop_the_second_upload(method: str, path: str, query: dict) -> str | None:
        if method in ("PUT", "PATCH") and "/blobs/uploads/" in path:
            blobs.append(path)
            if len(blobs) == 2:
                return "drop"
        return None

    with logging_proxy(dest) as proxy:
        proxy.fault = drop_the_second_upload
        target = f"{proxy.host}/mirror/app:v1"
        error = last_error(run_cli("copy", f"{source}/team/app:v1", target, "--jobs", "1"))
        assert f"Error: registry {proxy.host}: " in error and "connection broken" in error, error
        first = set(proxy.uploaded())
        assert first and tags(dest, "mirror/app") == set()
        proxy.fault = lambda *_: None
        proxy.log.clear()
        assert run_cli("copy", f"{source}/team/app:v1", target, "--jobs", "2", "-q").code == 0
        second = proxy.uploaded()
        assert not first & set(second) and sorted(second) == sorted(set(second))
        proxy.log.clear()
        assert run_cli("copy", f"{source}/team/app:v1", target, "-q").code == 0
        assert [(e.method, e.path) for e in proxy.log if e.method not in ("GET", "HEAD")] == []  # nothing sent
    _, pub = keys
    assert run_cli("verify", "--key", pub, "--insecure-ignore-tlog", f"{dest}/mirror/app:v1").code == 0


def test_within_one_registry_blobs_are_mounted_not_sent(registries, keys, tmp_path):
    source, _, _ = registries
    digest = one_image(tmp_path, source, layer=os.urandom(2 * MIB))
    sign(keys, f"{source}/team/app@{digest}", bundle=False)
    with logging_proxy(source) as proxy:
        result = run_cli("copy", f"{proxy.host}/team/app:v1", f"{proxy.host}/other/app:v1", "-q")
        assert result.code == 0, result
        mounts = [e for e in proxy.log if e.method == "POST" and "mount" in e.query]
        assert len(mounts) == 4 and all(e.status == 201 and e.query["from"] == ["team/app"] for e in mounts)
        assert proxy.fetched() == [] and proxy.uploaded() == []  # no blob went through this process
    assert tags(source, "other/app") == {"v1", signature_tag(digest, "sig")}


def test_copy_image_in_the_api_says_what_it_did(registries, keys, tmp_path):
    from airlock.api import copy_image

    source, dest, _ = registries
    layer = os.urandom(3 * MIB)
    digest = one_image(tmp_path, source, layer=layer)
    sign(keys, f"{source}/team/app@{digest}", bundle=True)
    copied = copy_image(f"{source}/team/app:v1", f"{dest}/mirror/app:v1", jobs=2)
    assert (copied.digest, copied.destination) == (digest, f"{dest}/mirror/app@{digest}")
    assert copied.tags == ["v1"] and copied.referrers == 1
    assert copied.blobs_sent == 4 and copied.bytes_sent > len(layer)  # config, layer; the bundle, its empty config
    again = copy_image(f"{source}/team/app:v1", f"{dest}/mirror/app:v1")
    assert (again.blobs_sent, again.bytes_sent, again.manifests_pushed) == (0, 0, 0)


# --- beside cosign copy -------------------------------------------------------------------------


def test_cosign_copy_and_airlock_copy_leave_the_same_tags_but_one(registries, keys, tmp_path):
    """cosign v3.1.2 copy also tags the image ``sha256-<hex>`` (the name the OCI referrers
    fallback uses): airlock does not, reads such a tag as no referrers index, and copies from
    there; cosign copy leaves the bundle referrers behind, airlock copies them."""
    source, dest, _ = registries
    digest = one_image(tmp_path, source, layer=b"interop" * 1000)
    sign(keys, f"{source}/team/app@{digest}", bundle=False, attest=True, tmp_path=tmp_path)
    cosign = [str(peer("cosign")), "copy", "--allow-http-registry"]
    env = {**os.environ, "HOME": str(tmp_path), "TUF_ROOT": str(tmp_path / "tuf")}
    done = subprocess.run([*cosign, f"{source}/team/app:v1", f"{dest}/cosign/app:v1"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert run_cli("copy", f"{source}/team/app:v1", f"{dest}/airlock/app:v1", "-q").code == 0
    legacy = {"v1", signature_tag(digest, "sig"), signature_tag(digest, "att")}
    assert tags(dest, "airlock/app") == legacy
    assert tags(dest, "cosign/app") == legacy | {referrers_tag(digest)}
    client = RegistryClient()
    assert client.head_manifest(dest, "cosign/app", referrers_tag(digest)).digest == digest  # the image itself
    for tag in legacy:
        assert client.head_manifest(dest, "cosign/app", tag).digest == client.head_manifest(dest, "airlock/app",
                                                                                             tag).digest
    # airlock copies on from cosign's copy, and verifies both
    assert run_cli("copy", f"{dest}/cosign/app:v1", f"{dest}/again/app:v1", "-q").code == 0
    assert tags(dest, "again/app") == legacy
    _, pub = keys
    for repository in ("cosign/app", "airlock/app", "again/app"):
        assert run_cli("verify", "--key", pub, "--insecure-ignore-tlog", f"{dest}/{repository}:v1").code == 0
    # a bundle referrer: cosign copy leaves it behind, airlock copies it
    sign(keys, f"{source}/team/app@{digest}", bundle=True)
    done = subprocess.run([*cosign, "-f", f"{source}/team/app:v1", f"{dest}/cosign2/app:v1"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert run_cli("copy", f"{source}/team/app:v1", f"{dest}/airlock2/app:v1", "-q").code == 0
    assert client.referrers(dest, "cosign2/app", digest) == []
    assert [r["artifactType"] for r in client.referrers(dest, "airlock2/app", digest)] == [oci.SIGSTORE_BUNDLE_V03]
    assert run_cli("verify", "--key", pub, "--insecure-ignore-tlog", "--new-bundle-format",
                   f"{dest}/airlock2/app:v1").code == 0


# --- a large layer, in bounded memory -----------------------------------------------------------


def test_a_1gib_layer_is_copied_in_bounded_memory(registries, keys, tmp_path):
    from test_transfer import peak_rss

    source, dest, storage = registries
    layout = new_layout(tmp_path / "big")
    digest, layer = add_sparse_gib_image(layout, "src.example/big/app:v1")
    signer = ec.generate_private_key(ec.SECP256R1())
    attach(layout, digest, [key_layer(signer, cosign.simplesigning_payload("src.example/big/app", digest))])
    assert run_cli("load", "--dir", tmp_path / "big", f"{source}/big/app:v1", "-q").code == 0
    copied = peak_rss("copy", f"{source}/big/app:v1", f"{dest}/big/app:v1", "-q")
    assert stored_blob(storage, layer)
    assert os.path.getsize(blob_data(storage, layer)) == GIB
    assert copied < 150, copied
