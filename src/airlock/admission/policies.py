"""sigstore policy-controller's policies, read so that existing YAML carries over unchanged.

``ClusterImagePolicy`` (``policy.sigstore.dev/v1beta1``, and ``v1alpha1`` of the same shape) says
which images (``spec.images[].glob``) must be signed by whom (``spec.authorities[]``); ``TrustRoot``
(``v1alpha1``) names the Sigstore trust material a keyless authority uses (``trustRootRef``).
The semantics are upstream's (pkg/apis/policy, pkg/webhook/validator.go):

- a glob matches the whole normalized reference (``index.docker.io/library/ubuntu:latest``,
  ``registry/repo@sha256:...``): ``*`` is any run without ``/``, ``**`` any run at all; the tag is
  part of the text, so ``registry/app*`` matches ``registry/app:1.0``; as upstream, a glob that
  does not match the normalized name is also tried on the reference as written;
- authorities of one policy are alternatives (any one passing admits), and every policy whose
  glob matches must pass;
- a ``key`` authority without ``ctlog`` checks no transparency log (upstream's default; the
  decision carries a warning saying so); with ``ctlog`` the log entry is required, verified
  offline against the trust root;
- an authority with ``attestations`` is satisfied by attestations only: each listed one must have
  a verified attestation of its ``predicateType`` that passes its ``policy`` (Rego, queried as
  ``data.sigstore.isCompliant`` over the in-toto statement, as upstream);
- ``spec.policy`` (Rego), when at least one authority passed, is queried over upstream's
  ``{"authorityMatches": {NAME: {"signatures": [{id, subject, issuer}], "attestations": {ATT:
  [{id, subject, issuer, predicateType, digest}]}, "static": true}}}`` of the passing authorities;
- ``mode: warn`` turns the policy's denial into a warning.

A ``TrustRoot``'s ``repository`` (a TUF repository tarball) is verified with airlock's TUF client
when the policies load; its ``sigstoreKeys`` become a trusted root directly.

Beyond upstream: ``spec.threshold: N`` admits when N of the authorities pass; a ``TrustRoot`` may
name airlock's trust mirror (``spec.tufRoot: DIR``, verified offline as ``$TUF_ROOT`` is) or a
``trusted_root.json`` (``spec.trustedRootFile: FILE``), relative to the policy file.

``source[0].oci`` reads the signatures from another repository, as ``COSIGN_REPOSITORY`` does.

Where airlock is stricter than upstream, on purpose: ``rfc3161timestamp`` does not waive the
transparency log (upstream stops requiring it; airlock still does); Rego may not call
``opa.runtime()`` (it exposes the environment); ``cue``, ``spec.policy``'s ``include*`` and
``fetchConfigFile``, and ``source[].tagPrefix`` are refused. As upstream, ``sigstoreKeys`` logs
get the SHA-256 of their key as log ID (Rekor v2 logs need a ``trusted_root.json`` instead).

What needs a cluster or a network is refused with the reason, never ignored: ``key.secretRef``,
``key.kms``, ``source[].signaturePullSecrets``, ``policy.remote``/``configMapRef``, ``TrustRoot.spec.remote``, and
``cue`` policies. So is every field upstream does not define (a typo must not weaken a policy),
and every malformed value, named by file, document and field path.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any, NamedTuple

from airlock.admission import documents
from airlock.errors import AirlockError, FormatError, PolicyError
from airlock.media_types import TRUSTED_ROOT

GROUP = "policy.sigstore.dev"
CIP_VERSIONS = ("v1beta1", "v1alpha1")
MODES = ("enforce", "warn")
STATIC_ACTIONS = ("pass", "fail")
SIGNATURE_FORMATS = ("legacy", "bundle")
REGO_QUERY = "isCompliant = data.sigstore.isCompliant"
RUNTIME = re.compile(r"\bopa\s*\.\s*runtime\b")


class Where(NamedTuple):
    """A place in a policy file, for errors: ``FILE: document N: spec.authorities[0].key``."""

    label: str  # "FILE: document N (kind NAME)"
    path: str = ""

    def at(self, name: str | int) -> Where:
        if isinstance(name, int):
            return self._replace(path=f"{self.path}[{name}]")
        return self._replace(path=f"{self.path}.{name}" if self.path else name)

    def error(self, message: str) -> PolicyError:
        return PolicyError(f"{self.label}: {self.path}: {message}" if self.path else f"{self.label}: {message}")


def _object(value: Any, where: Where, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A mapping with only ``allowed`` keys (each a string)."""
    if not isinstance(value, dict):
        raise where.error(f"must be a mapping, not {_kind(value)}")
    for name in value:
        if name not in allowed:
            raise where.at(str(name)).error(f"unknown field (allowed here: {', '.join(allowed)})")
    return value


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _string(obj: dict[str, Any], name: str, where: Where, *, required: bool = False) -> str | None:
    if name not in obj or obj[name] is None:
        if required:
            raise where.at(name).error("missing required field")
        return None
    value = obj[name]
    if not isinstance(value, str):
        raise where.at(name).error(f"must be a string, not {_kind(value)}")
    if required and not value:
        raise where.at(name).error("must not be empty")
    return value


