#!/usr/bin/env python3
"""Performance figures for airlock's offline verification, next to sigstore-python.

    python3 benchmarks/bench_verify.py            # full run (N=300 bundles)
    python3 benchmarks/bench_verify.py --quick    # smoke run, a few seconds
    python3 benchmarks/bench_verify.py --profile  # also: where airlock's time goes (cProfile)

What is measured, in one run and on the same material (see benchmarks/README.md):

1. In-process throughput: N distinct v0.3 keyless bundles minted by one
   ``airlock.testing.SigstoreInstance``, parsed and verified with one reused ``Verifier``;
   also one bundle verified N times.
2. Raw signature cost: the five signature checks each bundle needs (leaf by the P-384
   intermediate, SET, checkpoint, embedded SCT, artifact signature), done with
   ``cryptography`` directly on inputs decoded before timing.
3. CLI cold start: wall time of one ``airlock verify-blob`` process, next to bare interpreter
   start-up.
4. Peer: sigstore-python, installed only into ``benchmarks/.peer-venv``, in-process and CLI.

Timed loops run round-robin, ``--passes`` times, and the best pass counts, so that a load spike
on the machine cannot favour one figure over another. Figures go to stdout, progress to stderr.
The script imports only the standard library at the top: it also runs inside the peer venv
(``--peer-worker``), where airlock is not installed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".peer-venv"
PEER_VERSION = "4.5.1"
CONFORMANCE = Path("/work/shared/fixtures/sigstore-conformance")
CONFORMANCE_CASE = "happy-path-v0.3"
PRODUCTION_ROOT = CONFORMANCE / "default-trusted-root/production/trusted_root.json"
RATIO_TARGET = 1.3
CLI_TARGET_MS = 150.0

Loops = dict[str, Callable[[], None]]


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run_interleaved(loops: Mapping[str, Callable[[], None]], passes: int, items: int) -> dict[str, float]:
    """Best milliseconds per item of each loop over ``passes`` round-robin passes."""
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(passes):
        for name, loop in loops.items():
            start = time.perf_counter()
            loop()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: seconds * 1000.0 / items for name, seconds in best.items()}


# -- the material ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    artifact: Path
    bundle: Path
    artifact_bytes: bytes
    bundle_bytes: bytes

    @classmethod
    def load(cls, artifact: Path, bundle: Path) -> Sample:
        return cls(artifact, bundle, artifact.read_bytes(), bundle.read_bytes())


@dataclass(frozen=True)
class Corpus:
    label: str
    samples: list[Sample]
    trusted_root: Path
    identity: str
    issuer: str

    @property
    def n(self) -> int:
        return len(self.samples)

    def spec(self, passes: int) -> dict[str, Any]:
        """What ``--peer-worker`` needs to rebuild this corpus in another interpreter."""
        return {"label": self.label, "samples": [[str(s.artifact), str(s.bundle)] for s in self.samples],
                "trusted_root": str(self.trusted_root), "identity": self.identity, "issuer": self.issuer,
                "passes": passes}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Corpus:
        loaded: dict[tuple[str, str], Sample] = {}
        samples = [loaded.setdefault((a, b), Sample.load(Path(a), Path(b))) for a, b in spec["samples"]]
        return cls(spec["label"], samples, Path(spec["trusted_root"]), spec["identity"], spec["issuer"])


def generate_corpus(workdir: Path, n: int) -> Corpus:
    """N distinct artifacts, each with its own keyless v0.3 bundle, from one test instance."""
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, bundle_bytes

    instance = SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))
    samples = []
    for i in range(n):
        data = b"airlock benchmark artifact %d\n" % i
        bundle = bundle_bytes(instance.sign_blob(data, version="0.3", content="message", rekor="v1"))
        artifact_path, bundle_path = workdir / f"artifact-{i}.txt", workdir / f"artifact-{i}.sigstore.json"
        artifact_path.write_bytes(data)
        bundle_path.write_bytes(bundle)
        samples.append(Sample(artifact_path, bundle_path, data, bundle))
    trusted_root = instance.write_trusted_root(workdir / "trusted_root.json")
    return Corpus("test instance, N distinct v0.3 keyless bundles", samples, Path(trusted_root),
                  DEFAULT_IDENTITY, DEFAULT_ISSUER)


def conformance_corpus(n: int) -> Corpus:
    """The real public-good bundle of the conformance suite, N times (there is only one)."""
    cases = json.loads((CONFORMANCE / "cases.json").read_text())
    case = next(c for c in cases["cases"] if c["name"] == CONFORMANCE_CASE)
    folder = CONFORMANCE / "bundle-verify"
    sample = Sample.load(folder / case["artifact"], folder / case["bundle"])
    return Corpus(f"conformance {CONFORMANCE_CASE}, one production bundle N times", [sample] * n,
                  PRODUCTION_ROOT, case["identity"], case["issuer"])


# -- in-process verification ----------------------------------------------------------------------


@dataclass(frozen=True)
class InProcess:
    """Milliseconds per verification."""

    total_ms: float  # parse + verify in one loop: the headline figure
    parse_ms: float
    verify_ms: float
    same_total_ms: float  # one bundle, parsed and verified N times
    same_verify_ms: float  # one bundle parsed once, verified N times
    versions: str  # of the libraries that did the work

    @classmethod
    def from_ms(cls, ms: Mapping[str, float], versions: str) -> InProcess:
        return cls(ms["total"], ms["parse"], ms["verify"], ms["same_total"], ms["same_verify"], versions)

    @property
    def per_second(self) -> float:
        return 1000.0 / self.total_ms


def verification_loops(pairs: list[tuple[bytes, bytes]], parse: Callable[[bytes], Any],
                       verify: Callable[[Any, bytes], None]) -> Loops:
    """The five in-process loops, for any ``parse(bundle bytes)`` and ``verify(parsed, artifact bytes)``."""
    parsed = [parse(bundle) for bundle, _ in pairs]
    one_bundle, one_data = pairs[0]
    one_parsed = parsed[0]

    def total() -> None:
        for bundle, data in pairs:
            verify(parse(bundle), data)

    def parse_only() -> None:
        for bundle, _ in pairs:
            parse(bundle)

    def verify_only() -> None:
        for item, (_, data) in zip(parsed, pairs, strict=True):
            verify(item, data)

    def same_total() -> None:
        for _ in pairs:
            verify(parse(one_bundle), one_data)

    def same_verify() -> None:
        for _ in pairs:
            verify(one_parsed, one_data)

    for item, (_, data) in zip(parsed, pairs, strict=True):  # all must verify; warms lazy imports and caches
        verify(item, data)
    return {"total": total, "parse": parse_only, "verify": verify_only, "same_total": same_total,
            "same_verify": same_verify}


def airlock_loops(corpus: Corpus) -> tuple[Loops, str]:
    import cryptography

    from airlock.artifact import Artifact
    from airlock.formats.bundle import parse_signature_file
    from airlock.trust.trusted_root import TrustedRoot
    from airlock.verify.policy import Identity
    from airlock.verify.verifier import Verifier

    verifier = Verifier(TrustedRoot.from_file(corpus.trusted_root))
    policy = Identity(identity=corpus.identity, issuer=corpus.issuer)

    def verify(material: Any, data: bytes) -> None:
        verifier.verify(material, Artifact.from_bytes(data), policy=policy).raise_for_failure()

    pairs = [(s.bundle_bytes, s.artifact_bytes) for s in corpus.samples]
    return (verification_loops(pairs, parse_signature_file, verify),
            f"airlock, cryptography {cryptography.__version__}")


def sigstore_loops(corpus: Corpus) -> tuple[Loops, str]:
    """sigstore-python's loops (only inside the peer venv): the same work through its public API."""
    from importlib.metadata import version

    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(corpus.trusted_root)))
    policy = Identity(identity=corpus.identity, issuer=corpus.issuer)

    def verify(bundle: Any, data: bytes) -> None:
        verifier.verify_artifact(data, bundle, policy)

    pairs = [(s.bundle_bytes, s.artifact_bytes) for s in corpus.samples]
    return (verification_loops(pairs, Bundle.from_json, verify),
            f"sigstore {version('sigstore')}, cryptography {version('cryptography')}")


