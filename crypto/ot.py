"""Random oblivious transfer over X25519: the base OTs of OT extension (semi-honest).

In a *random* OT the sender ends up with ``count`` pairs of random 32-byte keys
``(k[i][0], k[i][1])`` and the receiver, who holds choice bits ``c[i]``, with
``k[i][c[i]]`` alone.  The receiver learns nothing of the other key and the sender
learns nothing of the choices.  :mod:`crypto.ot_extension` stretches a few hundred
of these into as many oblivious transfers as there are items.

The protocol (in the style of Bellare-Micali and Naor-Pinkas, with a random
oracle ``K``):

1. the sender draws one X25519 key ``r`` and sends ``R = r * G``
   (:attr:`RandomOtSender.point`);
2. the receiver, for every ``i``, draws a key ``b[i]`` and sends the pair
   ``P[i][c[i]] = b[i] * G`` and ``P[i][1 - c[i]] = H(seed[i])``, a point hashed
   from fresh random bytes (RFC 9380), whose discrete logarithm nobody knows
   (:attr:`RandomOtReceiver.points`);
3. the sender's keys are ``k[i][j] = K(i, j, R, P[i][j], r * P[i][j])``
   (:meth:`RandomOtSender.keys`); the receiver's are
   ``k[i][c[i]] = K(i, c[i], R, P[i][c[i]], b[i] * R)`` (:meth:`RandomOtReceiver.keys`).

Why it is secure against semi-honest parties:

* the sender sees two points per ``i``: an X25519 public key and a hashed point.
  Both are (computationally) uniform in the prime-order subgroup, so they do not
  tell which one is the receiver's key;
* the receiver would need ``r * P[i][1 - c[i]]`` to get the other key: given
  ``R = r * G`` and a point of unknown logarithm that is a computational
  Diffie-Hellman problem, and ``K`` (SHA-256 over the whole transcript of that
  transfer) hides everything else.

Every point a peer sends is checked (:func:`crypto.ecdh.validate_points`).  All
secrets come from :mod:`secrets`.

Examples
--------
>>> sender = RandomOtSender(4)
>>> receiver = RandomOtReceiver([1, 0, 0, 1])
>>> pairs = sender.keys(receiver.points)
>>> chosen = receiver.keys(sender.point)
>>> [pair[bit] for pair, bit in zip(pairs, [1, 0, 0, 1])] == chosen
True
>>> [pair[1 - bit] for pair, bit in zip(pairs, [1, 0, 0, 1])] == chosen
False
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from crypto.ecdh import POINT_BYTES, EcdhKey, validate_points
from crypto.exceptions import InvalidPointError
from crypto.hash_to_curve import SUITE_ID, hash_to_x25519

__all__ = [
    "BASE_POINT",
    "KEY_BYTES",
    "MAX_TRANSFERS",
    "OT_DST",
    "RandomOtReceiver",
    "RandomOtSender",
]

BASE_POINT = (9).to_bytes(POINT_BYTES, "little")
"""The X25519 base point ``G`` (u = 9)."""
KEY_BYTES = 32
"""Length of every transferred key."""
MAX_TRANSFERS = 4096
"""Most transfers in one batch (OT extension needs a few hundred)."""
OT_DST = b"VFL-OT-V01-CS01-with-" + SUITE_ID
"""Domain-separation tag of the receiver's hashed points."""
_KEY_LABEL = b"VFL-OT-V01 random OT key"


def _check_count(count: int) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_TRANSFERS:
        raise ValueError(f"a batch of random OTs has 1 to {MAX_TRANSFERS} transfers, not {count}")
    return count


def _derive(index: int, choice: int, sender_point: bytes, point: bytes, shared: bytes) -> bytes:
    digest = hashlib.sha256(_KEY_LABEL)
    digest.update(index.to_bytes(4, "little") + bytes([choice]))
    digest.update(sender_point + point + shared)
    return digest.digest()


