"""What discovery may fetch for one image's signatures, and ``--timeout`` (issue 8, "A hostile registry").

One ``FetchBudget`` per image, shared by the referrers and the .sig/.att layers: an item over its
own size limit is one failed candidate (a WARNING beside a good signature), never fetched; more
items than the count, or more bytes than the total, stops discovery with a specific error before
the items over the count are fetched. The same bounds hold for a registry and an OCI layout.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.errors import BudgetExceeded, RegistryError
from airlock.formats import cosign
from airlock.oci import discovery
from airlock.oci import layout as oci
from airlock.oci.registry import (
    MAX_ATTESTATION_SIZE,
    MAX_REFERRERS,
    MAX_SIGNATURE_BYTES,
    MAX_SIGNATURE_SIZE,
    MAX_SIGNATURES,
    FetchBudget,
    RegistryClient,
)
from airlock.oci.sources import SUBJECT, RegistrySource
from conftest import one_line_error, run_cli
from image_layouts import add_image, key_layer, new_layout
from registry_server import HostileRegistry

REPOSITORY = "team/app"
OVER_COUNT = f"over the limit of {MAX_SIGNATURES} signatures, attestations and referrers"
EMPTY = b"{}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fake_digest(n: int) -> str:
    return sha256(f"not served {n}".encode())


def sig_tag(digest: str, suffix: str = "sig") -> str:
    return digest.replace(":", "-") + "." + suffix


def signature_manifest(layers: list[dict]) -> dict:
    return {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
            "config": {"mediaType": oci.OCI_CONFIG, "size": len(EMPTY), "digest": sha256(EMPTY)}, "layers": layers}


def junk_layer(size: int, n: int = 0) -> dict:
    """A layer descriptor claiming ``size`` bytes whose blob nobody serves."""
    return {"mediaType": cosign.SIMPLESIGNING, "size": size, "digest": fake_digest(n)}


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def pub(key, tmp_path):
    path = tmp_path / "cosign.pub"
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


class Served:
    """An image and its signatures served by a ``HostileRegistry`` (which records every request)."""

    def __init__(self, hostile: HostileRegistry) -> None:
        self.hostile = hostile
        self.sizes: dict[str, int] = {}
        self.image = self.manifest(signature_manifest([]), "1.0")  # any image manifest will do
        self.reference = f"{hostile.host}/{REPOSITORY}@{self.image}"
        self.tagged = f"{hostile.host}/{REPOSITORY}:1.0"

    def manifest(self, document: dict, *tags: str) -> str:
        data = json.dumps(document).encode()
        digest = sha256(data)
        self.sizes[digest] = len(data)
        route = (200, {"Content-Type": document["mediaType"], "Docker-Content-Digest": digest}, data)
        for ref in (digest, *tags):
            for method in ("GET", "HEAD"):
                self.hostile.routes[method, f"/v2/{REPOSITORY}/manifests/{ref}"] = route
        return digest

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        self.hostile.routes["GET", f"/v2/{REPOSITORY}/blobs/{digest}"] = (200, {}, data)
        return digest

    def good_layer(self, key) -> dict:
        media_type, payload, annotations = key_layer(key, cosign.simplesigning_payload(
            f"{self.hostile.host}/{REPOSITORY}", self.image))
        return {"mediaType": media_type, "size": len(payload), "digest": self.blob(payload),
                "annotations": annotations}

    def signatures(self, layers: list[dict], suffix: str = "sig") -> str:
        return self.manifest(signature_manifest(layers), sig_tag(self.image, suffix))

    def requested(self, part: str) -> list[str]:
        return [path for _, path in self.hostile.requests if f"/{part}/" in path]


@pytest.fixture()
def served():
    with HostileRegistry() as hostile:
        yield Served(hostile)


def verify(served: Served, pub, *extra: str):
    return run_cli("verify", served.reference, "--key", pub, "--insecure-ignore-tlog", *extra)


# --- a registry -------------------------------------------------------------------------------------


def test_a_sig_manifest_with_too_many_layers_is_refused_before_any_layer_is_fetched(served, key, pub):
    served.signatures([served.good_layer(key)] + [junk_layer(10, n) for n in range(MAX_SIGNATURES)])
    error = one_line_error(verify(served, pub))
    assert error == (f"Error: signatures of {served.image}: {sig_tag(served.image)} lists "
                     f"{MAX_SIGNATURES + 1} more, {OVER_COUNT}")
    assert served.requested("blobs") == []  # not even the good signature: nothing it lists is trusted


def test_a_layer_claiming_128_mib_is_refused_without_being_downloaded(served, pub):
    served.hostile.routes["GET", f"/v2/{REPOSITORY}/blobs/{fake_digest(0)}"] = \
        lambda handler: served.hostile.endless(handler, {})
    served.signatures([junk_layer(MAX_SIGNATURE_BYTES)])
    error = one_line_error(verify(served, pub))
    where = f"{sig_tag(served.image)} layer 0"
    assert error == (f"Error: verify: {served.reference}: no signatures verified ({where}: signatures of "
                     f"{served.image}: {where} claims {MAX_SIGNATURE_BYTES} bytes, over the limit of "
                     f"{MAX_SIGNATURE_SIZE} for one item)")
    assert served.requested("blobs") == []


def test_a_good_signature_beside_an_oversized_junk_layer_verifies_with_a_warning(served, key, pub):
    served.signatures([junk_layer(MAX_SIGNATURE_SIZE + 1), served.good_layer(key)])
    result = verify(served, pub)
    assert result.code == 0, result.stderr
    where = f"{sig_tag(served.image)} layer 0"
    assert (f"WARNING: {served.reference}: not verified, ignored: {where}: signatures of {served.image}: "
            f"{where} claims {MAX_SIGNATURE_SIZE + 1} bytes, over the limit of {MAX_SIGNATURE_SIZE} for one item"
            ) in result.stderr.splitlines()
    assert len(json.loads(result.stdout)) == 1
    assert f"/v2/{REPOSITORY}/blobs/{fake_digest(0)}" not in served.requested("blobs")


def test_1100_referrers_are_refused_and_stop_discovery(served, key, pub):
    served.signatures([served.good_layer(key)])  # a good signature does not make up for a hostile listing
    listing = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "size": 500, "digest": fake_digest(n),
         "artifactType": oci.SIGSTORE_BUNDLE_V03} for n in range(1100)]}
    served.hostile.routes["GET", f"/v2/{REPOSITORY}/referrers/{served.image}"] = (
        200, {"Content-Type": oci.OCI_INDEX}, json.dumps(listing).encode())
    error = one_line_error(verify(served, pub))
    assert error == (f"Error: registry {served.hostile.host}: {served.image} has more than {MAX_REFERRERS} "
                     f"referrers; refusing them")
    assert served.requested("blobs") == []
    assert [path for path in served.requested("manifests") if path.endswith(".sig")] == []


def test_the_total_budget_stops_discovery_with_its_own_error(served, key, pub, monkeypatch):
    # the real total (128 MiB) would take 120 MiB of transfers to reach: the same budget, made smaller
    good = served.good_layer(key)
    junk = [{"mediaType": cosign.SIMPLESIGNING, "size": 1200, "digest": served.blob(bytes([n]) * 1200)}
            for n in range(3)]
    manifest = served.signatures([good, *junk])
    total = served.sizes[manifest] + good["size"] + 2 * 1200 + 600  # room for the manifest and 3 of the 4 layers
    monkeypatch.setattr(discovery, "budget_for",
                        lambda digest: FetchBudget(f"signatures of {digest}", max_bytes=total))
    error = one_line_error(verify(served, pub))
    where = f"{sig_tag(served.image)} layer 3"
    assert error == (f"Error: signatures of {served.image}: {where} would bring the signature data over "
                     f"{total} bytes in total")
    assert f"/v2/{REPOSITORY}/blobs/{junk[2]['digest']}" not in served.requested("blobs")
    assert f"/v2/{REPOSITORY}/blobs/{junk[1]['digest']}" in served.requested("blobs")


def test_a_blob_longer_than_its_descriptor_is_cut_off_at_the_claimed_size(served):
    digest = fake_digest(0)
    served.hostile.routes["GET", f"/v2/{REPOSITORY}/blobs/{digest}"] = \
        lambda handler: served.hostile.endless(handler, {})
    source = RegistrySource(RegistryClient(timeout=10), served.hostile.host, REPOSITORY)
    with pytest.raises(RegistryError) as caught:
        source.blob(digest, 10, MAX_SIGNATURE_SIZE)
    assert str(caught.value) == (f"registry {served.hostile.host}: GET /v2/{REPOSITORY}/blobs/{digest}: "
                                 f"blob {digest} exceeds the 10-byte limit")


# --- --timeout ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["verify", "{ref}", "--key", "{pub}", "--insecure-ignore-tlog"],
                                     ["triangulate", "{ref}"], ["download", "signature", "{ref}"],
                                     ["save", "{ref}", "--dir", "{dir}"]])
def test_timeout_flag_against_a_slow_registry(served, pub, tmp_path, monkeypatch, command):
    monkeypatch.setenv("AIRLOCK_REGISTRY_TIMEOUT", "60")  # the flag wins over the environment
    served.hostile.routes["GET", "/v2/"] = \
        lambda handler: served.hostile.drip(handler, HostileRegistry.head(200, {}), 0.3)
    argv = [part.format(ref=served.tagged, pub=pub, dir=tmp_path / "layout") for part in command]
    started = time.monotonic()
    error = one_line_error(run_cli(*argv, "--timeout", "1s"))
    assert time.monotonic() - started < 5
    assert error == f"Error: cannot reach registry {served.hostile.host}: timed out (no answer within 1s)"


def test_timeout_before_the_command_as_cosign_persistent_flag(served):
    served.hostile.routes["GET", "/v2/"] = \
        lambda handler: served.hostile.drip(handler, HostileRegistry.head(200, {}), 0.3)
    started = time.monotonic()
    error = one_line_error(run_cli("-t", "1s", "triangulate", served.tagged))
    assert time.monotonic() - started < 5
    assert error == f"Error: cannot reach registry {served.hostile.host}: timed out (no answer within 1s)"
    result = run_cli("--timeout", "0s", "verify", served.tagged)
    assert result.code == 2
    assert result.stderr.splitlines()[-1] == ("airlock: error: argument -t/--timeout: invalid --timeout '0s': "
                                              "expected seconds or a duration like 90s, 5m, 1h (more than 0, "
                                              "at most 24h)")


@pytest.mark.parametrize("value", ["0s", "soon", "25h", "-1", "1m-1s"])
@pytest.mark.parametrize("command", [["verify"], ["save", "--dir", "out"], ["clean"], ["attach", "signature"]])
def test_a_bad_timeout_is_a_usage_error(value, command):
    result = run_cli(*command, "registry.invalid/app:1", "--timeout", value)
    assert result.code == 2
    assert result.stderr.splitlines()[-1] == (
        f"airlock {' '.join(command[:2] if command[0] == 'attach' else command[:1])}: error: argument -t/--timeout: "
        f"invalid --timeout {value!r}: expected seconds or a duration like 90s, 5m, 1h (more than 0, at most 24h)")


def test_timeout_is_documented_on_every_registry_command():
    from airlock.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    registry_commands = {"verify", "verify-attestation", "save", "load", "triangulate", "sign", "attest", "clean",
                         "generate"}
    for name in registry_commands:
        assert "--timeout DURATION" in commands[name].format_help(), name
    for name, sub in (("download", "signature"), ("attach", "signature")):
        nested = next(a for a in commands[name]._actions if a.dest.endswith("_what")).choices[sub]
        assert "--timeout DURATION" in nested.format_help()
    assert "--timeout" not in commands["verify-blob"].format_help()  # reads no registry


# --- an OCI layout ------------------------------------------------------------------------------------


def layout_with(tmp_path, key, layers_of):
    """A layout with one image and a .sig manifest of ``layers_of(layout, digest)`` (blobs written by it)."""
    layout = new_layout(tmp_path / "layout")
    digest = add_image(layout, "registry.local/team/app:1.0")
    layout.write_blob(EMPTY)
    manifest = json.dumps(signature_manifest(layers_of(layout, digest))).encode()
    layout.add_manifest({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": layout.write_blob(manifest),
                         "annotations": {oci.KIND: oci.KIND_SIGS, SUBJECT: digest}})
    return layout, digest


def layout_good_layer(key, layout, digest) -> dict:
    media_type, payload, annotations = key_layer(key, cosign.simplesigning_payload("registry.local/team/app",
                                                                                   digest))
    return {"mediaType": media_type, "size": len(payload), "digest": layout.write_blob(payload),
            "annotations": annotations}


def test_layout_sig_manifest_with_too_many_layers(tmp_path, key, pub):
    _, digest = layout_with(tmp_path, key, lambda layout, digest: [layout_good_layer(key, layout, digest)] + [
        junk_layer(10, n) for n in range(MAX_SIGNATURES)])
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--key", pub,
                                   "--insecure-ignore-tlog"))
    assert error == f"Error: signatures of {digest}: {sig_tag(digest)} lists {MAX_SIGNATURES + 1} more, {OVER_COUNT}"


def test_layout_oversized_layer_is_one_failed_candidate(tmp_path, key, pub):
    _, digest = layout_with(tmp_path, key, lambda layout, digest: [junk_layer(MAX_SIGNATURE_BYTES),
                                                                   layout_good_layer(key, layout, digest)])
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--key", pub, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr
    where = f"{sig_tag(digest)} layer 0"
    assert (f"WARNING: registry.local/team/app:1.0@{digest}: not verified, ignored: {where}: signatures of "
            f"{digest}: {where} claims {MAX_SIGNATURE_BYTES} bytes, over the limit of {MAX_SIGNATURE_SIZE} for one "
            f"item") in result.stderr.splitlines()


def test_layout_with_1100_referrers(tmp_path, key, pub):
    layout, digest = layout_with(tmp_path, key, lambda layout, digest: [layout_good_layer(key, layout, digest)])
    index = layout.read_index()
    index["manifests"] += [{"mediaType": oci.OCI_MANIFEST, "size": 500, "digest": fake_digest(n),
                            "artifactType": oci.SIGSTORE_BUNDLE_V03, "annotations": {SUBJECT: digest}}
                           for n in range(1100)]
    layout.write_index(index)
    error = one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--key", pub,
                                   "--insecure-ignore-tlog"))
    assert error == f"Error: signatures of {digest}: the referrers of {digest} lists 1100 more, {OVER_COUNT}"


# --- discovery itself, against an in-memory source ---------------------------------------------------


class FakeSource:
    """An ``ImageSource`` that records what is fetched; blobs are as long as claimed."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.manifests: dict[str, bytes] = {}
        self.listing: list[dict] = []
        self.fetched: list[tuple[str, int, int]] = []

    def tagged(self, tag: str) -> str | None:
        return self.tags.get(tag)

    def manifest(self, digest: str) -> bytes:
        return self.manifests[digest]

    def blob(self, digest: str, size: int, limit: int) -> bytes:
        self.fetched.append((digest, size, limit))
        return b"x" * size

    def referrers(self, digest: str) -> list[dict]:
        return self.listing

    def add(self, document: dict, tag: str | None = None) -> str:
        data = json.dumps(document).encode()
        self.manifests[sha256(data)] = data
        if tag:
            self.tags[tag] = sha256(data)
        return sha256(data)

    def add_referrer(self, subject: str, n: int, size: int) -> None:
        digest = self.add({**signature_manifest([{"mediaType": oci.SIGSTORE_BUNDLE_V03, "size": size,
                                                  "digest": fake_digest(n)}]),
                           "subject": {"mediaType": oci.OCI_MANIFEST, "size": 1, "digest": subject}})
        self.listing.append({"mediaType": oci.OCI_MANIFEST, "size": 1, "digest": digest,
                             "artifactType": oci.SIGSTORE_BUNDLE_V03})