def _list(obj: dict[str, Any], name: str, where: Where) -> list[Any]:
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.at(name).error(f"must be a list, not {_kind(value)}")
    return value


def _bool(obj: dict[str, Any], name: str, where: Where) -> bool:
    value = obj.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise where.at(name).error(f"must be true or false, not {_kind(value)}")
    return value


def _one_of(obj: dict[str, Any], names: tuple[str, ...], where: Where) -> str:
    given = [n for n in names if obj.get(n) is not None]
    if len(given) != 1:
        problem = "expected exactly one, got neither" if not given else f"expected exactly one, got {', '.join(given)}"
        raise where.error(f"{problem} of {', '.join(names)}")
    return given[0]


# -- globs ------------------------------------------------------------------------------------------

_GLOB_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:/*.@")


def compile_glob(glob: str) -> Any:
    """Upstream's translation (pkg/apis/glob): ``*`` -> ``[^/]*``, ``**`` -> ``.*``, anchored, with
    ``*`` and ``*/*`` standing for Docker Hub's ``library/*`` and ``*/*``. Compiled with RE2, so no
    glob can make matching slow. Raises ``ValueError`` for characters upstream refuses."""
    import re2

    if glob == "*/*":
        glob = "index.docker.io/*/*"
    elif glob == "*":
        glob = "index.docker.io/library/*"
    if not glob or not set(glob) <= _GLOB_CHARS:
        raise ValueError("only letters, digits and - _ : / * . @ are allowed")
    pattern = glob.replace(".", r"\.").replace("**", "\0").replace("*", "[^/]*").replace("\0", ".*")
    return re2.compile(f"^{pattern}$")


def normalized(image: str) -> str:
    """The name upstream matches globs against: go-containerregistry's ``Name()`` (registry and
    ``library/`` filled in; the digest when there is one, else the tag, ``latest`` by default)."""
    from airlock.oci.reference import parse_reference

    ref = parse_reference(image)
    return f"{ref.name}@{ref.digest}" if ref.digest else f"{ref.name}:{ref.tag}"


# -- the model --------------------------------------------------------------------------------------

class Rego(NamedTuple):
    """A Rego module; ``evaluate(document)`` -> None when compliant, else why not."""

    name: str
    module: str

    def evaluate(self, document: Any) -> str | None:
        return evaluate_rego(self.module, document, self.name)


class AttestationRule(NamedTuple):
    name: str
    predicate_type: str  # a URI (cosign's short names are expanded)
    policy: Rego | None


class Authority(NamedTuple):
    name: str
    kind: str  # "key" | "keyless" | "static"
    key: bytes | None = None  # PEM
    identities: tuple[Any, ...] = ()  # Identity policies, any one of them
    static_action: str | None = None
    static_message: str | None = None
    trust_root: str | None = None  # a TrustRoot's metadata.name, else the default trust root
    tlog: bool = True  # require a transparency log entry
    ignore_sct: bool = False
    attestations: tuple[AttestationRule, ...] = ()
    bundle_format: bool = False  # signatureFormat: bundle (cosign v3 referrers), else legacy .sig/.att
    signatures: tuple[str, str] | None = None  # source[0].oci: (registry, repository) of the signatures
    warnings: tuple[str, ...] = ()


class Match(NamedTuple):
    group: str
    version: str  # or "*"
    resource: str
    selector: tuple[tuple[str, str, tuple[str, ...]], ...] | None  # (key, operator, values); None: no selector

    def selects(self, group: str, version: str, resource: str, labels: dict[str, str]) -> bool:
        """Upstream's comparison (pkg/apis/config/image_policies.go)."""
        return (self.resource == resource and self.version in (version, "*") and self.group == group
                and selects(self.selector, labels))


