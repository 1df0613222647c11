"""``airlock webhook`` over real TLS, against images in a real registry (Debian's docker-registry
on 127.0.0.1), driven by a client that speaks as kube-apiserver does: every verdict and its
reason, the mutating digest patch, ephemeral containers, dry runs, and each way to fail closed
(registry down or slow past the deadline, malformed or oversized reviews, a policy broken
mid-run, an expired trust root, an internal error)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import urllib3

from airlock.admission import webhook
from airlock.oci.registry import RegistryClient
from conftest import run_cli
from webhook_support import (
    ApiServerClient,
    Signer,
    StandInGate,
    admission_request,
    cronjob,
    deployment,
    images_of,
    pod,
    push_image,
    write_tls,
)


@pytest.fixture(scope="module")
def world(registry, tmp_path_factory):
    """Images in the registry: signed by ``good`` (tag-only and by digest), unsigned, signed by
    another key; and TLS material for the webhook."""
    tmp = tmp_path_factory.mktemp("webhook")
    client = RegistryClient()
    good, other = Signer(), Signer()
    w = {"registry": registry, "tmp": tmp, "good": good, "other": other, "client": client}
    for name in ("signed", "unsigned", "wrong"):
        w[f"{name}_digest"] = push_image(client, registry, f"team/{name}", "v1", tmp)
        w[name] = f"{registry}/team/{name}:v1"
    good.sign(client, w["signed"], w["signed_digest"])
    other.sign(client, w["wrong"], w["wrong_digest"])
    w["ca"], w["cert"], w["key"] = write_tls(tmp / "tls")
    return w


class Running:
    def __init__(self, server: webhook.Server, client: ApiServerClient, policy_dir: Path) -> None:
        self.server, self.client, self.policy_dir = server, client, policy_dir

    @property
    def loader(self) -> webhook.Loader:
        return self.server.webhook.loader


@pytest.fixture
def serve(world, tmp_path):
    started: list[webhook.Server] = []

    def start(policies: list[dict], *, mode: str = "enforce", trusted_root: str | None = None,
              gate_factory=None, resolve=None) -> Running:
        policy_dir = tmp_path / f"policies{len(started)}"
        policy_dir.mkdir()
        (policy_dir / "policies.json").write_text(json.dumps(policies))
        for name in ("cert", "key"):  # its own copy: a test may renew it
            shutil.copy(world[name], policy_dir.parent / f"{policy_dir.name}.{name}")
        loader = webhook.Loader([str(policy_dir)], gate_factory or StandInGate.from_files, trusted_root=trusted_root)
        hook = webhook.Webhook(loader, mode=mode, images_of=images_of, resolve=resolve)
        server = webhook.Server(hook, tls_cert=str(policy_dir.parent / f"{policy_dir.name}.cert"),
                                tls_key=str(policy_dir.parent / f"{policy_dir.name}.key"),
                                listen="127.0.0.1:0", poll=0.1).start()
        started.append(server)
        return Running(server, ApiServerClient(f"https://127.0.0.1:{server.port}", world["ca"].read_bytes()),
                       policy_dir)

    yield start
    for server in started:
        server.stop()


def key_policy(world, name="team-signed", glob=None, mode="enforce", signer="good"):
    return {"name": name, "glob": glob or f"{world['registry']}/team/**", "key": world[signer].pem, "mode": mode}


def test_a_signed_image_is_admitted_and_the_uid_is_echoed(world, serve):
    hook = serve([key_policy(world)])
    response = hook.client.review(pod("p", world["signed"]))
    assert response["allowed"] is True
    assert "patch" not in response and "status" not in response and "warnings" not in response


@pytest.mark.parametrize(("image", "reason"), [
    ("unsigned", "no signatures verified (no signatures found)"),
    ("wrong", "no signatures verified"),
])
def test_an_image_that_fails_its_policy_is_denied_naming_image_policy_and_check(world, serve, image, reason):
    hook = serve([key_policy(world)])
    response = hook.client.review(pod("p", world["signed"], world[image]))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert response["status"]["code"] == 403
    assert message.startswith(f"Pod default/p: image {world[image]}: denied by policy team-signed: signature: "
                              f"{world[image]}@{world[image + '_digest']}: {reason}"), message
    assert world["signed"] not in message  # the signed one is not blamed
    assert "\n" not in message


def test_an_image_no_policy_matches_is_denied(world, serve):
    hook = serve([key_policy(world, glob=f"{world['registry']}/other/**")])
    response = hook.client.review(pod("p", world["signed"]))
    assert response["allowed"] is False
    assert response["status"]["message"] == (f"Pod default/p: image {world['signed']}: denied by no policy: "
                                              "no policy matches the image")


def test_every_matching_policy_must_pass(world, serve):
    both = [key_policy(world), key_policy(world, name="other-key", signer="other")]
    response = serve(both).client.review(pod("p", world["signed"]))
    assert response["allowed"] is False
    assert "denied by policy other-key: signature:" in response["status"]["message"]


def test_a_warn_policy_allows_with_a_warning(world, serve):
    hook = serve([key_policy(world, mode="warn")])
    response = hook.client.review(pod("p", world["unsigned"]))
    assert response["allowed"] is True
    [warning] = response["warnings"]
    assert warning.startswith(f"image {world['unsigned']}: denied by policy team-signed: signature:")
    assert warning.endswith("(policy in warn mode)")


def test_audit_mode_allows_what_enforce_denies_and_says_so(world, serve, caplog):
    hook = serve([key_policy(world)], mode="audit")
    with caplog.at_level("WARNING", logger="airlock.webhook"):
        response = hook.client.review(pod("p", world["unsigned"]))
    assert response["allowed"] is True
    [warning] = response["warnings"]
    assert warning.startswith(f"image {world['unsigned']}: denied by policy team-signed") and "audit mode" in warning
    assert any("would deny Pod default/p" in r.getMessage() for r in caplog.records)


def test_workloads_cronjobs_and_dry_runs_are_judged_alike(world, serve):
    hook = serve([key_policy(world)])
    assert hook.client.review(deployment("d", world["signed"]))["allowed"] is True
    assert hook.client.review(cronjob("c", world["unsigned"]))["allowed"] is False
    dry = hook.client.review(deployment("d", world["unsigned"]), dry_run=True)
    assert dry["allowed"] is False and f"Deployment default/d: image {world['unsigned']}" in dry["status"]["message"]


def test_an_ephemeral_container_update_is_judged(world, serve):
    hook = serve([key_policy(world)])
    running = pod("p", world["signed"])
    debug = pod("p", world["signed"], ephemeral=(world["unsigned"],))
    response = hook.client.review(debug, operation="UPDATE", sub_resource="ephemeralcontainers", old=running)
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(
        f"Pod/ephemeralcontainers default/p: image {world['unsigned']}: denied by policy team-signed")
    ok = pod("p", world["signed"], ephemeral=(world["signed"],))
    assert hook.client.review(ok, operation="UPDATE", sub_resource="ephemeralcontainers", old=running)["allowed"]


def test_delete_is_not_judged(world, serve):
    hook = serve([key_policy(world)])
    request = admission_request(pod("p", world["unsigned"]), operation="DELETE")
    request["request"]["oldObject"], request["request"]["object"] = request["request"]["object"], None
    answer = json.loads(hook.client.post("/validate", json.dumps(request).encode()).data)
    assert answer["response"] == {"uid": request["request"]["uid"], "allowed": True}


def test_mutate_pins_signed_tags_to_digests_only(world, serve):
    hook = serve([key_policy(world, mode="warn")])
    obj = deployment("d", world["signed"], world["unsigned"], f"{world['signed'].rsplit(':', 1)[0]}@"
                     f"{world['signed_digest']}")
    response = hook.client.review(obj, path="/mutate")
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(response["patch"]))
    assert patch == [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                      "value": f"{world['registry']}/team/signed@{world['signed_digest']}"}]
    cron = hook.client.review(cronjob("c", world["signed"]), path="/mutate")
    assert json.loads(base64.b64decode(cron["patch"]))[0]["path"] == \
        "/spec/jobTemplate/spec/template/spec/containers/0/image"
    assert "patch" not in hook.client.review(pod("p", world["unsigned"]), path="/mutate")


def test_health_readiness_and_metrics(world, serve, tmp_path):
    from airlock.testing import SigstoreInstance

    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(SigstoreInstance().trusted_root()))
    hook = serve([key_policy(world)], trusted_root=str(root))
    http = hook.client.http
    base = hook.client.url
    assert http.request("GET", f"{base}/healthz").status == 200
    ready = http.request("GET", f"{base}/readyz")
    assert ready.status == 200 and ready.data.decode().startswith("ready: policy version ")
    hook.client.review(pod("p", world["signed"]))
    hook.client.review(pod("p", world["signed"]))
    metrics = http.request("GET", f"{base}/metrics").data.decode()
    assert 'airlock_admission_requests_total{endpoint="validate",result="allowed"} 2.0' in metrics
    assert 'airlock_verdict_cache_total{result="hit"} 1.0' in metrics
    [expiry] = [line for line in metrics.splitlines() if line.startswith("airlock_trust_expiry_seconds ")]
    assert float(expiry.split()[1]) > 0


def test_not_ready_until_policies_load(world, serve):
    hook = serve([{"glob": "x"}], gate_factory=lambda paths, root: (_ for _ in ()).throw(ValueError("bad policy")))
    ready = hook.client.http.request("GET", f"{hook.client.url}/readyz")
    assert ready.status == 503 and ready.data.decode() == "not ready: ValueError: bad policy\n"
    response = hook.client.review(pod("p", world["signed"]))
    assert response["allowed"] is False and "policies and trust are not loaded" in response["status"]["message"]


# -- failing closed -----------------------------------------------------------------------------

def test_registry_down_denies(world, serve):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    image = f"127.0.0.1:{port}/team/app:v1"
    hook = serve([key_policy(world, glob="127.0.0.1:*/team/**")])
    response = hook.client.review(pod("p", image))
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(f"Pod default/p: image {image}: denied by no policy: "
                                                     f"{image}: cannot resolve it to a digest:")


@contextlib.contextmanager
def silent_server():
    """A TCP server that accepts and never answers (a registry hung past any deadline)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


