#!/usr/bin/env python3
"""Transfer speed: airlock save/load/copy beside skopeo copy, skopeo sync, crane and cosign, same
images, same run.

    python3 benchmarks/bench_transfer.py [--small 100] [--large 3] [--large-mib 50] [--jobs 8]
                                         [--only save,load,copy]

Starts Debian's docker-registry on 127.0.0.1 (tests/registry_server.py), fills it with SMALL
images (one tiny distinct layer each, tags of one repository) and LARGE images (one random
LARGE-MIB layer each, incompressible), then times, for small and large images separately:

- save (registry -> disk): ``airlock save`` (--jobs 1 and --jobs N) into an OCI layout; ``skopeo
  copy`` per image into an OCI layout; ``skopeo sync --src docker --dest dir`` (one process);
  ``crane pull --format oci`` (one process, all references);
- load (disk -> registry): ``airlock load --all`` (--jobs 1 and --jobs N) from airlock's layout;
  ``skopeo copy`` per image from skopeo's layout; ``skopeo sync --src dir --dest docker`` from
  skopeo's dir; ``crane push --index`` of crane's layout (every image, plus one index).

- copy (registry -> registry, nothing on disk): ``airlock copy`` per image (--jobs 1 and
  --jobs N); ``skopeo copy docker://... docker://...`` per image; ``skopeo sync --src docker
  --dest docker`` (one process); ``crane copy`` per image; ``cosign copy`` per image. Per image,
  because ``airlock copy``, like ``cosign copy``, takes one image: the small figures include
  each tool's start-up (and airlock's and cosign's look-ups of .sig/.att/.sbom and referrers);
  ``copy_image()`` in a loop, in one process, shows airlock's work without its start-up.

Every load and copy goes into a fresh registry, so nothing is already there (skopeo's blob-info
cache cannot mount from an earlier run). Prints images/s, MB/s and the peak RSS of each command
(ru_maxrss of the process tree), and the load average before each group (other work shares the
machine). Tools that are missing are skipped with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
RSS = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
       "stderr=subprocess.PIPE).returncode; "
       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
CRANE = os.path.expanduser("~/.cache/airlock-peers/bin/crane")
COSIGN = os.path.expanduser("~/.cache/airlock-peers/bin/cosign")


def airlock() -> list[str]:
    exe = shutil.which("airlock", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "airlock"]


def timed(command: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (MiB) of ``command`` (with everything it starts)."""
    start = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", RSS, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command[:6])}...: {process.stderr.strip()[-500:]}")
    return seconds, int(process.stdout.strip().splitlines()[-1]) // 1024


def shell(script: str) -> list[str]:
    return ["sh", "-ec", script]


def seed(registry: str, work: Path, small: int, large: int, large_mib: int) -> tuple[list[str], list[str], int, int]:
    """Images in ``registry``: (small refs, large refs, bytes of small, bytes of large)."""
    from image_layouts import add_image, new_layout

    layout = new_layout(work / "seed")
    entries: list[dict] = []
    layout.add_manifest = entries.append  # one index.json write
    small_refs = [f"{registry}/bench/small:t{n}" for n in range(small)]
    large_refs = [f"{registry}/bench/large:t{n}" for n in range(large)]
    for n, ref in enumerate(small_refs):
        add_image(layout, ref, b"small layer %d\n" % n * 64)
    for ref in large_refs:
        add_image(layout, ref, os.urandom(large_mib << 20))
    index = layout.read_index()
    index["manifests"] = entries
    layout.write_index(index)
    subprocess.run([*airlock(), "load", "--all", "--dir", str(work / "seed"), registry, "-q"], check=True)
    return small_refs, large_refs, small * (64 * 16 + 300), large * (large_mib << 20)


def row(tool: str, direction: str, images: int, nbytes: int, seconds: float, rss: int) -> None:
    print(f"{direction:5} {tool:24} {images:5d} img {seconds:7.2f} s {images / seconds:8.1f} img/s "
          f"{nbytes / seconds / 1e6:8.1f} MB/s  peak RSS {rss:5d} MiB", flush=True)


