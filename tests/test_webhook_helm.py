"""The Helm chart (deploy/helm/airlock), rendered by a real ``helm`` (built from its Go module by
run-tests): what it registers (failurePolicy Fail, sideEffects None, kube-system, its own
namespace and opted-out namespaces exempt, ephemeral containers judged), two replicas and a
disruption budget, TLS from a Secret or cert-manager, the trust-expiry alert, and container
arguments the real ``airlock webhook`` parser accepts. The objects are checked by a real
kube-apiserver in tests/test_webhook_apiserver.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

CHART = REPO / "deploy" / "helm" / "airlock"
POLICY = """apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: release}
spec:
  images: [{glob: "registry.internal/**"}]
  authorities: [{key: {data: "-----BEGIN PUBLIC KEY-----"}}]
"""


def helm_template(tmp_path: Path, values: dict, namespace: str = "airlock") -> subprocess.CompletedProcess:
    from peers import peer

    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    return subprocess.run([str(peer("helm")), "template", "rel", str(CHART), "--namespace", namespace,
                           "--values", str(file)], capture_output=True, text=True, timeout=60)


def rendered(tmp_path: Path, values: dict, namespace: str = "airlock") -> dict[str, dict]:
    result = helm_template(tmp_path, values, namespace)
    assert result.returncode == 0, result.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(result.stdout) if doc}


BASE = {"policies": {"release.yaml": POLICY}, "tls": {"existingSecret": "airlock-tls", "caBundle": "Q0EK"},
        "trust": {"trustedRootJson": '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}'}}


def test_the_default_install(tmp_path):
    result = helm_template(tmp_path, BASE)
    names = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(result.stdout) if d)
    assert ("ConfigMap", "rel-airlock-policies") in names and ("ConfigMap", "rel-airlock-trust") in names
    objects = rendered(tmp_path, BASE)
    assert sorted(objects) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service",
                               "ValidatingWebhookConfiguration"]  # no mutation unless asked, no CRDs
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert objects["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert objects["PodDisruptionBudget"]["spec"]["selector"] == deployment["spec"]["selector"]
    [hook] = objects["ValidatingWebhookConfiguration"]["webhooks"]
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"] and hook["timeoutSeconds"] == 10
    assert hook["clientConfig"] == {"service": {"name": "rel-airlock", "namespace": "airlock", "path": "/validate",
                                                "port": 443}, "caBundle": "Q0EK"}
    assert hook["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "airlock"]},
        {"key": "airlock.dev/admission", "operator": "NotIn", "values": ["disabled"]}]
    resources = {(g, r) for rule in hook["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "pods"), ("", "pods/ephemeralcontainers"), ("apps", "deployments"), ("batch", "cronjobs"),
            ("batch", "jobs"), ("apps", "statefulsets"), ("apps", "daemonsets"), ("apps", "replicasets"),
            ("", "replicationcontrollers")} == resources
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"] == {"name": "tls", "secret": {"secretName": "airlock-tls"}}
    assert volumes["policies"]["configMap"]["name"] == "rel-airlock-policies"


def test_the_container_arguments_are_what_airlock_webhook_accepts(tmp_path):
    from airlock.cli import build_parser

    container = rendered(tmp_path, BASE)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(container["args"])
    assert args.command == "webhook" and args.mode == "enforce" and args.no_match_policy == "deny"
    assert args.policy == ["/etc/airlock/policies"] and args.trusted_root == "/etc/airlock/trust/trusted_root.json"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/airlock/policies", "/etc/airlock/tls", "/etc/airlock/trust"} <= mounts
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    audit = rendered(tmp_path, {**BASE, "mode": "audit", "noMatchPolicy": "warn"})["Deployment"]
    args = build_parser().parse_args(audit["spec"]["template"]["spec"]["containers"][0]["args"])
    assert (args.mode, args.no_match_policy) == ("audit", "warn")


def test_cert_manager_mutation_and_the_expiry_alert(tmp_path):
    values = {**BASE, "tls": {"certManager": {"enabled": True}}, "webhook": {"mutate": True},
              "metrics": {"prometheusRule": {"enabled": True}}}
    result = helm_template(tmp_path, values)
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == ["Certificate", "ConfigMap", "ConfigMap", "Deployment", "Issuer", "MutatingWebhookConfiguration",
                     "PodDisruptionBudget", "PrometheusRule", "Service", "ValidatingWebhookConfiguration"]
    by_kind = {d["kind"]: d for d in documents}
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        assert by_kind[kind]["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": "airlock/rel-airlock"}
        assert "caBundle" not in by_kind[kind]["webhooks"][0]["clientConfig"]
    assert by_kind["MutatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["service"]["path"] == "/mutate"
    assert by_kind["Certificate"]["spec"]["secretName"] == "rel-airlock-tls"
    assert "rel-airlock.airlock.svc" in by_kind["Certificate"]["spec"]["dnsNames"]
    rules = {r["alert"]: r for g in by_kind["PrometheusRule"]["spec"]["groups"] for r in g["rules"]}
    assert rules["AirlockTrustRootExpiresSoon"]["expr"] == "min(airlock_trust_expiry_seconds) < 604800"
    assert rules["AirlockTrustRootExpired"]["expr"] == "min(airlock_trust_expiry_seconds) <= 0"


@pytest.mark.parametrize(("values", "error"), [
    ({"tls": {"existingSecret": "s"}},
     "policies (or existingPolicyConfigMap) is required: without a policy the webhook denies every image"),
    ({"policies": {"p.yaml": POLICY}}, "tls.existingSecret (or tls.certManager.enabled)"),
])
def test_an_install_that_cannot_work_is_refused(tmp_path, values, error):
    result = helm_template(tmp_path, values)
    assert result.returncode != 0 and error in result.stderr, result.stderr