def test_registry_slow_past_the_deadline_denies_before_the_api_server_gives_up(world, serve):
    with silent_server() as port:
        image = f"127.0.0.1:{port}/team/app:v1"
        hook = serve([key_policy(world, glob="127.0.0.1:*/team/**")])
        response = hook.client.review(pod("p", image), timeout=2)  # ?timeout=2s, as the API server sends it
    assert response["allowed"] is False
    assert response["status"]["message"] == (f"Pod default/p: image {image}: denied by no policy: "
                                              "verification did not finish within the 1.5s deadline")
    # the deadline comes from the request's timeout, less a margin: the answer beats the API server


def test_a_slow_verification_in_audit_mode_is_allowed_with_a_warning(world, serve):
    with silent_server() as port:
        image = f"127.0.0.1:{port}/team/app:v1"
        hook = serve([key_policy(world, glob="127.0.0.1:*/team/**")], mode="audit")
        response = hook.client.review(pod("p", image), timeout=1)
    assert response["allowed"] is True
    assert response["warnings"] == [f"image {image}: denied by no policy: verification did not finish within "
                                    "the 0.5s deadline (audit mode: allowed)"]


@pytest.mark.parametrize(("body", "error"), [
    (b"{not json", "Error: AdmissionReview: "),
    (b"[]", "Error: AdmissionReview: not a JSON object"),
    (json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}).encode(),
     "Error: AdmissionReview: apiVersion 'admission.k8s.io/v1beta1' kind 'AdmissionReview' "
     "(want admission.k8s.io/v1 AdmissionReview)"),
    (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
     "Error: AdmissionReview: missing"),
    (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 7}}).encode(),
     "Error: AdmissionReview request"),
    (b"[" * 10000 + b"]" * 10000, "Error: AdmissionReview"),
])
def test_a_malformed_review_is_refused(world, serve, body, error):
    hook = serve([key_policy(world)])
    response = hook.client.post("/validate", body)
    assert response.status == 400
    text = response.data.decode()
    assert text.startswith(error) and text.count("\n") == 1, text


