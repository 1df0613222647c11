"""The registry client against a real registry (Debian's docker-registry 2.8 on 127.0.0.1), against
tiny fake registries for what a real one never does (lie, stall, drop connections, offer the
Referrers API), with Basic and token auth, and with skopeo as an independent client on the
other end. Every network wait is bounded by a client timeout of a few seconds.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import ssl
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airlock.errors import AirlockError, DigestMismatchError, RegistryError
from airlock.oci.registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    Credentials,
    Manifest,
    RegistryClient,
    docker_config_path,
    docker_credentials,
    referrers_tag,
)
from registry_server import TokenServer, docker_registry, htpasswd_auth

EMPTY_CONFIG = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SBOM_TYPE = "application/spdx+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def write_docker_config(path: Path, auths: dict) -> Path:
    path.write_text(json.dumps({"auths": auths}))
    return path


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def client(tmp_path) -> RegistryClient:
    """A client that ignores the user's own docker config."""
    return RegistryClient(timeout=5, docker_config=tmp_path / "no-docker-config.json")


class Image:
    """A tiny image pushed with the client: config + one layer + manifest."""

    def __init__(self, client: RegistryClient, host: str, repository: str, tag: str | None = "latest",
                 content: bytes = b"hello") -> None:
        self.config = compact({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                               "config": {}, "content": content.decode()})
        self.layer = content * 3
        client.put_blob(host, repository, self.config)
        client.put_blob(host, repository, self.layer)
        self.manifest = compact({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(self.config),
                       "digest": sha256(self.config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(self.layer),
                        "digest": sha256(self.layer)}],
        })
        self.digest = client.put_manifest(host, repository, tag or sha256(self.manifest), self.manifest, OCI_MANIFEST)
        self.descriptor = {"mediaType": OCI_MANIFEST, "size": len(self.manifest), "digest": self.digest}


def push_referrer(client: RegistryClient, host: str, repository: str, subject: dict, payload: bytes,
                  artifact_type: str | None, layer_type: str = BUNDLE_TYPE) -> dict:
    """A cosign-v3-shaped referrer manifest (FORMATS.md 4.5), pushed by digest; its descriptor."""
    client.put_blob(host, repository, EMPTY_CONFIG)
    client.put_blob(host, repository, payload)
    document = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": EMPTY_DIGEST},
        "layers": [{"mediaType": layer_type, "size": len(payload), "digest": sha256(payload)}],
        "annotations": {"org.opencontainers.image.created": "2026-01-02T03:04:05Z"},
        "subject": subject,
    }
    if artifact_type:
        document["artifactType"] = artifact_type
    data = compact(document)
    digest = client.put_manifest(host, repository, sha256(data), data, OCI_MANIFEST)
    descriptor = {"mediaType": OCI_MANIFEST, "size": len(data), "digest": digest}
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    return descriptor


class Spy:
    """Records every HTTP request a client sends (method, URL) without changing anything."""

    def __init__(self, client: RegistryClient, monkeypatch) -> None:
        self.calls: list[tuple[str, str]] = []
        original = client._send

        def send(method, url, headers, body=None, **options):
            self.calls.append((method, url))
            return original(method, url, headers, body, **options)

        monkeypatch.setattr(client, "_send", send)

    def methods(self) -> list[str]:
        """The methods sent, leaving out the ``GET /v2/`` ping of a registry seen for the first time."""
        return [method for method, url in self.calls if not url.endswith("/v2/")]


# --- blobs -------------------------------------------------------------------------------------


def test_monolithic_blob_upload_then_read_back(client, registry):
    data = os.urandom(4096)
    digest = client.put_blob(registry, "blobs/mono", data)
    assert digest == sha256(data)
    assert client.blob_exists(registry, "blobs/mono", digest)
    assert client.get_blob(registry, "blobs/mono", digest) == data
    assert not client.blob_exists(registry, "blobs/mono", sha256(b"absent"))


