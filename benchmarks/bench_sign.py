#!/usr/bin/env python3
"""Key-based signatures per second: sign + attach to an OCI layout, as `airlock sign --local-image` does.

    python3 benchmarks/bench_sign.py [--n 300]

Each signature is an ECDSA P-256 signature over a fresh simple-signing payload, attached as a
layer of the image's .sig manifest (blobs written under the layout lock). Two ways, in the same
run: index.json rewritten per signature (one `airlock sign` per image), and one batch
(`airlock sign --local-image D` with several images: index.json written once). Also prints
the raw signing rate with the same key, for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    from cryptography.hazmat.primitives.asymmetric import ec

    from airlock.formats.cosign import ANNOTATION_SIGNATURE, SIMPLESIGNING, simplesigning_payload
    from airlock.oci.layout import OciLayout
    from airlock.sign.attaching import LayoutTarget, append
    from airlock.sign.bundles import b64
    from airlock.sign.signers import FileSigner
    from image_layouts import add_image, new_layout

    signer = FileSigner(ec.generate_private_key(ec.SECP256R1()))

    def run(batched: bool) -> float:
        with tempfile.TemporaryDirectory() as directory:
            layout = new_layout(os.path.join(directory, "layout"))
            digests = [add_image(layout, f"registry.local/bench/app{i}:1", b"layer %d" % i) for i in range(args.n)]
            target = LayoutTarget(OciLayout(layout.path))
            start = time.perf_counter()
            with target.batch() if batched else contextlib.nullcontext():
                for i, digest in enumerate(digests):
                    payload = simplesigning_payload(f"registry.local/bench/app{i}", digest)
                    append(target, digest, "sig",
                           (SIMPLESIGNING, payload, {ANNOTATION_SIGNATURE: b64(signer.sign(payload))}))
            return time.perf_counter() - start

    each, batch = run(False), run(True)
    start = time.perf_counter()
    for i in range(args.n):
        signer.sign(b"%d" % i)
    raw = time.perf_counter() - start
    print(f"sign + attach, index.json per signature: {args.n / each:8.0f} signatures/s "
          f"({each / args.n * 1000:.2f} ms each, index.json of {2 * args.n} entries at the end)")
    print(f"sign + attach, one batch (airlock sign): {args.n / batch:8.0f} signatures/s "
          f"({batch / args.n * 1000:.2f} ms each, index.json written once)")
    print(f"raw ECDSA P-256 signing:                 {args.n / raw:8.0f} signatures/s")


if __name__ == "__main__":
    main()
