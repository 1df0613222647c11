"""RFC 6962 / RFC 9162 Merkle tree proofs (FORMATS.md 7.1-7.2).

Inclusion proofs show that a log entry is in the tree whose root a checkpoint signs;
consistency proofs show that one tree is an append-only extension of another. Both are pure
functions over 32-byte SHA-256 hashes and return nothing: they raise ``ProofError`` saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32


class ProofError(ValueError):
    """A Merkle proof does not prove what it claims."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hashes(*values: bytes) -> None:
    for value in values:
        if len(value) != HASH_SIZE:
            raise ProofError(f"a hash is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` (a leaf hash) at ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}")
    _check_hashes(leaf, *proof)
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise ProofError(f"the proof has {len(proof)} hashes, a tree of size {size} needs {inner + border}")
    node = leaf
    for level in range(inner):
        sibling = proof[level]
        node = node_hash(node, sibling) if (index >> level) & 1 == 0 else node_hash(sibling, node)
    for sibling in proof[inner:]:
        node = node_hash(sibling, node)
    return node


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    _check_hashes(root)
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the expected root hash")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 section 2.1.4.2: the tree of ``size2`` extends the tree of ``size1``."""
    _check_hashes(root1, root2, *proof)
    if size1 <= 0:
        raise ProofError("consistency with an empty tree proves nothing")
    if size2 < size1:
        raise ProofError(f"size {size2} is smaller than {size1}")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but different root hashes")
        return
    if not proof:
        raise ProofError("an empty consistency proof for different sizes")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is the first node
        path.insert(0, root1)
    first, second = size1 - 1, size2 - 1
    while first & 1:
        first >>= 1
        second >>= 1
    first_root = second_root = path[0]
    for node in path[1:]:
        if second == 0:
            raise ProofError("the consistency proof is too long")
        if first & 1 or first == second:
            first_root = node_hash(node, first_root)
            second_root = node_hash(node, second_root)
            if not first & 1:
                while not (first & 1) and first != 0:
                    first >>= 1
                    second >>= 1
        else:
            second_root = node_hash(second_root, node)
        first >>= 1
        second >>= 1
    if second != 0:
        raise ProofError("the consistency proof is too short")
    if first_root != root1:
        raise ProofError("the consistency proof does not lead to the first root")
    if second_root != root2:
        raise ProofError("the consistency proof does not lead to the second root")
