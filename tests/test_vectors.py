"""Third-party test vectors for Merkle proofs and signed checkpoints (../shared/fixtures/vectors).

- merkle/inclusion, merkle/consistency: transparency-dev/merkle testdata (RFC 6962 / RFC 9162 proofs).
- merkle/subtreeinclusion, merkle/subtreeconsistency: the same for subtrees [start, end)
  (Merkle Tree Certificates subtree proofs).
- checkpoint/checkpoints.json: C2SP signed notes (Rekor ECDSA, Go sumdb Ed25519).
- rekor/rekor-verify-inclusion.json: Rekor's own inclusion test cases.

Each vector file (or each case of a multi-case JSON file) is its own test. A vector that must fail
must raise the module's own error; one that must pass must raise nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from airlock.crypto import PublicKey, load_public_key
from airlock.errors import CheckpointError, ProofError
from airlock.verify import checkpoint, merkle

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VECTORS = SHARED / "fixtures" / "vectors"
MISSING = f"needs the test vectors in {VECTORS} (../shared is not beside the checkout)"


def _skip(what: str) -> list:
    return [pytest.param(None, id=f"{what}-missing", marks=pytest.mark.skip(reason=MISSING))]


def _files(family: str) -> list:
    """One parameter per JSON file under merkle/<family>, id'd by its path inside the family."""
    folder = VECTORS / "merkle" / family
    if not SHARED.exists():
        return _skip(family)
    files = sorted(folder.rglob("*.json"))
    if not files:  # ../shared is there but the vectors are not: say so rather than test nothing
        return [pytest.param(folder, id=f"{family}-empty")]
    return [pytest.param(path, id=path.relative_to(folder).as_posix()) for path in files]


def _cases(relative: str, key: str) -> list:
    """One parameter per case in a multi-case JSON file, id'd by the case name."""
    path = VECTORS / relative
    if not SHARED.exists():
        return _skip(Path(relative).stem)
    if not path.exists():
        return [pytest.param(path, id=f"{Path(relative).stem}-missing")]
    return [pytest.param(case, id=case["name"]) for case in json.loads(path.read_text())[key]]


def _load(path: Path) -> dict:
    assert path.is_file(), f"no vector files in {path}"
    return json.loads(path.read_text())


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(vector: dict) -> list[bytes]:
    return [_b64(h) for h in vector["proof"] or []]  # "proof": null means no hashes


def _expect(want_err: bool, check, *args) -> None:
    if want_err:
        with pytest.raises(ProofError):
            check(*args)
    else:
        check(*args)  # any exception fails the test


# --- RFC 6962 / RFC 9162 proofs ----------------------------------------------------------------

@pytest.mark.parametrize("path", _files("inclusion"))
def test_inclusion(path: Path) -> None:
    v = _load(path)
    _expect(v["wantErr"], merkle.verify_inclusion,
            v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v), _b64(v["root"]))


@pytest.mark.parametrize("path", _files("consistency"))
def test_consistency(path: Path) -> None:
    v = _load(path)
    _expect(v["wantErr"], merkle.verify_consistency,
            v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), _proof(v))


# --- subtree proofs ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", _files("subtreeinclusion"))
def test_subtree_inclusion(path: Path) -> None:
    v = _load(path)
    _expect(v["wantErr"], merkle.verify_subtree_inclusion,
            v["leafIdx"], v["start"], v["end"], _b64(v["leafHash"]), _proof(v), _b64(v["root"]))


@pytest.mark.parametrize("path", _files("subtreeconsistency"))
def test_subtree_consistency(path: Path) -> None:
    v = _load(path)
    _expect(v["wantErr"], merkle.verify_subtree_consistency,
            v["start"], v["end"], v["size"], _b64(v["root1"]), _b64(v["root2"]), _proof(v))