IMAGE = sha256(b"image")


def test_layers_are_fetched_one_at_a_time_with_their_claimed_size_as_the_limit():
    source = FakeSource()
    source.add(signature_manifest([junk_layer(100, n) for n in range(3)]), sig_tag(IMAGE))
    found = discovery.signatures(source, IMAGE)
    first = next(found)
    assert first.where == f"{sig_tag(IMAGE)} layer 0" and first.layer.payload == b"x" * 100
    assert source.fetched == [(fake_digest(0), 100, 100)]
    assert len(list(found)) == 2 and len(source.fetched) == 3


def test_attestations_get_the_attestation_limit():
    size = MAX_SIGNATURE_SIZE + 1
    source = FakeSource()
    source.add(signature_manifest([junk_layer(size)]), sig_tag(IMAGE, "sig"))
    source.add(signature_manifest([junk_layer(size)]), sig_tag(IMAGE, "att"))
    [signature] = discovery.signatures(source, IMAGE)
    assert str(signature.error) == (f"signatures of {IMAGE}: {sig_tag(IMAGE)} layer 0 claims {size} bytes, over the "
                                    f"limit of {MAX_SIGNATURE_SIZE} for one item")
    assert source.fetched == []
    [attestation] = discovery.signatures(source, IMAGE, attestation=True)
    assert attestation.error is None and source.fetched == [(fake_digest(0), size, size)]
    source.add(signature_manifest([junk_layer(MAX_ATTESTATION_SIZE + 1)]), sig_tag(IMAGE, "att"))
    [attestation] = discovery.signatures(source, IMAGE, attestation=True)
    assert f"over the limit of {MAX_ATTESTATION_SIZE} for one item" in str(attestation.error)


