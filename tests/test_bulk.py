"""Many images in one run: bulk verification across processes (``verify --jobs``,
``airlock.verify_images``) and batch signing (``sign`` of several images writes index.json once)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import airlock
from airlock.errors import UsageError, VerificationError
from airlock.formats import cosign
from airlock.oci import layout as oci
from airlock.oci.registry import RegistryClient
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
from conftest import one_line_error, run_cli
from image_layouts import add_image, attach, key_layer, keyless_layer, new_layout
from test_registry_roundtrip import attach_signatures, push_image

KEY_FLAGS = ("--insecure-ignore-tlog",)


def _pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A layout of 6 images: 4 signed by ``key``, one by another key, one unsigned."""
    base = tmp_path_factory.mktemp("bulk")
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    layout = new_layout(base / "layout")
    good, names = [], {}
    for i in range(6):
        name = f"registry.local/bulk/app{i}:1"
        digest = add_image(layout, name, b"layer %d" % i)
        names[i] = f"{name}@{digest}"
        payload = cosign.simplesigning_payload(f"registry.local/bulk/app{i}", digest)
        if i < 4:
            attach(layout, digest, [key_layer(key, payload)])
            good.append(digest)
        elif i == 4:
            attach(layout, digest, [key_layer(other, payload)])
    (base / "key.pub").write_bytes(_pem(key))
    return base / "layout", str(base / "key.pub"), good, names


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_mixed_layout_reports_each_bad_image_and_exits_1(mixed, jobs):
    layout, pub, _, names = mixed
    result = run_cli("verify", "--local-image", layout, "--key", pub, *KEY_FLAGS, "--jobs", jobs)
    error = one_line_error(result)
    assert result.code == 1 and result.stdout == ""  # fail closed: nothing reported as verified
    assert f"{names[4]}: no signatures verified (" in error and "signature: " in error
    assert f"{names[5]}: no signatures verified (no signatures found)" in error
    assert not any(names[i] in error for i in range(4))


def test_same_verdicts_in_one_process_and_across_processes(mixed):
    layout, pub, good, _ = mixed
    source = airlock.layout_source(str(layout))
    targets = airlock.layout_targets(source)
    options = {"key": Path(pub).read_bytes(), "options": airlock.VerificationOptions(insecure_ignore_tlog=True)}
    one = list(airlock.verify_images(targets, airlock.api.Verifier(None), jobs=1, **options))
    many = list(airlock.verify_images(targets, airlock.api.Verifier(None), jobs=3, **options))
    assert [v.reference for v in many] == [t.reference for t in targets]  # in order
    assert [(v.ok, v.failure) for v in many] == [(v.ok, v.failure) for v in one]
    assert [v.digest for v in many if v.ok] == good
    rejected = many[4].rejected[0].error  # a VerificationError made in a worker, intact here
    assert isinstance(rejected, VerificationError) and rejected.check == "signature"


def test_all_good_json_has_one_payload_per_image(mixed, tmp_path):
    layout, pub, good, names = mixed
    wanted = [names[i] for i in range(4)]
    result = run_cli("verify", "--local-image", layout, "--key", pub, *KEY_FLAGS, "--jobs", "2", *wanted)
    assert result.code == 0, result.stderr
    payloads = json.loads(result.stdout)
    assert [p["critical"]["image"]["docker-manifest-digest"] for p in payloads] == good
    assert [line for line in result.stderr.splitlines() if line.startswith("Verification for ")] == \
        [f"Verification for {name} --" for name in wanted]


def test_processes_are_used_and_threads_are_never_forked(mixed, monkeypatch):
    import os
    import threading

    from airlock.api import images

    pids: list[int] = []
    real = images.verify_target

    def recording(*args, **kwargs):
        pids.append(os.getpid())  # in a worker, this list is the worker's copy: it stays empty here
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "verify_target", recording)
    layout, pub, good, _ = mixed
    targets = airlock.layout_targets(airlock.layout_source(str(layout)))
    options = {"key": Path(pub).read_bytes(), "options": airlock.VerificationOptions(insecure_ignore_tlog=True)}
    forked = list(images.verify_images(targets, airlock.api.Verifier(None), jobs=2, **options))
    assert pids == [] and [v.digest for v in forked if v.ok] == good
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        threaded = list(images.verify_images(targets, airlock.api.Verifier(None), jobs=2, **options))
    finally:
        stop.set()
        thread.join()
    assert pids == [os.getpid()] * len(targets) and [v.digest for v in threaded if v.ok] == good


