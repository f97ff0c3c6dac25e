"""Silent VOLE over GF(2^128): the correlation ``B = C + A * Delta`` for VOLE-PSI.

A *vector oblivious linear evaluation* (VOLE) of size ``m`` leaves the **receiver**
with two vectors ``A, C`` in ``GF(2^128)^m`` and the **sender** with a secret scalar
``Delta`` and ``B = C + A * Delta``; ``A`` and ``C`` are pseudorandom to the sender,
``Delta`` and ``B`` to the receiver.  VOLE-PSI (Rindal-Schoppmann 2021,
Raghuraman-Rindal 2022) uses one VOLE of the OKVS's size.

Construction (the "silent" VOLE of Boyle et al., as in libOTe's ``SilentVole``, with
the expand-accumulate code of Boyle, Couteau, Gilboa, Ishai, Kohl, Resch and Scholl,
CRYPTO 2022; semi-honest):

1. **Sparse noise.** The receiver draws a regular noise vector ``e`` of length
   ``N = t * 2^d``: in each of ``t`` blocks one random position ``alpha_i`` with a
   random nonzero value ``beta_i`` (:class:`VoleReceiver`).
2. **Base VOLE on the noise values** (Gilboa's multiplication): for every ``i`` and
   bit ``k`` one random OT; the sender holds pads ``(r0, r1)``, the receiver
   ``r_{b}`` with ``b`` bit ``k`` of ``beta_i``; the sender sends
   ``r0 + r1 + x^k Delta``, so the receiver gets ``r0 + b x^k Delta``; summed over
   ``k``: the receiver holds ``delta_i = phi_i + beta_i Delta`` and the sender
   ``phi_i = sum_k r0``.
3. **Punctured PRF** (GGM trees, :mod:`crypto.ggm`): the sender expands ``t`` random
   trees of depth ``d`` into leaves ``v``; for each tree and level it sends the XOR of
   the left children and of the right children, each masked by a random-OT pad; the
   receiver's choice is the *off-path* side, so it rebuilds every leaf but
   ``alpha_i``.  The sender also sends ``sum_j v_ij + phi_i``, from which the receiver
   gets ``w_{i alpha_i} = v_{i alpha_i} + beta_i Delta``: now ``v = w + e Delta``.
4. **Compression** by the dual of an expand-accumulate code (:mod:`crypto.ea_code`,
   F_2-linear, so it commutes with the correlation): ``A = G e``, ``C = G w``,
   ``B = G v``.  Dual LPN over GF(2^128) with this code says ``A`` is pseudorandom.

Parameters: the code has rate 1/5 and expander weight 41 (libOTe's conservative
``ExAcc40``, whose minimum-distance estimate is ``d = 0.2`` of the code length).  The
code is binary and the noise values are in GF(2^128), so an attacker may run a
linear test on one bit slice, where each of the ``t`` noisy positions is 1 only
half of the time: its bias is ``(1 - d)^t`` (not the ``(1 - 2d)^t`` of noise that is
always 1), and ``0.8^t <= 2^-128`` needs ``t >= 398``: :data:`MIN_NOISE_WEIGHT` = 400
(``tests/crypto/test_vole.py`` checks the per-tree bias by enumeration).  Random OTs come from the
KKRT OPRF (:mod:`crypto.random_ot`): ``t * (d + 128)`` instances per VOLE.

Examples
--------
>>> import numpy as np
>>> from crypto.gf128 import ConstantMultiplier
>>> params = VoleParameters.for_size(300)
>>> receiver = VoleReceiver(params, key=bytes(16))
>>> sender = VoleSender(params, delta=0x1234567890ABCDEF << 40, key=bytes(16))
>>> pad0, pad1 = random_pads(params.ot_count)  # in the protocol: random OTs
>>> chosen = np.where(receiver.choices[:, None] == 1, pad1, pad0)
>>> corrections = sender.corrections(pad0, pad1)
>>> a, c = receiver.finish(chosen, corrections)
>>> bool((sender.b == c ^ ConstantMultiplier(sender.delta)(a)).all())
True
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from crypto.ea_code import CODE_RATE, ExpandAccumulateCode
from crypto.exceptions import MalformedInputError
from crypto.gf128 import multiply
from crypto.ggm import expand_trees, punctured_leaves

__all__ = [
    "MAX_VOLE_SIZE",
    "MIN_NOISE_WEIGHT",
    "VoleCorrections",
    "VoleParameters",
    "VoleReceiver",
    "VoleSender",
    "random_delta",
    "random_pads",
]

MIN_NOISE_WEIGHT: Final = 400
"""Fewest noise positions (GGM trees) per VOLE: ``0.8^t <= 2^-128`` per bit slice."""
MAX_VOLE_SIZE: Final = 1 << 21
"""Most outputs of one VOLE (bounds memory: ~32 bytes per code position)."""
FIELD_BITS: Final = 128
_OT_COST = 16
"""A random OT costs about as much as 16 code positions (OPRF row, pads, message)."""
_KEY_LABEL = b"VFL-VOLE-V01 "

Elements = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class VoleParameters:
    """The public shape of one VOLE: outputs, noise weight and tree depth.

    Parameters
    ----------
    size : int
        Outputs ``m``.
    trees : int
        Noise weight ``t`` (one GGM tree per noise position).
    depth : int
        Depth ``d`` of each tree: the code length is ``N = t * 2^d >= 5 m``.

    Examples
    --------
    >>> params = VoleParameters.for_size(1_300_000)
    >>> params.trees >= MIN_NOISE_WEIGHT, params.code_size >= 5 * 1_300_000
    (True, True)
    """

    size: int
    trees: int
    depth: int

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_VOLE_SIZE:
            raise MalformedInputError(f"a VOLE has 1 to {MAX_VOLE_SIZE} outputs, not {self.size}")
        if self.trees < MIN_NOISE_WEIGHT or not 1 <= self.depth <= 24:
            raise MalformedInputError(
                f"a VOLE needs at least {MIN_NOISE_WEIGHT} trees of depth 1 to 24, "
                f"not {self.trees} of depth {self.depth}"
            )
        if self.code_size < CODE_RATE * self.size:
            raise MalformedInputError(
                f"{self.trees} trees of depth {self.depth} are too few for {self.size} outputs"
            )

    @classmethod
    def for_size(cls, size: int) -> VoleParameters:
        """The parameters of a VOLE with ``size`` outputs.

        Parameters
        ----------
        size : int
            Outputs, 1 to :data:`MAX_VOLE_SIZE`.

        Returns
        -------
        VoleParameters
            The depth ``floor(log2(5 m / 400))`` (at least 1) or one more, whichever
            costs less (random OTs against code positions), and just enough trees.
        """
        if not 1 <= size <= MAX_VOLE_SIZE:
            raise MalformedInputError(f"a VOLE has 1 to {MAX_VOLE_SIZE} outputs, not {size}")
        positions = CODE_RATE * size
        low = max(1, math.floor(math.log2(max(positions / MIN_NOISE_WEIGHT, 1.0))))

        def shape(depth: int) -> tuple[int, int]:
            trees = max(MIN_NOISE_WEIGHT, -(-positions // (1 << depth)))
            cost = trees * (depth + FIELD_BITS) * _OT_COST + (trees << depth)
            return cost, trees

        depth = min((low, low + 1), key=lambda d: shape(d)[0])
        trees = shape(depth)[1]
        return cls(size, trees, depth)

    @property
    def code_size(self) -> int:
        """``N = trees * 2^depth``."""
        return self.trees << self.depth

    @property
    def tree_ots(self) -> int:
        """Random OTs for the punctured trees: one per tree and level."""
        return self.trees * self.depth

    @property
    def ot_count(self) -> int:
        """Random OTs in all: ``trees * (depth + 128)``."""
        return self.trees * (self.depth + FIELD_BITS)

    @property
    def correction_bytes(self) -> tuple[int, int, int]:
        """Sizes of the three fields of :class:`VoleCorrections`."""
        return self.tree_ots * 32, self.trees * FIELD_BITS * 16, self.trees * 16


@dataclass(frozen=True)
class VoleCorrections:
    """What the sender sends: masked level sums, Gilboa corrections and tree sums."""

    level_sums: bytes
    base_corrections: bytes
    tree_sums: bytes

    def check(self, params: VoleParameters) -> None:
        """Refuse fields of the wrong size for ``params``.

        Raises
        ------
        MalformedInputError
            If a field has the wrong length.
        """
        sizes = (len(self.level_sums), len(self.base_corrections), len(self.tree_sums))
        if sizes != params.correction_bytes:
            raise MalformedInputError(
                f"VOLE corrections of {sizes} bytes, expected {params.correction_bytes}"
            )


def random_delta() -> int:
    """A uniformly random nonzero ``Delta`` (CSPRNG).

    Examples
    --------
    >>> 0 < random_delta() < 1 << 128
    True
    """
    while True:
        delta = secrets.randbits(FIELD_BITS)
        if delta:
            return delta


def random_pads(count: int) -> tuple[Elements, Elements]:
    """Two independent vectors of random pads (tests and examples stand in for OTs).

    Examples
    --------
    >>> random_pads(3)[0].shape
    (3, 2)
    """
    return (
        np.frombuffer(os.urandom(16 * count), dtype="<u8").reshape(count, 2).copy(),
        np.frombuffer(os.urandom(16 * count), dtype="<u8").reshape(count, 2).copy(),
    )


def _derived(key: bytes, purpose: bytes) -> bytes:
    return hashlib.sha256(_KEY_LABEL + purpose + b"|" + key).digest()


def _shifted_deltas(delta: int) -> Elements:
    """``x^k * Delta`` for ``k < 128``."""
    values = [multiply(1 << k, delta) for k in range(FIELD_BITS)]
    out = np.empty((FIELD_BITS, 2), dtype=np.uint64)
    mask = (1 << 64) - 1
    out[:, 0] = [value & mask for value in values]
    out[:, 1] = [value >> 64 for value in values]
    return out


def _as_elements(data: bytes, shape: tuple[int, ...]) -> Elements:
    return np.frombuffer(data, dtype="<u8").reshape(*shape, 2)


class VoleSender:
    """The sender's side: ``Delta`` and ``B``.

    Parameters
    ----------
    params : VoleParameters
        The VOLE's shape.
    delta : int
        The secret scalar (the same for every VOLE of one PSI run), nonzero.
    key : bytes
        Public, per VOLE: keys the GGM PRG and the code.
    """

    def __init__(self, params: VoleParameters, delta: int, key: bytes) -> None:
        if not 0 < delta < 1 << FIELD_BITS:
            raise MalformedInputError("Delta must be a nonzero 128-bit value")
        self.params = params
        self.delta = delta
        self._key = key
        self._b: Elements | None = None
        self._level_sums: Elements = np.empty((0, 0, 2, 2), dtype=np.uint64)
        self._leaf_sums: Elements | None = None
        self._leaves: Elements | None = None

    def __repr__(self) -> str:
        return f"<VoleSender size={self.params.size} (secret)>"

    def expand(self) -> None:
        """Expand the GGM trees (needs no OT: may run before the pads exist)."""
        if self._leaf_sums is not None:
            return
        params = self.params
        t, d = params.trees, params.depth
        roots = np.frombuffer(os.urandom(16 * t), dtype="<u8").reshape(t, 2).copy()
        self._leaves, self._level_sums = expand_trees(roots, d, _derived(self._key, b"ggm"))
        self._leaf_sums = np.bitwise_xor.reduce(self._leaves, axis=1)

    def compress(self) -> None:
        """Compute ``B`` from the leaves (:attr:`b`); the leaves are dropped.

        One thread: the receiver compresses at the same time and waits for nothing else.
        """
        if self._b is not None:
            return
        self.expand()
        assert self._leaves is not None
        params = self.params
        code = ExpandAccumulateCode(params.size, params.code_size, _derived(self._key, b"code"))
        self._b = code.dual_encode(self._leaves.reshape(params.code_size, 2), threads=False)
        self._leaves = None

    @property
    def b(self) -> Elements:
        """``B = C + A * Delta``, ``(size, 2)`` (computed by :meth:`compress` if needed)."""
        if self._b is None:
            self.compress()
        assert self._b is not None
        return self._b

    def prepare(self) -> None:
        """Expand the trees and compute ``B`` (:meth:`expand`, then :meth:`compress`)."""
        self.expand()
        self.compress()

    def corrections(self, pad0: Elements, pad1: Elements) -> VoleCorrections:
        """The message for the receiver (``B`` comes from :meth:`compress`).

        Parameters
        ----------
        pad0, pad1 : numpy.ndarray
            ``(ot_count, 2)``: both pads of every random OT (trees' first, then
            Gilboa's, tree-major).

        Returns
        -------
        VoleCorrections
            The message.

        Raises
        ------
        MalformedInputError
            If the pads have the wrong shape.
        """
        params = self.params
        count = params.ot_count
        if pad0.shape != (count, 2) or pad1.shape != (count, 2):
            raise MalformedInputError(f"the VOLE sender needs 2 x {count} pads")
        self.expand()
        assert self._leaf_sums is not None
        t, d = params.trees, params.depth
        tree_pads = np.stack(
            [pad0[: params.tree_ots].reshape(t, d, 2), pad1[: params.tree_ots].reshape(t, d, 2)],
            axis=2,
        )
        masked = self._level_sums ^ tree_pads
        r0 = pad0[params.tree_ots :].reshape(t, FIELD_BITS, 2)
        r1 = pad1[params.tree_ots :].reshape(t, FIELD_BITS, 2)
        base = r0 ^ r1 ^ _shifted_deltas(self.delta)[None, :, :]
        phi = np.bitwise_xor.reduce(r0, axis=1)
        tree_sums = self._leaf_sums ^ phi
        return VoleCorrections(
            np.ascontiguousarray(masked).tobytes(),
            np.ascontiguousarray(base).tobytes(),
            np.ascontiguousarray(tree_sums).tobytes(),
        )


class VoleReceiver:
    """The receiver's side: the noise, then ``A`` and ``C``.

    Parameters
    ----------
    params : VoleParameters
        The VOLE's shape.
    key : bytes
        Public, per VOLE (the sender's ``key``).
    """

    def __init__(self, params: VoleParameters, key: bytes) -> None:
        self.params = params
        self._key = key
        t, d = params.trees, params.depth
        self._points = np.array([secrets.randbelow(1 << d) for _ in range(t)], dtype=np.int64)
        self._betas = [random_delta() for _ in range(t)]
        path = (self._points[:, None] >> np.arange(d - 1, -1, -1)[None, :]) & 1
        beta_bits = np.array(
            [[(beta >> k) & 1 for k in range(FIELD_BITS)] for beta in self._betas],
            dtype=np.uint8,
        )
        self.choices: npt.NDArray[np.uint8] = np.concatenate(
            [(1 - path).astype(np.uint8).reshape(-1), beta_bits.reshape(-1)]
        )
        """Choice bit of every random OT: the off-path side per tree level, then the
        bits of each noise value (secret)."""
        self._a: Elements | None = None

    def __repr__(self) -> str:
        return f"<VoleReceiver size={self.params.size} (secret)>"

    def prepare(self) -> None:
        """Compress the noise into ``A`` (needs nothing from the sender: may run early)."""
        if self._a is not None:
            return
        params = self.params
        t, d = params.trees, params.depth
        noise = np.zeros((params.code_size, 2), dtype=np.uint64)
        where = np.arange(t) * (1 << d) + self._points
        mask = (1 << 64) - 1
        noise[where, 0] = [beta & mask for beta in self._betas]
        noise[where, 1] = [beta >> 64 for beta in self._betas]
        self._a = self._code().dual_encode(noise)

    def finish(self, chosen: Elements, corrections: VoleCorrections) -> tuple[Elements, Elements]:
        """Rebuild the punctured trees and compress: ``A`` and ``C``.

        Parameters
        ----------
        chosen : numpy.ndarray
            ``(ot_count, 2)``: the pad of each random OT for :attr:`choices`.
        corrections : VoleCorrections
            The sender's message.

        Returns
        -------
        tuple of numpy.ndarray
            ``A`` and ``C``, each ``(size, 2)``.

        Raises
        ------
        MalformedInputError
            If the pads or the message have the wrong size.
        """
        params = self.params
        t, d = params.trees, params.depth
        if chosen.shape != (params.ot_count, 2):
            raise MalformedInputError(f"the VOLE receiver needs {params.ot_count} pads")
        corrections.check(params)
        masked = _as_elements(corrections.level_sums, (t, d, 2))
        side = self.choices[: params.tree_ots].reshape(t, d).astype(np.intp)
        picked = np.take_along_axis(masked, side[:, :, None, None], axis=2)[:, :, 0]
        siblings = picked ^ chosen[: params.tree_ots].reshape(t, d, 2)
        leaves = punctured_leaves(self._points, siblings, d, _derived(self._key, b"ggm"))
        bits = self.choices[params.tree_ots :].reshape(t, FIELD_BITS)
        base = _as_elements(corrections.base_corrections, (t, FIELD_BITS))
        gilboa = chosen[params.tree_ots :].reshape(t, FIELD_BITS, 2) ^ np.where(
            bits[:, :, None] == 1, base, np.uint64(0)
        )
        deltas = np.bitwise_xor.reduce(gilboa, axis=1)
        tree_sums = _as_elements(corrections.tree_sums, (t,))
        rows = np.arange(t)
        leaves[rows, self._points] = tree_sums ^ np.bitwise_xor.reduce(leaves, axis=1) ^ deltas
        if self._a is not None:  # prepared: compress the leaves alone
            return self._a, self._code().dual_encode(leaves.reshape(params.code_size, 2))
        mask = (1 << 64) - 1
        betas = np.array([[beta & mask, beta >> 64] for beta in self._betas], dtype=np.uint64)
        a, c = self._code().dual_encode_with_regular(
            leaves.reshape(params.code_size, 2), self._points, betas
        )
        return a, c

    def _code(self) -> ExpandAccumulateCode:
        params = self.params
        return ExpandAccumulateCode(params.size, params.code_size, _derived(self._key, b"code"))
