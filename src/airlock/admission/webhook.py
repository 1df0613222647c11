"""``airlock webhook``: the admission gate behind Kubernetes' API server, over TLS.

Endpoints: ``POST /validate`` and ``POST /mutate`` (``admission.k8s.io/v1`` AdmissionReview in,
AdmissionReview out, the request's ``uid`` echoed), ``GET /healthz`` (the process answers),
``GET /readyz`` (policies and trust loaded and verified) and ``GET /metrics`` (Prometheus).

Every image of the object (``airlock.admission.workloads.images_of``) is resolved to its digest
and judged by the gate (``airlock.admission.gate.Gate.decide``), through a ``VerdictCache`` keyed
by image, digest, policy version and trust version. The answer comes before the API server's
deadline (the ``timeout`` query parameter it sends, less a margin); whatever did not finish by
then, and any internal error, denies, unless the webhook runs in audit mode, where every denial
becomes a warning and a log line. A policy in ``warn`` mode likewise only warns.

Speed (``benchmarks/bench_webhook.py``): a tag never seen is resolved by the gate alone (the
manifest it verifies), its verdict kept under the digest it verified; a tag's digest is then
remembered for ``resolve_ttl`` seconds (5 by default, from when it was read), so a burst of Pods
naming one tag costs no more registry round trips; past that, one HEAD of the tag says whether
the verdict on its last digest still applies. A tag moved within that window is seen once it
ends (``/mutate`` pins the digest that was verified; a digest reference never moves). A request
whose images all have a fresh verdict is answered in its own connection thread; only the others
go to the ``workers`` pool, under the deadline. The registry client keeps one watchdog thread for
all request deadlines.

Policies and the trust root are re-read when their files change: the new version replaces the old
one whole, only after it loaded; a version that does not load leaves the old one in force and is
reported (log, ``airlock_reload_failures_total``, ``/readyz`` body). An expired trust root denies
every image, saying so; ``airlock_trust_expiry_seconds`` tells monitoring how long is left.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qs, urlsplit

from airlock import _wire
from airlock.admission.cache import VerdictCache
from airlock.errors import AirlockError, CacheTimeout, FormatError

log = logging.getLogger("airlock.webhook")

MAX_REQUEST = 3 * 1024 * 1024  # the API server's own limit on a request body
DEFAULT_TIMEOUT = 10.0  # the API server's default timeoutSeconds
MAX_TIMEOUT = 30.0
REVIEW_API = "admission.k8s.io/v1"
MAX_FILES = 1000  # in a watched directory
MAX_WATCHED_BYTES = 64 * 1024 * 1024


class Decision(NamedTuple):
    """What the gate says about one image (the shape of ``airlock.admission.gate.Decision``)."""

    image: str
    digest: str | None
    allowed: bool
    mode: str  # enforce | warn | audit
    policy: str | None
    authority: str | None
    reason: str
    warnings: list[str]


class Resource(NamedTuple):
    """What is admitted (the shape of ``airlock.admission.gate.Resource``): a policy's ``match``
    may name a resource and labels."""

    group: str
    version: str
    resource: str
    labels: dict[str, str]

    def key(self) -> tuple:
        return (self.group, self.version, self.resource, tuple(sorted(self.labels.items())))


class Decider(Protocol):
    def decide(self, images: list[str], resource: Any = None) -> Sequence[Any]: ...


class Renewed:
    """A gate made anew every ``lifetime`` seconds. A gate remembers its verdicts for as long as it
    lives; the webhook runs for months, and its own cache decides how long a verdict stands (an
    image denied as unsigned must pass once it is signed), so no gate outlives a short failure TTL."""

    def __init__(self, make: Callable[[], Decider], lifetime: float = 10.0) -> None:
        self.make, self.lifetime = make, lifetime
        self._gate, self._born = make(), time.monotonic()
        self._lock = threading.Lock()

    def decide(self, images: list[str], resource: Any = None) -> Sequence[Any]:
        with self._lock:
            if time.monotonic() - self._born > self.lifetime:
                self._gate, self._born = self.make(), time.monotonic()
            gate = self._gate
        return gate.decide(images, resource)


class TrustState(NamedTuple):
    expired: str | None  # why the trust root can no longer be used, or None
    expires_at: datetime | None  # the earliest end of anything in use; expired: when it ended


class State(NamedTuple):
    gate: Decider
    policy_version: str
    trust_version: str
    trust: TrustState
    loaded_at: float


def fingerprint(paths: Sequence[str]) -> str:
    """SHA-256 over the names and contents of ``paths`` (directories walked, in order)."""
    digest = hashlib.sha256()
    total = 0
    for path in paths:
        for file in _files(Path(path)):
            data = file.read_bytes()
            total += len(data)
            if total > MAX_WATCHED_BYTES:
                raise FormatError(f"{path}: more than {MAX_WATCHED_BYTES} bytes of policies and trust")
            digest.update(f"{file}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def _files(path: Path) -> Iterator[Path]:
    if not path.is_dir():
        yield path  # a missing file raises when read: the reload fails and says which
        return
    found = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith("..") for part in p.parts))
    if len(found) > MAX_FILES:
        raise FormatError(f"{path}: more than {MAX_FILES} files")
    yield from found  # ConfigMap volumes: the ..data symlink farm is skipped, the visible names read


def policy_files(paths: Sequence[str]) -> list[str]:
    """The policy files named: a directory stands for its YAML/JSON files as a ConfigMap volume
    shows them (the ``..data`` and ``..<timestamp>`` entries Kubernetes keeps beside them, which
    would read every policy twice, are skipped); one with none is passed on, for the loader to refuse."""
    found: list[str] = []
    for path in paths:
        inside = [str(p) for p in _files(Path(path)) if p.suffix in (".yaml", ".yml", ".json")] \
            if Path(path).is_dir() else []
        found += inside or [path]
    return found


def trust_state(trusted_root: str | None, tuf_root: str | None, now: datetime | None = None) -> TrustState:
    """Whether the trust root can still be used, and until when (``airlock trust status``'s judgement)."""
    from airlock.trust import status

    if trusted_root is None and (tuf_root is None or not Path(tuf_root).is_dir()):
        return TrustState(None, None)  # no mirror: key policies need none, keyless ones fail at the gate
    now = now or datetime.now(UTC)
    report = status.assess(now=now, trusted_root_file=trusted_root, tuf_root=None if trusted_root else tuf_root)
    present = {item.kind for item in report.items}
    labels = {"Fulcio CA": "ca", "Rekor log": "tlog", "CT log": "ctlog"}
    # "no CT log is valid now" of a root that has no CT log at all is how that root is made, not an expiry
    problems = [p for p in report.problems
                if not any(p == f"no {label} in the trusted root is valid now" and kind not in present
                           for label, kind in labels.items())]
    ends = [item.end for item in report.items if item.end is not None and item.state in ("ok", "warning")]
    if report.level == status.CRITICAL and problems:  # when the last thing in use ended (or None)
        ended = [item.end for item in report.items if item.end is not None and item.end <= now]
        return TrustState("; ".join(problems), max(ended) if ended else None)
    return TrustState(None, min(ends) if ends else None)


GateFactory = Callable[[list[str], "str | None"], Decider]


def gate_factory(*, no_match: str = "deny", lifetime: float = 10.0, connections: int = 16) -> GateFactory:
    """How ``airlock webhook`` makes its gate: the ClusterImagePolicy files loaded
    (``airlock.admission.policies``), images and signatures read from their registries, a new
    ``airlock.admission.gate.Gate`` every ``lifetime`` seconds (``Renewed``). The gate enforces:
    the webhook applies its own ``mode`` (logging what audit mode lets through). ``connections``:
    kept alive per registry, as many as the webhook's workers, so none of them opens a new one
    per request."""

    def make_gate(policies: list[str], trusted_root: str | None) -> Decider:
        from airlock import api
        from airlock.admission import policies as cip
        from airlock.admission.gate import Gate

        policy_set, client = cip.load(policy_files(policies)), api.registry_client()
        client.connections = connections
        return Renewed(lambda: Gate(policy_set, client, trusted_root=trusted_root, no_match=no_match), lifetime)

    return make_gate


class Loader:
    """Loads policies and trust into a ``State``, and again whenever their files change."""

    def __init__(self, policies: Sequence[str], make_gate: GateFactory, *, trusted_root: str | None = None,
                 tuf_root: str | None = None) -> None:
        self.policies, self.make_gate = list(policies), make_gate
        self.trusted_root, self.tuf_root = trusted_root, tuf_root
        self.state: State | None = None
        self.error: str | None = None  # the last reload that failed, until one succeeds
        self.failures = 0
        self._seen: tuple[str, str] | None = None
        self._failed: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def _trust_paths(self) -> list[str]:
        if self.trusted_root:
            return [self.trusted_root]  # must be there: a missing file fails the load
        return [self.tuf_root] if self.tuf_root and Path(self.tuf_root).is_dir() else []

    def _rejudge(self, state: State) -> None:
        """The same files judged again now (trust expires with time alone)."""
        try:
            trust = trust_state(self.trusted_root, self.tuf_root)
        except Exception as exc:  # keep the last judgement; say so once
            error = _one_line(f"judging the trust root again failed: {exc}")
            if error != self.error:
                self.error, self.failures = error, self.failures + 1
                log.error("%s; keeping the last judgement", error)
            return
        if trust.expired and not state.trust.expired:
            log.error("the trust root has expired (%s): every image is denied", trust.expired)
        self.state = state._replace(trust=trust)

    def check(self) -> bool:
        """Reload if anything changed; True when a new state is in force. Never raises."""
        with self._lock:
            versions = None
            try:
                versions = (fingerprint(self.policies), fingerprint(self._trust_paths()))
                if versions == self._seen and self.state is not None:
                    self._rejudge(self.state)
                    return False
                if versions == self._failed:
                    return False  # reported once; tried again when the files change
                gate = self.make_gate(self.policies, self.trusted_root)
                trust = trust_state(self.trusted_root, self.tuf_root)
            except Exception as exc:  # a bad new version: the old one stays in force
                self._failed = versions
                self.failures += 1
                self.error = _one_line(f"{exc.__class__.__name__}: {exc}" if not isinstance(exc, AirlockError)
                                       else str(exc))
                old = f"keeping policy version {self.state.policy_version[:12]}" if self.state else "not ready"
                log.error("reload failed: %s; %s", self.error, old)
                return False
            self._seen, self._failed = versions, None
            self.state = State(gate, versions[0], versions[1], trust, time.time())
            self.error = None
            log.info("loaded policy version %s, trust version %s", versions[0][:12], versions[1][:12])
            return True


def _one_line(text: str, limit: int = 1000) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_timeout(text: str | None) -> float:
    """The API server's ``timeout`` query parameter (a Go duration such as ``10s``), bounded."""
    if not text:
        return DEFAULT_TIMEOUT
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise FormatError(f"timeout {text[:40]!r} is not a duration")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    return min(max(seconds, 0.0), MAX_TIMEOUT)


def answer_within(timeout: float) -> float:
    """How long the webhook may think: the API server's deadline less a margin for the reply."""
    return max(min(timeout * 0.8, timeout - 0.5), 0.05)


def _default_images_of(obj: dict) -> list[str]:
    from airlock.admission.workloads import images_of  # type: ignore[import-not-found, unused-ignore]

    return list(images_of(obj))


def _pod_spec_path(obj: dict) -> str | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return "/spec"
    if kind == "CronJob":
        return "/spec/jobTemplate/spec/template/spec"
    spec = obj.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("template"), dict):
        return "/spec/template/spec"
    return None


