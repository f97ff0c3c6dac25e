"""A party's PSI ids packed in one buffer: a compact, read-only sequence of bytes.

A Python ``bytes`` object costs ~33 bytes of header plus a list slot of 8 per id;
at 10 million ids of ~14 bytes that is ~0.55 GB beside the ids themselves.  A
:class:`PackedIds` keeps the concatenated ids and an int64 offset per id (~22 bytes
per such id), and hands out ``bytes`` on access, so the PSI roles see the same
values as from a list.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

__all__ = ["SHORT_ID_BYTES", "PackedIds", "first_repeat", "short_id_blocks"]

_RUN = 1 << 16
"""Ids handled per run when packing or hashing (bounded temporary memory)."""
_DIGEST_BYTES = 16
SHORT_ID_BYTES = 15
"""Ids up to this long fit one 16-byte block with their length (:func:`short_id_blocks`)."""


class PackedIds(Sequence[bytes]):
    r"""Ids as one buffer and offsets; indexing gives ``bytes``, slicing a list of them.

    Parameters
    ----------
    ids : iterable of bytes
        The ids, in order (consumed once, in runs of 65,536).
    known_unique : bool, default False
        The caller guarantees that no id repeats (skips the roles' check).

    Examples
    --------
    >>> ids = PackedIds([b"ann", b"", b"bob\x00"])
    >>> len(ids), ids[0], ids[-1], ids[1:]
    (3, b'ann', b'bob\x00', [b'', b'bob\x00'])
    >>> ids == [b"ann", b"", b"bob\x00"], list(ids)[2]
    (True, b'bob\x00')
    """

    __slots__ = ("_blob", "_offsets", "known_unique")

    def __init__(self, ids: Iterable[bytes], *, known_unique: bool = False) -> None:
        blob = bytearray()
        lengths: list[npt.NDArray[np.int64]] = []
        if isinstance(ids, list | tuple):  # runs by slicing: no Python step per id
            for first in range(0, len(ids), _RUN):
                lengths.append(_pack_run(blob, list(ids[first : first + _RUN])))
        else:
            run: list[bytes] = []
            for item in ids:
                run.append(item)
                if len(run) == _RUN:
                    lengths.append(_pack_run(blob, run))
                    run = []
            lengths.append(_pack_run(blob, run))
        lengths.append(np.empty(0, dtype=np.int64))
        offsets = np.zeros(sum(len(part) for part in lengths) + 1, dtype=np.int64)
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
        self._blob = bytes(blob)
        self._offsets = offsets
        self.known_unique = known_unique
        """Whether the caller vouched that no id repeats (e.g. the ids of a party table,
        whose reader refuses or drops repeats): :func:`protocols.psi.setup_checks.checked_ids`
        then skips its check."""

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        size = len(self)
        position = int(index) + size if index < 0 else int(index)
        if not 0 <= position < size:
            raise IndexError(f"id {index} out of range for {size} ids")
        return self._item(position)

    def __iter__(self) -> Iterator[bytes]:
        blob, offsets = self._blob, self._offsets.tolist()
        for start, end in itertools.pairwise(offsets):
            yield blob[start:end]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedIds):
            return self._blob == other._blob and np.array_equal(self._offsets, other._offsets)
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-like container semantics

    def __repr__(self) -> str:
        return f"PackedIds({len(self)} ids, {len(self._blob)} bytes)"

    @property
    def buffer(self) -> tuple[bytes, npt.NDArray[np.int64]]:
        """The concatenated ids and the ``len(self) + 1`` offsets, for vectorized hashing.

        Id ``k`` is ``blob[offsets[k]:offsets[k + 1]]``.

        Examples
        --------
        >>> blob, offsets = PackedIds([b"ann", b"bo"]).buffer
        >>> blob, offsets.tolist()
        (b'annbo', [0, 3, 5])
        """
        return self._blob, self._offsets

    @property
    def nbytes(self) -> int:
        """Bytes held: the buffer plus the offsets."""
        return len(self._blob) + self._offsets.nbytes

    def _item(self, position: int) -> bytes:
        start, end = self._offsets[position : position + 2].tolist()
        return self._blob[start:end]


def _pack_run(blob: bytearray, run: list[bytes]) -> npt.NDArray[np.int64]:
    blob += b"".join(run)
    return np.fromiter(map(len, run), dtype=np.int64, count=len(run))


def first_repeat(ids: Sequence[bytes]) -> tuple[int, int] | None:
    """The rows of the first id found twice, or ``None`` if every id is unique.

    Compares 16-byte BLAKE2b digests by sorting (no set of Python objects); a repeated
    digest is confirmed on the ids themselves, so the answer is exact.

    Parameters
    ----------
    ids : sequence of bytes
        The ids.

    Returns
    -------
    tuple of int or None
        ``(first row, later row)`` of a repeated id.

    Examples
    --------
    >>> first_repeat([b"a", b"b", b"c"]) is None
    True
    >>> first_repeat([b"a", b"b", b"a"])
    (0, 2)
    """
    packed = ids if isinstance(ids, PackedIds) else PackedIds(ids)
    blob, offsets = packed.buffer
    lengths = np.diff(offsets)
    keys = np.empty((len(packed), 2), dtype="<u8")
    short = np.flatnonzero(lengths <= SHORT_ID_BYTES)  # the id itself, padded: exact
    for first in range(0, len(short), _RUN * 4):
        rows = short[first : first + _RUN * 4]
        keys[rows] = short_id_blocks(packed, rows).view("<u8")
    long_rows = np.flatnonzero(lengths > SHORT_ID_BYTES)  # a digest: confirmed below
    if len(long_rows):
        joined = b"".join(
            hashlib.blake2b(
                blob[offsets[row] : offsets[row + 1]], digest_size=_DIGEST_BYTES
            ).digest()
            for row in long_rows.tolist()
        )
        keys[long_rows] = np.frombuffer(joined, dtype="<u8").reshape(-1, 2)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    ordered = keys[order]
    same = np.flatnonzero((ordered[1:] == ordered[:-1]).all(axis=1))
    for at in same.tolist():  # equal keys: compare the ids (a digest collision is ~2**-100)
        a, b = sorted((int(order[at]), int(order[at + 1])))
        if packed[a] == packed[b]:
            return a, b
    return None


def short_id_blocks(ids: PackedIds, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """The ids at ``rows`` (each at most :data:`SHORT_ID_BYTES` long) as 16-byte blocks.

    Block = the id's length in one byte, the id, zero bytes: distinct ids give distinct
    blocks.

    Parameters
    ----------
    ids : PackedIds
        The ids.
    rows : numpy.ndarray
        Rows of ids no longer than :data:`SHORT_ID_BYTES`.

    Returns
    -------
    numpy.ndarray
        ``(len(rows), 16)`` uint8.

    Raises
    ------
    ValueError
        If an id at ``rows`` is too long.

    Examples
    --------
    >>> short_id_blocks(PackedIds([b"ab", b"c"]), np.array([0]))[0, :4].tolist()
    [2, 97, 98, 0]
    """
    blob, offsets = ids.buffer
    lengths = np.diff(offsets)[rows]
    if len(lengths) and int(lengths.max()) > SHORT_ID_BYTES:
        raise ValueError(f"an id is longer than {SHORT_ID_BYTES} bytes")
    block = np.zeros((len(rows), 16), dtype=np.uint8)
    block[:, 0] = lengths
    if len(blob) and len(rows):
        data = np.frombuffer(blob, dtype=np.uint8)
        columns = np.arange(SHORT_ID_BYTES)
        source = np.minimum(offsets[rows][:, None] + columns[None, :], len(data) - 1)
        block[:, 1:] = np.where(columns[None, :] < lengths[:, None], data[source], 0)
    return block
