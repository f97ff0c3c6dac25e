"""VOLE-PSI's per-id hashes, output tags and the split of the OKVS into VOLE segments.

Every id ``x`` is hashed once, under the job's salt, into a value ``H(x)`` in
GF(2^128) (what the guest's OKVS stores) and a 16-byte digest (which fixes the OKVS
cells of ``x``, see :mod:`crypto.okvs`).  Both sides compare *tags*
(:func:`output_tags`) of 16-byte field elements.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.vole import MAX_VOLE_SIZE
from protocols.psi.packed import SHORT_ID_BYTES, PackedIds, short_id_blocks

__all__ = [
    "SHORT_ID_BYTES",
    "TAG_BYTES",
    "item_digests",
    "output_tags",
    "segment_bounds",
    "tag_key",
    "vole_key",
]

TAG_BYTES: Final = 12
"""Bytes per compared tag: a false match between any of ``n_guest * n_host`` pairs has
probability at most ``n_guest * n_host * 2**-96`` (below ``2**-40`` up to ``2**28`` ids
per side)."""
_ITEM_PERSON = b"VFL-VOLEPSI item"  # BLAKE2b personalisation: at most 16 bytes
_TAG_PERSON = b"VFL-VOLEPSI tag"
_AES_RUN = 1 << 20
_SHORT_RUN = 1 << 18

Elements = npt.NDArray[np.uint64]


def _salted(label: bytes, salt: bytes) -> bytes:
    return hashlib.sha256(label + len(salt).to_bytes(2, "little") + salt).digest()


def tag_key(salt: bytes) -> bytes:
    """The job's key for :func:`output_tags` (public: both parties derive it).

    Examples
    --------
    >>> len(tag_key(bytes(32)))
    32
    """
    return _salted(b"VFL-VOLEPSI tag key", salt)


def vole_key(salt: bytes, host: str, segment: int) -> bytes:
    """The public key of one VOLE (GGM PRG and code), per host link and segment.

    Examples
    --------
    >>> vole_key(bytes(32), "h", 0) != vole_key(bytes(32), "h", 1)
    True
    """
    return _salted(f"VFL-VOLEPSI vole|{host}|{segment}".encode(), salt)


def item_digests(ids: Sequence[bytes], salt: bytes) -> tuple[Elements, Elements]:
    """Each id's OKVS value ``H(x)`` and its 16-byte OKVS digest.

    An id of at most :data:`SHORT_ID_BYTES` bytes (phone numbers, account numbers)
    fills one AES block ``b = len(x) || x || 0...``, hashed as ``pi_1(b) XOR b``
    and ``pi_2(b) XOR b`` with ``pi_1, pi_2`` AES-128 under two keys derived from the
    salt (fixed-key AES modelled as a random permutation: a random function of the
    id up to the 2^64 birthday bound), vectorized over all short ids.  A longer id
    gets a keyed BLAKE2b-256 (the 32 bytes give both values); which one an id gets
    depends on its length only, so both parties hash every id alike.

    Parameters
    ----------
    ids : sequence of bytes
        The ids (a :class:`~protocols.psi.packed.PackedIds` is hashed fastest).
    salt : bytes
        The job's salt.

    Returns
    -------
    values, digests : numpy.ndarray
        Each ``(len(ids), 2)`` uint64.

    Examples
    --------
    >>> values, digests = item_digests([b"ann", b"bob", b"a-much-longer-customer-id"], bytes(32))
    >>> values.shape, bool((values[0] != values[1]).any())
    ((3, 2), True)
    >>> again, _ = item_digests(PackedIds([b"bob"]), bytes(32))
    >>> bool((again[0] == values[1]).all())
    True
    """
    packed = ids if isinstance(ids, PackedIds) else PackedIds(ids)
    blob, offsets = packed.buffer
    lengths = np.diff(offsets)
    out = np.empty((len(packed), 4), dtype=np.uint64)
    short = np.flatnonzero(lengths <= SHORT_ID_BYTES)
    if len(short):
        _short_digests(packed, short, salt, out)
    long_rows = np.flatnonzero(lengths > SHORT_ID_BYTES)
    if len(long_rows):
        state = hashlib.blake2b(
            digest_size=32, key=_salted(b"VFL-VOLEPSI item key", salt), person=_ITEM_PERSON
        )
        digests = []
        for row in long_rows.tolist():
            digest = state.copy()
            digest.update(blob[offsets[row] : offsets[row + 1]])
            digests.append(digest.digest())
        out[long_rows] = np.frombuffer(b"".join(digests), "<u8").reshape(-1, 4)
    return np.ascontiguousarray(out[:, :2]), np.ascontiguousarray(out[:, 2:])


def _short_digests(
    ids: PackedIds, rows: npt.NDArray[np.int64], salt: bytes, out: npt.NDArray[np.uint64]
) -> None:
    """Fill ``out[rows]`` with the one-block AES hashes of the short ids."""
    keys = _salted(b"VFL-VOLEPSI short item keys", salt)
    ciphers = [
        Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 (a PRP on one block)
        for key in (keys[:16], keys[16:])
    ]
    for first in range(0, len(rows), _SHORT_RUN):
        run = rows[first : first + _SHORT_RUN]
        block = short_id_blocks(ids, run)
        words = block.view("<u8")
        data = block.tobytes()
        for half, cipher in enumerate(ciphers):
            permuted = np.frombuffer(cipher.encryptor().update(data), dtype="<u8")
            out[run, 2 * half : 2 * half + 2] = permuted.reshape(-1, 2) ^ words


def output_tags(elements: Elements, key: bytes) -> npt.NDArray[np.bytes_]:
    """``pi(v) XOR v`` truncated to :data:`TAG_BYTES`, with ``pi`` AES-128 under ``key``.

    Fixed-key AES in the Matyas-Meyer-Oseas form, modelled as a random permutation
    (Guo, Katz, Wang and Yu, S&P 2020): every value the guest cannot predict (the
    host's values hide ``Delta``, 128 bits of entropy each) gives a tag that is
    uniformly distributed unless ``pi`` is queried at that very value.

    Parameters
    ----------
    elements : numpy.ndarray
        ``(n, 2)`` uint64.
    key : bytes
        :func:`tag_key` (public).

    Returns
    -------
    numpy.ndarray
        ``S12`` tags.

    Examples
    --------
    >>> tags = output_tags(np.array([[1, 2], [1, 2], [3, 4]], dtype=np.uint64), bytes(32))
    >>> tags.dtype.itemsize, tags[0] == tags[1], tags[0] == tags[2]
    (12, True, False)
    """
    data = np.ascontiguousarray(elements, dtype="<u8")
    out = np.empty((len(data), 16), dtype=np.uint8)
    encryptor = Cipher(algorithms.AES(key[:16]), modes.ECB()).encryptor()  # noqa: S305 (a PRP)
    for first in range(0, len(data), _AES_RUN):
        block = data[first : first + _AES_RUN]
        permuted = np.frombuffer(encryptor.update(block.tobytes()), dtype="<u8")
        mixed = permuted.reshape(-1, 2) ^ block
        out[first : first + len(block)] = mixed.view(np.uint8).reshape(-1, 16)
    return out[:, :TAG_BYTES].copy().view(f"S{TAG_BYTES}").reshape(-1)


def segment_bounds(cells: int) -> list[tuple[int, int]]:
    """The OKVS cells each VOLE covers: near-equal runs of at most ``MAX_VOLE_SIZE``.

    Examples
    --------
    >>> segment_bounds(10)
    [(0, 10)]
    >>> [stop - start for start, stop in segment_bounds(3 * (1 << 21) + 3)]
    [1572865, 1572865, 1572865, 1572864]
    """
    count = max(1, -(-cells // MAX_VOLE_SIZE))
    base, extra = divmod(cells, count)
    bounds = []
    start = 0
    for index in range(count):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds
