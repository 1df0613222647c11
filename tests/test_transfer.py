"""``save``/``load`` at the speed of the machine: jobs at a time, resumable, streamed, with progress.

Everything runs against Debian's docker-registry on 127.0.0.1, through ``LoggingProxy`` where a
test needs to see (or disturb) the requests: the order of pushes under concurrency, what a re-run
sends again, a connection dropped mid-upload, a blob corrupted in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.formats import cosign
from airlock.oci import layout as oci
from airlock.oci.registry import RegistryClient
from airlock.oci.transfer import run_bounded
from conftest import airlock_exe, one_line_error, run_cli
from image_layouts import GIB, add_image, add_sparse_gib_image, attach, key_layer, new_layout
from logging_proxy import LoggingProxy, logging_proxy
from registry_server import docker_registry

# --- run_bounded ----------------------------------------------------------------------------------


def test_run_bounded_keeps_order_and_its_bound():
    lock, running, most = threading.Lock(), [0], [0]

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return n * n

    assert run_bounded(3, range(20), work) == [n * n for n in range(20)]
    assert most[0] == 3  # really in parallel, never more than asked


def test_run_bounded_stops_at_the_first_failure():
    started = []

    def work(n: int) -> int:
        started.append(n)
        if n == 2:
            raise ValueError("item 2 is bad")
        time.sleep(0.01)
        return n

    with pytest.raises(ValueError, match="item 2 is bad"):
        run_bounded(2, range(100), work)
    assert len(started) < 10  # the rest were never started


def test_run_bounded_with_one_job_runs_in_this_thread():
    assert run_bounded(1, [1, 2], lambda n: threading.current_thread() is threading.main_thread()) == [True, True]


# --- layouts and helpers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def pub(key, tmp_path):
    path = tmp_path / "cosign.pub"
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def add_index(layout: oci.OciLayout, name: str, contents: list[bytes]) -> str:
    """A multi-platform image: an index over one single-layer manifest per content."""
    children = []
    for content in contents:
        config = json.dumps({"architecture": "amd64", "os": "linux", "variant": content.hex()[:8]}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                               "config": {"mediaType": oci.OCI_CONFIG, "size": len(config),
                                          "digest": layout.write_blob(config)},
                               "layers": [{"mediaType": oci.OCI_LAYER_TAR_GZIP, "size": len(content),
                                           "digest": layout.write_blob(content)}]}).encode()
        children.append({"mediaType": oci.OCI_MANIFEST, "size": len(manifest), "digest": layout.write_blob(manifest),
                         "platform": {"architecture": "amd64", "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": children}).encode()
    digest = layout.write_blob(index)
    layout.add_manifest({"mediaType": oci.OCI_INDEX, "size": len(index), "digest": digest,
                         "annotations": {oci.KIND: oci.KIND_IMAGE_INDEX, oci.REF_NAME: name}})
    return digest


def signed_layout(path, key, count: int, *, shared: bytes | None = None, index: bool = False) -> dict[str, str]:
    """A layout of ``count`` signed images named ``src.example/team/app<n>:v1`` (each with its own
    layer); returns name -> digest."""
    layout = new_layout(path)
    images = {}
    for n in range(count):
        name = f"src.example/team/app{n}:v1"
        if index and n == 0:
            digest = add_index(layout, name, [f"platform a of {n}".encode() * 50, f"platform b of {n}".encode() * 50])
        else:
            digest = add_image(layout, name, shared if shared is not None else f"layer of image {n}".encode() * 100)
        attach(layout, digest, [key_layer(key, cosign.simplesigning_payload(name.rsplit(":", 1)[0], digest))])
        images[name] = digest
    return images


def all_blobs(path) -> set[str]:
    """Every non-manifest blob of every image (and signature) of a layout."""
    layout = oci.OciLayout(str(path))
    found = set()
    for entry in layout.read_index()["manifests"]:
        for item in layout.walk(entry):
            if item["mediaType"] not in oci.MANIFEST_TYPES | oci.INDEX_TYPES:
                found.add(item["digest"])
    return found


def last_error(result) -> str:
    """A failed transfer: progress lines may come first, then exactly one ``Error:`` line, last."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 1 and "Traceback" not in result.stderr, result
    assert [line for line in lines if line.startswith("Error: ")] == lines[-1:], result.stderr
    return lines[-1]


