"""The verifier: runs every check on one ``Material`` in a fixed order and returns a ``Verdict``.

Order of checks (each named as in ``VerificationError.check``):

1. ``tlog``            every log entry is from a log in the trusted root; at least one entry
                       unless ``insecure_ignore_tlog``.
2. ``set``             the Signed Entry Timestamp, within the log key's validity window: its
                       integrated time becomes a verified signing time.
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
8. ``identity``        (keyless) the Fulcio extensions are well formed; SAN and OIDC issuer
                       match the policy.
9. ``signature``       the signature over the artifact (or the DSSE PAE), and for DSSE the
                       artifact is a subject of the in-toto statement (``artifact``).

Without a trusted root (``Verifier(None)``) only key-signed material verifies, and only with
``insecure_ignore_tlog``: as cosign decides, a key and no log need no trust material. An RFC 3161
timestamp in such material is then not checked (cosign does not check it either unless asked
with ``--use-signed-timestamps``), and a warning says so. With or without a trusted root, a
Sigstore bundle signed with a certificate is refused with ``--key`` (as sigstore-go does); a legacy
cosign signature's certificate must be for the key given (cosign ignores it there).

Checks are pure: the clock is an input, and nothing here opens a file or a socket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cryptography.hazmat.primitives._serialization import Encoding

from airlock.artifact import Artifact
from airlock.crypto import PublicKey, certificate_extensions, certificate_key, load_public_key, spki_der
from airlock.errors import UsageError, VerificationError
from airlock.material import Material
from airlock.trust.trusted_root import TrustedRoot
from airlock.verify import checks
from airlock.verify.policy import IdentityPolicy, oidc_issuer

CLOCK_SKEW = timedelta(minutes=5)
_DER = Encoding.DER


class Verdict:
    """Which checks ran, what they proved, and (when it failed) which check failed and why."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str, tuple]] = []  # (check, str.format template, args)
        self.failure: VerificationError | None = None
        self.signing_times: list[datetime] = []
        self.identity: str | None = None
        self.issuer: str | None = None
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"Verdict(ok={self.ok}, failure={self.failure!r}, checks={[c for c, _, _ in self.steps]})"

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def checks(self) -> list[tuple[str, str]]:
        """(check, what it proved) for every check that passed, in the order they ran."""
        return [(check, template.format(*args)) for check, template, args in self.steps]

    def passed(self, check: str, template: str, *args: object) -> None:
        """Record a passed check; the detail is formatted only if someone reads it."""
        self.steps.append((check, template, args))

    def raise_for_failure(self) -> Verdict:
        if self.failure is not None:
            raise self.failure
        return self


class VerificationOptions(NamedTuple):
    """Switches that weaken verification. Every one is named ``insecure_*`` and is reported."""

    insecure_ignore_tlog: bool = False
    insecure_ignore_sct: bool = False


_STRICT = VerificationOptions()


