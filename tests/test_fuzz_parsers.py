"""Property tests for every parser that takes untrusted input: the only exception is an AirlockError.

Each parser is fed (a) random bytes, (b) random JSON shaped like its format (built from a real
document: every object keeps a random subset of its keys, every value may be any JSON), and
(c) mutations of real inputs: one value replaced by a value of another JSON type (a number, a
string, a list, an object, null, 9999999999999999999, 1e18, nesting 100,000 deep), a field
deleted, bytes flipped, inserted or cut. Every call must return or raise ``AirlockError`` within
``CALL_LIMIT`` seconds.

Verification gets one more property: a real bundle that verifies, with one field replaced by a
value of the wrong JSON type, must not still verify (protojson would refuse it; accepting it
means the field was silently read as absent).

``HYPOTHESIS_PROFILE=long`` (and ``FUZZ_EXAMPLES``, default 5000) runs a longer pass; with
``FUZZ_COUNTS=file`` the number of inputs each parser was given is written to ``file`` as JSON.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import copy
import gzip
import hashlib
import io
import json
import os
import re
import signal
import tarfile
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.errors import AirlockError
from conftest import CONFORMANCE, PRODUCTION_ROOT, SIGSTORE_PYTHON, STAGING_ROOT

settings.register_profile("suite", max_examples=200, deadline=None, database=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")), deadline=None,
                          database=None, print_blob=True, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

CALL_LIMIT = 2.0
COUNTS: collections.Counter[str] = collections.Counter()

if not (CONFORMANCE / "cases.json").exists():
    pytest.skip("needs ../shared (the conformance and sigstore-python fixtures)", allow_module_level=True)


class Hang(Exception):
    """Not an AirlockError, so a call that never returns fails the property."""


SURVEY: dict[tuple[str, str, str], bytes] = {}
"""With ``FUZZ_SURVEY=file``, failures are recorded, not raised: one shortest input per (parser,
exception, where it was raised), written to ``file``: the list of distinct crash classes."""


def _short(data: Any) -> str:
    """A readable repr of a fuzz input: runs of one character (100,000 brackets) collapsed."""
    text = repr(data)
    text = re.sub(r"(.)\1{15,}", lambda m: f"{m.group(1)}<x{len(m.group(0))}>", text)
    return text if len(text) < 600 else text[:300] + f"...<{len(text)} chars>..." + text[-200:]


class Blob:
    """A fuzz input; its repr (in hypothesis' reports) is short."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Blob({_short(self.data)})"


def _where(exc: BaseException) -> str:
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/airlock/" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{frame.filename.split('/src/')[-1]}:{frame.lineno}"


def _alarm(signum, frame):
    raise Hang(f"no answer after {2 * CALL_LIMIT} s")


def call(parser: str, function, *args, **kwargs) -> Any:
    """``function(*args)``: its value, or None if it raised an ``AirlockError``; anything else, or a
    call slower than ``CALL_LIMIT`` seconds, fails the property."""
    COUNTS[parser] += 1
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, 2 * CALL_LIMIT)
    started = time.monotonic()
    try:
        return function(*args, **kwargs)
    except AirlockError as exc:
        assert "\n" not in str(exc), f"{parser}: a multi-line error: {exc!r}"
        return None
    except Exception as exc:
        if not os.environ.get("FUZZ_SURVEY"):
            pytest.fail(f"{parser}: {type(exc).__name__} at {_where(exc)}: {str(exc)[:200]}\n"
                        f"input: {_short(args)}", pytrace=False)
        key = (parser, type(exc).__name__, _where(exc))
        shown = _short(args).encode()
        if key not in SURVEY or len(shown) < len(SURVEY[key]):
            SURVEY[key] = shown
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        elapsed = time.monotonic() - started
        assert elapsed < CALL_LIMIT, f"{parser} took {elapsed:.2f} s"


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    if os.environ.get("FUZZ_COUNTS"):
        Path(os.environ["FUZZ_COUNTS"]).write_text(json.dumps(dict(sorted(COUNTS.items())), indent=1) + "\n")
    if os.environ.get("FUZZ_SURVEY"):
        lines = [f"{p} | {e} | {w} | {i.decode()}" for (p, e, w), i in sorted(SURVEY.items())]
        Path(os.environ["FUZZ_SURVEY"]).write_text("\n".join(lines) + "\n")


