#!/usr/bin/env python3
"""Images per second: verifying key-signed images from one OCI layout (and, with --registry,
through a registry on 127.0.0.1).

    python3 benchmarks/bench_images.py [--n 1000]

Builds a layout holding N distinct images, each with a cosign signature made with one ECDSA
P-256 key (offline-signed, no transparency log: verified with --insecure-ignore-tlog, as key-
signed images inside an air gap often are), then verifies all of them in-process the way
`airlock verify --local-image` does, and once through the CLI. Target: >= 2000 images/s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def build(directory: str, n: int) -> tuple[str, float]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from airlock.formats import cosign
    from image_layouts import add_image, attach, key_layer, new_layout

    key = ec.generate_private_key(ec.SECP256R1())
    pub = os.path.join(directory, "cosign.pub")
    with open(pub, "wb") as handle:
        handle.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    layout = new_layout(os.path.join(directory, "layout"))
    entries = []
    layout.add_manifest = entries.append  # collect index.json entries, write the index once
    start = time.perf_counter()
    for i in range(n):
        digest = add_image(layout, f"registry.local/bench/app{i}:1", b"layer %d" % i)
        attach(layout, digest, [key_layer(key, cosign.simplesigning_payload(f"registry.local/bench/app{i}", digest))])
    index = layout.read_index()
    index["manifests"] = entries
    layout.write_index(index)
    return pub, time.perf_counter() - start


def verify_in_process(layout_dir: str, pub: str) -> tuple[int, float]:
    from airlock.api.images import verify_layer
    from airlock.oci import discovery
    from airlock.oci.layout import OciLayout
    from airlock.oci.sources import LayoutSource
    from airlock.trust.trusted_root import TrustedRoot
    from airlock.verify.policy import Key
    from airlock.verify.verifier import VerificationOptions, Verifier

    with open(pub, "rb") as handle:
        key = handle.read()
    from airlock.crypto import load_public_key

    policy = Key(load_public_key(key))
    verifier = Verifier(TrustedRoot((), (), (), ()))
    options = VerificationOptions(insecure_ignore_tlog=True)
    start = time.perf_counter()
    source = LayoutSource(OciLayout(layout_dir))
    verified = 0
    for entry in source.images():
        digest = entry["digest"]
        for found in discovery.legacy_layers(source, digest, "sig"):
            if verify_layer(verifier, found.layer, found.where, digest, policy=policy, options=options).ok:
                verified += 1
                break
    return verified, time.perf_counter() - start


def verify_registry(layout_dir: str, pub: str, n: int) -> tuple[float, float]:
    """Load the layout's images into a docker-registry on 127.0.0.1, then verify them from there."""
    from airlock import api
    from airlock.crypto import load_public_key
    from airlock.oci.layout import OciLayout
    from airlock.oci.reference import parse_reference
    from airlock.oci.registry import RegistryClient
    from airlock.oci.sources import LayoutSource
    from airlock.oci.transfer import load, targets
    from airlock.trust.trusted_root import TrustedRoot
    from airlock.verify.verifier import VerificationOptions, Verifier
    from registry_server import docker_registry

    with open(pub, "rb") as handle:
        public_key = load_public_key(handle.read())
    layout = OciLayout(layout_dir)
    digests = [e["digest"] for e in LayoutSource(layout).images()][:n]
    with tempfile.TemporaryDirectory() as storage, docker_registry(directory=Path(storage)) as host:
        client = RegistryClient()
        start = time.perf_counter()
        for i, digest in enumerate(digests):
            load(client, layout, targets(layout, parse_reference(f"{host}/bench/app{i}:1"), image=digest))
        loaded = time.perf_counter() - start
        verifier = Verifier(TrustedRoot((), (), (), ()))
        options = VerificationOptions(insecure_ignore_tlog=True)
        start = time.perf_counter()
        for i, expected in enumerate(digests):  # the library path `airlock verify IMAGE` takes
            [target] = api.registry_targets(client, [f"{host}/bench/app{i}:1"])
            assert target.digest == expected
            assert api.verify_target(target, verifier, policy=api.Key(public_key), options=options).ok
        return loaded, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--registry", type=int, default=1000, metavar="N",
                        help="also load N images into a local docker-registry and verify them from there (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        pub, built = build(directory, args.n)
        print(f"built a layout of {args.n} key-signed images in {built:.2f} s", file=sys.stderr)
        layout_dir = os.path.join(directory, "layout")
        best = min(verify_in_process(layout_dir, pub)[1] for _ in range(args.passes))
        verified, _ = verify_in_process(layout_dir, pub)
        assert verified == args.n, verified
        exe = str(Path(sys.executable).with_name("airlock"))
        start = time.perf_counter()
        proc = subprocess.run([exe, "verify", "--local-image", layout_dir, "--key", pub, "--insecure-ignore-tlog"],
                              capture_output=True, text=True)
        cli = time.perf_counter() - start
        assert proc.returncode == 0, proc.stderr[-500:]
        print(f"images from one layout, in-process: {args.n / best:8.0f} images/s ({best / args.n * 1000:.3f} ms each)")
        print(f"images from one layout, airlock CLI: {args.n / cli:8.0f} images/s ({cli:.2f} s for {args.n}, "
              "including start-up and printing every payload)")
        print(f"target >= 2000 images/s from a layout: {'met' if args.n / best >= 2000 else 'NOT met'}")
        if args.registry:
            count = min(args.registry, args.n)
            loaded, took = verify_registry(layout_dir, pub, count)
            print(f"images through the registry (docker-registry on 127.0.0.1, plain HTTP): {count / took:8.0f} "
                  f"images/s ({took / count * 1000:.2f} ms each: tag, .sig tag, manifest, payload, referrers); "
                  f"airlock load pushed them at {count / loaded:.0f} images/s")


if __name__ == "__main__":
    main()
