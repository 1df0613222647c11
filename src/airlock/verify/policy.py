"""Who must have signed: policies as objects, built (and validated) at the edge, applied by the verifier.

- ``Key(public_key)``: the signature is by this key (key-signed material);
- ``Identity(identity=|identity_regexp=, issuer=|issuer_regexp=, github_workflow=)``: a keyless
  signature whose Fulcio certificate names this signer (SAN) and OIDC issuer;
- ``AnyOf(*policies)``, ``AllOf(*policies)``, ``Threshold(n, *policies)``: at least one, all, or at
  least ``n`` of the policies hold for the one signer of a signature;
- ``AnyIdentityUnsafe()``: any keyless signer (the certificate, its chain, SCT and log entries are
  still checked; who signed is not). No command-line flag maps to it: cosign has none either.

A policy judges *who signed* one signature; the verifier proves everything else first (the log,
the timestamps, the certificate chain). Every mistake a caller can make building a policy (no
issuer, a regexp that does not compile, ``Threshold(3, a, b)``, ``AllOf(Key(k), Identity(...))``
which no signature can satisfy, ``AllOf(Key(k), Key(k))`` or a ``Threshold`` of n > 1 listing one
signer twice, which one signature would satisfy twice) raises ``UsageError`` when it is built,
never during ``verify``.

Exact values compare as strings. ``*_regexp`` values follow cosign and sigstore-go: RE2 syntax
(the ``google-re2`` package: linear time, so no pattern can be catastrophic; Perl extensions such
as backreferences are refused) and Go's ``MatchString`` semantics, a match *anywhere* in the value.
So ``^https://github.com/org/`` is a prefix match, as cosign's documentation uses it, and an
unanchored pattern draws a warning: ``org/repo`` also matches ``https://evil.example/org/repo``.
``re2`` is imported only when a regexp is given (it costs a few ms of start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

# ``cryptography.x509`` (tens of ms of start-up) is imported where a certificate is read: a ``Key``
# policy over key-signed material never loads it. The OIDs come from where ``x509.oid`` takes them.
from airlock.crypto import ExtensionOID, ObjectIdentifier, PublicKey, load_public_key, spki_der
from airlock.errors import Check, UsageError, VerificationError

if TYPE_CHECKING:
    from cryptography import x509

FULCIO = "1.3.6.1.4.1.57264.1"
OID_ISSUER_V1 = ObjectIdentifier(f"{FULCIO}.1")
OID_ISSUER_V2 = ObjectIdentifier(f"{FULCIO}.8")
OID_OTHERNAME_SAN = ObjectIdentifier(f"{FULCIO}.7")
GITHUB_WORKFLOW_OIDS = {
    "trigger": ObjectIdentifier(f"{FULCIO}.2"),
    "sha": ObjectIdentifier(f"{FULCIO}.3"),
    "name": ObjectIdentifier(f"{FULCIO}.4"),
    "repository": ObjectIdentifier(f"{FULCIO}.5"),
    "ref": ObjectIdentifier(f"{FULCIO}.6"),
}


def _der_utf8(value: bytes) -> str | None:
    """Decode a DER UTF8String (tag 0x0C), as Fulcio writes OIDs .1.8 and later."""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, offset = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count:
            return None
        length, offset = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    if offset + length != len(value):
        return None
    try:
        return value[offset:].decode()
    except UnicodeDecodeError:
        return None


def _extension(cert: x509.Certificate, oid: x509.ObjectIdentifier):
    """The value of extension ``oid``, None if absent. cryptography decodes extensions lazily and
    raises ``ValueError`` for one that does not parse: that is a refusal, not a crash."""
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        raise VerificationError(Check.IDENTITY, "the certificate has an extension that does not parse") from None


def extension_text(cert: x509.Certificate, oid: x509.ObjectIdentifier, *, der: bool) -> str | None:
    value = _extension(cert, oid)
    if value is None:
        return None
    raw = getattr(value, "value", b"")
    if der:
        return _der_utf8(raw)
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def oidc_issuer(cert: x509.Certificate) -> str | None:
    """OID .1.8 (DER) when present, else the deprecated raw .1.1 (FORMATS.md 6.4)."""
    return extension_text(cert, OID_ISSUER_V2, der=True) or extension_text(cert, OID_ISSUER_V1, der=False)


def subject_alternative_names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    san = _extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is None:
        return []
    names: list[str] = []
    names += san.get_values_for_type(x509.UniformResourceIdentifier)
    names += san.get_values_for_type(x509.RFC822Name)
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == OID_OTHERNAME_SAN and (text := _der_utf8(other.value)) is not None:
            names.append(text)
    names += san.get_values_for_type(x509.DNSName)
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return names


def _top_level_alternation(pattern: str) -> bool:
    """A ``|`` outside any group or character class: ``^a|b$`` is ``(^a)|(b$)``, anchored at neither end."""
    depth, i, class_start = 0, 0, -1  # class_start: where the open character class's members begin
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if class_start >= 0:
            if char == "]" and i > class_start:  # "[]...]" and "[^]...]" keep a literal ] first
                class_start = -1
        elif char == "[":
            class_start = i + 2 if pattern.startswith("[^", i) else i + 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        i += 1
    return False


def _anchored(pattern: str) -> bool:
    """``^...$`` (or ``\\A...\\z``) with no top-level ``|``: the pattern can only match the whole value."""
    end = pattern.endswith("$") and (len(pattern) - len(pattern[:-1].rstrip("\\")) - 1) % 2 == 0
    return (pattern.startswith(("^", "\\A")) and (end or pattern.endswith("\\z"))
            and not _top_level_alternation(pattern))


def _compile(pattern: str | None, flag: str) -> Any:
    """``pattern`` compiled as RE2 (as Go's ``regexp.Compile``), or a one-line usage error."""
    if pattern is None:
        return None
    import re2

    options = re2.Options()
    options.log_errors = False  # else RE2 logs the parse error on stderr itself
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "does not parse"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        reason = " ".join(str(reason).split())
        raise UsageError(f"{flag} {pattern!r}: invalid regular expression (RE2 syntax, as in cosign): "
                         f"{reason}") from None


KEY, CERTIFICATE = "key", "certificate"  # the two ways a signature can be made: Policy.kinds


class Signer(NamedTuple):
    """Who made one signature, as far as the verifier proved it: the key the signature verifies
    with and, for a keyless signature, the Fulcio certificate it chained to a trusted CA (None
    for a key-signed signature, even when a legacy cosign signature carries a certificate)."""

    key: PublicKey
    certificate: x509.Certificate | None = None


class Match(NamedTuple):
    """What a policy accepted: the certificate identity and OIDC issuer (None for a key)."""

    identity: str | None = None
    issuer: str | None = None


class Policy:
    """The policy protocol. ``check(signer)`` returns a ``Match`` or raises ``VerificationError``
    naming why the signer is not accepted; ``kinds`` says which signers it can ever accept
    (``KEY``, ``CERTIFICATE``), ``keys`` the public keys it names, ``unsafe`` the weakening it
    makes (a warning the verifier reports), ``describe()`` a short text for messages."""

    kinds: frozenset[str] = frozenset()
    keys: tuple[PublicKey, ...] = ()
    unsafe: tuple[str, ...] = ()

    def check(self, signer: Signer) -> Match:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def signer_key(self) -> tuple:
        """What makes two policies accept the same signers (equal keys: the same policy); the
        default, the object itself, never equals another policy's."""
        return ("object", id(self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def made_with_key() -> VerificationError:
    """The refusal of key-signed material by a policy for certificates only."""
    return VerificationError(Check.SIGNER, "the signature was made with a key; pass the public key with --key")


def made_with_certificate() -> VerificationError:
    """The refusal of certificate-signed material by a policy for keys only, as sigstore-go (cosign v3)
    refuses it: "expected key signature, not certificate"."""
    return VerificationError(Check.SIGNER, "the bundle is signed with a certificate, not a key: verify it with "
                             "--certificate-identity and --certificate-oidc-issuer instead of --key")


class Key(Policy):
    """The signature must be by ``public_key`` (a key object, or PEM / DER bytes). A Sigstore
    bundle signed with a certificate is refused, as sigstore-go does; a legacy cosign signature's
    certificate must be for this key (its chain is not checked, as cosign does with ``--key``)."""

    kinds = frozenset({KEY})

    def __init__(self, public_key: PublicKey | bytes) -> None:
        if isinstance(public_key, (bytes, bytearray)):
            public_key = load_public_key(bytes(public_key), "--key")
        elif not isinstance(public_key, PublicKey):
            raise UsageError(f"Key: {type(public_key).__name__} is not a public key (give PEM or DER bytes or an "
                             "EC, Ed25519 or RSA public key object)")
        self.public_key = public_key
        self.keys = (public_key,)
        self._spki = spki_der(public_key)

    def describe(self) -> str:
        return f"key {type(self.public_key).__name__.lstrip('_')}"

    def signer_key(self) -> tuple:
        return ("key", self._spki)

    def check(self, signer: Signer) -> Match:
        if signer.certificate is not None:
            raise made_with_certificate()
        if spki_der(signer.key) != self._spki:
            raise VerificationError(Check.SIGNER, "the signature is not by the key given with --key")
        return Match()


class _CertificatePolicy(Policy):
    kinds = frozenset({CERTIFICATE})

    def check(self, signer: Signer) -> Match:
        if signer.certificate is None:
            raise made_with_key()
        return self.match(signer.certificate)

    def match(self, cert: x509.Certificate) -> Match:
        raise NotImplementedError


class Identity(_CertificatePolicy):
    """The signer a keyless signature must come from. Both an identity and an issuer are required."""

    def __init__(self, identity: str | None = None, identity_regexp: str | None = None, issuer: str | None = None,
                 issuer_regexp: str | None = None, github_workflow: dict[str, str] | None = None) -> None:
        self.identity = identity
        self.identity_regexp = identity_regexp
        self.issuer = issuer
        self.issuer_regexp = issuer_regexp
        self.github_workflow = dict(github_workflow or {})
        if (self.identity is None) == (self.identity_regexp is None):
            raise UsageError("keyless verification needs exactly one of --certificate-identity or "
                             "--certificate-identity-regexp")
        if (self.issuer is None) == (self.issuer_regexp is None):
            raise UsageError("keyless verification needs exactly one of --certificate-oidc-issuer or "
                             "--certificate-oidc-issuer-regexp")
        unknown = sorted(set(self.github_workflow) - set(GITHUB_WORKFLOW_OIDS))
        if unknown:
            raise UsageError(f"unknown GitHub workflow claim {unknown[0]!r} (known: "
                             f"{', '.join(sorted(GITHUB_WORKFLOW_OIDS))})")
        self._identity_re = _compile(identity_regexp, "--certificate-identity-regexp")
        self._issuer_re = _compile(issuer_regexp, "--certificate-oidc-issuer-regexp")
        self.warnings = [f"WARNING: {flag} {pattern!r} is not anchored (^...$): it matches anywhere in the value"
                         for flag, pattern in (("--certificate-identity-regexp", identity_regexp),
                                               ("--certificate-oidc-issuer-regexp", issuer_regexp))
                         if pattern is not None and not _anchored(pattern)]

    def describe(self) -> str:
        who = self.identity if self.identity is not None else f"/{self.identity_regexp}/"
        issuer = self.issuer if self.issuer is not None else f"/{self.issuer_regexp}/"
        return f"identity {who} from {issuer}"

    def signer_key(self) -> tuple:
        return ("identity", self.identity, self.identity_regexp, self.issuer, self.issuer_regexp,
                tuple(sorted(self.github_workflow.items())))

    def match(self, cert: x509.Certificate) -> Match:
        """The (identity, issuer) that matched, or raise naming what did not."""
        names = subject_alternative_names(cert)
        identity_re = self._identity_re
        if identity_re is not None:
            matched = next((n for n in names if identity_re.search(n)), None)
        else:
            matched = self.identity if self.identity in names else None
        if matched is None:
            raise VerificationError(Check.IDENTITY, f"certificate identity {names or ['(none)']} does not match "
                                    f"{self.identity if self.identity is not None else self.identity_regexp!r}")
        issuer = oidc_issuer(cert)
        issuer_re = self._issuer_re
        ok = issuer is not None and (issuer_re.search(issuer) if issuer_re else issuer == self.issuer)
        if not ok:
            raise VerificationError(Check.IDENTITY, f"certificate OIDC issuer {issuer!r} does not match "
                                    f"{self.issuer if self.issuer is not None else self.issuer_regexp!r}")
        for name, expected in self.github_workflow.items():
            actual = extension_text(cert, GITHUB_WORKFLOW_OIDS[name], der=False)
            if actual != expected:
                raise VerificationError(Check.IDENTITY, f"certificate GitHub workflow {name} {actual!r} "
                                        f"does not match {expected!r}")
        return Match(matched, issuer or "")


class AnyIdentityUnsafe(_CertificatePolicy):
    """UNSAFE: any keyless signer. The certificate still chains to a trusted Fulcio CA, its SCT
    and the log entries are still checked, but *who* signed is not: anyone with an OIDC account
    can make such a signature. The verdict carries a warning saying so."""

    unsafe = ("WARNING: AnyIdentityUnsafe: the signer's certificate identity and issuer were not checked",)

    def describe(self) -> str:
        return "any identity (unsafe)"

    def signer_key(self) -> tuple:
        return ("any-identity",)

    def match(self, cert: x509.Certificate) -> Match:
        names = subject_alternative_names(cert)
        return Match(names[0] if names else "", oidc_issuer(cert) or "")


class Threshold(Policy):
    """At least ``n`` of ``policies`` accept the signer; ``1 <= n <= len(policies)``, checked here."""

    def __init__(self, n: int, *policies: Policy) -> None:
        name = type(self).__name__
        if not policies:
            raise UsageError(f"{name}: no policies given")
        for policy in policies:
            if not isinstance(policy, Policy):
                raise UsageError(f"{name}: {policy!r} is not a policy (Key, Identity, AnyOf, AllOf, Threshold, ...)")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(policies):
            raise UsageError(f"{name}: the threshold must be a whole number from 1 to {len(policies)}, not {n!r}")
        self.n = n
        self.policies = policies
        if n > 1:  # one signature must not count twice toward n (harmless when one policy is enough)
            seen: dict[tuple, int] = {}
            for position, policy in enumerate(policies, 1):
                first = seen.setdefault(policy.signer_key(), position)
                if first != position:
                    raise UsageError(f"{name}: policies {first} and {position} are the same signer "
                                     f"({policy.describe()}): one signature would count twice toward "
                                     f"{self.describe()}")
        self.kinds = frozenset(kind for kind in (KEY, CERTIFICATE)
                               if sum(kind in p.kinds for p in policies) >= n)
        if not self.kinds:
            raise UsageError(f"{name}: no signature can satisfy {self.describe()}: a signature is made either "
                             "with a key or with a certificate, not both")
        self.keys = tuple({spki_der(k): k for p in policies for k in p.keys}.values())
        self.unsafe = tuple(dict.fromkeys(w for p in policies for w in p.unsafe))

    def describe(self) -> str:
        return f"at least {self.n} of ({'; '.join(p.describe() for p in self.policies)})"

    def signer_key(self) -> tuple:
        return (type(self).__name__, self.n, tuple(p.signer_key() for p in self.policies))

    def check(self, signer: Signer) -> Match:
        accepted: list[Match] = []
        failures: list[VerificationError] = []
        for policy in self.policies:
            try:
                accepted.append(policy.check(signer))
            except VerificationError as exc:
                failures.append(exc)
            if len(accepted) >= self.n:
                return next((m for m in accepted if m.identity is not None), accepted[0])
        if len(self.policies) == 1:
            raise failures[0]
        reasons = "; ".join(f.reason for f in failures)
        # named after the first policy that judged this kind of signer (not one for the other kind)
        check = next((f.check for f in failures if f.check is not Check.SIGNER), failures[0].check)
        raise VerificationError(check, f"{len(accepted)} of {len(self.policies)} policies accept "
                                f"the signer, {self.n} needed ({reasons})")


class AnyOf(Threshold):
    """At least one of ``policies`` accepts the signer."""

    def __init__(self, *policies: Policy) -> None:
        super().__init__(1, *policies)

    def describe(self) -> str:
        return f"any of ({'; '.join(p.describe() for p in self.policies)})"


class AllOf(Threshold):
    """Every one of ``policies`` accepts the signer."""

    def __init__(self, *policies: Policy) -> None:
        super().__init__(len(policies) or 1, *policies)

    def describe(self) -> str:
        return f"all of ({'; '.join(p.describe() for p in self.policies)})"


def as_policy(policy: Policy | None = None, key: PublicKey | bytes | None = None) -> Policy:
    """The one policy from the API's ``policy=`` and ``key=`` arguments (``key=K`` is short for
    ``policy=Key(K)``); a missing or double answer to "who signed" is a ``UsageError`` here."""
    if key is not None:
        if policy is not None:
            raise UsageError("give a key or a policy, not both (to accept either, pass AnyOf(Key(key), policy))")
        return Key(key)
    if policy is None:
        raise UsageError("no policy says who must have signed: pass a key (Key) or a keyless signer (Identity)")
    if not isinstance(policy, Policy):
        raise UsageError(f"{policy!r} is not a policy (Key, Identity, AnyOf, AllOf, Threshold, ...)")
    return policy