def _deadline_in_child(_: int) -> bool:
    from airlock.oci import registry

    deadline = registry._Deadline(0.2)
    time.sleep(0.6)
    return deadline.expired


def test_the_registry_deadline_watchdog_does_not_keep_workers_from_forking(mixed, monkeypatch):
    """The one thread a registry client leaves running (its deadline watchdog) is fork-safe: the
    process still forks its workers, and a worker's own deadlines expire under a watchdog of its own."""
    import multiprocessing
    import os
    import threading
    from concurrent.futures import ProcessPoolExecutor

    from airlock.api import images
    from airlock.oci import registry

    pending = registry._Deadline(60)  # the watchdog runs from here on, as after any registry request
    try:
        assert [t.name for t in threading.enumerate() if registry.fork_safe(t)] == ["airlock-registry-deadlines"]
        pids: list[int] = []
        real = images.verify_target

        def recording(*args, **kwargs):
            pids.append(os.getpid())
            return real(*args, **kwargs)

        monkeypatch.setattr(images, "verify_target", recording)
        layout, pub, good, _ = mixed
        targets = airlock.layout_targets(airlock.layout_source(str(layout)))
        options = {"key": Path(pub).read_bytes(), "options": airlock.VerificationOptions(insecure_ignore_tlog=True)}
        forked = list(images.verify_images(targets, airlock.api.Verifier(None), jobs=2, **options))
        assert pids == [] and [v.digest for v in forked if v.ok] == good
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            assert list(pool.map(_deadline_in_child, [0])) == [True]
        assert not pending.expired
    finally:
        pending.done()


def test_keyless_verdicts_cross_processes_whole():
    """Certificates and identities survive the trip back from a worker."""
    inst = SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        layout = new_layout(directory + "/layout")
        for i in range(3):
            digest = add_image(layout, f"registry.local/k/app{i}:1", b"k %d" % i)
            attach(layout, digest, [keyless_layer(inst, cosign.simplesigning_payload("registry.local/k", digest))])
        root = airlock.TrustedRoot.from_file(str(inst.write_trusted_root(directory + "/root.json")))
        policy = airlock.Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
        targets = airlock.layout_targets(airlock.layout_source(directory + "/layout"))
        verdicts = list(airlock.verify_images(targets, airlock.api.Verifier(root), jobs=2, policy=policy))
    assert all(v.ok for v in verdicts) and len(verdicts) == 3
    for verdict in verdicts:
        [check] = verdict.verified
        assert check.verdict.identity == DEFAULT_IDENTITY and check.material.leaf is not None
        assert "certificate-chain" in [name for name, _ in check.verdict.checks]


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_jobs_must_be_a_positive_number(mixed, value):
    layout, pub, _, _ = mixed
    result = run_cli("verify", "--local-image", layout, "--key", pub, *KEY_FLAGS, "--jobs", value)
    assert result.code == 2 and f"--jobs: {value!r} is not a number of processes (1 or more)" in result.stderr


def test_api_refuses_zero_jobs(mixed):
    targets = airlock.layout_targets(airlock.layout_source(str(mixed[0])))
    with pytest.raises(UsageError, match=r"--jobs 0: expected a whole number"):
        list(airlock.verify_images(targets, airlock.api.Verifier(None), jobs=0))


