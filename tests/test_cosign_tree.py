"""``airlock tree IMAGE`` beside the real ``cosign tree`` (v3.1.2) on the same registry image.

cosign prints its groups in Go's map order, which changes from run to run; airlock prints them in
the order cosign reads them (.att, .sig, .sbom, then the referrers as listed). So the header is
compared as it is, and the groups (a ``└──`` line and its layer lines) as a sorted list.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from airlock.oci import discovery
from airlock.oci.reference import signature_tag
from airlock.oci.registry import RegistryClient, referrers_tag
from conftest import one_line_error, run_cli
from test_cosign_interop import (  # noqa: F401 (fixtures: the real cosign, keys, an image, a predicate)
    HTTP,
    SIGN_OFFLINE,
    airlock_ok,
    cosign,
    cosign_keys,
    home,
    image,
    predicate,
)

EMPTY = ("No Supply Chain Security Related Artifacts found for image {image},\n start creating one with simply "
         "running$ cosign sign <img>")


def groups(stdout: str) -> tuple[str, list[list[str]]]:
    """The header line, and each group's lines (its title, then its layers)."""
    header, *lines = stdout.splitlines()
    found: list[list[str]] = []
    for line in lines:
        if line.startswith("\u2514\u2500\u2500 "):
            found.append([line])
        else:
            assert line.startswith("   "), line
            found[-1].append(line)
    return header, found


def normalized(stdout: str) -> tuple[str, list[list[str]]]:
    """The header, and the groups in sorted order (cosign's order is Go's random map order)."""
    header, found = groups(stdout)
    return header, sorted(found)


def both_trees(peer, ref: str):
    by_cosign = peer("tree", HTTP, ref)
    by_airlock = run_cli("tree", ref)
    return by_cosign, by_airlock


def test_tree_lists_what_cosign_lists(cosign, cosign_keys, image, predicate, tmp_path):  # noqa: F811
    """Two legacy signatures, a bundle signature, a legacy and a bundle attestation, an SBOM."""
    key, _ = cosign_keys
    repository, digest = image
    for extra in (["--new-bundle-format=false"], ["--new-bundle-format=false", "-a", "n=2"], []):
        cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, *extra, f"{repository}@{digest}")
    for extra in (["--new-bundle-format=false"], []):
        cosign.ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance", *SIGN_OFFLINE, HTTP,
                  *extra, f"{repository}@{digest}")
    (tmp_path / "sbom.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3"}))
    cosign.ok("attach", "sbom", "--sbom", tmp_path / "sbom.json", HTTP, f"{repository}@{digest}")

    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    header, found = groups(by_airlock.stdout)
    assert normalized(by_airlock.stdout) == normalized(by_cosign.stdout)
    assert header == f"\U0001f4e6 Supply Chain Security Related artifacts for an image: {repository}:v1"
    titles = [group[0].split(": ", 1)[0] for group in found]
    assert titles[:3] == ["\u2514\u2500\u2500 \U0001f4be Attestations for an image tag",
                          "\u2514\u2500\u2500 \U0001f510 Signatures for an image tag",
                          "\u2514\u2500\u2500 \U0001f4e6 SBOMs for an image tag"]
    assert sorted(titles[3:]) == [  # the referrers, in the order the referrers index lists them
        "\u2514\u2500\u2500 \U0001f517 https://sigstore.dev/cosign/sign/v1 artifacts via OCI referrer",
        "\u2514\u2500\u2500 \U0001f517 https://slsa.dev/provenance/v0.2 artifacts via OCI referrer"]
    assert found[1][0].endswith(f": {repository}:{signature_tag(digest, 'sig')}")
    assert [line[:6] for line in found[1][1:]] == ["   \u251c\u2500\u2500", "   \u2514\u2500\u2500"]  # two layers
    assert all(group[0].split(": ", 1)[1].startswith(f"{repository}@sha256:") for group in found[3:])


def test_tree_of_what_airlock_attached(cosign, cosign_keys, image, predicate):  # noqa: F811
    key, _ = cosign_keys
    repository, digest = image
    for bundle_format in ("false", "true"):
        airlock_ok("sign", "--key", key, "--tlog-upload=false", f"--new-bundle-format={bundle_format}",
                   f"{repository}@{digest}")
        airlock_ok("attest", "--key", key, "--predicate", predicate, "--type", "slsaprovenance",
                   "--tlog-upload=false", f"--new-bundle-format={bundle_format}", f"{repository}@{digest}")
    by_cosign, by_airlock = both_trees(cosign, f"{repository}@{digest}")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert normalized(by_airlock.stdout) == normalized(by_cosign.stdout)
    assert len(groups(by_airlock.stdout)[1]) == 4


def test_tree_of_an_unsigned_image_is_cosigns_bytes(cosign, image):  # noqa: F811
    repository, _ = image
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (0, (
        f"\U0001f4e6 Supply Chain Security Related artifacts for an image: {repository}:v1\n"
        + EMPTY.format(image=f"{repository}:v1")))


