"""Who must have signed: identity (certificate SAN) and OIDC issuer policy.

Kept apart from the verifier so that callers compose policies without touching the checks.
Exact values compare as strings. ``*_regexp`` values follow cosign and sigstore-go: RE2 syntax
(the ``google-re2`` package: linear time, so no pattern can be catastrophic; Perl extensions such
as backreferences are refused) and Go's ``MatchString`` semantics, a match *anywhere* in the value.
So ``^https://github.com/org/`` is a prefix match, as cosign's documentation uses it, and an
unanchored pattern draws a warning: ``org/repo`` also matches ``https://evil.example/org/repo``.
``re2`` is imported only when a regexp is given (it costs a few ms of start-up).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from airlock.errors import UsageError, VerificationError

FULCIO = "1.3.6.1.4.1.57264.1"
OID_ISSUER_V1 = x509.ObjectIdentifier(f"{FULCIO}.1")
OID_ISSUER_V2 = x509.ObjectIdentifier(f"{FULCIO}.8")
OID_OTHERNAME_SAN = x509.ObjectIdentifier(f"{FULCIO}.7")
GITHUB_WORKFLOW_OIDS = {
    "trigger": x509.ObjectIdentifier(f"{FULCIO}.2"),
    "sha": x509.ObjectIdentifier(f"{FULCIO}.3"),
    "name": x509.ObjectIdentifier(f"{FULCIO}.4"),
    "repository": x509.ObjectIdentifier(f"{FULCIO}.5"),
    "ref": x509.ObjectIdentifier(f"{FULCIO}.6"),
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
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        raise VerificationError("identity", "the certificate has an extension that does not parse") from None


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


class IdentityPolicy:
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

    def check(self, cert: x509.Certificate) -> tuple[str, str]:
        """Return the (identity, issuer) that matched, or raise naming what did not."""
        names = subject_alternative_names(cert)
        identity_re = self._identity_re
        if identity_re is not None:
            matched = next((n for n in names if identity_re.search(n)), None)
        else:
            matched = self.identity if self.identity in names else None
        if matched is None:
            raise VerificationError("identity", f"certificate identity {names or ['(none)']} does not match "
                                    f"{self.identity if self.identity is not None else self.identity_regexp!r}")
        issuer = oidc_issuer(cert)
        issuer_re = self._issuer_re
        ok = issuer is not None and (issuer_re.search(issuer) if issuer_re else issuer == self.issuer)
        if not ok:
            raise VerificationError("identity", f"certificate OIDC issuer {issuer!r} does not match "
                                    f"{self.issuer if self.issuer is not None else self.issuer_regexp!r}")
        for name, expected in self.github_workflow.items():
            actual = extension_text(cert, GITHUB_WORKFLOW_OIDS[name], der=False)
            if actual != expected:
                raise VerificationError("identity", f"certificate GitHub workflow {name} {actual!r} "
                                        f"does not match {expected!r}")
        return matched, issuer or ""