def test_an_unknown_timeout_is_refused(world, serve):
    hook = serve([key_policy(world)])
    body = json.dumps(admission_request(pod("p", world["signed"]))).encode()
    response = hook.client.http.request("POST", f"{hook.client.url}/validate?timeout=soon", body=body)
    assert response.status == 400 and response.data == b"Error: timeout 'soon' is not a duration\n"


def test_an_oversized_request_is_refused_unread(world, serve):
    hook = serve([key_policy(world)])
    big = pod("p", world["signed"])
    big["metadata"]["annotations"] = {"x": "y" * (3 * 1024 * 1024)}
    response = hook.client.post("/validate", json.dumps(admission_request(big)).encode())
    assert response.status == 413
    assert response.data == b"Error: the request is larger than 3145728 bytes\n"
    assert hook.client.review(pod("p", world["signed"]))["allowed"] is True  # and the server still serves


def replace(path: Path, text: str) -> None:
    """A new version of a file, whole (as a ConfigMap update lands): never read half-written."""
    path.with_suffix(".tmp").write_text(text)
    os.replace(path.with_suffix(".tmp"), path)


def test_a_policy_broken_mid_run_keeps_the_old_version_and_says_so(world, serve):
    hook = serve([key_policy(world)])
    old = hook.loader.state.policy_version
    assert hook.client.review(pod("p", world["signed"]))["allowed"] is True
    replace(hook.policy_dir / "policies.json", '[{"name": "half-writ')
    deadline = time.monotonic() + 5
    while hook.loader.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hook.loader.error.startswith("JSONDecodeError: Unterminated string")
    assert hook.loader.state.policy_version == old
    assert hook.client.review(pod("p", world["signed"]))["allowed"] is True
    assert hook.client.review(pod("p", world["unsigned"]))["allowed"] is False
    ready = hook.client.http.request("GET", f"{hook.client.url}/readyz").data.decode()
    assert "the last reload failed (JSONDecodeError: Unterminated string" in ready
    assert "the version above stays in force" in ready
    time.sleep(0.3)
    metrics = hook.client.http.request("GET", f"{hook.client.url}/metrics").data.decode()
    assert "airlock_reload_failures_total 1.0" in metrics
    # a good new version replaces it whole: now only the other key is trusted
    replace(hook.policy_dir / "policies.json", json.dumps([key_policy(world, signer="other")]))
    while hook.loader.state.policy_version == old and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    assert hook.loader.error is None
    assert hook.client.review(pod("p", world["signed"]))["allowed"] is False
    assert hook.client.review(pod("p", world["wrong"]))["allowed"] is True


