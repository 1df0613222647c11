"""The webhook behind a real kube-apiserver (v1.30, built from its Go modules; Debian's etcd):
the API server calls it over TLS checked against the registered caBundle, with its own
AdmissionReviews, deadlines and subresources. Pods, Deployments, CronJobs and an ephemeral
container are created through it; unsigned images are refused with the webhook's reason; the
mutating webhook pins signed tags to digests; a namespace that opts out is not judged."""

from __future__ import annotations

import json
import socket
import tempfile
import time
from pathlib import Path

import pytest

from airlock.admission import webhook
from airlock.oci.registry import RegistryClient
from kube_apiserver import KubeError, control_plane, webhook_configuration
from webhook_support import Signer, StandInGate, cronjob, deployment, images_of, pod, push_image, write_tls


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    with control_plane(tmp_path_factory.mktemp("kube")) as kube:
        yield kube


@pytest.fixture(scope="module")
def cluster(kube, registry, tmp_path_factory):
    """The webhook (enforce mode) registered as validating and mutating webhook of the API server."""
    tmp = tmp_path_factory.mktemp("webhook-kube")
    client, signer = RegistryClient(), Signer()
    w: dict = {"kube": kube, "registry": registry}
    for name in ("signed", "unsigned"):
        w[f"{name}_digest"] = push_image(client, registry, f"team/{name}", "v1", tmp)
        w[name] = f"{registry}/team/{name}:v1"
    signer.sign(client, w["signed"], w["signed_digest"])
    ca, cert, key = write_tls(tmp / "tls")
    (tmp / "policies.json").write_text(json.dumps(
        [{"name": "team-signed", "glob": f"{registry}/team/**", "key": signer.pem}]))
    loader = webhook.Loader([str(tmp / "policies.json")], StandInGate.from_files)
    hook = webhook.Webhook(loader, images_of=images_of)
    with webhook.Server(hook, tls_cert=str(cert), tls_key=str(key), listen="127.0.0.1:0", poll=1) as server:
        url = f"https://127.0.0.1:{server.port}"
        configs = [webhook_configuration("ValidatingWebhookConfiguration", "airlock", url, ca.read_bytes()),
                   webhook_configuration("MutatingWebhookConfiguration", "airlock", url, ca.read_bytes())]
        for config in configs:
            kube.create(config)
        _wait_until_judged(kube, w["unsigned"])
        w["hook"] = hook
        yield w
        for config in configs:
            kube.delete(config)


def _wait_until_judged(kube, unsigned: str) -> None:
    """The API server learns of new webhook configurations asynchronously."""
    deadline = time.monotonic() + 30
    while True:
        try:
            kube.create(pod("probe", unsigned), dry_run=True)
        except KubeError as exc:
            if "airlock.dev" in exc.message:
                return
            raise
        assert time.monotonic() < deadline, "the API server never called the webhook"
        time.sleep(0.3)


def denial(kube, obj: dict, **options) -> KubeError:
    with pytest.raises(KubeError) as caught:
        kube.create(obj, **options)
    assert caught.value.status == 403, caught.value.body
    return caught.value


def test_a_pod_of_a_signed_image_is_created_pinned_to_its_digest(cluster):
    kube = cluster["kube"]
    created = kube.create(pod("signed-pod", cluster["signed"]))
    assert created["spec"]["containers"][0]["image"] == \
        f"{cluster['registry']}/team/signed@{cluster['signed_digest']}"  # the mutating webhook's patch
    stored = kube.request("GET", "/api/v1/namespaces/default/pods/signed-pod")
    assert stored["metadata"]["uid"] == created["metadata"]["uid"]


def test_a_pod_of_an_unsigned_image_is_refused_with_the_webhooks_reason(cluster):
    error = denial(cluster["kube"], pod("unsigned-pod", cluster["signed"], cluster["unsigned"]))
    assert error.message.startswith('admission webhook "validate.airlock.dev" denied the request: '
                                    f"Pod default/unsigned-pod: image {cluster['unsigned']}: denied by policy "
                                    f"team-signed: signature: {cluster['unsigned']}@{cluster['unsigned_digest']}: "
                                    "no signatures verified"), error.message
    with pytest.raises(KubeError) as gone:
        cluster["kube"].request("GET", "/api/v1/namespaces/default/pods/unsigned-pod")
    assert gone.value.status == 404


def test_a_dry_run_is_judged_the_same(cluster):
    error = denial(cluster["kube"], pod("dry", cluster["unsigned"]), dry_run=True)
    assert "denied by policy team-signed" in error.message