class Verifier:
    """Verifies signatures against one trusted root; reuse it, it caches per-CA work."""

    def __init__(self, trusted_root: TrustedRoot | None, *, clock: datetime | None = None) -> None:
        self.trusted_root = trusted_root
        self._clock = clock

    def now(self) -> datetime:
        return self._clock or datetime.now(UTC)

    def verify(self, material: Material, artifact: Artifact, *, policy: IdentityPolicy | None = None,
               key: PublicKey | bytes | None = None,
               options: VerificationOptions = _STRICT) -> Verdict:
        verdict = Verdict()
        try:
            self._run(material, artifact, policy, key, options, verdict)
        except VerificationError as exc:
            verdict.failure = exc
        if verdict.ok or self.trusted_root is None or not self.trusted_root.others:
            return verdict
        return self._verify_each(verdict, material, artifact, policy, key, options)

    def _verify_each(self, first: Verdict, material: Material, artifact: Artifact, policy: IdentityPolicy | None,
                     key: PublicKey | bytes | None, options: VerificationOptions) -> Verdict:
        """A file of several trusted roots (JSON Lines): the first that verifies the signature on
        its own wins; when none does, the failure reported is the one that got furthest."""
        assert self.trusted_root is not None
        roots = self.trusted_root.each
        verdicts = [first]
        for root in roots[1:]:
            verdict = Verifier(root, clock=self._clock).verify(material, artifact, policy=policy, key=key,
                                                              options=options)
            if verdict.ok:
                return verdict
            verdicts.append(verdict)
        best = max(verdicts, key=lambda v: len(v.steps))  # max keeps the first of equals
        assert best.failure is not None
        best.failure = VerificationError(best.failure.check, f"{best.failure.reason} (none of the {len(roots)} "
                                         f"trusted roots in {self.trusted_root.source or 'the file'} verifies it)")
        return best

    def _run(self, material: Material, artifact: Artifact, policy: IdentityPolicy | None,
             key: PublicKey | bytes | None, options: VerificationOptions, verdict: Verdict) -> None:
        leaf = material.leaf
        if isinstance(key, bytes):
            key = load_public_key(key, "--key")
        if key is None and leaf is None:
            raise VerificationError("signer", "the signature was made with a key; pass the public key with --key")
        if key is None and policy is None:
            raise UsageError("keyless verification needs --certificate-identity and --certificate-oidc-issuer")
        leaf_key = None
        if leaf is not None:  # also for --certificate and image layers, which no bundle parser saw
            leaf_key = certificate_key(leaf, "the signing certificate")
            certificate_extensions(leaf, "the signing certificate")
        if key is not None and leaf is not None and material.format != "cosign-legacy":
            # sigstore-go (cosign v3) with a key: "expected key signature, not certificate"
            raise VerificationError("signer", "the bundle is signed with a certificate, not a key: verify it with "
                                    "--certificate-identity and --certificate-oidc-issuer instead of --key")
        if key is not None and leaf_key is not None and spki_der(leaf_key) != spki_der(key):
            raise VerificationError("signer", "the certificate in the bundle is not for the key given with --key")
        signer_key = key if key is not None else leaf_key
        assert signer_key is not None, "a key, or a certificate's key (checked above)"
        trusted_root = self.trusted_root
        if trusted_root is None and (key is None or not options.insecure_ignore_tlog):
            raise UsageError("no trusted root: only --key with --insecure-ignore-tlog verifies without one")
        signer_der = leaf.public_bytes(_DER) if leaf is not None and key is None else spki_der(signer_key)

        # 1-4: transparency log
        times: list[datetime] = []
        unsigned_entries: list[tuple] = []  # entries with no SET: their log window is checked at step 5
        if options.insecure_ignore_tlog:
            verdict.warnings.append("WARNING: --insecure-ignore-tlog: transparency log entries were not checked")
        else:
            if not material.tlog_entries:
                if key is not None:
                    raise VerificationError("tlog", "the signature has no transparency log entry (signed without "
                                            "Rekor?); to verify it with the key alone, add --insecure-ignore-tlog")
                raise VerificationError("tlog", "the signature has no transparency log entry "
                                        "(use --insecure-ignore-tlog to accept that)")
            seen: set[tuple[bytes, int]] = set()
            for entry in material.tlog_entries:
                if (entry.log_id, entry.log_index) in seen:
                    raise VerificationError("tlog", f"log entry {entry.log_index} appears twice")
                seen.add((entry.log_id, entry.log_index))
                assert trusted_root is not None
                log = checks.find_log(entry, trusted_root)
                if entry.signed_entry_timestamp is None:
                    unsigned_entries.append((entry, log))
                else:
                    when = checks.check_set(entry, log)
                    if when > self.now() + CLOCK_SKEW:
                        raise VerificationError("set", f"integrated time {when.isoformat()} is in the future")
                    times.append(when)
                    verdict.passed("set", "signed entry timestamp from {}, integrated {:%Y-%m-%dT%H:%M:%SZ}",
                                   log.base_url, when)
                if entry.inclusion_proof is not None:  # a proof that is present is checked, checkpoint and all
                    checks.check_inclusion(entry, log)
                    verdict.passed("inclusion-proof", "entry {} is in the tree of {} entries signed by {}",
                                   entry.log_index, entry.inclusion_proof.tree_size, log.base_url)
                elif entry.signed_entry_timestamp is None:
                    raise VerificationError("inclusion-proof", f"log entry {entry.log_index} has neither a SET "
                                            "nor an inclusion proof with a checkpoint")
                checks.check_entry_matches(entry, material, signer_der, leaf is not None and key is None, artifact)
                verdict.passed("tlog-entry", "{} {} entry matches the signature", entry.kind, entry.version)

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
            verdict.passed("timestamp", "RFC 3161 timestamp {:%Y-%m-%dT%H:%M:%SZ} from {}", when,
                           uri or "a trusted TSA")
        verdict.signing_times = times
        for entry, log in unsigned_entries:  # Rekor v2: no integrated time, the TSA times stand in
            checks.check_log_window(entry, log, times)
            verdict.passed("tlog", "log {} was valid at {}", log.base_url, _Times(times))

        # 6-8: the certificate
        if leaf is not None and key is None:
            if not times:
                raise VerificationError("timestamp", "no verified signing time (no SET and no trusted RFC 3161 "
                                        "timestamp): the certificate cannot be checked")
            issuer = None
            assert trusted_root is not None
            for when in times:
                issuer = checks.check_certificate(leaf, when, trusted_root)
            verdict.passed("certificate-chain", "certificate chains to a trusted Fulcio CA at {}",
                           _Times(times))
            if options.insecure_ignore_sct:
                verdict.warnings.append("WARNING: --insecure-ignore-sct: certificate transparency was not checked")
            else:
                assert issuer is not None
                checks.check_sct(leaf, issuer, trusted_root)
                verdict.passed("sct", "embedded SCT verified with a trusted CT log")
            assert policy is not None
            checks.check_fulcio_extensions(leaf)
            verdict.identity, verdict.issuer = policy.check(leaf)
            verdict.passed("identity", "signed by {} (issuer {})", verdict.identity, verdict.issuer)
        elif leaf is not None:
            verdict.issuer = oidc_issuer(leaf)

        # 9: the signature
        checks.check_signature(material, signer_key, artifact)
        verdict.passed("signature", "signature over {} verified", artifact.label)



class _Times(list):
    def __format__(self, spec: str) -> str:
        return ", ".join(f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in self)
