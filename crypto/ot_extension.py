"""OT extension for a batched oblivious PRF (KKRT16): the cryptography of OT-PSI.

Kolesnikov, Kumaresan, Rosulek and Trieu ("Efficient batched oblivious PRF with
applications to private set intersection", CCS 2016) turn :data:`CODE_BITS` base
OTs (:mod:`crypto.ot`) into one oblivious PRF instance per *bin*, using only AES
and hashing per item:

* the **receiver** (the PSI guest) holds both seeds ``(k0[i], k1[i])`` of every
  base OT and, for every bin ``j``, a row ``r[j]``: the pseudorandom code word
  ``C(x, h)`` of the item ``x`` it put in that bin with hash function ``h`` (random
  bytes for an empty bin);
* the **sender** (the PSI host) holds its choice bits ``s`` and the seeds
  ``k{s[i]}[i]``;
* the receiver sends, column by column, ``u[i] = G(k0[i]) ^ G(k1[i]) ^ r[:, i]``
  (:meth:`OprfReceiver.columns`), where ``G`` is AES-256-CTR; the sender computes
  ``q[:, i] = G(k{s[i]}[i]) ^ s[i] * u[i]`` (:meth:`OprfSender.rows`), so that row
  by row ``q[j] = t[j] ^ (s & r[j])`` with ``t[:, i] = G(k0[i])``;
* the PRF of ``y`` under hash function ``h`` is ``H(j, q[j] ^ (s & C(y, h)))`` with
  ``j`` its bin (:meth:`OprfSender.outputs`); for the receiver's own item it is
  ``H(j, t[j])`` (:meth:`OprfReceiver.outputs`), computed without the sender's
  secret ``s``.

For ``(y, h) != (x, h')`` the code words differ in about half of their 512 bits (at
least 128 except with negligible probability), so ``q[j] ^ (s & C(y, h))`` hides at
least 128 secret bits of ``s`` and ``H`` (BLAKE2b, a correlation-robust hash) makes
the output pseudorandom to the receiver.  The code word depends on the hash function
too, so an item whose candidate bins coincide still gets three unrelated values.  The
sender only sees ``u``, which is masked by a PRG stream it does not know.

Bins are processed in blocks of a multiple of :data:`BIN_ALIGN` bins, so neither
party holds the whole bit matrix, and AES-CTR starts each block at its own
counter.  An item's three code words and three cuckoo bins come from one
SHAKE-256 of the item under the job's salt (:func:`item_hashes`).

Examples
--------
>>> import numpy as np
>>> from crypto.ot import RandomOtReceiver, RandomOtSender
>>> choices = np.frombuffer(bytes(range(64)), dtype=np.uint8)  # the sender's s
>>> ot_sender, ot_receiver = RandomOtSender(CODE_BITS), RandomOtReceiver(choice_bits(choices))
>>> receiver = OprfReceiver(ot_sender.keys(ot_receiver.points), key=bytes(32))
>>> sender = OprfSender(choices, ot_receiver.keys(ot_sender.point), key=bytes(32))
>>> codes, _ = item_hashes([b"ann", b"bob"], bytes(32), bins=256)
>>> rows = np.zeros((BIN_ALIGN, CODE_BYTES), dtype=np.uint8)
>>> rows[:2] = codes[:, 0]  # ann in bin 0, bob in bin 1, both by hash function 0
>>> columns, t_rows = receiver.columns(0, rows)
>>> q_rows = sender.rows(0, columns)
>>> mine = receiver.outputs(t_rows[:2], np.array([0, 1]))
>>> theirs = sender.outputs(q_rows[[0, 0, 1]], np.array([0, 0, 1]), codes[0])  # ann's 3 codes
>>> [mine[:16] == theirs[16 * k : 16 * (k + 1)] for k in range(3)]  # bin 0 by function 0 only
[True, False, False]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.exceptions import MalformedInputError

__all__ = [
    "BIN_ALIGN",
    "CODE_BITS",
    "CODE_BYTES",
    "HASH_FUNCTIONS",
    "OUTPUT_BYTES",
    "OprfReceiver",
    "OprfSender",
    "choice_bits",
    "item_hashes",
    "transpose_bits",
]

CODE_BITS = 512
"""Width of the pseudorandom code (and number of base OTs): 512 bits keeps any two
code words at least 128 bits apart except with negligible probability."""
CODE_BYTES = CODE_BITS // 8
OUTPUT_BYTES = 16
"""Width of a PRF output: false matches stay below 2**-60 up to 2**33 items per side."""
HASH_FUNCTIONS = 3
"""Cuckoo hash functions: every item has three candidate bins."""
BIN_ALIGN = 128
"""Blocks of bins start at multiples of 128 bins (one AES block per column)."""
_ITEM_LABEL = b"VFL-OTPSI-V01 item"
_OUTPUT_PERSON = b"VFL-OTPSI-V1 out"  # BLAKE2b personalisation: at most 16 bytes
_U64 = np.dtype("<u8")
_HASH_RUN = 65_536
_REVERSE_BITS = np.array([int(f"{byte:08b}"[::-1], 2) for byte in range(256)], dtype=np.uint8)
_TRANSPOSE_STEPS = tuple(
    (np.uint64(shift), np.uint64(mask))
    for shift, mask in ((7, 0x00AA00AA00AA00AA), (14, 0x0000CCCC0000CCCC), (28, 0x00000000F0F0F0F0))
)

Rows = npt.NDArray[np.uint8]


def item_hashes(ids: Sequence[bytes], salt: bytes, bins: int) -> tuple[Rows, npt.NDArray[np.int64]]:
    """Each id's code word and candidate bin under each of the :data:`HASH_FUNCTIONS`.

    Parameters
    ----------
    ids : sequence of bytes
        The ids.
    salt : bytes
        The job's public salt (domain separation between jobs).
    bins : int
        Number of bins (at least 1).

    Returns
    -------
    codes : numpy.ndarray
        ``(len(ids), HASH_FUNCTIONS, CODE_BYTES)`` uint8: ``C(id, h)``.
    positions : numpy.ndarray
        ``(len(ids), HASH_FUNCTIONS)`` int64 bins in ``[0, bins)``.

    Raises
    ------
    MalformedInputError
        If ``bins`` is not positive.

    Examples
    --------
    >>> codes, positions = item_hashes([b"ann"], bytes(16), bins=10)
    >>> codes.shape, positions.shape, bool((positions < 10).all())
    ((1, 3, 64), (1, 3), True)
    """
    if bins < 1:
        raise MalformedInputError(f"OT-PSI needs at least one bin, not {bins}")
    prefix = hashlib.shake_256(_ITEM_LABEL + len(salt).to_bytes(2, "little") + salt)
    code_bytes = HASH_FUNCTIONS * CODE_BYTES
    width = code_bytes + 8 * HASH_FUNCTIONS
    codes = np.empty((len(ids), HASH_FUNCTIONS, CODE_BYTES), dtype=np.uint8)
    positions = np.empty((len(ids), HASH_FUNCTIONS), dtype=np.int64)
    for first in range(0, len(ids), _HASH_RUN):  # in runs: bounded temporary memory
        digests = []
        for item in ids[first : first + _HASH_RUN]:
            state = prefix.copy()
            state.update(item)
            digests.append(state.digest(width))
        table = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), width)
        last = first + len(digests)
        codes[first:last] = table[:, :code_bytes].reshape(-1, HASH_FUNCTIONS, CODE_BYTES)
        raw = np.ascontiguousarray(table[:, code_bytes:]).view(_U64)
        positions[first:last] = raw % np.uint64(bins)
    return codes, positions


def choice_bits(choices: Rows) -> list[int]:
    """The :data:`CODE_BITS` bits of a ``CODE_BYTES``-byte secret, in column order.

    Bit ``i`` is bit ``7 - i % 8`` of byte ``i // 8`` (numpy's ``unpackbits``
    order), the order of :func:`transpose_bits`'s columns.

    Parameters
    ----------
    choices : numpy.ndarray
        ``CODE_BYTES`` uint8.

    Returns
    -------
    list of int
        The bits.

    Examples
    --------
    >>> choice_bits(np.array([0x80] + [0] * 63, dtype=np.uint8))[:3]
    [1, 0, 0]
    """
    return [int(bit) for bit in np.unpackbits(np.asarray(choices, dtype=np.uint8))]


def transpose_bits(matrix: Rows) -> Rows:
    """Transpose a bit matrix stored as packed bytes (rows of ``8 k`` bits).

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(rows, cols / 8)`` uint8, each row's bits in ``unpackbits`` order; ``rows``
        must be a multiple of 8.

    Raises
    ------
    MalformedInputError
        If ``rows`` is not a multiple of 8.

    Returns
    -------
    numpy.ndarray
        ``(cols, rows / 8)`` uint8.

    Examples
    --------
    >>> m = np.zeros((8, 1), dtype=np.uint8)
    >>> m[0, 0] = 0b11000000  # row 0 has bits 0 and 1 set
    >>> transpose_bits(m)[:, 0].tolist()  # rows 0 and 1 now have bit 0 set
    [128, 128, 0, 0, 0, 0, 0, 0]
    >>> np.array_equal(transpose_bits(transpose_bits(m)), m)
    True
    """
    rows, width = matrix.shape
    if rows % 8:
        raise MalformedInputError(
            f"a bit matrix to transpose needs a multiple of 8 rows, not {rows}"
        )
    # 8x8 blocks as little-endian words, bits in LSB-first order: word[b, c] holds rows
    # 8b..8b+7 of byte column c, one row per byte; three masked swaps transpose each
    # block (Hacker's Delight, 7-3), and the blocks are put back in transposed order
    flipped = _REVERSE_BITS[matrix].reshape(rows // 8, 8, width).transpose(0, 2, 1)
    words = np.ascontiguousarray(flipped).view(_U64)[..., 0]
    for shift, mask in _TRANSPOSE_STEPS:
        swap = (words ^ (words >> shift)) & mask
        words = words ^ swap ^ (swap << shift)
    blocks = words.view(np.uint8).reshape(rows // 8, width, 8)
    return _REVERSE_BITS[blocks.transpose(1, 2, 0).reshape(8 * width, rows // 8)]


def _prg(key: bytes, start_bin: int, count: int) -> bytes:
    """Bytes ``[start_bin / 8, (start_bin + count) / 8)`` of AES-256-CTR under ``key``."""
    counter = (start_bin // BIN_ALIGN).to_bytes(16, "big")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return encryptor.update(bytes(count // 8))


def _check_block(start_bin: int, count: int) -> None:
    if start_bin < 0 or start_bin % BIN_ALIGN or count < 0 or count % BIN_ALIGN:
        raise MalformedInputError(
            f"a block of bins must start and end on multiples of {BIN_ALIGN}, "
            f"not start {start_bin} with {count} bins"
        )


class _OutputHash:
    """``H(j, row)``: BLAKE2b-128 of the bin number and the row, keyed per job."""

    def __init__(self, key: bytes) -> None:
        self._state = hashlib.blake2b(key=key, digest_size=OUTPUT_BYTES, person=_OUTPUT_PERSON)

    def __call__(self, rows: Rows, bins: npt.NDArray[np.int64]) -> bytes:
        if rows.shape != (len(bins), CODE_BYTES):
            raise MalformedInputError(f"{rows.shape} rows for {len(bins)} bins")
        data = rows.tobytes()
        out = []
        state = self._state
        for index, bin_number in enumerate(bins.tolist()):
            digest = state.copy()
            digest.update(bin_number.to_bytes(8, "little"))
            digest.update(data[index * CODE_BYTES : (index + 1) * CODE_BYTES])
            out.append(digest.digest())
        return b"".join(out)


class OprfReceiver:
    """The guest's side: both seeds of every base OT; makes ``u`` and its own outputs.

    Parameters
    ----------
    pairs : sequence of (bytes, bytes)
        :meth:`crypto.ot.RandomOtSender.keys` of :data:`CODE_BITS` transfers.
    key : bytes
        The job's output-hash key (public to both parties, from the salt).

    Raises
    ------
    MalformedInputError
        If there are not :data:`CODE_BITS` pairs of 32-byte seeds.
    """

    def __init__(self, pairs: Sequence[tuple[bytes, bytes]], key: bytes) -> None:
        if len(pairs) != CODE_BITS or any(len(a) != 32 or len(b) != 32 for a, b in pairs):
            raise MalformedInputError(f"OT extension needs {CODE_BITS} pairs of 32-byte seeds")
        self._pairs = [(bytes(a), bytes(b)) for a, b in pairs]
        self._hash = _OutputHash(key)

    def __repr__(self) -> str:
        return "<OprfReceiver (secret)>"

    def columns(self, start_bin: int, rows: Rows) -> tuple[bytes, Rows]:
        """The message ``u`` for a block of bins, and the rows ``t`` it keeps.

        Parameters
        ----------
        start_bin : int
            First bin of the block (a multiple of :data:`BIN_ALIGN`).
        rows : numpy.ndarray
            ``(count, CODE_BYTES)`` uint8: the code word in each bin of the block
            (random bytes for an empty bin); ``count`` a multiple of ``BIN_ALIGN``.

        Returns
        -------
        columns : bytes
            ``CODE_BITS * count / 8`` bytes: column ``i`` of ``u`` for these bins.
        t_rows : numpy.ndarray
            ``(count, CODE_BYTES)``: ``t[j]`` for these bins (secret).
        """
        count = len(rows)
        _check_block(start_bin, count)
        width = count // 8
        t_cols = np.empty((CODE_BITS, width), dtype=np.uint8)
        u_cols = np.empty((CODE_BITS, width), dtype=np.uint8)
        for i, (seed0, seed1) in enumerate(self._pairs):
            t_cols[i] = np.frombuffer(_prg(seed0, start_bin, count), dtype=np.uint8)
            u_cols[i] = np.frombuffer(_prg(seed1, start_bin, count), dtype=np.uint8)
        u_cols ^= t_cols
        u_cols ^= transpose_bits(np.ascontiguousarray(rows, dtype=np.uint8))
        return u_cols.tobytes(), transpose_bits(t_cols)

    def outputs(self, t_rows: Rows, bins: npt.NDArray[np.int64]) -> bytes:
        """The PRF outputs ``H(j, t[j])`` of the receiver's own items.

        Parameters
        ----------
        t_rows : numpy.ndarray
            ``(k, CODE_BYTES)`` rows from :meth:`columns`.
        bins : numpy.ndarray
            The bin number of each row.

        Returns
        -------
        bytes
            ``OUTPUT_BYTES`` per row.
        """
        return self._hash(t_rows, bins)


class OprfSender:
    """The host's side: the secret ``s`` and one seed per base OT; evaluates the PRF.

    Parameters
    ----------
    choices : numpy.ndarray
        ``CODE_BYTES`` uint8: the secret ``s`` (its bits were the base-OT choices).
    seeds : sequence of bytes
        :meth:`crypto.ot.RandomOtReceiver.keys`: ``k{s[i]}[i]``.
    key : bytes
        The job's output-hash key.

    Raises
    ------
    MalformedInputError
        If the sizes are wrong.
    """

    def __init__(self, choices: Rows, seeds: Sequence[bytes], key: bytes) -> None:
        choices = np.asarray(choices, dtype=np.uint8)
        if choices.shape != (CODE_BYTES,) or len(seeds) != CODE_BITS:
            raise MalformedInputError(
                f"OT extension needs a {CODE_BYTES}-byte secret and {CODE_BITS} seeds"
            )
        self._choices = choices.copy()
        self._bits = choice_bits(choices)
        self._seeds = [bytes(seed) for seed in seeds]
        self._hash = _OutputHash(key)

    def __repr__(self) -> str:
        return "<OprfSender (secret)>"

    def rows(self, start_bin: int, columns: bytes) -> Rows:
        """The rows ``q[j] = t[j] ^ (s & r[j])`` of a block, from the receiver's ``u``.

        Parameters
        ----------
        start_bin : int
            First bin of the block (a multiple of :data:`BIN_ALIGN`).
        columns : bytes
            :meth:`OprfReceiver.columns` of this block.

        Returns
        -------
        numpy.ndarray
            ``(count, CODE_BYTES)`` uint8.

        Raises
        ------
        MalformedInputError
            If ``columns`` is not ``CODE_BITS`` whole columns of aligned bins.
        """
        if len(columns) % (CODE_BITS * BIN_ALIGN // 8):
            raise MalformedInputError(
                f"{len(columns)} bytes are not {CODE_BITS} columns of a whole number of "
                f"{BIN_ALIGN}-bin groups"
            )
        width = len(columns) // CODE_BITS
        count = width * 8
        _check_block(start_bin, count)
        u_cols = np.frombuffer(columns, dtype=np.uint8).reshape(CODE_BITS, width)
        q_cols = np.empty((CODE_BITS, width), dtype=np.uint8)
        for i, seed in enumerate(self._seeds):
            q_cols[i] = np.frombuffer(_prg(seed, start_bin, count), dtype=np.uint8)
            if self._bits[i]:
                q_cols[i] ^= u_cols[i]
        return transpose_bits(q_cols)

    def outputs(self, q_rows: Rows, bins: npt.NDArray[np.int64], codes: Rows) -> bytes:
        """``H(j, q[j] ^ (s & C(y, h)))`` for items ``y`` in their bins ``j = h(y)``.

        Parameters
        ----------
        q_rows : numpy.ndarray
            ``(k, CODE_BYTES)``: the row of each item's bin (from :meth:`rows`).
        bins : numpy.ndarray
            The bin numbers.
        codes : numpy.ndarray
            ``(k, CODE_BYTES)``: each item's code word under the hash function that
            gave that bin.

        Returns
        -------
        bytes
            ``OUTPUT_BYTES`` per item.

        Raises
        ------
        MalformedInputError
            If the shapes do not match.
        """
        if codes.shape != q_rows.shape:
            raise MalformedInputError(f"{codes.shape} code words for {q_rows.shape} rows")
        return self._hash(q_rows ^ (codes & self._choices), bins)
