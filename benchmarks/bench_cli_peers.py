#!/usr/bin/env python3
"""CLI wall time: cosign beside airlock on the same inputs, one process per command (issue 9).

    python3 benchmarks/bench_cli_peers.py                          # 20 runs of each command (median, min)
    python3 benchmarks/bench_cli_peers.py --baseline integration2  # also airlock as of that git revision
    python3 benchmarks/bench_cli_peers.py --runs 5                 # quicker

Inputs, all in one run:

1. ``verify-blob`` keyless: the conformance bundle ``happy-path-v0.3`` (public-good, Rekor v1) with
   ``--trusted-root`` (the production trusted root) and the certificate identity and issuer;
2. ``verify-blob`` keyless from the installed TUF mirror (airlock only): the same bundle, the trusted root
   served by a local TUF repository (``tests/tuf_repo.py``) and mirrored with ``airlock initialize``;
3. ``verify-blob`` with a key: a blob signed with ``cosign sign-blob --key`` (a v0.3 bundle, no
   transparency log), verified with ``--key --insecure-ignore-tlog`` and no trusted root;
4. ``verify --local-image`` with a key: a one-image OCI layout with a key-signed ``.sig`` manifest;
5. ``--help`` and ``version``.

The real cosign (v3.1.2, built by ./run-tests into ``$AIRLOCK_PEERS/bin``) runs with an empty
``TUF_ROOT`` and ``HOME`` so that it never reaches the network. airlock runs through this interpreter's
console script with ``PYTHONPATH`` naming the source tree measured (this checkout's ``src``, and with
``--baseline REV`` that revision's ``src`` from ``git archive``), its bytecode cached in a private
``PYTHONPYCACHEPREFIX`` as after an install. Every command must succeed (checked on each run). The
commands run round-robin (cosign, airlock@REV, airlock, then the next input), so that load from other
processes falls on all alike; the load average is printed before and after.

A breakdown follows for each airlock command: interpreter start (``python -S -c pass``), site, the
imports after site (``-X importtime``, the command's own modules), the rest (argument parsing, reading
trust, parsing, verifying, exit) by difference; then, inside one fresh process each, the cost of the
keyless verification's steps (trusted root or mirror, bundle, verification). Figures go to stdout,
progress to stderr.
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
REPO = HERE.parent
SHARED = Path(os.environ.get("AIRLOCK_SHARED", REPO.parent / "shared"))
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


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


class Tool:
    """One program to time: its argv prefix and its environment."""

    def __init__(self, name: str, prefix: list[str], env: dict[str, str], src: Path | None = None) -> None:
        self.name, self.prefix, self.env, self.src = name, prefix, env, src


def environment(workdir: Path) -> dict[str, str]:
    """Offline and isolated: empty TUF_ROOT and HOME (cosign), no trust-anchor pin, bytecode cached privately."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "AIRLOCK_TUF_ROOT_SHA256")}
    for name in ("tuf", "home", "config"):
        (workdir / name).mkdir(exist_ok=True)
    env.update(TUF_ROOT=str(workdir / "tuf"), HOME=str(workdir / "home"), XDG_CONFIG_HOME=str(workdir / "config"),
               COSIGN_PASSWORD=PASSWORD, SIGSTORE_NO_CACHE="true", PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    return env


def baseline_src(revision: str, workdir: Path) -> Path:
    """``src/`` of a git revision of this repository, exported under ``workdir``."""
    dest = workdir / "baseline"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


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


def key_signed_layout(workdir: Path) -> tuple[Path, Path]:
    """(layout, public key): one image with a key-signed legacy ``.sig`` manifest, built with the tests' helpers."""
    sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from airlock.formats import cosign
    from image_layouts import add_image, attach, key_layer, new_layout

    key = ec.generate_private_key(ec.SECP256R1())
    pub = workdir / "image.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    layout = new_layout(workdir / "layout")
    digest = add_image(layout, "registry.local/bench/app:1", b"a layer for bench_cli_peers\n" * 4096)
    attach(layout, digest, [key_layer(key, cosign.simplesigning_payload("registry.local/bench/app", digest))])
    return workdir / "layout", pub


def installed_mirror(workdir: Path, tool: Tool) -> Path:
    """A TUF_ROOT holding a mirror of a local TUF repository whose trusted_root.json is the production one."""
    sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]
    from tuf_repo import TufRepo

    repo = TufRepo(workdir / "tuf-repo")
    repo.set_target("trusted_root.json", PRODUCTION_ROOT.read_bytes())
    tuf_root = workdir / "mirror"
    subprocess.run([*tool.prefix, "initialize", "--mirror", repo.directory.as_uri(), "--root",
                    str(repo.directory / "1.root.json"), "--tuf-root", str(tuf_root)],
                   env=tool.env, check=True, capture_output=True)
    return tuf_root


Row = dict[str, tuple[list[str], dict[str, str]]]  # tool name -> (argv, environment)


