#!/usr/bin/env python3
"""Admission requests per second and latency of ``airlock webhook`` on loopback.

    python3 benchmarks/bench_webhook.py            # 500 req/s cached, 50 images/s uncached, 10 s each
    python3 benchmarks/bench_webhook.py --quick    # 3 s each
    python3 benchmarks/bench_webhook.py --profile 30   # also cProfile the server's threads (top 30)

Set-up: Debian's ``docker-registry`` on 127.0.0.1 holding N distinct key-signed images; the webhook
(TLS, enforce mode) in a process of its own, made as ``airlock webhook`` makes it
(``webhook.gate_factory``: a ClusterImagePolicy with a key authority, loaded by
``airlock.admission.policies``, judged by ``airlock.admission.gate.Gate``, each image's cosign
signature read from the registry); a load generator in this process sending AdmissionReviews for
Pods, open loop at a fixed rate over keep-alive TLS connections, as kube-apiserver does.

- **cached**: every request names the same signed image (by tag: resolved through the webhook's
  brief tag cache; and by digest: no registry round trip at all);
- **uncached**: every request names another signed image (by tag), never seen before: the
  resolution, the signature discovery and the verification all happen within the request;
- **1 client**: the same two, one request at a time (closed loop): the service time alone.

Latency is measured from each request's scheduled send time (so a stalled server is not hidden by
the generator waiting for it). The generator is one asyncio loop with raw HTTP/1.1 over TLS (no
thread per connection), and shares the 2 cores with the server and the registry: each scenario
prints the CPU each of the three used, as a share of one core, beside the machine's load average.
Targets (issue 11): cached p99 <= 10 ms at 500 requests/s; uncached p99 <= 100 ms at 50 distinct
images/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


# -- the server process ---------------------------------------------------------------------------

def serve_child(workdir: Path, profile: int) -> None:
    """The webhook process: reads policy.yaml and the TLS files from ``workdir``, prints its port,
    serves until its stdin closes; with ``profile``, then prints the top functions of every thread."""
    from airlock.admission import webhook

    profiles = _profile_threads() if profile else []
    loader = webhook.Loader([str(workdir / "policy.yaml")], webhook.gate_factory())
    hook = webhook.Webhook(loader)
    server = webhook.Server(hook, tls_cert=str(workdir / "tls.crt"), tls_key=str(workdir / "tls.key"),
                            listen="127.0.0.1:0", poll=5).start()
    if loader.state is None:
        raise SystemExit(f"the policy did not load: {loader.error}")
    print(server.port, flush=True)
    sys.stdin.read()  # until the parent closes it
    server.stop()
    if profiles:
        import pstats

        stats = pstats.Stats(profiles[0])
        for one in profiles[1:]:
            stats.add(one)
        stats.sort_stats("cumulative").print_stats(profile)
        stats.sort_stats("tottime").print_stats(profile)


def _profile_threads() -> list:
    """Every thread started from now on runs under a cProfile of its own (cProfile sees one thread)."""
    import cProfile
    import threading

    profiles: list = []
    run = threading.Thread.run

    def profiled(self: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profiles.append(profiler)
        profiler.enable()
        try:
            run(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled  # type: ignore[method-assign]
    return profiles


# -- the load generator ---------------------------------------------------------------------------

class Connection:
    """One keep-alive HTTP/1.1 connection over TLS, as kube-apiserver holds them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)


