"""The admission gate and ``airlock admit`` on real signed images in a real registry (Debian's
docker-registry on 127.0.0.1): key and keyless signatures, attestations with Rego, every
combination of match/no match, pass/fail, warn/enforce/audit, AND/OR and threshold, each verdict
asserted with its reason; failing closed when the registry cannot be reached."""

from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import airlock
from airlock.admission import policies
from airlock.admission.gate import WOULD_DENY, Gate, Resource, would_deny
from airlock.formats import cosign
from airlock.sign.signers import FileSigner
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
from conftest import one_line_error, run_cli, run_process
from image_layouts import add_image, image_statement, key_layer, keyless_layer, new_layout
from test_registry_roundtrip import attach_bundle, attach_signatures, push_image

SLSA = "https://slsa.dev/provenance/v1"


def pem(private) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def world(registry, tmp_path_factory):
    """Images in the registry: signed by alice, by bob, by both, unsigned, keyless-signed, and
    attested by alice (predicate builder=ci) or (builder=laptop)."""
    from datetime import UTC, datetime

    tmp = tmp_path_factory.mktemp("admission")
    client = airlock.registry_client()
    inst = SigstoreInstance(now=datetime.now(UTC).replace(microsecond=0))
    root = inst.write_trusted_root(tmp / "trusted_root.json")
    alice, bob = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    images = {}
    for name in ("alice", "bob", "both", "unsigned", "keyless", "attested", "laptop", "bundle", "keyless-v3",
                 "keyless-rekor2", "logged", "elsewhere"):
        digest = push_image(client, registry, f"app/{name}", tmp, f"layer {name}".encode())
        images[name] = SimpleNamespace(tag=f"{registry}/app/{name}:v1", digest=digest,
                                       pinned=f"{registry}/app/{name}@{digest}")
        [target] = airlock.signing_targets([images[name].tag], client=client)
        for who, private in (("alice", alice), ("bob", bob)):
            if name in (who, "both"):
                airlock.sign_image(target, FileSigner(private))
        if name == "elsewhere":  # signatures in another repository (as COSIGN_REPOSITORY puts them)
            payload = cosign.simplesigning_payload(f"{registry}/app/{name}", digest)
            attach_signatures(client, registry, "signatures/app", digest, [key_layer(alice, payload)])
        if name == "bundle":
            airlock.sign_image(target, FileSigner(alice), new_bundle_format=True)
        if name in ("attested", "laptop"):
            airlock.attest_image(target, FileSigner(alice), json.dumps({"builder": "ci" if name == "attested"
                                                                        else "laptop"}).encode(), SLSA)
        if name == "keyless":
            payload = cosign.simplesigning_payload(f"{registry}/app/{name}", digest)
            attach_signatures(client, registry, f"app/{name}", digest, [keyless_layer(inst, payload)])
        options = {"keyless-v3": {}, "keyless-rekor2": {"rekor": "v2"}, "logged": {"key": alice}}.get(name)
        if options is not None:  # cosign v3 bundles (referrers) signed with the test instance, logged
            attach_bundle(client, registry, f"app/{name}", digest,
                          inst.sign_blob(b"", content="dsse", statement=image_statement(digest), **options))
    return SimpleNamespace(registry=registry, client=client, tmp=tmp, root=str(root), alice=pem(alice),
                           bob=pem(bob), images=images, inst=inst)


def key_authority(name: str, key: str, extra: str = "") -> str:
    return f"- name: {name}\n  key:\n    data: |\n{textwrap.indent(key, '      ')}{extra}"


def cip(name: str, glob: str, authorities: str, extra: str = "") -> str:
    return (f"apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\n"
            f"spec:\n  images:\n  - glob: \"{glob}\"\n  authorities:\n{textwrap.indent(authorities, '  ')}\n"
            f"{textwrap.indent(extra, '  ')}")


def gate(world, *documents: str, **options) -> Gate:
    path = world.tmp / f"policy-{abs(hash(documents))}.yaml"
    path.write_text("\n---\n".join(documents))
    return Gate(policies.load([str(path)]), world.client, trusted_root=world.root, **options)


def decide(g: Gate, image: str, resource: Resource | None = None):
    [decision] = g.decide([image], resource)
    return decision