def test_chunked_upload_from_bytes_path_file_and_unseekable_stream(client, registry, tmp_path, monkeypatch):
    spy = Spy(client, monkeypatch)
    data = os.urandom(70_000)
    assert client.put_blob(registry, "blobs/chunked", data, chunk_size=16_384) == sha256(data)
    assert spy.methods().count("PATCH") == 5  # 4 full chunks and a short one
    assert client.get_blob(registry, "blobs/chunked", sha256(data)) == data

    path = tmp_path / "layer.bin"
    from_path = os.urandom(50_000)
    path.write_bytes(from_path)
    assert client.put_blob(registry, "blobs/chunked", path, chunk_size=20_000) == sha256(from_path)
    assert client.put_blob(registry, "blobs/chunked", str(path)) == sha256(from_path)  # exists: skipped

    file_data = os.urandom(30_000)
    with open(tmp_path / "f.bin", "wb+") as handle:
        handle.write(b"prefix" + file_data)
        handle.seek(6)  # a file is uploaded from where it stands
        assert client.put_blob(registry, "blobs/chunked", handle) == sha256(file_data)

    class Unseekable(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._source = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._source.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    stream_data = os.urandom(40_000)
    spy.calls.clear()
    assert client.put_blob(registry, "blobs/chunked", Unseekable(stream_data), chunk_size=15_000) == sha256(stream_data)
    assert "HEAD" not in spy.methods()  # digest unknown before reading: no existence check
    assert client.get_blob(registry, "blobs/chunked", sha256(stream_data)) == stream_data


def test_empty_blob_chunked_and_monolithic(client, registry):
    assert client.put_blob(registry, "blobs/empty", b"", chunk_size=1024) == sha256(b"")
    assert client.get_blob(registry, "blobs/empty", sha256(b"")) == b""


def test_existing_blob_is_not_uploaded_again(client, registry, monkeypatch):
    data = b"once only"
    client.put_blob(registry, "blobs/skip", data)
    spy = Spy(client, monkeypatch)
    assert client.put_blob(registry, "blobs/skip", data) == sha256(data)
    assert spy.methods() == ["HEAD"]


def test_blob_digest_mismatch_is_refused_before_upload(client, registry, monkeypatch):
    spy = Spy(client, monkeypatch)
    with pytest.raises(DigestMismatchError, match="has digest sha256:"):
        client.put_blob(registry, "blobs/bad", b"real bytes", digest=sha256(b"other bytes"))
    assert spy.calls == []


def test_registry_refuses_a_file_whose_digest_was_misstated(client, registry, tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"the real content")
    with pytest.raises(RegistryError) as caught:
        client.put_blob(registry, "blobs/bad", path, digest=sha256(b"claimed"))
    assert caught.value.status == 400 and caught.value.code == "DIGEST_INVALID"
    assert "\n" not in str(caught.value)


def test_cross_repository_mount(client, registry, monkeypatch):
    data = os.urandom(10_000)
    client.put_blob(registry, "mount/source", data)
    spy = Spy(client, monkeypatch)
    assert client.put_blob(registry, "mount/target", data, mount_from="mount/source") == sha256(data)
    assert spy.methods() == ["HEAD", "POST"]
    assert "mount=sha256" in spy.calls[1][1] and "from=mount%2Fsource" in spy.calls[1][1]
    assert client.get_blob(registry, "mount/target", sha256(data)) == data


def test_mount_from_a_repository_without_the_blob_falls_back_to_upload(client, registry, monkeypatch):
    data = os.urandom(5_000)
    spy = Spy(client, monkeypatch)
    assert client.put_blob(registry, "mount/target2", data, mount_from="mount/nothing-here") == sha256(data)
    assert spy.methods() == ["HEAD", "POST", "PUT"]  # the registry answered 202: upload in that session
    assert client.get_blob(registry, "mount/target2", sha256(data)) == data


def test_copy_blob_to_path_and_file(client, registry, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
    digest = client.put_blob(registry, "blobs/copy", data)
    target = tmp_path / "out" / "blob"
    target.parent.mkdir()
    assert client.copy_blob_to(registry, "blobs/copy", digest, target) == len(data)
    assert target.read_bytes() == data
    buffer = io.BytesIO()
    assert client.copy_blob_to(registry, "blobs/copy", digest, buffer) == len(data)
    assert buffer.getvalue() == data

    too_small = tmp_path / "out" / "limited"
    with pytest.raises(RegistryError, match="exceeds the 1000-byte limit"):
        client.copy_blob_to(registry, "blobs/copy", digest, too_small, limit=1000)
    assert not too_small.exists()
    assert os.listdir(tmp_path / "out") == ["blob"]  # no temporary file left behind


def test_get_blob_limit_and_missing_blob(client, registry):
    digest = client.put_blob(registry, "blobs/limit", b"x" * 2000)
    with pytest.raises(RegistryError, match="2000 bytes exceeds the 100-byte limit"):
        client.get_blob(registry, "blobs/limit", digest, limit=100)
    with pytest.raises(RegistryError) as caught:
        client.get_blob(registry, "blobs/limit", sha256(b"missing"))
    assert caught.value.status == 404 and caught.value.code == "BLOB_UNKNOWN"


# --- manifests, tags -----------------------------------------------------------------------------


def test_manifest_by_tag_and_by_digest(client, registry):
    image = Image(client, registry, "manifests/app", "v1")
    assert image.digest == sha256(image.manifest)
    by_tag = client.get_manifest(registry, "manifests/app", "v1")
    assert by_tag == Manifest(image.manifest, OCI_MANIFEST, image.digest)
    assert client.get_manifest(registry, "manifests/app", image.digest) == by_tag
    assert by_tag.descriptor() == image.descriptor

    head = client.head_manifest(registry, "manifests/app", "v1")
    assert head == Manifest(b"", OCI_MANIFEST, image.digest)
    assert client.head_manifest(registry, "manifests/app", image.digest).digest == image.digest
    assert client.manifest_exists(registry, "manifests/app", "v1")
    assert not client.manifest_exists(registry, "manifests/app", "v2")
    assert client.head_manifest(registry, "manifests/app", "v2") is None
    with pytest.raises(RegistryError, match="no bytes to describe"):
        head.descriptor()


def test_manifest_pushed_by_digest_only(client, registry):
    image = Image(client, registry, "manifests/untagged", tag=None, content=b"untagged")
    assert client.get_manifest(registry, "manifests/untagged", image.digest).data == image.manifest


def test_put_manifest_under_a_digest_it_does_not_have(client, registry, monkeypatch):
    spy = Spy(client, monkeypatch)
    with pytest.raises(DigestMismatchError, match="manifest to push as sha256:"):
        client.put_manifest(registry, "manifests/app", sha256(b"something else"), b"{}", OCI_MANIFEST)
    assert spy.calls == []


def test_missing_manifest_is_a_one_line_404(client, registry):
    Image(client, registry, "manifests/present")
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(registry, "manifests/present", "nope")
    message = str(caught.value)
    assert message == f"registry {registry}: GET /v2/manifests/present/manifests/nope: 404 MANIFEST_UNKNOWN: " \
                      "manifest unknown"
    assert caught.value.status == 404 and caught.value.code == "MANIFEST_UNKNOWN"
    assert isinstance(caught.value, AirlockError)


def test_list_tags(client, registry):
    image = Image(client, registry, "tags/app", "t0")
    for index in range(1, 5):
        client.put_manifest(registry, "tags/app", f"t{index}", image.manifest, OCI_MANIFEST)
    assert sorted(client.list_tags(registry, "tags/app")) == ["t0", "t1", "t2", "t3", "t4"]
    # distribution 2.8 ignores ?n= (one page); the fake registry below pages
    assert sorted(client.list_tags(registry, "tags/app", page_size=2)) == ["t0", "t1", "t2", "t3", "t4"]
    with pytest.raises(RegistryError, match="404 NAME_UNKNOWN"):
        client.list_tags(registry, "tags/no-such-repository")


def test_delete_manifest(client, registry):
    image = Image(client, registry, "delete/app", "doomed")
    client.delete_manifest(registry, "delete/app", image.digest)
    assert client.head_manifest(registry, "delete/app", image.digest) is None
    with pytest.raises(RegistryError, match="404 MANIFEST_UNKNOWN"):
        client.get_manifest(registry, "delete/app", "doomed")
    with pytest.raises(RegistryError, match="404"):
        client.delete_manifest(registry, "delete/app", image.digest)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.get_manifest("127.0.0.1:1", "UPPER/case", "latest"), "invalid repository name"),
        (lambda c: c.get_manifest("127.0.0.1:1", "ok/repo", "../../etc"), "invalid tag or digest"),
        (lambda c: c.get_blob("127.0.0.1:1", "ok/repo", "sha256:abc"), "invalid digest"),
        (lambda c: c.get_blob("host/path", "ok/repo", EMPTY_DIGEST), "invalid registry"),
        (lambda c: c.referrers("127.0.0.1:1", "ok/repo", "latest"), "invalid digest"),
    ],
)
def test_inputs_are_checked_before_any_request(client, call, message):
    with pytest.raises(RegistryError, match=message):
        call(client)


