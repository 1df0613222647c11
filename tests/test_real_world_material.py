"""Published material airlock used to refuse though cosign and sigstore-go accept it (issue 9),
each beside the real peers where they are built (docs/FORMATS-NOTES.md, "Real bundles").

1. v0.1/v0.2 bundles whose ``x509CertificateChain`` carries intermediate and root after the
   leaf (npm provenance by sigstore-js 1.x): the leaf is used, the rest is ignored.
2. ``validFor`` on a log: sigstore-go refuses a log without it and one without its start;
   a CA or TSA without it is unbounded. airlock does exactly that.
3. A CA chain listed root first: reordered by its names, then verified in full.
4. ``trusted_root.jsonl`` (``gh attestation trusted-root``): every line a trusted root, and a
   signature verifies if one of them, alone, verifies it.

Inputs are real conformance bundles and the public-good trusted roots, transformed the way
the published material differs, or built with ``airlock.testing``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from airlock.errors import FormatError, TrustRootError
from airlock.formats.bundle import parse_bundle
from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
from airlock.trust import TrustedRoot
from conftest import CONFORMANCE, PRODUCTION_ROOT, STAGING_ROOT, one_line_error, run_cli, shared
from peers import peer

IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
            "extremely-dangerous-oidc-beacon.yml@refs/heads/main")
ISSUER = "https://token.actions.githubusercontent.com"
DATA = b"airlock real-world material\n"


def _json(path: Path) -> dict:
    return json.loads(shared(path).read_text())


def _der(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def _cert(raw: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(raw))


def _production() -> dict:
    return _json(PRODUCTION_ROOT)


def _real(case: str) -> dict:
    return _json(CONFORMANCE / "bundle-verify" / case / "bundle.sigstore.json")


def _issuing_chain(bundle: dict, root: dict) -> list[str]:
    """The rawBytes of the trusted CA chain (intermediate, root) that issued the bundle's leaf:
    what sigstore-js 1.x copied after the leaf from Fulcio's answer."""
    leaf = _cert(bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"])
    for ca in root["certificateAuthorities"]:
        chain = [c["rawBytes"] for c in ca["certChain"]["certificates"]]
        try:
            leaf.verify_directly_issued_by(_cert(chain[0]))
        except Exception:  # not issued by this CA (names, key type or signature)
            continue
        return chain
    raise AssertionError("no CA of the trusted root issued the leaf")


def _with_chain(bundle: dict, raw_certificates: list[str]) -> dict:
    bundle = copy.deepcopy(bundle)
    certificates = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
    certificates += [{"rawBytes": r} for r in raw_certificates]
    return bundle


class Input:
    """One verification, written to files every verifier reads the same way."""

    def __init__(self, tmp: Path, bundle: dict, root: dict | list[dict] | str, *, artifact: bytes | None = None,
                 identity: str = IDENTITY, issuer: str = ISSUER, root_name: str = "trusted_root.json") -> None:
        self.bundle = tmp / "bundle.sigstore.json"
        self.bundle.write_text(json.dumps(bundle))
        self.root = tmp / root_name
        if isinstance(root, str):
            self.root.write_text(root)
        elif isinstance(root, list):
            self.root.write_text("".join(json.dumps(r) + "\n" for r in root))
        else:
            self.root.write_text(json.dumps(root, indent=2))
        self.artifact = tmp / "artifact"
        self.artifact.write_bytes(artifact if artifact is not None else
                                  shared(CONFORMANCE / "bundle-verify" / "a.txt").read_bytes())
        self.identity, self.issuer = identity, issuer

    def airlock(self):
        return run_cli("verify-blob", "--offline", "--bundle", self.bundle, "--certificate-identity", self.identity,
                       "--certificate-oidc-issuer", self.issuer, "--trusted-root", self.root, self.artifact)

    def sigstore_go(self, root: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([peer("sigstore-go-conformance"), "verify-bundle", "--bundle", self.bundle,
                               "--certificate-identity", self.identity, "--certificate-oidc-issuer", self.issuer,
                               "--trusted-root", root or self.root, self.artifact],
                              capture_output=True, text=True, timeout=60)

    def cosign(self, root: Path | None = None) -> subprocess.CompletedProcess:
        home = self.bundle.parent / "home"
        home.mkdir(exist_ok=True)
        return subprocess.run([peer("cosign"), "verify-blob", "--bundle", self.bundle,
                               "--certificate-identity", self.identity, "--certificate-oidc-issuer", self.issuer,
                               "--trusted-root", root or self.root, self.artifact],
                              capture_output=True, text=True, timeout=60,
                              env={"HOME": str(home), "PATH": os.environ.get("PATH", "")})


def ok(result) -> None:
    assert result.code == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Verified OK"


def refused(result, reason: str) -> None:
    line = one_line_error(result)
    assert reason in line, line


# -- 1. a chain after the leaf (v0.1/v0.2) ------------------------------------------------

def npm_shaped(case: str) -> dict:
    """A real public-good bundle with the issuing intermediate and root after its leaf."""
    bundle = _real(case)
    return _with_chain(bundle, _issuing_chain(bundle, _production()))


@pytest.mark.parametrize("case", ["happy-path-v0.1", "happy-path-v0.2"])
def test_chain_with_intermediate_and_root_verifies(tmp_path, case):
    bundle = npm_shaped(case)
    assert len(bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]) == 3
    given = Input(tmp_path, bundle, _production())
    ok(given.airlock())
    assert len(parse_bundle(bundle).certificate_chain) == 1  # only the leaf reaches the checks


@pytest.mark.parametrize("case", ["happy-path-v0.1", "happy-path-v0.2"])
@pytest.mark.parametrize("tool", ["sigstore_go", "cosign"])
def test_chain_with_intermediate_and_root_peers_agree(tmp_path, case, tool):
    given = Input(tmp_path, npm_shaped(case), _production())
    proc = getattr(given, tool)()
    assert proc.returncode == 0, proc.stderr


def test_chain_with_untrusted_root_is_ignored_like_sigstore_go(tmp_path):
    """A root the user does not trust, after a trusted leaf: not used, so not a reason to refuse
    (sigstore-go never parses certificates[1:]). It cannot make anything trusted either."""
    staging_root = _json(STAGING_ROOT)["certificateAuthorities"][0]["certChain"]["certificates"][-1]["rawBytes"]
    given = Input(tmp_path, _with_chain(_real("happy-path-v0.1"), [staging_root]), _production())
    ok(given.airlock())
    assert given.sigstore_go().returncode == 0


def test_leaf_from_an_untrusted_ca_stays_refused_with_its_whole_chain(tmp_path):
    """The bundle brings the intermediate and root of a CA that is not in the trusted root: the
    leaf chains to no trusted CA, whatever the bundle carries."""
    inst, other = SigstoreInstance(), SigstoreInstance()
    bundle = inst.sign_blob(DATA, version="0.1", chain_extra=[inst.fulcio.intermediate, inst.fulcio.root])
    root = inst.trusted_root(omit=["ca"], extra_cas=[other.fulcio])
    given = Input(tmp_path, bundle, root, artifact=DATA, identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
    refused(given.airlock(), "certificate-chain: the signing certificate is not trusted")
    assert given.sigstore_go().returncode != 0
    # and with its own CA trusted, the same bundle verifies (the refusal above is the CA's)
    trusted = Input(tmp_path, bundle, inst.trusted_root(), artifact=DATA, identity=DEFAULT_IDENTITY,
                    issuer=DEFAULT_ISSUER)
    ok(trusted.airlock())
    assert trusted.sigstore_go().returncode == 0


def test_root_in_the_leaf_position_is_refused(tmp_path):
    """The chain is not reordered: certificates[0] is the signing certificate, as for sigstore-go,
    so a chain listed root first signs with the root, which the log entry does not record."""
    bundle = _real("happy-path-v0.1")
    leaf = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
    chain = _issuing_chain(bundle, _production())
    bundle["verificationMaterial"]["x509CertificateChain"]["certificates"] = (
        [{"rawBytes": r} for r in reversed(chain)] + leaf)
    given = Input(tmp_path, bundle, _production())
    refused(given.airlock(), "tlog-entry: the log entry records a different certificate")
    assert given.sigstore_go().returncode != 0


def test_v03_chain_stays_refused(tmp_path):
    bundle = npm_shaped("happy-path-v0.2")
    bundle["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.3+json"
    given = Input(tmp_path, bundle, _production())
    refused(given.airlock(), "x509CertificateChain is not allowed in v0.3 bundles")
    assert "cannot be X.509 certificate chain" in given.sigstore_go().stderr


def test_conformance_root_cert_case_fails_for_its_proof_like_sigstore_go(tmp_path):
    """bundle-with-root-cert_fail is a v0.1 bundle whose inclusion proof has no checkpoint:
    that, not the root in its chain, is why sigstore-go refuses it (and now airlock)."""
    given = Input(tmp_path, _real("bundle-with-root-cert_fail"), _production())
    refused(given.airlock(), "tlogEntries[0] has an inclusion proof without a checkpoint")
    assert "inclusion proof missing required checkpoint" in given.sigstore_go().stderr


def test_too_long_a_chain_is_refused():
    bundle = _real("happy-path-v0.1")
    chain = _issuing_chain(bundle, _production())
    with pytest.raises(FormatError, match="11 certificates in the chain, more than the 10 accepted"):
        parse_bundle(_with_chain(bundle, (chain * 5)[:10]))
    assert parse_bundle(_with_chain(bundle, (chain * 5)[:9])).leaf is not None


def test_malformed_certificate_after_the_leaf_is_refused():
    bundle = _with_chain(_real("happy-path-v0.1"), [base64.b64encode(b"not DER").decode()])
    with pytest.raises(FormatError, match=r"chain\[1\]: not a DER X.509 certificate"):
        parse_bundle(bundle)


# -- 2. validFor on logs and CAs --------------------------------------------------------------

def _without(root: dict, section: str, field: str | None = None) -> dict:
    root = copy.deepcopy(root)
    for item in root[section]:
        holder = item["publicKey"] if section in ("tlogs", "ctlogs") else item
        if field is None:
            del holder["validFor"]
        else:
            del holder["validFor"][field]
    return root


@pytest.mark.parametrize(("section", "field", "airlock_reason", "sigstore_go_reason"), [
    ("tlogs", None, "tlogs[0]: missing validFor", "tlog missing public key validity period"),
    ("tlogs", "start", "tlogs[0]: validFor has no start", "tlog missing public key validity period start time"),
    ("ctlogs", None, "ctlogs[0]: missing validFor", "tlog missing public key validity period"),
])
def test_log_without_validity_is_refused_like_sigstore_go(tmp_path, section, field, airlock_reason,
                                                          sigstore_go_reason):
    given = Input(tmp_path, _real("happy-path-v0.1"), _without(_production(), section, field))
    refused(given.airlock(), airlock_reason)
    assert sigstore_go_reason in given.sigstore_go().stderr


def test_log_without_validity_is_refused_by_cosign(tmp_path):
    given = Input(tmp_path, _real("happy-path-v0.1"), _without(_production(), "tlogs"))
    proc = given.cosign()
    assert proc.returncode != 0 and "tlog missing public key validity period" in proc.stderr


def test_ca_without_validity_is_unbounded(tmp_path):
    """A CA (or TSA) with no validFor is trusted at any time, for sigstore-go as for airlock."""
    root = _without(_production(), "certificateAuthorities")
    assert all(ca.valid_for.start is None and ca.valid_for.end is None
               for ca in TrustedRoot.from_json(json.dumps(root)).certificate_authorities)
    given = Input(tmp_path, _real("happy-path-v0.1"), root)
    ok(given.airlock())
    assert given.sigstore_go().returncode == 0


# -- 3. a CA chain listed root first -----------------------------------------------------------

def _root_first(root: dict) -> dict:
    root = copy.deepcopy(root)
    for ca in root["certificateAuthorities"]:
        ca["certChain"]["certificates"].reverse()
    return root


def test_root_first_ca_chain_verifies(tmp_path):
    root = _root_first(_production())
    parsed = TrustedRoot.from_json(json.dumps(root))
    assert [c.subject.rfc4514_string() for c in parsed.certificate_authorities[1].chain] == [
        "CN=sigstore-intermediate,O=sigstore.dev", "CN=sigstore,O=sigstore.dev"]
    assert all(ca.chain_problem is None for ca in parsed.certificate_authorities)
    given = Input(tmp_path, _real("happy-path-v0.1"), root)
    ok(given.airlock())
    assert given.sigstore_go().returncode == 0
    assert given.cosign().returncode == 0


def test_root_first_chain_of_the_test_instance_verifies():
    """Fulcio and TSA chains of a whole instance, root first: both still verify."""
    from airlock.artifact import Artifact
    from airlock.verify.policy import Identity
    from airlock.verify.verifier import Verifier

    inst = SigstoreInstance()
    document = inst.trusted_root()
    for section in ("certificateAuthorities", "timestampAuthorities"):
        for authority in document[section]:
            authority["certChain"]["certificates"].reverse()
    root = TrustedRoot.from_json(json.dumps(document))
    policy = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
    for shape in ({"version": "0.1"}, {"tsa": True, "rekor": "v2"}):
        verdict = Verifier(root, clock=inst.clock).verify(parse_bundle(inst.sign_blob(DATA, **shape)),
                                                        Artifact.from_bytes(DATA), policy=policy)
        assert verdict.ok, verdict.failure


def test_root_first_chain_with_a_root_that_did_not_sign_is_refused(tmp_path):
    """staging's root has production's root name but did not sign production's intermediate:
    the order is fixed from the names, the signatures are still verified. (sigstore-go accepts
    this file: it takes the last certificate, here the intermediate, as the anchor.)"""
    root = _production()
    staging_root = _json(STAGING_ROOT)["certificateAuthorities"][0]["certChain"]["certificates"][-1]
    current = root["certificateAuthorities"][1]["certChain"]["certificates"]
    current[:] = [staging_root, current[0]]
    given = Input(tmp_path, _real("happy-path-v0.1"), root)
    refused(given.airlock(), "the chain of CA https://fulcio.sigstore.dev does not verify "
                             "(CN=sigstore-intermediate,O=sigstore.dev)")
    assert given.sigstore_go().returncode == 0  # the documented difference


def test_chain_whose_names_link_neither_way_is_kept_and_refused():
    inst, other = SigstoreInstance(), SigstoreInstance(now=SigstoreInstance().now.replace(year=2025))
    document = inst.trusted_root()
    chain = document["certificateAuthorities"][0]["certChain"]["certificates"]
    foreign = {"rawBytes": _der(other.tsa.leaf)}
    chain[:] = [chain[0], foreign]
    root = TrustedRoot.from_json(json.dumps(document))
    assert root.certificate_authorities[0].chain[1].subject == other.tsa.leaf.subject  # order as listed
    assert "does not verify" in root.certificate_authorities[0].chain_problem


# -- 4. trusted_root.jsonl -----------------------------------------------------------------

def test_jsonl_verifies_against_the_root_that_fits(tmp_path):
    """gh attestation trusted-root writes one root per line; the second here is the right one."""
    given = Input(tmp_path, _real("happy-path-v0.1"), [_json(STAGING_ROOT), _production()],
                  root_name="trusted_root.jsonl")
    ok(given.airlock())
    loaded = TrustedRoot.from_file(given.root)
    assert len(loaded.each) == 2 and loaded.each[1].source.endswith("trusted_root.jsonl:2")


def test_jsonl_verdict_is_that_of_any_line_for_sigstore_go(tmp_path):
    """sigstore-go and cosign read one trusted root per file; gh feeds them line by line. The
    verdict airlock reaches on the whole file is sigstore-go's verdict on some line."""
    roots = [_json(STAGING_ROOT), _production()]
    given = Input(tmp_path, _real("happy-path-v0.1"), roots, root_name="trusted_root.jsonl")
    verdicts = []
    for i, root in enumerate(roots):
        line = tmp_path / f"line{i}.json"
        line.write_text(json.dumps(root))
        verdicts.append(given.sigstore_go(line).returncode == 0)
    assert verdicts == [False, True]
    assert (given.airlock().code == 0) == any(verdicts)
    assert given.cosign().returncode != 0  # cosign reads one JSON document: the .jsonl is not one


def test_jsonl_never_mixes_roots(tmp_path):
    """The logs of one line and the CAs of another would verify together; no line does alone."""
    production = _production()
    logs_only = {**production, "certificateAuthorities": []}
    cas_only = {**production, "tlogs": []}
    given = Input(tmp_path, _real("happy-path-v0.1"), [logs_only, cas_only], root_name="roots.jsonl")
    line = one_line_error(given.airlock())
    assert "none of the 2 trusted roots in" in line and "roots.jsonl verifies it" in line, line
    for i, root in enumerate((logs_only, cas_only)):
        path = tmp_path / f"line{i}.json"
        path.write_text(json.dumps(root))
        assert given.sigstore_go(path).returncode != 0


def test_jsonl_is_recognised_without_its_extension(tmp_path):
    path = tmp_path / "roots.json"
    path.write_text(json.dumps(_json(STAGING_ROOT)) + "\n" + json.dumps(_production()))  # no final newline
    loaded = TrustedRoot.from_file(path)
    assert [len(r.tlogs) for r in loaded.each] == [len(TrustedRoot.from_file(STAGING_ROOT).tlogs),
                                                    len(TrustedRoot.from_file(PRODUCTION_ROOT).tlogs)]
    single = TrustedRoot.from_file(shared(PRODUCTION_ROOT))  # pretty-printed: one document
    assert single.others == () and single.each == (single,)


def _jsonl(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trusted_root.jsonl"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("lines", "reason"), [
    (lambda good: good + "\n{\"mediaType\":\n", "trusted_root.jsonl:2: not valid JSON"),
    (lambda good: good + "\n\n" + good + "\n", "line 2 is empty (each line must be one trusted root)"),
    (lambda good: good + "\n[1, 2]\n", "trusted_root.jsonl:2: expected a JSON object, not a list"),
    (lambda good: good + "\n{\"mediaType\": \"x\"}\n", "trusted_root.jsonl:2: unsupported mediaType 'x'"),
    (lambda good: (good + "\n") * 33, "33 lines, more than the 32 trusted roots accepted"),
    (lambda good: "\n", "no trusted root in the file"),
    (lambda good: json.dumps(json.loads(good), indent=2),
     "trusted_root.jsonl:1: not valid JSON (Expecting property name"),
])
def test_malformed_jsonl_is_refused(tmp_path, lines, reason):
    good = json.dumps(_production())
    path = _jsonl(tmp_path, lines(good))
    with pytest.raises(TrustRootError) as caught:
        TrustedRoot.from_file(path)
    assert reason in str(caught.value)


def test_malformed_jsonl_is_one_error_line_on_the_command_line(tmp_path):
    given = Input(tmp_path, _real("happy-path-v0.1"), json.dumps(_production()) + "\nnot json\n",
                  root_name="trusted_root.jsonl")
    refused(given.airlock(), "trusted_root.jsonl:2: not valid JSON")


def test_jsonl_warnings_name_the_root(tmp_path):
    from datetime import UTC, datetime

    from airlock.trust import source

    path = _jsonl(tmp_path, json.dumps(_json(STAGING_ROOT)) + "\n" + json.dumps(_production()) + "\n")
    root, warnings = source.load(str(path), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert len(root.each) == 2
    assert all(w.startswith(f"WARNING: trust root ({path}:") for w in warnings), warnings
