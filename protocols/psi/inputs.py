"""Turning a party's customer ids into the canonical bytes that PSI compares."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError

__all__ = ["CanonicalIds", "DuplicateIdError", "canonical_ids", "encode_id"]

MAX_ID_BYTES = 1024


class DuplicateIdError(ProtocolError, ValueError):
    """An id appears more than once in one party's input.

    Examples
    --------
    >>> canonical_ids(["a", "b", "a"], party="host")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.psi.inputs.DuplicateIdError: host: 1 id(s) appear more than once (first: rows 0 ...)
    """


@dataclass(frozen=True)
class CanonicalIds:
    """Unique ids as bytes, and where each came from in the caller's input.

    Attributes
    ----------
    encoded : list of bytes
        The ids PSI compares (UTF-8 text), unique.
    source_rows : numpy.ndarray
        ``source_rows[i]`` is the index in the original input of ``encoded[i]``.
    dropped : int
        How many repeated ids were dropped (``dedupe=True`` only).

    Examples
    --------
    >>> ids = canonical_ids(["b", 7, "b", "a"], dedupe=True)
    >>> ids.encoded, ids.source_rows.tolist(), ids.dropped
    ([b'b', b'7', b'a'], [0, 1, 3], 1)
    """

    encoded: list[bytes]
    source_rows: npt.NDArray[np.int64]
    dropped: int = 0


def encode_id(value: object) -> bytes:
    """The canonical bytes of one id: UTF-8 text; integers in decimal; bytes as they are.

    Floats and booleans are refused: ``1.0``, ``1`` and ``True`` would otherwise be
    silently equal or unequal depending on the other party's formatting.

    Parameters
    ----------
    value : str, bytes or int
        One id.

    Returns
    -------
    bytes
        Its canonical encoding.

    Raises
    ------
    ProtocolError
        For an id of another type, an empty id or one longer than 1024 bytes.

    Examples
    --------
    >>> encode_id("ann"), encode_id(17), encode_id(b"id-1")
    (b'ann', b'17', b'id-1')
    >>> len(encode_id("café"))  # UTF-8
    5
    >>> encode_id(1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: an id must be a string, bytes or an integer, not float ...
    """
    if isinstance(value, bytes):
        encoded = value
    elif isinstance(value, str):
        encoded = value.encode("utf-8")
    elif isinstance(value, numbers.Integral) and not _is_boolean(value):
        encoded = str(int(value)).encode("ascii")
    else:
        raise ProtocolError(
            f"an id must be a string, bytes or an integer, not {type(value).__name__} "
            f"({value!r}); format ids as text first"
        )
    if not encoded:
        raise ProtocolError("an id is empty")
    if len(encoded) > MAX_ID_BYTES:
        raise ProtocolError(f"an id is {len(encoded)} bytes long, more than {MAX_ID_BYTES}")
    return encoded


def _is_boolean(value: object) -> bool:
    return isinstance(value, bool | np.bool_)


def canonical_ids(
    ids: Sequence[object] | npt.NDArray[Any], *, dedupe: bool = False, party: str = ""
) -> CanonicalIds:
    """Encode ``ids`` and check that each appears once.

    Parameters
    ----------
    ids : sequence
        Strings, bytes or integers (a numpy array or pandas Series works).
    dedupe : bool, default False
        Keep the first occurrence of a repeated id instead of refusing the input.
    party : str, optional
        Named in error messages.

    Returns
    -------
    CanonicalIds
        The unique encoded ids and the input row of each.

    Raises
    ------
    DuplicateIdError
        If an id repeats and ``dedupe`` is false (the message gives the count and
        the first repeated row).
    ProtocolError
        If an id cannot be encoded (see :func:`encode_id`).

    Examples
    --------
    >>> canonical_ids(["b", "a", "b"], dedupe=True).encoded
    [b'b', b'a']
    """
    who = f"{party}: " if party else ""
    encoded: list[bytes] = []
    rows: list[int] = []
    first_row: dict[bytes, int] = {}
    repeats = 0
    first_repeat: tuple[int, int] | None = None
    for row, value in enumerate(ids.tolist() if isinstance(ids, np.ndarray) else ids):
        try:
            key = encode_id(value)
        except ProtocolError as error:
            raise ProtocolError(f"{who}row {row}: {error}") from None
        seen = first_row.setdefault(key, row)
        if seen != row:
            repeats += 1
            first_repeat = first_repeat or (seen, row)
            continue
        encoded.append(key)
        rows.append(row)
    if repeats and not dedupe:
        assert first_repeat is not None
        raise DuplicateIdError(
            f"{who}{repeats} id(s) appear more than once (first: rows {first_repeat[0]} and "
            f"{first_repeat[1]}); remove them or de-duplicate explicitly (dedupe=True "
            "keeps each id's first row)"
        )
    return CanonicalIds(encoded, np.asarray(rows, dtype=np.int64), repeats)
