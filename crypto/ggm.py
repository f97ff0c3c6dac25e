"""GGM puncturable PRF trees over GF(2^128) seeds, expanded many trees at a time.

A GGM tree (Goldreich, Goldwasser and Micali) of depth ``d`` expands a 16-byte
root into ``2**d`` pseudorandom leaves with a length-doubling PRG

    ``G(s) = (AES_{k0}(s) XOR s, AES_{k1}(s) XOR s)``

(a fixed-key, Matyas-Meyer-Oseas style correlation-robust PRG).  The two AES-128
keys ``k0 || k1 = SHA-256(label || key)`` come from a *public* ``key`` both
parties share.  Nodes and leaves are GF(2^128) elements in the layout of
:mod:`crypto.gf128` (uint64 arrays, last axis ``(low, high)``; as AES input a
node is its 16 little-endian bytes).

Leaf ``j`` of a tree is reached from the root by the bits of ``j`` read most
significant first: at level ``l`` (``1 .. d``) the path goes to the left child
(side 0) or the right child (side 1) according to bit ``d - l`` of ``j``.

Puncturing (as in silent OT / VOLE): the sender expands every tree with
:func:`expand_trees` and, for each level, XORs together all left children and
all right children (``level_sums``).  A receiver that learns, for each level, the
sum of the side *not* on the path to a point ``alpha`` (by a 1-out-of-2 OT) can
rebuild every leaf except leaf ``alpha`` with :func:`punctured_leaves`, and learns
nothing about that leaf.

All trees are processed together: one AES-ECB pass per level and per key over the
nodes of every tree, with no Python loop over trees or nodes.  Only the current
level is kept, so memory is about twice the leaves.

Examples
--------
>>> import numpy as np
>>> roots = np.array([[1, 2], [3, 4]], dtype=np.uint64)
>>> leaves, level_sums = expand_trees(roots, depth=3, key=bytes(16))
>>> leaves.shape, level_sums.shape
((2, 8, 2), (2, 3, 2, 2))
>>> alphas = np.array([5, 0])
>>> bits = (alphas[:, None] >> np.arange(2, -1, -1)) & 1  # path bits, level 1 first
>>> off_path = level_sums[np.arange(2)[:, None], np.arange(3), 1 - bits]
>>> punctured = punctured_leaves(alphas, off_path, depth=3, key=bytes(16))
>>> bool((punctured[0, 5] == 0).all()), bool((punctured[0, :5] == leaves[0, :5]).all())
(True, True)
>>> bool((punctured[1, 1:] == leaves[1, 1:]).all())
True
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from crypto.exceptions import MalformedInputError

__all__ = ["MAX_DEPTH", "MIN_KEY_BYTES", "expand_trees", "punctured_leaves"]

MAX_DEPTH: Final = 30
"""Deepest tree accepted (``2**30`` leaves per tree is already 16 GiB)."""

MIN_KEY_BYTES: Final = 16
"""Shortest public PRG key accepted (a guard against passing an empty or truncated key)."""

_LABEL: Final = b"vfl-engine/crypto.ggm/prg-keys/v1"
_LITTLE_U64: Final = np.dtype("<u8")


class _Prg:
    """``s -> (AES_{k0}(s) ^ s, AES_{k1}(s) ^ s)`` on arrays of 16-byte nodes."""

    __slots__ = ("_encryptors",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise MalformedInputError(
                f"key must be bytes (the public PRG key both parties share), "
                f"got {type(key).__name__}"
            )
        if len(key) < MIN_KEY_BYTES:
            raise MalformedInputError(
                f"key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}: pass the "
                "session's public seed (e.g. 32 bytes agreed at setup)"
            )
        digest = hashlib.sha256(_LABEL + bytes(key)).digest()
        # ECB is the mode of a fixed-key PRG: each node is one independent block.
        keys = (digest[:16], digest[16:])
        self._encryptors: tuple[CipherContext, CipherContext] = (
            Cipher(algorithms.AES(keys[0]), modes.ECB()).encryptor(),  # noqa: S305
            Cipher(algorithms.AES(keys[1]), modes.ECB()).encryptor(),  # noqa: S305
        )

    def expand(
        self, parents: npt.NDArray[np.uint64], buffers: _Buffers
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """Children of ``parents`` (t, n, 2) and the XOR of the raw AES outputs.

        Returns ``children`` (t, n, 2 sides, 2 words), a view of the buffer
        :meth:`_Buffers.level` gives for the children's level, and ``aes_sums``
        (t, 2 sides, 2 words) with ``aes_sums[i, b] = XOR_j AES_{k_b}(parents[i, j])``.
        """
        trees, count = parents.shape[:2]
        children = buffers.level(2 * count).reshape(trees, count, 2, 2)
        data = parents.reshape(-1).view(np.uint8).data
        encrypted = buffers.scratch[: trees * count * 2]
        aes_sums = np.empty((trees, 2, 2), dtype=np.uint64)
        for side, encryptor in enumerate(self._encryptors):
            encryptor.update_into(data, buffers.scratch.view(np.uint8).data)
            nodes = encrypted.reshape(trees, count, 2)
            np.bitwise_xor(nodes, parents, out=children[:, :, side])
            aes_sums[:, side] = _fold(nodes)  # destroys the scratch copy
        return children, aes_sums


class _Buffers:
    """Two alternating level buffers and one AES output buffer, allocated once.

    Level ``l`` lives in the buffer that makes level ``depth`` land in ``leaves``,
    so a level is never written over its own parents and no level is copied.
    """

    __slots__ = ("_depth", "_other", "_trees", "leaves", "scratch")

    def __init__(self, trees: int, depth: int) -> None:
        self._trees = trees
        self._depth = depth
        self.leaves = np.empty(trees * 2 * (1 << depth), dtype=np.uint64)
        self._other = np.empty(trees * (1 << depth), dtype=np.uint64)
        # update_into needs room for len(data) + 15 bytes: two spare words.
        self.scratch = np.empty(trees * (1 << depth) + 2, dtype=np.uint64)

    def level(self, nodes: int) -> npt.NDArray[np.uint64]:
        """Storage for a level of ``nodes`` nodes per tree, shape (t, nodes, 2)."""
        level = nodes.bit_length() - 1
        store = self.leaves if (self._depth - level) % 2 == 0 else self._other
        return store[: self._trees * nodes * 2].reshape(self._trees, nodes, 2)


def _fold(nodes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """XOR of ``nodes`` (t, n, 2) over axis 1, n a power of two, folding it in place.

    Halving (contiguous slabs) is about twice as fast as
    ``np.bitwise_xor.reduce(nodes, axis=1)``; ``nodes`` is overwritten.
    """
    half = nodes.shape[1]
    while half > 1:
        half //= 2
        np.bitwise_xor(nodes[:, :half], nodes[:, half : 2 * half], out=nodes[:, :half])
    return nodes[:, 0].copy()


def _check_depth(depth: int) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer):
        raise MalformedInputError(f"depth must be an int, got {type(depth).__name__}")
    if not 1 <= depth <= MAX_DEPTH:
        raise MalformedInputError(
            f"depth must be in [1, {MAX_DEPTH}] (2**depth leaves per tree), got {depth}"
        )
    return int(depth)


def _check_uint64(array: object, name: str, shape: tuple[int | None, ...]) -> None:
    """Raise unless ``array`` is a uint64 ndarray whose shape matches (None = any size)."""
    expected = "(" + ", ".join("n" if size is None else str(size) for size in shape) + ")"
    if not isinstance(array, np.ndarray) or array.dtype != np.uint64:
        got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise MalformedInputError(
            f"{name} must be a numpy uint64 array of shape {expected}, got {got}"
        )
    if array.ndim != len(shape) or any(
        size is not None and size != actual for size, actual in zip(shape, array.shape, strict=True)
    ):
        raise MalformedInputError(f"{name} must have shape {expected}, got {array.shape}")


def expand_trees(
    roots: npt.NDArray[np.uint64], depth: int, key: bytes
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Expand ``t`` GGM trees of depth ``depth`` and XOR their nodes level by level.

    Parameters
    ----------
    roots : numpy.ndarray
        Shape ``(t, 2)``, uint64: one secret 128-bit root per tree (draw them with a
        CSPRNG, e.g. ``elements_from_bytes(secrets.token_bytes(16 * t))``).
    depth : int
        Levels below the root, in ``[1, MAX_DEPTH]``; each tree gets ``2**depth`` leaves.
    key : bytes
        Public PRG key (at least :data:`MIN_KEY_BYTES` bytes), the same for both parties.

    Returns
    -------
    leaves : numpy.ndarray
        Shape ``(t, 2**depth, 2)``, uint64: ``leaves[i, j]`` is leaf ``j`` of tree ``i``.
    level_sums : numpy.ndarray
        Shape ``(t, depth, 2, 2)``, uint64: ``level_sums[i, l - 1, b]`` is the XOR of
        the nodes of tree ``i`` at level ``l`` that are side-``b`` children
        (``b = 0`` left, ``1`` right).

    Raises
    ------
    MalformedInputError
        If ``roots`` is not a ``(t, 2)`` uint64 array, ``depth`` is out of range or
        ``key`` is too short.

    Examples
    --------
    >>> import numpy as np
    >>> leaves, sums = expand_trees(np.zeros((1, 2), dtype=np.uint64), 2, bytes(16))
    >>> bool((np.bitwise_xor.reduce(leaves[0, 0::2]) == sums[0, 1, 0]).all())
    True
    """
    _check_uint64(roots, "roots", (None, 2))
    depth = _check_depth(depth)
    prg = _Prg(key)
    trees = roots.shape[0]
    buffers = _Buffers(trees, depth)
    level = np.ascontiguousarray(roots, dtype=_LITTLE_U64).reshape(trees, 1, 2)
    total = level[:, 0]  # XOR of every node of the current level
    level_sums = np.empty((trees, depth, 2, 2), dtype=np.uint64)
    for index in range(depth):
        children, aes_sums = prg.expand(level, buffers)
        # XOR_j (AES_b(p_j) ^ p_j) = XOR_j AES_b(p_j) ^ XOR_j p_j
        np.bitwise_xor(aes_sums, total[:, None, :], out=level_sums[:, index])
        total = level_sums[:, index, 0] ^ level_sums[:, index, 1]
        level = children.reshape(trees, 2 * children.shape[1], 2)
    return buffers.leaves.reshape(trees, 1 << depth, 2), level_sums


