"""airlock's certificate chain check next to ``cryptography.x509.verification`` and the real cosign.

``checks.check_certificate`` checks the leaf's one link by hand (``verify_directly_issued_by``
plus the code-signing profile) and each CA chain once per trusted root (``CertificateAuthority.
chain_problem``). Measured with ``benchmarks/bench_chain.py``, the full path validation of
``cryptography``'s ``ClientVerifier`` (the CA's anchor in the store, its intermediates per call)
makes a whole keyless verification 1.2-1.7x slower, because it verifies the intermediate's
signature again for every leaf. So the hand check stays, and this test holds it to the library.

Every certificate shape the test instance can mint (``SHAPES``) runs through three checks:

- airlock's ``check_certificate``, whose verdict (or part of its reason) is asserted;
- the reference: a ``ClientVerifier`` configured as sigstore-python configures it for Fulcio
  (``sigstore/verify/verifier.py``: ``webpki_defaults_ca()`` / ``webpki_defaults_ee()`` with the
  extended key usage allowed but not checked by the policy, then key usage digitalSignature and
  EKU codeSigning checked on the leaf), except that the store holds only each CA's anchor so
  that the library walks the whole path; where it legitimately disagrees, ``DISAGREE`` says why;
- the real cosign (``verify-blob`` on a bundle signed with the same leaf, against the same
  trusted root), the oracle; where it is laxer than the Fulcio profile, ``COSIGN_LAXER`` says
  why airlock stays strict.

Agreements worth naming: a Fulcio leaf has an empty subject and a critical SAN (cryptography's
end-entity policy accepts it, so does Go); an OtherName SAN (Fulcio's username identity) is
critical and unknown to Go, and cosign removes it from the unhandled critical extensions before
verifying (cryptography accepts it too); Ed25519, RSA and P-521 leaf keys are accepted by all.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification as x509v
from cryptography.x509.oid import ExtendedKeyUsageOID

from airlock.errors import VerificationError
from airlock.testing import SigstoreInstance, bundle_bytes
from airlock.testing._common import PrivateKey
from airlock.testing.pki import FulcioCA, build_certificate, key_usage, make_name
from airlock.trust.trusted_root import TrustedRoot
from airlock.verify import checks
from peers import peer

INSTANCE = SigstoreInstance()
NOW = INSTANCE.now
IDENTITY = "https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
UNKNOWN = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")

Shape = tuple[x509.Certificate, PrivateKey, FulcioCA]  # the leaf, its key, the trusted CA


# -- the two checks ------------------------------------------------------------------------------

_CA_POLICY = x509v.ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, x509v.Criticality.NON_CRITICAL, None)
_EE_POLICY = x509v.ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.ExtendedKeyUsage, x509v.Criticality.NON_CRITICAL, None)


def reference(leaf: x509.Certificate, root: TrustedRoot) -> str:
    """``cryptography``'s verdict, sigstore-python's Fulcio profile, one CA of the root at a time."""
    reasons = []
    for ca in root.certificate_authorities:
        if not ca.valid_for.contains(NOW):
            continue
        verifier = (x509v.PolicyBuilder().store(x509v.Store([ca.anchor])).time(NOW)
                    .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY).build_client_verifier())
        try:
            verifier.verify(leaf, list(ca.chain[:-1]))
        except x509v.VerificationError as exc:
            reasons.append(str(exc))
            continue
        extensions = leaf.extensions
        try:
            if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
                return "refused: key usage"
            if ExtendedKeyUsageOID.CODE_SIGNING not in extensions.get_extension_for_class(x509.ExtendedKeyUsage).value:
                return "refused: extended key usage"
        except x509.ExtensionNotFound as exc:
            return f"refused: {exc}"
        return "accepted"
    return f"refused: {reasons[0] if reasons else 'no CA'}"


def airlock(leaf: x509.Certificate, root: TrustedRoot) -> str:
    try:
        checks.check_certificate(leaf, NOW, root)
    except VerificationError as exc:
        assert exc.check == "certificate-chain"
        return f"refused: {exc.reason}"
    return "accepted"


# -- the shapes ----------------------------------------------------------------------------------

def _fulcio(**options) -> FulcioCA:
    return FulcioCA(NOW, **options)


def _with(ca: FulcioCA, identity: str = IDENTITY, **leaf_options) -> Shape:
    return (*ca.issue_leaf(identity, ISSUER, ctlog=INSTANCE.ctlog, **leaf_options), ca)


def _under(*intermediates: dict, root_path_length: int | None = None, **leaf_options) -> Shape:
    """A root, then each intermediate under the previous one (``add_intermediate`` keywords)."""
    ca = _fulcio(intermediate=False, root_path_length=root_path_length)
    for number, options in enumerate(intermediates, 1):
        ca.add_intermediate(f"intermediate-{number}", **options)
    return _with(ca, **leaf_options)


def _constrained(permitted=None, excluded=None, **leaf_options) -> Shape:
    constraints = x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)
    return _under({"extra_extensions": [(constraints, True)]}, **leaf_options)


def _self_signed() -> Shape:
    key = ec.generate_private_key(ec.SECP256R1())
    name = make_name("self-signed", "sigstore.test")
    extensions = [(key_usage(digital_signature=True), True),
                  (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False),
                  (x509.SubjectAlternativeName([x509.UniformResourceIdentifier(IDENTITY)]), True)]
    leaf = build_certificate(subject=name, public_key=key.public_key(), issuer=name, issuer_key=key,
                             not_before=NOW - timedelta(minutes=1), not_after=NOW + timedelta(minutes=9),
                             extensions=extensions)
    return leaf, key, _fulcio()


def _wrong_key() -> Shape:
    """Issued by a CA with the very same names as the trusted one, but another key."""
    return (*_with(_fulcio())[:2], _fulcio())


ACCEPT = "accepted"
# name: (how to mint it, airlock's verdict: "accepted" or a part of its reason)
SHAPES: dict[str, tuple[Callable[[], Shape], str]] = {
    "fulcio leaf (empty subject, critical URI SAN)": (lambda: _with(_fulcio()), ACCEPT),
    "email SAN": (lambda: _with(_fulcio(), identity="someone@example.org", san_type="email"), ACCEPT),
    "OtherName SAN (critical, unknown to Go)": (lambda: _with(_fulcio(), identity="user!x", san_type="othername"),
                                                ACCEPT),
    "leaf issued by the root (no intermediate)": (lambda: _with(_fulcio(intermediate=False)), ACCEPT),
    "chain of 2 intermediates": (lambda: _under({"path_length": 1}, {"path_length": 0}), ACCEPT),
    "chain of 3 intermediates": (lambda: _under({"path_length": 2}, {"path_length": 1}, {}), ACCEPT),
    "Ed25519 leaf key": (lambda: _with(_fulcio(), key=ed25519.Ed25519PrivateKey.generate()), ACCEPT),
    "RSA-2048 leaf key": (lambda: _with(_fulcio(), key=rsa.generate_private_key(65537, 2048)), ACCEPT),
    "P-521 leaf key": (lambda: _with(_fulcio(), key=ec.generate_private_key(ec.SECP521R1())), ACCEPT),
    "leaf with basic constraints CA:FALSE": (lambda: _with(_fulcio(), basic_constraints_ca=False), ACCEPT),
    "unknown non-critical extension on the leaf": (lambda: _with(_fulcio(), extra_extensions=[(UNKNOWN, False)]),
                                                   ACCEPT),
    "path length of the intermediate exceeded": (
        lambda: _under({"path_length": 0}, {"path_length": 0}, root_path_length=1),
        "the path length constraint (0) of CN=intermediate-1,O=sigstore.test is exceeded"),
    "path length of the root exceeded": (lambda: _under({}, root_path_length=0),
                                         "the path length constraint (0) of CN=sigstore,O=sigstore.test is exceeded"),
    "URI name constraint violated": (
        lambda: _constrained(permitted=[x509.UniformResourceIdentifier("example.org")]),
        f"the leaf's name {IDENTITY} is not permitted by the CA's name constraints"),
    "URI name constraint satisfied": (lambda: _constrained(permitted=[x509.UniformResourceIdentifier("github.com")]),
                                      ACCEPT),
    "email name constraint violated": (
        lambda: _constrained(permitted=[x509.RFC822Name("example.org")], identity="someone@other.test",
                             san_type="email"),
        "the leaf's name someone@other.test is not permitted by the CA's name constraints"),
    "email name constraint satisfied": (
        lambda: _constrained(permitted=[x509.RFC822Name("example.org")], identity="someone@example.org",
                             san_type="email"), ACCEPT),
    "URI in an excluded subtree": (
        lambda: _constrained(excluded=[x509.UniformResourceIdentifier(".github.com")], identity="https://ci.github.com/x"),
        "the leaf's name https://ci.github.com/x is excluded by the CA's name constraints"),
    "critical name constraint on directory names": (
        lambda: _constrained(permitted=[x509.DirectoryName(make_name("sigstore", "sigstore.test"))]),
        "CN=intermediate-1,O=sigstore.test has name constraints on a name form that cannot be checked"),
    "unknown critical extension on the leaf": (lambda: _with(_fulcio(), extra_extensions=[(UNKNOWN, True)]),
                                               "the leaf has an unknown critical extension 1.3.6.1.4.1.99999.1"),
    "unknown critical extension on the intermediate": (
        lambda: _under({"extra_extensions": [(UNKNOWN, True)]}),
        "CN=intermediate-1,O=sigstore.test has an unknown critical extension 1.3.6.1.4.1.99999.1"),
    "CA:TRUE leaf": (lambda: _with(_fulcio(), basic_constraints_ca=True), "the leaf certificate is a CA certificate"),
    "leaf without EKU": (lambda: _with(_fulcio(), code_signing_eku=False),
                         "the leaf certificate has no extended key usage"),
    "leaf EKU serverAuth, not codeSigning": (lambda: _with(_fulcio(), eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
                                             "the leaf certificate's EKU does not allow code signing"),
    "intermediate EKU serverAuth, not codeSigning": (
        lambda: _with(_fulcio(intermediate_eku=(ExtendedKeyUsageOID.SERVER_AUTH,))),
        "CN=sigstore-intermediate,O=sigstore.test may not issue code-signing certificates"),
    "leaf without keyUsage digitalSignature": (lambda: _with(_fulcio(), digital_signature=False),
                                               "the leaf certificate's key usage does not allow digital signatures"),
    "intermediate expired at signing time": (lambda: _under({"not_after": NOW - timedelta(days=1)}),
                                             "CA certificate CN=intermediate-1,O=sigstore.test is not valid at"),
    "leaf not yet valid": (lambda: _with(_fulcio(), not_before=NOW + timedelta(minutes=5)),
                           "is outside the certificate's validity"),
    "leaf signed by the wrong key": (_wrong_key, "its signature does not verify with CA certificate "
                                     "CN=sigstore-intermediate,O=sigstore.test"),
    "intermediate without CA": (lambda: _under({"ca": False}),
                                "CN=intermediate-1,O=sigstore.test is not a CA certificate"),
    "self-signed leaf": (_self_signed, "no trusted CA issued it"),
}

# name: (the reference's verdict, why it differs, and what cosign and sigstore-go do)
DISAGREE = {
    "URI name constraint satisfied": (
        "refused: validation failed: candidates exhausted: unsupported name constraint",
        "cryptography refuses every URI name constraint as unsupported, whatever the leaf's names. Go's "
        "x509.Verify matches a URI by its host against the constraint's domain, so cosign and sigstore-go "
        "accept a leaf whose URI host is inside the permitted subtree; airlock does the same."),
    "intermediate EKU serverAuth, not codeSigning": (
        "accepted",
        "sigstore-python's CA policy lets any extended key usage through on a CA. Go's x509.Verify, asked "
        "for KeyUsages [CodeSigning] by cosign and sigstore-go, requires every certificate of the chain that "
        "restricts its EKU to allow code signing (or any usage), so both refuse; airlock refuses too."),
}


@pytest.mark.parametrize("name", SHAPES)
def test_airlock_and_cryptography_agree(name):
    mint, expected = SHAPES[name]
    leaf, _, ca = mint()
    root = TrustedRoot.from_json(json.dumps(INSTANCE.trusted_root(omit=("ca",), extra_cas=[ca])))
    ours, theirs = airlock(leaf, root), reference(leaf, root)
    if expected == ACCEPT:
        assert ours == ACCEPT
    else:
        assert ours.startswith("refused: ") and expected in ours, ours
    if name in DISAGREE:
        assert theirs == DISAGREE[name][0], theirs
        assert (ours == ACCEPT) != (theirs == ACCEPT)
    else:
        assert (ours == ACCEPT) == (theirs == ACCEPT), f"airlock: {ours}; cryptography: {theirs}"


# name: why the real cosign accepts what airlock (and cryptography, and sigstore-python) refuse. cosign is
# the oracle unless it is insecure: here it accepts a certificate that its CA did not issue for code
# signing, which the Fulcio profile (and sigstore-python) require, so airlock stays strict.
COSIGN_LAXER = {
    "CA:TRUE leaf": "Go's x509.Verify does not look at the basic constraints of the certificate it verifies; a CA "
                    "certificate under Fulcio is not a code-signing leaf",
    "leaf without EKU": "Go's x509.Verify treats a certificate without EKU as allowed for any usage; Fulcio always "
                        "writes EKU codeSigning",
    "leaf without keyUsage digitalSignature": "Go's x509.Verify ignores key usage; Fulcio always writes "
                                              "digitalSignature",
}


COSIGN_REASONS = {"leaf not yet valid": "integrated time outside certificate validity"}


@pytest.mark.parametrize("name", SHAPES)
def test_cosign_agrees_with_airlock(name, tmp_path):
    """The oracle: the real cosign verifies a bundle signed with the same leaf against the same root.

    The bundle is DSSE: cosign v3.1.2 does not load a message-signature bundle signed by an Ed25519
    leaf as a Sigstore bundle at all ("--trusted-root only supported with --new-bundle-format"),
    which would say nothing about the chain.
    """
    cosign = peer("cosign")
    leaf, key, ca = SHAPES[name][0]()
    bundle = INSTANCE.sign_blob(b"blob\n", leaf=(leaf, key), content="dsse")
    (tmp_path / "blob").write_bytes(b"blob\n")
    (tmp_path / "blob.sigstore.json").write_bytes(bundle_bytes(bundle))
    trusted_root = INSTANCE.trusted_root(omit=("ca",), extra_cas=[ca])
    (tmp_path / "trusted_root.json").write_text(json.dumps(trusted_root))
    argv = [cosign, "verify-blob", tmp_path / "blob", "--bundle", tmp_path / "blob.sigstore.json",
            "--trusted-root", tmp_path / "trusted_root.json", "--new-bundle-format",
            "--certificate-identity-regexp", ".*", "--certificate-oidc-issuer", ISSUER]
    env = {**os.environ, "HOME": str(tmp_path), "TUF_ROOT": str(tmp_path / "tuf")}
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=120)
    ours = airlock(leaf, TrustedRoot.from_json(json.dumps(trusted_root)))
    theirs = "accepted" if result.returncode == 0 else f"refused: {result.stderr.strip()[-300:]}"
    if name in COSIGN_LAXER:
        assert theirs == ACCEPT and ours != ACCEPT, f"airlock: {ours}; cosign: {theirs}"
    else:
        assert (ours == ACCEPT) == (theirs == ACCEPT), f"airlock: {ours}; cosign: {theirs}"
        if ours != ACCEPT:  # refused for the chain, not for anything else in the bundle
            assert COSIGN_REASONS.get(name, "failed to verify leaf certificate") in theirs, theirs


def test_every_exception_is_a_shape():
    assert set(DISAGREE) <= set(SHAPES) and set(COSIGN_LAXER) <= set(SHAPES)


@pytest.mark.parametrize(("name", "reason"), [
    ("path length of the root exceeded", "the signing certificate is not trusted: CA https://fulcio.test.local: "
     "the path length constraint (0) of CN=sigstore,O=sigstore.test is exceeded"),
    ("URI name constraint violated", f"the signing certificate is not trusted: the leaf's name {IDENTITY} is not "
     "permitted by the CA's name constraints"),
    ("unknown critical extension on the intermediate", "the signing certificate is not trusted: CA "
     "https://fulcio.test.local: CN=intermediate-1,O=sigstore.test has an unknown critical extension "
     "1.3.6.1.4.1.99999.1"),
])
def test_verifier_refuses_with_one_line(name, reason):
    """The new refusals, through the whole verification of a bundle: the check's name and its exact reason."""
    from airlock.artifact import Artifact
    from airlock.formats.bundle import parse_bundle
    from airlock.verify.policy import Identity
    from airlock.verify.verifier import Verifier

    leaf, key, ca = SHAPES[name][0]()
    root = TrustedRoot.from_json(json.dumps(INSTANCE.trusted_root(omit=("ca",), extra_cas=[ca])))
    material = parse_bundle(INSTANCE.sign_blob(b"blob\n", leaf=(leaf, key)))
    verdict = Verifier(root, clock=lambda: NOW).verify(material, Artifact.from_bytes(b"blob\n"),
                                               policy=Identity(identity=IDENTITY, issuer=ISSUER))
    assert not verdict.ok
    assert (verdict.failure.check, verdict.failure.reason) == ("certificate-chain", reason)