def test_a_bundle_over_its_limit_is_one_failed_candidate():
    source = FakeSource()
    source.add_referrer(IMAGE, 0, MAX_SIGNATURE_SIZE + 1)
    source.add_referrer(IMAGE, 1, 50)
    first, second = discovery.signatures(source, IMAGE)
    assert str(first.error) == (f"signatures of {IMAGE}: the bundle of {first.where} claims "
                                f"{MAX_SIGNATURE_SIZE + 1} bytes, over the limit of {MAX_SIGNATURE_SIZE} for one item")
    assert second.bundle == b"x" * 50 and source.fetched == [(fake_digest(1), 50, 50)]
    [_, attestation] = discovery.signatures(source, IMAGE, attestation=True)  # bundles of attestations are bigger
    assert attestation.error is None and attestation.bundle is not None


def test_one_budget_is_shared_by_the_referrers_and_the_layers():
    source = FakeSource()
    for n in range(600):
        source.add_referrer(IMAGE, n, 10)
    source.add(signature_manifest([junk_layer(10, n) for n in range(401)]), sig_tag(IMAGE))
    found = discovery.signatures(source, IMAGE)
    with pytest.raises(BudgetExceeded) as caught:
        for _ in found:
            pass
    assert str(caught.value) == f"signatures of {IMAGE}: {sig_tag(IMAGE)} lists 401 more, {OVER_COUNT}"
    assert len(source.fetched) == 600  # the referrers; no layer
    # each part alone fits
    assert len(list(discovery.legacy_layers(source, IMAGE))) == 401


def test_the_total_counts_manifests_and_claimed_sizes_before_fetching():
    source = FakeSource()
    source.add(signature_manifest([junk_layer(MAX_SIGNATURE_SIZE, n) for n in range(40)]), sig_tag(IMAGE))
    budget = FetchBudget(f"signatures of {IMAGE}")
    found = discovery.legacy_layers(source, IMAGE, "sig", budget)
    with pytest.raises(BudgetExceeded) as caught:
        for _ in found:
            pass
    fits = (MAX_SIGNATURE_BYTES - budget.bytes) // MAX_SIGNATURE_SIZE
    assert len(source.fetched) == 31 and fits == 0
    assert str(caught.value) == (f"signatures of {IMAGE}: {sig_tag(IMAGE)} layer 31 would bring the signature data "
                                 f"over {MAX_SIGNATURE_BYTES} bytes in total")