def test_a_key_authority_admits_what_it_signed_and_denies_the_rest(world):
    g = gate(world, cip("release", f"{world.registry}/app/**", key_authority("alice", world.alice)))
    ok = decide(g, world.images["alice"].tag)
    assert (ok.allowed, ok.mode, ok.digest, ok.policy, ok.authority) == (
        True, "enforce", world.images["alice"].digest, "release", "release/alice")
    assert ok.reason == f"{world.images['alice'].tag}@{ok.digest}: admitted by policy release (alice)"
    assert ok.warnings == ["authority alice: a key authority without ctlog: the transparency log is not checked "
                           "(policy-controller's default)"], ok.warnings
    for name in ("bob", "unsigned"):
        denied = decide(g, world.images[name].tag)
        assert (denied.allowed, denied.mode, denied.policy, denied.digest) == (
            False, "enforce", "release", world.images[name].digest)
        assert denied.reason.startswith(f"{world.images[name].pinned.replace('@', ':v1@')}: policy release: "
                                        "no authority passed (alice: no signatures verified (")
    assert "no signatures found" in decide(g, world.images["unsigned"].tag).reason


def test_authorities_are_or_policies_are_and_threshold_is_n_of_m(world):
    glob = f"{world.registry}/app/**"
    either = gate(world, cip("either", glob, key_authority("alice", world.alice) + "\n" +
                             key_authority("bob", world.bob)))
    assert decide(either, world.images["bob"].tag).authority == "either/bob"
    assert decide(either, world.images["both"].tag).authority == "either/alice,either/bob"
    assert not decide(either, world.images["unsigned"].tag).allowed
    both_policies = gate(world, cip("by-alice", glob, key_authority("alice", world.alice)),
                         cip("by-bob", glob, key_authority("bob", world.bob)))
    denied = decide(both_policies, world.images["alice"].tag)
    assert (denied.allowed, denied.policy) == (False, "by-bob")
    assert "policy by-bob: no authority passed (bob: no signatures verified" in denied.reason
    assert "by-alice" not in denied.reason  # the policy that passed is not a reason
    assert decide(both_policies, world.images["both"].tag).policy == "by-alice,by-bob"
    two_of_two = gate(world, cip("two-keys", glob, key_authority("alice", world.alice) + "\n" +
                                 key_authority("bob", world.bob), "threshold: 2"))
    denied = decide(two_of_two, world.images["alice"].tag)
    assert not denied.allowed
    assert "policy two-keys: 1 of 2 authorities passed, 2 needed (bob: no signatures verified" in denied.reason
    assert decide(two_of_two, world.images["both"].tag).allowed


def test_warn_mode_audit_mode_and_no_match(world):
    glob = f"{world.registry}/app/alice*"
    warn = gate(world, cip("warn-only", f"{world.registry}/app/**", key_authority("bob", world.bob), "mode: warn"))
    d = decide(warn, world.images["alice"].tag)
    assert (d.allowed, d.mode, d.policy) == (True, "warn", "warn-only") and would_deny(d)
    assert d.warnings[-1] == WOULD_DENY + d.reason and "no authority passed (bob:" in d.reason
    strict = [cip("alice-only", glob, key_authority("bob", world.bob))]
    enforce = decide(gate(world, *strict), world.images["alice"].tag)
    audit = decide(gate(world, *strict, mode="audit"), world.images["alice"].tag)
    assert (enforce.allowed, enforce.mode) == (False, "enforce")
    assert (audit.allowed, audit.mode, audit.reason) == (True, "audit", enforce.reason) and would_deny(audit)
    other = world.images["bob"].tag  # no policy's glob matches it
    denied = decide(gate(world, *strict), other)
    assert (denied.allowed, denied.digest, denied.reason) == (False, None, f"{other}: no ClusterImagePolicy matches it")
    warned = decide(gate(world, *strict, no_match="warn"), other)
    assert (warned.allowed, warned.mode, warned.warnings) == (True, "warn", [WOULD_DENY + denied.reason])
    allowed = decide(gate(world, *strict, no_match="allow"), other)
    assert (allowed.allowed, allowed.warnings) == (True, []) and allowed.reason.endswith("(--no-match-policy allow)")


