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

__all__ = ["PackedIds", "first_repeat"]

_RUN = 1 << 16
"""Ids handled per run when packing or hashing (bounded temporary memory)."""
_DIGEST_BYTES = 16


class PackedIds(Sequence[bytes]):
    r"""Ids as one buffer and offsets; indexing gives ``bytes``, slicing a list of them.

    Parameters
    ----------
    ids : iterable of bytes
        The ids, in order (consumed once, in runs of 65,536).

    Examples
    --------
    >>> ids = PackedIds([b"ann", b"", b"bob\x00"])
    >>> len(ids), ids[0], ids[-1], ids[1:]
    (3, b'ann', b'bob\x00', [b'', b'bob\x00'])
    >>> ids == [b"ann", b"", b"bob\x00"], list(ids)[2]
    (True, b'bob\x00')
    """

    __slots__ = ("_blob", "_offsets")

    def __init__(self, ids: Iterable[bytes]) -> None:
        blob = bytearray()
        lengths: list[npt.NDArray[np.int64]] = []
        run: list[bytes] = []
        for item in ids:
            run.append(item)
            if len(run) == _RUN:
                lengths.append(_pack_run(blob, run))
                run = []
        lengths.append(_pack_run(blob, run))
        offsets = np.zeros(sum(len(part) for part in lengths) + 1, dtype=np.int64)
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
        self._blob = bytes(blob)
        self._offsets = offsets

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
    size = len(ids)
    digests = np.empty((size, 2), dtype="<u8")
    items = iter(ids)  # iterated once: a PackedIds hands out its ids fastest this way
    for first in range(0, size, _RUN):
        run = itertools.islice(items, _RUN)
        joined = b"".join(hashlib.blake2b(item, digest_size=_DIGEST_BYTES).digest() for item in run)
        block = np.frombuffer(joined, dtype="<u8").reshape(-1, 2)
        digests[first : first + len(block)] = block
    order = np.lexsort((digests[:, 1], digests[:, 0]))
    ordered = digests[order]
    same = np.flatnonzero((ordered[1:] == ordered[:-1]).all(axis=1))
    for at in same.tolist():  # equal digests: compare the ids (a true collision is ~2**-100)
        a, b = sorted((int(order[at]), int(order[at + 1])))
        if ids[a] == ids[b]:
            return a, b
    return None