def test_several_registry_references(registry, tmp_path):
    client = RegistryClient()
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pub").write_bytes(_pem(key))
    digests = [push_image(client, registry, f"bulk/app{i}", tmp_path, b"bulk %d" % i) for i in range(3)]
    for i in (0, 1):
        payload = cosign.simplesigning_payload(f"{registry}/bulk/app{i}", digests[i])
        attach_signatures(client, registry, f"bulk/app{i}", digests[i], [key_layer(key, payload)])
    images = [f"{registry}/bulk/app{i}:v1" for i in range(3)]
    flags = ("--key", tmp_path / "key.pub", *KEY_FLAGS, "--allow-insecure-registry", "--jobs", "2")
    good = run_cli("verify", *flags, *images[:2])
    assert good.code == 0, good.stderr
    assert [p["critical"]["image"]["docker-manifest-digest"] for p in json.loads(good.stdout)] == digests[:2]
    error = one_line_error(run_cli("verify", *flags, *images))
    assert f"{registry}/bulk/app2:v1@{digests[2]}: no signatures verified (no signatures found)" in error
    assert "bulk/app0@" not in error and "bulk/app1@" not in error


# -- batch signing ---------------------------------------------------------------------------------------

@pytest.fixture()
def index_writes(monkeypatch):
    """Count the index.json writes of every layout (the real write still happens)."""
    writes: list[str] = []
    real = oci.OciLayout.write_index

    def counting(self, index):
        writes.append(self.path)
        return real(self, index)

    monkeypatch.setattr(oci.OciLayout, "write_index", counting)
    return writes


def test_signing_many_images_writes_the_index_once(tmp_path, index_writes, monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    assert run_cli("generate-key-pair", "--output-key-prefix", tmp_path / "k").code == 0
    layout = new_layout(tmp_path / "layout")
    digests = [add_image(layout, f"registry.local/batch/app{i}:1", b"b %d" % i) for i in range(5)]
    before = (tmp_path / "layout" / "index.json").stat().st_ino
    index_writes.clear()
    result = run_cli("sign", "--key", tmp_path / "k.key", "--local-image", tmp_path / "layout",
                     "--new-bundle-format=false")
    assert result.code == 0, result.stderr
    assert index_writes == [str(tmp_path / "layout")]
    assert (tmp_path / "layout" / "index.json").stat().st_ino != before  # replaced (temp file, rename)
    assert result.stderr.count("Signed registry.local/batch/app") == 5
    verified = run_cli("verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "k.pub", *KEY_FLAGS)
    assert verified.code == 0, verified.stderr
    assert sorted(p["critical"]["image"]["docker-manifest-digest"] for p in json.loads(verified.stdout)) == \
        sorted(digests)
    index_writes.clear()  # signing again adds nothing, and writes nothing
    again = run_cli("sign", "--key", tmp_path / "k.key", "--local-image", tmp_path / "layout",
                    "--new-bundle-format=false")
    assert again.code == 0 and again.stderr.count("Already signed") == 5 and index_writes == []
    index_writes.clear()  # new-format bundles too: one write for all the referrers
    bundles = run_cli("sign", "--key", tmp_path / "k.key", "--local-image", tmp_path / "layout",
                      "--new-bundle-format")
    assert bundles.code == 0 and index_writes == [str(tmp_path / "layout")], bundles.stderr
    both = run_cli("verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "k.pub", *KEY_FLAGS)
    assert both.code == 0 and len(json.loads(both.stdout)) == 10, both.stderr


def test_a_failure_mid_batch_keeps_what_was_signed_whole(tmp_path):
    from airlock.sign.signers import FileSigner

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pub").write_bytes(_pem(key))
    layout = new_layout(tmp_path / "layout")
    for i in range(3):
        add_image(layout, f"registry.local/half/app{i}:1", b"h %d" % i)
    images = airlock.signing_targets([], layout=str(tmp_path / "layout"))
    with pytest.raises(RuntimeError, match="stop"), airlock.signing_batch(images):
        airlock.sign_image(images[0], FileSigner(key))
        assert airlock.layout_source(str(tmp_path / "layout")).tagged(
            f"{images[0].digest.replace(':', '-')}.sig") is None  # not written yet: once, at the end
        raise RuntimeError("stop")
    result = run_cli("verify", "--local-image", tmp_path / "layout", "--key", tmp_path / "key.pub", *KEY_FLAGS,
                     "registry.local/half/app0:1")
    assert result.code == 0, result.stderr
    assert "app1:1" in one_line_error(run_cli("verify", "--local-image", tmp_path / "layout", "--key",
                                              tmp_path / "key.pub", *KEY_FLAGS))