# --- referrers (docker-registry 2.8 has no Referrers API: the fallback tag schema) ---------------


def test_referrers_through_the_fallback_tag(client, registry, monkeypatch):
    repository = "referrers/app"
    image = Image(client, registry, repository, "v1")
    assert client.referrers(registry, repository, image.digest) == []

    bundle = push_referrer(client, registry, repository, image.descriptor, b'{"bundle": 1}', BUNDLE_TYPE)
    sbom = push_referrer(client, registry, repository, image.descriptor, b'{"spdx": 1}', SBOM_TYPE, SBOM_TYPE)
    first = client.add_referrer(registry, repository, image.digest, bundle)
    second = client.add_referrer(registry, repository, image.digest, sbom)
    assert first != second

    index = client.get_manifest(registry, repository, referrers_tag(image.digest))
    assert index.media_type == OCI_INDEX and index.digest == second
    expected = sorted([bundle, sbom], key=lambda d: d["digest"])
    assert index.data == compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": d["mediaType"], "size": d["size"], "digest": d["digest"], "artifactType": d["artifactType"]}
        for d in expected]})  # go-containerregistry's shape: field order, sorted by digest, compact

    found = client.referrers(registry, repository, image.digest)
    assert [d["digest"] for d in found] == [d["digest"] for d in expected]
    assert client.referrers(registry, repository, image.digest, artifact_type=BUNDLE_TYPE) == [bundle]
    assert client.referrers(registry, repository, image.digest, artifact_type=SBOM_TYPE) == [sbom]
    assert client.referrers(registry, repository, image.digest, artifact_type="application/x-none") == []

    spy = Spy(client, monkeypatch)
    assert client.add_referrer(registry, repository, image.digest, bundle) == second  # a duplicate: no write
    assert "PUT" not in spy.methods()
    # the registry told us once it has no Referrers API; later calls go straight to the tag
    assert not [url for _, url in spy.calls if "/referrers/sha256:" in url]


def test_add_referrer_derives_the_artifact_type(client, registry):
    repository = "referrers/derived"
    image = Image(client, registry, repository, "v1", content=b"derived")
    without = push_referrer(client, registry, repository, image.descriptor, b"payload", None)
    with_type = push_referrer(client, registry, repository, image.descriptor, b"payload2", BUNDLE_TYPE)
    with_type.pop("artifactType")  # the caller does not say; the manifest does
    client.add_referrer(registry, repository, image.digest, without)
    client.add_referrer(registry, repository, image.digest, with_type)
    found = {d["digest"]: d.get("artifactType") for d in client.referrers(registry, repository, image.digest)}
    assert found == {without["digest"]: "application/vnd.oci.empty.v1+json", with_type["digest"]: BUNDLE_TYPE}


def test_fallback_tag_holding_something_else_is_refused(client, registry):
    repository = "referrers/squatted"
    image = Image(client, registry, repository, "v1", content=b"squatted")
    other = Image(client, registry, repository, "v2", content=b"another image")
    client.put_manifest(registry, repository, referrers_tag(image.digest), other.manifest, OCI_MANIFEST)
    with pytest.raises(RegistryError, match=f"holds {re.escape(OCI_MANIFEST)}, not a referrers index"):
        client.referrers(registry, repository, image.digest)
    referrer = push_referrer(client, registry, repository, image.descriptor, b"x", BUNDLE_TYPE)
    with pytest.raises(RegistryError, match="not a referrers index"):
        client.add_referrer(registry, repository, image.digest, referrer)


def test_fallback_tag_holding_its_subject_is_cosign_copy_and_no_referrers_index(client, registry):
    """cosign copy (v3.1.2) tags each image it copies ``sha256-<hex>``, the referrers fallback tag's
    name: that is the subject itself, so no referrers; a referrer added takes the tag."""
    repository = "referrers/cosign-copied"
    image = Image(client, registry, repository, "v1", content=b"copied by cosign")
    client.put_manifest(registry, repository, referrers_tag(image.digest), image.manifest, OCI_MANIFEST)
    assert client.referrers(registry, repository, image.digest) == []
    referrer = push_referrer(client, registry, repository, image.descriptor, b"x", BUNDLE_TYPE)
    index = client.add_referrer(registry, repository, image.digest, referrer)
    assert client.head_manifest(registry, repository, referrers_tag(image.digest)).digest == index
    assert [r["digest"] for r in client.referrers(registry, repository, image.digest)] == [referrer["digest"]]


# --- fake registries: what a real one should never do -----------------------------------------------


Route = Callable[[BaseHTTPRequestHandler], None]


