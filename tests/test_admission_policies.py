"""policy-controller's YAML (ClusterImagePolicy, TrustRoot) as ``airlock.admission.policies`` reads
it: the shapes of upstream's documentation load; every malformed policy is refused at load with
its file, document and field path named; globs match as upstream's pkg/apis/glob does."""

from __future__ import annotations

import base64
import textwrap

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airlock.admission import policies, workloads
from airlock.errors import PolicyError


def pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


PEM = pem()


def indent(text: str, spaces: int) -> str:
    return textwrap.indent(text, " " * spaces).lstrip()


def write(tmp_path, text: str, name: str = "policy.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


KEY_POLICY = f"""\
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: signed-by-release-key
spec:
  images:
  - glob: "registry.internal/**"
  authorities:
  - name: release
    key:
      hashAlgorithm: sha256
      data: |
        {indent(PEM, 8)}
"""


def test_upstream_shapes_load(tmp_path):
    """A key policy, a keyless one with a TrustRoot of inline sigstoreKeys-style trust and an
    attestation with a rego policy, a static one, in one multi-document file with a List."""
    from airlock.testing import SigstoreInstance

    inst = SigstoreInstance()
    inst.write_trusted_root(tmp_path / "trusted_root.json")
    text = KEY_POLICY + """\
---
apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata:
  name: airgap
spec:
  trustedRootFile: trusted_root.json
---
apiVersion: v1
kind: List
items:
- apiVersion: policy.sigstore.dev/v1beta1
  kind: ClusterImagePolicy
  metadata:
    name: keyless-with-provenance
  spec:
    mode: warn
    threshold: 1
    images:
    - glob: "registry.internal/app*"
    authorities:
    - keyless:
        url: https://fulcio.sigstore.dev
        trustRootRef: airgap
        identities:
        - issuer: https://token.actions.githubusercontent.com
          subjectRegExp: "^https://github.com/org/.*$"
      ctlog:
        url: https://rekor.sigstore.dev
        trustRootRef: airgap
      attestations:
      - name: built-by-ci
        predicateType: custom
        policy:
          type: rego
          data: |
            package sigstore
            default isCompliant = false
            isCompliant { input.predicate.builder == "ci" }
- apiVersion: policy.sigstore.dev/v1alpha1
  kind: ClusterImagePolicy
  metadata:
    name: allow-base
  spec:
    images: [{glob: "index.docker.io/library/*"}]
    authorities: [{static: {action: pass}}]
"""
    loaded = policies.load([write(tmp_path, text)])
    key, keyless, static = loaded.policies
    assert (key.name, key.mode, key.threshold) == ("signed-by-release-key", "enforce", None)
    [release] = key.authorities
    assert release.kind == "key" and release.key == PEM.encode() and release.tlog is False
    assert release.warnings == ("authority release: a key authority without ctlog: the transparency log is not "
                                "checked (policy-controller's default)",)
    [authority] = keyless.authorities
    assert authority.warnings == ()  # ^...$: anchored
    assert (authority.name, authority.kind, authority.trust_root, authority.tlog) == (
        "authority-0", "keyless", "airgap", True)
    [rule] = authority.attestations
    assert rule.predicate_type == "https://cosign.sigstore.dev/attestation/v1"
    assert rule.policy.evaluate({"predicate": {"builder": "ci"}}) is None
    assert "not compliant" in rule.policy.evaluate({"predicate": {"builder": "laptop"}})
    assert (keyless.mode, keyless.threshold) == ("warn", 1)
    assert static.authorities[0].static_action == "pass"
    assert loaded.trust_roots["airgap"].trusted_root_file == str(tmp_path / "trusted_root.json")
    assert [p.name for p in loaded.matching("registry.internal/app:1.0")] == ["signed-by-release-key",
                                                                              "keyless-with-provenance"]
    assert [p.name for p in loaded.matching("ubuntu")] == ["allow-base"]


@pytest.mark.parametrize(("glob", "image", "matches"), [
    ("registry.internal/**", "registry.internal/team/app:1.0", True),
    ("registry.internal/*", "registry.internal/team/app:1.0", False),  # * stops at /
    ("registry.internal/app*", "registry.internal/app:1.0", True),  # the tag is part of the text
    ("registry.internal/app", "registry.internal/app:1.0", False),  # the whole reference must match
    ("registry.internal/app:**", "registry.internal/app", True),  # latest is implied
    ("registry.internal/app@sha256:*", "registry.internal/app@sha256:" + "a" * 64, True),
    ("*", "ubuntu", True),  # upstream: * means index.docker.io/library/*
    ("*", "registry.internal/app", False),
    ("*/*", "org/app", True),
    ("index.docker.io/library/ubuntu:**", "docker.io/ubuntu:22.04", True),
    ("ubuntu:**", "ubuntu:22.04", True),  # upstream also tries the reference as written
    ("127.0.0.1:5000/**", "127.0.0.1:5000/app:v1", True),
])
def test_globs_match_as_upstream(glob, image, matches):
    policy = policies.ClusterImagePolicy("p", "here", (glob,), (policies.compile_glob(glob),), ())
    assert policy.matches(image) is matches


def doc(spec: str, kind: str = "ClusterImagePolicy", version: str = "policy.sigstore.dev/v1beta1") -> str:
    return f"apiVersion: {version}\nkind: {kind}\nmetadata:\n  name: p\nspec:\n{textwrap.indent(spec, '  ')}"


KEY = f"key:\n      data: |\n        {indent(PEM, 8)}"
IMAGES = "images: [{glob: 'r.io/**'}]\n"


@pytest.mark.parametrize(("text", "message"), [
    ("a: [", "not valid YAML at line 2: did not find expected node content"),
    ("a: &x [1]\nb: *x\n", "YAML anchors and aliases are not allowed (line 1)"),
    ("a: " + "[" * 70 + "]" * 70, "nested deeper than 64 levels (line 1)"),
    ("- 1\n", "document 0: a document must be a mapping, not a list"),
    ("apiVersion: v1\nkind: Pod\n", "document 0: apiVersion: 'v1' is not policy.sigstore.dev/..."),
    (doc(IMAGES, kind="ImagePolicy"),
     "document 0 (ImagePolicy p): kind: 'ImagePolicy' 'policy.sigstore.dev/v1beta1' is not a ClusterImagePolicy"),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\nimagez: []\n"),
     "document 0 (ClusterImagePolicy p): spec.imagez: unknown field (allowed here: images, authorities, policy, "
     "mode, match, threshold)"),
    (doc("authorities: [{static: {action: pass}}]\n"),
     "(ClusterImagePolicy p): spec.images: missing required field (at least one glob)"),
    (doc("images: [{glob: 'r.io/[a-z]'}]\nauthorities: [{static: {action: pass}}]\n"),
     "spec.images[0].glob: glob 'r.io/[a-z]' is invalid: only letters, digits and - _ : / * . @ are allowed"),
    (doc(IMAGES), "spec.authorities: missing required field (at least one authority"),
    (doc(IMAGES + "authorities: [{static: {action: maybe}}]\n"),
     "spec.authorities[0].static.action: unsupported action 'maybe' (pass or fail)"),
    (doc(IMAGES + "authorities: [{}]\n"),
     "spec.authorities[0]: expected exactly one, got neither of key, keyless, static"),
    (doc(IMAGES + f"authorities:\n- static: {{action: pass}}\n  {KEY}\n"),
     "spec.authorities[0]: expected exactly one, got key, static of key, keyless, static"),
    (doc(IMAGES + "authorities: [{key: {data: 'not a key'}}]\n"),
     "spec.authorities[0].key.data: not a PEM or DER public key"),
    (doc(IMAGES + "authorities: [{key: {kms: 'awskms:///alias/release'}}]\n"),
     "spec.authorities[0].key.kms: a KMS key cannot be fetched offline: put its PEM public key in key.data"),
    (doc(IMAGES + "authorities: [{key: {secretRef: {name: release}}}]\n"),
     "spec.authorities[0].key.secretRef: a Kubernetes Secret cannot be read offline: put the PEM in key.data"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n      hashAlgorithm: md5\n"),
     "spec.authorities[0].key.hashAlgorithm: unsupported hash algorithm 'md5' (sha256)"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n      keyId: x\n"),
     "spec.authorities[0].key.keyId: unknown field (allowed here: data, kms, secretRef, hashAlgorithm)"),
    (doc(IMAGES + "authorities: [{keyless: {identities: []}}]\n"),
     "spec.authorities[0].keyless.identities: missing required field (at least one identity)"),
    (doc(IMAGES + "authorities: [{keyless: {identities: [{issuer: 'https://x'}]}}]\n"),
     "spec.authorities[0].keyless.identities[0]: missing required field: one of subject, subjectRegExp"),
    (doc(IMAGES + "authorities: [{keyless: {identities: [{issuer: i, subject: s, subjectRegExp: s}]}}]\n"),
     "spec.authorities[0].keyless.identities[0]: expected exactly one, got both of subject, subjectRegExp"),
    (doc(IMAGES + "authorities: [{keyless: {identities: [{issuer: i, subjectRegExp: '(a'}]}}]\n"),
     "spec.authorities[0].keyless.identities[0]: --certificate-identity-regexp"),
    (doc(IMAGES + "authorities: [{keyless: {trustRootRef: gone, identities: [{issuer: i, subject: s}]}}]\n"),
     "trustRootRef 'gone': no TrustRoot of that name in the policies"),
    (doc(IMAGES + "authorities: [{keyless: {insecureIgnoreSCT: 'yes', identities: [{issuer: i, subject: s}]}}]\n"),
     "spec.authorities[0].keyless.insecureIgnoreSCT: must be true or false, not a string"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  source: [{{oci: other.io/sigs}}, {{oci: other.io/more}}]\n"),
     "spec.authorities[0].source: only a single source is supported"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  source: [{{oci: 'other.io/sigs:v1'}}]\n"),
     "spec.authorities[0].source[0].oci: 'other.io/sigs:v1' must name a repository, without a tag or digest"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  source: [{{oci: other.io/sigs, signaturePullSecrets: [{{name: s}}]}}]\n"),
     "spec.authorities[0].source[0].signaturePullSecrets: Kubernetes Secrets cannot be read offline"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  attestations: [{{name: a, predicateType: custom, policy: "
                  "{type: cue, data: 'x: 1'}}]\n"),
     "spec.authorities[0].attestations[0].policy.type: cue policies are not supported (airlock evaluates rego)"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  attestations: [{{name: a, predicateType: custom, policy: "
                  "{type: rego, data: 'package sigstore\\nisCompliant {{'}}]\n"),
     "spec.authorities[0].attestations[0].policy.data: the rego policy a does not evaluate: this is unclosed"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  attestations: [{{name: a, predicateType: custom, policy: "
                  "{type: rego, data: 'package sigstore\\nisCompliant := {\"error\": opa.runtime().env.X}'}}]\n"),
     "spec.authorities[0].attestations[0].policy.data: opa.runtime() is not allowed"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  attestations: [{{name: a, predicateType: custom, policy: "
                  "{type: rego, remote: {url: 'https://x'}}}]\n"),
     "spec.authorities[0].attestations[0].policy.remote: not available offline: put the policy inline in data"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  attestations: [{{predicateType: custom}}]\n"),
     "spec.authorities[0].attestations[0].name: missing required field"),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\nmode: audit\n"),
     "spec.mode: unsupported mode 'audit' (enforce or warn)"),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\nthreshold: 2\n"),
     "spec.threshold: must be a number from 1 to 1 (the authorities), not 2"),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\npolicy: {type: rego, data: 'package sigstore\\nx {'}\n"),
     "spec.policy.data: the rego policy ClusterImagePolicy does not evaluate: "),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\npolicy: {type: rego, data: x, includeSpec: true}\n"),
     "spec.policy.includeSpec: not supported: the policy sees authorityMatches only"),
    (doc(IMAGES + f"authorities:\n- {KEY}\n  attestations: [{{name: a, predicateType: custom, policy: "
                  "{type: rego, data: x, fetchConfigFile: false}}]\n"),
     "spec.authorities[0].attestations[0].policy.fetchConfigFile: only allowed in the policy at spec level"),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\nmatch: [{selector: {matchLabels: {a: b}}}]\n"),
     "spec.match[0].selector: a selector requires a resource type to match the labels"),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\nmatch: [{resource: pods, selector: {matchExpressions: "
                  "[{key: a, operator: Near}]}}]\n"),
     "spec.match[0].selector.matchExpressions[0].operator: unsupported operator 'Near'"),
    (doc(IMAGES + "authorities: [{static: {action: pass}}]\nmatch: [{resource: pods, selector: {matchExpressions: "
                  "[{key: a, operator: In}]}}]\n"),
     "spec.match[0].selector.matchExpressions[0].values: In needs values"),
    (doc(IMAGES + "authorities: [{static: {action: pass}, name: a}, {static: {action: fail}, name: a}]\n"),
     "spec.authorities: authority names must be unique: ['a', 'a']"),
    (doc("remote: {mirror: 'https://tuf.example', root: eA==}\n", kind="TrustRoot",
         version="policy.sigstore.dev/v1alpha1"),
     "(TrustRoot p): spec.remote: a remote TUF mirror cannot be reached offline"),
    (doc("repository: {mirrorFS: eA==, root: eA==}\n", kind="TrustRoot", version="policy.sigstore.dev/v1alpha1"),
     "(TrustRoot p): spec.repository.mirrorFS: the tarball: "),
    (doc("repository: {mirrorFS: eA==, root: eA==, targets: other}\n", kind="TrustRoot",
         version="policy.sigstore.dev/v1alpha1"),
     "(TrustRoot p): spec.repository.targets: only 'targets' is supported, not 'other'"),
    (doc("trustedRootFile: nowhere.json\n", kind="TrustRoot", version="policy.sigstore.dev/v1alpha1"),
     "nowhere.json: no such file or directory"),
    (doc("sigstoreKeys: {certificateAuthorities: [{certChain: '!!'}]}\n", kind="TrustRoot",
         version="policy.sigstore.dev/v1alpha1"),
     "spec.sigstoreKeys.certificateAuthorities[0].certChain: not valid base64"),
])
def test_malformed_policies_are_refused_with_the_field_named(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as raised:
        policies.load([path])
    assert str(raised.value).startswith(f"policy {path}: "), raised.value
    assert message in str(raised.value), raised.value


def test_unanchored_identity_regexps_are_reported(tmp_path):
    path = write(tmp_path, doc(IMAGES + "authorities:\n- keyless:\n    identities:\n    - issuerRegExp: "
                                        "'^https://issuer$'\n      subjectRegExp: 'org/repo'\n"))
    [policy] = policies.load([path]).policies
    assert policy.authorities[0].warnings == (
        "authority authority-0: identities[0]: subjectRegExp 'org/repo' is not anchored (^...$): it matches "
        "anywhere in the value",)


def test_sigstore_keys_become_a_trusted_root(tmp_path):
    """TrustRoot spec.sigstoreKeys (base64 PEM, as upstream's docs write it) is the same trust as
    the instance's trusted_root.json: CA chain, Rekor and CT keys, TSA chain."""
    from airlock.testing import SigstoreInstance
    from airlock.trust.trusted_root import TrustedRoot

    inst = SigstoreInstance()
    reference = TrustedRoot.from_file(inst.write_trusted_root(tmp_path / "trusted_root.json"))

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    def chain(ca) -> str:
        return b64(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in ca.chain))

    def log(entry) -> dict:
        return {"baseURL": entry.base_url, "hashAlgorithm": "sha-256", "publicKey": b64(entry.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))}

    import json

    spec = {"sigstoreKeys": {
        "certificateAuthorities": [{"subject": {"organization": "o", "commonName": "c"}, "uri": "https://fulcio",
                                    "certChain": chain(ca)} for ca in reference.certificate_authorities],
        "tLogs": [log(t) for t in reference.tlogs], "ctLogs": [log(t) for t in reference.ctlogs],
        "timestampAuthorities": [{"subject": {}, "uri": "https://tsa", "certChain": chain(ca)}
                                 for ca in reference.timestamp_authorities]}}
    path = tmp_path / "root.yaml"
    path.write_text(json.dumps({"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot",
                                "metadata": {"name": "inline"}, "spec": spec}) + "\n---\n" + KEY_POLICY)
    loaded = policies.load([str(path)])
    root = TrustedRoot.from_json(loaded.trust_roots["inline"].trusted_root_json)
    def der(log) -> bytes:
        return log.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    assert [der(t) for t in root.tlogs] == [der(t) for t in reference.tlogs]
    assert root.tlogs[0].log_id == reference.tlogs[0].log_id  # Rekor v1: the key's SHA-256, as upstream computes
    assert [t.log_id for t in root.ctlogs] == [t.log_id for t in reference.ctlogs]
    assert [ca.chain for ca in root.certificate_authorities] == [ca.chain for ca in reference.certificate_authorities]
    assert len(root.timestamp_authorities) == len(reference.timestamp_authorities)


def test_a_configmap_volume_is_read_once(tmp_path):
    """A ConfigMap mounted as a volume, as the kubelet lays it out: the files in a ``..<timestamp>``
    directory, ``..data`` a link to it, and each visible name a link through ``..data``. Each policy
    is read once (reading the timestamped copy too would be "a second ClusterImagePolicy")."""
    import os

    volume = tmp_path / "policies"
    version = volume / "..2026_12_03_02_30_00.123456789"
    version.mkdir(parents=True)
    write(tmp_path, KEY_POLICY, "policies/..2026_12_03_02_30_00.123456789/release.yaml")
    os.symlink(version.name, volume / "..data")
    os.symlink("..data/release.yaml", volume / "release.yaml")
    assert [p.name for p in policies.load([str(volume)]).policies] == ["signed-by-release-key"]


def test_policy_files_and_directories(tmp_path):
    (tmp_path / "dir").mkdir()
    write(tmp_path, KEY_POLICY, "dir/a.yaml")
    write(tmp_path, KEY_POLICY.replace("signed-by-release-key", "second"), "dir/b.yml")
    (tmp_path / "dir" / "notes.txt").write_text("not read")
    assert [p.name for p in policies.load([str(tmp_path / "dir")]).policies] == ["signed-by-release-key", "second"]
    write(tmp_path, KEY_POLICY, "dir/c.yaml")
    with pytest.raises(PolicyError, match=r"metadata\.name: a second ClusterImagePolicy 'signed-by-release-key'"):
        policies.load([str(tmp_path / "dir")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match=r"the directory holds no \.yaml, \.yml or \.json file"):
        policies.load([str(tmp_path / "empty")])
    with pytest.raises(PolicyError, match="no such file or directory"):
        policies.load([str(tmp_path / "missing.yaml")])
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(PolicyError, match="larger than 4194304 bytes"):
        policies.load([str(big)])
    only_roots = write(tmp_path, doc("trustedRootFile: big.yaml\n", kind="TrustRoot",
                                     version="policy.sigstore.dev/v1alpha1"), "roots.yaml")
    with pytest.raises(PolicyError, match="no ClusterImagePolicy found"):
        policies.load([only_roots])


POD_SPEC = {"containers": [{"name": "a", "image": "r.io/app:1"}],
            "initContainers": [{"name": "i", "image": "r.io/init:1"}],
            "ephemeralContainers": [{"name": "d", "image": "r.io/debug:1"}]}


@pytest.mark.parametrize(("obj", "images"), [
    ({"kind": "Pod", "spec": POD_SPEC}, ["r.io/app:1", "r.io/init:1", "r.io/debug:1"]),
    *[({"kind": kind, "spec": {"template": {"spec": POD_SPEC}}}, ["r.io/app:1", "r.io/init:1", "r.io/debug:1"])
      for kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")],
    ({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"image": "r.io/cron:1"}]}}}}}}, ["r.io/cron:1"]),
    ({"kind": "List", "items": [{"kind": "Pod", "spec": {"containers": [{"image": "a.io/x:1"}]}},
                                {"kind": "Pod", "spec": {"containers": [{"image": "a.io/x:1"}, {"image": "b.io/y"}]}}]},
     ["a.io/x:1", "b.io/y"]),
    ({"kind": "ConfigMap", "data": {"image": "r.io/not-run"}}, []),
    ({"kind": "Pod", "spec": {"containers": [{"name": "no-image"}, {"image": 7}]}}, []),
])
def test_images_of_workloads(obj, images):
    assert workloads.images_of(obj) == images


@pytest.mark.parametrize(("labels", "selected"), [
    ({"tier": "prod", "team": "a"}, True),
    ({"tier": "prod", "team": "a", "canary": "1"}, False),  # DoesNotExist
    ({"tier": "dev", "team": "a"}, False),  # matchLabels
    ({"tier": "prod", "team": "c"}, False),  # In
    ({"tier": "prod"}, False),  # In needs the key
])
def test_label_selectors(labels, selected):
    match = policies._match({"group": "apps", "version": "*", "resource": "deployments", "selector": {
        "matchLabels": {"tier": "prod"}, "matchExpressions": [
            {"key": "team", "operator": "In", "values": ["a", "b"]}, {"key": "canary", "operator": "DoesNotExist"},
            {"key": "team", "operator": "NotIn", "values": ["z"]}, {"key": "tier", "operator": "Exists"}]}},
        policies.Where("here"))
    assert match.selects("apps", "v1", "deployments", labels) is selected
    assert not match.selects("", "v1", "deployments", {"tier": "prod", "team": "a"})  # "" is the core group
    assert not match.selects("apps", "v1", "pods", {"tier": "prod", "team": "a"})