# The subtree-consistency vectors only have happy paths for start == 0. These proof shapes for
# start > 0 come from transparency-dev/merkle proof/proof_test.go (TestSubtreeConsistency), with its
# node IDs written as the leaf ranges [a, b) whose hash (MTH(D[a:b])) each proof entry is.
UPSTREAM_SHAPES = {
    (1, 2, 3): [(0, 1), (2, 3)],
    (1, 2, 5): [(0, 1), (2, 4), (4, 5)],
    (2, 4, 5): [(0, 2), (4, 5)],
    (1, 2, 7): [(0, 1), (2, 4), (4, 7)],
    (2, 4, 10): [(0, 2), (4, 8), (8, 10)],
    (4, 6, 10): [(6, 8), (0, 4), (8, 10)],
    (4, 7, 11): [(6, 7), (7, 8), (4, 6), (0, 4), (8, 11)],
    (4, 8, 11): [(0, 4), (8, 11)],
    (8, 13, 15): [(12, 13), (13, 14), (14, 15), (8, 12), (0, 8)],
    (8, 14, 15): [(12, 14), (14, 15), (8, 12), (0, 8)],
    (8, 14, 16): [(12, 14), (14, 16), (8, 12), (0, 8)],
    (8, 15, 16): [(14, 15), (15, 16), (12, 14), (8, 12), (0, 8)],
    (2, 4, 6): [(0, 2), (4, 6)],
    (4, 7, 9): [(6, 7), (7, 8), (4, 6), (0, 4), (8, 9)],
    (2, 3, 9): [(3, 4), (0, 2), (4, 8), (8, 9)],
    (16, 26, 31): [(24, 26), (26, 28), (28, 31), (16, 24), (0, 16)],
    (1, 2, 2): [(0, 1)],
    (3, 4, 4): [(2, 3), (0, 2)],
    (5, 6, 6): [(4, 5), (0, 4)],
    (2, 3, 3): [(0, 2)],
    (4, 7, 7): [(0, 4)],
    (7, 8, 8): [(6, 7), (4, 6), (0, 4)],
}