class ClusterImagePolicy(NamedTuple):
    name: str
    where: str  # "FILE: document N"
    globs: tuple[str, ...]
    patterns: tuple[Any, ...]
    authorities: tuple[Authority, ...]
    mode: str = "enforce"
    threshold: int | None = None  # beyond upstream: N of the authorities
    match: tuple[Match, ...] = ()
    policy: Rego | None = None  # spec.policy: judged over the authorities that passed (authorityMatches)

    def matches(self, image: str) -> bool:
        """Does one of the globs match ``image`` (as upstream: the normalized name, else as written)?"""
        try:
            name = normalized(image)
        except AirlockError:
            name = image
        return any(p.match(name) or (name != image and p.match(image)) for p in self.patterns)


class TrustRootSpec(NamedTuple):
    name: str
    where: str
    trusted_root_file: str | None = None
    tuf_root: str | None = None
    trusted_root_json: bytes | None = None  # from inline sigstoreKeys, or a verified repository
    warnings: tuple[str, ...] = ()  # what loading it found (a repository about to expire)


class PolicySet(NamedTuple):
    policies: tuple[ClusterImagePolicy, ...]
    trust_roots: dict[str, TrustRootSpec]
    files: tuple[str, ...]

    def matching(self, image: str) -> list[ClusterImagePolicy]:
        return [p for p in self.policies if p.matches(image)]


# -- Rego -------------------------------------------------------------------------------------------

def evaluate_rego(module: str, document: Any, name: str = "policy") -> str | None:
    """Query ``data.sigstore.isCompliant`` with ``document`` as input: None when it is ``true`` (or
    cosign's structured ``{"result": true}``), else the reason, upstream's words first."""
    import json

    from regopy import Input, Interpreter, LogLevel

    interpreter = Interpreter()
    interpreter.log_level = LogLevel.NONE  # else regopy prints parse errors on stdout
    try:
        interpreter.add_module(name, module)
        interpreter.set_input(Input(document))
        output = interpreter.query(REGO_QUERY)
    except Exception as exc:  # regopy raises its own RegoError for modules that do not parse
        return f"the rego policy {name} does not evaluate: {_rego_errors(str(exc))}"
    if not output.ok():
        return f"the rego policy {name} does not evaluate: {_rego_errors(str(output))}"
    try:  # '{"expressions":[...], "bindings":{"isCompliant":...}}', or 'undefined' (never binding():
        value = json.loads(str(output))["bindings"]["isCompliant"]  # regopy aborts on an undefined one)
    except (ValueError, KeyError, TypeError):
        value = None
    message = ""
    if isinstance(value, dict):
        message = str(value.get("error") or value.get("warning") or "")
        value = value.get("result")
    if value is True:
        return None
    suffix = f" with errors: {message}" if message else ""
    return f"policy is not compliant for query '{REGO_QUERY}'{suffix}"


def _rego_errors(text: str) -> str:
    """regopy's error tree, ``(error 1:p|30|1 (errormsg 16:this is unclosed) ...)``, as its messages."""
    messages = list(dict.fromkeys(re.findall(r"\(errormsg \d+:([^)]*)\)", text)))
    return ("; ".join(messages) or " ".join(text.split()))[:300]


def _rego(value: Any, where: Where, name: str, *, spec_level: bool = False) -> Rego | None:
    if value is None:
        return None
    obj = _object(value, where, ("type", "data", "remote", "configMapRef", "fetchConfigFile", "includeSpec",
                                 "includeObjectMeta", "includeTypeMeta"))
    kind = _string(obj, "type", where, required=True)
    if kind == "cue":
        raise where.at("type").error("cue policies are not supported (airlock evaluates rego); rewrite it in rego")
    if kind != "rego":
        raise where.at("type").error(f"unsupported policy type {kind!r} (rego or cue)")
    for name_ in ("remote", "configMapRef"):
        if obj.get(name_) is not None:
            raise where.at(name_).error("not available offline: put the policy inline in data")
    for name_ in ("fetchConfigFile", "includeSpec", "includeObjectMeta", "includeTypeMeta"):
        if obj.get(name_) is not None and not spec_level:
            raise where.at(name_).error("only allowed in the policy at spec level (spec.policy)")
        if obj.get(name_):
            raise where.at(name_).error("not supported: the policy sees authorityMatches only")
    data = _string(obj, "data", where.at("data"), required=False)
    if not data:
        raise where.at("data").error("missing required field (the rego module)")
    if RUNTIME.search(data):
        raise where.at("data").error("opa.runtime() is not allowed: it hands the policy airlock's environment "
                                     "variables, which a denial message would then show")
    problem = evaluate_rego(data, {}, name)
    if problem is not None and "does not evaluate" in problem:
        raise where.at("data").error(problem)
    return Rego(name, data)


# -- ClusterImagePolicy -----------------------------------------------------------------------------