def test_tree_of_a_missing_tag_fails_as_cosign(cosign, image):  # noqa: F811
    repository, _ = image
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:missing")
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (
        1, f"\U0001f4e6 Supply Chain Security Related artifacts for an image: {repository}:missing\n")
    assert "MANIFEST_UNKNOWN" in one_line_error(by_airlock)


def test_tree_skips_a_referrer_it_cannot_read_and_lists_the_rest(cosign, cosign_keys, image, registry):  # noqa: F811
    """A referrer listed in the referrers index whose manifest was deleted: both tools say so on
    stderr and still list the rest (here a legacy signature)."""
    key, _ = cosign_keys
    repository, digest = image
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, f"{repository}@{digest}")
    cosign.ok("sign", "--key", key, *SIGN_OFFLINE, HTTP, "--new-bundle-format=false", f"{repository}@{digest}")
    client = RegistryClient(insecure=True)
    name = repository.split("/", 1)[1]
    [listed] = json.loads(client.get_manifest(registry, name, referrers_tag(digest)).data)["manifests"]
    client.delete_manifest(registry, name, listed["digest"])
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert by_airlock.stdout == by_cosign.stdout  # one group: no order to differ
    assert [group[0].split(": ")[0] for group in groups(by_airlock.stdout)[1]] == [
        "\u2514\u2500\u2500 \U0001f510 Signatures for an image tag"]
    for result in (by_cosign, by_airlock):
        assert f"Error fetching artifact {repository}@{listed['digest']}: " in result.stderr, result.stderr


INDEX = "application/vnd.oci.image.index.v1+json"


def _referrer_index(registry, repository: str, digest: str, entries: list[dict]) -> str:
    """Attach to ``digest`` a referrer that is an image index listing ``entries`` (a referrers
    index in the ``sha256-<hex>`` fallback tag names it); its digest."""
    client = RegistryClient(insecure=True)
    name = repository.split("/", 1)[1]
    subject = client.get_manifest(registry, name, digest).descriptor()
    odd = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "subject": subject, "manifests": entries}).encode()
    index_digest = client.put_manifest(registry, name, "odd", odd, INDEX)
    listing = {"schemaVersion": 2, "mediaType": INDEX,
               "manifests": [{"mediaType": INDEX, "digest": index_digest, "size": len(odd),
                              "artifactType": "application/example"}]}
    client.put_manifest(registry, name, referrers_tag(digest), json.dumps(listing).encode(), INDEX)
    return index_digest