def _leaves(size: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, straight from the definition."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


@pytest.mark.parametrize(("start", "end", "size"), list(UPSTREAM_SHAPES), ids=lambda x: str(x))
def test_subtree_consistency_upstream_shapes(start: int, end: int, size: int) -> None:
    leaves = _leaves(size)
    proof = [_mth(leaves[a:b]) for a, b in UPSTREAM_SHAPES[start, end, size]]
    sub, root = _mth(leaves[start:end]), _mth(leaves)
    merkle.verify_subtree_consistency(start, end, size, sub, root, proof)
    with pytest.raises(ProofError):
        merkle.verify_subtree_consistency(start, end, size, sub, root, proof[:-1])
    with pytest.raises(ProofError):  # another subtree hash
        merkle.verify_subtree_consistency(start, end, size, merkle.node_hash(sub, sub), root, proof)
    with pytest.raises(ProofError):  # another tree root
        merkle.verify_subtree_consistency(start, end, size, sub, merkle.node_hash(root, root), proof)


def _subtree_proof(start: int, end: int, leaves: list[bytes], known: bool = True) -> list[bytes]:
    """The subtree consistency proof, by the recursive definition (RFC 9162 2.1.4.1 generalised)."""
    if start == 0 and end == len(leaves):
        return [] if known else [_mth(leaves)]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if end <= k:
        return [*_subtree_proof(start, end, leaves[:k], known), _mth(leaves[k:])]
    if start >= k:
        return [*_subtree_proof(start - k, end - k, leaves[k:], known), _mth(leaves[:k])]
    return [*_subtree_proof(0, end - k, leaves[k:], False), _mth(leaves[:k])]


def test_subtree_consistency_every_small_subtree() -> None:
    """Every subtree of trees up to 24 leaves: the proof verifies, and each altered hash is caught."""
    checked = 0
    for size in range(1, 25):
        leaves = _leaves(size)
        root = _mth(leaves)
        for start in range(size):
            for end in range(start + 1, size + 1):
                try:
                    merkle.check_subtree(start, end)
                except ProofError:
                    continue
                sub = _mth(leaves[start:end])
                proof = _subtree_proof(start, end, leaves)
                merkle.verify_subtree_consistency(start, end, size, sub, root, proof)
                for i in range(len(proof)):
                    bad = [*proof[:i], bytes([proof[i][0] ^ 1]) + proof[i][1:], *proof[i + 1:]]
                    with pytest.raises(ProofError):
                        merkle.verify_subtree_consistency(start, end, size, sub, root, bad)
                if start == 0 and 0 < end < size:  # the RFC 9162 case must agree with verify_consistency
                    merkle.verify_consistency(end, size, sub, root, proof)
                checked += 1
    assert checked > 500


# --- signed checkpoints ------------------------------------------------------------------------

def _verifier_key(text: str) -> tuple[str, bytes, PublicKey]:
    """``name+hint+base64(type || key)``: 0x01 Ed25519 raw key, 0x02 ECDSA DER SubjectPublicKeyInfo."""
    name, hint_hex, material_b64 = text.split("+", 2)
    hint, material = bytes.fromhex(hint_hex), _b64(material_b64)
    kind, raw = material[0], material[1:]
    if kind == 0x01:
        key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        derived = hashlib.sha256(name.encode() + b"\n" + material).digest()[:4]
    elif kind == 0x02:
        key = load_public_key(raw)
        derived = hashlib.sha256(raw).digest()[:4]
    else:
        raise AssertionError(f"unknown verifier key type {kind:#04x}")
    assert hint == derived, f"the verifier key's hint {hint_hex} is not the one its key implies"
    return name, hint, key


def _is_checkpoint(note: str) -> bool:
    """Whether the signed text has a checkpoint's first three lines (origin, decimal size, root hash)."""
    lines = note.partition("\n\n")[0].split("\n")
    return len(lines) >= 3 and lines[1].isdigit()


def _plain_note(note: str) -> checkpoint.Checkpoint:
    """A signed note that is not a checkpoint (the Go sumdb vector), as ``checkpoint.verify`` takes it.

    ``checkpoint.parse`` only accepts checkpoint bodies, so this splits the note by hand: the signed
    text, then ``\u2014 <name> <base64(hint || signature)>`` lines. Only ``text`` and ``signatures``
    matter to ``checkpoint.verify``.
    """
    text, _, block = note.partition("\n\n")
    signatures = []
    for line in block.splitlines():
        assert line.startswith("\u2014 "), f"not a signature line: {line!r}"
        signer, blob = line[2:].split(" ")
        raw = _b64(blob)
        signatures.append((signer, raw[:4], raw[4:]))
    return checkpoint.Checkpoint(origin="", size=0, root_hash=b"", extensions=(),
                                 text=(text + "\n").encode(), signatures=tuple(signatures))


@pytest.mark.parametrize("case", _cases("checkpoint/checkpoints.json", "vectors"))
def test_checkpoint(case: dict | Path) -> None:
    assert isinstance(case, dict), f"missing {case}"
    name, hint, key = _verifier_key(case["verifier_key"])
    note = case["note"]
    if not _is_checkpoint(note):
        # A generic signed note: airlock must refuse it as a checkpoint, but its signature is
        # checked with the same code a checkpoint's is.
        with pytest.raises(CheckpointError, match="a tree size and a root hash"):
            checkpoint.parse(note)
        assert case["want_valid"], "no invalid plain-note vectors are expected"
        checkpoint.verify(_plain_note(note), key, hint, name=name)
        tampered = _plain_note(note.replace("problem", "problems", 1))
        with pytest.raises(CheckpointError):
            checkpoint.verify(tampered, key, hint, name=name)
    elif case["want_valid"]:
        checkpoint.verify(checkpoint.parse(note), key, hint, name=name)
    else:
        with pytest.raises(CheckpointError):  # parse may already reject it (a non-base64 signature)
            checkpoint.verify(checkpoint.parse(note), key, hint, name=name)


# --- Rekor inclusion ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", _cases("rekor/rekor-verify-inclusion.json", "cases"))
def test_rekor_inclusion(case: dict | Path) -> None:
    assert isinstance(case, dict), f"missing {case}"
    leaf = merkle.leaf_hash(_b64(case["body"]))
    _expect(not case["want_valid"], merkle.verify_inclusion, case["logIndex"], case["treeSize"], leaf,
            [bytes.fromhex(h) for h in case["hashes"]], bytes.fromhex(case["rootHash"]))