AUTHORITY_FIELDS = ("name", "key", "keyless", "static", "source", "ctlog", "attestations", "rfc3161timestamp",
                    "signatureFormat")


def _key(value: Any, where: Where) -> bytes:
    from airlock.crypto import load_public_key

    obj = _object(value, where, ("data", "kms", "secretRef", "hashAlgorithm"))
    given = _one_of(obj, ("data", "kms", "secretRef"), where)
    if given == "secretRef":
        raise where.at("secretRef").error("a Kubernetes Secret cannot be read offline: put the PEM in key.data")
    if given == "kms":
        raise where.at("kms").error("a KMS key cannot be fetched offline: put its PEM public key in key.data "
                                    "(`airlock public-key --key KMS_URI` prints it)")
    algorithm = _string(obj, "hashAlgorithm", where)
    if algorithm not in (None, "", "sha256"):
        raise where.at("hashAlgorithm").error(f"unsupported hash algorithm {algorithm!r} (sha256)")
    data = _string(obj, "data", where, required=True) or ""
    try:
        load_public_key(data.encode(), "key")
    except AirlockError as exc:
        raise where.at("data").error(str(exc).removeprefix("key: ")) from None
    return data.encode()


def _identities(value: Any, where: Where) -> tuple[Any, ...]:
    from airlock.verify.policy import Identity

    obj = _object(value, where, ("url", "identities", "ca-cert", "trustRootRef", "insecureIgnoreSCT"))
    if obj.get("ca-cert") is not None:
        raise where.at("ca-cert").error("not supported: name the CA in a TrustRoot and use trustRootRef")
    _string(obj, "url", where)  # informational: airlock never contacts Fulcio
    identities = _list(obj, "identities", where)
    if not identities:
        raise where.at("identities").error("missing required field (at least one identity)")
    out = []
    for index, item in enumerate(identities):
        here = where.at("identities").at(index)
        ident = _object(item, here, ("issuer", "subject", "issuerRegExp", "subjectRegExp"))
        values = {name: _string(ident, name, here) or None for name in ident}
        for exact, pattern in (("issuer", "issuerRegExp"), ("subject", "subjectRegExp")):
            if values.get(exact) and values.get(pattern):
                raise here.error(f"expected exactly one, got both of {exact}, {pattern}")
            if not values.get(exact) and not values.get(pattern):
                raise here.error(f"missing required field: one of {exact}, {pattern}")
        try:
            out.append(Identity(identity=values.get("subject"), identity_regexp=values.get("subjectRegExp"),
                                issuer=values.get("issuer"), issuer_regexp=values.get("issuerRegExp")))
        except AirlockError as exc:
            raise here.error(str(exc)) from None
    return tuple(out)


