"""RFC 6962 / RFC 9162 Merkle tree proofs (FORMATS.md 7.1-7.2).

Inclusion proofs show that a log entry is in the tree whose root a checkpoint signs;
consistency proofs show that one tree is an append-only extension of another. Both are pure
functions over 32-byte SHA-256 hashes and return nothing: they raise ``ProofError`` saying why.

Subtree proofs (Merkle Tree Certificates, draft-ietf-plants-merkle-tree-certs; transparency-dev/merkle
``VerifySubtreeInclusion`` / ``VerifySubtreeConsistency``) generalise both to a *subtree*: the leaves
``[start, end)`` of a tree, where ``start`` is a multiple of the smallest power of two >= ``end - start``.
Such a range hashes like a tree of its own (``MTH(D[start:end])``), and a consistency proof from
``[0, size1)`` is the RFC 9162 consistency proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from airlock.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH of the empty tree (RFC 9162 section 2.1.1)


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
    if size1 <= 0:
        raise ProofError("consistency with an empty tree proves nothing")
    if size2 < size1:
        raise ProofError(f"size {size2} is smaller than {size1}")
    if size1 == size2:  # nothing is hashed: the claim is only that the two roots are the same
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but different root hashes")
        return
    _check_hashes(root1, root2, *proof)
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


def check_subtree(start: int, end: int) -> None:
    """Raise unless ``[start, end)`` is a subtree: ``start`` is a multiple of BIT_CEIL(end - start).

    Such a range is the left part of one aligned, perfect block of ``BIT_CEIL(end - start)`` leaves,
    so it hashes like a tree of its own (it is a node of the trees whose size is ``end``, and of
    every larger tree when ``end - start`` is a power of two). The empty range is a subtree.
    """
    if start < 0 or end < start:
        raise ProofError(f"[{start}, {end}) is not a range of leaves")
    if start == end:
        return
    block = 1 << (end - start - 1).bit_length()  # BIT_CEIL(end - start)
    if start % block:
        raise ProofError(f"[{start}, {end}) is not a subtree: {start} is not a multiple of {block}")


def verify_subtree_inclusion(index: int, start: int, end: int, leaf: bytes, proof: Sequence[bytes],
                             subtree_root: bytes) -> None:
    """``leaf`` (a leaf hash) is entry ``index`` of the subtree ``[start, end)`` whose hash is ``subtree_root``.

    The subtree hashes like a tree of ``end - start`` leaves, so this is an ordinary inclusion proof
    for entry ``index - start`` of that tree.
    """
    check_subtree(start, end)
    if not start <= index < end:
        raise ProofError(f"index {index} is outside the subtree [{start}, {end})")
    _check_hashes(subtree_root)
    if root_from_inclusion_proof(index - start, end - start, leaf, proof) != subtree_root:
        raise ProofError("the subtree inclusion proof does not lead to the subtree's hash")


# How the subtree sits inside each node on the way down from the root of the tree (see below).
_IN_LEFT, _IN_RIGHT, _SPLIT = "left", "right", "split"


def root_from_subtree_consistency_proof(start: int, end: int, size: int, subtree_root: bytes,
                                        proof: Sequence[bytes]) -> bytes:
    """The root of the tree of ``size`` that ``proof`` implies, checking it also rebuilds ``subtree_root``.

    The proof follows the recursive definition (RFC 9162 section 2.1.4.1 with a subtree in place of
    the prefix ``[0, m)``). Walking down from the root, with k the largest power of two below the
    current node's size, the subtree lies in the left child (the proof adds that node's right child
    hash), in the right child (it adds the left child hash), or, only when the subtree starts at 0,
    across both: then the left child ``[0, k)`` is part of the subtree and its hash is needed for the
    subtree hash too, and the subtree hash is no longer a node of the tree. The walk stops at the
    node that covers exactly the rest of the subtree: if that is the whole subtree its hash is known
    and not in the proof; otherwise the proof starts with it. Hashes run from the bottom up.
    """
    check_subtree(start, end)
    if start == end:
        raise ProofError("an empty subtree does not determine a tree root")
    if end > size:
        raise ProofError(f"the subtree [{start}, {end}) does not fit in a tree of size {size}")
    steps = []  # from the root downwards
    known = True  # whether the node we reach is the whole subtree (its hash is subtree_root)
    lo, hi, width = start, end, size  # the subtree, relative to the current node of ``width`` leaves
    while not (lo == 0 and hi == width):
        k = 1 << ((width - 1).bit_length() - 1)
        if hi <= k:
            steps.append(_IN_LEFT)
            width = k
        elif lo >= k:
            steps.append(_IN_RIGHT)
            lo, hi, width = lo - k, hi - k, width - k
        else:
            if lo != 0:  # ruled out by check_subtree: a subtree crossing k starts at 0
                raise ProofError(f"[{start}, {end}) is not a subtree")
            steps.append(_SPLIT)
            hi, width = hi - k, width - k
            known = False
    want = len(steps) + (0 if known else 1)
    if len(proof) != want:
        raise ProofError(f"the proof has {len(proof)} hashes, [{start}, {end}) in a tree of size {size} "
                         f"needs {want}")
    _check_hashes(subtree_root, *proof)
    if known:
        old = new = subtree_root
        siblings = list(proof)
    else:
        old = new = proof[0]
        siblings = list(proof[1:])
    for step, sibling in zip(reversed(steps), siblings, strict=True):
        if step == _IN_LEFT:
            new = node_hash(new, sibling)
        elif step == _IN_RIGHT:
            new = node_hash(sibling, new)
        else:
            old = node_hash(sibling, old)
            new = node_hash(sibling, new)
    if old != subtree_root:
        raise ProofError("the subtree consistency proof does not lead to the subtree's hash")
    return new


def verify_subtree_consistency(start: int, end: int, size: int, subtree_root: bytes, root: bytes,
                               proof: Sequence[bytes]) -> None:
    """The subtree ``[start, end)`` with hash ``subtree_root`` is part of the tree of ``size`` with ``root``.

    Edge cases, as transparency-dev/merkle decides them: an empty subtree (``start == end <= size``)
    needs an empty proof and the empty-tree hash, and says nothing about ``root``; the whole tree
    (``[0, size)``) needs an empty proof and ``subtree_root == root``.
    """
    check_subtree(start, end)
    if end > size:
        raise ProofError(f"the subtree [{start}, {end}) does not fit in a tree of size {size}")
    if start == end:
        if proof:
            raise ProofError("an empty subtree needs an empty proof")
        if subtree_root != EMPTY_ROOT:
            raise ProofError("an empty subtree's hash must be the empty tree hash")
        return
    if start == 0 and end == size:
        if proof:
            raise ProofError("the subtree is the whole tree: the proof must be empty")
        if subtree_root != root:
            raise ProofError("the subtree is the whole tree but the hashes differ")
        return
    _check_hashes(root)
    if root_from_subtree_consistency_proof(start, end, size, subtree_root, proof) != root:
        raise ProofError("the subtree consistency proof does not lead to the expected root hash")
