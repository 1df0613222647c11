"""The registry client, ``save`` and the CLI against a registry that misbehaves on purpose
(issue 8): headers and bodies sent one byte at a time, bodies and pages that never end, too many
referrers, manifests that are not what they are served as. Each rejection is asserted with its
exact message; every wait is bounded by a client timeout of about a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator

import pytest

from airlock.errors import RegistryError, UsageError
from airlock.oci import registry as module
from airlock.oci.registry import (
    DOCKER_MANIFEST_LIST,
    MAX_LIST_PAGES,
    MAX_REFERRERS,
    OCI_INDEX,
    OCI_MANIFEST,
    FetchBudget,
    RegistryClient,
    parse_timeout,
)
from conftest import run_cli
from registry_server import HostileRegistry

EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
CONFIG = {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": EMPTY_DIGEST}
TIMEOUT = 1.0
DRIP = 0.2  # one byte every 0.2 s: far inside any per-read timeout, never done within TIMEOUT


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


MANIFEST = compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG, "layers": []})


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with HostileRegistry() as server:
        yield server


@pytest.fixture
def client(tmp_path) -> RegistryClient:
    return RegistryClient(timeout=TIMEOUT, docker_config=tmp_path / "no-docker-config.json")


class Elapsed:
    def __enter__(self) -> Elapsed:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self.started


# --- deadlines ---------------------------------------------------------------------------------


def test_headers_sent_one_byte_at_a_time_hit_the_deadline(client, hostile):
    head = HostileRegistry.head(200, {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(MANIFEST))})
    hostile.routes["GET", "/v2/slow/repo/manifests/v1"] = lambda handler: hostile.drip(handler, head, DRIP)
    with Elapsed() as elapsed, pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "slow/repo", "v1")
    assert str(caught.value) == (f"registry {hostile.host}: GET /v2/slow/repo/manifests/v1: "
                                 "timed out (no answer within 1s)")
    assert elapsed.seconds < 3 * TIMEOUT


def test_a_manifest_body_sent_one_byte_at_a_time_hits_the_deadline(client, hostile):
    def slow_body(handler):
        handler.wfile.write(HostileRegistry.head(200, {"Content-Type": OCI_MANIFEST,
                                                       "Content-Length": str(len(MANIFEST))}))
        hostile.drip(handler, MANIFEST, DRIP)

    hostile.routes["GET", "/v2/slow/repo/manifests/v1"] = slow_body
    with Elapsed() as elapsed, pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "slow/repo", "v1")
    assert str(caught.value) == (f"registry {hostile.host}: GET /v2/slow/repo/manifests/v1: "
                                 "timed out (the manifest did not arrive within 1s)")
    assert elapsed.seconds < 3 * TIMEOUT


def test_a_body_cut_off_by_the_deadline_is_not_taken_for_a_whole_one(client, hostile):
    """No Content-Length, no chunking: the body ends when the connection does, and the deadline
    ends the connection; what came so far must not pass for the whole body."""
    tags = compact({"name": "slow/repo", "tags": ["v1"]})

    def close_delimited(handler):
        handler.wfile.write(HostileRegistry.head(200, {"Content-Type": "application/json", "Connection": "close"}))
        handler.wfile.write(tags)  # the whole document at once, then silence until the deadline
        hostile.closing.wait(3 * TIMEOUT)
        handler.close_connection = True

    hostile.routes["GET", "/v2/slow/repo/tags/list"] = close_delimited
    with pytest.raises(RegistryError) as caught:
        client.list_tags(hostile.host, "slow/repo")
    assert str(caught.value) == (f"registry {hostile.host}: GET /v2/slow/repo/tags/list: "
                                 "timed out (the tag list did not arrive within 1s)")


def test_a_blob_sent_one_byte_at_a_time_hits_the_deadline(tmp_path, hostile):
    blob = b"x" * 64
    digest = sha256(blob)
    client = RegistryClient(timeout=TIMEOUT, min_rate=128, docker_config=tmp_path / "none.json")  # 1 s + 0.5 s

    def slow_blob(handler):
        handler.wfile.write(HostileRegistry.head(200, {"Content-Length": str(len(blob))}))
        hostile.drip(handler, blob, DRIP)

    hostile.routes["GET", f"/v2/slow/repo/blobs/{digest}"] = slow_blob
    with pytest.raises(RegistryError) as caught:  # the drip would take 12.8 s: only a whole-transfer deadline stops it
        client.get_blob(hostile.host, "slow/repo", digest, limit=len(blob))
    assert str(caught.value) == (f"registry {hostile.host}: GET /v2/slow/repo/blobs/{digest}: "
                                 f"timed out (the blob {digest} did not arrive within 1.5s)")
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(RegistryError, match="timed out"):
        client.copy_blob_to(hostile.host, "slow/repo", digest, target / "blob", size=len(blob))
    assert os.listdir(target) == []  # nothing half-written


def test_a_slow_ping_hits_the_deadline(client, hostile):
    hostile.routes["GET", "/v2/"] = lambda handler: hostile.drip(handler, HostileRegistry.head(200, {}), DRIP)
    with Elapsed() as elapsed, pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "any/repo", "v1")
    assert str(caught.value) == f"cannot reach registry {hostile.host}: timed out (no answer within 1s)"
    assert elapsed.seconds < 3 * TIMEOUT


def test_the_connection_is_reused_after_a_deadline_elsewhere(client, hostile):
    """A request that timed out leaves no timer behind that could cut a later request short."""
    hostile.routes["GET", "/v2/ok/repo/manifests/v1"] = (200, {"Content-Type": OCI_MANIFEST}, MANIFEST)
    for _ in range(3):
        assert client.get_manifest(hostile.host, "ok/repo", "v1").data == MANIFEST
    time.sleep(TIMEOUT + 0.3)  # the deadlines of the requests above have all passed by now
    assert client.get_manifest(hostile.host, "ok/repo", "v1").data == MANIFEST


def test_deadlines_share_one_watchdog_thread(client, hostile, monkeypatch):
    """A request starts no thread of its own (a Timer each cost more than a loopback round trip),
    and a short deadline set while a long one is pending still expires on time."""
    import threading

    hostile.routes["GET", "/v2/ok/repo/manifests/v1"] = (200, {"Content-Type": OCI_MANIFEST}, MANIFEST)
    assert client.get_manifest(hostile.host, "ok/repo", "v1").data == MANIFEST  # the watchdog runs from here on
    started: list[str] = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (started.append(self.name), start(self))[1])
    for _ in range(20):
        assert client.get_manifest(hostile.host, "ok/repo", "v1").data == MANIFEST
    assert started == []
    monkeypatch.undo()
    pending = module._Deadline(60)  # the watchdog sleeps until this one, unless told of a sooner one
    try:
        head = HostileRegistry.head(200, {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(MANIFEST))})
        hostile.routes["GET", "/v2/slow/repo/manifests/v1"] = lambda handler: hostile.drip(handler, head, DRIP)
        with Elapsed() as elapsed, pytest.raises(RegistryError, match="timed out"):
            client.get_manifest(hostile.host, "slow/repo", "v1")
        assert elapsed.seconds < 3 * TIMEOUT
        assert not pending.expired
    finally:
        pending.done()


def test_an_extended_deadline_expires_at_its_new_time_only():
    short, extended = module._Deadline(0.2), module._Deadline(0.2)
    extended.extend(1.0)
    time.sleep(0.5)
    assert short.expired and not extended.expired
    time.sleep(0.8)
    assert extended.expired
    finished = module._Deadline(0.2)
    finished.done()
    time.sleep(0.4)
    assert not finished.expired  # a request that finished in time is never cut short


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("1.5", 1.5), ("90s", 90.0), ("5m", 300.0),
                                               ("1h", 3600.0), ("1m30s", 90.0)])
def test_timeout_durations(text, seconds, monkeypatch):
    assert parse_timeout(text) == seconds
    monkeypatch.setenv("AIRLOCK_REGISTRY_TIMEOUT", text)
    assert RegistryClient().timeout == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "abc", "5d", "nan", "inf", "1e9", "m", "3m2h"])
def test_invalid_timeouts_are_refused(text, monkeypatch):
    monkeypatch.setenv("AIRLOCK_REGISTRY_TIMEOUT", text)
    if text:
        with pytest.raises(UsageError) as caught:
            RegistryClient()
        assert str(caught.value) == (f"invalid AIRLOCK_REGISTRY_TIMEOUT {text!r}: expected seconds or a duration "
                                     "like 90s, 5m, 1h (more than 0, at most 24h)")
    else:
        assert RegistryClient().timeout == module.DEFAULT_TIMEOUT  # unset or empty: the default
    for bad in (0, -1, float("nan"), True):
        with pytest.raises(RegistryError, match=r"^invalid registry timeout .*: expected seconds, more than 0"):
            RegistryClient(timeout=bad)


# --- memory: what never ends, or is too much --------------------------------------------------


def test_a_blob_that_never_ends_is_cut_off_at_its_limit(client, hostile, tmp_path):
    digest = sha256(b"a layer")
    hostile.routes["GET", f"/v2/big/repo/blobs/{digest}"] = lambda handler: hostile.endless(handler, {})
    with pytest.raises(RegistryError) as caught:
        client.get_blob(hostile.host, "big/repo", digest, limit=1 << 20)
    assert str(caught.value) == (f"registry {hostile.host}: GET /v2/big/repo/blobs/{digest}: "
                                 f"blob {digest} exceeds the 1048576-byte limit")
    (tmp_path / "out").mkdir()
    with pytest.raises(RegistryError) as caught:
        client.copy_blob_to(hostile.host, "big/repo", digest, tmp_path / "out" / "blob", size=1000)
    assert str(caught.value) == (f"registry {hostile.host}: GET /v2/big/repo/blobs/{digest}: "
                                 f"blob {digest} exceeds the 1000-byte limit")
    assert os.listdir(tmp_path / "out") == []


def test_a_blob_shorter_than_its_descriptor_is_refused(client, hostile, tmp_path):
    blob = b"short"
    hostile.routes["GET", f"/v2/r/x/blobs/{sha256(blob)}"] = (200, {}, blob)
    (tmp_path / "out").mkdir()
    with pytest.raises(RegistryError) as caught:
        client.copy_blob_to(hostile.host, "r/x", sha256(blob), tmp_path / "out" / "blob", size=6)
    assert str(caught.value) == f"registry {hostile.host}: blob {sha256(blob)} is 5 bytes, its descriptor says 6"
    assert os.listdir(tmp_path / "out") == []
    with pytest.raises(RegistryError, match=r"claims 7 bytes, over the 6-byte limit$"):
        client.copy_blob_to(hostile.host, "r/x", sha256(blob), tmp_path / "out" / "blob", size=7, limit=6)
    assert client.copy_blob_to(hostile.host, "r/x", sha256(blob), tmp_path / "out" / "blob", size=5) == 5
    assert oct(os.stat(tmp_path / "out" / "blob").st_mode & 0o777) == "0o644"


def endless_pages(hostile: HostileRegistry, path: str, page: dict, content_type: str = "application/json"):
    def route(handler):
        number = int(re.search(r"page=(\d+)", handler.path).group(1)) if "page=" in handler.path else 0
        HostileRegistry.answer(handler, 200, {"Content-Type": content_type,
                                              "Link": f'<{path}?page={number + 1}>; rel="next"'}, compact(page))

    hostile.routes["GET", path] = route


def test_tag_pages_that_never_end(client, hostile):
    endless_pages(hostile, "/v2/pages/repo/tags/list", {"name": "pages/repo", "tags": ["a"]})
    with pytest.raises(RegistryError) as caught:
        client.list_tags(hostile.host, "pages/repo")
    assert str(caught.value) == (f"registry {hostile.host}: tag list pages of pages/repo do not end "
                                 f"(more than {MAX_LIST_PAGES} pages)")
    assert len(hostile.requests) == MAX_LIST_PAGES + 1  # the ping, then the pages


def test_referrers_pages_that_never_end(client, hostile):
    subject = sha256(b"subject")
    item = {"mediaType": OCI_MANIFEST, "size": 10, "digest": sha256(b"r"), "artifactType": "x/y"}
    endless_pages(hostile, f"/v2/pages/repo/referrers/{subject}",
                  {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [item]}, OCI_INDEX)
    with pytest.raises(RegistryError) as caught:
        client.referrers(hostile.host, "pages/repo", subject)
    assert str(caught.value) == (f"registry {hostile.host}: referrers pages of {subject} do not end "
                                 f"(more than {MAX_LIST_PAGES} pages)")


def test_big_pages_are_bounded_in_total(client, hostile, monkeypatch):
    monkeypatch.setattr(module, "MAX_LIST_BYTES", 2500)
    endless_pages(hostile, "/v2/pages/repo/tags/list", {"tags": [f"tag-{n:04}" for n in range(100)]})  # ~1 KB
    with pytest.raises(RegistryError) as caught:
        client.list_tags(hostile.host, "pages/repo")
    assert str(caught.value) == f"registry {hostile.host}: tag list pages of pages/repo exceed 2500 bytes in all"
    assert len(hostile.requests) == 1 + 3  # the ping, and pages until the third went over


def test_too_many_referrers_are_refused(client, hostile):
    subject = sha256(b"subject")
    items = [{"mediaType": OCI_MANIFEST, "size": 10, "digest": sha256(str(n).encode()), "artifactType": "x/y"}
             for n in range(MAX_REFERRERS + 1)]
    index = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": items})
    hostile.routes["GET", f"/v2/many/repo/referrers/{subject}"] = (200, {"Content-Type": OCI_INDEX}, index)
    with pytest.raises(RegistryError) as caught:
        client.referrers(hostile.host, "many/repo", subject)
    assert str(caught.value) == (f"registry {hostile.host}: {subject} has more than {MAX_REFERRERS} referrers; "
                                 "refusing them")
    # the same through the referrers tag schema (no Referrers API)
    del hostile.routes["GET", f"/v2/many/repo/referrers/{subject}"]
    other = RegistryClient(timeout=TIMEOUT, docker_config="/nonexistent/config.json")
    hostile.routes["GET", f"/v2/many/repo/manifests/{module.referrers_tag(subject)}"] = (
        200, {"Content-Type": OCI_INDEX}, index)
    with pytest.raises(RegistryError, match=f"has more than {MAX_REFERRERS} referrers; refusing them$"):
        other.referrers(hostile.host, "many/repo", subject)


def test_fetch_budget():
    budget = FetchBudget("signatures of sha256:abc", max_items=3, max_bytes=100)
    assert budget.take(40, "layer 0", limit=50) == 40
    with pytest.raises(RegistryError) as caught:
        budget.take(51, "layer 1", limit=50)
    assert str(caught.value) == "signatures of sha256:abc: layer 1 claims 51 bytes, over the limit of 50 for one item"
    for bad in (-1, True, "10", None):
        with pytest.raises(RegistryError, match=r"^signatures of sha256:abc: layer 1: invalid size"):
            budget.take(bad, "layer 1")
    budget.charge(50, "the .sig manifest")
    with pytest.raises(RegistryError) as caught:
        budget.take(11, "layer 1", limit=50)
    assert str(caught.value) == ("signatures of sha256:abc: layer 1 would bring the signature data over "
                                 "100 bytes in total")
    budget.take(10, "layer 1")
    budget.take(0, "layer 2")
    with pytest.raises(RegistryError) as caught:
        budget.take(0, "layer 3")
    assert str(caught.value) == "signatures of sha256:abc: more than 3 signatures, attestations and referrers"


# --- manifests that are not what they are served as --------------------------------------------

INDEX = compact({"schemaVersion": 2, "mediaType": OCI_INDEX,
                 "manifests": [{"mediaType": OCI_MANIFEST, "size": len(MANIFEST), "digest": sha256(MANIFEST)}]})
BARE_MANIFEST = compact({"schemaVersion": 2, "config": CONFIG, "layers": []})  # mediaType is optional
BARE_INDEX = compact({"schemaVersion": 2, "manifests": []})


@pytest.mark.parametrize(("served_as", "data", "message"), [
    (OCI_INDEX, MANIFEST, f"served as {OCI_INDEX}, but the document says mediaType '{OCI_MANIFEST}'"),
    (OCI_MANIFEST, INDEX, f"served as {OCI_MANIFEST}, but the document says mediaType '{OCI_INDEX}'"),
    (OCI_INDEX, BARE_MANIFEST, f"served as an index ({OCI_INDEX}), but it is not one "
                               "(it needs a 'manifests' list and no config or layers)"),
    (DOCKER_MANIFEST_LIST, BARE_MANIFEST, f"served as an index ({DOCKER_MANIFEST_LIST}), but it is not one "
                                          "(it needs a 'manifests' list and no config or layers)"),
    (OCI_MANIFEST, BARE_INDEX, f"served as an image manifest ({OCI_MANIFEST}), but it is not one "
                               "(it needs a config, a 'layers' list and no 'manifests')"),
    (OCI_MANIFEST, b"[1, 2]", "not a JSON object"),
    ("application/json", b"[]", "not a JSON object"),
    (OCI_MANIFEST, compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}),
     f"served as an image manifest ({OCI_MANIFEST}), but it is not one "
     "(it needs a config, a 'layers' list and no 'manifests')"),
    (OCI_MANIFEST, compact({"schemaVersion": 2, "config": CONFIG}),
     f"served as an image manifest ({OCI_MANIFEST}), but it is not one "
     "(it needs a config, a 'layers' list and no 'manifests')"),
    (OCI_MANIFEST, compact({"schemaVersion": 2, "config": None, "layers": []}),
     "config: a descriptor is not a JSON object"),
    (OCI_MANIFEST, compact({"schemaVersion": 2, "config": {"size": 2, "digest": EMPTY_DIGEST}, "layers": []}),
     "config: a descriptor has no mediaType"),
    (OCI_MANIFEST, compact({"schemaVersion": 2, "config": CONFIG, "layers": [7]}),
     "layers[0]: a descriptor is not a JSON object"),
    (OCI_INDEX, compact({"schemaVersion": 2, "manifests": [{"digest": "sha256:00", "size": 1}]}),
     "manifests[0]: a descriptor has no valid digest or size"),
    (OCI_MANIFEST, compact({"schemaVersion": 1, "config": CONFIG, "layers": []}), "schemaVersion is '1', not 2"),
    (OCI_MANIFEST, compact({"schemaVersion": True, "config": CONFIG, "layers": []}), "schemaVersion is 'True', not 2"),
    (OCI_MANIFEST, b'{"schemaVersion":2,"config":{},"config":' + compact(CONFIG) + b',"layers":[]}',
     "not valid JSON (duplicate key 'config')"),
    (OCI_MANIFEST, b'{"schemaVersion":NaN}', "not valid JSON (NaN is not JSON)"),
    (OCI_MANIFEST, b"[" * 100 + b"]" * 100, "JSON nested deeper than 64 levels"),
    (OCI_MANIFEST, b"\xff{}", "not valid JSON ("),
])
def test_manifest_must_be_what_it_is_served_as(client, hostile, served_as, data, message):
    hostile.routes["GET", "/v2/lying/repo/manifests/v1"] = (200, {"Content-Type": served_as}, data)
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "lying/repo", "v1")
    assert str(caught.value).startswith(f"registry {hostile.host}: manifest lying/repo:v1")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_manifests_served_as_what_they_are_pass(client, hostile):
    for served_as, data in ((OCI_MANIFEST, MANIFEST), (OCI_INDEX, INDEX), (OCI_MANIFEST, BARE_MANIFEST),
                            ("application/json", BARE_INDEX), ("", BARE_MANIFEST)):
        hostile.routes["GET", "/v2/fine/repo/manifests/v1"] = (200, {"Content-Type": served_as} if served_as else {},
                                                               data)
        manifest = client.get_manifest(hostile.host, "fine/repo", "v1")
        assert manifest.data == data
        assert manifest.media_type == (served_as if served_as.startswith("application/vnd") else
                                       OCI_INDEX if b"manifests" in data else OCI_MANIFEST)


@pytest.mark.parametrize("body", [b"[]", b'"token"', b"[" * 100 + b"]" * 100, b'{"token": 5}'])
def test_token_responses_that_are_not_objects(tmp_path, hostile, body):
    realm = f"http://{hostile.host}/token"
    hostile.routes["GET", "/v2/"] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'}, b"")
    hostile.routes["GET", "/token"] = (200, {"Content-Type": "application/json"}, body)
    client = RegistryClient(timeout=TIMEOUT, docker_config=tmp_path / "none.json")
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "r/x", "v1")
    assert str(caught.value).startswith(f"registry {hostile.host}: token response from /token")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("body", [b"[]", b'{"tags": {"a": 1}}', b'{"tags": [1]}', b"[" * 100 + b"]" * 100, b"null"])
def test_malformed_tag_lists(client, hostile, body):
    hostile.routes["GET", "/v2/r/x/tags/list"] = (200, {"Content-Type": "application/json"}, body)
    with pytest.raises(RegistryError) as caught:
        client.list_tags(hostile.host, "r/x")
    assert str(caught.value).startswith(f"registry {hostile.host}: tag list of r/x")


@pytest.mark.parametrize("body", [b"[]", b'{"manifests": {}}', b'{"manifests": [1]}', b"[" * 100 + b"]" * 100])
def test_malformed_referrers_pages(client, hostile, body):
    subject = sha256(b"s")
    hostile.routes["GET", f"/v2/r/x/referrers/{subject}"] = (200, {"Content-Type": OCI_INDEX}, body)
    with pytest.raises(RegistryError) as caught:
        client.referrers(hostile.host, "r/x", subject)
    assert str(caught.value).startswith(f"registry {hostile.host}: referrers of {subject}")


def test_error_bodies_nested_too_deeply_are_only_decoration(client, hostile):
    hostile.routes["GET", "/v2/r/x/manifests/v1"] = (500, {"Content-Type": "application/json"},
                                                     b'{"errors":' + b"[" * 5000 + b"]" * 5000 + b"}")
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "r/x", "v1")
    assert str(caught.value) == f"registry {hostile.host}: GET /v2/r/x/manifests/v1: 500 Internal Server Error"


def test_fetch_budget_refuses_a_count_before_fetching():
    budget = FetchBudget("signatures of sha256:abc", max_items=3)
    budget.take(1, "manifest")
    budget.expect(2, "manifest sha256:def")
    with pytest.raises(RegistryError) as caught:
        budget.expect(3, "manifest sha256:def")
    assert str(caught.value) == ("signatures of sha256:abc: manifest sha256:def lists 3 more, over the limit of 3 "
                                 "signatures, attestations and referrers")


# --- save and verify, end to end ----------------------------------------------------------------

LAYER = b"layer bytes " * 8
CONFIG_BLOB = b"{}"
IMAGE = compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG,
                 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(LAYER),
                             "digest": sha256(LAYER)}]})


def serve_manifest(hostile: HostileRegistry, repository: str, data: bytes, served_as: str, *refs: str) -> str:
    """Serve ``data`` as ``served_as`` by digest and under each tag of ``refs`` (GET and HEAD)."""
    digest = sha256(data)
    for ref in (digest, *refs):
        headers = {"Content-Type": served_as, "Docker-Content-Digest": digest}
        hostile.routes["GET", f"/v2/{repository}/manifests/{ref}"] = (200, headers, data)
        hostile.routes["HEAD", f"/v2/{repository}/manifests/{ref}"] = (
            200, {**headers, "Content-Length": str(len(data))}, b"")
    return digest


def serve_image(hostile: HostileRegistry, repository: str, *, manifest: bytes = IMAGE,
                served_as: str = OCI_MANIFEST, layer=LAYER) -> str:
    hostile.routes["GET", f"/v2/{repository}/blobs/{EMPTY_DIGEST}"] = (200, {}, CONFIG_BLOB)
    hostile.routes["GET", f"/v2/{repository}/blobs/{sha256(LAYER)}"] = layer if callable(layer) else (200, {}, layer)
    return serve_manifest(hostile, repository, manifest, served_as, "v1")


def failed(result) -> str:
    """The failure contract for a command that reports progress first: non-zero, no traceback, last line Error."""
    assert result.code != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: "), result.stderr
    return lines[-1]


def layout_is_untouched(directory) -> None:
    """index.json lists nothing, and no partial or temporary blob is left (only whole, verified blobs)."""
    assert json.loads((directory / "index.json").read_text())["manifests"] == []
    blobs = directory / "blobs" / "sha256"
    for name in os.listdir(blobs) if blobs.exists() else []:
        assert not name.startswith("."), name
        assert sha256((blobs / name).read_bytes()) == f"sha256:{name}"


@pytest.fixture
def cli_timeout(monkeypatch):
    monkeypatch.setenv("AIRLOCK_REGISTRY_TIMEOUT", str(TIMEOUT))
    monkeypatch.delenv("COSIGN_REPOSITORY", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")


def test_save_refuses_an_image_manifest_served_as_an_index(hostile, tmp_path, cli_timeout):
    bare = compact({"schemaVersion": 2, "config": CONFIG, "layers": json.loads(IMAGE)["layers"]})
    serve_image(hostile, "lying/repo", manifest=bare, served_as=OCI_INDEX)
    result = run_cli("save", f"{hostile.host}/lying/repo:v1", "--dir", tmp_path / "layout")
    assert failed(result) == (f"Error: registry {hostile.host}: manifest lying/repo:v1: served as an index "
                              f"({OCI_INDEX}), but it is not one (it needs a 'manifests' list and no config or layers)")
    assert "Saved" not in result.stderr
    layout_is_untouched(tmp_path / "layout")
    # with its own mediaType, the document gives the lie away too
    serve_image(hostile, "lying/other", served_as=OCI_INDEX)
    assert failed(run_cli("save", f"{hostile.host}/lying/other:v1", "--dir", tmp_path / "layout")) == (
        f"Error: registry {hostile.host}: manifest lying/other:v1: served as {OCI_INDEX}, "
        f"but the document says mediaType '{OCI_MANIFEST}'")
    layout_is_untouched(tmp_path / "layout")


def test_save_refuses_a_child_served_as_another_type(hostile, tmp_path, cli_timeout):
    child = compact({"schemaVersion": 2, "config": CONFIG, "layers": json.loads(IMAGE)["layers"]})
    serve_image(hostile, "multi/repo", manifest=child, served_as="application/vnd.docker.distribution.manifest.v2+json")
    index = compact({"schemaVersion": 2, "mediaType": OCI_INDEX,
                     "manifests": [{"mediaType": OCI_MANIFEST, "size": len(child), "digest": sha256(child)}]})
    serve_manifest(hostile, "multi/repo", index, OCI_INDEX, "v2")
    assert failed(run_cli("save", f"{hostile.host}/multi/repo:v2", "--dir", tmp_path / "layout")) == (
        f"Error: registry {hostile.host}: manifest {sha256(child)} is served as "
        f"application/vnd.docker.distribution.manifest.v2+json, but it is listed as {OCI_MANIFEST}")
    layout_is_untouched(tmp_path / "layout")


@pytest.mark.parametrize(("data", "reason"), [
    (b"[]", "not a JSON object"),
    (compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}),
     f"served as an image manifest ({OCI_MANIFEST}), but it is not one "
     "(it needs a config, a 'layers' list and no 'manifests')"),
])
def test_save_explains_a_malformed_manifest(hostile, tmp_path, cli_timeout, data, reason):
    serve_manifest(hostile, "odd/repo", data, OCI_MANIFEST, "v1")
    result = run_cli("save", f"{hostile.host}/odd/repo:v1", "--dir", tmp_path / "layout")
    assert failed(result) == f"Error: registry {hostile.host}: manifest odd/repo:v1: {reason}"
    assert "internal error" not in result.stderr


def test_save_streams_a_layer_and_stops_at_its_size(hostile, tmp_path, cli_timeout):
    serve_image(hostile, "endless/repo", layer=lambda handler: hostile.endless(handler, {}))
    result = run_cli("save", f"{hostile.host}/endless/repo:v1", "--dir", tmp_path / "layout")
    assert failed(result) == (f"Error: registry {hostile.host}: GET /v2/endless/repo/blobs/{sha256(LAYER)}: "
                              f"blob {sha256(LAYER)} exceeds the {len(LAYER)}-byte limit")
    layout_is_untouched(tmp_path / "layout")
    assert not (tmp_path / "layout" / "blobs" / "sha256" / sha256(LAYER)[7:]).exists()


def test_save_of_a_slow_layer_hits_the_deadline(hostile, tmp_path, cli_timeout):
    def slow(handler):
        handler.wfile.write(HostileRegistry.head(200, {"Content-Length": str(len(LAYER))}))
        hostile.drip(handler, LAYER, DRIP)

    serve_image(hostile, "slow/repo", layer=slow)
    result = run_cli("save", f"{hostile.host}/slow/repo:v1", "--dir", tmp_path / "layout")
    assert failed(result) == (f"Error: registry {hostile.host}: GET /v2/slow/repo/blobs/{sha256(LAYER)}: "
                              f"timed out (the blob {sha256(LAYER)} did not arrive within 1s)")
    layout_is_untouched(tmp_path / "layout")


def test_save_then_verify_works_with_a_well_behaved_registry(hostile, tmp_path, cli_timeout):
    from airlock.oci.layout import OciLayout

    digest = serve_image(hostile, "good/repo")
    result = run_cli("save", f"{hostile.host}/good/repo:v1", "--dir", tmp_path / "layout")
    assert result.code == 0, result.stderr
    layout = OciLayout(str(tmp_path / "layout"))
    assert [e["digest"] for e in layout.read_index()["manifests"]] == [digest]
    assert layout.read_blob(sha256(LAYER), size=len(LAYER), limit=1 << 20) == LAYER
    assert oct(os.stat(tmp_path / "layout" / "blobs" / "sha256" / sha256(LAYER)[7:]).st_mode & 0o777) == "0o644"
    layout_blobs = sorted(os.listdir(tmp_path / "layout" / "blobs" / "sha256"))
    assert layout_blobs == sorted(d[7:] for d in (digest, EMPTY_DIGEST, sha256(LAYER)))


def signature_manifest(layers: list[dict]) -> bytes:
    return compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                               "digest": EMPTY_DIGEST}, "layers": layers})


def sig_layer(size: int, n: int = 0) -> dict:
    return {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": size,
            "digest": sha256(f"payload {n}".encode()), "annotations": {"dev.cosignproject.cosign/signature": "x"}}


def test_save_bounds_the_signatures_it_fetches(hostile, tmp_path, cli_timeout):
    digest = serve_image(hostile, "signed/repo")
    tag = f"sha256-{digest[7:]}.sig"
    big = signature_manifest([sig_layer(5 << 20)])  # one 5 MiB "signature payload"
    serve_manifest(hostile, "signed/repo", big, OCI_MANIFEST, tag)
    assert failed(run_cli("save", f"{hostile.host}/signed/repo:v1", "--dir", tmp_path / "layout")) == (
        f"Error: signatures of {digest}: blob {sha256(b'payload 0')} claims 5242880 bytes, over the limit "
        "of 4194304 for one item")
    layout_is_untouched(tmp_path / "layout")

    many = signature_manifest([sig_layer(100, n) for n in range(1000)])  # + the config: 1001 children
    serve_manifest(hostile, "signed/repo", many, OCI_MANIFEST, tag)
    hostile.requests.clear()
    assert failed(run_cli("save", f"{hostile.host}/signed/repo:v1", "--dir", tmp_path / "layout")) == (
        f"Error: signatures of {digest}: manifest {sha256(many)} lists 1001 more, over the limit of 1000 "
        "signatures, attestations and referrers")
    payloads = {f"/v2/signed/repo/blobs/{sha256(f'payload {n}'.encode())}" for n in range(1000)}
    assert not [path for _, path in hostile.requests if path in payloads]  # refused before fetching any
    layout_is_untouched(tmp_path / "layout")


def test_verify_against_a_stalling_registry_fails_in_time(hostile, tmp_path, cli_timeout):
    head = HostileRegistry.head(200, {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(IMAGE))})
    hostile.routes["GET", "/v2/slow/repo/manifests/v1"] = lambda handler: hostile.drip(handler, head, DRIP)
    key = tmp_path / "cosign.pub"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with Elapsed() as elapsed:
        result = run_cli("verify", f"{hostile.host}/slow/repo:v1", "--key", key, "--insecure-ignore-tlog")
    assert failed(result) == (f"Error: registry {hostile.host}: GET /v2/slow/repo/manifests/v1: "
                              "timed out (no answer within 1s)")
    assert elapsed.seconds < 3 * TIMEOUT


# --- answers that used to crash -------------------------------------------------------------------


@pytest.mark.parametrize(("link", "reason"), [
    ("http://[bad/v2/r/x/tags/list", "invalid next-page link 'http://[bad/v2/r/x/tags/list'"),
    ("http://198.51.100.7/v2/r/x/tags/list?n=1", "next-page link 'http://198.51.100.7/v2/r/x/tags/list?n=1' "
                                                 "leaves the registry"),
    ("https://HOST/v2/r/x/tags/list", "next-page link 'https://HOST/v2/r/x/tags/list' leaves the registry"),
])
def test_hostile_next_page_links(client, hostile, link, reason):
    link, reason = link.replace("HOST", hostile.host), reason.replace("HOST", hostile.host)
    hostile.routes["GET", "/v2/r/x/tags/list"] = (200, {"Content-Type": "application/json",
                                                        "Link": f'<{link}>; rel="next"'}, b'{"tags":["a"]}')
    with pytest.raises(RegistryError) as caught:
        client.list_tags(hostile.host, "r/x")
    assert str(caught.value) == f"registry {hostile.host}: tag list of r/x: {reason}"
    subject = sha256(b"s")
    path = f"/v2/r/x/referrers/{subject}"
    index = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    hostile.routes["GET", path] = (200, {"Content-Type": OCI_INDEX, "Link": f'<{link}>; rel="next"'}, index)
    with pytest.raises(RegistryError) as caught:
        client.referrers(hostile.host, "r/x", subject)
    assert str(caught.value) == f"registry {hostile.host}: referrers of {subject}: {reason}"


def test_invalid_upload_location(client, hostile):
    blob = b"data"
    hostile.routes["POST", "/v2/r/x/blobs/uploads/"] = (202, {"Location": "http://[bad/upload"}, b"")
    with pytest.raises(RegistryError) as caught:
        client.put_blob(hostile.host, "r/x", blob)
    assert str(caught.value) == f"registry {hostile.host}: upload answer has an invalid Location 'http://[bad/upload'"


@pytest.mark.parametrize("realm", ["http://[bad/token", "ftp://x/token", ""])
def test_unusable_token_realm(client, hostile, realm):
    hostile.routes["GET", "/v2/"] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'}, b"")
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "r/x", "v1")
    assert str(caught.value) == f"registry {hostile.host}: Bearer challenge has no usable realm {realm!r}"


def test_a_token_that_expires_in_a_googol_seconds(client, hostile):
    realm = f"http://{hostile.host}/token"
    hostile.routes["GET", "/v2/"] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'}, b"")
    hostile.routes["GET", "/token"] = (200, {"Content-Type": "application/json"},
                                       b'{"token": "t", "expires_in": 1' + b"0" * 400 + b"}")
    hostile.routes["GET", "/v2/r/x/manifests/v1"] = (200, {"Content-Type": OCI_MANIFEST}, MANIFEST)
    assert client.get_manifest(hostile.host, "r/x", "v1").data == MANIFEST


@pytest.mark.parametrize("tamper", ["symlink", "fifo", "longer", "other bytes", "missing"])
def test_load_streams_layers_from_checked_files(hostile, tmp_path, cli_timeout, tamper):
    """load uploads a layer from its file (no longer all in memory), checked as read_blob checks."""
    serve_image(hostile, "good/repo")
    assert run_cli("save", f"{hostile.host}/good/repo:v1", "--dir", tmp_path / "layout").code == 0
    layer = tmp_path / "layout" / "blobs" / "sha256" / sha256(LAYER)[7:]
    layer.unlink()
    if tamper == "symlink":
        (tmp_path / "elsewhere").write_bytes(LAYER)
        layer.symlink_to(tmp_path / "elsewhere")
    elif tamper == "fifo":
        os.mkfifo(layer)
    elif tamper == "longer":
        layer.write_bytes(LAYER + b"!")
    elif tamper == "other bytes":
        layer.write_bytes(LAYER.upper())
    where = f"OCI layout {tmp_path / 'layout'}: blob {sha256(LAYER)}"
    expected = {
        "symlink": f"{where}: cannot read it (Too many levels of symbolic links; a symlink?)",
        "fifo": f"{where} is not a regular file",
        "longer": f"{where} is {len(LAYER) + 1} bytes, the descriptor says {len(LAYER)}",
        "other bytes": f"{where} does not match its digest or size",
        "missing": f"{where} is missing",
    }[tamper]
    hostile.routes["HEAD", f"/v2/moved/repo/blobs/{EMPTY_DIGEST}"] = (200, {}, b"")  # the config is there
    with Elapsed() as elapsed:
        result = run_cli("load", "--dir", tmp_path / "layout", f"{hostile.host}/moved/repo:v1")
    assert failed(result) == f"Error: {expected}"
    assert elapsed.seconds < 2 * TIMEOUT
    assert not [method for method, _ in hostile.requests if method in ("PUT", "POST", "PATCH")]


def test_client_options_are_checked(tmp_path, hostile):
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(RegistryError, match=r"^invalid minimum transfer rate .*: expected bytes per second"):
            RegistryClient(min_rate=bad)
    for bad in (1e12, 86401, float("inf")):  # 1e12 s overflowed socket.settimeout: an internal error
        with pytest.raises(RegistryError) as caught:
            RegistryClient(timeout=bad)
        assert str(caught.value) == f"invalid registry timeout {str(bad)!r}: expected seconds, more than 0, at most 24h"
    # a blob deadline longer than a timer can wait is capped, not an error in the timer's thread
    blob = b"blob"
    hostile.routes["GET", f"/v2/r/x/blobs/{sha256(blob)}"] = (200, {}, blob)
    patient = RegistryClient(timeout=86400, min_rate=1, docker_config=tmp_path / "none.json")
    assert patient.get_blob(hostile.host, "r/x", sha256(blob), limit=10**15) == blob


def test_a_slow_token_service_hits_the_deadline(client, hostile):
    realm = f"http://{hostile.host}/token"
    hostile.routes["GET", "/v2/"] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'}, b"")
    head = HostileRegistry.head(200, {"Content-Type": "application/json", "Content-Length": "20"})
    hostile.routes["GET", "/token"] = lambda handler: hostile.drip(handler, head, DRIP)
    with Elapsed() as elapsed, pytest.raises(RegistryError) as caught:
        client.get_manifest(hostile.host, "r/x", "v1")
    assert str(caught.value) == (f"registry {hostile.host}: token request to /token failed: "
                                 "timed out (no answer within 1s)")
    assert elapsed.seconds < 3 * TIMEOUT


def test_a_redirect_to_a_slow_place_is_under_the_same_deadline(client, hostile):
    """Blobs are often redirected (to a CDN); the connection made for the redirect is watched too."""
    blob = b"x" * 32
    digest = sha256(blob)
    hostile.routes["GET", f"/v2/r/x/blobs/{digest}"] = (307, {"Location": f"http://{hostile.host}/cdn/blob"}, b"")

    def slow(handler):
        handler.wfile.write(HostileRegistry.head(200, {"Content-Length": str(len(blob))}))
        hostile.drip(handler, blob, DRIP)

    hostile.routes["GET", "/cdn/blob"] = slow
    with Elapsed() as elapsed, pytest.raises(RegistryError) as caught:
        client.get_blob(hostile.host, "r/x", digest, limit=len(blob))
    assert str(caught.value) == (f"registry {hostile.host}: GET /v2/r/x/blobs/{digest}: "
                                 f"timed out (the blob {digest} did not arrive within 1s)")
    assert elapsed.seconds < 3 * TIMEOUT
    assert ("GET", "/cdn/blob") in hostile.requests


def test_a_write_error_is_not_blamed_on_the_registry(client, hostile, tmp_path, monkeypatch):
    blob = b"some blob"
    hostile.routes["GET", f"/v2/r/x/blobs/{sha256(blob)}"] = (200, {}, blob)

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        client.copy_blob_to(hostile.host, "r/x", sha256(blob), Full())
    (tmp_path / "out").mkdir()
    real_fdopen = os.fdopen

    def full_disk(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        monkeypatch.setattr(handle, "write", Full().write, raising=False)
        return handle

    monkeypatch.setattr(module.os, "fdopen", full_disk)
    with pytest.raises(RegistryError) as caught:
        client.copy_blob_to(hostile.host, "r/x", sha256(blob), tmp_path / "out" / "blob")
    assert str(caught.value) == (f"cannot write blob {sha256(blob)} to {tmp_path / 'out' / 'blob'}: "
                                 "No space left on device")
    assert os.listdir(tmp_path / "out") == []
    # and the client is fine afterwards
    assert client.get_blob(hostile.host, "r/x", sha256(blob)) == blob