class FakeRegistry:
    """An HTTP server on 127.0.0.1 answering ``routes[(method, path)]``; ``GET /v2/`` answers 200.

    A route is ``(status, headers, body)`` or a function of the request handler. Every request is
    recorded in ``requests`` as ``(method, path with query, headers)``.
    """

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[tuple[str, str], tuple | Route] = {("GET", "/v2/"): (200, {}, b"{}")}
        self.requests: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                fake.requests.append((self.command, self.path, dict(self.headers)))
                route = fake.routes.get((self.command, urlsplit(self.path).path))
                if route is None:
                    route = (404, {"Content-Type": "application/json"},
                             b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}')
                try:
                    if callable(route):
                        route(self)
                    else:
                        fake.answer(self, *route)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        if tls is not None:  # https with the given (certificate, key) files
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def answer(handler: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if "Content-Length" not in headers:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def __enter__(self) -> FakeRegistry:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


MANIFEST = compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": EMPTY_DIGEST},
                    "layers": []})


def test_tag_whose_bytes_do_not_match_docker_content_digest(client, fake):
    fake.routes["GET", "/v2/lying/repo/manifests/v1"] = (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(b"what it claims")}, MANIFEST)
    with pytest.raises(DigestMismatchError, match="but Docker-Content-Digest sha256:"):
        client.get_manifest(fake.host, "lying/repo", "v1")


def test_tag_without_docker_content_digest_gets_the_computed_digest(client, fake):
    fake.routes["GET", "/v2/quiet/repo/manifests/v1"] = (200, {"Content-Type": OCI_MANIFEST}, MANIFEST)
    assert client.get_manifest(fake.host, "quiet/repo", "v1").digest == sha256(MANIFEST)
    # a HEAD without a digest falls back to a (verified) GET
    fake.routes["HEAD", "/v2/quiet/repo/manifests/v1"] = (200, {"Content-Type": OCI_MANIFEST}, b"")
    assert client.head_manifest(fake.host, "quiet/repo", "v1") == Manifest(b"", OCI_MANIFEST, sha256(MANIFEST))


def test_manifest_by_digest_with_other_bytes(client, fake):
    claimed = sha256(b"the manifest that was asked for")
    fake.routes["GET", f"/v2/lying/repo/manifests/{claimed}"] = (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": claimed}, MANIFEST)
    with pytest.raises(DigestMismatchError, match=f"whose digest is {sha256(MANIFEST)}"):
        client.get_manifest(fake.host, "lying/repo", claimed)
    fake.routes["HEAD", f"/v2/lying/repo/manifests/{claimed}"] = (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(MANIFEST)}, b"")
    with pytest.raises(DigestMismatchError):
        client.head_manifest(fake.host, "lying/repo", claimed)


def test_blob_with_other_bytes(client, fake, tmp_path):
    claimed = sha256(b"asked for")
    fake.routes["GET", f"/v2/lying/repo/blobs/{claimed}"] = (200, {}, b"something else")
    with pytest.raises(DigestMismatchError, match="sent blob sha256:"):
        client.get_blob(fake.host, "lying/repo", claimed)
    with pytest.raises(DigestMismatchError):
        client.copy_blob_to(fake.host, "lying/repo", claimed, tmp_path / "blob")
    assert list(tmp_path.iterdir()) == []


def test_oversized_manifest_is_cut_off(client, fake):
    def endless(handler):  # no Content-Length: the limit must hold while reading
        handler.send_response(200)
        handler.send_header("Content-Type", OCI_MANIFEST)
        handler.send_header("Connection", "close")
        handler.end_headers()
        block = b" " * 65536
        for _ in range(100):  # 6.4 MiB
            handler.wfile.write(block)
        handler.close_connection = True

    fake.routes["GET", "/v2/big/repo/manifests/v1"] = endless
    with pytest.raises(RegistryError, match="manifest exceeds the 4194304-byte limit"):
        client.get_manifest(fake.host, "big/repo", "v1")
    fake.routes["GET", "/v2/big/repo/manifests/v2"] = (200, {"Content-Length": str(5 << 20)}, b"")
    with pytest.raises(RegistryError, match="manifest of 5242880 bytes exceeds"):
        client.get_manifest(fake.host, "big/repo", "v2")


def test_server_errors_carry_the_registry_code_and_message(client, fake):
    fake.routes["GET", "/v2/broken/repo/manifests/v1"] = (
        503, {"Content-Type": "application/json"},
        b'{"errors":[{"code":"UNAVAILABLE","message":"storage\\nbackend down","detail":null}]}')
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(fake.host, "broken/repo", "v1")
    assert str(caught.value) == (f"registry {fake.host}: GET /v2/broken/repo/manifests/v1: "
                                 "503 UNAVAILABLE: storage backend down")
    assert caught.value.status == 503
    fake.routes["GET", "/v2/broken/repo/manifests/v2"] = (500, {"Content-Type": "text/plain"}, b"oops\n")
    with pytest.raises(RegistryError, match=r": 500 oops$"):
        client.get_manifest(fake.host, "broken/repo", "v2")
    fake.routes["GET", "/v2/broken/repo/manifests/v3"] = (403, {"Content-Type": "application/json"},
                                                         b'{"errors":[{"code":"DENIED","message":"no"}]}')
    with pytest.raises(RegistryError, match=r"403 DENIED: no$"):
        client.get_manifest(fake.host, "broken/repo", "v3")


def test_manifest_of_an_unrequested_type_is_refused(client, fake):
    fake.routes["GET", "/v2/old/repo/manifests/v1"] = (
        200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, b"{}")
    with pytest.raises(RegistryError, match="not one of the accepted manifest types"):
        client.get_manifest(fake.host, "old/repo", "v1")


def test_a_stalled_registry_times_out(fake):
    client = RegistryClient(timeout=0.5, docker_config="/nonexistent/config.json")

    def stall(handler):
        time.sleep(3)

    fake.routes["GET", "/v2/slow/repo/manifests/v1"] = stall
    started = time.monotonic()
    with pytest.raises(RegistryError, match="timed out"):
        client.get_manifest(fake.host, "slow/repo", "v1")
    assert time.monotonic() - started < 2.5  # one retry at most, each bounded by the timeout


def test_unreachable_registry(client):
    from registry_server import free_port

    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match=f"^cannot reach registry {host}: cannot connect"):
        client.get_manifest(host, "any/repo", "v1")


