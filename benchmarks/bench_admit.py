#!/usr/bin/env python3
"""Admission decisions per second: the gate (``airlock.admission.gate.Gate``) on distinct
key-signed images in Debian's docker-registry on 127.0.0.1, and ``airlock admit`` on a manifest
running all of them.

    python3 benchmarks/bench_admit.py [--n 100]

Pushes N distinct images and signs each with one ECDSA P-256 key (offline, no transparency log:
a key authority without ``ctlog``, policy-controller's default), then times, in-process:
uncached decisions (tag resolved, manifest fetched, signatures discovered and verified),
decisions on the same images again (cached verdict; the tag is still resolved, tags move), and
on their digest-pinned references (nothing is fetched); then one ``airlock admit`` process over a
Deployment list of all N. Figures go to stdout, p50/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({len(ordered) / sum(ordered):7.0f} decisions/s serially)"


def timed(gate, images: list[str]) -> list[float]:
    samples = []
    for image in images:
        started = time.perf_counter()
        [decision] = gate.decide([image])
        samples.append(time.perf_counter() - started)
        if not decision.allowed:
            raise SystemExit(f"not admitted: {decision.reason}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="distinct signed images (default 100)")
    args = parser.parse_args()

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    import airlock
    from airlock.admission import policies
    from airlock.admission.gate import Gate
    from airlock.sign.signers import FileSigner
    from registry_server import docker_registry
    from test_registry_roundtrip import push_image

    tmp = Path(tempfile.mkdtemp(prefix="bench-admit-"))
    (tmp / "registry").mkdir()
    with docker_registry(directory=tmp / "registry") as registry:
        client = airlock.registry_client()
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        started = time.perf_counter()
        tags, pinned = [], []
        for i in range(args.n):
            digest = push_image(client, registry, f"bench/app{i}", tmp, f"layer {i}".encode())
            [target] = airlock.signing_targets([f"{registry}/bench/app{i}:v1"], client=client)
            airlock.sign_image(target, FileSigner(key))
            tags.append(f"{registry}/bench/app{i}:v1")
            pinned.append(f"{registry}/bench/app{i}@{digest}")
        print(f"setup: {args.n} images pushed and signed in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        policy = tmp / "policy.yaml"
        policy.write_text(f"apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n"
                          f"  name: bench\nspec:\n  images: [{{glob: '{registry}/**'}}]\n  authorities:\n"
                          f"  - key:\n      data: |\n{textwrap.indent(pem, '        ')}")
        gate = Gate(policies.load([str(policy)]), client)
        gate.decide([tags[0]])  # imports and first connection, not counted
        gate = Gate(policies.load([str(policy)]), client)
        print(f"uncached (by tag):      {percentiles(timed(gate, tags))}")
        print(f"cached, by tag:         {percentiles(timed(gate, tags))}")
        timed(gate, pinned)  # each pinned reference's manifest is fetched once, then never again
        print(f"cached, pinned:         {percentiles(timed(gate, pinned))}")
        manifest = tmp / "deploy.yaml"
        manifest.write_text("\n---\n".join(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app{i}}}\nspec:\n  template:\n"
            f"    spec:\n      containers: [{{name: c, image: '{image}'}}]\n" for i, image in enumerate(tags)))
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "airlock", "admit", str(manifest), "--policy", str(policy)],
                                capture_output=True, text=True)
        took = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(result.stderr)
        print(f"airlock admit, {args.n} images in one process: {took:.2f}s ({args.n / took:.0f} images/s)")


if __name__ == "__main__":
    main()
