"""What the webhook tests share: TLS material, signed images in a real registry, a stand-in gate
(until ``airlock.admission.gate`` lands: key policies verified with ``airlock.api.verify_image``)
and a client that speaks exactly as kube-apiserver does (TLS verified against the caBundle, a
``uid``, the ``timeout`` query parameter, keep-alive)."""

from __future__ import annotations

import datetime
import fnmatch
import ipaddress
import json
import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from airlock.admission.webhook import Decision
from airlock.errors import AirlockError
from airlock.oci import layout as oci
from airlock.oci.attach import signature_manifest
from airlock.oci.reference import parse_reference, signature_tag
from airlock.oci.registry import RegistryClient
from image_layouts import add_image, key_layer, new_layout


def write_tls(directory: Path, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``names``: (ca.pem, tls.crt, tls.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock webhook test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[-1])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "tls.crt", directory / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Signer:
    """A P-256 key: ``pem`` (the public key) and ``sign(client, ref)`` (a cosign .sig layer)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, client: RegistryClient, ref: str, digest: str) -> None:
        from airlock.formats import cosign

        reference = parse_reference(ref)
        payload = cosign.simplesigning_payload(reference.name, digest, None)
        manifest, config, blobs = signature_manifest([key_layer(self.key, payload)])
        for blob in (config, *blobs):
            client.put_blob(reference.registry, reference.repository, blob.data)
        client.put_manifest(reference.registry, reference.repository, signature_tag(digest, "sig"),
                            manifest.data, oci.OCI_MANIFEST)


def push_image(client: RegistryClient, registry: str, repository: str, tag: str, tmp: Path,
               content: bytes | None = None) -> str:
    """A small image pushed as ``registry/repository:tag``; returns its digest."""
    content = content or f"{repository}:{tag}:{uuid.uuid4()}".encode()
    layout = new_layout(tmp / f"src-{uuid.uuid4().hex}")
    digest = add_image(layout, "unused", content)
    for item in layout.walk(layout.find_kind(oci.KIND_IMAGE)):
        data = layout.read_blob(item["digest"], size=item["size"], limit=oci.MAX_LAYER_SIZE)
        if item["mediaType"] in oci.MANIFEST_TYPES:
            client.put_manifest(registry, repository, tag, data, item["mediaType"])
        else:
            client.put_blob(registry, repository, data)
    return digest


class StandInGate:
    """The agreed ``Gate`` interface, until the real one lands: each policy is a JSON object
    ``{"name", "glob", "key" (PEM) | "static": "pass"|"fail", "mode"}``; every matching policy
    must pass (AND); an image no policy matches is denied. ``calls`` counts verifications."""

    def __init__(self, policies: list[dict], client: RegistryClient | None = None) -> None:
        self.policies = policies
        self.client = client or RegistryClient(timeout=5)
        self.calls = 0
        self._lock = threading.Lock()

    @classmethod
    def from_files(cls, paths: list[str], trusted_root: str | None = None) -> StandInGate:
        policies: list[dict] = []
        for path in paths:
            files = sorted(Path(path).glob("*.json")) if Path(path).is_dir() else [Path(path)]
            for file in files:
                document = json.loads(file.read_text())  # a broken file raises: the reload fails
                if not isinstance(document, list) or not all(isinstance(p, dict) and "glob" in p for p in document):
                    raise ValueError(f"{file}: not a list of policies")
                policies.extend(document)
        return cls(policies)

    def decide(self, images: list[str], resource: object = None) -> list[Decision]:
        import airlock
        from airlock.verify.verifier import VerificationOptions

        with self._lock:
            self.calls += 1
        out = []
        for image in images:
            matching = [p for p in self.policies if fnmatch.fnmatchcase(image, p["glob"])]
            if not matching:
                out.append(Decision(image, None, False, "enforce", None, None, "no policy matches the image", []))
                continue
            decision = None
            resolved = False
            for policy in matching:
                mode = policy.get("mode", "enforce")
                if policy.get("static"):
                    if policy["static"] == "fail":
                        decision = Decision(image, None, False, mode, policy["name"], "static",
                                            "static: the policy fails every image", [])
                        break
                    continue
                if not resolved:  # as the gate does (and says) when the registry cannot be read
                    reference = parse_reference(image)
                    try:
                        self.client.get_manifest(reference.registry, reference.repository,
                                                 reference.digest or reference.identifier)
                    except AirlockError as exc:
                        decision = Decision(image, None, False, "enforce", None, None,
                                            f"{image}: cannot resolve it to a digest: {exc}", [])
                        break
                    resolved = True
                verdict = airlock.verify_image(self.client, image, key=policy["key"].encode(),
                                               options=VerificationOptions(insecure_ignore_tlog=True))
                if not verdict.ok:
                    decision = Decision(image, verdict.digest, False, mode, policy["name"], "key",
                                        f"signature: {verdict.failure}", [])
                    break
                decision = Decision(image, verdict.digest, True, mode, policy["name"], "key", "signed", [])
            out.append(decision or Decision(image, None, True, "enforce", matching[0]["name"], None, "static pass", []))
        return out


class ApiServerClient:
    """Sends AdmissionReviews the way kube-apiserver does: HTTPS POST to the configured path with
    ``?timeout=Ns``, TLS verified against the caBundle, JSON in and out, connections kept alive."""

    def __init__(self, url: str, ca_bundle: bytes, timeout: int = 10) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout
        context = ssl.create_default_context(cadata=ca_bundle.decode())
        self.http = urllib3.PoolManager(ssl_context=context, retries=False, maxsize=32)

    def post(self, path: str, body: bytes, *, timeout: int | None = None) -> urllib3.BaseHTTPResponse:
        seconds = timeout or self.timeout
        return self.http.request("POST", f"{self.url}{path}?timeout={seconds}s", body=body,
                                 headers={"Content-Type": "application/json", "Accept": "application/json"},
                                 timeout=seconds + 1)

    def review(self, obj: dict, *, path: str = "/validate", operation: str = "CREATE", sub_resource: str | None = None,
               old: dict | None = None, dry_run: bool = False, timeout: int | None = None) -> dict:
        request = admission_request(obj, operation=operation, sub_resource=sub_resource, old=old, dry_run=dry_run)
        response = self.post(path, json.dumps(request).encode(), timeout=timeout)
        assert response.status == 200, (response.status, response.data[:500])
        answer = json.loads(response.data)
        assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
        assert answer["response"]["uid"] == request["request"]["uid"]
        return answer["response"]


RESOURCES = {"Pod": ("", "v1", "pods"), "Deployment": ("apps", "v1", "deployments"),
             "CronJob": ("batch", "v1", "cronjobs"), "Job": ("batch", "v1", "jobs"),
             "StatefulSet": ("apps", "v1", "statefulsets"), "DaemonSet": ("apps", "v1", "daemonsets"),
             "ReplicaSet": ("apps", "v1", "replicasets")}


def admission_request(obj: dict, *, operation: str = "CREATE", sub_resource: str | None = None,
                      old: dict | None = None, dry_run: bool = False) -> dict:
    """An ``admission.k8s.io/v1`` AdmissionReview as kube-apiserver 1.30 writes it."""
    group, version, resource = RESOURCES[obj["kind"]]
    gvk = {"group": group, "version": version, "kind": obj["kind"]}
    gvr = {"group": group, "version": version, "resource": resource}
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()), "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "name": obj["metadata"].get("name", ""), "namespace": obj["metadata"].get("namespace", "default"),
        "operation": operation, "userInfo": {"username": "system:admin", "groups": ["system:masters"]},
        "object": obj, "oldObject": old, "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" if operation == "CREATE"
                    else "UpdateOptions"},
    }
    if sub_resource:
        request["subResource"] = request["requestSubResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def pod(name: str, *images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": image} for i, image in enumerate(ephemeral)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def deployment(name: str, *images: str) -> dict:
    template = {"metadata": {"labels": {"app": name}}, "spec": pod(name, *images)["spec"]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": template}}


def cronjob(name: str, *images: str) -> dict:
    spec = dict(pod(name, *images)["spec"], restartPolicy="OnFailure")
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}}


def images_of(obj: dict) -> list[str]:
    """A stand-in for ``airlock.admission.workloads.images_of`` (Pods, templates, CronJobs)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    elif obj.get("kind") != "Pod":
        spec = spec["template"]["spec"]
    return [c["image"] for field in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(field) or []]
