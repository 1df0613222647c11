"""OCI image references and layouts: round trips, every rejection with its message, umoci interop."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

from airlock.errors import FormatError, InvalidReferenceError, LayoutError
from airlock.oci.layout import (
    DOCKER_MANIFEST,
    EMPTY_CONFIG,
    EMPTY_CONFIG_DIGEST,
    KIND,
    KIND_IMAGE,
    KIND_SIGS,
    MAX_LAYER_SIZE,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYOUT_FILE,
    OCI_MANIFEST,
    REF_NAME,
    SIGSTORE_BUNDLE_V03,
    SIMPLESIGNING,
    OciLayout,
    sha256_digest,
)
from airlock.oci.reference import Reference, is_digest, parse_reference, signature_tag

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
UMOCI = shutil.which("umoci")


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    assert isinstance(exc.value, FormatError)
    return message


# -- references ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("ubuntu:22.04", "index.docker.io", "library/ubuntu", "22.04", None),
        ("docker.io/x/y", "index.docker.io", "x/y", "latest", None),
        ("docker.io/ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("index.docker.io/ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("x/y", "index.docker.io", "x/y", "latest", None),
        ("localhost/foo", "index.docker.io", "localhost/foo", "latest", None),  # ggcr: no '.' or ':'
        ("localhost:5000/foo", "localhost:5000", "foo", "latest", None),
        ("gcr.io/p/i@" + DIGEST_A, "gcr.io", "p/i", None, DIGEST_A),
        ("host:5000/team/app:v1.2@" + DIGEST_B, "host:5000", "team/app", "v1.2", DIGEST_B),
        ("[::1]:5000/a/b_c__d-e.f", "[::1]:5000", "a/b_c__d-e.f", "latest", None),
        ("ghcr.io/sigstore/cosign/cosign:v2.4.1", "ghcr.io", "sigstore/cosign/cosign", "v2.4.1", None),
    ],
)
def test_parse_reference(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert ref == Reference(registry, repository, tag, digest)
    assert ref.name == f"{registry}/{repository}"
    assert parse_reference(str(ref)) == ref  # __str__ is a fully qualified, re-parsable spelling


def test_reference_helpers() -> None:
    ref = parse_reference("ubuntu")
    assert str(ref) == "index.docker.io/library/ubuntu:latest"
    assert ref.identifier == "latest"
    pinned = ref.with_digest(DIGEST_A)
    assert pinned.identifier == DIGEST_A
    assert str(pinned) == f"index.docker.io/library/ubuntu:latest@{DIGEST_A}"
    assert pinned.with_tag("v1") == Reference("index.docker.io", "library/ubuntu", "v1", None)
    assert str(pinned.attachment()) == f"index.docker.io/library/ubuntu:sha256-{'a' * 64}.sig"
    assert pinned.attachment("att").tag == f"sha256-{'a' * 64}.att"
    assert ref.attachment("", DIGEST_B).tag == f"sha256-{'b' * 64}"
    with pytest.raises(InvalidReferenceError, match="resolve the tag to a digest"):
        ref.attachment()
    with pytest.raises(InvalidReferenceError, match="unsupported algorithm 'sha512'"):
        ref.with_digest("sha512:" + "a" * 128)
    with pytest.raises(InvalidReferenceError, match="invalid tag"):
        ref.with_tag("-x")


def test_signature_tag_and_is_digest() -> None:
    hexd = "c" * 64
    assert signature_tag(f"sha256:{hexd}", "sig") == f"sha256-{hexd}.sig"
    assert signature_tag(f"sha256:{hexd}", ".att") == f"sha256-{hexd}.att"
    assert signature_tag(f"sha256:{hexd}", "sbom") == f"sha256-{hexd}.sbom"
    assert signature_tag(f"sha256:{hexd}", "") == f"sha256-{hexd}"  # the referrers fallback tag
    with pytest.raises(InvalidReferenceError, match="unknown attachment suffix"):
        signature_tag(f"sha256:{hexd}", "exe")
    with pytest.raises(InvalidReferenceError, match="not sha256: followed by 64"):
        signature_tag("sha256:abc", "sig")
    assert is_digest(f"sha256:{hexd}")
    for bad in (f"sha256:{hexd.upper()}", f"sha256:{hexd}\n", f"sha256:{hexd}0", "sha512:" + "c" * 128, "", None, 7):
        assert not is_digest(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty image reference"),
        ("Ubuntu", "components must be lower-case"),
        ("foo//bar", "components must be lower-case"),
        ("foo/-bar", "components must be lower-case"),
        ("foo/bar.", "components must be lower-case"),
        ("a", "must be 2 to 255 characters"),
        ("x/" + "y" * 300, "must be 2 to 255 characters"),
        ("ubuntu:", "empty tag after ':'"),
        ("ubuntu:-x", "invalid tag '-x'"),
        ("ubuntu:" + "t" * 129, "invalid tag"),
        ("ubuntu@sha256:abc", "not sha256: followed by 64 lower-case hex digits"),
        ("ubuntu@sha256:" + "A" * 64, "not sha256: followed by 64 lower-case hex digits"),
        ("ubuntu@sha512:" + "a" * 128, "unsupported algorithm 'sha512'"),
        ("ubuntu@md5:" + "a" * 32, "unsupported algorithm 'md5'"),
        ("ubuntu@" + DIGEST_A + "@" + DIGEST_B, "more than one '@'"),
        ("ex_ample.com/foo", "invalid registry 'ex_ample.com'"),
        ("user@host.io/foo", "not sha256:"),
        ("example.com/", "no repository"),
        ("ubu ntu", "contains spaces or control characters"),
        ("ubuntu\n", "contains spaces or control characters"),
        ("x" * 2000, "longer than 1024 characters"),
    ],
)
def test_parse_reference_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as exc:
        parse_reference(text)
    assert message in one_line(exc)


def test_parse_reference_rejects_non_strings() -> None:
    with pytest.raises(InvalidReferenceError, match="must be a string"):
        parse_reference(b"ubuntu")  # type: ignore[arg-type]


# -- helpers to build layouts ----------------------------------------------------------------------


def put_json(layout: OciLayout, document: dict, media_type: str) -> dict:
    data = json.dumps(document, separators=(",", ":")).encode()
    return {"mediaType": media_type, "size": len(data), "digest": layout.write_blob(data)}


def put_image(layout: OciLayout, payload: bytes = b"payload") -> tuple[dict, dict, dict]:
    """A cosign-style signature manifest: (manifest descriptor, config descriptor, layer descriptor)."""
    config = {"mediaType": OCI_EMPTY, "size": 2, "digest": layout.write_blob(EMPTY_CONFIG)}
    layer = {"mediaType": SIMPLESIGNING, "size": len(payload), "digest": layout.write_blob(payload)}
    manifest = put_json(
        layout, {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}, OCI_MANIFEST
    )
    return manifest, config, layer


def index_of(layout: OciLayout, *children: dict) -> dict:
    return put_json(layout, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(children)}, OCI_INDEX)


@pytest.fixture
def layout(tmp_path) -> OciLayout:
    return OciLayout(str(tmp_path / "layout"), create=True)


def blob_file(layout: OciLayout, digest: str) -> str:
    return os.path.join(layout.path, "blobs", "sha256", digest.split(":", 1)[1])


# -- round trips -----------------------------------------------------------------------------------


def test_create_writes_cosign_files(layout: OciLayout) -> None:
    with open(os.path.join(layout.path, "oci-layout"), "rb") as handle:
        assert handle.read() == OCI_LAYOUT_FILE == b'{\n    "imageLayoutVersion": "1.0.0"\n}'
    assert layout.read_index() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    OciLayout(layout.path)  # reopens without create
    OciLayout(layout.path, create=True)  # idempotent, keeps the index
    assert sha256_digest(EMPTY_CONFIG) == EMPTY_CONFIG_DIGEST


def test_blob_round_trip_idempotent_and_atomic(layout: OciLayout) -> None:
    digest = layout.write_blob(b"hello")
    assert digest == sha256_digest(b"hello")
    assert layout.write_blob(b"hello") == digest
    assert layout.read_blob(digest) == b"hello"
    assert layout.read_blob(digest, size=5) == b"hello"
    assert layout.has_blob(digest)
    assert layout.blob_digests() == [digest]
    assert os.listdir(os.path.dirname(blob_file(layout, digest))) == [digest[7:]]  # no temporary files left
    with open(blob_file(layout, digest), "wb") as handle:  # a damaged copy is replaced on the next write
        handle.write(b"HELLO")
    layout.write_blob(b"hello")
    assert layout.read_blob(digest) == b"hello"


def test_manifest_index_round_trip_and_walk(layout: OciLayout) -> None:
    manifest, config, layer = put_image(layout)
    other, other_config, other_layer = put_image(layout, b"other payload")
    child_index = index_of(layout, other)
    top = index_of(layout, manifest, child_index, manifest)  # a repeated child is walked once
    layout.add_manifest({**top, "annotations": {KIND: "dev.cosignproject.cosign/imageIndex"}})
    data, document = layout.read_manifest(manifest)
    assert sha256_digest(data) == manifest["digest"] and document["layers"] == [layer]
    walked = [item["digest"] for item in layout.walk(layout.read_index()["manifests"][0])]
    # children before parents, each digest once; the shared empty config appears once
    assert walked == [
        config["digest"], layer["digest"], manifest["digest"],
        other_layer["digest"], other["digest"], child_index["digest"], top["digest"],
    ]
    assert other_config["digest"] == config["digest"]


def test_write_index_formats_like_go(layout: OciLayout) -> None:
    manifest, _, _ = put_image(layout)
    layout.add_manifest({"annotations": {KIND: KIND_IMAGE}, "digest": manifest["digest"],
                         "size": manifest["size"], "mediaType": OCI_MANIFEST})
    with open(os.path.join(layout.path, "index.json"), "rb") as handle:
        text = handle.read().decode()
    assert text.startswith('{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.oci.image.index.v1+json",\n')
    assert '"mediaType": "application/vnd.oci.image.manifest.v1+json",\n         "size"' in text
    assert not text.endswith("\n")


def test_add_manifest_replaces_and_find(layout: OciLayout) -> None:
    first, _, _ = put_image(layout, b"one")
    second, _, _ = put_image(layout, b"two")
    layout.add_manifest({**first, "annotations": {KIND: KIND_IMAGE}})
    layout.add_manifest({**first, "annotations": {KIND: KIND_IMAGE}})  # same digest: replaced, not duplicated
    layout.add_manifest({**second, "annotations": {KIND: KIND_SIGS}})
    layout.add_manifest({**first, "annotations": {REF_NAME: "v1"}})
    layout.add_manifest({**first, "annotations": {REF_NAME: "stable"}})  # a second tag for one digest
    layout.add_manifest({**second, "annotations": {REF_NAME: "v1"}})  # the tag moves
    assert len(layout.read_index()["manifests"]) == 4
    assert layout.find_kind(KIND_IMAGE)["digest"] == first["digest"]
    assert layout.find_kind(KIND_SIGS)["digest"] == second["digest"]
    assert layout.find_kind("dev.cosignproject.cosign/atts") is None
    assert layout.find_ref("v1")["digest"] == second["digest"]
    assert layout.find_ref("stable")["digest"] == first["digest"]
    assert len(layout.find(KIND)) == 2


def test_referrers_found_among_orphan_blobs(layout: OciLayout) -> None:
    image, _, _ = put_image(layout)
    bundle = b'{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}'
    referrer = put_json(layout, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIGSTORE_BUNDLE_V03,
        "config": {"mediaType": OCI_EMPTY, "size": 2, "digest": EMPTY_CONFIG_DIGEST},
        "layers": [{"mediaType": SIGSTORE_BUNDLE_V03, "size": len(bundle), "digest": layout.write_blob(bundle)}],
        "subject": image,
    }, OCI_MANIFEST)
    found = layout.referrers(image["digest"])
    assert found == [{**referrer, "artifactType": SIGSTORE_BUNDLE_V03}]
    assert layout.referrers(DIGEST_A) == []


# -- rejections: blobs -----------------------------------------------------------------------------


def test_missing_blob(layout: OciLayout) -> None:
    with pytest.raises(LayoutError) as exc:
        layout.read_blob(DIGEST_A)
    assert f"blob {DIGEST_A} is missing" in one_line(exc)


def test_tampered_blob(layout: OciLayout) -> None:
    digest = layout.write_blob(b"original")
    with open(blob_file(layout, digest), "wb") as handle:
        handle.write(b"tampered")
    with pytest.raises(LayoutError) as exc:
        layout.read_blob(digest, size=8)
    assert f"blob {digest} does not match its digest (content is {sha256_digest(b'tampered')})" in one_line(exc)


def test_size_mismatch(layout: OciLayout) -> None:
    digest = layout.write_blob(b"12345")
    with pytest.raises(LayoutError) as exc:
        layout.read_blob(digest, size=4)
    assert f"blob {digest} is 5 bytes, the descriptor says 4" in one_line(exc)
    with pytest.raises(LayoutError, match="over the limit of 4"):
        layout.read_blob(digest, limit=4)
    with pytest.raises(LayoutError, match="invalid size"):
        layout.read_blob(digest, size=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ("sha256:../../../../etc/passwd", "is not sha256: followed by 64 lower-case hex digits"),
        ("sha256:" + "a" * 62 + "/.", "is not sha256: followed by 64 lower-case hex digits"),
        ("/etc/passwd", "is not sha256: followed by 64 lower-case hex digits"),
        ("../blobs/sha256/" + "a" * 64, "is not sha256: followed by 64 lower-case hex digits"),
        ("sha256:/" + "a" * 63, "is not sha256: followed by 64 lower-case hex digits"),
        ("sha256:" + "A" * 64, "is not sha256: followed by 64 lower-case hex digits"),
        ("sha256:" + "a" * 64 + "\x00", "is not sha256: followed by 64 lower-case hex digits"),
        ("sha512:" + "a" * 128, "unsupported algorithm 'sha512'"),
        ("blake3:" + "a" * 64, "unsupported algorithm 'blake3'"),
    ],
)
def test_bad_digests_never_touch_the_filesystem(layout: OciLayout, monkeypatch, digest: str, message: str) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("the filesystem was touched")

    for name in ("open", "lstat", "stat", "listdir"):
        monkeypatch.setattr(os, name, forbidden)
    monkeypatch.setattr(os.path, "realpath", forbidden)
    with pytest.raises(LayoutError) as exc:
        layout.read_blob(digest)
    assert message in one_line(exc)


def test_symlinked_blob_pointing_outside(layout: OciLayout, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    digest = sha256_digest(b"secret")
    os.symlink(secret, blob_file(layout, digest))
    with pytest.raises(LayoutError) as exc:
        layout.read_blob(digest)
    assert f"blob {digest} is a symlink; refusing it" in one_line(exc)


def test_symlinked_blob_inside_and_symlinked_directory(layout: OciLayout, tmp_path) -> None:
    real = layout.write_blob(b"data")
    digest = DIGEST_B
    os.symlink(blob_file(layout, real), blob_file(layout, digest))
    with pytest.raises(LayoutError) as exc:
        layout.read_blob(digest)
    assert f"blob {digest} is a symlink" in one_line(exc)

    outside = tmp_path / "elsewhere"
    shutil.copytree(os.path.join(layout.path, "blobs", "sha256"), outside)
    shutil.rmtree(os.path.join(layout.path, "blobs", "sha256"))
    os.symlink(outside, os.path.join(layout.path, "blobs", "sha256"))
    with pytest.raises(LayoutError) as exc:
        layout.read_blob(real)
    assert "blobs/sha256 is a symlink or not a directory" in one_line(exc)


def test_not_a_regular_file(layout: OciLayout) -> None:
    os.mkfifo(blob_file(layout, DIGEST_A))
    with pytest.raises(LayoutError, match="is not a regular file"):
        layout.read_blob(DIGEST_A)


def test_gigabyte_manifest_claim_fails_before_reading(layout: OciLayout, monkeypatch) -> None:
    manifest, _, _ = put_image(layout)
    huge = {**manifest, "size": 1 << 30}
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    with pytest.raises(LayoutError) as exc:
        layout.read_manifest(huge)
    assert f"blob {manifest['digest']} claims 1073741824 bytes, over the limit of 4194304" in one_line(exc)
    with pytest.raises(LayoutError, match="claims 1073741824 bytes"):
        list(layout.walk(huge))
    assert opened == []
    # layers may be larger, but only when the caller says so
    assert layout.read_blob(manifest["digest"], size=manifest["size"], limit=MAX_LAYER_SIZE)


# -- rejections: index.json and manifests ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "index.json: not valid JSON"),
        (b"\xff\xfe{}", "index.json: not UTF-8"),
        (b"[]", "index.json: not a JSON object"),
        (b'{"schemaVersion": 1, "manifests": []}', "index.json: schemaVersion must be 2"),
        (b'{"schemaVersion": true, "manifests": []}', "index.json: schemaVersion must be 2"),
        (b'{"schemaVersion": 2}', "index.json: no manifests list"),
        (b'{"schemaVersion": 2, "manifests": {}}', "index.json: no manifests list"),
        (b'{"schemaVersion": 2, "manifests": [], "manifests": []}', "duplicate key 'manifests'"),
        (b'{"schemaVersion": 2, "manifests": [NaN]}', "NaN is not JSON"),
        (b'{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",'
         b' "manifests": []}', "mediaType is 'application/vnd.docker.distribution.manifest.list.v2+json'"),
        (b'{"schemaVersion": 2, "manifests": [7]}', "manifests[0]: a descriptor must be a JSON object"),
        (b'{"schemaVersion": 2, "manifests": [{"digest": "sha256:../x", "size": 1, "mediaType": "x"}]}',
         "manifests[0]: descriptor digest 'sha256:../x' is not sha256"),
        (b'{"schemaVersion": 2, "manifests": [{"digest": "%s", "size": -1, "mediaType": "x"}]}' % DIGEST_A.encode(),
         f"descriptor {DIGEST_A} has no valid size"),
        (b'{"schemaVersion": 2, "manifests": [{"digest": "%s", "size": 1}]}' % DIGEST_A.encode(),
         "descriptor has no mediaType"),
        (b'{"schemaVersion": 2, "manifests": [{"digest": "%s", "size": 1, "mediaType": "x", "annotations": {"a": 1}}]}'
         % DIGEST_A.encode(), "annotations must map strings to strings"),
        (b"[" * 100000 + b"]" * 100000, "index.json: "),
    ],
)
def test_malformed_index(layout: OciLayout, content: bytes, message: str) -> None:
    with open(os.path.join(layout.path, "index.json"), "wb") as handle:
        handle.write(content)
    with pytest.raises(LayoutError) as exc:
        layout.read_index()
    assert message in one_line(exc)


def test_oversized_and_symlinked_index(layout: OciLayout, tmp_path) -> None:
    path = os.path.join(layout.path, "index.json")
    with open(path, "wb") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: refused by its size, never read
    with pytest.raises(LayoutError, match=re.escape("index.json is 5242880 bytes, over the limit of 4194304")):
        layout.read_index()
    os.unlink(path)
    (tmp_path / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    os.symlink(tmp_path / "index.json", path)
    with pytest.raises(LayoutError, match=re.escape("index.json resolves outside the layout")):
        layout.read_index()


def test_not_a_layout(tmp_path) -> None:
    with pytest.raises(LayoutError, match="oci-layout is missing"):
        OciLayout(str(tmp_path))
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(LayoutError, match=re.escape("imageLayoutVersion '2.0.0', expected '1.0.0'")):
        OciLayout(str(tmp_path))
    with pytest.raises(LayoutError, match="not a directory"):
        OciLayout(str(tmp_path / "nothing"))


def test_write_index_validates(layout: OciLayout) -> None:
    with pytest.raises(LayoutError, match=re.escape("new index.json manifests[0]: descriptor has no mediaType")):
        layout.write_index({"schemaVersion": 2, "manifests": [{"digest": DIGEST_A, "size": 1}]})
    with pytest.raises(LayoutError, match="mediaType must be"):
        layout.write_index({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "manifests": []})
    with pytest.raises(LayoutError, match="unsupported algorithm 'sha512'"):
        layout.add_manifest({"mediaType": OCI_MANIFEST, "digest": "sha512:" + "a" * 128, "size": 1})
    assert layout.read_index()["manifests"] == []


def test_read_manifest_checks_media_types(layout: OciLayout) -> None:
    manifest, config, _ = put_image(layout)
    with pytest.raises(LayoutError) as exc:
        layout.read_manifest({**manifest, "mediaType": OCI_INDEX})
    assert f"manifest {manifest['digest']}: document says mediaType '{OCI_MANIFEST}', descriptor says {OCI_INDEX}" in (
        one_line(exc)
    )
    with pytest.raises(LayoutError, match=re.escape(f"has media type {OCI_EMPTY}, not a manifest")):
        layout.read_manifest(config)
    bare = put_json(layout, {"schemaVersion": 2, "config": config}, DOCKER_MANIFEST)  # no mediaType inside
    with pytest.raises(LayoutError, match="no layers list"):
        layout.read_manifest(bare)
    no_config = put_json(layout, {"schemaVersion": 2, "layers": []}, OCI_MANIFEST)
    with pytest.raises(LayoutError, match="config: a descriptor must be a JSON object"):
        layout.read_manifest(no_config)


def test_cyclic_index(layout: OciLayout, monkeypatch) -> None:
    """Index A lists B, B lists A. Content addressing makes this need a SHA-256 collision, so the
    digest check is stubbed to show that the walker's own cycle detection still stops it."""
    digest_a, digest_b = DIGEST_A, DIGEST_B
    index_b = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": OCI_INDEX, "digest": digest_a, "size": 0}]})
    index_a = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": OCI_INDEX, "digest": digest_b, "size": 0}]})
    documents = {digest_a: index_a.encode(), digest_b: index_b.encode()}
    monkeypatch.setattr(OciLayout, "read_blob", lambda self, digest, **kwargs: documents[digest])
    with pytest.raises(LayoutError) as exc:
        list(layout.walk({"mediaType": OCI_INDEX, "digest": digest_a, "size": 0}))
    assert f"cycle: {digest_a} contains itself (at level 2)" in one_line(exc)