def test_only_gets_are_retried_after_a_dropped_connection(client, fake):
    dropped: set[tuple[str, str]] = set()

    def drop_once(handler):
        if (handler.command, handler.path) not in dropped:
            dropped.add((handler.command, handler.path))
            handler.close_connection = True  # no answer at all
            return
        FakeRegistry.answer(handler, 200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(MANIFEST)},
                            MANIFEST)

    fake.routes["GET", "/v2/flaky/repo/manifests/v1"] = drop_once
    assert client.get_manifest(fake.host, "flaky/repo", "v1").data == MANIFEST
    fake.routes["PUT", "/v2/flaky/repo/manifests/v1"] = drop_once
    with pytest.raises(RegistryError, match="connection broken"):
        client.put_manifest(fake.host, "flaky/repo", "v1", MANIFEST, OCI_MANIFEST)
    assert [r[0] for r in fake.requests].count("PUT") == 1


def test_list_tags_follows_link_pagination(client, fake):
    def pages(handler):
        query = urlsplit(handler.path).query
        if "last=b" in query:
            body, headers = {"tags": ["c"]}, {}
        else:
            assert "n=2" in query
            body, headers = {"tags": ["a", "b"]}, {"Link": '</v2/paged/repo/tags/list?n=2&last=b>; rel="next"'}
        FakeRegistry.answer(handler, 200, {"Content-Type": "application/json", **headers}, compact(body))

    fake.routes["GET", "/v2/paged/repo/tags/list"] = pages
    assert client.list_tags(fake.host, "paged/repo", page_size=2) == ["a", "b", "c"]

    def loop(handler):
        FakeRegistry.answer(handler, 200, {"Link": '</v2/loop/repo/tags/list>; rel="next"'}, compact({"tags": ["x"]}))

    fake.routes["GET", "/v2/loop/repo/tags/list"] = loop
    with pytest.raises(RegistryError, match=r"tag list pages of loop/repo do not end "
                                            r"\(page /v2/loop/repo/tags/list comes again\)$"):
        client.list_tags(fake.host, "loop/repo")


def test_referrers_api_is_used_and_filtered_client_side(client, fake):
    subject = sha256(b"subject")
    bundle = {"mediaType": OCI_MANIFEST, "size": 10, "digest": sha256(b"a"), "artifactType": BUNDLE_TYPE}
    sbom = {"mediaType": OCI_MANIFEST, "size": 11, "digest": sha256(b"b"), "artifactType": SBOM_TYPE}
    other = {"mediaType": OCI_MANIFEST, "size": 12, "digest": sha256(b"c"), "artifactType": BUNDLE_TYPE}
    path = f"/v2/api/repo/referrers/{subject}"

    def pages(handler):  # ignores ?artifactType= (allowed), and pages with Link
        second = "page=2" in handler.path
        body = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [other] if second else [bundle, sbom]})
        headers = {"Content-Type": OCI_INDEX}
        if not second:
            headers["Link"] = f'<{path}?page=2>; rel="next"'
        FakeRegistry.answer(handler, 200, headers, body)

    fake.routes["GET", path] = pages
    assert client.referrers(fake.host, "api/repo", subject) == [bundle, sbom, other]
    assert client.referrers(fake.host, "api/repo", subject, artifact_type=BUNDLE_TYPE) == [bundle, other]
    assert any("artifactType=application%2Fvnd.dev.sigstore.bundle" in r[1] for r in fake.requests)
    assert not [r for r in fake.requests if "/manifests/" in r[1]]  # no fallback tag read
    # with the API, the registry indexes referrers itself: nothing to write
    assert client.add_referrer(fake.host, "api/repo", subject, bundle) is None
    assert [r[0] for r in fake.requests if r[0] == "PUT"] == []


def test_referrers_api_answering_json_that_is_not_an_index_means_fallback(client, fake):
    subject = sha256(b"subject")
    fake.routes["GET", f"/v2/odd/repo/referrers/{subject}"] = (200, {"Content-Type": "application/json"}, b"{}")
    assert client.referrers(fake.host, "odd/repo", subject) == []  # fallback tag: 404 = none
    assert any(f"/manifests/{referrers_tag(subject)}" in r[1] for r in fake.requests)


def test_authorization_is_not_sent_to_another_host(tmp_path):
    """An upload Location on another host gets the body but never the registry's credentials."""
    with FakeRegistry() as registry, FakeRegistry() as elsewhere:
        config = write_docker_config(tmp_path / "config.json", {registry.host: {"auth": basic("u", "p")}})
        expected = "Basic " + basic("u", "p")

        def guarded(status, headers, body=b""):
            def route(handler):
                if handler.headers.get("Authorization") != expected:
                    FakeRegistry.answer(handler, 401, {"WWW-Authenticate": 'Basic realm="fake"'}, b"")
                else:
                    FakeRegistry.answer(handler, status, headers, body)
            return route

        port = elsewhere.server.server_address[1]
        registry.routes["GET", "/v2/"] = guarded(200, {}, b"{}")
        registry.routes["HEAD", f"/v2/team/app/blobs/{sha256(b'data')}"] = guarded(404, {})
        registry.routes["POST", "/v2/team/app/blobs/uploads/"] = guarded(
            202, {"Location": f"http://localhost:{port}/upload/1?state=x"})
        elsewhere.routes["PUT", "/upload/1"] = (201, {"Docker-Content-Digest": sha256(b"data")}, b"")
        client = RegistryClient(timeout=5, docker_config=config)
        assert client.put_blob(registry.host, "team/app", b"data") == sha256(b"data")
        assert [r[2].get("Authorization") for r in registry.requests][-2:] == [expected, expected]
        (put,) = elsewhere.requests
        assert put[0] == "PUT" and "Authorization" not in put[2] and "digest=sha256" in put[1]