# -- raw signature operations ---------------------------------------------------------------------

RAW_OPS = ("leaf by intermediate (P-384)", "SET (P-256)", "checkpoint (P-256)", "embedded SCT (P-256)",
           "artifact signature (P-256)")
RAW = "raw: "  # prefix of the raw loops' names among the timed loops


def raw_loops(corpus: Corpus) -> Loops:
    """One loop per signature check in ``RAW_OPS``, each over every bundle of the corpus.

    Inputs are decoded here with ``cryptography`` and ``rfc8785`` only, independently of airlock's
    parsers (FORMATS.md 2.1, 6.6, 7.3), so that the timed calls do nothing but verify.
    """
    import rfc8785
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root = json.loads(corpus.trusted_root.read_bytes())

    def keys_by_log_id(logs: list[dict]) -> dict[bytes, Any]:
        return {base64.b64decode(log["logId"]["keyId"]):
                serialization.load_der_public_key(base64.b64decode(log["publicKey"]["rawBytes"]))
                for log in logs}

    def spki(key: Any) -> bytes:
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    rekor_keys, ct_keys = keys_by_log_id(root.get("tlogs", [])), keys_by_log_id(root.get("ctlogs", []))
    ca_certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
                for ca in root.get("certificateAuthorities", []) for c in ca["certChain"]["certificates"]]
    hash_of = {"SHA2_256": hashes.SHA256, "SHA2_384": hashes.SHA384, "SHA2_512": hashes.SHA512}
    sha256 = hashes.SHA256

    columns: list[list[Callable[[], None]]] = [[] for _ in RAW_OPS]
    for sample in corpus.samples:
        bundle = json.loads(sample.bundle_bytes)
        material = bundle["verificationMaterial"]
        leaf = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
        intermediate = next(c for c in ca_certs if c.subject == leaf.issuer)
        entry = material["tlogEntries"][0]

        # SET: over the RFC 8785 JCS of {body, integratedTime, logID (hex), logIndex (global)}
        log_id = base64.b64decode(entry["logId"]["keyId"])
        rekor_key = rekor_keys[log_id]
        set_signature = base64.b64decode(entry["inclusionPromise"]["signedEntryTimestamp"])
        set_payload = rfc8785.dumps({
            "body": base64.b64encode(base64.b64decode(entry["canonicalizedBody"])).decode(),
            "integratedTime": int(entry["integratedTime"]),
            "logID": log_id.hex(),
            "logIndex": int(entry["logIndex"]),
        })

        # checkpoint: the note text up to the blank line, signed on the line with the log key's hint
        note = entry["inclusionProof"]["checkpoint"]["envelope"]
        split = note.rindex("\n\n")
        hint = hashlib.sha256(spki(rekor_key)).digest()[:4]
        blobs = [base64.b64decode(line.split(" ")[-1]) for line in note[split + 2 :].splitlines()]
        checkpoint_signature = next(blob[4:] for blob in blobs if blob[:4] == hint)
        checkpoint_text = note[: split + 1].encode()

        # embedded SCT: RFC 6962 digitally-signed struct over the precertificate TBS
        sct = next(s for s in leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps).value if s.log_id in ct_keys)
        tbs = leaf.tbs_precertificate_bytes
        millis = int(sct.timestamp.replace(tzinfo=UTC).timestamp() * 1000)
        sct_payload = (struct.pack(">BBQH", 0, 0, millis, 1)
                       + hashlib.sha256(spki(intermediate.public_key())).digest()
                       + len(tbs).to_bytes(3, "big") + tbs
                       + len(sct.extension_bytes).to_bytes(2, "big") + sct.extension_bytes)

        # the artifact: message signature by the leaf key, hashed with the bundle's digest algorithm
        message = bundle["messageSignature"]
        artifact_hash = hash_of[message.get("messageDigest", {}).get("algorithm", "SHA2_256")]
        artifact_signature, leaf_key = base64.b64decode(message["signature"]), leaf.public_key()

        checks: list[Callable[[], None]] = [
            lambda leaf=leaf, issuer=intermediate: leaf.verify_directly_issued_by(issuer),
            lambda k=rekor_key, s=set_signature, m=set_payload: k.verify(s, m, ec.ECDSA(sha256())),
            lambda k=rekor_key, s=checkpoint_signature, m=checkpoint_text: k.verify(s, m, ec.ECDSA(sha256())),
            lambda k=ct_keys[sct.log_id], s=sct.signature, m=sct_payload: k.verify(s, m, ec.ECDSA(sha256())),
            lambda k=leaf_key, s=artifact_signature, m=sample.artifact_bytes, h=artifact_hash:
                k.verify(s, m, ec.ECDSA(h())),
        ]
        for column, check in zip(columns, checks, strict=True):
            check()  # raises if the extraction is wrong: the figures would be meaningless
            column.append(check)

    def loop(column: list[Callable[[], None]]) -> Callable[[], None]:
        def run() -> None:
            for check in column:
                check()
        return run

    return {RAW + name: loop(column) for name, column in zip(RAW_OPS, columns, strict=True)}