# -- JSON values and mutations -------------------------------------------------------------------

HUGE = 9999999999999999999
DEEP = "\x00deep\x00"  # replaced by 100,000 nested lists once serialized
ODD_VALUES = [HUGE, -HUGE, 1e18, -1, 0, 1.5, "", "x", "-1", [], [1], {}, {"a": 1}, None, True, False, DEEP]

json_leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=20) | st.sampled_from(ODD_VALUES))
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def dumps(document: Any) -> bytes:
    text = json.dumps(document).encode()
    deep = json.dumps(DEEP).encode()
    return text.replace(deep, b"[" * 100_000 + b"]" * 100_000) if deep in text else text


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position in a JSON document (not the root): keys of objects, indices of lists."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


def get(document: Any, path: tuple) -> Any:
    for key in path:
        document = document[key]
    return document


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "int64" if value == DEEP else "string"
    return "list" if isinstance(value, list) else "object"


def wrong_type(original: Any, replacement: Any) -> bool:
    """``replacement`` is of another JSON type than ``original`` (a protojson int64 may be either a
    number or a decimal string; null means absent, so it is never the wrong type)."""
    if replacement is None:
        return False
    a, b = kind(original), kind(replacement)
    if replacement == DEEP:
        return True
    if {a, b} == {"number", "string"}:
        int64 = isinstance(original, str) and re.fullmatch(r"-?\d+", original)
        return not (int64 and isinstance(replacement, int)) and not (
            isinstance(original, int) and isinstance(replacement, str) and re.fullmatch(r"-?\d+", replacement))
    return a != b


@st.composite
def replaced(draw, document: Any) -> tuple[Any, tuple, Any]:
    """``document`` with one value replaced; returns (new document, path, replacement)."""
    path = draw(st.sampled_from(paths(document)))
    value = draw(st.sampled_from(ODD_VALUES) | json_values)
    new = copy.deepcopy(document)
    get(new, path[:-1])[path[-1]] = value
    return new, path, value


@st.composite
def mutated_json(draw, document: Any) -> bytes:
    """One mutation of a JSON document, serialized: replace a value, delete a field, or shape-fuzz."""
    operation = draw(st.sampled_from(["replace", "delete", "shaped"]))
    if operation == "replace" and paths(document):
        return dumps(draw(replaced(document))[0])
    if operation == "delete" and paths(document):
        new = copy.deepcopy(document)
        path = draw(st.sampled_from(paths(new)))
        del get(new, path[:-1])[path[-1]]
        return dumps(new)
    return dumps(draw(shaped(document)))


def shaped(value: Any, depth: int = 0) -> st.SearchStrategy:
    """Random JSON with ``value``'s shape: objects keep a random subset of their keys (in a random
    order of choice), lists get 0-3 elements shaped like the first, and any node may be any JSON."""
    if isinstance(value, dict) and depth < 12:
        structure = st.fixed_dictionaries({}, optional={k: shaped(v, depth + 1) for k, v in value.items()})
    elif isinstance(value, list) and value and depth < 12:
        structure = st.lists(shaped(value[0], depth + 1), max_size=3)
    else:
        structure = st.just(value)
    return st.integers(0, 7).flatmap(lambda n: json_values if n == 0 else structure)


@st.composite
def flipped(draw, data: bytes) -> bytes:
    """``data`` with bytes flipped, inserted or cut."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "insert", "cut", "truncate"]))
        position = draw(st.integers(0, max(len(buffer) - 1, 0)))
        if operation == "flip" and buffer:
            buffer[position] ^= draw(st.integers(1, 255))
        elif operation == "insert":
            buffer[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "cut":
            del buffer[position:position + draw(st.integers(1, 16))]
        else:
            del buffer[position:]
    return bytes(buffer)


def inputs(seeds: list[bytes]) -> st.SearchStrategy[Blob]:
    return raw_inputs(seeds).map(Blob)


def raw_inputs(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """(a) random bytes, (b)+(c) JSON shaped like and mutated from a seed, or (c) a seed's bytes flipped."""
    documents = []
    for seed in seeds:
        with contextlib.suppress(ValueError):
            documents.append(json.loads(seed))
    choices = [st.binary(max_size=2048), st.sampled_from(seeds).flatmap(flipped)]
    if documents:
        choices.append(st.sampled_from(documents).flatmap(mutated_json))
        choices.append(st.sampled_from(documents).flatmap(mutated_json))  # mutations twice as often
    return st.one_of(*choices)