def self_signed_tls(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that nothing trusts, and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock test registry")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_is_verified_unless_insecure(tmp_path, monkeypatch):
    cert, key = self_signed_tls(tmp_path)
    config = tmp_path / "none.json"
    with FakeRegistry(tls=(cert, key)) as tls:
        tls.routes["GET", "/v2/tls/repo/manifests/v1"] = (
            200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(MANIFEST)}, MANIFEST)
        with pytest.raises(RegistryError) as caught:
            RegistryClient(timeout=5, docker_config=config).get_manifest(tls.host, "tls/repo", "v1")
        message = str(caught.value)
        assert message.startswith(f"cannot reach registry {tls.host}: TLS error:")
        assert "CERTIFICATE_VERIFY_FAILED" in message
        assert message.endswith("(use insecure registry access for a self-signed certificate)")
        assert [r[1] for r in tls.requests] == []  # and no downgrade to plain http was tried
        with pytest.raises(RegistryError, match="CERTIFICATE_VERIFY_FAILED"):  # --allow-http-registry: TLS verified
            RegistryClient(timeout=5, docker_config=config, allow_http=True).get_manifest(tls.host, "tls/repo", "v1")

        loads = count_ca_store_loads(monkeypatch)
        insecure = RegistryClient(timeout=5, docker_config=config, insecure=True)
        insecure.connections = 1  # every thread's handshake below is a new connection
        assert fetch_in_threads(insecure, tls.host, "tls/repo", "v1") == [MANIFEST] * 5
        assert insecure._endpoint(tls.host).base == f"https://{tls.host}"
        assert loads == []  # nothing is verified: no CA store, for any connection
        monkeypatch.undo()

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted: verified https works
        loads = count_ca_store_loads(monkeypatch)
        trusted = RegistryClient(timeout=5, docker_config=config)
        trusted.connections = 1  # every thread's handshake below is a new connection
        assert fetch_in_threads(trusted, tls.host, "tls/repo", "v1") == [MANIFEST] * 5
        assert trusted._endpoint(tls.host).base == f"https://{tls.host}"
        assert len(loads) == 1  # the CA store, once per client, shared by its connections and threads


def fetch_in_threads(client: RegistryClient, host: str, repository: str, tag: str) -> list[bytes]:
    """The manifest fetched once, then by four threads at once (new connections, the pool keeping one)."""
    fetched = [client.get_manifest(host, repository, tag).data]

    def fetch() -> None:
        fetched.append(client.get_manifest(host, repository, tag).data)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return fetched


def count_ca_store_loads(monkeypatch) -> list[int]:
    """A list that grows by one each time a TLS context loads the system's CA certificates."""
    loads: list[int] = []
    original = ssl.SSLContext.load_default_certs

    def load_default_certs(self, *args, **kwargs):
        loads.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", load_default_certs)
    return loads


def test_a_plain_http_loopback_registry_costs_no_ca_store(tmp_path, monkeypatch, fake):
    fake.routes["GET", "/v2/plain/repo/manifests/v1"] = (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(MANIFEST)}, MANIFEST)
    loads = count_ca_store_loads(monkeypatch)
    client = RegistryClient(timeout=5, docker_config=tmp_path / "none.json")
    assert client.get_manifest(fake.host, "plain/repo", "v1").data == MANIFEST
    assert client._endpoint(fake.host).base == f"http://{fake.host}"  # https was tried first, and failed
    assert loads == [] and not client._tls.loaded
    assert [r[:2] for r in fake.requests] == [("GET", "/v2/"), ("GET", "/v2/plain/repo/manifests/v1")]


def test_credentials_are_not_sent_to_a_plain_http_token_realm(tmp_path, fake):
    config = write_docker_config(tmp_path / "config.json", {fake.host: {"auth": basic("u", "p")}})
    fake.routes["GET", "/v2/"] = (401, {"WWW-Authenticate": 'Bearer realm="http://token.example/token",service="s"'},
                                  b"")
    with pytest.raises(RegistryError, match=r"to the plain-http token realm token\.example"):
        RegistryClient(timeout=5, docker_config=config).get_manifest(fake.host, "any/repo", "v1")


def test_plain_http_only_for_loopback_or_when_insecure(tmp_path, monkeypatch):
    from airlock.oci import registry as module

    def attempts(client: RegistryClient, host: str) -> list[str]:
        tried: list[str] = []

        def send(method, url, headers, body=None, *, manager=None):
            tried.append(url if manager is None else f"probe {url}")  # probe: a handshake trusting no CA
            raise module._TransportError(ConnectionRefusedError("refused"))

        monkeypatch.setattr(client, "_send", send)
        with pytest.raises(RegistryError, match=f"cannot reach registry {re.escape(host)}: refused"):
            client.get_manifest(host, "r/x", "v1")
        return tried

    config = tmp_path / "none.json"
    assert attempts(RegistryClient(docker_config=config), "registry.example:5000") == [
        "https://registry.example:5000/v2/"]
    assert attempts(RegistryClient(docker_config=config, insecure=True), "registry.example:5000") == [
        "https://registry.example:5000/v2/", "http://registry.example:5000/v2/"]
    assert attempts(RegistryClient(docker_config=config, allow_http=True), "registry.example:5000") == [
        "https://registry.example:5000/v2/", "http://registry.example:5000/v2/"]
    for host in ("localhost:5000", "127.0.0.1:5000", "[::1]:5000", "localhost"):
        assert attempts(RegistryClient(docker_config=config), host) == [
            f"probe https://{host}/v2/", f"http://{host}/v2/"]
    assert attempts(RegistryClient(docker_config=config, insecure=True), "localhost:5000") == [
        "https://localhost:5000/v2/", "http://localhost:5000/v2/"]  # nothing verified: nothing to spare
    assert attempts(RegistryClient(docker_config=config), "docker.io") == ["https://index.docker.io/v2/"]


# --- auth against the real registry ------------------------------------------------------------------