def test_deployments_and_cronjobs(cluster):
    kube = cluster["kube"]
    made = kube.create(deployment("signed-deploy", cluster["signed"]))
    assert made["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f"@{cluster['signed_digest']}")
    error = denial(kube, deployment("unsigned-deploy", cluster["unsigned"]))
    assert error.message.startswith('admission webhook "validate.airlock.dev" denied the request: '
                                    "Deployment default/unsigned-deploy: image ")
    made = kube.create(cronjob("signed-cron", cluster["signed"]))
    assert made["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        f"@{cluster['signed_digest']}")
    error = denial(kube, cronjob("unsigned-cron", cluster["unsigned"]))
    assert "CronJob default/unsigned-cron: image" in error.message


def test_an_ephemeral_container_is_judged_on_its_update(cluster):
    kube = cluster["kube"]
    kube.create(pod("debug-me", cluster["signed"]))
    path = "/api/v1/namespaces/default/pods/debug-me/ephemeralcontainers"
    current = kube.request("GET", "/api/v1/namespaces/default/pods/debug-me")
    current["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": cluster["unsigned"]}]
    with pytest.raises(KubeError) as caught:
        kube.request("PUT", path, current)
    assert caught.value.status == 403
    assert caught.value.message.startswith('admission webhook "validate.airlock.dev" denied the request: '
                                           "Pod/ephemeralcontainers default/debug-me: image "
                                           f"{cluster['unsigned']}: denied by policy team-signed")
    current["spec"]["ephemeralContainers"][0]["image"] = cluster["signed"]
    updated = kube.request("PUT", path, current)
    assert updated["spec"]["ephemeralContainers"][0]["name"] == "debugger"


def test_a_namespace_that_opts_out_is_not_judged(cluster):
    kube = cluster["kube"]
    kube.create({"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "sandbox", "labels": {"airlock.dev/admission": "disabled"}}})
    unsigned = pod("anything", cluster["unsigned"])
    unsigned["metadata"]["namespace"] = "sandbox"
    assert kube.create(unsigned)["spec"]["containers"][0]["image"] == cluster["unsigned"]


def test_the_webhook_being_down_refuses_everything(kube, registry):
    """failurePolicy: Fail — nothing listens where the configuration points."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        ca, _, _ = write_tls(Path(tmp))
        config = webhook_configuration("ValidatingWebhookConfiguration", "airlock-down", f"https://127.0.0.1:{port}",
                                       ca.read_bytes(), timeout=2)
    config["webhooks"][0]["name"] = "down.airlock.dev"
    config["webhooks"][0]["namespaceSelector"] = {}  # everywhere, even where the other webhooks opt out
    kube.create({"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "nobody-home", "labels": {"airlock.dev/admission": "disabled"}}})
    kube.create(config)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                lonely = pod("nobody-home", f"{registry}/team/whatever:v1")
                lonely["metadata"]["namespace"] = "nobody-home"
                kube.create(lonely, dry_run=True)
            except KubeError as exc:
                if "down.airlock.dev" in exc.message:
                    assert exc.status == 500 and 'failed calling webhook "down.airlock.dev"' in exc.message
                    break
                raise
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        kube.delete(config)


def test_the_helm_chart_is_accepted_by_the_api_server(kube, tmp_path):
    """Every object the chart renders (mutation and Secret-based TLS on) passes the API server's own
    validation with dryRun; only cert-manager's and prometheus-operator's kinds, whose CRDs this
    bare API server lacks, are left out."""
    import yaml

    from test_webhook_helm import BASE, helm_template

    result = helm_template(tmp_path, {**BASE, "webhook": {"mutate": True}}, namespace="airlock-system")
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    kube.create({"apiVersion": "v1", "kind": "Namespace",  # judged by nobody: the chart's own namespace
                 "metadata": {"name": "airlock-system", "labels": {"airlock.dev/admission": "disabled"}}})
    accepted = []
    for document in documents:
        made = kube.create(document, dry_run=True)
        assert made["kind"] == document["kind"] and made["metadata"]["name"] == document["metadata"]["name"]
        accepted.append(document["kind"])
    assert sorted(accepted) == ["ConfigMap", "ConfigMap", "Deployment", "MutatingWebhookConfiguration",
                                "PodDisruptionBudget", "Service", "ValidatingWebhookConfiguration"]
    broken = next(d for d in documents if d["kind"] == "ValidatingWebhookConfiguration")
    broken["webhooks"][0]["sideEffects"] = "Unknown"  # the API server's schema is really applied
    with pytest.raises(KubeError) as caught:
        kube.create(broken, dry_run=True)
    assert caught.value.status == 422 and "sideEffects" in caught.value.message