# -- real inputs -----------------------------------------------------------------------------------

def _read(paths_: list[Path]) -> list[bytes]:
    return [path.read_bytes() for path in sorted(paths_)]


@cache
def conformance_cases() -> list[dict]:
    return json.loads((CONFORMANCE / "cases.json").read_text())["cases"]


@cache
def bundle_seeds() -> list[bytes]:
    found = _read(list((CONFORMANCE / "bundle-verify").glob("*/*.sigstore.json")))
    found += _read([p for p in SIGSTORE_PYTHON.rglob("*")
                    if p.name.endswith((".sigstore", ".sigstore.json", ".bundle"))])
    return [*found, json.dumps(legacy_bundle()).encode()]


@cache
def instance():
    from airlock.testing import SigstoreInstance

    return SigstoreInstance()


@cache
def legacy_bundle() -> dict:
    return instance().sign_blob_legacy(b"fuzz")


@cache
def rekor_bodies() -> list[bytes]:
    bodies = set()
    for seed in bundle_seeds():
        try:
            document = json.loads(seed)
        except ValueError:
            continue
        entries = (document.get("verificationMaterial") or {}).get("tlogEntries") or []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("canonicalizedBody"), str):
                bodies.add(base64.b64decode(entry["canonicalizedBody"]))
        rekor = document.get("rekorBundle")
        if isinstance(rekor, dict):
            bodies.add(base64.b64decode(rekor["Payload"]["body"]))
    return sorted(bodies)


@cache
def trusted_root_seeds() -> list[bytes]:
    found = [PRODUCTION_ROOT, STAGING_ROOT, *(SIGSTORE_PYTHON / "trusted_root").glob("*.json"),
             *(SIGSTORE_PYTHON / "trust_config").glob("*.json")]
    found += [CONFORMANCE / "bundle-verify" / c["trusted_root"] for c in conformance_cases() if c["trusted_root"]]
    return sorted(set(_read(found)))


@cache
def layer_seeds() -> list[tuple[str, bytes, dict[str, str]]]:
    from cryptography.hazmat.primitives.asymmetric import ec

    from airlock.formats import cosign
    from image_layouts import image_statement, key_layer, keyless_layer

    payload = cosign.simplesigning_payload("registry.example/app", "sha256:" + "ab" * 32, {"env": "prod"})
    keyless = keyless_layer(instance(), payload)
    bundle = instance().sign_blob(b"", content="dsse", statement=image_statement("sha256:" + "ab" * 32))
    envelope = json.dumps(bundle["dsseEnvelope"]).encode()
    timestamp = json.dumps({"SignedRFC3161Timestamp": base64.b64encode(b"not a token").decode()})
    return [keyless, key_layer(ec.generate_private_key(ec.SECP256R1()), payload),
            (cosign.DSSE, envelope, {**keyless[2], cosign.ANNOTATION_SIGNATURE: "",
                                     cosign.ANNOTATION_RFC3161: timestamp})]


@cache
def layout_seeds() -> tuple[bytes, list[tuple[str, bytes]]]:
    """index.json of a layout with an image, a .sig and a v3 bundle referrer, and every manifest in it."""
    from airlock.formats import cosign
    from image_layouts import add_image, attach, attach_bundle, image_statement, keyless_layer, new_layout

    directory = tempfile.mkdtemp(prefix="airlock-fuzz-layout-")
    layout = new_layout(directory)
    image = add_image(layout, "app")
    attach(layout, image, [keyless_layer(instance(), cosign.simplesigning_payload("app", image))])
    attach_bundle(layout, image, instance().sign_blob(b"", content="dsse", statement=image_statement(image)),
                  "https://sigstore.dev/cosign/sign/v1")
    index = Path(directory, "index.json").read_bytes()
    manifests = [(item["mediaType"], layout.read_blob(item["digest"])) for item in layout.read_index()["manifests"]]
    return index, manifests