def test_basic_auth_with_htpasswd(tmp_path):
    auth = htpasswd_auth(tmp_path, {"alice": "wonderland"})
    with docker_registry(auth=auth, directory=tmp_path) as host:
        anonymous = RegistryClient(timeout=5, docker_config=tmp_path / "none.json")
        with pytest.raises(RegistryError) as caught:
            anonymous.put_blob(host, "private/app", b"secret layer")
        assert caught.value.status == 401 and "no credentials for" in str(caught.value)

        good = write_docker_config(tmp_path / "good.json", {host: {"auth": basic("alice", "wonderland")}})
        client = RegistryClient(timeout=5, docker_config=good)
        image = Image(client, host, "private/app", "v1")
        assert client.get_manifest(host, "private/app", "v1").digest == image.digest
        assert client.list_tags(host, "private/app") == ["v1"]

        bad = write_docker_config(tmp_path / "bad.json", {host: {"username": "alice", "password": "nope"}})
        with pytest.raises(RegistryError) as caught:
            RegistryClient(timeout=5, docker_config=bad).get_manifest(host, "private/app", "v1")
        assert caught.value.status == 401 and "rejected the credentials" in str(caught.value)
        assert "nope" not in str(caught.value)


def test_bearer_token_auth_with_a_token_service(tmp_path, monkeypatch):
    with TokenServer({"bob": "builder"}, refresh_tokens={"refresh-123": "bob"}) as tokens, \
            docker_registry(auth=tokens.auth_config(tmp_path), directory=tmp_path) as host:
            credentials = {f"http://{host}/v1/": {"auth": basic("bob", "builder")}}  # a key with scheme and path
            config = write_docker_config(tmp_path / "config.json", credentials)
            client = RegistryClient(timeout=5, docker_config=config)
            image = Image(client, host, "tokens/app", "v1")
            assert client.get_manifest(host, "tokens/app", image.digest).data == image.manifest
            scopes = [tuple(scope) for _, user, scope in tokens.requests]
            assert all(user == "bob" for _, user, _ in tokens.requests)
            # one token per scope, then reused from the cache
            assert len(scopes) == len(set(scopes)) <= 3, tokens.requests
            assert ("repository:tokens/app:pull,push",) in scopes

            # a cross-repository mount needs pull on the source as well: the challenge says so
            spy = Spy(client, monkeypatch)
            assert client.put_blob(host, "tokens/copy", image.layer, mount_from="tokens/app") == sha256(image.layer)
            assert [m for m in spy.methods() if m != "GET"] == ["HEAD", "POST"]
            assert any(len(scope) == 2 for _, _, scope in tokens.requests)

            # an identity token (docker login via a browser) is exchanged with an OAuth2 POST
            refresh = write_docker_config(tmp_path / "refresh.json", {host: {"identitytoken": "refresh-123"}})
            other = RegistryClient(timeout=5, docker_config=refresh)
            assert other.get_manifest(host, "tokens/app", "v1").digest == image.digest
            assert tokens.requests[-1][:2] == ("POST", "bob")
            expired = write_docker_config(tmp_path / "expired.json", {host: {"identitytoken": "revoked"}})
            with pytest.raises(RegistryError, match=r"token request to /token: 401 invalid_grant \(the registry"):
                RegistryClient(timeout=5, docker_config=expired).get_manifest(host, "tokens/app", "v1")

            anonymous = RegistryClient(timeout=5, docker_config=tmp_path / "none.json")
            with pytest.raises(RegistryError) as caught:
                anonymous.get_manifest(host, "tokens/app", "v1")
            assert caught.value.status == 401 and caught.value.code == "UNAUTHORIZED"

            wrong = write_docker_config(tmp_path / "wrong.json", {host: {"auth": basic("bob", "wrong")}})
            with pytest.raises(RegistryError, match=r"token request to /token: 401 UNAUTHORIZED: bad credentials"):
                RegistryClient(timeout=5, docker_config=wrong).get_manifest(host, "tokens/app", "v1")


# --- docker config credentials --------------------------------------------------------------------------


def test_credentials_from_auth_and_from_username_password(tmp_path):
    config = write_docker_config(tmp_path / "config.json", {
        "registry.example:5000": {"auth": basic("alice", "pa:ss:word")},
        "https://other.example/v1/": {"username": "bob", "password": "secret"},
        "token.example": {"identitytoken": "refresh"},
        "empty.example": {},
    })
    assert docker_credentials("registry.example:5000", config) == Credentials("alice", "pa:ss:word")
    assert docker_credentials("other.example", config) == Credentials("bob", "secret")
    assert docker_credentials("token.example", config) == Credentials(identity_token="refresh")
    assert docker_credentials("empty.example", config) is None
    assert docker_credentials("unknown.example", config) is None
    assert docker_credentials("registry.example", config) is None  # the port is part of the name


def test_docker_hub_key_aliases(tmp_path):
    hub = write_docker_config(tmp_path / "hub.json", {"https://index.docker.io/v1/": {"auth": basic("h", "p")}})
    for name in ("index.docker.io", "docker.io", "registry-1.docker.io"):
        assert docker_credentials(name, hub) == Credentials("h", "p")
    short = write_docker_config(tmp_path / "short.json", {"docker.io": {"auth": basic("s", "p")}})
    assert docker_credentials("index.docker.io", short) == Credentials("s", "p")


def test_docker_config_location(tmp_path, monkeypatch):
    directory = tmp_path / "dockercfg"
    directory.mkdir()
    write_docker_config(directory / "config.json", {"r.example": {"auth": basic("env", "p")}})
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    assert docker_config_path() == str(directory / "config.json")
    assert docker_credentials("r.example") == Credentials("env", "p")
    assert docker_config_path(directory) == str(directory / "config.json")  # a directory argument
    monkeypatch.delenv("DOCKER_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert docker_config_path() == str(tmp_path / ".docker" / "config.json")
    assert docker_credentials("r.example") is None  # no file: anonymous


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "is not a JSON object"),
        ('{"auths": []}', "'auths' is not a JSON object"),
        ('{"auths": {"r.example": {"auth": "%%%"}}}', "'auth' is not base64 of user:password"),
        ('{"auths": {"r.example": {"auth": "' + base64.b64encode(b"nocolon").decode() + '"}}}', "user:password"),
    ],
)
def test_malformed_docker_config(tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(RegistryError, match=message) as caught:
        docker_credentials("r.example", path)
    assert "\n" not in str(caught.value)


def test_credential_helpers(tmp_path, monkeypatch):
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text(
        "#!/bin/sh\n"
        "read url\n"
        'case "$url" in\n'
        '  helped.example) echo \'{"ServerURL":"helped.example","Username":"helper","Secret":"s3cret"}\' ;;\n'
        '  https://index.docker.io/v1/) echo \'{"ServerURL":"hub","Username":"<token>","Secret":"idtoken"}\' ;;\n'
        "  *) echo 'credentials not found in native keychain'; exit 1 ;;\n"
        "esac\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"helped.example": "fake"}, "credsStore": "fake",
                                "auths": {"inline.example": {"auth": basic("i", "p")}}}))
    assert docker_credentials("helped.example", path) == Credentials("helper", "s3cret")
    assert docker_credentials("docker.io", path) == Credentials(identity_token="idtoken")
    assert docker_credentials("inline.example", path) == Credentials("i", "p")  # the store has none
    path.write_text(json.dumps({"credsStore": "not-installed", "auths": {"x.example": {"auth": basic("x", "y")}}}))
    assert docker_credentials("x.example", path) == Credentials("x", "y")


