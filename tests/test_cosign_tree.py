"""``airlock tree IMAGE`` beside the real ``cosign tree`` (v3.1.2) on the same registry image.

cosign prints its groups in Go's map order, which changes from run to run; airlock prints them in
the order cosign reads them (.att, .sig, .sbom, then the referrers as listed). So the header is
compared as it is, and the groups (a ``└──`` line and its layer lines) as a sorted list.
"""

from __future__ import annotations

import json

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


def test_tree_of_a_referrer_that_is_an_index_differs_from_cosign(cosign, image, registry):  # noqa: F811
    """A referrer that is an image index (here one listing the image itself): cosign resolves it to
    the image for its default platform (linux/amd64) and lists that image's layers; airlock lists
    only image manifests' layers, and says on stderr that it skipped this one (docs/cosign-parity.md)."""
    repository, digest = image
    client = RegistryClient(insecure=True)
    name = repository.split("/", 1)[1]
    image_manifest = client.get_manifest(registry, name, digest)
    odd = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "subject": image_manifest.descriptor(),
                      "manifests": [image_manifest.descriptor()]}).encode()
    index_digest = client.put_manifest(registry, name, "odd", odd, "application/vnd.oci.image.index.v1+json")
    listing = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest,
                              "size": len(odd), "artifactType": "application/example"}]}
    client.put_manifest(registry, name, referrers_tag(digest), json.dumps(listing).encode(),
                        "application/vnd.oci.image.index.v1+json")
    by_cosign, by_airlock = both_trees(cosign, f"{repository}:v1")
    assert by_cosign.code == by_airlock.code == 0, (by_cosign, by_airlock)
    [layer] = json.loads(image_manifest.data)["layers"]
    assert groups(by_cosign.stdout)[1] == [[
        f"\u2514\u2500\u2500 \U0001f517 application/example artifacts via OCI referrer: {repository}@{index_digest}",
        f"   \u2514\u2500\u2500 \U0001f352 {layer['digest']}"]]
    assert by_airlock.stdout.endswith(EMPTY.format(image=f"{repository}:v1"))
    assert f"Error fetching artifact {repository}@{index_digest}: " in by_airlock.stderr
    assert "has no layers" in by_airlock.stderr
