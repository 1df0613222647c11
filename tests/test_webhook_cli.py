"""``airlock webhook`` as a real process with the real gate and policy-controller's own
ClusterImagePolicy YAML: it loads, serves over TLS, admits what the policy's key signed and
denies the rest naming the policy, keeps the old policies when a new version is broken, and
stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from airlock.oci.registry import RegistryClient
from conftest import airlock_exe
from webhook_support import ApiServerClient, Signer, pod, push_image, write_tls

pytest.importorskip("airlock.admission.gate", reason="the admission gate (issue 11 part 1) is not in this tree")


def cluster_image_policy(name: str, glob: str, pem: str) -> str:
    key = "\n".join("          " + line for line in pem.strip().splitlines())
    return (f"apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\n"
            f"spec:\n  images:\n  - glob: \"{glob}\"\n  authorities:\n  - name: release-key\n    key:\n"
            f"      data: |\n{key}\n")


def configmap_version(volume, name: str, text: str) -> None:
    """A new version of a ConfigMap volume: files in ``..<version>/``, ``..data`` swapped to it atomically."""
    (volume / name).mkdir(parents=True)
    (volume / name / "release.yaml").write_text(text)
    (volume / "..data_tmp").symlink_to(name)
    os.replace(volume / "..data_tmp", volume / "..data")


@pytest.fixture
def running(registry, tmp_path):
    client, signer = RegistryClient(), Signer()
    world = {}
    for name in ("signed", "unsigned"):
        world[f"{name}_digest"] = push_image(client, registry, f"cli/{name}", "v1", tmp_path)
        world[name] = f"{registry}/cli/{name}:v1"
    signer.sign(client, world["signed"], world["signed_digest"])
    policies = tmp_path / "policies"  # laid out as the kubelet mounts a ConfigMap
    configmap_version(policies, "..v1", cluster_image_policy("release", f"{registry}/cli/**", signer.pem))
    (policies / "release.yaml").symlink_to("..data/release.yaml")
    ca, cert, key = write_tls(tmp_path / "tls")
    env = {**os.environ, "TUF_ROOT": str(tmp_path / "no-mirror")}
    proc = subprocess.Popen([*airlock_exe(), "webhook", "--policy", str(policies), "--tls-cert", str(cert),
                             "--tls-key", str(key), "--listen", "127.0.0.1:0", "--reload-interval", "0.2"],
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    line = ""
    deadline = time.monotonic() + 60
    while "listening on" not in line:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "airlock webhook exited at start"
        assert time.monotonic() < deadline
    port = int(line.split("listening on ")[1].split()[0].rpartition(":")[2])
    world.update(proc=proc, policies=policies, client=ApiServerClient(f"https://127.0.0.1:{port}", ca.read_bytes()))
    yield world
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_the_real_command_with_real_policies(running):
    api = running["client"]
    ok = api.review(pod("p", running["signed"]))
    assert ok["allowed"] is True
    denied = api.review(pod("p", running["unsigned"]))
    assert denied["allowed"] is False
    assert denied["status"]["message"].startswith(f"Pod default/p: image {running['unsigned']}: denied by policy "
                                                  "release: ")
    configmap_version(running["policies"], "..v2", "apiVersion: policy.sigstore.dev/v1beta1\nkind: Cluster")
    deadline = time.monotonic() + 10
    while "the last reload failed" not in (ready := api.http.request("GET", f"{api.url}/readyz").data.decode()):
        assert time.monotonic() < deadline, ready
        time.sleep(0.1)
    assert api.review(pod("p", running["signed"]))["allowed"] is True  # the old policies stay in force
    running["proc"].send_signal(signal.SIGTERM)
    assert running["proc"].wait(15) == 0
    log = running["proc"].stderr.read()
    assert "reload failed: " in log and "keeping policy version" in log, log


def test_it_refuses_to_start_without_loadable_policies(tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: [")
    _, cert, key = write_tls(tmp_path / "tls")
    result = subprocess.run([*airlock_exe(), "webhook", "--policy", str(tmp_path / "bad.yaml"), "--tls-cert",
                             str(cert), "--tls-key", str(key), "--listen", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip() and "ERROR reload failed" not in line]
    assert lines[-1].startswith(f"Error: cannot load the policies: policy {tmp_path / 'bad.yaml'}"), result.stderr
    assert "Traceback" not in result.stderr

