"""Expand-accumulate code for dual-LPN silent VOLE (Boyle et al., CRYPTO 2022).

An expand-accumulate (EA) code of message size ``m`` and code size ``N`` has the
``m x N`` generator matrix ``G = B * A`` over GF(2):

* ``A`` (``N x N``) is the *accumulator*: lower triangular, all ones, so
  ``A * e`` is the prefix XOR of ``e``;
* ``B`` (``m x N``) is a sparse random *expander*: row ``i`` has ones at the
  ``weight`` positions ``idx(i, 0), ..., idx(i, weight - 1)`` (a position drawn
  twice cancels, as in XOR).

Silent VOLE compresses a length-``N`` vector with regular noise into ``m``
pseudorandom values with :meth:`ExpandAccumulateCode.dual_encode`, ``e -> G e``
(libOTe's ``ExAcc40``: weight 41 and ``N >= 5 m`` for a conservative security
level).  Rows of the vector are GF(2^128) elements, or several of them side by
side, stored as uint64 words; the code acts on every bit column the same way, so
any number of uint64 columns can be encoded at once.

The expander positions are public and derived from a shared ``seed`` only, with
AES-256-CTR (not numpy's generators), so both parties get identical indices on
every platform and numpy version:

* key ``SHA-256(SEED_LABEL || seed)``;
* position ``k`` of every row comes from its own stream, whose first counter block
  is ``k`` (8 bytes big-endian) followed by 8 zero bytes, incremented as a
  128-bit big-endian integer;
* the ``i``-th little-endian 32-bit word ``r`` of stream ``k`` gives
  ``idx(i, k) = (r * N) >> 32`` in ``[0, N)``.

Encoding works in chunks of :data:`CHUNK_ROWS` output rows, so memory stays
``O(N + CHUNK_ROWS)`` words besides the input and the output.

Examples
--------
>>> import numpy as np
>>> code = ExpandAccumulateCode(message_size=4, code_size=20, seed=bytes(16), weight=3)
>>> noise = np.zeros((20, 2), dtype=np.uint64)
>>> noise[7] = [1, 0]  # one nonzero row: accumulates to rows 7..19
>>> encoded = code.dual_encode(noise.copy())
>>> expected = np.bitwise_xor.reduce(code.indices(0, 4) >= 7, axis=1)  # parity of hits
>>> bool((encoded[:, 0] == expected).all()) and bool((encoded[:, 1] == 0).all())
True
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.exceptions import MalformedInputError

__all__ = [
    "CHUNK_ROWS",
    "CODE_RATE",
    "EXPANDER_WEIGHT",
    "MAX_CODE_SIZE",
    "MAX_WEIGHT",
    "MIN_SEED_BYTES",
    "SEED_LABEL",
    "ExpandAccumulateCode",
]

EXPANDER_WEIGHT: Final = 41
"""Ones per expander row (libOTe's conservative ``ExAcc40`` uses 41 with code size 5x)."""

MAX_WEIGHT: Final = 1024
"""Largest expander weight accepted (each unit costs one gather over the whole output)."""

CODE_RATE: Final = 5
"""The code size must be at least this many times the message size."""

CHUNK_ROWS: Final = 65_536
"""Output rows encoded per pass (bounds the index and gather buffers)."""

MAX_CODE_SIZE: Final = (1 << 32) - 1
"""Largest code size: indices come from 32-bit words as ``(r * N) >> 32``."""

MIN_SEED_BYTES: Final = 16
"""Shortest public seed accepted (a guard against an empty or truncated seed)."""

SEED_LABEL: Final = b"vfl-engine/crypto.ea_code/expander/v1"
"""Domain separation prefix of the AES key ``SHA-256(SEED_LABEL || seed)``."""

_WORD: Final = np.dtype("<u4")


def _check_count(value: int, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise MalformedInputError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise MalformedInputError(f"{name} must be in [{low}, {high}], got {value}")
    return int(value)


class ExpandAccumulateCode:
    """The expand-accumulate code ``G = B * A`` of one public seed.

    Parameters
    ----------
    message_size : int
        ``m``, rows of the output of :meth:`dual_encode` (at least 1).
    code_size : int
        ``N``, rows of the noise vector; ``CODE_RATE * m <= N <= MAX_CODE_SIZE``.
    seed : bytes
        Public seed shared by both parties (at least :data:`MIN_SEED_BYTES` bytes).
    weight : int, optional
        Ones per expander row, in ``[1, MAX_WEIGHT]``; :data:`EXPANDER_WEIGHT` by default.

    Raises
    ------
    MalformedInputError
        If a size is out of range or the seed is not bytes of at least 16 bytes.

    Examples
    --------
    >>> code = ExpandAccumulateCode(1_000, 5_000, seed=b"0123456789abcdef")
    >>> code
    ExpandAccumulateCode(message_size=1000, code_size=5000, weight=41)
    >>> code.indices(0, 2).shape
    (2, 41)
    """

    __slots__ = ("_key", "code_size", "message_size", "weight")

    def __init__(
        self, message_size: int, code_size: int, seed: bytes, weight: int = EXPANDER_WEIGHT
    ) -> None:
        self.message_size: int = _check_count(
            message_size, "message_size", 1, MAX_CODE_SIZE // CODE_RATE
        )
        self.code_size: int = _check_count(
            code_size, "code_size", CODE_RATE * self.message_size, MAX_CODE_SIZE
        )
        self.weight: int = _check_count(weight, "weight", 1, MAX_WEIGHT)
        if not isinstance(seed, bytes | bytearray):
            raise MalformedInputError(
                "seed must be bytes (the public seed both parties share), "
                f"got {type(seed).__name__}"
            )
        if len(seed) < MIN_SEED_BYTES:
            raise MalformedInputError(
                f"seed must be at least {MIN_SEED_BYTES} bytes, got {len(seed)}: pass the "
                "session's public seed (e.g. 32 bytes agreed at setup)"
            )
        self._key = hashlib.sha256(SEED_LABEL + bytes(seed)).digest()

    def __repr__(self) -> str:
        return (
            f"ExpandAccumulateCode(message_size={self.message_size}, "
            f"code_size={self.code_size}, weight={self.weight})"
        )

    def _column(self, position: int, start: int, count: int) -> npt.NDArray[np.int64]:
        """``idx(i, position)`` for ``start <= i < start + count`` (int64)."""
        block, skip = divmod(start, 4)
        counter = position.to_bytes(8, "big") + block.to_bytes(8, "big")
        encryptor = Cipher(algorithms.AES(self._key), modes.CTR(counter)).encryptor()
        stream = encryptor.update(bytes(4 * (skip + count)))
        words = np.frombuffer(stream, dtype=_WORD, offset=4 * skip).astype(np.uint64)
        words *= np.uint64(self.code_size)
        words >>= np.uint64(32)
        return words.view(np.int64)

    def indices(self, start: int, stop: int) -> npt.NDArray[np.int64]:
        """Expander positions of output rows ``start .. stop - 1``.

        Parameters
        ----------
        start, stop : int
            Row range, ``0 <= start <= stop <= message_size``.

        Returns
        -------
        numpy.ndarray
            Shape ``(stop - start, weight)``, int64 in ``[0, code_size)``: entry
            ``[i - start, k]`` is ``idx(i, k)``.

        Raises
        ------
        MalformedInputError
            If the range is outside ``[0, message_size]`` or reversed.

        Examples
        --------
        >>> code = ExpandAccumulateCode(2, 10, seed=bytes(16), weight=4)
        >>> bool(((0 <= code.indices(0, 2)) & (code.indices(0, 2) < 10)).all())
        True
        >>> bool((code.indices(1, 2) == code.indices(0, 2)[1:]).all())
        True
        """
        start = _check_count(start, "start", 0, self.message_size)
        stop = _check_count(stop, "stop", start, self.message_size)
        out = np.empty((stop - start, self.weight), dtype=np.int64)
        for position in range(self.weight):
            out[:, position] = self._column(position, start, stop - start)
        return out

    def dual_encode(
        self, noise: npt.NDArray[np.uint64], *, threads: bool = True
    ) -> npt.NDArray[np.uint64]:
        """Compute ``G * noise`` over GF(2), column by column of bits.

        Parameters
        ----------
        noise : numpy.ndarray
            Shape ``(code_size, w)``, uint64, any ``w >= 1`` (e.g. 2 for one vector of
            GF(2^128) elements, 4 for two vectors side by side).  **Overwritten** with
            its prefix XOR when it is a writable C-contiguous uint64 array (to save
            memory); pass a copy to keep it.
        threads : bool, default True
            Gather chunks of outputs on one thread per core (numpy's gathers release
            the GIL); ``False`` keeps to the calling thread (work that is not urgent,
            leaving the other core to a busier party).

        Returns
        -------
        numpy.ndarray
            Shape ``(message_size, w)``, uint64: row ``i`` is the XOR of rows
            ``idx(i, 0), ..., idx(i, weight - 1)`` of the prefix XOR of ``noise``.

        Raises
        ------
        MalformedInputError
            If ``noise`` is not a 2-D uint64 array with ``code_size`` rows.

        Examples
        --------
        >>> import numpy as np
        >>> code = ExpandAccumulateCode(2, 10, seed=bytes(16), weight=3)
        >>> a = np.arange(20, dtype=np.uint64).reshape(10, 2)
        >>> b = np.full((10, 2), 7, dtype=np.uint64)
        >>> both = code.dual_encode(a ^ b)
        >>> bool((both == code.dual_encode(a) ^ code.dual_encode(b)).all())
        True
        """
        if not isinstance(noise, np.ndarray) or noise.dtype != np.uint64:
            got = noise.dtype if isinstance(noise, np.ndarray) else type(noise).__name__
            raise MalformedInputError(
                f"noise must be a numpy uint64 array of shape ({self.code_size}, w), got {got}"
            )
        if noise.ndim != 2 or noise.shape[0] != self.code_size or noise.shape[1] < 1:
            raise MalformedInputError(
                f"noise must have shape ({self.code_size}, w) with w >= 1 "
                f"(code_size rows), got {noise.shape}"
            )
        if noise.flags.c_contiguous and noise.flags.writeable:
            accumulated = noise
        else:
            accumulated = np.ascontiguousarray(noise).copy()
        _prefix_xor(accumulated, threads)
        width = accumulated.shape[1]
        out = np.empty((self.message_size, width), dtype=np.uint64)

        def expand(start: int) -> None:
            count = min(CHUNK_ROWS, self.message_size - start)
            rows = out[start : start + count]
            buffer = np.empty((count, width), dtype=np.uint64)
            # Indices are in [0, code_size) by construction; "clip" avoids numpy's
            # buffered bounds check on ``out`` (about 30% faster).
            np.take(accumulated, self._column(0, start, count), axis=0, out=rows, mode="clip")
            for position in range(1, self.weight):
                np.take(
                    accumulated,
                    self._column(position, start, count),
                    axis=0,
                    out=buffer,
                    mode="clip",
                )
                rows ^= buffer

        starts = range(0, self.message_size, CHUNK_ROWS)
        if threads and len(starts) > 1:  # numpy's gathers release the GIL: chunks on all cores
            list(_threads().map(expand, starts))
        else:
            for start in starts:
                expand(start)
        return out

    def dual_encode_with_regular(
        self,
        noise: npt.NDArray[np.uint64],
        points: npt.NDArray[np.int64],
        values: npt.NDArray[np.uint64],
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """:meth:`dual_encode` of ``noise`` and of a regular sparse vector, in one pass.

        The sparse vector has ``t = len(points)`` blocks of ``code_size / t`` positions
        (a power of two) and, in block ``j``, the value ``values[j]`` at position
        ``points[j]``.  Its prefix XOR takes only ``t + 1`` values, so its gathers read a
        small table (cache-resident) instead of ``code_size`` rows: the expander indices
        are computed once for both vectors.

        Parameters
        ----------
        noise : numpy.ndarray
            ``(code_size, w)`` uint64 (overwritten as in :meth:`dual_encode`).
        points : numpy.ndarray
            ``(t,)`` positions inside each block.
        values : numpy.ndarray
            ``(t, w)`` uint64 values.

        Returns
        -------
        sparse, dense : numpy.ndarray
            ``G`` times the sparse vector and ``G`` times ``noise``, each
            ``(message_size, w)``.

        Raises
        ------
        MalformedInputError
            If the shapes disagree or the blocks are not a power of two long.

        Examples
        --------
        >>> code = ExpandAccumulateCode(3, 16, seed=bytes(16), weight=5)
        >>> points, values = np.array([3, 0]), np.array([[5, 6], [7, 8]], dtype=np.uint64)
        >>> sparse = np.zeros((16, 2), dtype=np.uint64)
        >>> sparse[[3, 8]] = values
        >>> a, c = code.dual_encode_with_regular(np.ones((16, 2), np.uint64), points, values)
        >>> bool((a == code.dual_encode(sparse)).all())
        True
        >>> bool((c == code.dual_encode(np.ones((16, 2), np.uint64))).all())
        True
        """
        points = np.asarray(points, dtype=np.int64)
        t = len(points)
        block = self.code_size // t if t else 0
        if (
            not t
            or block * t != self.code_size
            or block & (block - 1)
            or values.shape != (t, noise.shape[1] if noise.ndim == 2 else -1)
            or values.dtype != np.uint64
            or int(points.min()) < 0
            or int(points.max()) >= block
        ):
            raise MalformedInputError(
                f"a regular sparse vector needs t points in [0, code_size / t) with "
                f"code_size / t a power of two and (t, w) uint64 values; got {t} points, "
                f"values {values.shape}, code_size {self.code_size}"
            )
        shift = np.int64(block.bit_length() - 1)
        mask = np.int64(block - 1)
        table = np.zeros((t + 1, values.shape[1]), dtype=np.uint64)
        np.bitwise_xor.accumulate(values, axis=0, out=table[1:])
        if noise.flags.c_contiguous and noise.flags.writeable:
            accumulated = noise
        else:
            accumulated = np.ascontiguousarray(noise).copy()
        _prefix_xor(accumulated)
        width = accumulated.shape[1]
        sparse_out = np.empty((self.message_size, width), dtype=np.uint64)
        dense_out = np.empty((self.message_size, width), dtype=np.uint64)

        def expand(start: int) -> None:
            count = min(CHUNK_ROWS, self.message_size - start)
            dense_rows = dense_out[start : start + count]
            sparse_rows = sparse_out[start : start + count]
            dense_rows[:] = 0
            sparse_rows[:] = 0
            buffer = np.empty((count, width), dtype=np.uint64)
            for position in range(self.weight):
                index = self._column(position, start, count)
                np.take(accumulated, index, axis=0, out=buffer, mode="clip")
                dense_rows ^= buffer
                blocks = index >> shift
                seen = blocks + ((index & mask) >= points.take(blocks))  # points up to index
                np.take(table, seen, axis=0, out=buffer, mode="clip")
                sparse_rows ^= buffer

        starts = range(0, self.message_size, CHUNK_ROWS)
        if len(starts) > 1:
            list(_threads().map(expand, starts))
        else:
            for start in starts:
                expand(start)
        return sparse_out, dense_out


@cache
def _threads() -> ThreadPoolExecutor:
    """The threads that gather chunks of outputs (one per core, at most 4)."""
    return ThreadPoolExecutor(
        max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="ea-code"
    )


def _prefix_xor(rows: npt.NDArray[np.uint64], threads: bool = True) -> None:
    """Replace ``rows`` by its prefix XOR along axis 0, two halves on two threads."""
    half = len(rows) // 2
    if half < CHUNK_ROWS or not threads:
        np.bitwise_xor.accumulate(rows, axis=0, out=rows)
        return
    parts = (rows[:half], rows[half:])
    list(_threads().map(lambda part: np.bitwise_xor.accumulate(part, axis=0, out=part), parts))
    rows[half:] ^= rows[half - 1]
