#!/usr/bin/env python3
"""Bulk verification of a layout: `airlock verify --local-image D --jobs 1` vs the default (CPU count).

    python3 benchmarks/bench_bulk_verify.py [--n 200] [--cosign-sample 20]

Builds one OCI layout of N distinct images, each with a keyless cosign signature (Fulcio-like
certificate with an embedded SCT, Rekor SET) minted by `airlock.testing.SigstoreInstance`, and
times whole `airlock verify` processes (start-up included) with --jobs 1 and with the default,
then `airlock.api.verify_images` the same two ways inside this process.
In the same run, cosign v3 (`$AIRLOCK_PEERS/bin/cosign`, or ~/.cache/airlock-peers) verifies a
sample of the same images, each from a one-image layout (`cosign verify --local-image` reads one
image per layout), one process per image; its images/s is over that sample.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

IDENTITY = "https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--cosign-sample", type=int, default=20)
    args = parser.parse_args()
    from airlock.api.images import default_jobs
    from airlock.formats import cosign
    from airlock.testing import SigstoreInstance
    from image_layouts import add_image, attach, keyless_layer, new_layout

    inst = SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        root = str(inst.write_trusted_root(base / "trusted_root.json"))
        layout = new_layout(base / "layout")
        layers = []
        for i in range(args.n):
            digest = add_image(layout, f"registry.local/bulk/app{i}:1", b"layer %d" % i)
            payload = cosign.simplesigning_payload("registry.local/bulk/app", digest)
            layers.append((digest, keyless_layer(inst, payload)))
            attach(layout, digest, [layers[-1][1]])
        flags = ["--trusted-root", root, "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]
        airlock = [sys.executable, "-m", "airlock", "verify", "--local-image", str(base / "layout"), *flags]
        jobs = default_jobs()
        print(f"{args.n} keyless images in one layout; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        for label, extra in (("airlock --jobs 1", ["--jobs", "1"]), (f"airlock default (--jobs {jobs})", [])):
            start = time.perf_counter()
            proc = subprocess.run([*airlock, *extra], capture_output=True, text=True)
            took = time.perf_counter() - start
            if proc.returncode:
                raise SystemExit(f"{label} failed: {proc.stderr[-500:]}")
            print(f"{label:32s} {args.n / took:8.1f} images/s ({took:.2f} s for {args.n}, one process)")
        import airlock
        from airlock import api

        trusted = airlock.TrustedRoot.from_file(root)
        policy = airlock.Identity(identity=IDENTITY, issuer=ISSUER)
        for label, count in (("verify_images(jobs=1)", 1), (f"verify_images(jobs={jobs})", jobs)):
            targets = api.layout_targets(api.layout_source(str(base / "layout")))
            start = time.perf_counter()
            verdicts = list(api.verify_images(targets, api.Verifier(trusted), jobs=count, policy=policy))
            took = time.perf_counter() - start
            assert all(v.ok for v in verdicts)
            print(f"{label:32s} {args.n / took:8.1f} images/s ({took:.2f} s, in-process API, no start-up)")
        peers = os.environ.get("AIRLOCK_PEERS", os.path.expanduser("~/.cache/airlock-peers"))
        exe = os.path.join(peers, "bin", "cosign")
        if not os.access(exe, os.X_OK):
            print(f"cosign: not found at {exe}; skipped")
            return
        sample = layers[:args.cosign_sample]
        for i, (digest, layer) in enumerate(sample):
            one = new_layout(base / f"one{i}")
            add_image(one, f"registry.local/bulk/app{i}:1", b"layer %d" % i)
            attach(one, digest, [layer])
        env = {**os.environ, "HOME": directory, "TUF_ROOT": str(base / "tuf")}
        start = time.perf_counter()
        for i in range(len(sample)):
            proc = subprocess.run([exe, "verify", "--local-image", str(base / f"one{i}"), *flags],
                                  capture_output=True, text=True, env=env)
            if proc.returncode:
                raise SystemExit(f"cosign failed: {proc.stderr[-500:]}")
        took = time.perf_counter() - start
        print(f"{'cosign v3 (one process/image)':32s} {len(sample) / took:8.1f} images/s "
              f"({took:.2f} s for a sample of {len(sample)})")
        shutil.rmtree(base / "tuf", ignore_errors=True)


if __name__ == "__main__":
    main()