def test_require_digest_and_static_authorities(world):
    static = gate(world, cip("base", f"{world.registry}/app/unsigned*", "- static:\n    action: pass"),
                  cip("banned", f"{world.registry}/app/bob*", "- static:\n    action: fail\n    message: bob left"),
                  require_digest=True)
    tagged = decide(static, world.images["unsigned"].tag)
    assert (tagged.allowed, tagged.reason) == (False, f"{world.images['unsigned'].tag}: not pinned by digest "
                                                      "(--require-digest)")
    assert decide(static, world.images["unsigned"].pinned).allowed
    banned = decide(static, world.images["bob"].pinned)
    assert not banned.allowed and banned.reason.endswith("policy banned: no authority passed (authority-0: bob left)")


def test_keyless_authorities_check_identity_and_trust_root(world):
    good = textwrap.dedent(f"""\
        - keyless:
            url: https://fulcio.sigstore.dev
            identities:
            - issuer: {DEFAULT_ISSUER}
              subjectRegExp: "^https://github.com/org/repo/"
    """)
    g = gate(world, cip("ci", f"{world.registry}/app/keyless*", good))
    assert decide(g, world.images["keyless"].tag).authority == "ci/authority-0"
    wrong = good.replace("subjectRegExp: \"^https://github.com/org/repo/\"", "subject: someone@example.com")
    d = decide(gate(world, cip("ci", f"{world.registry}/app/keyless*", wrong)), world.images["keyless"].tag)
    assert not d.allowed and f"certificate identity ['{DEFAULT_IDENTITY}'] does not match 'someone@example.com'" \
        in d.reason
    # the trust root named by trustRootRef: another instance's root does not verify this signature
    other = SigstoreInstance().write_trusted_root(world.tmp / "other_root.json")
    trust = ("apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: other\nspec:\n"
             f"  trustedRootFile: {other}\n")
    referenced = good.replace("  url: https://fulcio.sigstore.dev", "  trustRootRef: other")
    d = decide(gate(world, trust, cip("ci", f"{world.registry}/app/keyless*", referenced)),
               world.images["keyless"].tag)
    assert not d.allowed and "no signatures verified" in d.reason
    assert "is from a log not in the trusted root" in d.reason


def mirror_tarball(directory: Path, *, prefix: str = "repository") -> str:
    """The TUF repository in ``directory`` as policy-controller's CompressFS writes it: a gzip'd tar
    of ``repository/`` with its directory entries, base64-encoded."""
    import base64
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(directory, arcname=prefix)
    return base64.b64encode(out.getvalue()).decode()


def test_a_trust_root_from_a_tuf_repository_tarball(world, tmp_path):
    """TrustRoot spec.repository: the tarball is verified from its root by airlock's TUF client;
    its trusted_root.json then verifies keyless signatures. A tampered target is refused at load."""
    from tuf_repo import TufRepo

    repo = TufRepo(tmp_path / "tuf", trusted_root=Path(world.root).read_bytes())
    root = __import__("base64").b64encode(repo.root_bytes(1)).decode()

    def trust_root(tarball: str) -> str:
        return ("apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: mirrored\nspec:\n"
                f"  repository:\n    root: {root}\n    mirrorFS: {tarball}\n    targets: targets\n")

    keyless = (f"- keyless:\n    trustRootRef: mirrored\n    identities:\n    - issuer: {DEFAULT_ISSUER}\n"
               f"      subject: {DEFAULT_IDENTITY}")
    g = gate(world, trust_root(mirror_tarball(tmp_path / "tuf")), cip("ci", f"{world.registry}/app/**", keyless))
    assert decide(g, world.images["keyless"].tag).allowed
    assert not decide(g, world.images["alice"].tag).allowed
    repo.tamper_target("trusted_root.json")
    with pytest.raises(policies.PolicyError) as raised:
        gate(world, trust_root(mirror_tarball(tmp_path / "tuf")), cip("ci", f"{world.registry}/app/**", keyless))
    assert "(TrustRoot mirrored): spec.repository: the TUF repository does not verify: TUF target " \
           "trusted_root.json from mirrorFS failed verification" in str(raised.value), str(raised.value)
    from datetime import timedelta

    expired = TufRepo(tmp_path / "expired", trusted_root=Path(world.root).read_bytes(),
                      expires={"targets": -timedelta(hours=1)})
    root = __import__("base64").b64encode(expired.root_bytes(1)).decode()
    with pytest.raises(policies.PolicyError) as raised:
        gate(world, trust_root(mirror_tarball(tmp_path / "expired")), cip("ci", f"{world.registry}/app/**", keyless))
    assert str(raised.value).endswith("(TrustRoot mirrored): spec.repository: the TUF repository does not verify: "
                                      "TUF update from mirrorFS failed: expired: New targets is expired")
    with pytest.raises(policies.PolicyError, match=r"spec\.repository\.mirrorFS: member 'elsewhere/1\.root\.json' "
                                                    r"is not under repository/"):
        gate(world, trust_root(mirror_tarball(tmp_path / "tuf", prefix="elsewhere")),
             cip("ci", f"{world.registry}/app/**", keyless))