def split_raw(ms: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(the verification loops, the raw loops without their prefix)."""
    return ({k: v for k, v in ms.items() if not k.startswith(RAW)},
            {k.removeprefix(RAW): v for k, v in ms.items() if k.startswith(RAW)})


# -- the peer: sigstore-python in its own venv ----------------------------------------------------

# sigstore-python's --trust-config takes a ClientTrustConfig, whose signingConfig is required but
# never used to verify: an empty one keeps every service URL out of the file.
EMPTY_SIGNING_CONFIG = {
    "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
    "caUrls": [], "oidcUrls": [], "rekorTlogUrls": [], "tsaUrls": [],
    "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"},
}


def peer_python() -> tuple[Path | None, str]:
    """The peer venv's interpreter, creating the venv on demand; (None, reason) when unavailable."""
    python = PEER_VENV / "bin" / "python"
    probe = [str(python), "-c", "from importlib.metadata import version; print(version('sigstore'))"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True, check=False).stdout.strip()
        if found == PEER_VERSION:
            return python, ""
    progress(f"installing sigstore=={PEER_VERSION} into {PEER_VENV} (for this benchmark only)")
    for step in ([sys.executable, "-m", "venv", str(PEER_VENV)],
                 [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  f"sigstore=={PEER_VERSION}"]):
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            return None, f"installing sigstore=={PEER_VERSION} failed: {tail[0]}"
    return python, ""


def peer_worker(spec_path: str) -> int:
    """``--peer-worker SPEC``, inside the peer venv: sigstore-python's loops and, interleaved with
    them, the raw signature loops with this venv's own ``cryptography``. Prints JSON."""
    spec = json.loads(Path(spec_path).read_text())
    corpus = Corpus.from_spec(spec)
    try:
        loops, versions = sigstore_loops(corpus)
    except Exception as exc:  # e.g. the bundles do not verify: the caller falls back
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 0
    ms = run_interleaved(loops | raw_loops(corpus), spec["passes"], corpus.n)
    print(json.dumps({"versions": versions, "ms": ms}))
    return 0


def bench_peer(python: Path, corpus: Corpus, workdir: Path, passes: int) -> tuple[InProcess, dict[str, float]] | str:
    """sigstore-python's figures and the raw figures in its venv, or why it could not verify the corpus."""
    spec = workdir / "peer_spec.json"
    spec.write_text(json.dumps(corpus.spec(passes)))
    done = subprocess.run([str(python), str(Path(__file__).resolve()), "--peer-worker", str(spec)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"the peer worker failed: {done.stderr.strip()[-400:]}"
    result = json.loads(done.stdout)
    if "error" in result:
        return result["error"]
    verification, raw = split_raw(result["ms"])
    return InProcess.from_ms(verification, result["versions"]), raw


def peer_trust_config(corpus: Corpus, workdir: Path) -> Path:
    path = workdir / "client_trust_config.json"
    path.write_text(json.dumps({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads(corpus.trusted_root.read_bytes()),
        "signingConfig": EMPTY_SIGNING_CONFIG,
    }))
    return path


# -- command lines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wall:
    median_ms: float
    min_ms: float


@dataclass(frozen=True)
class Command:
    argv: list[str]
    ok: Callable[[subprocess.CompletedProcess[str]], bool] = lambda p: p.returncode == 0


def wall_times(commands: Mapping[str, Command], runs: int, env: Mapping[str, str]) -> tuple[dict[str, Wall], str]:
    """Wall time of whole processes, run round-robin after one warm-up each; (figures, failures)."""
    failures = []
    live = {}
    for name, command in commands.items():
        warm = subprocess.run(command.argv, capture_output=True, text=True, check=False, env=env)
        if command.ok(warm):
            live[name] = command
        else:
            failures.append(f"{name} failed (exit {warm.returncode}): {(warm.stderr or warm.stdout).strip()[-300:]}")
    times: dict[str, list[float]] = {name: [] for name in live}
    for _ in range(runs):
        for name, command in live.items():
            start = time.perf_counter()
            subprocess.run(command.argv, capture_output=True, check=False, env=env)
            times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: Wall(statistics.median(t), min(t)) for name, t in times.items()}, "; ".join(failures)


def airlock_command() -> str:
    """The ``airlock`` console script of this interpreter (not a pyenv shim, which adds a shell)."""
    beside = Path(sys.executable).with_name("airlock")
    return str(beside) if beside.exists() else shutil.which("airlock") or "airlock"


AIRLOCK_CLI = "airlock verify-blob"
PEER_CLI = "sigstore verify identity --offline"


def cli_commands(corpus: Corpus, workdir: Path, peer: Path | None) -> dict[str, Command]:
    sample = corpus.samples[0]
    python = sys.executable
    commands = {
        "python -S -c pass (no site)": Command([python, "-S", "-c", "pass"]),
        "python -c pass": Command([python, "-c", "pass"]),
        "python -c 'import cryptography.x509'": Command([python, "-c", "import cryptography.x509"]),
        "python -c 'import <airlock verify modules>'": Command(
            [python, "-c", "import airlock.cli.verify_blob, airlock.formats.bundle, airlock.verify.verifier"]),
        AIRLOCK_CLI: Command(
            [airlock_command(), "verify-blob", str(sample.artifact), "--bundle", str(sample.bundle),
             "--trusted-root", str(corpus.trusted_root), "--certificate-identity", corpus.identity,
             "--certificate-oidc-issuer", corpus.issuer],
            lambda p: p.returncode == 0 and "Verified OK" in p.stderr),
    }
    if peer is not None:
        commands["peer venv: python -c pass"] = Command([str(peer), "-c", "pass"])
        commands[PEER_CLI] = Command(
            [str(PEER_VENV / "bin" / "sigstore"), "--trust-config", str(peer_trust_config(corpus, workdir)),
             "verify", "identity", "--offline", "--bundle", str(sample.bundle), "--cert-identity", corpus.identity,
             "--cert-oidc-issuer", corpus.issuer, str(sample.artifact)],
            lambda p: p.returncode == 0 and "OK:" in p.stderr)
    return commands


def cli_environment(workdir: Path) -> dict[str, str]:
    """Bytecode cached as after a normal install, in a private prefix (nothing is written to src/),
    so a stale or missing ``__pycache__`` (PYTHONDONTWRITEBYTECODE) does not count as start-up."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


# -- profile (optional) ---------------------------------------------------------------------------


def profile_airlock(corpus: Corpus, top: int) -> None:
    """cProfile over parse + verify of the corpus: the costliest functions, own and cumulative time."""
    import cProfile
    import pstats

    loops, _ = airlock_loops(corpus)
    profiler = cProfile.Profile()
    profiler.runcall(loops["total"])
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    per = 1000.0 / corpus.n

    def where(key: tuple[str, int, str]) -> str:
        path, line, name = key
        if path == "~":
            return name
        return f"{path.split('/site-packages/')[-1].split('/src/')[-1]}:{line} {name}"

    def show(title: str, rows: list[tuple[Any, Any]]) -> None:
        print(f"  {title}\n  {'own':>7} {'cumul':>7} {'calls':>6}  function")
        for key, (_, ncalls, own, cumulative, _) in rows[:top]:
            print(f"  {own * per:7.3f} {cumulative * per:7.3f} {ncalls / corpus.n:6.1f}  {where(key)}")

    print(f"\ncProfile of {corpus.n} parse+verify (ms and calls per verification; the profiler inflates "
          "Python-level costs)")
    show("by own time:", sorted(stats.items(), key=lambda item: item[1][2], reverse=True))
    show("airlock functions by cumulative time:",
         sorted(((k, v) for k, v in stats.items() if "/airlock/" in k[0]), key=lambda item: item[1][3], reverse=True))


# -- report ---------------------------------------------------------------------------------------


def print_inprocess(figures: InProcess, raw_ms: float) -> None:
    print(f"  {figures.versions}:")
    print(f"    parse + verify  {figures.total_ms:7.3f} ms/verification  {figures.per_second:6.0f} verifications/s  "
          f"({figures.total_ms / raw_ms:.2f}x raw signatures)")
    print(f"    parse only      {figures.parse_ms:7.3f} ms   verify only {figures.verify_ms:7.3f} ms")
    print(f"    same bundle     {figures.same_total_ms:7.3f} ms parse + verify, "
          f"{figures.same_verify_ms:7.3f} ms verify only")


def print_raw(raw: Mapping[str, float], title: str) -> None:
    print(f"  {title}:")
    for name, ms in raw.items():
        print(f"    {name:<30} {ms:7.3f}")
    print(f"    {'total':<30} {sum(raw.values()):7.3f}")


def print_cli_breakdown(walls: Mapping[str, Wall]) -> None:
    """Where one ``airlock verify-blob`` process spends its time, from differences of the minimums."""
    names = ("python -S -c pass (no site)", "python -c pass", "python -c 'import cryptography.x509'",
             "python -c 'import <airlock verify modules>'", AIRLOCK_CLI)
    if not all(name in walls for name in names):
        return
    bare, site, crypto, modules, cli = (walls[name].min_ms for name in names)
    print(f"    breakdown of {AIRLOCK_CLI} (differences of minimums): interpreter {bare:.0f} + site {site - bare:.0f}"
          f" + cryptography.x509 import {crypto - site:.0f} + airlock's other imports {modules - crypto:.0f}"
          f" + argparse, trusted root, bundle, verification, exit {cli - modules:.0f} ms")


def print_summary(corpus: Corpus, ours: InProcess, raw_ms: float, our_cli: Wall | None,
                  peer: InProcess | None, peer_raw_ms: float | None, peer_cli: Wall | None, notes: list[str]) -> None:
    rows = [
        ("in-process ms/verification", f"{ours.total_ms:.3f}", f"{peer.total_ms:.3f}" if peer else "-"),
        ("in-process verifications/s", f"{ours.per_second:.0f}", f"{peer.per_second:.0f}" if peer else "-"),
        ("  parse / verify ms", f"{ours.parse_ms:.3f} / {ours.verify_ms:.3f}",
         f"{peer.parse_ms:.3f} / {peer.verify_ms:.3f}" if peer else "-"),
        ("same bundle ms/verification", f"{ours.same_total_ms:.3f}", f"{peer.same_total_ms:.3f}" if peer else "-"),
        ("CLI wall ms (median / min)", f"{our_cli.median_ms:.0f} / {our_cli.min_ms:.0f}" if our_cli else "-",
         f"{peer_cli.median_ms:.0f} / {peer_cli.min_ms:.0f}" if peer_cli else "-"),
        ("raw signatures ms/bundle", f"{raw_ms:.3f}", f"{peer_raw_ms:.3f}" if peer_raw_ms else "-"),
        ("ratio in-process / raw", f"{ours.total_ms / raw_ms:.2f}x",
         f"{peer.total_ms / peer_raw_ms:.2f}x" if peer and peer_raw_ms else "-"),
    ]
    width = max(len(r[0]) for r in rows)
    peer_name = f"sigstore-python {PEER_VERSION}"
    print(f"\nSummary: {corpus.label}, N={corpus.n}")
    print(f"  {'':<{width}}  {'airlock':>15}  {peer_name:>22}")
    for label, left, right in rows:
        print(f"  {label:<{width}}  {left:>15}  {right:>22}")
    ratio = ours.total_ms / raw_ms
    verdicts = [f"airlock / raw <= {RATIO_TARGET}x: {'met' if ratio <= RATIO_TARGET else 'NOT met'} ({ratio:.2f}x)"]
    if our_cli:
        met = "met" if our_cli.median_ms < CLI_TARGET_MS else "NOT met"
        verdicts.append(f"CLI < {CLI_TARGET_MS:.0f} ms: {met} ({our_cli.median_ms:.0f} ms median)")
    print("  targets: " + "; ".join(verdicts))
    for note in notes:
        print(f"  note: {note}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="number of distinct bundles (default 300)")
    parser.add_argument("--passes", type=int, default=5, help="timed round-robin passes; the best counts (default 5)")
    parser.add_argument("--cli-runs", type=int, default=15, help="runs of each process (default 15)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=30, 1 pass, 3 process runs")
    parser.add_argument("--no-peer", action="store_true", help="skip sigstore-python")
    parser.add_argument("--corpus", choices=("instance", "conformance"), default="instance",
                        help="bundles minted by a test instance (default), or the real conformance bundle N times")
    parser.add_argument("--profile", nargs="?", type=int, const=20, default=0, metavar="TOP",
                        help="also print a cProfile of airlock's verification (top TOP functions, default 20)")
    parser.add_argument("--peer-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_worker:
        return peer_worker(args.peer_worker)
    if args.quick:
        args.n, args.passes, args.cli_runs = min(args.n, 30), 1, 3
    notes: list[str] = []
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as tmp:
        workdir = Path(tmp)
        if args.corpus == "instance":
            progress(f"minting {args.n} distinct v0.3 keyless bundles")
            corpus = generate_corpus(workdir, args.n)
        else:
            corpus = conformance_corpus(args.n)

        # The peer goes first: if it cannot verify the corpus, both tools switch to the real bundle.
        peer_py, reason = (None, "sigstore-python skipped (--no-peer)") if args.no_peer else peer_python()
        peer: InProcess | None = None
        peer_raw: dict[str, float] = {}
        if reason:
            notes.append(reason)
        if peer_py is not None:
            progress("sigstore-python: in-process (peer venv)")
            outcome = bench_peer(peer_py, corpus, workdir, args.passes)
            if isinstance(outcome, str) and args.corpus == "instance":
                notes.append(f"sigstore-python rejects the test-instance bundles ({outcome}); both tools "
                             f"were compared on the conformance bundle {CONFORMANCE_CASE} with the production root")
                progress(notes[-1])
                corpus = conformance_corpus(args.n)
                outcome = bench_peer(peer_py, corpus, workdir, args.passes)
            if isinstance(outcome, str):
                notes.append(f"sigstore-python could not verify the corpus: {outcome}")
                peer_py = None
            else:
                peer, peer_raw = outcome

        progress("airlock: in-process, interleaved with the raw signature loops")
        loops, versions = airlock_loops(corpus)
        verification_ms, raw = split_raw(run_interleaved(loops | raw_loops(corpus), args.passes, corpus.n))
        ours = InProcess.from_ms(verification_ms, versions)
        raw_ms = sum(raw.values())

        progress(f"processes: {args.cli_runs} runs each")
        walls, failures = wall_times(cli_commands(corpus, workdir, peer_py), args.cli_runs, cli_environment(workdir))
        if failures:
            notes.append(failures)

        print(f"airlock verification benchmark: {corpus.label}, N={corpus.n}, best of {args.passes} passes, "
              f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, 1-min load average "
              f"{load_before:.2f} before / {os.getloadavg()[0]:.2f} after (other processes skew the figures)")
        print("\nIn-process verification (ms per verification; one Verifier reused; inputs in memory)")
        print_inprocess(ours, raw_ms)
        if peer is not None:
            print_inprocess(peer, sum(peer_raw.values()))
        print("\nRaw signature operations (ms per bundle, inputs decoded beforehand)")
        print_raw(raw, ours.versions.split(", ")[-1] + ", timed with airlock's loops")
        if peer_raw and peer is not None:
            print_raw(peer_raw, peer.versions.split(", ")[-1] + " (peer venv), timed with sigstore-python's loops")
        print(f"\nProcess wall time ({args.cli_runs} runs each after a warm-up; bytecode cached)")
        for name, wall in walls.items():
            print(f"    {name:<44} {wall.median_ms:7.1f} ms median  {wall.min_ms:7.1f} ms min")
        print_cli_breakdown(walls)

        print_summary(corpus, ours, raw_ms, walls.get(AIRLOCK_CLI), peer,
                      sum(peer_raw.values()) if peer_raw else None, walls.get(PEER_CLI), notes)
        if args.profile:
            progress("profiling airlock")
            profile_airlock(corpus, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
