"""Policies as objects (issue 10): who must have signed is one value, built and validated at the
edge, composed with AnyOf / AllOf / Threshold; ``verify`` never raises for a failed check; check
names are one enum; the clock is a callable read once per verification; signing times say what
proved them. Material comes from the test Sigstore instance; each test asserts the exact result."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import airlock
from airlock.artifact import Artifact
from airlock.errors import Check, FormatError, UsageError, VerificationError
from airlock.formats.bundle import parse_bundle, parse_legacy_bundle
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance, new_ec_key
from airlock.trust import TrustedRoot
from airlock.verify import policy as policies
from airlock.verify.policy import AllOf, AnyIdentityUnsafe, AnyOf, Identity, Key, Threshold, as_policy
from airlock.verify.verifier import SigningTime, Verdict, VerificationOptions, Verifier

DATA = b"policies as objects\n"
ME = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
GITHUB_PREFIX = Identity(identity_regexp="^https://github.com/", issuer=DEFAULT_ISSUER)
SOMEONE_ELSE = Identity(identity="someone@else.example", issuer=DEFAULT_ISSUER)
OTHER_ISSUER = Identity(identity=DEFAULT_IDENTITY, issuer="https://accounts.google.com")
NO_TLOG = VerificationOptions(insecure_ignore_tlog=True)


@pytest.fixture(scope="module")
def inst() -> SigstoreInstance:
    return SigstoreInstance()


@pytest.fixture(scope="module")
def verifier(inst) -> Verifier:
    return Verifier(TrustedRoot.from_json(json.dumps(inst.trusted_root())), clock=inst.clock)


@pytest.fixture(scope="module")
def keyless(inst):
    return parse_bundle(inst.sign_blob(DATA))


@pytest.fixture(scope="module")
def signing_key():
    return new_ec_key()


@pytest.fixture(scope="module")
def key_signed(inst, signing_key):
    return parse_bundle(inst.sign_blob_with_key(DATA, signing_key))


def verify(verifier: Verifier, material, policy, options: VerificationOptions = VerificationOptions()) -> Verdict:
    return verifier.verify(material, Artifact.from_bytes(DATA), policy, options=options)


def fails(verdict: Verdict, check: Check, reason: str) -> None:
    assert not verdict.ok, "verification passed but must fail"
    assert verdict.failure is not None
    assert verdict.failure.check is check, verdict.failure
    assert verdict.failure.reason == reason, verdict.failure.reason


def mismatch(policy: Identity) -> str:
    """The reason ``policy`` gives for the default test certificate."""
    if policy.identity != DEFAULT_IDENTITY:
        return f"certificate identity ['{DEFAULT_IDENTITY}'] does not match {policy.identity!r}"
    return f"certificate OIDC issuer '{DEFAULT_ISSUER}' does not match {policy.issuer!r}"


# -- composition ---------------------------------------------------------------------------------------------

def test_any_of_accepts_the_identity_that_matches(verifier, keyless):
    verdict = verify(verifier, keyless, AnyOf(SOMEONE_ELSE, ME))
    assert verdict.ok, verdict.failure
    assert (verdict.identity, verdict.issuer) == (DEFAULT_IDENTITY, DEFAULT_ISSUER)
    assert [str(c) for c, _ in verdict.checks][-2:] == ["identity", "signature"]


def test_any_of_none_matching_names_every_reason(verifier, keyless):
    fails(verify(verifier, keyless, AnyOf(SOMEONE_ELSE, OTHER_ISSUER)), Check.IDENTITY,
          f"0 of 2 policies accept the signer, 1 needed ({mismatch(SOMEONE_ELSE)}; {mismatch(OTHER_ISSUER)})")


def test_all_of_needs_every_policy(verifier, keyless):
    assert verify(verifier, keyless, AllOf(ME, GITHUB_PREFIX)).ok
    fails(verify(verifier, keyless, AllOf(ME, GITHUB_PREFIX, OTHER_ISSUER)), Check.IDENTITY,
          f"2 of 3 policies accept the signer, 3 needed ({mismatch(OTHER_ISSUER)})")
    workflow = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER, github_workflow={"ref": "refs/heads/x"})
    verdict = verify(verifier, keyless, AllOf(ME, workflow))
    assert not verdict.ok and verdict.failure.check is Check.IDENTITY
    assert "certificate GitHub workflow ref" in verdict.failure.reason


def test_threshold_counts_the_policies_that_accept(verifier, keyless):
    assert verify(verifier, keyless, Threshold(2, SOMEONE_ELSE, ME, GITHUB_PREFIX)).ok
    fails(verify(verifier, keyless, Threshold(3, SOMEONE_ELSE, ME, GITHUB_PREFIX)), Check.IDENTITY,
          f"2 of 3 policies accept the signer, 3 needed ({mismatch(SOMEONE_ELSE)})")


def test_one_policy_alone_fails_with_its_own_reason(verifier, keyless):
    fails(verify(verifier, keyless, AnyOf(SOMEONE_ELSE)), Check.IDENTITY, mismatch(SOMEONE_ELSE))


def test_a_key_or_an_identity(verifier, keyless, key_signed, signing_key):
    either = AnyOf(Key(signing_key.public_key()), ME)
    assert verify(verifier, key_signed, either).ok
    verdict = verify(verifier, keyless, either)
    assert verdict.ok and verdict.identity == DEFAULT_IDENTITY
    fails(verify(verifier, keyless, AnyOf(Key(signing_key.public_key()), SOMEONE_ELSE)), Check.IDENTITY,
          "0 of 2 policies accept the signer, 1 needed (the bundle is signed with a certificate, not a key: verify "
          "it with --certificate-identity and --certificate-oidc-issuer instead of --key; "
          f"{mismatch(SOMEONE_ELSE)})")


def test_any_of_several_keys_tries_each(verifier, key_signed, signing_key):
    other, third = new_ec_key().public_key(), new_ec_key().public_key()
    verdict = verify(verifier, key_signed, AnyOf(Key(other), Key(signing_key.public_key())))
    assert verdict.ok, verdict.failure
    assert verdict.identity is None
    fails(verify(verifier, key_signed, AnyOf(Key(other), Key(third))), Check.TLOG_ENTRY,
          "the log entry records a different public key")


def test_the_kind_of_signer_must_fit_the_policy(verifier, keyless, key_signed, signing_key):
    fails(verify(verifier, key_signed, ME), Check.SIGNER,
          "the signature was made with a key; pass the public key with --key")
    fails(verify(verifier, keyless, Key(signing_key.public_key())), Check.SIGNER,
          "the bundle is signed with a certificate, not a key: verify it with --certificate-identity and "
          "--certificate-oidc-issuer instead of --key")


def test_legacy_signature_is_key_signed_for_the_key_the_certificate_is_for(inst, verifier):
    """A legacy cosign signature carries a certificate either way: with AnyOf(Key(k), Identity)
    it is key-signed when the certificate is for k (cosign --key), else keyless."""
    key = new_ec_key()
    key_material = parse_legacy_bundle(inst.sign_blob_with_key(DATA, key, legacy=True))
    keyless_material = parse_legacy_bundle(inst.sign_blob_legacy(DATA))
    either = AnyOf(Key(key.public_key()), ME)
    by_key = verify(verifier, key_material, either)
    assert by_key.ok and by_key.identity is None
    by_identity = verify(verifier, keyless_material, either)
    assert by_identity.ok and by_identity.identity == DEFAULT_IDENTITY
    fails(verify(verifier, keyless_material, Key(key.public_key())), Check.SIGNER,
          "the certificate in the bundle is not for the key given with --key")


# -- validation when built -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("build", "message"), [
    (lambda: Threshold(0, ME), "Threshold: the threshold must be a whole number from 1 to 1, not 0"),
    (lambda: Threshold(3, ME, SOMEONE_ELSE), "Threshold: the threshold must be a whole number from 1 to 2, not 3"),
    (lambda: Threshold(-1, ME, SOMEONE_ELSE), "Threshold: the threshold must be a whole number from 1 to 2, not -1"),
    (lambda: Threshold(True, ME), "Threshold: the threshold must be a whole number from 1 to 1, not True"),
    (lambda: Threshold(1.0, ME), "Threshold: the threshold must be a whole number from 1 to 1, not 1.0"),
    (lambda: Threshold(1), "Threshold: no policies given"),
    (lambda: AnyOf(), "AnyOf: no policies given"),
    (lambda: AllOf(), "AllOf: no policies given"),
    (lambda: AllOf(ME, "identity"), "AllOf: 'identity' is not a policy (Key, Identity, AnyOf, AllOf, Threshold, ...)"),
    (lambda: Key("cosign.pub"), "Key: str is not a public key (give PEM or DER bytes or an EC, Ed25519 or RSA "
                                "public key object)"),
    (lambda: Identity(issuer=DEFAULT_ISSUER), "keyless verification needs exactly one of --certificate-identity "
                                              "or --certificate-identity-regexp"),
    (lambda: Identity(identity=DEFAULT_IDENTITY), "keyless verification needs exactly one of "
                                                  "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp"),
    (lambda: Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER, github_workflow={"branch": "main"}),
     "unknown GitHub workflow claim 'branch' (known: name, ref, repository, sha, trigger)"),
    (lambda: as_policy(ME, b"key"), "give a key or a policy, not both (to accept either, pass AnyOf(Key(key), "
                                    "policy))"),
    (lambda: as_policy(), "no policy says who must have signed: pass a key (Key) or a keyless signer (Identity)"),
    (lambda: as_policy("me"), "'me' is not a policy (Key, Identity, AnyOf, AllOf, Threshold, ...)"),
])
def test_a_policy_that_cannot_work_is_refused_when_built(build, message):
    with pytest.raises(UsageError) as error:
        build()
    assert str(error.value) == message


def test_a_policy_no_signature_can_satisfy_is_refused_when_built(signing_key):
    key = Key(signing_key.public_key())
    with pytest.raises(UsageError) as error:
        AllOf(key, ME)
    assert str(error.value) == (f"AllOf: no signature can satisfy all of ({key.describe()}; {ME.describe()}): a "
                                "signature is made either with a key or with a certificate, not both")
    with pytest.raises(UsageError, match=r"^Threshold: no signature can satisfy at least 2 of "):
        Threshold(2, key, ME)
    assert Threshold(2, key, ME, SOMEONE_ELSE).kinds == {policies.CERTIFICATE}  # two identities can agree


def test_one_signer_listed_twice_is_refused_when_built(signing_key):
    """AllOf(Key(a), Key(a)) would be satisfied twice by one signature: refused, naming the duplicate."""
    pem = signing_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    a, same_a = Key(signing_key.public_key()), Key(pem)  # the same key, given two ways
    b = Key(new_ec_key().public_key())
    with pytest.raises(UsageError) as error:
        AllOf(a, same_a)
    assert str(error.value) == (f"AllOf: policies 1 and 2 are the same signer ({a.describe()}): one signature "
                                f"would count twice toward all of ({a.describe()}; {a.describe()})")
    again = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
    with pytest.raises(UsageError, match=r"^Threshold: policies 1 and 3 are the same signer \(identity "):
        Threshold(2, ME, SOMEONE_ELSE, again)
    with pytest.raises(UsageError, match=r"^AllOf: policies 2 and 3 are the same signer \(all of "):
        AllOf(ME, AllOf(SOMEONE_ELSE, GITHUB_PREFIX), AllOf(SOMEONE_ELSE, GITHUB_PREFIX))
    with pytest.raises(UsageError, match=r"^Threshold: policies 1 and 2 are the same signer \(any identity"):
        Threshold(2, AnyIdentityUnsafe(), AnyIdentityUnsafe(), ME)
    # what one signature cannot satisfy twice is built
    assert AllOf(a, b).n == 2 and AnyOf(a, same_a).n == 1  # AnyOf: a repeat is redundant, never counted twice
    assert Threshold(2, ME, GITHUB_PREFIX, OTHER_ISSUER).n == 2  # other patterns or issuers are other policies
    workflow = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER, github_workflow={"ref": "refs/heads/x"})
    assert AllOf(ME, workflow).n == 2


def test_the_duplicate_check_keeps_threshold_semantics(verifier, key_signed, signing_key):
    """Two different keys in AllOf: one key-signed signature satisfies only one of them."""
    fails(verify(verifier, key_signed, AllOf(Key(signing_key.public_key()), Key(new_ec_key().public_key())),
                 NO_TLOG), Check.SIGNER,
          "1 of 2 policies accept the signer, 2 needed (the signature is not by the key given with --key)")


def test_a_key_that_does_not_parse_is_refused_when_built():
    with pytest.raises(FormatError, match=r"^--key: not a PEM or DER public key$"):
        Key(b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")


def test_the_api_refuses_a_bad_policy_before_reading_anything(tmp_path):
    missing = str(tmp_path / "no-such-file")
    with pytest.raises(UsageError, match=r"^give a key or a policy, not both"):
        airlock.verify_blob(missing, b"{}", key=b"k", policy=ME)
    with pytest.raises(UsageError, match=r"^no policy says who must have signed"):
        airlock.verify_image(airlock.registry_client(), "127.0.0.1:9/none@sha256:" + "0" * 64)


# -- unsafe choices are named as such -------------------------------------------------------------------------

def test_unsafe_policies_say_so_in_their_name_and_in_the_verdict(inst, verifier):
    exported = {name: getattr(airlock, name) for name in airlock.__all__}
    policy_classes = {n: c for n, c in exported.items() if isinstance(c, type) and issubclass(c, policies.Policy)}
    assert set(policy_classes) == {"Policy", "Key", "Identity", "AnyOf", "AllOf", "Threshold", "AnyIdentityUnsafe"}
    assert [n for n, c in policy_classes.items() if c.unsafe] == ["AnyIdentityUnsafe"]
    stranger = parse_bundle(inst.sign_blob(DATA, identity="mallory@evil.example"))
    verdict = verify(verifier, stranger, AnyIdentityUnsafe())
    assert verdict.ok and verdict.identity == "mallory@evil.example"
    assert verdict.warnings == ["WARNING: AnyIdentityUnsafe: the signer's certificate identity and issuer were not "
                                "checked"]
    assert verify(verifier, stranger, AnyOf(ME, AnyIdentityUnsafe())).warnings == verdict.warnings
    assert verify(verifier, stranger, ME).warnings == []


def test_any_identity_unsafe_still_checks_the_certificate(inst, keyless, key_signed):
    """Only who signed is not checked: a CA the trusted root no longer trusts still fails."""
    now = inst.now
    stale = Verifier(TrustedRoot.from_json(json.dumps(inst.trusted_root(
        ca_valid_for=(now - timedelta(days=30), now - timedelta(days=10))))), clock=inst.clock)
    verdict = verify(stale, keyless, AnyIdentityUnsafe())
    assert not verdict.ok and verdict.failure.check is Check.CERTIFICATE_CHAIN
    fails(verify(stale, key_signed, AnyIdentityUnsafe()), Check.SIGNER,
          "the signature was made with a key; pass the public key with --key")


def test_no_command_line_flag_maps_to_an_unsafe_policy():
    cli = Path(airlock.__file__).parent / "cli"
    assert not [p.name for p in cli.glob("*.py") if "Unsafe" in p.read_text()]


# -- verify never raises for a failure ------------------------------------------------------------------------

def test_what_escaped_as_usage_errors_is_a_failure_with_its_check(keyless, key_signed, signing_key):
    no_root = Verifier(None)
    key = Key(signing_key.public_key())
    fails(verify(no_root, key_signed, key), Check.TLOG,
          "no trusted root: only --key with --insecure-ignore-tlog verifies without one")
    fails(verify(no_root, keyless, ME, NO_TLOG), Check.CERTIFICATE_CHAIN,
          "no trusted root: only --key with --insecure-ignore-tlog verifies without one")
    assert verify(no_root, key_signed, key, NO_TLOG).ok
    fails(verify(no_root, key_signed, None), Check.SIGNER,  # type: ignore[arg-type]
          "no policy says who must have signed (None is not a Key, Identity, AnyOf, AllOf or Threshold)")


def test_check_names_are_one_enum_with_the_names_json_prints(verifier, keyless):
    assert [c.value for c in Check] == [
        "signer", "tlog", "set", "inclusion-proof", "checkpoint", "tlog-entry", "timestamp", "certificate-chain",
        "sct", "identity", "signature", "artifact", "claims", "annotations", "type", "verify", "unpack", "admit"]
    verdict = verify(verifier, keyless, SOMEONE_ELSE)
    assert verdict.failure.check is Check.IDENTITY and verdict.failure.check == "identity"
    assert json.dumps({"check": verdict.failure.check}) == '{"check": "identity"}'
    assert str(verdict.failure) == f"identity: {mismatch(SOMEONE_ELSE)}"
    assert all(isinstance(c, Check) for c, _ in verify(verifier, keyless, ME).checks)
    assert VerificationError("tlog", "x").check is Check.TLOG
    with pytest.raises(ValueError):
        VerificationError("no-such-check", "x")


# -- the clock -------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self, now) -> None:
        self.now, self.reads = now, 0

    def __call__(self):
        self.reads += 1
        return self.now


def test_the_clock_is_read_once_per_verification(inst, key_signed, signing_key):
    """Once, whatever the number of log entries, timestamps, keys tried and trusted roots."""
    material = parse_bundle(inst.sign_blob(DATA, tsa=True))
    root = inst.trusted_root()
    two_roots = TrustedRoot.from_json(json.dumps(inst.trusted_root(rekor_valid_for=(inst.now - timedelta(days=9),
                                      inst.now - timedelta(days=8)))) + "\n" + json.dumps(root) + "\n",
                                      source="roots.jsonl")
    assert not Verifier(two_roots.each[0], clock=inst.clock).verify(material, Artifact.from_bytes(DATA), ME).ok
    clock = Clock(inst.now)
    verifier = Verifier(two_roots, clock=clock)
    assert verify(verifier, material, ME).ok
    assert clock.reads == 1
    assert verify(verifier, key_signed, AnyOf(Key(new_ec_key().public_key()), Key(signing_key.public_key()))).ok
    assert clock.reads == 2
    assert not verify(verifier, material, SOMEONE_ELSE).ok
    assert clock.reads == 3


def test_a_long_lived_verifier_sees_time_move(inst):
    """A SET whose integrated time is ahead of the clock (beyond the 5 minutes of skew) is refused;
    the same Verifier accepts it once its clock has moved past that time."""
    later = inst.now + timedelta(hours=1)
    material = parse_bundle(inst.sign_blob(DATA, signing_time=later, integrated_time=later))
    clock = Clock(inst.now)
    verifier = Verifier(TrustedRoot.from_json(json.dumps(inst.trusted_root())), clock=clock)
    fails(verify(verifier, material, ME), Check.SET, f"integrated time {later.isoformat()} is in the future")
    clock.now = later - timedelta(minutes=4)
    assert verify(verifier, material, ME).ok
    assert clock.reads == 2


def test_the_clock_must_be_a_callable(inst):
    with pytest.raises(TypeError, match=r"^clock must be a callable"):
        Verifier(None, clock=inst.now)  # type: ignore[arg-type]


# -- signing times and what proved them -------------------------------------------------------------------------

def test_signing_times_name_their_source(inst, verifier):
    log_only = verify(verifier, parse_bundle(inst.sign_blob(DATA)), ME)
    assert log_only.signing_times == [SigningTime(inst.now, "log", inst.rekor_v1.base_url)]
    tsa_only = verify(verifier, parse_bundle(inst.sign_blob(DATA, rekor="v2")), ME)
    assert tsa_only.signing_times == [SigningTime(inst.now, "tsa", inst.tsa.uri)]
    both = verify(verifier, parse_bundle(inst.sign_blob(DATA, tsa=True)), ME)
    assert [(t.source, t.authority) for t in both.signing_times] == [("log", inst.rekor_v1.base_url),
                                                                      ("tsa", inst.tsa.uri)]
    assert [t.isoformat() for t in both.signing_times] == [inst.now.isoformat()] * 2  # what --output json prints