def test_an_expired_trust_root_denies_saying_so(world, serve, tmp_path):
    from airlock.testing import SigstoreInstance

    inst = SigstoreInstance()
    past = (datetime.now(UTC) - timedelta(days=400), datetime.now(UTC) - timedelta(days=1))
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(inst.trusted_root(ca_valid_for=past, rekor_valid_for=past, rekor_v2_valid_for=past,
                                                ctlog_valid_for=past)))
    hook = serve([key_policy(world)], trusted_root=str(root))
    response = hook.client.review(pod("p", world["signed"]))
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        f"Pod default/p: image {world['signed']}: denied by no policy: the trust root has expired "
        "(no Fulcio CA in the trusted root is valid now; no Rekor log in the trusted root is valid now; "
        "no CT log in the trusted root is valid now)")
    ready = hook.client.http.request("GET", f"{hook.client.url}/readyz").data.decode()
    assert "the trust root has expired" in ready
    metrics = hook.client.http.request("GET", f"{hook.client.url}/metrics").data.decode()
    [expiry] = [line for line in metrics.splitlines() if line.startswith("airlock_trust_expiry_seconds ")]
    assert float(expiry.split()[1]) < 0


def test_an_internal_error_denies_in_enforce_and_warns_in_audit(world, serve):
    class Broken:
        def decide(self, images, resource=None):
            raise RuntimeError("the gate fell over")

    for mode, allowed in (("enforce", False), ("audit", True)):
        hook = serve([key_policy(world)], mode=mode, gate_factory=lambda paths, root: Broken())
        response = hook.client.review(pod("p", world["signed"]))
        assert response["allowed"] is allowed
        text = response["warnings"][0] if allowed else response["status"]["message"]
        assert f"image {world['signed']}: denied by no policy: internal error: RuntimeError: the gate fell over" \
            in text


