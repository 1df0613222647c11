"""Real conformance bundles, one value mutated at a time (issue 8).

For each sigstore-conformance bundle that verifies, every JSON value (objects and
lists too) is replaced by each of a number, a string, a list, an object, ``true``, a huge
integer and deep nesting, and the result is verified with the case's real trusted root through
the function ``verify-blob`` uses (``parse_signature_file`` then ``verify_material``). Two
properties must hold for every mutation:

- the only exception is an ``AirlockError`` (a reason), never an internal error;
- a mutation that changes a value's JSON type is never accepted: a wrong type is malformed input,
  not an absent field. The one legitimate exception is protojson's int64, which may be a
  number or a decimal string.

Every mutation runs in the suite (2,345 of them, about 1 s: most die at parsing);
``python tests/test_bundle_mutations.py`` prints the counts and any failures. ``mutate(sample=n)``
keeps one replacement in ``n`` per path, should the set of bundles ever grow too slow.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import CONFORMANCE, PRODUCTION_ROOT


def _passing_cases() -> tuple[str, ...]:
    path = CONFORMANCE / "cases.json"
    cases = json.loads(path.read_text())["cases"] if path.exists() else []
    return tuple(c["name"] for c in cases if c["expect"] == "pass")


CASES = _passing_cases()  # all 21 that verify: v0.1-v0.3, DSSE, managed keys, Rekor v2, TSAs


DEEP = 100_000  # past Python's recursion limit: json.loads itself would raise RecursionError
_DEEP_MARK = "\u0000airlock-deep-nesting\u0000"
_DEEP_TEXT = "[" * DEEP + "]" * DEEP


REPLACEMENTS: tuple[tuple[str, Any], ...] = (
    ("number", 7),
    ("string", "x"),
    ("list", []),
    ("object", {}),
    ("true", True),
    ("huge int", 10**40),
    ("deep nesting", [_DEEP_MARK]),  # a list; its text becomes 100,000 nested lists (see ``encode``)
)
_INT64_TEXT = re.compile(r"-?\d+")

Path_ = tuple[str | int, ...]


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "list", str: "string"}[type(value)]


def paths(value: Any, prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield prefix, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from paths(child, (*prefix, key))


def replaced(document: Any, path: Path_, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


def encode(document: Any) -> bytes:
    """The bundle as JSON text; the deep-nesting mark becomes 100,000 nested lists (``json.dumps``
    cannot write them: it recurses too)."""
    return json.dumps(document).replace(json.dumps([_DEEP_MARK]), _DEEP_TEXT).encode()


def changes_type(old: Any, new: Any) -> bool:
    """Whether protojson would read ``new`` as another JSON type than ``old``."""
    if json_kind(old) == json_kind(new):
        return False
    int64 = {json_kind(old), json_kind(new)} == {"string", "number"}
    return not (int64 and isinstance(old, str | int) and _INT64_TEXT.fullmatch(str(old))
                and isinstance(new, int | str) and _INT64_TEXT.fullmatch(str(new)))


class Case:
    """One conformance case: its bundle, artifact, trusted root and signer, loaded once."""

    def __init__(self, name: str) -> None:
        from airlock.artifact import Artifact
        from airlock.trust import TrustedRoot
        from airlock.verify.policy import Identity

        spec = next(c for c in json.loads((CONFORMANCE / "cases.json").read_text())["cases"] if c["name"] == name)
        base = CONFORMANCE / "bundle-verify"
        self.name = name
        self.document = json.loads((base / spec["bundle"]).read_text())
        self.trusted_root = TrustedRoot.from_file(base / spec["trusted_root"] if spec["trusted_root"]
                                                  else PRODUCTION_ROOT)
        self.artifact = Artifact.from_bytes((base / spec["artifact"]).read_bytes(), label=spec["artifact"])
        self.key = (base / spec["key"]).read_bytes() if "key" in spec else None
        self.policy = None if self.key else Identity(identity=spec["identity"], issuer=spec["issuer"])


def verify_like_the_cli(case: Case, data: bytes) -> None:
    """``verify-blob --bundle``: raises what the CLI would print, returns when it prints Verified OK."""
    from airlock.api.blobs import verify_material
    from airlock.formats.bundle import parse_signature_file
    from airlock.verify.policy import Key

    material = parse_signature_file(data)
    policy = Key(case.key) if case.key else case.policy
    verify_material(material, case.artifact, case.trusted_root, policy=policy).raise_for_failure()


Outcome = tuple[str, str, str, str]  # (case, path, replacement, result): result is "accepted",
#                                       "rejected" or "internal: <exception>"


def mutate(case: Case, verify: Callable[[Case, bytes], None], *, sample: int | None = None) -> Iterator[
        tuple[Path_, str, Any, Any, str]]:
    """Every (path, replacement) of ``case``, verified; ``sample=n`` tries one replacement in ``n`` per path
    (rotating, so every replacement is tried on some paths)."""
    from airlock.errors import AirlockError

    for number, (path, old) in enumerate(paths(case.document)):
        for index, (label, new) in enumerate(REPLACEMENTS):
            if sample and (number + index) % sample:
                continue
            data = encode(replaced(case.document, path, new))
            try:
                verify(case, data)
            except AirlockError:
                result = "rejected"
            except Exception as exc:  # what the CLI would print as "internal error"
                result = f"internal: {type(exc).__name__}: {str(exc)[:80]}"
            else:
                result = "accepted"
            yield path, label, old, new, result


def _run(names: tuple[str, ...], sample: int | None) -> tuple[Counter, list[str], list[str]]:
    counts: Counter = Counter()
    internal, accepted = [], []
    for name in names:
        case = Case(name)
        verify_like_the_cli(case, json.dumps(case.document).encode())  # the unmutated bundle verifies
        for path, label, old, new, result in mutate(case, verify_like_the_cli, sample=sample):
            counts["mutations"] += 1
            where = f"{name}: {'.'.join(map(str, path)) or '(root)'} <- {label}"
            if result.startswith("internal"):
                counts["internal"] += 1
                internal.append(f"{where}: {result}")
            elif result == "accepted" and changes_type(old, new):
                counts["accepted with a wrong type"] += 1
                accepted.append(where)
            else:
                counts[result] += 1
    return counts, internal, accepted


@pytest.mark.parametrize("name", CASES or ["(no conformance cases)"])
def test_mutated_conformance_bundle(name):
    if not CASES:
        pytest.skip("needs ../shared/fixtures/sigstore-conformance")
    counts, internal, accepted = _run((name,), None)
    assert counts["mutations"] > 20
    assert not internal, "\n".join(internal[:20])
    assert not accepted, "\n".join(accepted[:20])


def _count(outcomes: Iterator[tuple[Path_, str, Any, Any, str]]) -> tuple[int, list[str], list[str]]:
    total, internal, accepted = 0, [], []
    for path, label, old, new, result in outcomes:
        total += 1
        where = f"{'.'.join(map(str, path)) or '(root)'} <- {label}"
        if result.startswith("internal"):
            internal.append(f"{where}: {result}")
        elif result == "accepted" and changes_type(old, new):
            accepted.append(where)
    return total, internal, accepted


@pytest.mark.parametrize("name", ["happy-path-v0.3", "rekor2-happy-path", "intoto-with-custom-trust-root"])
def test_mutated_trusted_root(name):
    """The same mutations of the case's trusted root (a file an operator copies in by hand)."""
    from airlock.trust import TrustedRoot

    if name not in CASES:
        pytest.skip("needs ../shared/fixtures/sigstore-conformance")
    case = Case(name)
    spec = next(c for c in json.loads((CONFORMANCE / "cases.json").read_text())["cases"] if c["name"] == name)
    root = json.loads(((CONFORMANCE / "bundle-verify" / spec["trusted_root"]) if spec["trusted_root"]
                       else PRODUCTION_ROOT).read_text())
    bundle = json.dumps(case.document).encode()

    class Root:  # mutate() mutates ``document``: here the trusted root, and the bundle stays
        document = root

    def verify(_: Case, data: bytes) -> None:
        case.trusted_root = TrustedRoot.from_json(data)
        verify_like_the_cli(case, bundle)

    total, internal, accepted = _count(mutate(Root, verify))  # type: ignore[arg-type]
    assert total > 200
    assert not internal, "\n".join(internal[:20])
    assert not accepted, "\n".join(accepted[:20])