def _authority(value: Any, where: Where, index: int, trust_refs: set[str]) -> Authority:
    from airlock.formats.cosign import PREDICATE_TYPES

    obj = _object(value, where, AUTHORITY_FIELDS)
    name = _string(obj, "name", where) or f"authority-{index}"
    kind = _one_of(obj, ("key", "keyless", "static"), where)
    signatures = _source(_list(obj, "source", where), where.at("source"))
    warnings: list[str] = []
    fmt = _string(obj, "signatureFormat", where) or "legacy"
    if fmt not in SIGNATURE_FORMATS:
        raise where.at("signatureFormat").error(f"unsupported format {fmt!r} (legacy or bundle)")
    if kind == "static":
        for other in ("attestations", "ctlog", "rfc3161timestamp"):
            if obj.get(other):
                raise where.error(f"expected exactly one, got both of static, {other}")
        static = _object(obj["static"], where.at("static"), ("action", "message"))
        action = _string(static, "action", where.at("static"), required=True)
        if action not in STATIC_ACTIONS:
            raise where.at("static").at("action").error(f"unsupported action {action!r} (pass or fail)")
        return Authority(name, "static", static_action=action,
                         static_message=_string(static, "message", where.at("static")))
    trust_root = None
    ctlog = obj.get("ctlog")
    if ctlog is not None:
        tlog = _object(ctlog, where.at("ctlog"), ("url", "trustRootRef"))
        _string(tlog, "url", where.at("ctlog"))  # informational: airlock never contacts Rekor
        trust_root = _string(tlog, "trustRootRef", where.at("ctlog")) or None
    tsa = obj.get("rfc3161timestamp")
    if tsa is not None:
        stamp = _object(tsa, where.at("rfc3161timestamp"), ("trustRootRef",))
        ref = _string(stamp, "trustRootRef", where.at("rfc3161timestamp")) or None
        if trust_root and ref and ref != trust_root:
            raise where.at("rfc3161timestamp").at("trustRootRef").error(
                f"must be the same trust root as ctlog.trustRootRef ({trust_root})")
        trust_root = trust_root or ref
    key, ignore_sct = None, False
    identities: tuple[Any, ...] = ()
    if kind == "key":
        key = _key(obj["key"], where.at("key"))
        if ctlog is None:
            warnings.append(f"authority {name}: a key authority without ctlog: the transparency log is not checked "
                            "(policy-controller's default)")
    else:
        keyless = obj["keyless"]
        identities = _identities(keyless, where.at("keyless"))
        for index, identity in enumerate(identities):  # an unanchored regexp matches anywhere (as upstream)
            warnings += [f"authority {name}: identities[{index}]: " + w.removeprefix("WARNING: ").replace(
                "--certificate-identity-regexp", "subjectRegExp").replace("--certificate-oidc-issuer-regexp",
                                                                          "issuerRegExp") for w in identity.warnings]
        ref = _string(keyless, "trustRootRef", where.at("keyless")) or None
        if trust_root and ref and ref != trust_root:
            raise where.at("keyless").at("trustRootRef").error(
                f"must be the same trust root as ctlog/rfc3161timestamp ({trust_root})")
        trust_root = ref or trust_root
        ignore_sct = _bool(keyless, "insecureIgnoreSCT", where.at("keyless"))
        if ignore_sct:
            warnings.append(f"authority {name}: insecureIgnoreSCT: certificates need no embedded SCT")
    if trust_root is not None:
        trust_refs.add(trust_root)
    rules = []
    for position, item in enumerate(_list(obj, "attestations", where)):
        here = where.at("attestations").at(position)
        att = _object(item, here, ("name", "predicateType", "policy"))
        att_name = _string(att, "name", here, required=True) or ""
        wanted = _string(att, "predicateType", here, required=True) or ""
        rules.append(AttestationRule(att_name, PREDICATE_TYPES.get(wanted, wanted),
                                     _rego(att.get("policy"), here.at("policy"), att_name)))
    return Authority(name, kind, key=key, identities=identities, trust_root=trust_root,
                     tlog=not (kind == "key" and ctlog is None), ignore_sct=ignore_sct, attestations=tuple(rules),
                     bundle_format=fmt == "bundle", signatures=signatures, warnings=tuple(warnings))


def _source(sources: list[Any], where: Where) -> tuple[str, str] | None:
    """``source[].oci``: the repository holding the signatures (as ``COSIGN_REPOSITORY``); one only."""
    from airlock.oci.reference import parse_reference

    if not sources:
        return None
    if len(sources) > 1:
        raise where.error("only a single source is supported")
    here = where.at(0)
    obj = _object(sources[0], here, ("oci", "signaturePullSecrets", "tagPrefix"))
    if _list(obj, "signaturePullSecrets", here):
        raise here.at("signaturePullSecrets").error("Kubernetes Secrets cannot be read offline: airlock uses its "
                                                   "own registry credentials")
    if _string(obj, "tagPrefix", here):
        raise here.at("tagPrefix").error("signature tag prefixes are not supported")
    oci = _string(obj, "oci", here, required=True) or ""
    try:
        reference = parse_reference(oci)
    except AirlockError as exc:
        raise here.at("oci").error(str(exc)) from None
    if reference.digest or ":" in oci.rsplit("/", 1)[-1]:
        raise here.at("oci").error(f"{oci!r} must name a repository, without a tag or digest")
    return reference.registry, reference.repository


LABEL_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _match(value: Any, where: Where) -> Match:
    """``spec.match[]``: group, version (or ``*``) and plural resource as upstream compares them
    (exactly; an empty group is the core group), and a label selector."""
    obj = _object(value, where, ("group", "version", "resource", "selector"))
    group, version, resource = (_string(obj, name, where) or "" for name in ("group", "version", "resource"))
    selector = None
    if obj.get("selector") is not None:
        if not (group or version or resource):
            raise where.at("selector").error("a selector requires a resource type to match the labels")
        here = where.at("selector")
        raw = _object(obj["selector"], here, ("matchLabels", "matchExpressions"))
        labels = _object(raw.get("matchLabels") or {}, here.at("matchLabels"), tuple(raw.get("matchLabels") or {}))
        requirements: list[tuple[str, str, tuple[str, ...]]] = []
        for key, item in labels.items():
            if not isinstance(item, str):
                raise here.at("matchLabels").at(str(key)).error("must be a string")
            requirements.append((str(key), "In", (item,)))
        for index, item in enumerate(_list(raw, "matchExpressions", here)):
            at = here.at("matchExpressions").at(index)
            expression = _object(item, at, ("key", "operator", "values"))
            key = _string(expression, "key", at, required=True) or ""
            operator = _string(expression, "operator", at, required=True) or ""
            if operator not in LABEL_OPERATORS:
                raise at.at("operator").error(f"unsupported operator {operator!r} ({', '.join(LABEL_OPERATORS)})")
            values = _list(expression, "values", at)
            if any(not isinstance(v, str) for v in values):
                raise at.at("values").error("must be a list of strings")
            if (operator in ("In", "NotIn")) != bool(values):
                raise at.at("values").error(f"{operator} {'needs' if operator in ('In', 'NotIn') else 'takes no'} "
                                            "values")
            requirements.append((key, operator, tuple(values)))
        selector = tuple(requirements)
    return Match(group, version, resource, selector)