def test_tls_is_verified_against_the_ca_bundle(world, serve, tmp_path):
    hook = serve([key_policy(world)])
    other_ca, _, _ = write_tls(tmp_path / "other")
    stranger = ApiServerClient(hook.client.url, other_ca.read_bytes())
    with pytest.raises(urllib3.exceptions.SSLError):
        stranger.review(pod("p", world["signed"]))


def test_the_cli_refuses_bad_flags_in_one_line(world):
    result = run_cli("webhook", "--policy", "p.yaml", "--tls-cert", str(world["cert"]), "--tls-key",
                     str(world["key"]), "--mode", "strict")
    assert result.code == 2 and "invalid choice: 'strict'" in result.stderr


def test_the_gate_sees_what_is_admitted_and_the_cache_keeps_them_apart(world, serve):
    """A policy's ``match`` may name a resource and labels: the gate gets them, and a verdict for a
    Pod is not reused for a Deployment (nor for other labels)."""
    seen = []

    class Recorder:
        def decide(self, images, resource=None):
            seen.append(resource)
            return [webhook.Decision(i, world["signed_digest"], True, "enforce", "p", "key", "ok", []) for i in images]

    hook = serve([key_policy(world)], gate_factory=lambda paths, root: Recorder())
    labelled = pod("p", world["signed"])
    labelled["metadata"]["labels"] = {"tier": "web"}
    for obj in (labelled, labelled, deployment("d", world["signed"]), pod("q", world["signed"])):
        assert hook.client.review(obj)["allowed"] is True
    assert seen == [webhook.Resource("", "v1", "pods", {"tier": "web"}),
                    webhook.Resource("apps", "v1", "deployments", {}),
                    webhook.Resource("", "v1", "pods", {})]


def test_a_burst_of_one_tag_costs_one_verification_and_no_lookup_of_its_own(world, serve):
    """The gate resolves a tag never seen: the webhook does not look it up first, and the Pods
    after the first are answered from the digest the gate verified."""
    resolved = []

    def resolve(image):
        resolved.append(image)
        return world["signed_digest"]

    hook = serve([key_policy(world)], resolve=resolve)
    for name in ("a", "b", "c"):
        assert hook.client.review(pod(name, world["signed"]))["allowed"] is True
    assert resolved == []
    assert hook.loader.state.gate.calls == 1


def test_a_tag_seen_before_is_looked_up_once_its_digest_is_stale(world, serve):
    """Past ``resolve_ttl`` a tag is looked up again (one HEAD), and the verdict on the digest it
    still names is reused, not verified anew."""
    resolved = []

    def resolve(image):
        resolved.append(image)
        return world["signed_digest"]

    hook = serve([key_policy(world)], resolve=resolve)
    assert hook.client.review(pod("a", world["signed"]))["allowed"] is True
    hook.server.webhook.resolutions.clear()  # resolve_ttl has passed
    assert hook.client.review(pod("b", world["signed"]))["allowed"] is True
    assert resolved == [world["signed"]]
    assert hook.loader.state.gate.calls == 1