def test_mutated_legacy_cosign_bundle():
    """cosign's legacy --bundle file (Go encoding/json: int64 are numbers, keys any case)."""
    from airlock.artifact import Artifact
    from airlock.formats.bundle import parse_signature_file
    from airlock.testing import DEFAULT_IDENTITY, DEFAULT_ISSUER, SigstoreInstance
    from airlock.trust import TrustedRoot
    from airlock.verify.policy import Identity
    from airlock.verify.verifier import Verifier

    inst = SigstoreInstance()
    data = b"legacy\n"
    legacy = inst.sign_blob_legacy(data)
    root = TrustedRoot.from_json(json.dumps(inst.trusted_root()))
    policy = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)

    class Legacy:
        document = legacy

    def verify(_: Case, text: bytes) -> None:
        material = parse_signature_file(text)
        Verifier(root, clock=inst.clock).verify(material, Artifact.from_bytes(data), policy=policy).raise_for_failure()

    verify(Legacy, json.dumps(legacy).encode())  # type: ignore[arg-type]
    total, internal, accepted = _count(mutate(Legacy, verify))  # type: ignore[arg-type]
    assert total > 50
    assert not internal, "\n".join(internal[:20])
    assert not accepted, "\n".join(accepted[:20])


def test_changes_type():
    assert changes_type("123", {}) and changes_type({}, 7) and changes_type("x", True)
    assert not changes_type("123", 7) and not changes_type("x", "y") and not changes_type(7, 10**40)
    assert changes_type("abc", 7)  # a string that is not an int64 is not a number


if __name__ == "__main__":  # the full run: python tests/test_bundle_mutations.py
    import time

    started = time.monotonic()
    counts, internal, accepted = _run(CASES, None)
    print(dict(counts), f"{time.monotonic() - started:.1f} s")
    for line in internal + [f"ACCEPTED {a}" for a in accepted]:
        print(line)