def test_attestations_are_judged_by_rego(world):
    rego = json.dumps('package sigstore\ndefault isCompliant = false\n'
                      'isCompliant { input.predicate.builder == "ci" }\n')
    authority = key_authority("alice", world.alice, "\n  attestations:\n  - name: built-by-ci\n"
                              f"    predicateType: {SLSA}\n    policy: {{type: rego, data: {rego}}}")
    g = gate(world, cip("provenance", f"{world.registry}/app/**", authority))
    attested = decide(g, world.images["attested"].tag)
    assert attested.authority == "provenance/alice", attested.reason
    laptop = decide(g, world.images["laptop"].tag)
    assert not laptop.allowed and laptop.reason.endswith(
        "policy provenance: no authority passed (alice: attestation built-by-ci: failed evaluating rego policy: "
        "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant')")
    # signed but not attested: an authority with attestations needs them
    assert "attestation built-by-ci: no attestations verified" in decide(g, world.images["alice"].tag).reason


def test_signature_formats_and_ctlog(world):
    bundle = gate(world, cip("v3", f"{world.registry}/app/**", key_authority("alice", world.alice,
                                                                             "\n  signatureFormat: bundle")))
    assert decide(bundle, world.images["bundle"].tag).allowed
    assert not decide(bundle, world.images["alice"].tag).allowed  # legacy .sig only: not a bundle
    legacy = gate(world, cip("v2", f"{world.registry}/app/**", key_authority("alice", world.alice)))
    assert decide(legacy, world.images["alice"].tag).allowed
    # ctlog: the transparency log is required, and airlock's offline signatures have none
    logged = gate(world, cip("logged", f"{world.registry}/app/**", key_authority(
        "alice", world.alice, "\n  ctlog:\n    url: https://rekor.sigstore.dev")))
    d = decide(logged, world.images["alice"].tag)
    assert not d.allowed and "tlog: the signature has no transparency log entry" in d.reason
    assert not any("without ctlog" in w for w in d.warnings)


def test_sigstore_bundles_keyless_and_logged_keys(world):
    """cosign v3 bundles from the test Sigstore instance: keyless (Rekor v1, and Rekor v2 with a
    timestamp authority) and key-signed with a log entry, the latter required by ctlog."""
    keyless = (f"- keyless:\n    identities:\n    - issuer: {DEFAULT_ISSUER}\n      subject: {DEFAULT_IDENTITY}\n"
               "  signatureFormat: bundle")
    g = gate(world, cip("v3", f"{world.registry}/app/**", keyless))
    for name in ("keyless-v3", "keyless-rekor2"):
        d = decide(g, world.images[name].tag)
        assert (d.allowed, d.authority) == (True, "v3/authority-0"), d.reason
    assert "no signatures found" in decide(g, world.images["keyless"].tag).reason  # legacy only: no bundle
    logged = gate(world, cip("logged", f"{world.registry}/app/**", key_authority(
        "alice", world.alice, "\n  ctlog: {url: 'https://rekor.sigstore.dev'}\n  signatureFormat: bundle")))
    d = decide(logged, world.images["logged"].tag)
    assert (d.allowed, d.authority, d.warnings) == (True, "logged/alice", [])
    d = decide(logged, world.images["bundle"].tag)  # the same key, no log entry
    assert not d.allowed and "tlog: the signature has no transparency log entry" in d.reason, d.reason