def test_a_cached_verdict_is_answered_in_the_request_thread(world, serve):
    """A hit needs no worker: with the pool shut down, cached images are still answered; a new
    one, which needs a worker, fails closed."""
    hook = serve([key_policy(world)])
    pinned = f"{world['registry']}/team/signed@{world['signed_digest']}"
    assert hook.client.review(pod("a", world["signed"], pinned))["allowed"] is True
    hook.server.webhook.pool.shutdown()
    assert hook.client.review(pod("b", world["signed"], pinned))["allowed"] is True
    assert hook.loader.state.gate.calls == 2  # one verification per image, none for the second Pod
    denied = hook.client.review(pod("c", world["unsigned"]))
    assert denied["allowed"] is False and "internal error" in denied["status"]["message"]


def test_an_answer_goes_out_in_one_send(world, serve, monkeypatch):
    """Headers and body in one write: one TLS record and one system call per answer, not two."""
    import ssl

    hook = serve([key_policy(world)])
    assert hook.client.review(pod("a", world["signed"]))["allowed"] is True
    sends: list[int] = []
    for name in ("send", "sendall", "write"):
        original = getattr(ssl.SSLSocket, name)

        def spy(self, data, *args, original=original):
            if self.server_side:
                sends.append(len(data))
            return original(self, data, *args)

        monkeypatch.setattr(ssl.SSLSocket, name, spy)
    assert hook.client.review(pod("b", world["signed"]))["allowed"] is True
    assert len(sends) == 1 and sends[0] > 200


def test_a_tag_that_moves_while_it_is_verified_is_denied(world, serve):
    """The verdict is kept under the digest the webhook resolved: one about another digest (the gate
    saw the tag elsewhere) is not kept as if it were about that one."""
    elsewhere = "sha256:" + "0" * 64
    hook = serve([key_policy(world)], resolve=lambda image: elsewhere)
    assert hook.client.review(pod("o", world["signed"]))["allowed"] is True  # the gate resolved it
    hook.server.webhook.resolutions.clear()  # resolve_ttl has passed: the webhook looks it up
    denied = hook.client.review(pod("p", world["signed"]))
    assert denied["allowed"] is False
    assert f"moved from {elsewhere} to {world['signed_digest']} while it was being verified" in \
        denied["status"]["message"]
    assert hook.loader.state.gate.calls == 2


def test_a_gate_is_renewed_so_its_own_memory_never_outlives_a_short_ttl():
    made = []

    class Gate:
        def __init__(self):
            made.append(self)

        def decide(self, images, resource=None):
            return [len(made)] * len(images)

    renewed = webhook.Renewed(Gate, lifetime=0.2)
    assert renewed.decide(["a"]) == [1] and renewed.decide(["a"]) == [1]
    time.sleep(0.25)
    assert renewed.decide(["a", "b"]) == [2, 2]
    assert len(made) == 2


def test_a_renewed_tls_certificate_is_served_without_a_restart(world, serve, tmp_path):
    hook = serve([key_policy(world)])
    new_ca, new_cert, new_key = write_tls(tmp_path / "renewed")  # as cert-manager rotates the Secret
    shutil.copy(new_key, hook.server.tls_key)
    shutil.copy(new_cert, hook.server.tls_cert)
    renewed = ApiServerClient(hook.client.url, new_ca.read_bytes())
    deadline = time.monotonic() + 5
    while True:
        try:
            assert renewed.review(pod("p", world["signed"]))["allowed"] is True
            break
        except urllib3.exceptions.SSLError:
            assert time.monotonic() < deadline, "the renewed certificate was never served"
            time.sleep(0.1)


