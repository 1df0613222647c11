"""The images of Kubernetes objects: what a Pod, or the Pod template of a workload, would run.

A Pod's ``spec``; the template of a Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
ReplicationController (``spec.template.spec``) or PodTemplate (``template.spec``); a CronJob's
``spec.jobTemplate.spec.template.spec``; the items of a ``List``. In each pod spec: containers,
initContainers and ephemeralContainers, in that order. Other kinds run no image and give none.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from airlock.admission import documents
from airlock.errors import FormatError

CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def pod_spec(obj: dict[str, Any]) -> Any:
    """The pod spec an object runs, or None."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec")
    if kind == "CronJob":
        return _get(obj, "spec", "jobTemplate", "spec", "template", "spec")
    if kind == "PodTemplate":
        return _get(obj, "template", "spec")
    return _get(obj, "spec", "template", "spec")  # Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ...


def images_of(obj: dict[str, Any]) -> list[str]:
    """Every image ``obj`` runs (a ``List``'s items included), in order, each once."""
    if not isinstance(obj, dict):
        return []
    if obj.get("kind") == "List" or ((obj.get("kind") or "").endswith("List") and isinstance(obj.get("items"), list)):
        return list(dict.fromkeys(image for item in obj.get("items") or [] for image in images_of(item)))
    spec = pod_spec(obj)
    found: list[str] = []
    for field in CONTAINER_FIELDS:
        containers = _get(spec, field)
        for container in containers if isinstance(containers, list) else []:
            image = _get(container, "image")
            if isinstance(image, str) and image:
                found.append(image)
    return list(dict.fromkeys(found))


class Workload(NamedTuple):
    """One object of a manifest that runs images."""

    where: str  # "FILE: document N"
    kind: str
    name: str
    images: list[str]
    api_version: str = ""
    labels: dict[str, str] | None = None

    @property
    def resource(self) -> str:
        return self.kind.lower() + "s"  # the kinds that run pods: Pod -> pods, CronJob -> cronjobs, ...


def _flatten(doc: Any, where: str) -> list[tuple[dict[str, Any], str]]:
    if not isinstance(doc, dict):
        raise FormatError(f"manifest {where}: a Kubernetes object must be a mapping")
    items = doc.get("items")
    if (doc.get("kind") or "").endswith("List") and isinstance(items, list):
        return [pair for i, item in enumerate(items) for pair in _flatten(item, f"{where} items[{i}]")]
    return [(doc, where)]


def read(paths: list[str] | tuple[str, ...]) -> list[Workload]:
    """The workloads of Kubernetes YAML/JSON files (or directories of them), multi-document and
    ``List`` objects included; objects that run no image are skipped."""
    found = []
    for path in documents.files_of(paths, "manifest"):
        data = documents.read_file(path, "manifest")
        for number, doc in enumerate(documents.documents(data, f"manifest {path}")):
            for obj, where in _flatten(doc, f"{path}: document {number}"):
                images = images_of(obj)
                if images:
                    meta = obj.get("metadata")
                    meta = meta if isinstance(meta, dict) else {}
                    labels = meta.get("labels")
                    labels = labels if isinstance(labels, dict) else {}
                    found.append(Workload(where, str(obj.get("kind")), str(meta.get("name") or "?"), images,
                                          str(obj.get("apiVersion") or ""),
                                          {str(k): str(v) for k, v in labels.items()}))
    return found