def test_a_policy_over_the_authorities_that_passed(world):
    """spec.policy sees upstream's authorityMatches of the authorities that passed: here both keys
    must have signed (an AND written in Rego), and a keyless signature's subject is visible."""
    both = json.dumps("package sigstore\ndefault isCompliant = false\n"
                      "isCompliant { count(input.authorityMatches.alice.signatures) > 0\n"
                      "  count(input.authorityMatches.bob.signatures) > 0 }\n")
    g = gate(world, cip("both-keys", f"{world.registry}/app/**", key_authority("alice", world.alice) + "\n" +
                        key_authority("bob", world.bob), f"policy: {{type: rego, data: {both}}}"))
    assert decide(g, world.images["both"].tag).authority == "both-keys/alice,both-keys/bob"
    d = decide(g, world.images["alice"].tag)
    assert not d.allowed and d.reason.endswith(
        "policy both-keys: failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for "
        "query 'isCompliant = data.sigstore.isCompliant'")
    assert "no authority passed" in decide(g, world.images["unsigned"].tag).reason  # not even evaluated
    subject = json.dumps("package sigstore\nimport rego.v1\nisCompliant := {\"result\": false, \"error\": s} if {\n"
                         "  s := input.authorityMatches[\"authority-0\"].signatures[0].subject }\n")
    keyless = (f"- keyless:\n    identities:\n    - issuer: {DEFAULT_ISSUER}\n      subject: {DEFAULT_IDENTITY}")
    d = decide(gate(world, cip("who", f"{world.registry}/app/**", keyless, f"policy: {{type: rego, data: {subject}}}")),
               world.images["keyless"].tag)
    assert not d.allowed and d.reason.endswith(f"with errors: {DEFAULT_IDENTITY}")


def test_signatures_from_another_repository(world):
    image = world.images["elsewhere"].tag
    there = gate(world, cip("sigs", f"{world.registry}/app/**", key_authority(
        "alice", world.alice, f"\n  source:\n  - oci: {world.registry}/signatures/app")))
    d = decide(there, image)
    assert d.authority == "sigs/alice", d.reason
    assert not decide(there, world.images["alice"].tag).allowed  # its signature is beside it, not there
    here = gate(world, cip("sigs", f"{world.registry}/app/**", key_authority("alice", world.alice)))
    assert "no signatures found" in decide(here, image).reason


def test_match_selects_resources(world):
    g = gate(world, cip("deployments-only", f"{world.registry}/app/**", key_authority("bob", world.bob),
                        "match:\n- group: apps\n  version: v1\n  resource: deployments\n  selector:\n"
                        "    matchLabels: {tier: prod}"))
    image = world.images["alice"].tag
    assert not decide(g, image, Resource("apps", "v1", "deployments", {"tier": "prod"})).allowed
    assert not decide(g, image).allowed  # no resource known: the policy applies (fail closed)
    for resource in (Resource("", "v1", "pods", {"tier": "prod"}), Resource("apps", "v1", "deployments", {})):
        d = decide(g, image, resource)
        assert not d.allowed and d.reason == f"{image}: no ClusterImagePolicy matches it"


def test_fail_closed_and_verdicts_are_cached(world):
    from registry_server import free_port

    policy = cip("any", "127.0.0.1:*/**", key_authority("alice", world.alice))
    down = f"127.0.0.1:{free_port()}/app/alice:v1"
    d = decide(gate(world, policy), down)
    assert not d.allowed and d.reason.startswith(f"{down}: cannot resolve it to a digest: ")
    assert decide(gate(world, policy, mode="audit"), down).allowed
    bad = decide(gate(world, policy), "127.0.0.1:5000/App:v1")
    assert (bad.allowed, bad.digest) == (False, None)
    assert bad.reason.startswith("127.0.0.1:5000/App:v1: invalid repository 'App' in '127.0.0.1:5000/App:v1'")
    g = gate(world, policy)
    calls = []
    original = g._policy
    g._policy = lambda *a: calls.append(a) or original(*a)
    image = world.images["alice"]
    results: list = []
    threads = [threading.Thread(target=lambda: results.extend(g.decide([image.tag, image.pinned])))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r.allowed and r.digest == image.digest for r in results)
    assert len(calls) == 1  # eight decisions on one digest: one verification