def punctured_leaves(
    points: npt.NDArray[np.int64],
    sibling_sums: npt.NDArray[np.uint64],
    depth: int,
    key: bytes,
) -> npt.NDArray[np.uint64]:
    """Rebuild every leaf of ``t`` GGM trees except one punctured leaf per tree.

    Parameters
    ----------
    points : numpy.ndarray
        Shape ``(t,)``, integer: the punctured leaf ``alpha_i`` of tree ``i``, in
        ``[0, 2**depth)``.
    sibling_sums : numpy.ndarray
        Shape ``(t, depth, 2)``, uint64: ``sibling_sums[i, l - 1]`` is
        ``level_sums[i, l - 1, 1 - bit_l(alpha_i)]`` from :func:`expand_trees`, the
        sum of the side *off* the path to ``alpha_i`` at level ``l`` (``bit_l`` is bit
        ``depth - l`` of ``alpha_i``, the most significant first).
    depth : int
        Depth of the trees, in ``[1, MAX_DEPTH]``.
    key : bytes
        The public PRG key the trees were expanded with.

    Returns
    -------
    numpy.ndarray
        Shape ``(t, 2**depth, 2)``, uint64: equal to the leaves of
        :func:`expand_trees` except ``[i, alpha_i]``, which is zero.

    Raises
    ------
    MalformedInputError
        If a shape or dtype is wrong, a point is outside ``[0, 2**depth)``, ``depth``
        is out of range or ``key`` is too short.

    Notes
    -----
    At level ``l`` every node but the path node ``p_l`` is known.  The children of
    known nodes come from the PRG; the off-path child of ``p_{l-1}`` is the sibling
    sum XOR the other known children on its side; the path child stays zero.

    Examples
    --------
    >>> import numpy as np
    >>> leaves, sums = expand_trees(np.ones((1, 2), dtype=np.uint64), 1, bytes(16))
    >>> rebuilt = punctured_leaves(np.array([1]), sums[:, :, 0], 1, bytes(16))
    >>> bool((rebuilt[0, 0] == leaves[0, 0]).all()), rebuilt[0, 1].tolist()
    (True, [0, 0])
    """
    depth = _check_depth(depth)
    if (
        not isinstance(points, np.ndarray)
        or points.ndim != 1
        or not np.issubdtype(points.dtype, np.integer)
    ):
        shape = points.shape if isinstance(points, np.ndarray) else type(points).__name__
        raise MalformedInputError(
            f"points must be a 1-D numpy integer array (one punctured leaf per tree), got {shape}"
        )
    trees = points.shape[0]
    _check_uint64(sibling_sums, "sibling_sums", (trees, depth, 2))
    if trees and (int(points.min()) < 0 or int(points.max()) >= 1 << depth):
        raise MalformedInputError(
            f"points must lie in [0, 2**{depth}) (leaf indices of a depth-{depth} tree), "
            f"got values in [{int(points.min())}, {int(points.max())}]"
        )
    prg = _Prg(key)
    alphas = points.astype(np.int64)
    rows = np.arange(trees)
    buffers = _Buffers(trees, depth)
    # Level 1: the off-path child is its own sibling sum; the path child is unknown (0).
    level = buffers.level(2)
    level[:] = 0
    level[rows, 1 - (alphas >> (depth - 1))] = sibling_sums[:, 0]
    total = sibling_sums[:, 0]  # XOR of every node of the current level
    for l in range(2, depth + 1):  # noqa: E741 - the level number of the docstring
        children, aes_sums = prg.expand(level, buffers)  # (t, 2**(l-1), 2 sides, 2 words)
        path_parents = alphas >> (depth - l + 1)
        off_sides = 1 - ((alphas >> (depth - l)) & 1)
        # The path parent was unknown (0): its children AES_b(0) are garbage, clear them.
        garbage = children[rows, path_parents]
        children[rows, path_parents] = 0
        # XOR_{j != path} (AES_b(p_j) ^ p_j), the path parent being 0 in ``total``.
        known = aes_sums ^ garbage ^ total[:, None, :]
        off_path = sibling_sums[:, l - 1] ^ known[rows, off_sides]
        children[rows, path_parents, off_sides] = off_path
        total = known[:, 0] ^ known[:, 1] ^ off_path
        level = children.reshape(trees, 2 * children.shape[1], 2)
    return level