@pytest.mark.skipif(os.environ.get("AIRLOCK_TEST_NETNS") == "1", reason="already inside the network namespace")
def test_verification_needs_no_network_but_the_registry(tmp_path):
    """Verdicts, denials and the digest patch again, in a network namespace with nothing but its own
    loopback (where the test registry runs): nothing reaches for a TUF CDN or any other host."""
    if not shutil.which("unshare") or not shutil.which("ip") or subprocess.run(
            ["unshare", "--net", "true"], capture_output=True).returncode:
        pytest.skip("unshare --net and ip are needed (root or user namespaces)")
    tests = "signed_image_is_admitted or fails_its_policy or mutate_pins or no_policy_matches or registry_down"
    inner = (f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider "
             f"{Path(__file__)} -k '{tests}'")
    env = {**os.environ, "AIRLOCK_TEST_NETNS": "1"}
    result = subprocess.run(["unshare", "--net", "sh", "-c", inner], capture_output=True, text=True, env=env,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "6 passed" in result.stdout, result.stdout[-2000:]


def test_policies_in_a_configmap_volume_are_read_once(tmp_path):
    """What the kubelet makes of a ConfigMap: ``..<timestamp>/`` holding the files, ``..data`` linking
    to it, and the visible names linking through ``..data``; an update swaps ``..data`` atomically."""
    volume = tmp_path / "policies"
    (volume / "..2026_12_02_10_00_00.1").mkdir(parents=True)
    (volume / "..2026_12_02_10_00_00.1" / "release.yaml").write_text("kind: ClusterImagePolicy")
    (volume / "..data").symlink_to("..2026_12_02_10_00_00.1")
    (volume / "release.yaml").symlink_to("..data/release.yaml")
    assert webhook.policy_files([str(volume)]) == [str(volume / "release.yaml")]
    before = webhook.fingerprint([str(volume)])
    (volume / "..2026_12_02_11_00_00.2").mkdir()
    (volume / "..2026_12_02_11_00_00.2" / "release.yaml").write_text("kind: ClusterImagePolicy # v2")
    (volume / "..data_tmp").symlink_to("..2026_12_02_11_00_00.2")
    os.replace(volume / "..data_tmp", volume / "..data")
    assert webhook.fingerprint([str(volume)]) != before  # the update is seen
    empty = tmp_path / "empty"
    empty.mkdir()
    assert webhook.policy_files([str(empty), "x.yaml"]) == [str(empty), "x.yaml"]


def test_an_object_whose_images_cannot_be_read_is_denied(world, tmp_path):
    def unreadable(obj):
        raise ValueError("spec.containers[0].image: not a string")

    loader = webhook.Loader([str(tmp_path)], lambda paths, root: StandInGate([]))
    loader.check()
    hook = webhook.Webhook(loader, images_of=unreadable)
    answer = hook.review(json.dumps(admission_request(pod("p", "x"))).encode(), mutate=False, timeout=10)
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == (
        "Pod default/p: the images of the object cannot be read: spec.containers[0].image: not a string")
    hook.close()


def test_a_tuf_mirror_is_judged_as_airlock_trust_status_does(tmp_path, tuf_server):
    """With no --trusted-root the webhook's trust is the mirror under $TUF_ROOT: the gauge counts down
    to its earliest expiry, and once a role has expired the webhook denies, saying which and what to do."""
    from airlock.testing import SigstoreInstance
    from airlock.trust.tuf import initialize
    from tuf_repo import TufRepo

    repo = TufRepo(tmp_path / "repo", trusted_root=SigstoreInstance().trusted_root())
    tuf_server.serve(repo)
    initialize(tuf_server.url, repo.root_bytes(1), str(tmp_path / "tuf"))
    now = datetime.now(UTC)
    fresh = webhook.trust_state(None, str(tmp_path / "tuf"), now)
    assert fresh.expired is None and fresh.expires_at is not None and fresh.expires_at > now + timedelta(days=7)
    later = fresh.expires_at + timedelta(seconds=1)
    stale = webhook.trust_state(None, str(tmp_path / "tuf"), later)
    assert stale.expired == (f"TUF mirror: root.json version 1 expired on {fresh.expires_at:%Y-%m-%d %H:%M:%S}Z "
                             "(checked against now); refresh the mirror with `airlock initialize` on the "
                             "connected side")
    assert webhook.trust_state(None, str(tmp_path / "no-such-mirror"), now) == webhook.TrustState(None, None)


def test_a_trust_root_that_expires_while_serving_starts_denying(world, serve, tmp_path, caplog):
    from airlock.testing import SigstoreInstance

    soon = (datetime.now(UTC) - timedelta(days=30), datetime.now(UTC) + timedelta(seconds=2))
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(SigstoreInstance().trusted_root(ca_valid_for=soon, rekor_valid_for=soon,
                                                               rekor_v2_valid_for=soon, ctlog_valid_for=soon)))
    with caplog.at_level("ERROR", logger="airlock.webhook"):
        hook = serve([key_policy(world)], trusted_root=str(root))
        assert hook.client.review(pod("p", world["signed"]))["allowed"] is True
        deadline = time.monotonic() + 10
        while not hook.loader.state.trust.expired:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        response = hook.client.review(pod("p", world["signed"]))
    assert response["allowed"] is False
    assert "the trust root has expired (no Fulcio CA in the trusted root is valid now" in response["status"]["message"]
    assert any(r.getMessage().startswith("the trust root has expired (") for r in caplog.records)