def test_a_long_lived_gate_keeps_a_bounded_cache(world, monkeypatch):
    from airlock.admission import gate as module

    monkeypatch.setattr(module, "MAX_CACHED", 2)
    g = gate(world, cip("any", "127.0.0.1:*/**", key_authority("alice", world.alice)))
    calls = []
    original = g._policy
    g._policy = lambda *a: calls.append(a[0].digest) or original(*a)
    names = ("alice", "both", "bundle", "alice")
    assert [d.allowed for d in g.decide([world.images[n].pinned for n in names])] == [True, True, False, True]
    assert calls == [world.images[n].digest for n in names]  # alice was forgotten, and verified again
    assert len(g._verdicts) == len(g._pinned) == 2
    calls.clear()
    g.decide([world.images["bundle"].pinned, world.images["alice"].pinned])
    assert calls == []  # both cached: the failure for FAILURE_TTL seconds
    monkeypatch.setattr(module, "FAILURE_TTL", 0.0)
    g.decide([world.images["bundle"].pinned, world.images["bundle"].pinned, world.images["alice"].pinned])
    assert calls == [world.images["bundle"].digest] * 2  # a failure is judged again once it expires


# -- airlock admit ------------------------------------------------------------------------------------

def manifests(world, tmp_path: Path) -> Path:
    images = world.images
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "app.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web}}
        spec:
          template:
            spec:
              initContainers: [{{name: init, image: "{images['alice'].tag}"}}]
              containers: [{{name: web, image: "{images['bob'].tag}"}}]
        ---
        apiVersion: batch/v1
        kind: CronJob
        metadata: {{name: nightly}}
        spec:
          jobTemplate:
            spec:
              template:
                spec:
                  containers: [{{name: job, image: "{images['alice'].pinned}"}}]
        """))
    (tmp_path / "deploy" / "pods.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug"},
         "spec": {"containers": [{"name": "c", "image": images["alice"].tag}],
                  "ephemeralContainers": [{"name": "d", "image": images["unsigned"].tag}]}}]}))
    (tmp_path / "policy.yaml").write_text(cip("release", f"{world.registry}/app/**",
                                              key_authority("alice", world.alice)))
    return tmp_path


def test_admit_enforce_and_audit(world, tmp_path):
    base = manifests(world, tmp_path)
    images = world.images
    args = ["admit", base / "deploy", "--policy", base / "policy.yaml"]
    enforce = run_cli(*args)
    assert one_line_error(enforce) == "Error: admit: 2 of 4 images denied"
    lines = enforce.stdout.splitlines()
    assert lines[0].startswith(f"DENIED: {images['bob'].tag} ({images['bob'].digest}): ")
    assert lines[1] == (f"ADMITTED: {images['alice'].tag} ({images['alice'].digest}): {images['alice'].tag}"
                        f"@{images['alice'].digest}: admitted by policy release (alice)")
    assert lines[2].startswith(f"ADMITTED: {images['alice'].pinned}: ")  # the digest is in the reference
    assert lines[3].startswith(f"DENIED: {images['unsigned'].tag} ({images['unsigned'].digest}): ")
    assert "no signatures found" in lines[3]
    audit = run_cli(*args, "--mode", "audit", "--output", "json")
    assert audit.code == 0, audit.stderr
    assert "2 of 4 images would be denied in enforce mode" in audit.stderr
    report = json.loads(audit.stdout)
    assert (report["mode"], report["admitted"]) == ("audit", True)
    assert [(i["image"], i["digest"], i["wouldDeny"], i["mode"]) for i in report["images"]] == [
        (images["bob"].tag, images["bob"].digest, True, "audit"),
        (images["alice"].tag, images["alice"].digest, False, "audit"),
        (images["alice"].pinned, images["alice"].digest, False, "audit"),
        (images["unsigned"].tag, images["unsigned"].digest, True, "audit")]
    assert report["images"][1]["workloads"] == [f"Deployment/web ({base}/deploy/app.yaml: document 0)",
                                                f"Pod/debug ({base}/deploy/pods.json: document 0 items[0])"]
    digest_only = run_cli(*args, "--require-digest")
    assert one_line_error(digest_only) == "Error: admit: 3 of 4 images denied"
    assert f"DENIED: {images['alice'].tag}: {images['alice'].tag}: not pinned by digest (--require-digest)" \
        in digest_only.stdout.splitlines()


def test_admit_refuses_a_broken_policy(world, tmp_path):
    base = manifests(world, tmp_path)
    (base / "broken.yaml").write_text(cip("broken", "r.io/**", "- key:\n    data: not-a-key"))
    error = one_line_error(run_cli("admit", base / "deploy", "--policy", base / "broken.yaml"))
    assert error == (f"Error: policy {base}/broken.yaml: document 0 (ClusterImagePolicy broken): "
                     "spec.authorities[0].key.data: not a PEM or DER public key")
    (base / "pod.yaml").write_text("kind: Pod\nspec: {containers: [{image: a}]}\n---\n- just a list\n")
    error = one_line_error(run_cli("admit", base / "pod.yaml", "--policy", base / "policy.yaml"))
    assert error == f"Error: manifest {base}/pod.yaml: document 1: a Kubernetes object must be a mapping"
    (base / "bad.yaml").write_text("spec: [")
    error = one_line_error(run_cli("admit", base / "deploy", "--policy", base / "bad.yaml"))
    assert error == f"Error: policy {base}/bad.yaml: not valid YAML at line 2: did not find expected node content"


def test_admit_offline_from_a_layout(world, tmp_path):
    """No network at all (unshare --net): the images and signatures come from an OCI layout."""
    layout = new_layout(tmp_path / "layout")
    name = "registry.internal/team/app:1.0"
    add_image(layout, name)
    private = ec.generate_private_key(ec.SECP256R1())
    [target] = airlock.signing_targets([name], layout=str(tmp_path / "layout"))
    airlock.sign_image(target, FileSigner(private))
    (tmp_path / "policy.yaml").write_text(cip("internal", "registry.internal/**", key_authority("ci", pem(private))))
    (tmp_path / "pod.yaml").write_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n"
                                       f"  - {{name: a, image: \"{name}\"}}\n")
    result = run_process("admit", tmp_path / "pod.yaml", "--policy", tmp_path / "policy.yaml", "--local-image",
                         tmp_path / "layout", net=False)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(f"ADMITTED: {name} ({target.digest}): ")


def test_admit_keyless_needs_a_trust_root(world, tmp_path, monkeypatch):
    """A keyless authority verifies against --trusted-root (or the mirror in $TUF_ROOT); with
    neither, the image is denied saying so, and a key-only policy still needs none."""
    image = world.images["keyless"].tag
    (tmp_path / "pod.yaml").write_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n"
                                       f"  - {{name: a, image: \"{image}\"}}\n")
    (tmp_path / "policy.yaml").write_text(cip("ci", f"{world.registry}/app/**", (
        f"- keyless:\n    identities:\n    - issuer: {DEFAULT_ISSUER}\n      subject: {DEFAULT_IDENTITY}")))
    args = ["admit", tmp_path / "pod.yaml", "--policy", tmp_path / "policy.yaml"]
    ok = run_cli(*args, "--trusted-root", world.root)
    assert ok.code == 0, ok.stderr
    assert ok.stdout.startswith(f"ADMITTED: {image} ({world.images['keyless'].digest}): ")
    monkeypatch.setenv("TUF_ROOT", str(tmp_path / "no-mirror"))
    denied = run_cli(*args)
    assert one_line_error(denied) == "Error: admit: 1 of 1 images denied"
    assert f"policy ci: no authority passed (authority-0: no trusted root: pass --trusted-root FILE, or mirror one " \
           f"into {tmp_path}/no-mirror" in denied.stdout
    (tmp_path / "keys.yaml").write_text(cip("ci", f"{world.registry}/app/**", key_authority("alice", world.alice)))
    keyed = run_cli("admit", tmp_path / "pod.yaml", "--policy", tmp_path / "keys.yaml", "--mode", "audit")
    assert keyed.code == 0 and keyed.stdout.startswith(f"WOULD DENY: {image} (")
    assert "no trusted root" not in keyed.stdout  # a key authority without ctlog reads no trust root