def test_credentials_never_show_their_secrets():
    text = repr(Credentials("alice", "hunter2", "tok"))
    assert "alice" in text and "hunter2" not in text and "tok'" not in text


# --- skopeo as the independent client on the other end ------------------------------------------------


def build_oci_layout(directory: Path, tag: str) -> dict[str, bytes]:
    """A one-layer image written by hand as an OCI image layout; returns its blobs by role."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        content = b"hello from an air-gapped layer\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        archive.addfile(info, io.BytesIO(content))
    layer = gzip.compress(tar_buffer.getvalue(), mtime=0)
    config = compact({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [sha256(tar_buffer.getvalue())]}})
    manifest = compact({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": sha256(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(layer),
                    "digest": sha256(layer)}],
    })
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for data in (layer, config, manifest):
        (blobs / sha256(data).split(":")[1]).write_bytes(data)
    (directory / "oci-layout").write_text('{\n    "imageLayoutVersion": "1.0.0"\n}')
    (directory / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "size": len(manifest), "digest": sha256(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }))
    return {"manifest": manifest, "config": config, "layer": layer}


def test_skopeo_pushes_and_the_client_reads(client, registry, skopeo, tmp_path):
    blobs = build_oci_layout(tmp_path / "layout", "v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1", f"docker://{registry}/interop/pushed:v1")
    manifest = client.get_manifest(registry, "interop/pushed", "v1")
    assert manifest.data == blobs["manifest"]  # copied unchanged, so the digest is preserved
    assert manifest.digest == sha256(blobs["manifest"]) and manifest.media_type == OCI_MANIFEST
    document = json.loads(manifest.data)
    assert client.get_blob(registry, "interop/pushed", document["config"]["digest"]) == blobs["config"]
    assert client.get_blob(registry, "interop/pushed", document["layers"][0]["digest"]) == blobs["layer"]


def test_client_pushes_and_skopeo_reads(client, registry, skopeo, tmp_path):
    image = Image(client, registry, "interop/ours", "v2", content=b"pushed by airlock")
    raw = skopeo.raw("inspect", "--tls-verify=false", "--raw", f"docker://{registry}/interop/ours:v2")
    assert raw == image.manifest
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry}/interop/ours:v2"))
    assert inspected["Digest"] == image.digest
    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{registry}/interop/ours:v2",
           f"oci:{tmp_path / 'out'}:v2")
    blobs = tmp_path / "out" / "blobs" / "sha256"
    assert (blobs / image.digest.split(":")[1]).read_bytes() == image.manifest
    assert (blobs / sha256(image.layer).split(":")[1]).read_bytes() == image.layer


def test_referrers_pushed_by_the_client_are_seen_by_skopeo(client, registry, skopeo):
    image = Image(client, registry, "interop/referred", "v1", content=b"referred")
    bundle = push_referrer(client, registry, "interop/referred", image.descriptor, b'{"b":1}', BUNDLE_TYPE)
    index_digest = client.add_referrer(registry, "interop/referred", image.digest, bundle)
    tag = referrers_tag(image.digest)
    raw = skopeo.raw("inspect", "--tls-verify=false", "--raw", f"docker://{registry}/interop/referred:{tag}")
    assert sha256(raw) == index_digest
    assert json.loads(raw)["manifests"][0]["digest"] == bundle["digest"]



def test_a_signature_tag_is_read_with_one_get(client, registry, monkeypatch):
    """Discovery reads the ``sha256-<hex>.sig`` manifest by its tag in one GET, as cosign does (a
    HEAD for its digest, then a GET by digest, cost the registry two requests for the same bytes);
    the manifest is still digest-checked, and a missing tag is no signature, not an error."""
    from airlock.oci import discovery
    from airlock.oci.reference import signature_tag
    from airlock.oci.sources import RegistrySource

    payload = b'{"critical": {}}'
    client.put_blob(registry, "sig/repo", EMPTY_CONFIG)
    client.put_blob(registry, "sig/repo", payload)
    layer = {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": len(payload),
             "digest": sha256(payload), "annotations": {"dev.cosignproject.cosign/signature": "c2ln"}}
    manifest = compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [layer],
                        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                                   "digest": EMPTY_DIGEST}})
    subject = sha256(b"the image")
    client.put_manifest(registry, "sig/repo", signature_tag(subject, "sig"), manifest, OCI_MANIFEST)
    source = RegistrySource(client, registry, "sig/repo")
    assert source.tagged_manifest(signature_tag(subject, "sig")) == (sha256(manifest), manifest)
    spy = Spy(client, monkeypatch)
    found = list(discovery.legacy_layers(source, subject))
    assert [(f.where, f.error, f.layer is not None) for f in found] == [(f"{signature_tag(subject, 'sig')} layer 0",
                                                                        None, True)]
    assert spy.methods() == ["GET", "GET"]  # the manifest by its tag, then the layer
    assert list(discovery.legacy_layers(source, sha256(b"unsigned"))) == []
