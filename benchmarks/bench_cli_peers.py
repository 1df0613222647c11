#!/usr/bin/env python3
"""CLI wall time: ``cosign verify-blob`` beside ``airlock verify-blob`` on the same bundles.

    python3 benchmarks/bench_cli_peers.py             # 20 runs of each command (median, min)
    python3 benchmarks/bench_cli_peers.py --runs 5    # quicker

Two inputs, in one run:

1. keyless: the conformance bundle ``happy-path-v0.3`` (public-good, Rekor v1) with
   ``--trusted-root`` (the production trusted root) and the certificate identity and issuer;
2. key: a blob signed with ``cosign sign-blob --key`` (a key pair from ``cosign generate-key-pair``,
   a v0.3 bundle, no transparency log), verified with ``--key --insecure-ignore-tlog``.

The real cosign (v3.1.2, built by ./run-tests into ``$AIRLOCK_PEERS/bin``) runs with an empty
``TUF_ROOT`` and ``HOME`` so that it never reaches the network. Every command must succeed (it is
checked on each run). The commands run round-robin (cosign, airlock, cosign, ...), so that load from
other processes on the machine falls on both alike. Figures go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("AIRLOCK_SHARED", HERE.parent.parent / "shared"))
CONFORMANCE = SHARED / "fixtures" / "sigstore-conformance"
CONFORMANCE_CASE = "happy-path-v0.3"
PRODUCTION_ROOT = CONFORMANCE / "default-trusted-root" / "production" / "trusted_root.json"
IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
            ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")
ISSUER = "https://token.actions.githubusercontent.com"
PEERS = Path(os.environ.get("AIRLOCK_PEERS") or Path.home() / ".cache" / "airlock-peers")
PASSWORD = "bench"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def airlock_command() -> list[str]:
    """The ``airlock`` console script of this interpreter, else ``python -m airlock``."""
    beside = Path(sys.executable).with_name("airlock")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "airlock"]


def environment(workdir: Path) -> dict[str, str]:
    """cosign offline (empty TUF_ROOT and HOME); airlock's bytecode cached in a private prefix."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for name in ("tuf", "home"):
        (workdir / name).mkdir(exist_ok=True)
    env.update(TUF_ROOT=str(workdir / "tuf"), HOME=str(workdir / "home"), COSIGN_PASSWORD=PASSWORD,
               SIGSTORE_NO_CACHE="true", PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    return env


def key_signed_blob(cosign: Path, workdir: Path, env: dict[str, str]) -> tuple[Path, Path, Path]:
    """(artifact, bundle, public key): a blob signed by cosign with a key, offline."""
    keys = workdir / "keys"
    keys.mkdir()
    subprocess.run([str(cosign), "generate-key-pair"], cwd=keys, env=env, check=True, capture_output=True)
    artifact = workdir / "artifact.txt"
    artifact.write_bytes(b"a blob for bench_cli_peers\n" * 64)
    bundle = workdir / "artifact.sigstore.json"
    subprocess.run([str(cosign), "sign-blob", "--key", str(keys / "cosign.key"), "--bundle", str(bundle),
                    "--tlog-upload=false", "--use-signing-config=false", "--yes", str(artifact)],
                   env=env, check=True, capture_output=True)
    return artifact, bundle, keys / "cosign.pub"


def commands(cosign: Path, workdir: Path, env: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """input -> tool -> argv, the same flags for both tools where cosign accepts them."""
    case = CONFORMANCE / "bundle-verify" / CONFORMANCE_CASE
    keyless = ["verify-blob", "--trusted-root", str(PRODUCTION_ROOT), "--bundle", str(case / "bundle.sigstore.json"),
               "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER,
               str(CONFORMANCE / "bundle-verify" / "a.txt")]
    artifact, bundle, pub = key_signed_blob(cosign, workdir, env)
    # airlock wants a trusted root even for --key --insecure-ignore-tlog today (cosign does not): give both one
    key = ["verify-blob", "--key", str(pub), "--bundle", str(bundle), "--insecure-ignore-tlog=true",
           "--trusted-root", str(PRODUCTION_ROOT), str(artifact)]
    return {
        f"keyless ({CONFORMANCE_CASE}, --trusted-root)": {"cosign": [str(cosign), *keyless],
                                                          "airlock": [*airlock_command(), *keyless]},
        "key (cosign sign-blob --key, v0.3 bundle)": {"cosign": [str(cosign), *key],
                                                      "airlock": [*airlock_command(), *key]},
    }


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or "Verified OK" not in proc.stderr:
        raise SystemExit(f"bench: {' '.join(argv[:2])} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed * 1000.0


def measure(table: dict[str, dict[str, list[str]]], env: dict[str, str], runs: int) -> dict[tuple[str, str], list]:
    times: dict[tuple[str, str], list[float]] = {(i, t): [] for i, tools in table.items() for t in tools}
    for tools in table.values():  # warm-up: page cache, airlock's bytecode
        for argv in tools.values():
            run_once(argv, env)
    for n in range(runs):
        for name, tools in table.items():
            for tool, argv in tools.items():
                times[(name, tool)].append(run_once(argv, env))
        if (n + 1) % 5 == 0:
            progress(f"{n + 1}/{runs} rounds")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    args = parser.parse_args(argv)
    cosign = PEERS / "bin" / "cosign"
    if not os.access(cosign, os.X_OK):
        print(f"bench: needs cosign at {cosign} (./run-tests builds it when Go is present)", file=sys.stderr)
        return 2
    if not PRODUCTION_ROOT.exists():
        print(f"bench: needs {PRODUCTION_ROOT} (../shared beside the checkout)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-cli-peers-"))
    try:
        env = environment(workdir)
        table = commands(cosign, workdir, env)
        load_before = os.getloadavg()
        times = measure(table, env, args.runs)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    version = subprocess.run([str(cosign), "version", "--json"], capture_output=True, text=True).stdout
    print(f"verify-blob CLI wall time, {args.runs} runs each, round-robin; cosign "
          f"{json.loads(version).get('gitVersion', '?')}; load {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(f"{'input':<46} {'tool':<8} {'median ms':>10} {'min ms':>8} {'airlock/cosign':>15}")
    for name in table:
        base = statistics.median(times[(name, "cosign")])
        for tool in table[name]:
            t = times[(name, tool)]
            ratio = statistics.median(t) / base
            print(f"{name:<46} {tool:<8} {statistics.median(t):>10.1f} {min(t):>8.1f} {ratio:>14.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
