"""A real Kubernetes API server on 127.0.0.1 for admission tests (envtest-style): Debian's
``etcd`` and ``kube-apiserver`` built from its Go modules by ``run-tests`` into the peers cache.

``control_plane(directory)`` starts etcd and kube-apiserver (client-certificate auth, RBAC, no
controllers: a Pod is stored without a scheduler, which is all an admission test needs; the
ServiceAccount admission plugin is off since no controller makes service accounts) and yields a
``Kube`` client speaking REST with urllib3 (no kubectl). Every wait is bounded; leaving the
``with`` block stops both processes.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from registry_server import free_port

STARTUP_TIMEOUT = 90.0


def kube_apiserver_binary() -> str:
    from peers import peer

    return peer("kube-apiserver")


def etcd_binary() -> str:
    path = shutil.which("etcd")
    if not path:
        pytest.skip("etcd is not installed (apt-get install etcd-server)")
    return path


def _pem(obj: Any) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject: x509.Name, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool = False,
          usage: list | None = None, sans: list | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(directory: Path) -> dict[str, Path]:
    """A CA; the API server's serving certificate (127.0.0.1, localhost); an admin client
    certificate (group system:masters); the service-account signing key."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock test kubernetes CA")])
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), server_key, ca_name,
                   ca_key, usage=[ExtendedKeyUsageOID.SERVER_AUTH],
                   sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _cert(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                             x509.NameAttribute(NameOID.COMMON_NAME, "airlock-admin")]), admin_key, ca_name, ca_key,
                  usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {"ca.crt": _pem(ca), "server.crt": _pem(server), "server.key": _pem(server_key),
             "admin.crt": _pem(admin), "admin.key": _pem(admin_key), "sa.key": _pem(sa_key),
             "sa.pub": sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)}
    paths = {}
    for name, data in files.items():
        (directory / name).write_bytes(data)
        paths[name] = directory / name
    return paths


class KubeError(Exception):
    def __init__(self, status: int, body: dict) -> None:
        super().__init__(f"{status}: {body.get('message', body)}")
        self.status, self.body = status, body

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


class Kube:
    """REST against the API server with the admin client certificate."""

    def __init__(self, url: str, pki: dict[str, Path]) -> None:
        self.url = url
        context = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        context.load_cert_chain(str(pki["admin.crt"]), str(pki["admin.key"]))
        self.http = urllib3.PoolManager(ssl_context=context, retries=False, timeout=30)

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                query: str = "") -> dict:
        data = None if body is None else json.dumps(body).encode()
        response = self.http.request(method, f"{self.url}{path}{'?' + query if query else ''}", body=data,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        document = json.loads(response.data) if response.data else {}
        if response.status >= 300:
            raise KubeError(response.status, document)
        return document

    @staticmethod
    def collection(obj: dict) -> str:
        group_version, kind = obj["apiVersion"], obj["kind"]
        plural = {"Pod": "pods", "Deployment": "deployments", "CronJob": "cronjobs", "Namespace": "namespaces",
                  "Service": "services", "ConfigMap": "configmaps", "Secret": "secrets",
                  "PodDisruptionBudget": "poddisruptionbudgets",
                  "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
                  "MutatingWebhookConfiguration": "mutatingwebhookconfigurations"}[kind]
        base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        namespace = (obj.get("metadata") or {}).get("namespace")
        return f"{base}/namespaces/{namespace}/{plural}" if namespace and kind != "Namespace" else f"{base}/{plural}"

    def create(self, obj: dict, *, dry_run: bool = False) -> dict:
        return self.request("POST", self.collection(obj), obj, query="dryRun=All" if dry_run else "")

    def delete(self, obj: dict) -> None:
        with contextlib.suppress(KubeError):
            self.request("DELETE", f"{self.collection(obj)}/{obj['metadata']['name']}")


@contextlib.contextmanager
def control_plane(directory: str | os.PathLike | None = None) -> Iterator[Kube]:
    apiserver, etcd = kube_apiserver_binary(), etcd_binary()
    with contextlib.ExitStack() as stack:
        root = Path(directory) if directory else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        pki = write_pki(root / "pki")
        etcd_port, peer_port, port = free_port(), free_port(), free_port()
        logs = open(root / "etcd.log", "wb")  # noqa: SIM115 -- closed by the stack
        stack.callback(logs.close)
        etcd_proc = subprocess.Popen([
            etcd, "--data-dir", str(root / "etcd"), "--name", "airlock-test",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"airlock-test=http://127.0.0.1:{peer_port}",
            "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}",
        ], stdout=logs, stderr=subprocess.STDOUT)
        stack.callback(_stop, etcd_proc)
        api_log = open(root / "kube-apiserver.log", "wb")  # noqa: SIM115 -- closed by the stack
        stack.callback(api_log.close)
        api_proc = subprocess.Popen([
            apiserver, f"--etcd-servers=http://127.0.0.1:{etcd_port}", f"--cert-dir={root / 'certs'}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--tls-cert-file={pki['server.crt']}", f"--tls-private-key-file={pki['server.key']}",
            f"--client-ca-file={pki['ca.crt']}", "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
            f"--service-account-key-file={pki['sa.pub']}", f"--service-account-signing-key-file={pki['sa.key']}",
            f"--service-account-issuer=https://127.0.0.1:{port}",
            "--disable-admission-plugins=ServiceAccount",
            "--enable-priority-and-fairness=false", "--profiling=false", "--v=1",
        ], stdout=api_log, stderr=subprocess.STDOUT)
        stack.callback(_stop, api_proc)
        kube = Kube(f"https://127.0.0.1:{port}", pki)
        kube.pki = pki  # type: ignore[attr-defined]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if api_proc.poll() is not None or etcd_proc.poll() is not None:
                raise RuntimeError("kube-apiserver or etcd exited at start:\n"
                                   + (root / "kube-apiserver.log").read_text()[-3000:]
                                   + (root / "etcd.log").read_text()[-2000:])
            with contextlib.suppress(Exception):
                response = kube.http.request("GET", f"{kube.url}/readyz", timeout=2)
                if response.status == 200:
                    with contextlib.suppress(KubeError):
                        kube.request("GET", "/api/v1/namespaces/default")
                        break
            if time.monotonic() > deadline:
                raise RuntimeError("kube-apiserver did not become ready:\n"
                                   + (root / "kube-apiserver.log").read_text()[-3000:])
            time.sleep(0.5)
        yield kube


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def webhook_configuration(kind: str, name: str, url: str, ca_bundle: bytes, *, timeout: int = 10,
                          opt_out_label: str = "airlock.dev/admission") -> dict:
    """What the Helm chart registers, pointed at ``url`` (the webhook on 127.0.0.1)."""
    path = "/mutate" if kind.startswith("Mutating") else "/validate"
    rules = [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]},
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods/ephemeralcontainers"]},
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
        {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["jobs", "cronjobs"]},
    ]
    import base64

    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
            "webhooks": [{
                "name": f"{path.strip('/')}.airlock.dev", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Fail", "timeoutSeconds": timeout, "rules": rules,
                "clientConfig": {"url": f"{url}{path}", "caBundle": base64.b64encode(ca_bundle).decode()},
                "namespaceSelector": {"matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]},
                    {"key": opt_out_label, "operator": "NotIn", "values": ["disabled"]}]},
            }]}