def test_connections_beyond_the_bound_are_closed_at_once(world, serve):
    import ssl as ssl_module

    hook = serve([key_policy(world)])
    hook.server.http.max_connections = 2
    hook.server.http._open = threading.BoundedSemaphore(2)
    idle = [socket.create_connection(("127.0.0.1", hook.server.port)) for _ in range(2)]
    try:
        time.sleep(0.2)  # both accepted, each holding a thread
        context = ssl_module.create_default_context(cadata=world["ca"].read_text())
        with socket.create_connection(("127.0.0.1", hook.server.port)) as raw, \
                pytest.raises((ssl_module.SSLError, ConnectionError, OSError)):
            context.wrap_socket(raw, server_hostname="127.0.0.1")  # closed before any handshake
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while True:  # their threads end, and the webhook serves again
        try:
            assert hook.client.review(pod("p", world["signed"]))["allowed"] is True
            break
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError, AssertionError):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_an_uncached_tag_costs_three_registry_requests(world, tmp_path):
    """The webhook as ``airlock webhook`` makes it (the real gate), through a proxy that logs every
    request to the registry: one image never seen, named by its tag, is resolved and verified in
    three requests (its manifest by tag, the signature's manifest and its one layer) after the
    client's one ping, not four (the webhook's own HEAD of the tag, from a client of its own that
    pinged too, was one more); the same image again costs none."""
    from logging_proxy import LoggingProxy

    with LoggingProxy(world["registry"]) as proxy:
        image = f"{proxy.host}/team/signed:v1"
        key = "\n".join("          " + line for line in world["good"].pem.strip().splitlines())
        (tmp_path / "policy.yaml").write_text(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: team\n"
            f"spec:\n  images:\n  - glob: \"{proxy.host}/team/**\"\n  authorities:\n  - name: release-key\n"
            f"    key:\n      data: |\n{key}\n")
        hook = webhook.Webhook(webhook.Loader([str(tmp_path / "policy.yaml")], webhook.gate_factory()), workers=2)
        try:
            assert hook.loader.check() is True
            [decision] = hook.decide([image], 10.0)
            assert decision.allowed is True and decision.digest == world["signed_digest"], decision
            requests = [f"{e.method} {e.path}" for e in proxy.log]
            pings = requests.count("GET /v2/")  # the client's first contact with the registry, once
            assert pings == 1 and len(requests) == 4, requests
            assert [r for r in requests if r != "GET /v2/"][:1] == ["GET /v2/team/signed/manifests/v1"]
            [again] = hook.decide([image], 10.0)
            assert again == decision and len(proxy.log) == 4, [f"{e.method} {e.path}" for e in proxy.log]
        finally:
            hook.close()