def rows(cosign: Tool, airlocks: list[Tool], workdir: Path) -> dict[str, Row]:
    """input -> tool -> command; the same flags for every tool where cosign accepts them."""
    case = CONFORMANCE / "bundle-verify" / CONFORMANCE_CASE
    identity = ["--bundle", str(case / "bundle.sigstore.json"), "--certificate-identity", IDENTITY,
                "--certificate-oidc-issuer", ISSUER, str(CONFORMANCE / "bundle-verify" / "a.txt")]
    keyless = ["verify-blob", "--trusted-root", str(PRODUCTION_ROOT), *identity]
    artifact, bundle, pub = key_signed_blob(Path(cosign.prefix[0]), workdir, cosign.env)
    key = ["verify-blob", "--key", str(pub), "--bundle", str(bundle), "--insecure-ignore-tlog=true", str(artifact)]
    layout, image_pub = key_signed_layout(workdir)
    image = ["verify", "--local-image", str(layout), "--key", str(image_pub), "--insecure-ignore-tlog=true"]
    mirror = {**airlocks[-1].env, "TUF_ROOT": str(installed_mirror(workdir, airlocks[-1]))}
    table: dict[str, Row] = {}
    for name, argv, with_cosign, env in (
            ("verify-blob keyless, --trusted-root", keyless, True, None),
            ("verify-blob keyless, TUF mirror", ["verify-blob", *identity], False, mirror),
            ("verify-blob --key, no tlog", key, True, None),
            ("verify --local-image --key, no tlog", image, True, None),
            ("--help", ["--help"], True, None),
            ("version", ["version"], True, None)):
        tools = [cosign, *airlocks] if with_cosign else airlocks
        table[name] = {t.name: ([*t.prefix, *argv], {**(env or t.env), "PYTHONPATH": t.env.get("PYTHONPATH", "")}
                                if t is not cosign else t.env) for t in tools}
    return table


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - start
    verify_blob = "verify-blob" in argv
    if proc.returncode != 0 or (verify_blob and "Verified OK" not in proc.stderr):
        raise SystemExit(f"bench: {' '.join(argv[:3])} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed * 1000.0


def measure(table: dict[str, Row], runs: int) -> dict[tuple[str, str], list[float]]:
    times: dict[tuple[str, str], list[float]] = {(i, t): [] for i, tools in table.items() for t in tools}
    for tools in table.values():  # warm-up: page cache, airlock's bytecode
        for argv, env in tools.values():
            run_once(argv, env)
    for n in range(runs):
        for name, tools in table.items():
            for tool, (argv, env) in tools.items():
                times[(name, tool)].append(run_once(argv, env))
        if (n + 1) % 5 == 0:
            progress(f"{n + 1}/{runs} rounds, load {load()}")
    return times


# -- where airlock's time goes ------------------------------------------------------------------------------


def import_ms(argv: list[str], env: dict[str, str], runs: int = 5) -> tuple[float, list[tuple[str, float]]]:
    """Median ms of the imports after site (``-X importtime``, top-level entries), and the costliest few."""
    totals, tops = [], []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=env)
        entries: list[tuple[str, float]] = []
        after_site = False
        for line in proc.stderr.splitlines():
            parts = line.split("|")
            if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in parts[1]:
                continue
            raw = parts[2][1:]  # "  name" under an importing module, "name" at the top
            if raw.startswith(" "):
                continue
            if after_site:
                entries.append((raw.strip(), int(parts[1]) / 1000.0))
            after_site = after_site or raw.strip() == "site"
        totals.append(sum(ms for _, ms in entries))
        tops.append(entries)
    typical = tops[totals.index(sorted(totals)[len(totals) // 2])]
    return statistics.median(totals), sorted(typical, key=lambda e: -e[1])[:4]


PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import cryptography.x509  # a keyless verification needs it: here, not in whichever step imports it first
from airlock.formats.bundle import parse_signature_file
from airlock.trust import source
from airlock.verify.policy import Identity
from airlock.verify.verifier import Verifier, VerificationOptions
from airlock.artifact import Artifact
t1 = time.perf_counter()
root, _ = source.load(sys.argv[1] or None)
t2 = time.perf_counter()
material = parse_signature_file(open(sys.argv[2], "rb").read())
t3 = time.perf_counter()
verdict = Verifier(root).verify(material, Artifact.from_path(sys.argv[3]), Identity(identity=sys.argv[4],
                                issuer=sys.argv[5]), options=VerificationOptions())
t4 = time.perf_counter()
assert verdict.ok, verdict.failure
print(json.dumps([(t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3]))
"""


def phases(env: dict[str, str], trusted_root: str, runs: int) -> list[float] | None:
    """Median ms, each in a fresh process: verification imports, trust (file or mirror), bundle, verification;
    None when the source measured has no such API (a ``--baseline`` revision from before the policy objects)."""
    case = CONFORMANCE / "bundle-verify" / CONFORMANCE_CASE
    argv = [sys.executable, "-c", PHASES, trusted_root, str(case / "bundle.sigstore.json"),
            str(CONFORMANCE / "bundle-verify" / "a.txt"), IDENTITY, ISSUER]
    samples = []
    for _ in range(runs):
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        if done.returncode:
            return None
        samples.append(json.loads(done.stdout))
    return [statistics.median(column) for column in zip(*samples, strict=True)]


def breakdown(table: dict[str, Row], airlocks: list[Tool], times: dict[tuple[str, str], list[float]],
              runs: int) -> None:
    env = airlocks[-1].env
    walls: dict[str, list[float]] = {"bare": [], "site": []}
    for _ in range(runs):
        walls["bare"].append(run_once([sys.executable, "-S", "-c", "pass"], env))
        walls["site"].append(run_once([sys.executable, "-c", "pass"], env))
    bare, site = statistics.median(walls["bare"]), statistics.median(walls["site"])
    print(f"\nwhere airlock's time goes (median ms; interpreter = python -S -c pass, site = python -c pass - that; "
          f"imports after site by -X importtime, the rest by difference); load {load()}")
    print(f"{'input':<38} {'tool':<26} {'wall':>6} {'interp':>7} {'site':>5} {'imports':>8} {'rest':>6}  "
          "costliest imports")
    for name, tools in table.items():
        for tool in airlocks:
            if tool.name not in tools:
                continue
            argv, tool_env = tools[tool.name]
            script = ["-c", "import re, sys; from airlock.cli import main; sys.exit(main())", *argv[len(tool.prefix):]]
            imports, top = import_ms(script, tool_env)
            wall = statistics.median(times[(name, tool.name)])
            print(f"{name:<38} {tool.name:<26} {wall:6.0f} {bare:7.0f} {site - bare:5.0f} {imports:8.0f} "
                  f"{wall - site - imports:6.0f}  {', '.join(f'{m} {ms:.0f}' for m, ms in top)}")
    mirror_env = table["verify-blob keyless, TUF mirror"][airlocks[-1].name][1]
    print("\nkeyless verification's steps in one fresh process (median ms): imports, trust, bundle, verify")
    for label, tool_env, root in (("--trusted-root", env, str(PRODUCTION_ROOT)), ("TUF mirror", mirror_env, "")):
        for tool in airlocks:
            figures = phases({**tool_env, "PYTHONPATH": tool.env["PYTHONPATH"]}, root, max(3, runs // 4))
            shown = "  ".join(f"{f:6.1f}" for f in figures) if figures else "n/a (that revision has no such API)"
            print(f"  {label:<15} {tool.name:<26} {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--baseline", metavar="REV", help="also time airlock as of this git revision (before)")
    parser.add_argument("--no-breakdown", action="store_true", help="only the wall times")
    args = parser.parse_args(argv)
    cosign_exe = PEERS / "bin" / "cosign"
    if not os.access(cosign_exe, os.X_OK):
        print(f"bench: needs cosign at {cosign_exe} (./run-tests builds it when Go is present)", file=sys.stderr)
        return 2
    if not PRODUCTION_ROOT.exists():
        print(f"bench: needs {PRODUCTION_ROOT} (../shared beside the checkout)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-cli-peers-"))
    try:
        env = environment(workdir)
        cosign = Tool("cosign", [str(cosign_exe)], env)
        airlocks = []
        if args.baseline:
            rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.baseline], capture_output=True,
                                 text=True, check=True).stdout.strip()
            src = baseline_src(args.baseline, workdir)
            airlocks.append(Tool(f"airlock@{rev} (before)", airlock_command(), {**env, "PYTHONPATH": str(src)}, src))
        airlocks.append(Tool("airlock (this tree)", airlock_command(), {**env, "PYTHONPATH": str(REPO / "src")},
                             REPO / "src"))
        table = rows(cosign, airlocks, workdir)
        uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        load_before = load()
        times = measure(table, args.runs)
        load_after = load()
        version = subprocess.run([str(cosign_exe), "version", "--json"], capture_output=True, text=True).stdout
        cosign_version = json.loads(version).get("gitVersion", "?")
        print(f"CLI wall time, {args.runs} runs each, round-robin; cosign {cosign_version}; {os.cpu_count()} CPUs; "
              f"load average {load_before} -> {load_after}\n  uptime: {uptime}")
        print(f"{'input':<38} {'tool':<26} {'median ms':>10} {'min ms':>8} {'/cosign':>8}")
        for name, tools in table.items():
            base = statistics.median(times[(name, "cosign")]) if "cosign" in tools else None
            for tool in tools:
                t = times[(name, tool)]
                ratio = f"{statistics.median(t) / base:7.2f}x" if base else "       -"
                print(f"{name:<38} {tool:<26} {statistics.median(t):>10.1f} {min(t):>8.1f} {ratio}")
        if not args.no_breakdown:
            breakdown(table, airlocks, times, args.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