def _pod_spec(obj: dict, path: str) -> dict | None:
    node: Any = obj
    for part in path.strip("/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def digest_patch(obj: dict, pinned: dict[str, str]) -> list[dict]:
    """JSONPatch operations replacing each image named in ``pinned`` by its pinned form."""
    path = _pod_spec_path(obj)
    spec = _pod_spec(obj, path) if path else None
    if spec is None:
        return []
    ops = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(field) or []):
            image = container.get("image") if isinstance(container, dict) else None
            if isinstance(image, str) and image in pinned:
                ops.append({"op": "replace", "path": f"{path}/{field}/{index}/image", "value": pinned[image]})
    return ops


def default_resolver(connections: int = 16) -> Callable[[str], str]:
    """Tag -> digest through the registry (a digest reference is its own answer). One client for
    every thread (it is thread-safe; a client each cost every worker its own TLS context and
    connections), keeping ``connections`` alive per registry: as many as the threads using it."""
    from airlock.oci.reference import parse_reference
    from airlock.oci.registry import RegistryClient

    lock = threading.Lock()
    shared: list[RegistryClient] = []

    def resolve(image: str) -> str:
        reference = parse_reference(image)
        if reference.digest:
            return reference.digest
        with lock:
            if not shared:
                shared.append(RegistryClient(timeout=MAX_TIMEOUT))
                shared[0].connections = connections
        found = shared[0].head_manifest(reference.registry, reference.repository, reference.identifier)
        if found is None:
            raise AirlockError(f"{image}: no such image in the registry")
        return str(found.digest)

    return resolve