def selects(selector: tuple[tuple[str, str, tuple[str, ...]], ...] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics: every requirement holds."""
    for key, operator, values in selector or ():
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def _cluster_image_policy(doc: dict[str, Any], where: Where, trust_refs: set[str]) -> ClusterImagePolicy:
    _object(doc, where, ("apiVersion", "kind", "metadata", "spec", "status"))
    name = _metadata_name(doc, where)
    spec = _object(doc.get("spec"), where.at("spec"), ("images", "authorities", "policy", "mode", "match",
                                                        "threshold"))
    here = where.at("spec")
    images = _list(spec, "images", here)
    if not images:
        raise here.at("images").error("missing required field (at least one glob)")
    globs, patterns = [], []
    for index, item in enumerate(images):
        image = _object(item, here.at("images").at(index), ("glob",))
        glob = _string(image, "glob", here.at("images").at(index), required=True) or ""
        try:
            patterns.append(compile_glob(glob))
        except ValueError as exc:
            raise here.at("images").at(index).at("glob").error(f"glob {glob!r} is invalid: {exc}") from None
        globs.append(glob)
    authorities = [_authority(item, here.at("authorities").at(i), i, trust_refs)
                   for i, item in enumerate(_list(spec, "authorities", here))]
    if not authorities:
        raise here.at("authorities").error("missing required field (at least one authority; a static one "
                                           "admits or denies without signatures)")
    names = [a.name for a in authorities]
    if len(set(names)) != len(names):
        raise here.at("authorities").error(f"authority names must be unique: {names}")
    overall = _rego(spec.get("policy"), here.at("policy"), "ClusterImagePolicy", spec_level=True)
    mode = _string(spec, "mode", here) or "enforce"
    if mode not in MODES:
        raise here.at("mode").error(f"unsupported mode {mode!r} (enforce or warn)")
    threshold = spec.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int)
                                  or not 1 <= threshold <= len(authorities)):
        raise here.at("threshold").error(f"must be a number from 1 to {len(authorities)} (the authorities), "
                                         f"not {threshold!r}")
    match = tuple(_match(item, here.at("match").at(i)) for i, item in enumerate(_list(spec, "match", here)))
    return ClusterImagePolicy(name, where.label, tuple(globs), tuple(patterns), tuple(authorities), mode, threshold,
                              match, overall)


def _metadata_name(doc: dict[str, Any], where: Where) -> str:
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise where.at("metadata").error("missing required field (with a name)")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise where.at("metadata").at("name").error("missing required field")
    return name


# -- TrustRoot --------------------------------------------------------------------------------------

def _b64(value: Any, where: Where) -> bytes:
    if not isinstance(value, str):
        raise where.error(f"must be base64 text, not {_kind(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise where.error("not valid base64") from None


def _trust_root(doc: dict[str, Any], where: Where, base: str) -> TrustRootSpec:
    _object(doc, where, ("apiVersion", "kind", "metadata", "spec", "status"))
    name = _metadata_name(doc, where)
    here = where.at("spec")
    spec = _object(doc.get("spec"), here, ("remote", "repository", "sigstoreKeys", "tufRoot", "trustedRootFile"))
    given = _one_of(spec, ("remote", "repository", "sigstoreKeys", "tufRoot", "trustedRootFile"), here)
    if given == "remote":
        raise here.at("remote").error("a remote TUF mirror cannot be reached offline: mirror it with `airlock "
                                      "initialize` and name the directory in spec.tufRoot")
    if given == "repository":
        return _repository(spec["repository"], here.at("repository"), name, where.label)
    if given in ("tufRoot", "trustedRootFile"):
        path = _string(spec, given, here, required=True) or ""
        path = os.path.join(base, path)
        if not os.path.exists(path):
            raise here.at(given).error(f"{path}: no such file or directory")
        if given == "tufRoot":
            return TrustRootSpec(name, where.label, tuf_root=path)
        return TrustRootSpec(name, where.label, trusted_root_file=path)
    return TrustRootSpec(name, where.label, trusted_root_json=sigstore_keys_json(spec[given], here.at(given)))


MIRROR_PREFIX = "repository/"  # upstream's DefaultTUFRepoPrefix: the tarball holds repository/...
MAX_MIRROR = 64 * 1024 * 1024


def _repository(value: Any, where: Where, name: str, label: str) -> TrustRootSpec:
    """``spec.repository``: a TUF repository serialized into the policy (base64 of a gzip'd tar of
    ``repository/``, as policy-controller's ``CompressFS`` writes it) and the root to start from.
    It is unpacked (``airlock.tarsafe``) and verified by the same TUF client as ``airlock
    initialize`` (a ``file://`` mirror), so its trusted_root.json is what the signed metadata says."""
    import io
    import shutil
    import tempfile

    from airlock.tarsafe import read_tar_gz
    from airlock.trust import source, tuf
    from airlock.trust.mirror import verify_mirror

    obj = _object(value, where, ("root", "mirrorFS", "targets", "trustedRootTarget"))
    for field, default in (("targets", "targets"), ("trustedRootTarget", "trusted_root.json")):
        given = _string(obj, field, where)
        if given not in (None, "", default):
            raise where.at(field).error(f"only {default!r} is supported, not {given!r}")
    root = _b64(obj.get("root"), where.at("root"))
    archive = _b64(obj.get("mirrorFS"), where.at("mirrorFS"))
    try:
        files = read_tar_gz(io.BytesIO(archive), "the tarball", max_files=10_000, max_file=MAX_MIRROR,
                            max_total=MAX_MIRROR, directories=True)
    except AirlockError as exc:
        raise where.at("mirrorFS").error(str(exc)) from None
    staging = tempfile.mkdtemp(prefix="airlock-trustroot-")
    try:
        mirror = os.path.join(staging, "mirror")
        for member, data in files.items():
            if not member.startswith(MIRROR_PREFIX):
                raise where.at("mirrorFS").error(f"member {member!r} is not under {MIRROR_PREFIX}")
            path = os.path.join(mirror, member.removeprefix(MIRROR_PREFIX))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
        installed = os.path.join(staging, "tuf")
        try:
            tuf.initialize("file://" + mirror, root, installed, targets=("trusted_root.json",))
            _, warnings = source.load(None, tuf_root=installed)
            document = verify_mirror(installed).trusted_root
        except AirlockError as exc:
            raise where.error(f"the TUF repository does not verify: {str(exc).replace('file://' + mirror, 'mirrorFS')}"
                              ) from None
        return TrustRootSpec(name, label, trusted_root_json=document, warnings=tuple(warnings))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _log(value: Any, where: Where) -> dict[str, Any]:
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from airlock.crypto import load_public_key

    obj = _object(value, where, ("baseURL", "hashAlgorithm", "publicKey"))
    url = _string(obj, "baseURL", where, required=True)
    pem = _b64(obj.get("publicKey"), where.at("publicKey"))
    try:
        key = load_public_key(pem, "publicKey")
    except AirlockError as exc:
        raise where.at("publicKey").error(str(exc).removeprefix("publicKey: ")) from None
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(key, ec.EllipticCurvePublicKey):
        details = {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                   "secp521r1": "PKIX_ECDSA_P521_SHA_512"}[key.curve.name]
    elif isinstance(key, ed25519.Ed25519PublicKey):
        details = "PKIX_ED25519"
    elif isinstance(key, rsa.RSAPublicKey):
        details = "PKIX_RSA_PKCS1V15_2048_SHA256"
    return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": details,
                          "validFor": {"start": "1970-01-01T00:00:00Z"}},
            "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()}}


def _authority_json(value: Any, where: Where) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    obj = _object(value, where, ("subject", "uri", "certChain"))
    subject = _object(obj.get("subject") or {}, where.at("subject"), ("organization", "commonName"))
    pem = _b64(obj.get("certChain"), where.at("certChain"))
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise where.at("certChain").error("not a PEM certificate chain") from None
    raw = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
    start = min(c.not_valid_before_utc for c in chain).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"subject": {k: v for k, v in subject.items() if isinstance(v, str)}, "uri": obj.get("uri") or "",
            "certChain": {"certificates": [{"rawBytes": r} for r in raw]}, "validFor": {"start": start}}


def sigstore_keys_json(value: Any, where: Where) -> bytes:
    """TrustRoot ``spec.sigstoreKeys`` (base64 PEM keys and chains) as a ``trusted_root.json``."""
    import json

    obj = _object(value, where, ("certificateAuthorities", "tLogs", "ctLogs", "timestampAuthorities"))
    document = {
        "mediaType": TRUSTED_ROOT,
        "certificateAuthorities": [_authority_json(v, where.at("certificateAuthorities").at(i))
                                   for i, v in enumerate(_list(obj, "certificateAuthorities", where))],
        "tlogs": [_log(v, where.at("tLogs").at(i)) for i, v in enumerate(_list(obj, "tLogs", where))],
        "ctlogs": [_log(v, where.at("ctLogs").at(i)) for i, v in enumerate(_list(obj, "ctLogs", where))],
        "timestampAuthorities": [_authority_json(v, where.at("timestampAuthorities").at(i))
                                 for i, v in enumerate(_list(obj, "timestampAuthorities", where))],
    }
    data = json.dumps(document).encode()
    from airlock.trust.trusted_root import TrustedRoot

    try:
        TrustedRoot.from_json(data, source=where.label)
    except AirlockError as exc:
        raise where.error(f"not usable trust material: {exc}") from None
    return data


# -- loading ----------------------------------------------------------------------------------------

def _documents_of(doc: Any, where: Where) -> list[tuple[dict[str, Any], Where]]:
    """A document, or the items of a ``kind: List`` (as ``kubectl get -o yaml`` writes)."""
    if not isinstance(doc, dict):
        raise where.error(f"a document must be a mapping, not {_kind(doc)}")
    if doc.get("kind") in ("List", "ClusterImagePolicyList", "TrustRootList"):
        _object(doc, where, ("apiVersion", "kind", "metadata", "items"))
        return [pair for i, item in enumerate(_list(doc, "items", where))
                for pair in _documents_of(item, where.at("items").at(i))]
    return [(doc, where)]


def load(paths: list[str] | tuple[str, ...]) -> PolicySet:
    """Every ClusterImagePolicy and TrustRoot in ``paths`` (files, or directories of .yaml/.yml/.json),
    checked whole: any error raises ``PolicyError`` naming the file, document and field."""
    try:
        files = documents.files_of(paths, "policy")
    except FormatError as exc:
        raise PolicyError(str(exc)) from None
    policies: list[ClusterImagePolicy] = []
    roots: dict[str, TrustRootSpec] = {}
    refs: dict[str, str] = {}
    for path in files:
        try:
            data = documents.read_file(path, "policy")
            docs = documents.documents(data, f"policy {path}")
        except FormatError as exc:
            raise PolicyError(str(exc)) from None
        for number, doc in enumerate(docs):
            for item, where in _documents_of(doc, Where(f"policy {path}: document {number}")):
                kind, version = item.get("kind"), str(item.get("apiVersion") or "")
                group, _, ver = version.partition("/")
                label = f"{where.label} ({kind} {(item.get('metadata') or {}).get('name', '?')})" \
                    if isinstance(item.get("metadata"), dict) else where.label
                here = Where(label, where.path)
                if group != GROUP:
                    raise here.at("apiVersion").error(f"{version!r} is not {GROUP}/...")
                if kind == "ClusterImagePolicy" and ver in CIP_VERSIONS:
                    wanted: set[str] = set()
                    policy = _cluster_image_policy(item, here, wanted)
                    if any(p.name == policy.name for p in policies):
                        raise here.at("metadata").at("name").error(f"a second ClusterImagePolicy {policy.name!r}")
                    policies.append(policy)
                    refs.update(dict.fromkeys(wanted, label))
                elif kind == "TrustRoot" and ver == "v1alpha1":
                    root = _trust_root(item, here, os.path.dirname(path))
                    if root.name in roots:
                        raise here.at("metadata").at("name").error(f"a second TrustRoot {root.name!r}")
                    roots[root.name] = root
                else:
                    raise here.at("kind").error(f"{kind!r} {version!r} is not a ClusterImagePolicy "
                                                f"({GROUP}/v1beta1) or TrustRoot ({GROUP}/v1alpha1)")
    for ref, label in refs.items():
        if ref not in roots:
            raise PolicyError(f"{label}: trustRootRef {ref!r}: no TrustRoot of that name in the policies")
    if not policies:
        raise PolicyError(f"policy {', '.join(paths)}: no ClusterImagePolicy found")
    return PolicySet(tuple(policies), roots, tuple(files))