def _other_image(cosign, registry, repository: str, tmp_path) -> dict:  # noqa: F811
    """A second image in the repository (tag ``v2``: v1 and one more layer); its descriptor."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("empty.txt"))
    (tmp_path / "other.tar").write_bytes(layer.getvalue())
    cosign.crane_("append", "-b", f"{repository}:v1", "-f", str(tmp_path / "other.tar"), "-t", f"{repository}:v2")
    return _manifest(registry, repository, "v2").descriptor()


def _manifest(registry, repository: str, reference: str):
    return RegistryClient(insecure=True).get_manifest(registry, repository.split("/", 1)[1], reference)


def test_tree_of_a_referrer_that_is_an_index_is_cosigns(cosign, image, registry, tmp_path):  # noqa: F811
    """A referrer that is an image index stands for its first linux/amd64 entry (an entry naming no
    platform counts as one; a variant does not matter), as go-containerregistry resolves it for
    cosign: here the second entry, not the arm64 one before it."""
    repository, digest = image
    first = _manifest(registry, repository, digest)
    other = _other_image(cosign, registry, repository, tmp_path)
    index_digest = _referrer_index(registry, repository, digest, [
        {**first.descriptor(), "platform": {"os": "linux", "architecture": "arm64"}},
        {**other, "platform": {"os": "linux", "architecture": "amd64", "variant": "v2"}}])
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert by_airlock.stdout == by_cosign.stdout  # one group: no order to differ
    layers = [layer["digest"] for layer in json.loads(_manifest(registry, repository, "v2").data)["layers"]]
    assert len(layers) == 2
    assert groups(by_airlock.stdout)[1] == [[
        f"\u2514\u2500\u2500 \U0001f517 application/example artifacts via OCI referrer: {repository}@{index_digest}",
        f"   \u251c\u2500\u2500 \U0001f352 {layers[0]}", f"   \u2514\u2500\u2500 \U0001f352 {layers[1]}"]]
    assert "Error" not in by_airlock.stderr


def test_tree_of_a_referrer_index_with_no_platform_entry_is_the_image(cosign, image, registry):  # noqa: F811
    """An index entry naming no platform is taken for linux/amd64 (go-containerregistry's rule)."""
    repository, digest = image
    first = _manifest(registry, repository, digest)
    index_digest = _referrer_index(registry, repository, digest, [first.descriptor()])
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    assert by_airlock.stdout == by_cosign.stdout
    [layer] = json.loads(first.data)["layers"]
    assert groups(by_airlock.stdout)[1] == [[
        f"\u2514\u2500\u2500 \U0001f517 application/example artifacts via OCI referrer: {repository}@{index_digest}",
        f"   \u2514\u2500\u2500 \U0001f352 {layer['digest']}"]]


def test_tree_of_a_referrer_index_without_linux_amd64_is_skipped_as_cosign(cosign, image, registry):  # noqa: F811
    """No linux/amd64 entry (an arm64 one, a windows/amd64 one): both skip it with the same line."""
    repository, digest = image
    first = _manifest(registry, repository, digest).descriptor()
    index_digest = _referrer_index(registry, repository, digest, [
        {**first, "platform": {"os": "linux", "architecture": "arm64"}},
        {**first, "platform": {"os": "windows", "architecture": "amd64"}}])
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert (by_cosign.code, by_cosign.stdout) == (by_airlock.code, by_airlock.stdout) == (0, (
        f"\U0001f4e6 Supply Chain Security Related artifacts for an image: {repository}:v1\n"
        + EMPTY.format(image=f"{repository}:v1")))
    line = (f"Error fetching artifact {repository}@{index_digest}: no child with platform linux/amd64 in index "
            f"{repository}@{index_digest}\n")
    for result in (by_cosign, by_airlock):
        assert line in result.stderr, result.stderr


def test_tree_of_a_referrer_index_of_an_index_differs_from_cosign(cosign, image, registry):  # noqa: F811
    """An index whose linux/amd64 entry is an index again: cosign follows it (without a depth limit),
    airlock stops there with a one-line error and lists the rest (docs/cosign-parity.md)."""
    repository, digest = image
    first = _manifest(registry, repository, digest)
    inner = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [first.descriptor()]}).encode()
    inner_digest = RegistryClient(insecure=True).put_manifest(registry, repository.split("/", 1)[1], "inner", inner,
                                                               INDEX)
    index_digest = _referrer_index(registry, repository, digest, [
        {"mediaType": INDEX, "digest": inner_digest, "size": len(inner)}])
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    [layer] = json.loads(first.data)["layers"]
    assert groups(by_cosign.stdout)[1] == [[
        f"\u2514\u2500\u2500 \U0001f517 application/example artifacts via OCI referrer: {repository}@{index_digest}",
        f"   \u2514\u2500\u2500 \U0001f352 {layer['digest']}"]]
    assert by_airlock.stdout.endswith(EMPTY.format(image=f"{repository}:v1"))
    assert [line for line in by_airlock.stderr.splitlines() if line.startswith("Error")] == [
        f"Error fetching artifact {repository}@{index_digest}: the linux/amd64 entry {inner_digest} of the "
        f"referrer index {index_digest} is an index again: not followed"]


class _Manifests:
    """An ``ImageSource`` holding manifests only, counting the reads: one referrer of ``subject``."""

    def __init__(self, subject: str, referrer: bytes, *others: bytes) -> None:
        self.documents = {digest_of(data): data for data in (referrer, *others)}
        self.listing = [{"mediaType": INDEX, "digest": digest_of(referrer), "size": len(referrer),
                         "artifactType": "application/example"}]
        self.subject, self.reads = subject, []

    def manifest(self, digest: str) -> bytes:
        self.reads.append(digest)
        return self.documents[digest]

    def tagged(self, tag: str) -> None:
        return None

    def referrers(self, digest: str) -> list[dict]:
        assert digest == self.subject
        return self.listing


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _index(*entries: bytes, media_type: str = INDEX, **platform: str) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **({"platform": platform}
                                                                                   if platform else {})}
        for data in entries]}).encode()


def test_attached_reads_at_most_two_manifests_for_a_referrer_index():
    """An index of an index of an image: the referrer and its entry are read, never the entry's entry."""
    subject = "sha256:" + "a" * 64
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "layers": [{"mediaType": "x", "digest": "sha256:" + "b" * 64, "size": 1}]}).encode()
    inner = _index(manifest, media_type="application/vnd.oci.image.manifest.v1+json")  # a descriptor that lies
    outer = _index(inner, os="linux", architecture="amd64")
    source = _Manifests(subject, outer, inner, manifest)
    [found] = discovery.attached(source, subject)
    assert source.reads == [digest_of(outer), digest_of(inner)]
    assert str(found.error) == (f"the linux/amd64 entry {digest_of(inner)} of the referrer index {digest_of(outer)} "
                                "is an index again: not followed")
    source = _Manifests(subject, inner, manifest)  # one level: the image's layers
    [found] = discovery.attached(source, subject, name="example.com/repo")
    assert (found.error, found.where, found.layers) == (None, digest_of(inner), ("sha256:" + "b" * 64,))
    source = _Manifests(subject, _index(manifest, os="linux", architecture="arm64"), manifest)
    [found] = discovery.attached(source, subject, name="example.com/repo")
    arm_only = source.listing[0]["digest"]
    assert (found.where, str(found.error)) == (
        arm_only, f"no child with platform linux/amd64 in index example.com/repo@{arm_only}")