@cache
def key_seeds() -> list[bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from airlock.sign import keys

    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(65537, 2048)
    pem = serialization.Encoding.PEM
    return [
        keys.encrypt_private_key(p256, b"", n=32768),
        p256.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        p256.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()),
        rsa_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()),
        ed25519.Ed25519PrivateKey.generate().private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()),
        keys.public_key_pem(p256),
        *_read(list((CONFORMANCE / "bundle-verify").glob("*/key.pub"))),
    ]


def _pem_json(pem: bytes) -> Any:
    """The JSON inside an encrypted cosign key's PEM block, or None."""
    match = re.search(rb"-----BEGIN ([A-Z ]+)-----\n(.*?)-----END", pem, re.S)
    if not match or b"ENCRYPTED" not in match.group(1):
        return None
    return match.group(1).decode(), json.loads(base64.b64decode(match.group(2)))


@cache
def archive_seeds() -> list[bytes]:
    from airlock.trust import pack

    directory = tempfile.mkdtemp(prefix="airlock-fuzz-pack-")
    out = os.path.join(directory, "trust.tar.gz")
    pack.export(out, trusted_root_file=str(PRODUCTION_ROOT))
    files = {"metadata/root.json": b'{"signed": {}}', "targets/trusted_root.json": PRODUCTION_ROOT.read_bytes()}
    return [Path(out).read_bytes(), _archive(_manifest(files, "tuf-mirror"), files)]