def children(data: bytes) -> list[str]:
    document = json.loads(data)
    if "manifests" in document:
        return [m["digest"] for m in document["manifests"]]
    return [document["config"]["digest"], *(layer["digest"] for layer in document["layers"])]


@pytest.fixture()
def fresh(tmp_path):
    (tmp_path / "registry").mkdir()
    with docker_registry(directory=tmp_path / "registry") as host:
        yield host


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    monkeypatch.delenv("COSIGN_REPOSITORY", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")


# --- parallel, in order ---------------------------------------------------------------------------


def test_load_pushes_every_manifest_after_its_children_under_concurrency(fresh, key, pub, tmp_path):
    images = signed_layout(tmp_path / "layout", key, 12, index=True)
    with logging_proxy(fresh, delay=0.03) as proxy:
        result = run_cli("load", "--dir", tmp_path / "layout", "--all", f"{proxy.host}/mirror", "--jobs", "8")
        assert result.code == 0, result.stderr
        log = list(proxy.log)
        assert proxy.most_in_flight >= 4  # the uploads really overlapped
    # when each manifest PUT arrived, every child had been stored (uploaded, found, mounted or pushed)
    stored: dict[tuple[str, str], int] = {}  # (repository, digest) -> when the registry had it
    for exchange in log:
        repository = exchange.path[len("/v2/"):].split("/blobs/")[0].split("/manifests/")[0]
        if exchange.method == "PUT" and "/blobs/uploads/" in exchange.path and exchange.status == 201:
            stored.setdefault((repository, exchange.query["digest"][0]), exchange.done)
        elif exchange.method == "HEAD" and "/blobs/" in exchange.path and exchange.status == 200:
            stored.setdefault((repository, exchange.path.rsplit("/", 1)[1]), exchange.done)
        elif exchange.method == "POST" and "mount" in exchange.query and exchange.status == 201:
            stored.setdefault((repository, exchange.query["mount"][0]), exchange.done)
        elif exchange.method == "PUT" and "/manifests/" in exchange.path and exchange.status == 201:
            stored.setdefault((repository, "sha256:" + hashlib.sha256(exchange.body).hexdigest()), exchange.done)
    manifests = [e for e in log if e.method == "PUT" and "/manifests/" in e.path]
    assert len(manifests) >= 12 * 2
    for exchange in manifests:
        repository = exchange.path[len("/v2/"):].split("/manifests/")[0]
        for child in children(exchange.body):
            assert stored.get((repository, child), 1 << 30) < exchange.arrived, (exchange.path, child)
    client = RegistryClient()
    for name, digest in images.items():
        repository = "mirror/" + name.split("/", 1)[1].split(":")[0]
        assert client.head_manifest(fresh, repository, "v1").digest == digest
    verified = run_cli("verify", f"{fresh}/mirror/team/app0:v1", "--key", pub, "--insecure-ignore-tlog")
    assert verified.code == 0, verified.stderr


def test_load_mounts_a_blob_another_repository_already_has(fresh, key, tmp_path):
    shared = b"one layer for two repositories" * 100
    signed_layout(tmp_path / "layout", key, 2, shared=shared)
    layer = oci.sha256_digest(shared)
    with logging_proxy(fresh) as proxy:
        assert run_cli("load", "--dir", tmp_path / "layout", "--all", proxy.host, "--jobs", "1").code == 0
    assert proxy.uploaded().count(layer) == 1  # its bytes went over once
    [mount] = [e for e in proxy.log if e.method == "POST" and e.query.get("mount") == [layer]]
    assert mount.status == 201 and mount.query["from"] == ["team/app0"] and mount.path == "/v2/team/app1/blobs/uploads/"
    assert RegistryClient().blob_exists(fresh, "team/app1", layer)


# --- resumable ------------------------------------------------------------------------------------


def test_an_interrupted_load_sends_only_what_is_missing_when_run_again(fresh, key, tmp_path):
    images = signed_layout(tmp_path / "layout", key, 6)
    uploads = [0]
    dropped: list[str] = []

    def die_on_the_fifth_upload(method: str, path: str, query: dict) -> str | None:
        if method == "PUT" and "/blobs/uploads/" in path and "digest" in query:
            uploads[0] += 1
            if uploads[0] == 5:
                dropped.append(query["digest"][0])
                return "drop"
        return None

    with logging_proxy(fresh) as proxy:
        proxy.fault = die_on_the_fifth_upload
        target = f"{proxy.host}/mirror"
        error = last_error(run_cli("load", "--dir", tmp_path / "layout", "--all", target, "--jobs", "3"))
        assert re.fullmatch(rf"Error: registry {re.escape(proxy.host)}: PUT /v2/mirror/team/app\d/blobs/uploads/\S*: "
                            r"connection broken: .*", error), error
        first = set(proxy.uploaded())
        assert dropped and dropped[0] not in first
        proxy.log.clear()
        proxy.fault = lambda *_: None
        result = run_cli("load", "--dir", tmp_path / "layout", "--all", target, "--jobs", "3")
        assert result.code == 0, result.stderr
        again = proxy.uploaded()
    assert sorted(again) == sorted(set(again))  # each blob at most once
    assert set(again) == all_blobs(tmp_path / "layout") - first  # only what the first run did not send
    assert dropped[0] in again
    client = RegistryClient()
    for name, digest in images.items():
        assert client.head_manifest(fresh, "mirror/" + name.split("/", 1)[1].split(":")[0], "v1").digest == digest


def test_a_corrupted_blob_leaves_no_file_and_a_rerun_fetches_only_what_is_missing(fresh, key, pub, tmp_path):
    images = signed_layout(tmp_path / "source", key, 5)
    assert run_cli("load", "--dir", tmp_path / "source", "--all", fresh, "--quiet").code == 0
    references = [name.replace("src.example", fresh) for name in images]
    gets = [0]
    corrupted: list[str] = []

    def corrupt_the_fourth_blob(method: str, path: str, query: dict) -> str | None:
        if method == "GET" and "/blobs/" in path:
            gets[0] += 1
            if gets[0] == 4:
                corrupted.append(path)
                return "corrupt"
        return None

    saved = tmp_path / "saved"
    with logging_proxy(fresh) as proxy:
        proxy.fault = corrupt_the_fourth_blob
        through = [name.replace(fresh, proxy.host) for name in references]
        error = last_error(run_cli("save", *through, "--dir", saved, "--jobs", "1"))
        [path] = corrupted
        repository, digest = path[len("/v2/"):].split("/blobs/")
        assert re.fullmatch(rf"Error: registry {re.escape(proxy.host)} sent blob {digest} of {repository} with digest "
                            r"sha256:[0-9a-f]{64}", error), error
        blobs = saved / "blobs" / "sha256"
        assert not (blobs / digest[len("sha256:"):]).exists()
        assert not [name for name in os.listdir(blobs) if not re.fullmatch("[0-9a-f]{64}", name)]  # no temp files
        first = set(proxy.fetched())
        # index.json names only images that are complete on disk (those before the failure)
        listed = oci.OciLayout(str(saved)).read_index()["manifests"]
        for entry in listed:
            oci.OciLayout(str(saved)).check_image(entry)
        proxy.log.clear()
        proxy.fault = lambda *_: None
        result = run_cli("save", *through, "--dir", saved, "--jobs", "4")
        assert result.code == 0, result.stderr
        again = proxy.fetched()
    assert set(again) == all_blobs(tmp_path / "source") - (first - {digest})
    assert digest in again and sorted(again) == sorted(set(again))
    layout = oci.OciLayout(str(saved))
    assert {e["digest"] for e in layout.read_index()["manifests"]} >= set(images.values())
    result = run_cli("verify", "--local-image", saved, "--key", pub, "--insecure-ignore-tlog")
    assert result.code == 0, result.stderr


def test_a_save_killed_mid_blob_leaves_a_valid_layout_and_resumes(fresh, key, tmp_path):
    images = signed_layout(tmp_path / "source", key, 4)
    assert run_cli("load", "--dir", tmp_path / "source", "--all", fresh, "-q").code == 0
    saved = tmp_path / "saved"
    with logging_proxy(fresh) as proxy:
        proxy.stall = 0.3
        references = [name.replace("src.example", proxy.host) for name in images]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        process = subprocess.Popen([*airlock_exe(), "save", *references, "--dir", str(saved), "--jobs", "1", "-q"],
                                   env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while len(proxy.fetched()) < 3 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)
            time.sleep(0.1)  # into the stall of the next blob
        finally:
            process.kill()
            process.wait()
        assert len(proxy.fetched()) >= 3
        blobs = saved / "blobs" / "sha256"
        present = set()
        for name in os.listdir(blobs):
            if re.fullmatch("[0-9a-f]{64}", name):  # what is under a digest is that digest
                assert hashlib.sha256((blobs / name).read_bytes()).hexdigest() == name
                present.add(f"sha256:{name}")
        assert [name for name in os.listdir(blobs) if name.endswith(".tmp")]  # killed in the middle of a blob
        index = saved / "index.json"
        assert not index.exists() or json.loads(index.read_text())["manifests"] == []  # written only at the end
        proxy.stall = 0.0
        proxy.log.clear()
        [left] = [name for name in os.listdir(blobs) if name.endswith(".tmp")]
        live = blobs / ".blob-in-progress.tmp"  # as another save's download would be
        live.write_bytes(b"partial")
        old = time.time() - 3600
        os.utime(blobs / left, (old, old))
        result = run_cli("save", *references, "--dir", saved, "--jobs", "4", "-q")
        assert result.code == 0, result.stderr
        again = proxy.fetched()
        assert not (blobs / left).exists() and live.exists()  # the killed save's leftover swept, a live one kept
    assert set(again) == all_blobs(tmp_path / "source") - present
    layout = oci.OciLayout(str(saved))
    for entry in layout.read_index()["manifests"]:
        layout.check_image(entry)


def test_a_resave_replaces_a_damaged_manifest_and_fetches_no_blob(fresh, key, tmp_path):
    images = signed_layout(tmp_path / "source", key, 1)
    assert run_cli("load", "--dir", tmp_path / "source", "--all", fresh, "-q").code == 0
    [digest] = images.values()
    reference = f"{fresh}/team/app0:v1"
    assert run_cli("save", reference, "--dir", tmp_path / "saved", "-q").code == 0
    manifest = tmp_path / "saved" / "blobs" / "sha256" / digest[len("sha256:"):]
    data = manifest.read_bytes()
    manifest.write_bytes(data.replace(b"schemaVersion", b"schemaVersioN"))  # same size, another digest
    with logging_proxy(fresh) as proxy:
        result = run_cli("save", reference.replace(fresh, proxy.host), "--dir", tmp_path / "saved", "-q")
        assert result.code == 0, result.stderr
    assert manifest.read_bytes() == data
    assert proxy.fetched() == []  # every blob was there: none fetched again


# --- progress -------------------------------------------------------------------------------------


def test_progress_is_one_line_per_image_off_a_terminal_and_nothing_when_quiet(fresh, key, tmp_path):
    images = signed_layout(tmp_path / "source", key, 3)
    result = run_cli("load", "--dir", tmp_path / "source", "--all", f"{fresh}/m")
    assert result.code == 0, result.stderr
    assert sorted(result.stderr.splitlines()) == sorted(
        f"Loaded {fresh}/m/{name.split('/', 1)[1].split(':')[0]}@{digest}" for name, digest in images.items())
    references = [f"{fresh}/m/{name.split('/', 1)[1]}" for name in images]
    result = run_cli("save", *references, "--dir", tmp_path / "saved")
    assert sorted(result.stderr.splitlines()) == sorted(
        f"Saved {ref.rsplit(':', 1)[0]}@{digest}" for ref, digest in zip(references, images.values(), strict=True))
    quiet = run_cli("save", *references, "--dir", tmp_path / "again", "--quiet")
    assert (quiet.code, quiet.stderr) == (0, "")
    failed = run_cli("save", *references, f"{fresh}/m/team/missing:v1", "--dir", tmp_path / "more", "-q")
    assert one_line_error(failed).startswith(f"Error: registry {fresh}: GET /v2/m/team/missing/manifests/v1: 404")
    assert not (tmp_path / "more" / "index.json").exists() or not oci.OciLayout(
        str(tmp_path / "more")).read_index()["manifests"]  # nothing saved when an image cannot even be found


def test_progress_on_a_terminal_is_a_bar_with_bytes_images_rate(fresh, key, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    signed_layout(tmp_path / "source", key, 3)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0x0
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        process = subprocess.run([*airlock_exe(), "load", "--dir", str(tmp_path / "source"), "--all", f"{fresh}/tty"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=env, timeout=60)
        os.close(terminal)
        terminal = -1
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert process.returncode == 0
    text = output.decode(errors="replace")
    assert "3/3 images" in text
    assert re.search(r"load: 100%.*\d[kMG]?B/s", text), text  # bytes, done, rate
    assert "Loaded" not in text  # the bar instead of the lines


def test_the_cli_does_not_import_tqdm_to_start():
    code = "import sys; from airlock.cli import build_parser; build_parser(); print('tqdm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.strip() == "False"


@pytest.mark.parametrize("jobs", ["0", "65", "two"])
def test_jobs_must_be_a_small_whole_number(jobs, tmp_path):
    result = run_cli("save", "127.0.0.1:1/x:v1", "--dir", tmp_path / "layout", "--jobs", jobs)
    assert result.code == 2
    assert f"argument --jobs/-j: expected a whole number from 1 to 64, not '{jobs}'" in result.stderr


def test_load_all_refuses_an_image_reference_as_prefix(key, tmp_path):
    signed_layout(tmp_path / "source", key, 1)
    assert one_line_error(run_cli("load", "--dir", tmp_path / "source", "--all", "127.0.0.1:1/mirror:v2")) == (
        "Error: --all takes a registry[/path], not an image: 127.0.0.1:1/mirror:v2")
    assert one_line_error(run_cli("load", "--dir", tmp_path / "source", "--all", "127.0.0.1:1",
                                  "--image", "x")) == "Error: --all and --image cannot be used together"


@pytest.mark.parametrize(("prefix", "where"), [
    ("docker.io", ("index.docker.io", "")),  # not docker.io/library/<repository>: Hub's library/ is for one name
    ("index.docker.io/", ("index.docker.io", "")),
    ("docker.io/myorg", ("index.docker.io", "myorg")),
    ("127.0.0.1:5000", ("127.0.0.1:5000", "")),
    ("registry.internal/mirror/team/", ("registry.internal", "mirror/team")),
])
def test_load_all_destination_prefix(prefix, where):
    from airlock.cli.oci import load_prefix

    assert load_prefix(prefix) == where


# --- streaming: a 1 GiB layer in a bounded memory -------------------------------------------------

RSS_WRAPPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def peak_rss(*argv) -> int:
    """Run ``airlock argv`` as its own process; its peak resident set size in MiB."""
    process = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *airlock_exe(), *map(str, argv)],
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert process.returncode == 0, process.stderr
    return int(process.stdout.strip().splitlines()[-1]) // 1024


def test_a_1gib_layer_goes_through_save_load_verify_in_bounded_memory(fresh, key, pub, tmp_path):
    layout = new_layout(tmp_path / "big")
    digest, layer = add_sparse_gib_image(layout, "src.example/big/app:v1")
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload("src.example/big/app", digest))])

    loaded = peak_rss("load", "--dir", tmp_path / "big", f"{fresh}/big/app:v1", "-q")
    saved = peak_rss("save", f"{fresh}/big/app:v1", "--dir", tmp_path / "saved", "-q")
    verified = peak_rss("verify", "--local-image", tmp_path / "saved", "--key", pub, "--insecure-ignore-tlog")
    assert os.path.getsize(tmp_path / "saved" / "blobs" / "sha256" / layer[7:]) == GIB
    assert max(loaded, saved, verified) < 200, (loaded, saved, verified)


def test_proxy_helpers_see_what_they_claim(fresh):
    """The proxy the tests above rely on: it records uploads by digest and passes bytes unchanged."""
    with LoggingProxy(fresh) as proxy:
        client = RegistryClient()
        digest = client.put_blob(proxy.host, "check/proxy", b"some bytes")
        assert proxy.uploaded() == [digest]
        assert client.get_blob(proxy.host, "check/proxy", digest) == b"some bytes"
        assert proxy.fetched() == [digest]
