#!/usr/bin/env python3
"""The certificate chain check: airlock's hand check next to ``cryptography.x509.verification``.

    python3 benchmarks/bench_chain.py            # N=200 bundles, 5 passes
    python3 benchmarks/bench_chain.py --quick    # N=50, 2 passes

On the keyless bundles of ``bench_verify.py`` (one test instance: P-384 root -> P-384
intermediate -> P-256 leaves), the same ``Verifier`` runs with three chain checks in turn:

- ``hand``: ``checks.check_certificate`` as shipped (the leaf's one link by
  ``verify_directly_issued_by``, the code-signing profile in Python, each CA chain checked once per
  trusted root);
- ``library, anchors``: a ``ClientVerifier`` per CA with only the CA's anchor in the ``Store`` and
  the intermediates passed per call, i.e. the library validates the whole path every time;
- ``library, whole chain in store``: every certificate of the CA in the ``Store`` (as
  sigstore-python stores the Fulcio certificates), so the path ends at the intermediate and the
  CA's own chain is left to the checks done once per trusted root.

Both library variants use webpki's default CA / end-entity extension policies with EKU codeSigning
and key usage digitalSignature validators on the leaf and the CA EKU rule of airlock's check.
Figures: milliseconds per verification (parse + verify, and verify only) and per chain check
alone, best of the round-robin passes (``bench_verify.run_interleaved``).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_verify


def library_checks() -> dict[str, Callable]:
    from cryptography import x509
    from cryptography.x509 import verification as x509v
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from airlock.errors import VerificationError
    from airlock.trust.trusted_root import TrustedRoot

    def leaf_eku(policy, cert, eku) -> None:
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            raise ValueError("the leaf certificate's EKU does not allow code signing")

    def leaf_usage(policy, cert, usage) -> None:
        if not usage.digital_signature:
            raise ValueError("the leaf certificate's key usage does not allow digital signatures")

    def ca_eku(policy, cert, eku) -> None:
        allowed = {ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
        if eku is not None and not allowed & set(eku):
            raise ValueError("a CA certificate may not issue code-signing certificates")

    agnostic = x509v.Criticality.AGNOSTIC
    ca_policy = x509v.ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, agnostic, ca_eku)
    ee_policy = (x509v.ExtensionPolicy.webpki_defaults_ee()
                 .require_present(x509.ExtendedKeyUsage, agnostic, leaf_eku)
                 .require_present(x509.KeyUsage, agnostic, leaf_usage))

    @functools.lru_cache(maxsize=64)
    def store(certificates: tuple[x509.Certificate, ...]) -> x509v.Store:
        return x509v.Store(list(certificates))

    def variant(whole_chain: bool) -> Callable:
        def check(leaf: x509.Certificate, when: datetime, trusted_root: TrustedRoot) -> x509.Certificate:
            reasons = []
            for ca in trusted_root.certificate_authorities:
                if not ca.valid_for.contains(when):
                    continue
                anchors = ca.chain if whole_chain else ca.chain[-1:]
                verifier = (x509v.PolicyBuilder().store(store(anchors)).time(when)
                            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier())
                try:
                    return verifier.verify(leaf, [] if whole_chain else list(ca.chain[:-1])).chain[1]
                except x509v.VerificationError as exc:
                    reasons.append(str(exc))
            raise VerificationError("certificate-chain", reasons[0] if reasons else "no trusted CA")
        return check

    return {"library, anchors": variant(False), "library, whole chain in store": variant(True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="N=50, 2 passes")
    args = parser.parse_args()
    if args.quick:
        args.n, args.passes = 50, 2

    from airlock.formats.bundle import parse_signature_file
    from airlock.trust.trusted_root import TrustedRoot
    from airlock.verify import checks

    hand = checks.check_certificate
    variants = {"hand": hand, **library_checks()}
    with tempfile.TemporaryDirectory(prefix="airlock-bench-chain-") as tmp:
        bench_verify.progress(f"minting {args.n} keyless bundles")
        corpus = bench_verify.generate_corpus(Path(tmp), args.n)
        trusted_root = TrustedRoot.from_file(corpus.trusted_root)
        leaves = [parse_signature_file(s.bundle_bytes).leaf for s in corpus.samples]
        when = leaves[0].not_valid_before_utc + (leaves[0].not_valid_after_utc - leaves[0].not_valid_before_utc) / 2
        loops: dict[str, Callable[[], None]] = {}
        for name, check in variants.items():
            checks.check_certificate = check  # the Verifier calls it through the module
            built, _ = bench_verify.airlock_loops(corpus)  # verifies every bundle once: each variant accepts them

            def selected(loop: Callable[[], None], check: Callable = check) -> Callable[[], None]:
                def run() -> None:
                    checks.check_certificate = check
                    loop()
                return run

            def chain_only(check: Callable = check) -> None:
                for leaf in leaves:
                    check(leaf, when, trusted_root)

            loops[f"{name}: parse + verify"] = selected(built["total"])
            loops[f"{name}: verify only"] = selected(built["verify"])
            loops[f"{name}: chain check only"] = chain_only
        bench_verify.progress(f"timing, {args.passes} round-robin passes")
        ms = bench_verify.run_interleaved(loops, args.passes, corpus.n)
        checks.check_certificate = hand
    print(f"chain check, {corpus.label}, N={corpus.n}, best of {args.passes} passes (ms per item)")
    for kind in ("parse + verify", "verify only", "chain check only"):
        base = ms[f"hand: {kind}"]
        for name in variants:
            value = ms[f"{name}: {kind}"]
            print(f"    {kind:<17} {name:<30} {value:7.3f} ms  {value / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
