"""The admission gate: one decision per image, through ``airlock.api`` (the path ``airlock verify``
takes), under policy-controller's policies (``airlock.admission.policies``).

For each image: ``--require-digest`` refuses a tag outright; the policies whose globs (and
``match``) select it are found (none: ``no_match`` decides, deny by default); its tag is
resolved to a digest through the registry (or the layout); then every matching policy must
pass (AND), each passing when one of its authorities does (OR), or N of them with
``spec.threshold``. ``combine`` is that rule, in one place. Verdicts are cached per digest and
matching policies for the gate's lifetime (the latest ``MAX_CACHED``; failures for ``FAILURE_TTL``
seconds only), and concurrent decisions on one image wait for one verification. Anything that
goes wrong while deciding (a registry that cannot be reached, a trust root that cannot be read,
a bug) denies the image with the reason: the gate fails closed.

``mode``: ``enforce`` denies (``allowed=False``); ``audit`` admits everything and says, in a
warning starting with ``WOULD_DENY``, what enforce would have denied. A policy of ``mode: warn``
behaves the same way for the images it alone would deny.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

from airlock.admission.policies import Authority, ClusterImagePolicy, PolicySet
from airlock.errors import AirlockError, UsageError

MODES = ("enforce", "audit")
NO_MATCH = ("deny", "warn", "allow")
WOULD_DENY = "would be denied: "
MAX_CACHED = 4096  # verdicts (and pinned references) kept per gate, oldest forgotten first
FAILURE_TTL = 30.0  # seconds a failed verdict is kept (an admission is kept as long as the gate)


class Decision(NamedTuple):
    """The gate's answer for one image. ``allowed``: may it run; ``mode``: ``enforce`` (the policies
    decided), ``warn`` (a warn-mode policy, or ``--no-match-policy warn``, let a failure through)
    or ``audit`` (nothing is denied); ``policy``/``authority``: the policy that denied it and why,
    or those that admitted it (comma-separated); ``reason``: one line; ``warnings``: what to tell."""

    image: str
    digest: str | None
    allowed: bool
    mode: str
    policy: str | None
    authority: str | None
    reason: str
    warnings: list[str]


def would_deny(decision: Decision) -> bool:
    """Denied, or admitted only because of audit or warn mode."""
    return not decision.allowed or any(w.startswith(WOULD_DENY) for w in decision.warnings)


class Resource(NamedTuple):
    """What the images belong to, for policies with ``spec.match`` (group, version, plural resource, labels)."""

    group: str
    version: str
    resource: str
    labels: dict[str, str]


class AuthorityResult(NamedTuple):
    name: str
    ok: bool
    reason: str
    warnings: tuple[str, ...] = ()
    match: dict[str, Any] | None = None  # upstream's AuthorityMatch, for spec.policy


class PolicyResult(NamedTuple):
    policy: ClusterImagePolicy
    ok: bool
    passed: tuple[str, ...]  # authorities that passed
    reason: str
    warnings: tuple[str, ...]


def combine(policy: ClusterImagePolicy, results: list[AuthorityResult]) -> PolicyResult:
    """One policy's verdict from its authorities': any one (OR), or ``spec.threshold`` of them.
    (Every matching policy must then pass: ``Gate._judge`` ANDs these.)"""
    passed = tuple(r.name for r in results if r.ok)
    warnings = tuple(dict.fromkeys(w for r in results for w in r.warnings))
    needed = policy.threshold or 1
    if len(passed) >= needed:
        if policy.policy is None:
            return PolicyResult(policy, True, passed, "", warnings)
        matches = {r.name: r.match or {} for r in results if r.ok}
        problem = policy.policy.evaluate({"authorityMatches": matches})
        if problem is None:
            return PolicyResult(policy, True, passed, "", warnings)
        return PolicyResult(policy, False, passed, f"failed evaluating rego policy for type ClusterImagePolicy: "
                                                   f"{problem}", warnings)
    failed = "; ".join(f"{r.name}: {r.reason}" for r in results if not r.ok)
    if policy.threshold:
        reason = f"{len(passed)} of {len(results)} authorities passed, {needed} needed ({failed})"
    else:
        reason = f"no authority passed ({failed})"
    return PolicyResult(policy, False, passed, reason, warnings)


def _applies(policy: ClusterImagePolicy, resource: Resource | None) -> bool:
    """``spec.match``: with no resource known, a policy that selects resources applies (fail closed)."""
    if not policy.match or resource is None:
        return True
    return any(m.selects(resource.group, resource.version, resource.resource, resource.labels) for m in policy.match)


class Gate:
    """Decides images under ``policies``. ``source``: a registry client (``airlock.registry_client()``)
    or a layout (``airlock.layout_source(DIR)``) holding the images and their signatures.
    ``trusted_root``: a ``trusted_root.json`` for authorities without ``trustRootRef`` (default:
    the trust mirror under ``$TUF_ROOT``), read only when such an authority needs one."""

    def __init__(self, policies: PolicySet, source: Any, *, trusted_root: str | None = None, mode: str = "enforce",
                 no_match: str = "deny", require_digest: bool = False) -> None:
        if mode not in MODES:
            raise UsageError(f"mode {mode!r}: use {' or '.join(MODES)}")
        if no_match not in NO_MATCH:
            raise UsageError(f"no-match policy {no_match!r}: use {', '.join(NO_MATCH)}")
        self.policies = policies
        self.source = source
        self.trusted_root = trusted_root
        self.mode = mode
        self.no_match = no_match
        self.require_digest = require_digest
        self._lock = threading.Lock()
        self._pending: dict[Any, threading.Event] = {}
        self._verdicts: dict[Any, tuple[list[PolicyResult], list[str], float | None]] = {}
        self._pinned: dict[str, Any] = {}  # image@digest -> its target: content-addressed, checked once
        self._verifiers: dict[str | None, tuple[Any, list[str]]] = {}

    # -- the public call --------------------------------------------------------------------------

    def decide(self, images: list[str], resource: Resource | None = None) -> list[Decision]:
        """One decision per image, in order; never raises for an image (an error denies it)."""
        decisions = []
        for image in images:
            try:
                decision = self._decide(image, resource)
            except Exception as exc:
                what = str(exc) if isinstance(exc, AirlockError) else f"internal error: {type(exc).__name__}: {exc}"
                decision = self._finish(image, None, False, "enforce", None, None, f"{image}: {what}", [])
            decisions.append(decision)
        return decisions

    # -- one image --------------------------------------------------------------------------------

    def _finish(self, image: str, digest: str | None, ok: bool, mode: str, policy: str | None,
                authority: str | None, reason: str, warnings: list[str]) -> Decision:
        from airlock.api import one_line

        reason = one_line(reason)
        if ok:
            return Decision(image, digest, True, "audit" if self.mode == "audit" else mode, policy, authority, reason,
                            warnings)
        if self.mode == "audit" or mode == "warn":
            return Decision(image, digest, True, "audit" if self.mode == "audit" else "warn", policy, authority,
                            reason, [*warnings, WOULD_DENY + reason])
        return Decision(image, digest, False, "enforce", policy, authority, reason, warnings)

    def _decide(self, image: str, resource: Resource | None) -> Decision:
        from airlock.oci.reference import parse_reference

        reference = parse_reference(image)
        if self.require_digest and reference.digest is None:
            return self._finish(image, None, False, "enforce", None, None,
                                f"{image}: not pinned by digest (--require-digest)", [])
        policies = [p for p in self.policies.matching(image) if _applies(p, resource)]
        if not policies:
            reason = f"{image}: no ClusterImagePolicy matches it"
            if self.no_match == "allow":
                return self._finish(image, None, True, "enforce", None, None,
                                    reason + " (--no-match-policy allow)", [])
            return self._finish(image, None, False, "warn" if self.no_match == "warn" else "enforce", None, None,
                                reason, [])
        target = self._target(image)
        results, warnings = self._verdict(target, policies)
        failed = [r for r in results if not r.ok]
        enforced = [r for r in failed if r.policy.mode == "enforce"]
        if failed:
            first = (enforced or failed)[0]
            reason = "; ".join(f"{target.reference}: policy {r.policy.name}: {r.reason}" for r in failed)
            names = ",".join(r.policy.name for r in failed)
            return self._finish(image, target.digest, False, "enforce" if enforced else "warn", names,
                                ",".join(a.name for a in first.policy.authorities), reason,
                                [*warnings, *(w for r in results for w in r.warnings)])
        reason = f"{target.reference}: admitted by " + ", ".join(
            f"policy {r.policy.name} ({', '.join(r.passed)})" for r in results)
        return self._finish(image, target.digest, True, "enforce", ",".join(r.policy.name for r in results),
                            ",".join(f"{r.policy.name}/{a}" for r in results for a in r.passed), reason,
                            list(dict.fromkeys([*warnings, *(w for r in results for w in r.warnings)])))

    def _target(self, image: str) -> Any:
        """The image, its tag resolved to a digest (each time: tags move), its manifest fetched and
        digest-checked (once for a reference pinned by digest)."""
        from airlock.api import layout_targets, registry_targets
        from airlock.oci.sources import LayoutSource

        with self._lock:
            cached = self._pinned.get(image)
        if cached is not None:
            return cached
        try:
            if isinstance(self.source, LayoutSource):
                target = layout_targets(self.source, [image])[0]
            else:
                [target] = registry_targets(self.source, [image])
        except AirlockError as exc:
            raise AirlockError(f"cannot resolve it to a digest: {exc}") from None
        if "@" in image:
            self._remember(self._pinned, image, target)
        return target

    def _remember(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        """Keep ``value``, forgetting the oldest entries beyond ``MAX_CACHED`` (a long-lived gate)."""
        with self._lock:
            cache[key] = value
            while len(cache) > MAX_CACHED:
                del cache[next(iter(cache))]

    def _verdict(self, target: Any, policies: list[ClusterImagePolicy]) -> tuple[list[PolicyResult], list[str]]:
        """The policies' verdicts on one image, computed once per (image, policies) for concurrent callers."""
        source = target.source  # one repository's signatures of one digest (a layout: the gate's one layout)
        key = (getattr(source, "registry", None), getattr(source, "repository", None), target.digest,
               tuple(p.name for p in policies))
        while True:
            with self._lock:
                cached = self._verdicts.get(key)
                if cached is not None and (cached[2] is None or time.monotonic() - cached[2] < FAILURE_TTL):
                    return cached[0], cached[1]
                event = self._pending.get(key)
                if event is None:
                    event = self._pending[key] = threading.Event()
                    break
            event.wait()
        try:
            warnings: list[str] = []
            results = [self._policy(target, policy, warnings) for policy in policies]
            # a denial may be a registry's passing trouble: it is kept briefly, an admission for good
            failed_at = None if all(r.ok for r in results) else time.monotonic()
            self._remember(self._verdicts, key, (results, warnings, failed_at))
            return results, warnings
        finally:
            with self._lock:
                self._pending.pop(key, None)
            event.set()

    # -- policies and authorities -----------------------------------------------------------------

    def _policy(self, target: Any, policy: ClusterImagePolicy, warnings: list[str]) -> PolicyResult:
        results = []
        for authority in policy.authorities:
            try:
                results.append(self._authority(target, authority, warnings))
            except AirlockError as exc:
                results.append(AuthorityResult(authority.name, False, str(exc)))
        return combine(policy, results)

    def _verifier(self, authority: Authority, warnings: list[str]) -> Any:
        """The verifier with the trust root this authority names (its TrustRoot, else the default),
        or one with none for a key authority that checks no transparency log."""
        from airlock.api import Verifier

        if authority.kind == "key" and not authority.tlog:
            return Verifier(None)
        name = authority.trust_root
        with self._lock:
            cached = self._verifiers.get(name)
        if cached is None:
            root, notes = self._load_trust(name)
            cached = (Verifier(root), notes)
            with self._lock:
                self._verifiers[name] = cached
        warnings.extend(w for w in cached[1] if w not in warnings)
        return cached[0]

    def _load_trust(self, name: str | None) -> tuple[Any, list[str]]:
        from airlock.trust import source
        from airlock.trust.trusted_root import TrustedRoot

        if name is None:
            return source.load(self.trusted_root)
        spec = self.policies.trust_roots[name]
        if spec.trusted_root_json is not None:
            return TrustedRoot.from_json(spec.trusted_root_json, source=f"TrustRoot {name}"), list(spec.warnings)
        return source.load(spec.trusted_root_file, tuf_root=spec.tuf_root)

    def _authority(self, target: Any, authority: Authority, warnings: list[str]) -> AuthorityResult:
        from airlock.api import VerificationOptions, verify_target
        from airlock.verify.policy import Key, Policy

        if authority.kind == "static":
            if authority.static_action == "pass":
                return AuthorityResult(authority.name, True, "static pass", match={"static": True})
            return AuthorityResult(authority.name, False, authority.static_message or "static action fail")
        verifier = self._verifier(authority, warnings)
        if authority.signatures is not None:
            target = self._signatures_in(target, authority.signatures)
        options = VerificationOptions(insecure_ignore_tlog=not authority.tlog, insecure_ignore_sct=authority.ignore_sct)
        signers: list[Policy] = [Key(authority.key)] if authority.key is not None else list(authority.identities)
        notes = tuple(authority.warnings)
        if not authority.attestations:
            reasons = []
            for who in signers:
                verdict = verify_target(target, verifier, policy=who, options=options,
                                        new_bundle_format=authority.bundle_format,
                                        bundles_only=authority.bundle_format)
                if verdict.ok:
                    return AuthorityResult(authority.name, True, "signature verified", notes,
                                           {"signatures": [_signature(c) for c in verdict.verified]})
                reasons.append(verdict.failure or "")
            return AuthorityResult(authority.name, False, "; ".join(_short(r, target) for r in reasons), notes)
        attested: dict[str, list[dict[str, str]]] = {}
        for rule in authority.attestations:
            reasons = []
            for who in signers:
                verdict = verify_target(target, verifier, policy=who, options=options, attestation=True,
                                        predicate_type=rule.predicate_type, new_bundle_format=authority.bundle_format,
                                        bundles_only=authority.bundle_format)
                if not verdict.verified:
                    reasons.append(_short(verdict.failure or "", target))
                    continue
                compliant, problem = _compliant(verdict.verified, rule)
                if compliant:
                    attested[rule.name] = [{**_signature(c), "predicateType": rule.predicate_type,
                                            "digest": _signature(c)["id"]} for c in compliant]
                    break
                reasons.append(problem)
            else:
                return AuthorityResult(authority.name, False, f"attestation {rule.name}: " + "; ".join(reasons), notes)
        return AuthorityResult(authority.name, True, "attestations verified", notes, {"attestations": attested})


    def _signatures_in(self, target: Any, where: tuple[str, str]) -> Any:
        """The image, with its signatures read from another repository (``source[0].oci``)."""
        from airlock.api import RegistrySource

        if not isinstance(target.source, RegistrySource):
            raise AirlockError("source.oci: the signatures of an image in a layout are in the layout")
        return target._replace(source=RegistrySource(self.source, target.source.registry,
                                                     target.source.repository, where))


def _short(failure: str, target: Any) -> str:
    """An image verdict's failure without the image's name (the decision names it once)."""
    return failure.removeprefix(f"{target.reference}: ")


def _signature(check: Any) -> dict[str, str]:
    """Upstream's PolicySignature of a verified signature: the SHA-256 of what was signed (a legacy
    layer's digest), the certificate's identity and issuer (empty for a key)."""
    import hashlib

    verdict = check.verdict
    return {"id": hashlib.sha256(check.payload or b"").hexdigest(), "subject": verdict.identity or "",
            "issuer": verdict.issuer or ""}


def _compliant(checks: list[Any], rule: Any) -> tuple[list[Any], str]:
    """The verified attestations that pass the rule's policy (all of them when it has none), and
    the first reason one did not."""
    from airlock import _wire

    if rule.policy is None:
        return checks, ""
    passed, reasons = [], []
    for check in checks:
        try:
            statement = _wire.loads(check.payload, "the in-toto statement")
        except AirlockError as exc:
            reasons.append(str(exc))
            continue
        problem = rule.policy.evaluate(statement)
        if problem is None:
            passed.append(check)
        else:
            reasons.append(f"failed evaluating rego policy: {problem}")
    return passed, reasons[0] if reasons else "no attestation to evaluate"