class Metrics:
    """Prometheus metrics in a registry of their own (prometheus-client is imported only here)."""

    def __init__(self) -> None:
        import prometheus_client as prom

        self.prom = prom
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter("airlock_admission_requests", "AdmissionReviews answered",
                                     ["endpoint", "result"], registry=self.registry)
        self.latency = prom.Histogram("airlock_admission_duration_seconds", "time to answer an AdmissionReview",
                                      ["endpoint"], registry=self.registry,
                                      buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.images = prom.Counter("airlock_admission_images", "image verdicts", ["verdict"], registry=self.registry)
        self.cache = prom.Counter("airlock_verdict_cache", "verdict cache lookups", ["result"], registry=self.registry)
        self.reload_failures = prom.Counter("airlock_reload_failures", "policy or trust reloads that failed",
                                            registry=self.registry)
        self.trust_expiry = prom.Gauge("airlock_trust_expiry_seconds",
                                       "seconds until something in the trust root in use expires "
                                       "(negative: expired)", registry=self.registry)
        self.ready = prom.Gauge("airlock_ready", "1 once policies and trust are loaded", registry=self.registry)

    def render(self) -> bytes:
        return bytes(self.prom.generate_latest(self.registry))


class Webhook:
    """The decisions; ``serve`` puts them behind TLS. ``mode``: ``enforce`` or ``audit``."""

    def __init__(self, loader: Loader, *, mode: str = "enforce", images_of: Callable[[dict], list[str]] | None = None,
                 resolve: Callable[[str], str] | None = None, cache: VerdictCache | None = None,
                 workers: int = 16, resolve_ttl: float = 5.0) -> None:
        if mode not in ("enforce", "audit"):
            raise AirlockError(f"--mode {mode!r}: use enforce or audit")
        self.loader, self.mode = loader, mode
        self.images_of = images_of or _default_images_of
        self.resolve = resolve or default_resolver(workers)
        self.cache: VerdictCache = cache or VerdictCache(failed=lambda d: not d.allowed)
        # tag -> digest, briefly: a burst of Pods of one Deployment costs one registry round trip
        # (a tag is a moving name at any rate; /mutate pins what was verified)
        self.resolutions: VerdictCache[str] = VerdictCache(ttl=resolve_ttl, failure_ttl=min(resolve_ttl, 2.0))
        # the digest each tag last resolved to, as long as a verdict lasts: when its verdict may
        # still be fresh, one HEAD of the tag says whether it is; when not, the gate resolves the
        # tag itself and nothing else does (one registry request fewer)
        self.resolved_before: VerdictCache[str] = VerdictCache(ttl=self.cache.ttl)
        # a tag the gate resolves: one verification for concurrent requests, its verdict kept only
        # under the digest verified (above); one with no digest (the registry could not be read,
        # no policy matched), as briefly as a failed resolution
        self.lookups: VerdictCache[Decision] = VerdictCache(
            ttl=0.0, failure_ttl=min(resolve_ttl, 2.0), failed=lambda d: d.digest is None)
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="airlock-verify")
        self.metrics = Metrics()

    # -- one image ---------------------------------------------------------------------------
    def _digest(self, image: str) -> str:
        return self.resolutions.get(image, lambda: self.resolve(image))  # a digest's: its parse, remembered

    def _key(self, state: State, image: str, digest: str, resource: Resource | None) -> tuple:
        return (image, digest, state.policy_version, state.trust_version, resource.key() if resource else None)

    def _known(self, state: State, image: str, resource: Resource | None) -> Decision | None:
        """The verdict the caches hold for ``image`` (its digest known, its verdict fresh), or None:
        answered in the request's own thread, without a hand-off to a worker and back."""
        digest = self.resolutions.peek(image)
        decision = self.cache.peek(self._key(state, image, digest, resource)) if digest is not None else None
        if decision is not None:
            self.metrics.cache.labels("hit").inc()
        return decision

    def _by_tag(self, state: State, image: str, resource: Resource | None) -> bool:
        """True when the gate should resolve ``image`` itself: a tag whose digest is not known
        fresh, nor any verdict that a HEAD of it could reuse (a lookup first would only repeat
        the gate's own)."""
        from airlock.oci.reference import parse_reference

        if self.resolutions.peek(image) is not None:
            return False
        try:
            if parse_reference(image).digest is not None:
                return False  # its own digest: no request
        except AirlockError:
            return False  # the resolver says why
        before = self.resolved_before.peek(image)
        return before is None or not self.cache.fresh(self._key(state, image, before, resource))

    def _gate(self, state: State, image: str, resource: Resource | None) -> Decision:
        decisions = list(state.gate.decide([image], resource))
        if len(decisions) != 1:
            raise AirlockError(f"the gate gave {len(decisions)} decisions for one image")
        found = decisions[0]
        return Decision(*found) if not isinstance(found, Decision) else found

    def _lookup(self, state: State, image: str, resource: Resource | None) -> Decision:
        """The gate's verdict on a tag it resolves itself, kept under the digest it verified (and
        that digest as the tag's, for ``resolve_ttl`` from before the gate read it)."""
        hit = [True]

        def compute() -> Decision:
            hit[0] = False
            began = self.resolutions.clock()
            found = self._gate(state, image, resource)
            if found.digest is not None:
                self.cache.put(self._key(state, image, found.digest, resource), found)
                self.resolutions.put(image, found.digest, since=began)
                self.resolved_before.put(image, found.digest)
            return found

        key = ("tag", image, state.policy_version, state.trust_version, resource.key() if resource else None)
        decision = self.lookups.get(key, compute)
        self.metrics.cache.labels("hit" if hit[0] else "miss").inc()
        return decision

    def _judge(self, state: State, image: str, resource: Resource | None) -> Decision:
        if self._by_tag(state, image, resource):
            return self._lookup(state, image, resource)
        try:
            digest = self._digest(image)
        except Exception as exc:
            return Decision(image, None, False, "enforce", None, None,
                            f"cannot resolve {image} to a digest: {_one_line(str(exc), 300)}", [])
        key = self._key(state, image, digest, resource)
        hit = [True]

        def compute() -> Decision:
            hit[0] = False
            found = self._gate(state, image, resource)
            if found.digest is not None and found.digest != digest:
                # the gate resolved the tag again and saw another digest: its verdict is not about
                # the digest it would be kept under (a denial, kept briefly; resolved anew after resolve_ttl)
                return Decision(image, found.digest, False, "enforce", found.policy, found.authority,
                                f"{image} moved from {digest} to {found.digest} while it was being verified; "
                                "try again", [])
            return found

        decision = self.cache.get(key, compute)
        self.metrics.cache.labels("hit" if hit[0] else "miss").inc()
        return decision

    def decide(self, images: list[str], budget: float, resource: Resource | None = None) -> list[Decision]:
        """One decision per image within ``budget`` seconds; an image not judged by then, or whose
        judgement failed, is denied saying why."""
        state = self.loader.state
        if state is None:
            return [Decision(i, None, False, "enforce", None, None, "policies and trust are not loaded", [])
                    for i in images]
        if state.trust.expired:
            return [Decision(i, None, False, "enforce", None, None,
                             f"the trust root has expired ({state.trust.expired})", []) for i in images]
        end = time.monotonic() + budget
        known = {image: self._known(state, image, resource) for image in dict.fromkeys(images)}
        futures = {image: self.pool.submit(self._judge, state, image, resource)
                   for image, decision in known.items() if decision is None}
        out = []
        for image, decision in known.items():
            if decision is not None:
                out.append(decision)
                continue
            try:
                out.append(futures[image].result(timeout=max(end - time.monotonic(), 0)))
            except (concurrent.futures.TimeoutError, CacheTimeout):
                out.append(Decision(image, None, False, "enforce", None, None,
                                    f"verification did not finish within the {budget:.1f}s deadline", []))
            except Exception as exc:
                log.exception("verification of %s failed", image)
                out.append(Decision(image, None, False, "enforce", None, None,
                                    f"internal error: {_one_line(f'{exc.__class__.__name__}: {exc}', 300)}", []))
        for decision in out:
            self.metrics.images.labels("allowed" if decision.allowed else "denied").inc()
        return out

    # -- one AdmissionReview -----------------------------------------------------------------
    def review(self, body: bytes, *, mutate: bool, timeout: float) -> dict:
        """The AdmissionReview answering ``body`` (raises ``FormatError`` when it is not one)."""
        started = time.monotonic()
        budget = answer_within(timeout)
        document = _wire.loads(body, "AdmissionReview")
        if not isinstance(document, dict):
            raise FormatError("AdmissionReview: not a JSON object")
        if document.get("apiVersion") != REVIEW_API or document.get("kind") != "AdmissionReview":
            raise FormatError(f"AdmissionReview: apiVersion {str(document.get('apiVersion'))[:60]!r} "
                              f"kind {str(document.get('kind'))[:60]!r} (want {REVIEW_API} AdmissionReview)")
        request = _wire.field(document, "request", "AdmissionReview", dict)
        uid = _wire.field(request, "uid", "AdmissionReview request", str)
        operation = _wire.optional(request, "operation", "AdmissionReview request", str)
        obj = request.get("object")
        response: dict[str, Any] = {"uid": uid, "allowed": True}
        if operation not in ("CREATE", "UPDATE") or not isinstance(obj, dict):
            return _envelope(response)  # DELETE, CONNECT: nothing to run
        unreadable: str | None = None
        try:
            images = self.images_of(obj)
        except Exception as exc:
            images, unreadable = [], _one_line(str(exc), 300)
        left = budget - (time.monotonic() - started)
        decisions = self.decide(images, left, _resource(request, obj)) if images else []
        where = _describe(request)
        denials, warnings = [], []
        if unreadable is not None:
            denials.append(f"the images of the object cannot be read: {unreadable}")
        for decision in decisions:
            warnings.extend(decision.warnings)
            if decision.allowed:
                if decision.mode in ("warn", "audit") and decision.warnings:  # the gate's would-be denial
                    log.warning("would deny %s: %s (policy in %s mode)", where, decision.reason, decision.mode)
                continue
            text = _denial(decision)
            if decision.mode in ("warn", "audit"):
                warnings.append(f"{text} (policy in {decision.mode} mode)")
                log.warning("would deny %s: %s (policy in %s mode)", where, text, decision.mode)
            else:
                denials.append(text)
        if mutate:
            pinned = {d.image: _pinned(d.image, d.digest) for d in decisions
                      if d.allowed and d.authority and d.digest and "@" not in d.image}
            ops = digest_patch(obj, pinned)
            if ops:
                response["patchType"] = "JSONPatch"
                response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
            response["warnings"] = warnings or None
            return _envelope(response)
        if denials and self.mode == "audit":
            for text in denials:
                log.warning("would deny %s: %s (audit mode)", where, text)
            warnings.extend(f"{text} (audit mode: allowed)" for text in denials)
        elif denials:
            response["allowed"] = False
            response["status"] = {"code": 403, "reason": "Forbidden",
                                  "message": _one_line(f"{where}: " + "; ".join(denials), 4000)}
            log.info("denied %s: %s", where, "; ".join(denials))
        if warnings:
            response["warnings"] = [_one_line(w, 512) for w in dict.fromkeys(warnings)]
        return _envelope(response)

    def failure(self, body: bytes, reason: str) -> dict | None:
        """The answer when judging failed as a whole (internal error): deny unless audit mode;
        ``None`` when the request's ``uid`` cannot be read (the caller answers 400)."""
        try:
            document = _wire.loads(body, "AdmissionReview")
            uid = _wire.field(_wire.field(document, "request", "AdmissionReview", dict), "uid",
                              "AdmissionReview request", str)
        except Exception:
            return None
        if self.mode == "audit":
            return _envelope({"uid": uid, "allowed": True, "warnings": [f"airlock: {reason} (audit mode: allowed)"]})
        return _envelope({"uid": uid, "allowed": False, "status": {"code": 500, "message": f"airlock: {reason}"}})

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _envelope(response: dict) -> dict:
    if response.get("warnings") is None:
        response.pop("warnings", None)
    return {"apiVersion": REVIEW_API, "kind": "AdmissionReview", "response": response}