def _manifest(files: dict[str, bytes], kind_: str = "trusted-root") -> dict:
    from airlock.trust import pack

    return {"format": pack.FORMAT, "kind": kind_, "files": [
        {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()]}


def _archive(manifest: dict | bytes, files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        manifest_bytes = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        for name, data in [("MANIFEST.json", manifest_bytes), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


# -- (1) bundles and legacy cosign bundles ---------------------------------------------------------

@given(data=st.deferred(lambda: inputs(bundle_seeds())))
def test_bundle_parser(data):
    from airlock.formats.bundle import parse_signature_file

    call("bundle", parse_signature_file, data.data)


@given(data=st.deferred(lambda: inputs([json.dumps(legacy_bundle()["rekorBundle"]).encode()])))
def test_legacy_rekor_bundle_parser(data):
    from airlock.formats.bundle import parse_legacy_rekor_bundle

    call("legacy-rekor-bundle", parse_legacy_rekor_bundle, data.data)


# -- (2) log entry bodies ---------------------------------------------------------------------------

@given(data=st.deferred(lambda: inputs(rekor_bodies())))
def test_rekor_body_parser(data):
    from airlock.formats.rekor import parse_body

    call("rekor-body", parse_body, data.data)


# -- (3) trusted roots ------------------------------------------------------------------------------

@given(data=st.deferred(lambda: inputs(trusted_root_seeds())))
def test_trusted_root_parser(data):
    from airlock.trust.trusted_root import TrustedRoot

    call("trusted-root", TrustedRoot.from_json, data.data)


# -- (4) cosign layers: payload, annotations --------------------------------------------------------

@st.composite
def layers(draw):
    from airlock.formats import cosign

    media_type, payload, annotations = draw(st.sampled_from(layer_seeds()))
    target = draw(st.sampled_from(["payload", "annotation", "annotation-json", "media-type"]))
    if target == "payload":
        payload = draw(raw_inputs([payload]))
    elif target == "media-type":
        media_type = draw(st.sampled_from([cosign.SIMPLESIGNING, cosign.DSSE, "", "x"]))
    else:
        annotations = dict(annotations)
        name = draw(st.sampled_from(sorted(annotations)))
        value = annotations[name]
        if target == "annotation-json" and value.startswith("{"):
            annotations[name] = draw(raw_inputs([value.encode()])).decode("utf-8", "replace")
        elif draw(st.booleans()):
            del annotations[name]
        else:
            annotations[name] = draw(st.text(max_size=64) | st.just(value).flatmap(
                lambda v: flipped(v.encode()).map(lambda b: b.decode("utf-8", "replace"))))
    return Blob(cosign.Layer(media_type, payload, annotations))


@given(layer=layers())
def test_cosign_layer_parser(layer):
    from airlock.formats.cosign import layer_material, parse_payload

    call("cosign-layer", layer_material, layer.data)
    call("cosign-payload", parse_payload, layer.data.payload)


# -- (5) OCI layouts: index.json and manifests -----------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_layout():
    from image_layouts import new_layout

    with tempfile.TemporaryDirectory(prefix="airlock-fuzz-oci-") as directory:
        yield new_layout(directory)


@given(data=st.deferred(lambda: inputs([layout_seeds()[0]])))
def test_oci_index_parser(fuzz_layout, data):
    Path(fuzz_layout.path, "index.json").write_bytes(data.data)
    call("oci-index", fuzz_layout.read_index)


@given(manifest=st.deferred(lambda: st.sampled_from(layout_seeds()[1]).flatmap(
    lambda item: st.tuples(st.just(item[0]), inputs([item[1]])))))
def test_oci_manifest_parser(fuzz_layout, manifest):
    media_type, data = manifest[0], manifest[1].data
    digest = fuzz_layout.write_blob(data)
    call("oci-manifest", fuzz_layout.read_manifest, {"mediaType": media_type, "digest": digest, "size": len(data)})


# -- (6) key files ----------------------------------------------------------------------------------

@st.composite
def key_files(draw):
    from airlock.sign import keys

    seed = draw(st.sampled_from(key_seeds()))
    inner = _pem_json(seed)
    if inner is not None and draw(st.booleans()):
        pem_type, document = inner
        return Blob(keys.pem_encode(pem_type, draw(mutated_json(document))))
    return draw(inputs([seed]))


@given(pem=key_files())
def test_key_file_parsers(pem):
    from airlock.crypto import load_public_key
    from airlock.sign import keys

    pem = pem.data
    call("key-pem-blocks", keys.pem_blocks, pem)
    call("public-key", load_public_key, pem)
    encrypted = call("cosign-key", keys.parse_encrypted_key, pem)
    if encrypted is not None and encrypted.n == 32768:  # scrypt at the cheapest parameters cosign writes
        call("cosign-key-decrypt", keys.decrypt, encrypted, b"")
    if not keys.is_encrypted_key(pem):
        call("private-key", keys.import_private_key, pem, "key", b"")


# -- (7) trust archives -----------------------------------------------------------------------------

@st.composite
def archives(draw):
    seed = draw(st.sampled_from(archive_seeds()))
    target = draw(st.sampled_from(["gzip", "tar", "manifest", "member"]))
    if target == "gzip":
        return draw(inputs([seed]))
    tar = gzip.decompress(seed)
    if target == "tar":
        return Blob(gzip.compress(draw(flipped(tar)), mtime=0))
    with tarfile.open(fileobj=io.BytesIO(seed), mode="r:gz") as archive:  # our own, benign seeds only
        files = {member.name: archive.extractfile(member).read() for member in archive}
    manifest = json.loads(files.pop("MANIFEST.json"))
    if target == "manifest":
        return Blob(_archive(draw(mutated_json(manifest)), files))
    name = draw(st.sampled_from(sorted(files)))
    files[draw(st.sampled_from([name, ".", "..", "a/", "/x", name + "/x", "x" * 200]))] = draw(st.binary(max_size=64))
    return Blob(_archive(manifest if draw(st.booleans()) else _manifest(files), files))


@given(archive=archives())
def test_trust_archive_reader(archive):
    from airlock.trust import pack

    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as handle:
        handle.write(archive.data)
        handle.flush()
        call("trust-archive", pack.read, handle.name)


# -- (8) verification of mutated real bundles ------------------------------------------------------

@cache
def passing_cases() -> list[dict]:
    return [c for c in conformance_cases() if c["expect"] == "pass"]


@cache
def verifier_for(trusted_root: str | None):
    from airlock.trust.trusted_root import TrustedRoot
    from airlock.verify.verifier import Verifier

    path = CONFORMANCE / "bundle-verify" / trusted_root if trusted_root else PRODUCTION_ROOT
    return Verifier(TrustedRoot.from_file(path))


def verify(case: dict, data: bytes) -> bool:
    """Whether ``data`` (the case's bundle, maybe mutated) verifies as the case says it should."""
    from airlock.artifact import Artifact
    from airlock.formats.bundle import parse_signature_file
    from airlock.verify.policy import Identity, Key

    base = CONFORMANCE / "bundle-verify"
    material = parse_signature_file(data)
    artifact = Artifact.from_path(base / case["artifact"])
    if "key" in case:
        key, policy = (base / case["key"]).read_bytes(), None
    else:
        key, policy = None, Identity(identity=case["identity"], issuer=case["issuer"])
    return verifier_for(case["trusted_root"]).verify(material, artifact, Key(key) if key else policy).ok


def test_every_passing_case_verifies_unmutated():
    for case in passing_cases():
        assert verify(case, (CONFORMANCE / "bundle-verify" / case["bundle"]).read_bytes()), case["name"]


@st.composite
def wrong_type_mutations(draw):
    case = draw(st.sampled_from(passing_cases()))
    document = json.loads((CONFORMANCE / "bundle-verify" / case["bundle"]).read_bytes())
    new, path, value = draw(replaced(document))
    original = get(document, path)
    return case, new, path, original, value


@given(mutation=wrong_type_mutations())
def test_a_wrong_type_field_never_verifies(mutation):
    case, document, path, original, value = mutation
    accepted = call("verify-mutated-bundle", verify, case, dumps(document))
    if accepted and wrong_type(original, value):
        pytest.fail(f"{case['name']}: {'.'.join(map(str, path))} = {value!r} (was {kind(original)}) still verifies")


def wrong_type_acceptances(cases: list[dict]) -> list[str]:
    """Every (case, path, replacement of another JSON type) that still verifies: the exhaustive list."""
    probes = [HUGE, 1e18, "x", [], {}, True]
    accepted = []
    for case in cases:
        document = json.loads((CONFORMANCE / "bundle-verify" / case["bundle"]).read_bytes())
        for path in paths(document):
            original = get(document, path)
            for value in probes:
                if not wrong_type(original, value):
                    continue
                new = copy.deepcopy(document)
                get(new, path[:-1])[path[-1]] = value
                if call("verify-mutated-bundle", verify, case, dumps(new)):
                    accepted.append(f"{case['name']}: {'.'.join(map(str, path))} = {value!r} (was {kind(original)})")
    return accepted


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE") != "long", reason="exhaustive: the long run only")
def test_no_wrong_type_field_verifies_exhaustively():
    accepted = wrong_type_acceptances(passing_cases())
    if os.environ.get("FUZZ_COUNTS"):
        Path(os.environ["FUZZ_COUNTS"] + ".wrong-type.txt").write_text("\n".join(accepted) + "\n")
    assert not accepted, f"{len(accepted)} wrong-type mutations still verify:\n" + "\n".join(accepted)


# -- what the fuzzer found: minimal reproducers, one per crash class --------------------------------
# Each was a crash (not an AirlockError), a hang, or a wrong-type field verified as if absent.

NESTED = "[" * 100_000 + "]" * 100_000


def _ed25519_log_with_numeric_base_url() -> bytes:
    """The staging trusted root with its Rekor v2 (Ed25519) log's baseUrl a number."""
    document = json.loads(STAGING_ROOT.read_bytes())
    log = next(t for t in document["tlogs"] if t["publicKey"].get("keyDetails") == "PKIX_ED25519")
    log["baseUrl"] = 1
    return json.dumps(document).encode()


def _found_inputs():
    from airlock.formats import bundle, cosign, rekor
    from airlock.sign import keys
    from airlock.trust.trusted_root import TrustedRoot

    signature = {cosign.ANNOTATION_SIGNATURE: "AAAA"}
    return [
        ("bundle-deep", bundle.parse_signature_file, NESTED.encode()),                      # bundle.py:50
        ("bundle-mediaType-object", bundle.parse_signature_file, b'{"mediaType": {}}'),     # bundle.py:65 TypeError
        ("bundle-mediaType-list", bundle.parse_signature_file, b'{"mediaType": []}'),       # bundle.py:65 TypeError
        ("legacy-rekor-bundle-deep", bundle.parse_legacy_rekor_bundle, NESTED.encode()),    # bundle.py:173
        ("rekor-body-deep", rekor.parse_body, NESTED.encode()),                             # rekor.py:37
        ("trusted-root-deep", TrustedRoot.from_json, NESTED.encode()),                      # trusted_root.py:158
        ("trusted-root-ed25519-baseUrl-number", TrustedRoot.from_json,                      # trusted_root.py:73
         _ed25519_log_with_numeric_base_url()),                                             # AttributeError
        ("cosign-payload-deep", cosign.parse_payload, NESTED.encode()),                     # cosign.py:82
        ("cosign-dsse-layer-deep", cosign.layer_material,                                   # cosign.py:113
         cosign.Layer(cosign.DSSE, NESTED.encode(), {cosign.ANNOTATION_SIGNATURE: ""})),
        ("cosign-rfc3161-annotation-deep", cosign.layer_material,                           # cosign.py:136
         cosign.Layer(cosign.SIMPLESIGNING, b"{}", {**signature, cosign.ANNOTATION_RFC3161: NESTED})),
        ("cosign-bundle-annotation-deep", cosign.layer_material,                            # bundle.py:173
         cosign.Layer(cosign.SIMPLESIGNING, b"{}", {**signature, cosign.ANNOTATION_BUNDLE: NESTED})),
        ("cosign-key-deep", keys.parse_encrypted_key,                                       # keys.py:315
         keys.pem_encode(keys.SIGSTORE_PEM_TYPE, NESTED.encode())),
    ]


@pytest.mark.parametrize("index", range(12), ids=lambda i: _found_inputs()[i][0])
def test_found_crash(index):
    name, function, data = _found_inputs()[index]
    call(name, function, data)


def test_pem_blocks_is_linear():
    """keys.pem_blocks: 44 KB of '-----BEGIN ' took 2.5 s, 220 KB 57 s (the BEGIN regex rescanned each line)."""
    import subprocess
    import sys

    program = "from airlock.sign import keys; keys.pem_blocks(b'-----BEGIN ' * 20000)"
    try:
        subprocess.run([sys.executable, "-c", program], timeout=CALL_LIMIT, check=True, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"keys.pem_blocks(b'-----BEGIN ' * 20000) takes more than {CALL_LIMIT} s")


WRONG_TYPE_FOUND = [  # (conformance case, path, value): each verified as if the field were absent
    ("happy-path-v0.1", ("verificationMaterial", "tlogEntries", 0, "inclusionProof", "checkpoint"), "x"),
    ("trust-root-tlog-validity-end-inclusive",
     ("verificationMaterial", "tlogEntries", 0, "inclusionProof", "checkpoint"), 1),
    ("intoto-with-custom-trust-root", ("verificationMaterial", "timestampVerificationData"), 1),
    ("managed-key-happy-path", ("verificationMaterial", "timestampVerificationData"), "x"),
    ("managed-key-happy-path", ("verificationMaterial", "publicKey"), 1),
    ("managed-key-and-trusted-root", ("verificationMaterial", "publicKey"), []),
    ("managed-key-happy-path", ("verificationMaterial", "publicKey", "hint"), 1),
    ("intoto-with-custom-trust-root", ("dsseEnvelope", "signatures", 0, "keyid"), {}),
]


@pytest.mark.parametrize("name,path,value", WRONG_TYPE_FOUND,
                         ids=[f"{n}:{'.'.join(map(str, p))}={v!r}" for n, p, v in WRONG_TYPE_FOUND])
def test_found_wrong_type_accepted(name, path, value):
    case = next(c for c in passing_cases() if c["name"] == name)
    document = json.loads((CONFORMANCE / "bundle-verify" / case["bundle"]).read_bytes())
    assert wrong_type(get(document, path), value)
    get(document, path[:-1])[path[-1]] = value
    assert not call("verify-mutated-bundle", verify, case, dumps(document))
