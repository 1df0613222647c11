"""The verifier: runs every check on one ``Material`` in a fixed order and returns a ``Verdict``.

``Verifier(trusted_root).verify(material, artifact, policy)``: ``policy`` (``airlock.verify.policy``)
says who must have signed, ``Key(...)``, ``Identity(...)`` or a composition of them. The material
and the policy together decide how the signature was made: a certificate-bearing Sigstore bundle
is keyless (the policy must accept a certificate), material without a certificate is key-signed
(the policy must name the key). ``verify`` never raises for a verification failure: the
``Verdict`` names the failed check (``airlock.errors.Check``) and why.

Order of checks (each named as in ``VerificationError.check``):

0. ``signer``          the policy can accept this kind of signer (key or certificate).
1. ``tlog``            every log entry is from a log in the trusted root; at least one entry
                       unless ``insecure_ignore_tlog``.
2. ``set``             the Signed Entry Timestamp, within the log key's validity window: its
                       integrated time becomes a verified signing time (``SigningTime``, source
                       ``log``).
3. ``inclusion-proof`` / ``checkpoint``  the Merkle proof and the log's signed checkpoint, where
                       present (v0.1 bundles and legacy cosign bundles may carry only a SET).
4. ``tlog-entry``      the entry records this signature, this certificate or key, this artifact.
5. ``timestamp``       RFC 3161 timestamps over the signature, from trusted TSAs: more verified
                       times. Rekor v2 entries have no integrated time, so they need one, and
                       (``tlog``) the key of a log whose entry has no SET must have been valid at
                       every verified time (docs/FORMATS-NOTES.md).
6. ``certificate-chain`` (keyless) the leaf chains to a Fulcio CA valid at *every* verified time,
                       with the code-signing EKU; the leaf itself is valid at those times.
7. ``sct``             (keyless) an embedded SCT from a trusted CT log.
8. ``identity``        (keyless) the Fulcio extensions are well formed; the policy accepts the
                       certificate (SAN, OIDC issuer, GitHub claims).
9. ``signature``       the signature over the artifact (or the DSSE PAE), and for DSSE the
                       artifact is a subject of the in-toto statement (``artifact``).

Without a trusted root (``Verifier(None)``) only key-signed material verifies, and only with
``insecure_ignore_tlog``: as cosign decides, a key and no log need no trust material. An RFC 3161
timestamp in such material is then not checked (cosign does not check it either unless asked
with ``--use-signed-timestamps``), and a warning says so. With or without a trusted root, a
Sigstore bundle signed with a certificate is refused with ``--key`` (as sigstore-go does); a legacy
cosign signature's certificate must be for the key given (cosign ignores it there).

Checks are pure: the clock is an input (a callable, read once per ``verify``, so a long-lived
verifier sees time move), and nothing here opens a file or a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cryptography.hazmat.primitives._serialization import Encoding

from airlock.artifact import Artifact
from airlock.crypto import PublicKey, certificate_extensions, certificate_key, spki_der
from airlock.errors import Check, VerificationError
from airlock.material import Material
from airlock.trust.trusted_root import TrustedRoot
from airlock.verify import checks
from airlock.verify.policy import (
    CERTIFICATE,
    KEY,
    Policy,
    Signer,
    made_with_certificate,
    made_with_key,
    oidc_issuer,
)

CLOCK_SKEW = timedelta(minutes=5)
_DER = Encoding.DER
LOG, TSA = "log", "tsa"  # SigningTime.source


class SigningTime(NamedTuple):
    """A verified time the signature existed at, and what proved it: ``source`` is ``log`` (the
    integrated time under a log's Signed Entry Timestamp) or ``tsa`` (an RFC 3161 timestamp);
    ``authority`` is the log's URL or the TSA's URI."""

    when: datetime
    source: str
    authority: str

    def isoformat(self) -> str:
        return self.when.isoformat()


class Verdict:
    """Which checks ran, what they proved, and (when it failed) which check failed and why."""

    def __init__(self) -> None:
        self.steps: list[tuple[Check, str, tuple]] = []  # (check, str.format template, args)
        self.failure: VerificationError | None = None
        self.signing_times: list[SigningTime] = []
        self.identity: str | None = None
        self.issuer: str | None = None
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"Verdict(ok={self.ok}, failure={self.failure!r}, checks={[str(c) for c, _, _ in self.steps]})"

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def checks(self) -> list[tuple[Check, str]]:
        """(check, what it proved) for every check that passed, in the order they ran."""
        return [(check, template.format(*args)) for check, template, args in self.steps]

    def passed(self, check: Check | str, template: str, *args: object) -> None:
        """Record a passed check; the detail is formatted only if someone reads it."""
        self.steps.append((Check(check), template, args))

    def raise_for_failure(self) -> Verdict:
        if self.failure is not None:
            raise self.failure
        return self


class VerificationOptions(NamedTuple):
    """Switches that weaken verification. Every one is named ``insecure_*`` and is reported."""

    insecure_ignore_tlog: bool = False
    insecure_ignore_sct: bool = False


_STRICT = VerificationOptions()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _failed(error: VerificationError) -> Verdict:
    verdict = Verdict()
    verdict.failure = error
    return verdict


class Verifier:
    """Verifies signatures against one trusted root; reuse it, it caches per-CA work.

    ``clock`` returns the current time (aware, UTC); it is called once per ``verify``."""

    def __init__(self, trusted_root: TrustedRoot | None, *, clock: Callable[[], datetime] = utc_now) -> None:
        if not callable(clock):
            raise TypeError("clock must be a callable returning the current time, e.g. lambda: datetime.now(UTC)")
        self.trusted_root = trusted_root
        self.clock = clock

    def verify(self, material: Material, artifact: Artifact, policy: Policy, *,
               options: VerificationOptions = _STRICT) -> Verdict:
        """Every check on ``material`` over ``artifact``, the signer judged by ``policy``. Never
        raises for a failed check: ``Verdict.failure`` says which check failed and why."""
        now = self.clock()
        if not isinstance(policy, Policy):
            return _failed(VerificationError(Check.SIGNER, f"no policy says who must have signed ({policy!r} is "
                                             "not a Key, Identity, AnyOf, AllOf or Threshold)"))
        try:
            keys, leaf_key = _signer_keys(material, policy)
        except VerificationError as exc:
            return _failed(exc)
        root = self.trusted_root
        roots: Sequence[TrustedRoot | None] = root.each if root is not None and root.others else (root,)
        verdicts = []
        for each in roots:  # a file of several trusted roots (JSON Lines): the first that verifies wins
            for key in keys:
                verdict = Verdict()
                try:
                    self._run(each, material, artifact, policy, key, leaf_key, options, now, verdict)
                except VerificationError as exc:
                    verdict.failure = exc
                if verdict.ok:
                    return verdict
                verdicts.append(verdict)
        best = max(verdicts, key=lambda v: len(v.steps))  # the one that got furthest; max keeps the first of equals
        if len(roots) > 1:
            assert best.failure is not None and root is not None
            best.failure = VerificationError(best.failure.check, f"{best.failure.reason} (none of the {len(roots)} "
                                             f"trusted roots in {root.source or 'the file'} verifies it)")
        return best

    def _run(self, trusted_root: TrustedRoot | None, material: Material, artifact: Artifact, policy: Policy,
             key: PublicKey | None, leaf_key: PublicKey | None, options: VerificationOptions, now: datetime,
             verdict: Verdict) -> None:
        """One attempt: with ``key`` (key-signed material) or keyless (``key`` None)."""
        leaf = material.leaf
        if key is not None and leaf_key is not None and spki_der(leaf_key) != spki_der(key):
            raise VerificationError(Check.SIGNER, "the certificate in the bundle is not for the key given with --key")
        if key is not None:
            policy.check(Signer(key))  # only a composition of keys can refuse here
        verdict.warnings.extend(policy.unsafe)
        signer_key = key if key is not None else leaf_key
        assert signer_key is not None, "a key, or a certificate's key (_signer_keys)"
        if trusted_root is None and (key is None or not options.insecure_ignore_tlog):
            raise VerificationError(Check.TLOG if key is not None else Check.CERTIFICATE_CHAIN,
                                    "no trusted root: only --key with --insecure-ignore-tlog verifies without one")
        signer_der = leaf.public_bytes(_DER) if leaf is not None and key is None else spki_der(signer_key)

        # 1-4: transparency log
        times: list[datetime] = []
        proofs: list[SigningTime] = []
        unsigned_entries: list[tuple] = []  # entries with no SET: their log window is checked at step 5
        if options.insecure_ignore_tlog:
            verdict.warnings.append("WARNING: --insecure-ignore-tlog: transparency log entries were not checked")
        else:
            if not material.tlog_entries:
                if key is not None:
                    raise VerificationError(Check.TLOG, "the signature has no transparency log entry (signed "
                                            "without Rekor?); to verify it with the key alone, add "
                                            "--insecure-ignore-tlog")
                raise VerificationError(Check.TLOG, "the signature has no transparency log entry "
                                        "(use --insecure-ignore-tlog to accept that)")
            seen: set[tuple[bytes, int]] = set()
            for entry in material.tlog_entries:
                if (entry.log_id, entry.log_index) in seen:
                    raise VerificationError(Check.TLOG, f"log entry {entry.log_index} appears twice")
                seen.add((entry.log_id, entry.log_index))
                assert trusted_root is not None
                log = checks.find_log(entry, trusted_root)
                if entry.signed_entry_timestamp is None:
                    unsigned_entries.append((entry, log))
                else:
                    when = checks.check_set(entry, log)
                    if when > now + CLOCK_SKEW:
                        raise VerificationError(Check.SET, f"integrated time {when.isoformat()} is in the future")
                    times.append(when)
                    proofs.append(SigningTime(when, LOG, log.base_url))
                    verdict.passed(Check.SET, "signed entry timestamp from {}, integrated {:%Y-%m-%dT%H:%M:%SZ}",
                                   log.base_url, when)
                if entry.inclusion_proof is not None:  # a proof that is present is checked, checkpoint and all
                    checks.check_inclusion(entry, log)
                    verdict.passed(Check.INCLUSION_PROOF, "entry {} is in the tree of {} entries signed by {}",
                                   entry.log_index, entry.inclusion_proof.tree_size, log.base_url)
                elif entry.signed_entry_timestamp is None:
                    raise VerificationError(Check.INCLUSION_PROOF, f"log entry {entry.log_index} has neither a "
                                            "SET nor an inclusion proof with a checkpoint")
                checks.check_entry_matches(entry, material, signer_der, leaf is not None and key is None, artifact)
                verdict.passed(Check.TLOG_ENTRY, "{} {} entry matches the signature", entry.kind, entry.version)

        # 5: timestamps
        tsa_seen: set[str] = set()
        if trusted_root is None and material.rfc3161_timestamps:
            verdict.warnings.append("WARNING: the RFC 3161 timestamp was not checked: --key with "
                                    "--insecure-ignore-tlog uses no trusted root, as cosign (pass --trusted-root "
                                    "to check it)")
        for token in material.rfc3161_timestamps if trusted_root is not None else ():
            assert trusted_root is not None
            when, uri = checks.check_rfc3161(token, material.signature, trusted_root)
            if uri in tsa_seen:
                continue
            tsa_seen.add(uri)
            times.append(when)
            proofs.append(SigningTime(when, TSA, uri))
            verdict.passed(Check.TIMESTAMP, "RFC 3161 timestamp {:%Y-%m-%dT%H:%M:%SZ} from {}", when,
                           uri or "a trusted TSA")
        verdict.signing_times = proofs
        for entry, log in unsigned_entries:  # Rekor v2: no integrated time, the TSA times stand in
            checks.check_log_window(entry, log, times)
            verdict.passed(Check.TLOG, "log {} was valid at {}", log.base_url, _Times(times))

        # 6-8: the certificate
        if leaf is not None and key is None:
            if not times:
                raise VerificationError(Check.TIMESTAMP, "no verified signing time (no SET and no trusted RFC "
                                        "3161 timestamp): the certificate cannot be checked")
            issuer = None
            assert trusted_root is not None
            for when in times:
                issuer = checks.check_certificate(leaf, when, trusted_root)
            verdict.passed(Check.CERTIFICATE_CHAIN, "certificate chains to a trusted Fulcio CA at {}",
                           _Times(times))
            if options.insecure_ignore_sct:
                verdict.warnings.append("WARNING: --insecure-ignore-sct: certificate transparency was not checked")
            else:
                assert issuer is not None
                checks.check_sct(leaf, issuer, trusted_root)
                verdict.passed(Check.SCT, "embedded SCT verified with a trusted CT log")
            checks.check_fulcio_extensions(leaf)
            match = policy.check(Signer(signer_key, leaf))
            verdict.identity, verdict.issuer = match.identity, match.issuer
            verdict.passed(Check.IDENTITY, "signed by {} (issuer {})", verdict.identity, verdict.issuer)
        elif leaf is not None:
            verdict.issuer = oidc_issuer(leaf)

        # 9: the signature
        checks.check_signature(material, signer_key, artifact)
        verdict.passed(Check.SIGNATURE, "signature over {} verified", artifact.label)


def _signer_keys(material: Material, policy: Policy) -> tuple[list[PublicKey | None], PublicKey | None]:
    """How the signature was made, from the material and the policy: the keys to try it with
    (key-signed), or ``[None]`` (keyless: the certificate's key, the certificate judged by the
    policy); and the certificate's key, if there is one. Raises ``VerificationError("signer")``
    when the policy cannot accept this material."""
    leaf = material.leaf
    if leaf is None:
        if KEY not in policy.kinds or not policy.keys:
            raise made_with_key()
        return list(policy.keys), None
    leaf_key = certificate_key(leaf, "the signing certificate")  # also for --certificate and image layers,
    certificate_extensions(leaf, "the signing certificate")  # which no bundle parser saw
    if material.format != "cosign-legacy":
        if CERTIFICATE not in policy.kinds:
            raise made_with_certificate()
        return [None], leaf_key
    # a legacy cosign signature carries a certificate either way: with a key the policy names (and the
    # certificate is for it) it is key-signed, as cosign --key decides; else keyless when the policy allows
    if KEY in policy.kinds and policy.keys:
        leaf_spki = spki_der(leaf_key)
        same = [k for k in policy.keys if spki_der(k) == leaf_spki]
        if same or CERTIFICATE not in policy.kinds:
            return list(same[:1] or policy.keys), leaf_key
    if CERTIFICATE not in policy.kinds:
        raise made_with_key()
    return [None], leaf_key


class _Times(list):
    def __format__(self, spec: str) -> str:
        return ", ".join(f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in self)
