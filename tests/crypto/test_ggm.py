"""GGM trees: vectorized expansion against a node-by-node reference, and puncturing."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.exceptions import MalformedInputError
from crypto.ggm import MAX_DEPTH, expand_trees, punctured_leaves

KEY = hashlib.sha256(b"test ggm key").digest()
# The key schedule is part of the protocol: both parties must derive the same AES keys.
LABEL = b"vfl-engine/crypto.ggm/prg-keys/v1"


def _budget(factor: float) -> settings:
    return settings(max_examples=max(1, round(settings.default.max_examples * factor)))


def _aes_block(aes_key: bytes, block: int) -> int:
    encryptor = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()
    out = encryptor.update(block.to_bytes(16, "little")) + encryptor.finalize()
    return int.from_bytes(out, "little")


def _reference_tree(root: int, depth: int, key: bytes) -> list[list[int]]:
    """Every level of one tree (level 0 = [root]) as Python ints, one node at a time."""
    digest = hashlib.sha256(LABEL + key).digest()
    k0, k1 = digest[:16], digest[16:]

    @cache
    def node(level: int, index: int) -> int:
        if level == 0:
            return root
        parent = node(level - 1, index >> 1)
        aes_key = k1 if index & 1 else k0
        return _aes_block(aes_key, parent) ^ parent

    return [[node(level, j) for j in range(2**level)] for level in range(depth + 1)]


def _as_int(pair: np.ndarray) -> int:
    return int(pair[0]) | (int(pair[1]) << 64)


def _as_pairs(values: list[int]) -> np.ndarray:
    return np.array([[v % 2**64, v >> 64] for v in values], dtype=np.uint64).reshape(-1, 2)


def _off_path_sums(level_sums: np.ndarray, alphas: np.ndarray, depth: int) -> np.ndarray:
    """``level_sums[i, l - 1, 1 - bit_l(alpha_i)]`` with a plain loop."""
    trees = len(alphas)
    out = np.zeros((trees, depth, 2), dtype=np.uint64)
    for i in range(trees):
        for level in range(1, depth + 1):
            bit = (int(alphas[i]) >> (depth - level)) & 1
            out[i, level - 1] = level_sums[i, level - 1, 1 - bit]
    return out


roots_and_depth = st.integers(1, 6).flatmap(
    lambda depth: st.tuples(
        st.just(depth), st.lists(st.integers(0, 2**128 - 1), min_size=0, max_size=4)
    )
)


# --- expansion ----------------------------------------------------------------------------


@_budget(0.5)
@given(roots_and_depth)
def test_expansion_equals_node_by_node_reference(depth_and_roots):
    depth, roots = depth_and_roots
    leaves, level_sums = expand_trees(_as_pairs(roots), depth, KEY)
    assert leaves.dtype == level_sums.dtype == np.uint64
    assert leaves.shape == (len(roots), 2**depth, 2)
    assert level_sums.shape == (len(roots), depth, 2, 2)
    for i, root in enumerate(roots):
        levels = _reference_tree(root, depth, KEY)
        assert [_as_int(leaf) for leaf in leaves[i]] == levels[depth]
        for level in range(1, depth + 1):
            for side in (0, 1):
                expected = 0
                for node in levels[level][side::2]:
                    expected ^= node
                assert _as_int(level_sums[i, level - 1, side]) == expected


def test_known_answer_depth_one():
    # One tree, root 0: the children are AES_{k0}(0) and AES_{k1}(0) (0 XOR anything = itself).
    digest = hashlib.sha256(LABEL + KEY).digest()
    leaves, sums = expand_trees(np.zeros((1, 2), dtype=np.uint64), 1, KEY)
    assert _as_int(leaves[0, 0]) == _aes_block(digest[:16], 0)
    assert _as_int(leaves[0, 1]) == _aes_block(digest[16:], 0)
    assert (sums[0, 0] == leaves[0]).all()


def test_leaf_order_is_msb_first():
    # Leaf 0b011 of depth 3: left, right, right from the root.
    roots = _as_pairs([123456789])
    leaves, _ = expand_trees(roots, 3, KEY)
    left, _ = expand_trees(roots, 1, KEY)
    left_right, _ = expand_trees(left[:, :1].reshape(1, 2).copy(), 1, KEY)
    left_right_right, _ = expand_trees(left_right[:, 1:].reshape(1, 2).copy(), 1, KEY)
    assert (leaves[0, 0b011] == left_right_right[0, 1]).all()


def test_deterministic_and_key_separated():
    roots = np.frombuffer(secrets.token_bytes(16 * 5), dtype=np.uint64).reshape(5, 2)
    first = expand_trees(roots, 5, KEY)
    second = expand_trees(roots.copy(), 5, KEY)
    assert (first[0] == second[0]).all() and (first[1] == second[1]).all()
    other = expand_trees(roots, 5, KEY[:-1] + bytes([KEY[-1] ^ 1]))
    assert not np.any(np.all(first[0] == other[0], axis=-1))
    # Each tree depends on its own root only, and the trees are not all alike.
    alone = expand_trees(roots[2:3].copy(), 5, KEY)
    assert (alone[0][0] == first[0][2]).all()
    assert len({leaves.tobytes() for leaves in first[0]}) == 5
    # All 5 * 32 leaves are distinct 128-bit values.
    assert len({leaf.tobytes() for leaf in first[0].reshape(-1, 2)}) == 5 * 32


def test_non_contiguous_roots():
    roots = np.frombuffer(secrets.token_bytes(16 * 6), dtype=np.uint64).reshape(6, 2)
    leaves, sums = expand_trees(roots[::2], 4, KEY)
    expected_leaves, expected_sums = expand_trees(roots[::2].copy(), 4, KEY)
    assert (leaves == expected_leaves).all() and (sums == expected_sums).all()


# --- puncturing ---------------------------------------------------------------------------


@st.composite
def punctured_case(draw):
    depth = draw(st.integers(1, 7))
    trees = draw(st.integers(0, 5))
    roots = draw(st.lists(st.integers(0, 2**128 - 1), min_size=trees, max_size=trees))
    alphas = draw(st.lists(st.integers(0, 2**depth - 1), min_size=trees, max_size=trees))
    return depth, roots, alphas


@_budget(1)
@given(punctured_case())
def test_punctured_equals_expanded_except_at_alpha(case):
    depth, roots, alpha_list = case
    alphas = np.array(alpha_list, dtype=np.int64)
    leaves, level_sums = expand_trees(_as_pairs(roots), depth, KEY)
    rebuilt = punctured_leaves(alphas, _off_path_sums(level_sums, alphas, depth), depth, KEY)
    assert rebuilt.dtype == np.uint64 and rebuilt.shape == leaves.shape
    for i, alpha in enumerate(alpha_list):
        for j in range(2**depth):
            if j == alpha:
                assert rebuilt[i, j].tolist() == [0, 0]
            else:
                assert rebuilt[i, j].tolist() == leaves[i, j].tolist()


def test_punctured_many_trees_at_every_point_of_a_small_tree():
    depth = 4
    roots = np.frombuffer(secrets.token_bytes(16 * 16), dtype=np.uint64).reshape(16, 2)
    alphas = np.arange(16, dtype=np.int64)  # tree i punctured at leaf i
    leaves, level_sums = expand_trees(roots, depth, KEY)
    rebuilt = punctured_leaves(alphas, _off_path_sums(level_sums, alphas, depth), depth, KEY)
    mask = ~np.eye(16, dtype=bool)
    assert (rebuilt[mask] == leaves[mask]).all()
    assert (rebuilt[~mask] == 0).all()


def test_punctured_larger_trees_and_any_integer_dtype():
    depth, trees = 10, 30
    roots = np.frombuffer(secrets.token_bytes(16 * trees), dtype=np.uint64).reshape(trees, 2)
    alphas = np.frombuffer(secrets.token_bytes(2 * trees), dtype=np.uint16) % 2**depth
    leaves, level_sums = expand_trees(roots, depth, KEY)
    sums = _off_path_sums(level_sums, alphas, depth)
    rebuilt = punctured_leaves(alphas, sums, depth, KEY)
    assert (rebuilt == punctured_leaves(alphas.astype(np.int64), sums, depth, KEY)).all()
    mask = np.ones((trees, 2**depth), dtype=bool)
    mask[np.arange(trees), alphas] = False
    assert (rebuilt[mask] == leaves[mask]).all()
    assert (rebuilt[~mask] == 0).all()


def test_wrong_sibling_sum_changes_the_rebuilt_subtree():
    # The receiver's leaves depend on what the OT delivered: flipping one bit of the
    # level-l sum changes the off-path node at level l and, through the sums of the
    # deeper levels, every off-path node below p_(l-1): all leaves under p_(l-1),
    # and no other.
    depth = 5
    roots = _as_pairs([987654321])
    alpha = 13  # 0b01101
    alphas = np.array([alpha], dtype=np.int64)
    leaves, level_sums = expand_trees(roots, depth, KEY)
    sums = _off_path_sums(level_sums, alphas, depth)
    for level in range(1, depth + 1):
        tampered = sums.copy()
        tampered[0, level - 1, 0] ^= np.uint64(1)
        rebuilt = punctured_leaves(alphas, tampered, depth, KEY)
        differs = np.any(rebuilt[0] != leaves[0], axis=-1)
        parent = alpha >> (depth - level + 1)
        span = 2 ** (depth - level + 1)
        expected = np.zeros(2**depth, dtype=bool)
        expected[parent * span : (parent + 1) * span] = True
        assert (differs == expected).all()  # alpha differs too: it is 0 in ``rebuilt``


def test_wrong_key_gives_other_leaves():
    roots = np.frombuffer(secrets.token_bytes(32), dtype=np.uint64).reshape(2, 2)
    alphas = np.array([1, 6], dtype=np.int64)
    leaves, level_sums = expand_trees(roots, 3, KEY)
    sums = _off_path_sums(level_sums, alphas, 3)
    rebuilt = punctured_leaves(alphas, sums, 3, bytes(32))
    assert not (rebuilt[0, 4:] == leaves[0, 4:]).all()


# --- malformed inputs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "roots",
    [
        np.zeros((2, 3), dtype=np.uint64),
        np.zeros(2, dtype=np.uint64),
        np.zeros((2, 2), dtype=np.int64),
        np.zeros((2, 2), dtype=np.uint32),
        [[0, 0]],
    ],
    ids=["3 columns", "1-D", "int64", "uint32", "list"],
)
def test_expand_rejects_malformed_roots(roots):
    with pytest.raises(MalformedInputError, match="roots"):
        expand_trees(roots, 3, KEY)


@pytest.mark.parametrize("depth", [0, -1, MAX_DEPTH + 1, True, 2.0, "3"], ids=repr)
def test_bad_depth_rejected(depth):
    with pytest.raises(MalformedInputError, match="depth"):
        expand_trees(np.zeros((1, 2), dtype=np.uint64), depth, KEY)
    with pytest.raises(MalformedInputError, match="depth"):
        punctured_leaves(np.zeros(1, dtype=np.int64), np.zeros((1, 3, 2), np.uint64), depth, KEY)


@pytest.mark.parametrize("key", [b"", bytes(15), "k" * 32, None], ids=repr)
def test_bad_key_rejected(key):
    with pytest.raises(MalformedInputError, match="key"):
        expand_trees(np.zeros((1, 2), dtype=np.uint64), 2, key)
    with pytest.raises(MalformedInputError, match="key"):
        punctured_leaves(np.zeros(1, dtype=np.int64), np.zeros((1, 2, 2), np.uint64), 2, key)


@pytest.mark.parametrize(
    ("points", "sums", "match"),
    [
        (np.array([4]), np.zeros((1, 2, 2), np.uint64), "points"),
        (np.array([-1]), np.zeros((1, 2, 2), np.uint64), "points"),
        (np.array([[1]]), np.zeros((1, 2, 2), np.uint64), "points"),
        (np.array([1.0]), np.zeros((1, 2, 2), np.uint64), "points"),
        ([1], np.zeros((1, 2, 2), np.uint64), "points"),
        (np.array([1]), np.zeros((2, 2, 2), np.uint64), "sibling_sums"),
        (np.array([1]), np.zeros((1, 3, 2), np.uint64), "sibling_sums"),
        (np.array([1]), np.zeros((1, 2, 3), np.uint64), "sibling_sums"),
        (np.array([1]), np.zeros((1, 2, 2), np.int64), "sibling_sums"),
    ],
    ids=[
        "too large",
        "negative",
        "2-D",
        "float",
        "list",
        "more trees",
        "deeper",
        "3 words",
        "int64 sums",
    ],
)
def test_punctured_rejects_malformed_inputs(points, sums, match):
    with pytest.raises(MalformedInputError, match=match):
        punctured_leaves(points, sums, 2, KEY)


def test_zero_trees():
    leaves, sums = expand_trees(np.zeros((0, 2), dtype=np.uint64), 3, KEY)
    assert leaves.shape == (0, 8, 2) and sums.shape == (0, 3, 2, 2)
    rebuilt = punctured_leaves(np.zeros(0, np.int64), np.zeros((0, 3, 2), np.uint64), 3, KEY)
    assert rebuilt.shape == (0, 8, 2)


def test_numpy_integer_depth_accepted():
    roots = _as_pairs([5, 6])
    leaves, sums = expand_trees(roots, np.int64(3), KEY)
    expected_leaves, expected_sums = expand_trees(roots, 3, KEY)
    assert (leaves == expected_leaves).all() and (sums == expected_sums).all()
    alphas = np.array([2, 7])
    rebuilt = punctured_leaves(alphas, _off_path_sums(sums, alphas, 3), np.int32(3), KEY)
    assert rebuilt.shape == (2, 8, 2)