def _pinned(image: str, digest: str | None) -> str:
    from airlock.oci.reference import parse_reference

    return f"{parse_reference(image).name}@{digest}"


def _denial(decision: Decision) -> str:
    policy = f"policy {decision.policy}" if decision.policy else "no policy"
    return _one_line(f"image {decision.image}: denied by {policy}: {decision.reason}", 1000)


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _resource(request: dict, obj: dict) -> Resource:
    gvr = _dict(request.get("resource"))
    labels = _dict(_dict(obj.get("metadata")).get("labels"))
    return Resource(str(gvr.get("group", "")), str(gvr.get("version", "")), str(gvr.get("resource", "")),
                    {str(k): str(v) for k, v in labels.items()})


def _describe(request: dict) -> str:
    kind, metadata = _dict(request.get("kind")), _dict(_dict(request.get("object")).get("metadata"))
    name = request.get("name") or metadata.get("generateName") or "?"
    namespace = request.get("namespace")
    sub = f"/{request['subResource']}" if isinstance(request.get("subResource"), str) else ""
    return f"{kind.get('kind', 'object')}{sub} {namespace + '/' if namespace else ''}{name}"


# -- the server ------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the API server keeps connections open
    # the answer is buffered and sent by the flush that ends each request: its headers and body
    # in one TLS record and one send, not two
    wbufsize = 64 * 1024
    server: _Server
    timeout = 30  # an idle or stalled connection is dropped

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # say so, or the client reuses a connection about to close
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        hook = self.server.webhook
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        elif path == "/readyz":
            state, error = hook.loader.state, hook.loader.error
            if state is None:
                self._send(503, f"not ready: {error or 'loading'}\n".encode(), "text/plain")
            else:
                text = f"ready: policy version {state.policy_version[:12]}, trust version {state.trust_version[:12]}"
                if state.trust.expired:
                    text += f"; the trust root has expired ({state.trust.expired}): every image is denied"
                if error:
                    text += f"; the last reload failed ({error}): the version above stays in force"
                self._send(200, (text + "\n").encode(), "text/plain")
        elif path == "/metrics":
            self._send(200, hook.metrics.render(), "text/plain; version=0.0.4")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        hook = self.server.webhook
        started = time.monotonic()
        url = urlsplit(self.path)
        endpoint = url.path.strip("/")
        if endpoint not in ("validate", "mutate"):
            self._drain_and_refuse(404, "not found")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._drain_and_refuse(411, "a Content-Length is required")
            return
        if int(length) > MAX_REQUEST:
            self.close_connection = True
            if int(length) <= 2 * MAX_REQUEST:  # read (and drop) it, so the client sees the answer
                left = int(length)
                while left > 0 and (chunk := self.rfile.read(min(left, 65536))):
                    left -= len(chunk)
            hook.metrics.requests.labels(endpoint, "rejected").inc()
            self._send(413, f"Error: the request is larger than {MAX_REQUEST} bytes\n".encode(), "text/plain")
            return
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            self.close_connection = True
            return
        try:
            timeout = parse_timeout((parse_qs(url.query).get("timeout") or [""])[0])
            answer = hook.review(body, mutate=endpoint == "mutate", timeout=timeout)
            result = "allowed" if answer["response"]["allowed"] else "denied"
        except FormatError as exc:
            hook.metrics.requests.labels(endpoint, "malformed").inc()
            self._send(400, f"Error: {_one_line(str(exc), 500)}\n".encode(), "text/plain")
            return
        except Exception as exc:  # fail closed, still answering the API server
            log.exception("internal error")
            fallback = hook.failure(body, f"internal error: {_one_line(f'{exc.__class__.__name__}: {exc}', 300)}")
            if fallback is None:
                self._send(500, b"Error: internal error\n", "text/plain")
                return
            answer, result = fallback, "error"
        hook.metrics.requests.labels(endpoint, result).inc()
        hook.metrics.latency.labels(endpoint).observe(time.monotonic() - started)
        self._send(200, json.dumps(answer, separators=(",", ":")).encode())

    def _drain_and_refuse(self, code: int, message: str) -> None:
        self.close_connection = True
        self._send(code, f"Error: {message}\n".encode(), "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    max_connections = 256  # one thread each; the API server keeps a handful open
    webhook: Webhook

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open = threading.BoundedSemaphore(self.max_connections)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self._open.acquire(blocking=False):
            return True
        log.warning("refused a connection from %s: %d connections open", client_address[0], self.max_connections)
        return False  # closed at once: a flood of idle connections cannot exhaust threads

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._open.release()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        # headers and body go out in two writes: without this, Nagle's algorithm meets the client's
        # delayed ACK and every answer waits ~40 ms
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    tls: ssl.SSLContext


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise AirlockError(f"--tls-cert {cert} / --tls-key {key}: {exc}") from exc
    return context


class Server:
    """The webhook over TLS on ``listen`` (``ADDR:PORT``; port 0 picks one), reloading policies,
    trust and the TLS certificate every ``poll`` seconds when they changed."""

    def __init__(self, webhook: Webhook, *, tls_cert: str, tls_key: str, listen: str = "0.0.0.0:8443",
                 poll: float = 5.0) -> None:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise AirlockError(f"--listen {listen!r}: use ADDR:PORT")
        self.webhook, self.poll = webhook, poll
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self._tls_version = fingerprint([tls_cert, tls_key])
        self.http = _Server((host.strip("[]"), int(port)), _Handler, bind_and_activate=True)
        self.http.tls = tls_context(tls_cert, tls_key)
        self.http.webhook = webhook
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failures_seen = 0

    @property
    def port(self) -> int:
        return int(self.http.server_address[1])

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            self.refresh()

    def refresh(self) -> None:
        """Reload what changed (policies, trust, the TLS certificate) and update the gauges."""
        self.webhook.loader.check()
        self._gauges()
        try:
            version = fingerprint([self.tls_cert, self.tls_key])
            if version != self._tls_version:
                self.http.tls = tls_context(self.tls_cert, self.tls_key)  # new connections use the new one
                self._tls_version = version
                log.info("reloaded the TLS certificate")
        except (AirlockError, OSError) as exc:
            log.error("TLS certificate reload failed: %s; keeping the old one", exc)

    def _gauges(self) -> None:
        loader, metrics = self.webhook.loader, self.webhook.metrics
        metrics.ready.set(1 if loader.state else 0)
        metrics.reload_failures.inc(loader.failures - self._failures_seen)
        self._failures_seen = loader.failures
        state = loader.state
        if state is None:
            return
        end = state.trust.expires_at
        left = None if end is None else (end - datetime.now(UTC)).total_seconds()
        if state.trust.expired:
            left = min(left if left is not None else -1.0, -1.0)
        if left is not None:
            metrics.trust_expiry.set(left)

    def start(self) -> Server:
        self.webhook.loader.check()
        self._gauges()
        for target in (self.http.serve_forever, self._watch):
            thread = threading.Thread(target=target, daemon=True, name=f"airlock-webhook-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        self.webhook.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