def uptime() -> str:
    with open("/proc/loadavg") as handle:
        one, five, fifteen = handle.read().split()[:3]
    return f"load average {one}, {five}, {fifteen}"


def fresh_registry(work: Path):
    from registry_server import docker_registry

    shutil.rmtree(work / "registry", ignore_errors=True)
    (work / "registry").mkdir()
    return docker_registry(directory=work / "registry")


def bench_copy(kind: str, refs: list[str], nbytes: int, work: Path, jobs: int) -> None:
    """Registry to registry, each tool into a fresh destination."""
    skopeo = shutil.which("skopeo")
    crane = CRANE if os.access(CRANE, os.X_OK) else shutil.which("crane")
    cosign = COSIGN if os.access(COSIGN, os.X_OK) else shutil.which("cosign")
    n = len(refs)
    registry = refs[0].split("/", 1)[0]
    repository = refs[0].split("/", 1)[1].rsplit(":", 1)[0]
    tools = [f"airlock copy --jobs {j}" for j in (1, jobs)] + ["airlock copy_image() loop"]
    tools += ["skopeo copy (per image)", "skopeo sync"] if skopeo else []
    tools += ["crane copy (per image)"] if crane else []
    tools += ["cosign copy (per image)"] if cosign else []
    home = work / "cosign-home"
    home.mkdir(exist_ok=True)
    print(f"# copy, {kind}: {uptime()}", flush=True)
    for tool in tools:
        with fresh_registry(work) as target:
            def each(template: str) -> list[str]:
                return shell(" && ".join(template.format(src=ref, dst=target + "/" + ref.split("/", 1)[1])
                                         for ref in refs))
            if tool == "airlock copy_image() loop":  # one process: the work without the start-up of each
                pairs = [(ref, target + "/" + ref.split("/", 1)[1]) for ref in refs]
                command = [sys.executable, "-c", "import sys; from airlock.api import copy_image, registry_client; "
                           "c = registry_client(); [copy_image(s, d, client=c, jobs=1) for s, d in "
                           f"{pairs!r}]"]
            elif tool.startswith("airlock"):
                j = tool.rsplit(" ", 1)[1]
                command = each(" ".join(airlock()) + f" copy -q --jobs {j} {{src}} {{dst}}")
            elif tool.startswith("skopeo copy"):
                command = each("skopeo copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false "
                               "docker://{src} docker://{dst}")
            elif tool == "skopeo sync":
                command = [skopeo or "skopeo", "sync", "--preserve-digests", "--src-tls-verify=false",
                           "--dest-tls-verify=false", "--src", "docker", "--dest", "docker",
                           f"{registry}/{repository}", f"{target}/bench"]
            elif tool.startswith("crane"):
                command = each(f"{crane} copy --insecure {{src}} {{dst}}")
            else:
                command = each(f"HOME={home} {cosign} copy --allow-http-registry {{src}} {{dst}} 2>/dev/null")
            seconds, rss = timed(command)
            row(tool, "copy", n, nbytes, seconds, rss)