def http_request(port: int, body: bytes) -> bytes:
    return (f"POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def allowed(status: int, data: bytes) -> str | None:
    """None when the answer admits the Pod, else what it said."""
    if status != 200:
        return f"HTTP {status}: {data[:200]!r}"
    answer = json.loads(data)["response"]
    return None if answer["allowed"] is True else json.dumps(answer)[:300]


async def open_connections(port: int, context: ssl.SSLContext, count: int) -> list[Connection]:
    pairs = [await asyncio.open_connection("127.0.0.1", port, ssl=context) for _ in range(count)]
    return [Connection(r, w) for r, w in pairs]


async def run_open(port: int, context: ssl.SSLContext, requests: list[bytes], rate: float, seconds: float,
                   connections: int = 32) -> dict:
    """Open loop: request i is due at start + i/rate, sent on the first idle connection (waiting
    for one if all are busy); its latency counts from when it was due."""
    total = int(rate * seconds)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in await open_connections(port, context, connections):
        idle.put_nowait(connection)
    latencies: list[float] = []
    errors: list[str] = []

    async def one(i: int, due: float) -> None:
        connection = await idle.get()
        try:
            status, data = await connection.post(requests[i % len(requests)])
            problem = allowed(status, data)
        except Exception as exc:  # counted, not raised: the figures say how many failed
            problem = f"{type(exc).__name__}: {exc}"
        latencies.append(time.perf_counter() - due)
        if problem:
            errors.append(problem)
        idle.put_nowait(connection)

    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    return summary(latencies, errors, elapsed)


async def run_closed(port: int, context: ssl.SSLContext, requests: list[bytes]) -> dict:
    """One client, one request at a time: the service time alone, with no queueing."""
    [connection] = await open_connections(port, context, 1)
    latencies: list[float] = []
    errors: list[str] = []
    began = time.perf_counter()
    for request in requests:
        start = time.perf_counter()
        status, data = await connection.post(request)
        latencies.append(time.perf_counter() - start)
        if problem := allowed(status, data):
            errors.append(problem)
    elapsed = time.perf_counter() - began
    connection.writer.close()
    return summary(latencies, errors, elapsed)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(latencies: list[float], errors: list[str], elapsed: float) -> dict:
    return {"requests": len(latencies), "achieved_rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "max_ms": max(latencies) * 1000, "errors": len(errors), "first_error": errors[0] if errors else None}


# -- CPU accounting -------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def registry_pid() -> int | None:
    """The docker-registry process this one started."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat.rpartition(")")[2].split()
            if name.startswith("docker-registry") and int(rest[1]) == os.getpid():
                return int(entry.name)
    return None


def measured(run, server: int, registry: int | None) -> dict:
    """``run()``'s figures, with the CPU the server, the registry and this generator used meanwhile
    (percent of one core) and the 1-minute load average at the end."""
    before = (cpu_seconds(server), cpu_seconds(registry) if registry else 0.0, own_cpu(), time.perf_counter())
    result = run()
    after = (cpu_seconds(server), cpu_seconds(registry) if registry else 0.0, own_cpu(), time.perf_counter())
    wall = after[3] - before[3]
    result.update(server_cpu=100 * (after[0] - before[0]) / wall, registry_cpu=100 * (after[1] - before[1]) / wall,
                  generator_cpu=100 * (after[2] - before[2]) / wall, load=os.getloadavg()[0])
    return result


# -- the scenarios --------------------------------------------------------------------------------

def policy_yaml(registry: str, key_pem: str) -> str:
    return (f"apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: bench\n"
            f"spec:\n  images:\n  - glob: \"{registry}/bench/**\"\n  authorities:\n  - name: release-key\n"
            f"    key:\n      data: |\n{textwrap.indent(key_pem, '        ')}")


def measure(work: Path, registry: str, args: argparse.Namespace, seconds: float) -> dict:
    from airlock.oci.registry import RegistryClient
    from webhook_support import Signer, admission_request, pod, push_image, write_tls

    client, signer = RegistryClient(), Signer()
    count = int(args.uncached_rate * seconds) + 1
    print(f"pushing and signing {count} images into {registry} ...", file=sys.stderr)
    images = []
    for i in range(count):
        digest = push_image(client, registry, f"bench/app{i}", "v1", work)
        signer.sign(client, f"{registry}/bench/app{i}:v1", digest)
        images.append((f"{registry}/bench/app{i}:v1", f"{registry}/bench/app{i}@{digest}"))
    (work / "policy.yaml").write_text(policy_yaml(registry, signer.pem))
    ca, cert, key = write_tls(work / "tls")
    os.replace(cert, work / "tls.crt")
    os.replace(key, work / "tls.key")
    command = [sys.executable, __file__, "--serve-child", str(work), "--profile", str(args.profile)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        context = ssl.create_default_context(cafile=str(ca))
        registry_process = registry_pid()

        def request(image: str) -> bytes:
            return http_request(port, json.dumps(admission_request(pod("bench", image))).encode())

        def scenario(coroutine) -> dict:
            return measured(lambda: asyncio.run(coroutine), child.pid, registry_process)

        results = {}
        tag, pinned = images[0]
        asyncio.run(run_closed(port, context, [request(tag), request(pinned)]))  # verified once, cached from here on
        results["cached, by tag"] = scenario(run_open(port, context, [request(tag)], args.cached_rate, seconds))
        results["cached, by digest"] = scenario(run_open(port, context, [request(pinned)], args.cached_rate, seconds))
        fresh = [request(t) for t, _ in images[1:]]
        half = len(fresh) // 2
        results["uncached, by tag"] = scenario(run_open(port, context, fresh[:half], args.uncached_rate, seconds / 2))
        results["cached, 1 client"] = scenario(run_closed(port, context, [request(pinned)] * 1000))
        results["uncached, 1 client"] = scenario(run_closed(port, context, fresh[half:]))
    finally:
        if child.stdin:
            child.stdin.close()
        if args.profile and child.stdout:
            print(child.stdout.read())
        child.wait(30)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per scenario")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cached-rate", type=float, default=500.0)
    parser.add_argument("--uncached-rate", type=float, default=50.0)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cProfile the server's threads and print the top N functions")
    parser.add_argument("--serve-child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_child:
        serve_child(Path(args.serve_child), args.profile)
        return 0
    seconds = 3.0 if args.quick else args.seconds

    from registry_server import docker_registry

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "registry").mkdir()
        with docker_registry(directory=Path(tmp) / "registry", blob_cache=True) as registry:
            results = measure(Path(tmp), registry, args, seconds)
    print(f"{os.cpu_count()} cores shared with other processes; CPU: percent of one core used during the "
          "scenario by the webhook, the registry and the load generator; load: 1-minute average after it")
    print(f"{'scenario':20} {'rate':>6} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6} "
          f"{'webhook':>8} {'registry':>8} {'loadgen':>8} {'load':>5}")
    for name, r in results.items():
        rate = "closed" if "1 client" in name else args.uncached_rate if name.startswith("uncached") \
            else args.cached_rate
        print(f"{name:20} {rate!s:>6} {r['achieved_rps']:9.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['max_ms']:8.2f} {r['errors']:6d} {r['server_cpu']:7.0f}% {r['registry_cpu']:7.0f}% "
              f"{r['generator_cpu']:7.0f}% {r['load']:5.2f}")
        if r["first_error"]:
            print(f"  first error: {r['first_error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