def test_excessive_depth(layout: OciLayout) -> None:
    node, _, _ = put_image(layout)
    for _ in range(9):
        node = index_of(layout, node)
    with pytest.raises(LayoutError) as exc:
        list(layout.walk(node))
    assert "is nested deeper than 8 levels" in one_line(exc)
    assert len(list(layout.walk(node, max_depth=10))) == 3 + 9


# -- interop with umoci (an independent implementation of the image-spec) ----------------------------


def umoci(*args: str) -> str:
    if UMOCI is None:
        pytest.skip("umoci is not installed (apt-get install umoci)")
    result = subprocess.run([UMOCI, *args], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_reads_a_layout_umoci_wrote(tmp_path) -> None:
    directory = str(tmp_path / "umoci")
    umoci("init", "--layout", directory)
    umoci("new", "--image", f"{directory}:base")
    tar = tmp_path / "layer.tar"
    with tarfile.open(tar, "w") as archive:
        info = tarfile.TarInfo("hello")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"hi\n"))
    umoci("raw", "add-layer", "--image", f"{directory}:base", "--tag", "layered", str(tar))
    layout = OciLayout(directory)
    base, layered = layout.find_ref("base"), layout.find_ref("layered")
    walked = list(layout.walk(layered))
    assert [item["mediaType"] for item in walked] == [OCI_CONFIG, "application/vnd.oci.image.layer.v1.tar+gzip",
                                                      OCI_MANIFEST]
    layer = walked[1]
    data = layout.read_blob(layer["digest"], size=layer["size"], limit=MAX_LAYER_SIZE)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert archive.getnames() == ["hello"]
    assert len(list(layout.walk(base))) == 2
    # the umoci layout is a valid target too: add a cosign-kind entry and umoci still reads it
    layout.add_manifest({**layered, "annotations": {KIND: KIND_IMAGE}})
    assert umoci("ls", "--layout", directory).split() == ["base", "layered"]


def test_umoci_reads_a_layout_we_wrote(tmp_path) -> None:
    directory = str(tmp_path / "ours")
    layout = OciLayout(directory, create=True)
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as archive:
        info = tarfile.TarInfo("etc/motd")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"motd\n"))
    compressed = gzip.compress(layer_tar.getvalue(), mtime=0)
    config = {
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer_tar.getvalue())]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "airlock test"}],
    }
    manifest = put_json(layout, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": put_json(layout, config, OCI_CONFIG),
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(compressed),
                    "digest": layout.write_blob(compressed)}],
    }, OCI_MANIFEST)
    layout.add_manifest({**manifest, "annotations": {REF_NAME: "v1"}})
    layout.add_manifest({**manifest, "annotations": {REF_NAME: "latest"}})
    assert sorted(umoci("ls", "--layout", directory).split()) == ["latest", "v1"]
    assert "airlock test" in umoci("stat", "--image", f"{directory}:v1")