def bench(kind: str, refs: list[str], nbytes: int, work: Path, jobs: int) -> None:
    from registry_server import docker_registry

    skopeo = shutil.which("skopeo")
    crane = CRANE if os.access(CRANE, os.X_OK) else shutil.which("crane")
    repository = refs[0].split("/", 1)[1].rsplit(":", 1)[0]
    registry = refs[0].split("/", 1)[0]
    n = len(refs)
    runs: list[tuple[str, list[str]]] = []
    for j in (1, jobs):
        runs.append((f"airlock save --jobs {j}", [*airlock(), "save", *refs, "--dir", str(work / f"{kind}-a{j}"),
                                                  "--jobs", str(j), "-q"]))
    if skopeo:
        oci = work / f"{kind}-skopeo-oci"
        script = " && ".join(f"skopeo copy -q --preserve-digests --src-tls-verify=false docker://{ref} "
                             f"oci:{oci}:{ref.rsplit(':', 1)[1]}" for ref in refs)
        runs.append(("skopeo copy (per image)", shell(script)))
        runs.append(("skopeo sync", [skopeo, "sync", "--preserve-digests", "--src-tls-verify=false", "--src", "docker",
                                     "--dest", "dir", f"{registry}/{repository}", str(work / f"{kind}-sync")]))
    if crane:
        runs.append(("crane pull", [crane, "pull", "--insecure", "--format", "oci", *refs,
                                    str(work / f"{kind}-crane")]))
    print(f"# save, {kind}: {uptime()}", flush=True)
    for tool, command in runs:
        seconds, rss = timed(command)
        row(tool, "save", n, nbytes, seconds, rss)
    print(f"# load, {kind}: {uptime()}", flush=True)

    loads: list[tuple[str, list[str] | None]] = [(f"airlock load --jobs {j}", None) for j in (1, jobs)]
    if skopeo:
        loads += [("skopeo copy (per image)", None), ("skopeo sync", None)]
    if crane:
        loads += [("crane push --index", None)]
    for tool, _ in loads:
        (work / "registry").mkdir(exist_ok=True)
        shutil.rmtree(work / "registry")
        (work / "registry").mkdir()
        with docker_registry(directory=work / "registry") as target:
            if tool.startswith("airlock"):
                j = tool.rsplit(" ", 1)[1]
                command = [*airlock(), "load", "--all", "--dir", str(work / f"{kind}-a{jobs}"), target,
                           "--jobs", j, "-q"]
            elif tool.startswith("skopeo copy"):
                oci = work / f"{kind}-skopeo-oci"
                command = shell(" && ".join(
                    f"skopeo copy -q --preserve-digests --dest-tls-verify=false oci:{oci}:{ref.rsplit(':', 1)[1]} "
                    f"docker://{target}/{repository}:{ref.rsplit(':', 1)[1]}" for ref in refs))
            elif tool == "skopeo sync":
                command = [skopeo or "skopeo", "sync", "--preserve-digests", "--dest-tls-verify=false", "--src",
                           "dir", "--dest", "docker", str(work / f"{kind}-sync"),
                           f"{target}/bench"]
            else:  # crane push of a layout with several images: all of them, under one index
                command = [crane or "crane", "push", "--insecure", "--index", str(work / f"{kind}-crane"),
                           f"{target}/{repository}:all"]
            seconds, rss = timed(command)
            row(tool, "load", n, nbytes, seconds, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=3)
    parser.add_argument("--large-mib", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--only", default="save,load,copy", help="which transfers (save needs to run for load)")
    args = parser.parse_args()
    directions = set(args.only.split(","))
    from registry_server import docker_registry

    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as temporary:
        work = Path(temporary)
        # bytecode cached, as after an installation (not under src/): airlock starts as it would for a user
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        (work / "source").mkdir()
        with docker_registry(directory=work / "source") as registry:
            small, large, small_bytes, large_bytes = seed(registry, work, args.small, args.large, args.large_mib)
            print(f"# {args.small} small images, {args.large} x {args.large_mib} MiB images; docker-registry on "
                  f"{registry}; {os.cpu_count()} CPUs", flush=True)
            for label, images, size, count in (("small", small, small_bytes, args.small),
                                               ("large", large, large_bytes, args.large)):
                if not count:  # --small 0 / --large 0: that group is not measured
                    continue
                print(f"# {label} images ({count}{f' x {args.large_mib} MiB' if label == 'large' else ''})",
                      flush=True)
                if directions & {"save", "load"}:
                    bench(label, images, size, work, args.jobs)
                if "copy" in directions:
                    bench_copy(label, images, size, work, args.jobs)
        with contextlib.suppress(OSError):
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
