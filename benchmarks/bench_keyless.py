#!/usr/bin/env python3
"""Keyless signatures against the local Sigstore instance (tests/sigstore_local.py), airlock beside cosign.

    python3 benchmarks/bench_keyless.py [--n 10] [--parallel 8]

Starts the instance (Fulcio, its CT log when built, Rekor v2 with a 1 s checkpoint interval, the
TSA, the OIDC provider), then times, as the median of N:

- ``airlock sign-blob`` and ``cosign sign-blob`` as processes (a token, a Fulcio certificate, a
  timestamp, a Rekor v2 entry, the bundle checked and written), with the same signing config;
- ``airlock.sign_blob_keyless`` in-process with a new session (a new certificate) each time, and
  with one session for all (one certificate);
- the throughput of ``--parallel`` sessions signing at once (Rekor v2 batches concurrent entries
  into one checkpoint, so the latency of one signature is not the limit of many).

Each signature waits for the checkpoint that includes its entry: with ``--checkpoint-interval=1s``
that is up to a second, which is most of the time measured on loopback. A new certificate also
waits for the CT log to integrate its precertificate (~0.2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    import airlock
    from conftest import run_process
    from peers import peer
    from sigstore_local import local_sigstore

    def report(name: str, seconds: list[float]) -> None:
        median = statistics.median(seconds)
        print(f"{name:44s} median {median * 1000:6.0f} ms ({1 / median:5.2f}/s)  "
              f"min {min(seconds) * 1000:5.0f} ms  max {max(seconds) * 1000:5.0f} ms")

    def timed(argv: list[str], env: dict[str, str]) -> float:
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        elapsed = time.perf_counter() - started
        if proc.returncode:
            raise SystemExit(f"{argv[0]} failed: {proc.stderr.strip()}")
        return elapsed

    with tempfile.TemporaryDirectory() as directory, local_sigstore(Path(directory) / "instance") as instance:
        work = Path(directory)
        root_file, config_file, blob = work / "trusted_root.json", work / "signing_config.json", work / "blob"
        made = run_process(*instance.airlock_trusted_root_argv(root_file))
        if made.code:
            raise SystemExit(made.stderr)
        instance.signing_config(peer("cosign"), config_file)
        blob.write_bytes(b"benchmark\n")
        common = ["--signing-config", str(config_file), "--trusted-root", str(root_file), "--yes"]
        airlock_cli = [sys.executable, "-m", "airlock", "sign-blob", str(blob)]
        report("airlock sign-blob (process)", [
            timed([*airlock_cli, "--bundle", str(work / f"a{i}.json"), "--identity-token",
                   instance.oidc.token("email"), *common], dict(os.environ)) for i in range(args.n)])
        report("cosign sign-blob (process)", [
            timed([str(peer("cosign")), "sign-blob", str(blob), "--bundle", str(work / f"c{i}.json"),
                   "--identity-token", instance.oidc.token("email"), *common],
                  {"PATH": "/usr/bin:/bin", "HOME": directory}) for i in range(args.n)])

        root, config = airlock.TrustedRoot.from_file(root_file), config_file.read_bytes()

        def fresh(i: int) -> float:
            started = time.perf_counter()
            signer = airlock.keyless_signer(root, identity_token=instance.oidc.token("email"), signing_config=config)
            airlock.sign_blob_keyless(b"fresh %d" % i, signer)
            return time.perf_counter() - started

        report("airlock API, a new certificate each", [fresh(i) for i in range(args.n)])
        session = airlock.keyless_signer(root, identity_token=instance.oidc.token("email"), signing_config=config)
        airlock.sign_blob_keyless(b"warm", session)
        one = []
        for i in range(args.n):
            started = time.perf_counter()
            airlock.sign_blob_keyless(b"same %d" % i, session)
            one.append(time.perf_counter() - started)
        report("airlock API, one session (one certificate)", one)

        total = args.parallel * 2
        started = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(fresh, range(total)))
        elapsed = time.perf_counter() - started
        print(f"{f'airlock API, {args.parallel} sessions at once':44s} {total} signatures in {elapsed:.1f} s "
              f"({total / elapsed:.2f}/s)")


if __name__ == "__main__":
    main()