class RandomOtSender:
    """The sender of a batch of random OTs: it ends up with every pair of keys.

    Parameters
    ----------
    count : int
        Number of transfers, 1 to :data:`MAX_TRANSFERS`.

    Raises
    ------
    ValueError
        If ``count`` is out of range.

    Examples
    --------
    >>> sender = RandomOtSender(2)
    >>> len(sender.point)
    32
    """

    def __init__(self, count: int) -> None:
        self.count = _check_count(count)
        self._key = EcdhKey.generate()
        self.point = self._key.exponentiate(BASE_POINT)
        """``R = r * G``, sent to the receiver."""

    def __repr__(self) -> str:
        return f"<RandomOtSender count={self.count} (secret)>"

    def keys(self, receiver_points: bytes) -> list[tuple[bytes, bytes]]:
        """Both keys of every transfer, from the receiver's points.

        Parameters
        ----------
        receiver_points : bytes
            :attr:`RandomOtReceiver.points`: ``2 * count`` points, the pair of
            transfer ``i`` at ``2 i`` and ``2 i + 1``.

        Returns
        -------
        list of (bytes, bytes)
            ``(k[i][0], k[i][1])`` for every transfer, 32 bytes each.

        Raises
        ------
        InvalidPointError
            If the length is wrong or a point is invalid (naming it), or both
            points of a transfer are equal.

        Examples
        --------
        >>> RandomOtSender(2).keys(bytes(32))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        crypto.exceptions.InvalidPointError: the receiver sent 32 bytes of OT points, ...
        """
        expected = 2 * self.count * POINT_BYTES
        if not isinstance(receiver_points, bytes) or len(receiver_points) != expected:
            size = len(receiver_points) if isinstance(receiver_points, bytes) else "no"
            raise InvalidPointError(
                f"the receiver sent {size} bytes of OT points, expected {expected} "
                f"(two 32-byte points for each of {self.count} transfers)"
            )
        validate_points(receiver_points)
        shared = self._key.exponentiate(receiver_points)
        pairs: list[tuple[bytes, bytes]] = []
        for index in range(self.count):
            start = 2 * index * POINT_BYTES
            first = receiver_points[start : start + POINT_BYTES]
            second = receiver_points[start + POINT_BYTES : start + 2 * POINT_BYTES]
            if first == second:
                raise InvalidPointError(
                    f"the receiver sent the same point twice for OT {index}: an honest "
                    "receiver's points are independent"
                )
            pairs.append(
                (
                    _derive(index, 0, self.point, first, shared[start : start + POINT_BYTES]),
                    _derive(
                        index,
                        1,
                        self.point,
                        second,
                        shared[start + POINT_BYTES : start + 2 * POINT_BYTES],
                    ),
                )
            )
        return pairs


class RandomOtReceiver:
    """The receiver of a batch of random OTs: it gets one key of each pair.

    Parameters
    ----------
    choices : sequence of int
        One bit (0 or 1) per transfer; its length is the number of transfers.

    Raises
    ------
    ValueError
        If a choice is not 0 or 1, or the count is out of range.

    Examples
    --------
    >>> receiver = RandomOtReceiver([0, 1, 1])
    >>> len(receiver.points)
    192
    """

    def __init__(self, choices: Sequence[int]) -> None:
        bits = [int(bit) for bit in choices]
        if any(bit not in (0, 1) for bit in bits):
            raise ValueError("OT choices must be bits (0 or 1)")
        self.count = _check_count(len(bits))
        self._choices = bits
        self._keys = [EcdhKey.generate() for _ in bits]
        pairs: list[bytes] = []
        for bit, key in zip(bits, self._keys, strict=True):
            mine = key.exponentiate(BASE_POINT)
            other = hash_to_x25519(secrets.token_bytes(32), OT_DST)
            pairs += [other, mine] if bit else [mine, other]
        self.points = b"".join(pairs)
        """The ``2 * count`` points sent to the sender."""

    def __repr__(self) -> str:
        return f"<RandomOtReceiver count={self.count} (secret)>"

    def keys(self, sender_point: bytes) -> list[bytes]:
        """The chosen key of every transfer, from the sender's point.

        Parameters
        ----------
        sender_point : bytes
            :attr:`RandomOtSender.point`.

        Returns
        -------
        list of bytes
            ``k[i][c[i]]`` for every transfer, 32 bytes each.

        Raises
        ------
        InvalidPointError
            If ``sender_point`` is not one valid point.

        Examples
        --------
        >>> RandomOtReceiver([1]).keys(bytes(31))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        crypto.exceptions.InvalidPointError: the sender sent 31 bytes for its OT point, expected 32
        """
        if not isinstance(sender_point, bytes) or len(sender_point) != POINT_BYTES:
            size = len(sender_point) if isinstance(sender_point, bytes) else "no"
            raise InvalidPointError(
                f"the sender sent {size} bytes for its OT point, expected {POINT_BYTES}"
            )
        validate_points(sender_point)
        keys = []
        for index, (bit, key) in enumerate(zip(self._choices, self._keys, strict=True)):
            start = (2 * index + bit) * POINT_BYTES
            point = self.points[start : start + POINT_BYTES]
            keys.append(_derive(index, bit, sender_point, point, key.exponentiate(sender_point)))
        return keys
